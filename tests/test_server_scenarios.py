"""Scenario files over HTTP against a real uvicorn: an offered scenario's raw files for
the editor, and saving files as a new scenario directory (every refusal: no folder, a
taken or unsafe name, a path leaving the folder, too many or too large files, files
with errors) with nothing written when refused; a saved scenario is offered and runs.
Also the batch statistics the batch page draws."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import httpx

from tests.server_helpers import TABLETOP, assert_problem, bearer, live, make_world


def _files(folder: Path) -> list[dict[str, str]]:
    return [
        {"path": p.relative_to(folder).as_posix(), "text": p.read_text()}
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    ]


def _tree(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


def test_the_files_of_an_offered_scenario_are_its_files_on_disk(tmp_path: Path) -> None:
    w = make_world(tmp_path)
    with live(w.settings) as srv, srv.client(headers=bearer(w.keys["analyst"])) as c:
        r = c.get("/api/v1/scenarios/tabletop-human/files")
        assert r.status_code == 200, r.text
        got = r.json()
        assert got[0]["path"] == "scenario.yaml"
        assert sorted(got, key=lambda f: f["path"]) == _files(TABLETOP)
        body = assert_problem(c.get("/api/v1/scenarios/nope/files"), 404)
        assert "no scenario 'nope'" in body["detail"]
        # a player has no business with scenario files
    with live(w.settings) as srv, srv.client(headers=bearer(w.seat)) as c:
        assert_problem(c.get("/api/v1/scenarios/tabletop-human/files"), 403)


def test_a_link_out_of_a_scenario_folder_is_not_served(tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    shutil.copytree(TABLETOP, folder / "linked")
    secret = tmp_path / "secret.txt"
    secret.write_text("not for the browser")
    (folder / "linked" / "notes.md").symlink_to(secret)
    (folder / "linked" / "readme.md").write_text("# about")
    (folder / "linked" / "readme-too.md").symlink_to(folder / "linked" / "readme.md")
    w = make_world(tmp_path, scenario_dirs=(folder,))
    with live(w.settings) as srv, srv.client(headers=bearer(w.keys["analyst"])) as c:
        got = c.get("/api/v1/scenarios/linked/files").json()
        paths = [f["path"] for f in got]
        assert "notes.md" not in paths and "not for the browser" not in str(got)
        # a link inside the folder is the scenario's own
        assert {"readme.md", "readme-too.md", "scenario.yaml"} <= set(paths)


def test_a_server_without_a_scenarios_folder_saves_nothing_and_says_how(tmp_path: Path) -> None:
    w = make_world(tmp_path)
    with live(w.settings) as srv, srv.client(headers=bearer(w.keys["facilitator"])) as c:
        r = c.post("/api/v1/scenarios", json={"name": "mine", "files": _files(TABLETOP)})
        body = assert_problem(r, 409)
        assert body["code"] == "scenario-not-saved"
        assert "no folder to save scenarios in" in body["detail"]
        assert "scenarios folder of your own" in body["detail"]


def _tabletop(turns: str) -> tuple[list[dict[str, str]], dict[str, str]]:
    """The bundled tabletop's files with ``turns: 5`` made ``turns: TURNS``, and its
    scenario.yaml among them."""
    files = _files(TABLETOP)
    main = next(f for f in files if f["path"] == "scenario.yaml")
    main["text"] = main["text"].replace("turns: 5", f"turns: {turns}")
    return files, main


def _save(c: httpx.Client, name: str, files: list[dict[str, str]]) -> httpx.Response:
    return c.post("/api/v1/scenarios", json={"name": name, "files": files})


def test_saving_a_scenario_offers_it_and_a_run_starts_from_it(tmp_path: Path) -> None:
    saved = tmp_path / "saved"
    w = make_world(tmp_path, scenario_dirs=(saved,))
    files, main = _tabletop("3")
    with live(w.settings) as srv, srv.client(headers=bearer(w.keys["facilitator"])) as c:
        r = _save(c, "my-tabletop", files)
        assert r.status_code == 201, r.text
        entry = r.json()
        assert entry["name"] == "my-tabletop" and entry["source"] == "configured"
        assert entry["valid"] is True and entry["turns"] == 3
        # exactly the files sent, and nothing else (no leftover of the save)
        assert _files(saved / "my-tabletop") == sorted(files, key=lambda f: f["path"])
        assert [p for p in _tree(saved) if p.startswith(".")] == []
        listed = {s["name"]: s for s in c.get("/api/v1/scenarios").json()}
        assert listed["my-tabletop"]["turns"] == 3
        served = c.get("/api/v1/scenarios/my-tabletop/files").json()
        assert served == [main, *(f for f in files if f is not main)]
        est = c.post("/api/v1/scenarios/estimate", json={"scenario": "my-tabletop"})
        assert est.status_code == 200, est.text
        run = c.post("/api/v1/runs", json={"scenario": "my-tabletop", "seed": 1})
        assert run.status_code == 201, run.text
        run_id = run.json()["run_id"]
        deadline = time.monotonic() + 60
        while c.get(f"/api/v1/runs/{run_id}").json()["status"] == "running":
            assert time.monotonic() < deadline
            time.sleep(0.1)
        detail = c.get(f"/api/v1/runs/{run_id}").json()
        assert detail["scenario"] == "Grid Blackout Tabletop", detail
        assert detail["status"] in ("halted", "completed"), detail  # halted: its human seat
        # the name is now taken, as is a bundled one's: 409, nothing changed
        before = _files(saved / "my-tabletop")
        for name in ("my-tabletop", "strait-crisis"):
            body = assert_problem(_save(c, name, _files(TABLETOP)), 409)
            assert body["code"] == "scenario-not-saved" and "already" in body["detail"]
        assert _files(saved / "my-tabletop") == before
        assert not (saved / "strait-crisis").exists()


def _refused(c: httpx.Client, name: str, files: list[dict[str, str]], status: int) -> Any:
    return assert_problem(_save(c, name, files), status)


def test_unsafe_names_and_paths_and_oversized_scenarios_are_refused(tmp_path: Path) -> None:
    saved = tmp_path / "saved"
    w = make_world(tmp_path, scenario_dirs=(saved,))
    good = _files(TABLETOP)
    with live(w.settings) as srv, srv.client(headers=bearer(w.keys["facilitator"])) as c:
        for name in ("../up", ".hidden", "a/b", "", "x" * 65, "sp ace", "café", "-dash"):
            body = _refused(c, name, good, 422)
            assert body.get("field") == "name" or "name" in body["detail"], (name, body)
        for path in (
            "../escape.yaml",
            "/tmp/abs.yaml",
            "actors/../../escape.yaml",
            "actors\\x.yaml",
            ".git/config",
            "actors/./x.yaml",
        ):
            body = _refused(c, "bad-path", [*good, {"path": path, "text": "x: 1"}], 422)
            assert "is not a relative path inside the scenario" in body["detail"], path
        twice = [*good, good[0]]
        assert "given twice" in _refused(c, "twice", twice, 422)["detail"]
        # too many files, one too large (the body limits), the request too large
        many = [*good, *({"path": f"background/n{i}.md", "text": "x"} for i in range(200))]
        _refused(c, "many", many, 422)
        big = [*good, {"path": "background/big.md", "text": "x" * 300_000}]
        _refused(c, "big", big, 422)
        huge = [*good, *({"path": f"background/b{i}.md", "text": "x" * 200_000} for i in range(6))]
        _refused(c, "huge", huge, 413)
        assert_problem(c.post("/api/v1/scenarios", json={"name": "none", "files": []}), 422)
    # nothing was written, in the folder or beside it
    assert not saved.exists() or _tree(saved) == []
    assert not (tmp_path / "escape.yaml").exists() and not Path("/tmp/abs.yaml").exists()


def test_files_with_errors_are_refused_with_file_line_and_field(tmp_path: Path) -> None:
    saved = tmp_path / "saved"
    w = make_world(tmp_path, scenario_dirs=(saved,))
    files, main = _tabletop("five")
    line = main["text"].splitlines().index("turns: five") + 1
    with live(w.settings) as srv:
        with srv.client(headers=bearer(w.keys["facilitator"])) as c:
            body = _refused(c, "broken", files, 422)
            assert body["code"] == "scenario-invalid"
            assert "1 error" in body["detail"] and "turns" in body["detail"]
            [problem] = [p for p in body["problems"] if p["severity"] == "error"]
            assert problem["file"] == "scenario.yaml" and problem["field"] == "turns"
            assert problem["line"] == line
            # an actor file that is not YAML: named, with its line
            broken = [f for f in files if f["path"] != "scenario.yaml"]
            broken += [{"path": "scenario.yaml", "text": main["text"].replace("five", "5")}]
            broken[0] = {"path": broken[0]["path"], "text": "name: [unclosed\n"}
            body = _refused(c, "broken", broken, 422)
            assert body["problems"][0]["file"] == broken[0]["path"]
        assert not saved.exists() or _tree(saved) == []
        # analysts read scenarios but do not save them
        with srv.client(headers=bearer(w.keys["analyst"])) as c:
            assert_problem(_save(c, "mine", _files(TABLETOP)), 403)
    assert not saved.exists() or _tree(saved) == []


def played_batch(c: httpx.Client, text: str, runs: int) -> str:
    """Start the batch file ``text`` on the server; its id once ``runs`` completed."""
    r = c.post("/api/v1/batches", json={"file": text})
    assert r.status_code == 201, r.text
    batch: str = r.json()["batch_id"]
    deadline = time.monotonic() + 90
    while c.get(f"/api/v1/batches/{batch}").json()["counts"].get("completed", 0) < runs:
        assert time.monotonic() < deadline, "the batch did not complete in 90 s"
        time.sleep(0.1)
    return batch


BATCH = """\
experiment_name: Stats sweep
base_scenario: strait-crisis
runs_per_variation: 3
seed: 3
variations:
  - type: scenario_parameter
    parameter: turns
    values: [2, 4]
"""


def test_batch_statistics_have_intervals_per_variation_and_fans(tmp_path: Path) -> None:
    w = make_world(tmp_path)
    with live(w.settings) as srv, srv.client(headers=bearer(w.keys["facilitator"])) as c:
        batch = played_batch(c, BATCH, 6)
        got = c.get(f"/api/v1/batches/{batch}/statistics")
        assert got.status_code == 200, got.text
        data = got.json()
        stats = data["stats"]
        assert stats["metrics"] and len(stats["variations"]) == 2
        for v in stats["variations"]:
            for summary in v["metrics"].values():
                assert summary["n"] == 3
                if summary["stddev"]:
                    low, high = summary["ci95"]
                    assert low <= summary["mean"] <= high
        assert stats["test"] and stats["tests"] >= 1
        assert data["fan_runs"] == 6
        metric = stats["metrics"][0]
        fans = {f["variation"]: f for f in data["fans"] if f["metric"] == metric}
        assert set(fans) == {None, 0, 1}
        # the 4-turn variation reaches turn 4, pooled at turn 1 are all six runs
        assert max(p["turn"] for p in fans[1]["points"]) == 4
        assert max(p["turn"] for p in fans[0]["points"]) == 2
        first = next(p for p in fans[None]["points"] if p["turn"] == 1)
        assert first["n"] == 6
        assert first["p10"] <= first["p25"] <= first["median"] <= first["p75"] <= first["p90"]
        assert_problem(c.get("/api/v1/batches/nope/statistics"), 400)
