"""Analysis over HTTP against a real uvicorn: read-only SQL with its limits, comparisons,
statistics across runs, scenario files checked and priced, batches started, listed,
shown and reported."""

from __future__ import annotations

import time
from pathlib import Path

from tests.server_helpers import STRAIT, assert_problem, bearer, live, make_world


def test_sql_is_read_only_capped_and_limited(tmp_path: Path) -> None:
    w = make_world(tmp_path)
    with live(w.settings) as srv, srv.client(headers=bearer(w.keys["analyst"])) as c:
        r = c.post("/api/v1/sql", json={"statement": "SELECT run_id, status FROM runs"})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["columns"] == ["run_id", "status"] and len(body["rows"]) == 2
        assert body["truncated"] is False
        capped = c.post(
            "/api/v1/sql", json={"statement": "SELECT * FROM range(50)", "max_rows": 10}
        ).json()
        assert len(capped["rows"]) == 10 and capped["truncated"] is True
        # writes, files, a second statement, a runaway query: refused as problems
        for statement in (
            "DELETE FROM runs",
            "CREATE TABLE x AS SELECT 1",
            "SELECT * FROM read_csv('/etc/passwd')",
        ):
            body = assert_problem(c.post("/api/v1/sql", json={"statement": statement}), 422)
            assert body["code"] == "query-invalid" and "/etc" not in body["detail"]
        body = assert_problem(c.post("/api/v1/sql", json={"statement": "SELECT 1; SELECT 2"}), 400)
        assert "one statement" in body["detail"]
        slow = "SELECT count(*) FROM range(100000000000) a"
        t0 = time.monotonic()
        body = assert_problem(
            c.post("/api/v1/sql", json={"statement": slow, "timeout_s": 0.5}), 422
        )
        assert time.monotonic() - t0 < 20 and "time" in body["detail"]
        assert_problem(
            c.post("/api/v1/sql", json={"statement": "SELECT 1", "max_rows": 10**9}), 422
        )
        assert_problem(c.post("/api/v1/sql", json={"statement": "SELECT 1", "timeout_s": 999}), 422)
        schema = c.get("/api/v1/sql/schema").json()
        assert ["runs", "run_id"] in [row[:2] for row in schema["rows"]]


def test_compare_and_statistics_across_runs(tmp_path: Path) -> None:
    w = make_world(tmp_path)
    with live(w.settings) as srv:
        with srv.client(headers=bearer(w.keys["facilitator"])) as f:
            fork = f.post(f"/api/v1/runs/{w.strait}/fork", json={"at_turn": 4, "seed": 5})
            branch = fork.json()["run_id"]
            deadline = time.monotonic() + 60
            while f.get(f"/api/v1/runs/{branch}").json()["status"] != "completed":
                assert time.monotonic() < deadline
                time.sleep(0.05)
        with srv.client(headers=bearer(w.keys["analyst"])) as c:
            cmp = c.get("/api/v1/compare", params={"runs": f"{w.strait},{branch}"})
            assert cmp.status_code == 200, cmp.text
            doc = cmp.json()
            assert doc["related"] is True and doc["common_ancestor"] == w.strait
            assert doc["shared_until_turn"] == 4
            assert_problem(c.get("/api/v1/compare", params={"runs": w.strait}), 400)
            assert_problem(c.get("/api/v1/compare", params={"runs": f"{w.strait},nope"}), 404)
            stats = c.get("/api/v1/statistics/metrics").json()
            assert "mean" in stats["columns"] and stats["rows"]
            final = c.get("/api/v1/statistics/final-metrics").json()
            assert {row[0] for row in final["rows"]} >= {w.strait, branch}
            assert c.get("/api/v1/statistics/costs").status_code == 200
            assert "metrics" in assert_problem(c.get("/api/v1/statistics/nope"), 404)["detail"]


def test_scenario_files_are_checked_with_lines_and_priced(tmp_path: Path) -> None:
    w = make_world(tmp_path)
    files = {str(p.relative_to(STRAIT)): p.read_text() for p in STRAIT.rglob("*.yaml")}
    with live(w.settings) as srv, srv.client(headers=bearer(w.keys["analyst"])) as c:
        ok = c.post("/api/v1/scenarios/validate", json={"files": files})
        assert ok.status_code == 200, ok.text
        assert ok.json()["valid"] is True and ok.json()["errors"] == 0
        broken = dict(files)
        broken["scenario.yaml"] = files["scenario.yaml"].replace("turns: 10", "turns: -3")
        t0 = time.monotonic()
        bad = c.post("/api/v1/scenarios/validate", json={"files": broken}).json()
        assert time.monotonic() - t0 < 2  # per keystroke of an editor
        assert bad["valid"] is False
        [problem] = [p for p in bad["problems"] if p["field"] == "turns"]
        assert problem["file"] == "scenario.yaml" and problem["line"] >= 1
        body = assert_problem(
            c.post("/api/v1/scenarios/validate", json={"files": {"../x.yaml": "a: 1"}}), 422
        )
        assert body["field"] == "files"
        assert_problem(c.post("/api/v1/scenarios/validate", json={"files": "nope"}), 422)
        est = c.post("/api/v1/scenarios/estimate", json={"scenario": "strait-crisis", "turns": 3})
        assert est.status_code == 200, est.text
        assert est.json()["turns"] == 3
        assert_problem(c.post("/api/v1/scenarios/estimate", json={"scenario": "nope"}), 404)


BATCH = """\
experiment_name: Server sweep
base_scenario: strait-crisis
runs_per_variation: 2
seed: 3
variations:
  - type: scenario_parameter
    parameter: turns
    values: [2, 3]
"""


def test_batches_start_list_show_report_resume(tmp_path: Path) -> None:
    w = make_world(tmp_path)
    with live(w.settings) as srv, srv.client(headers=bearer(w.keys["facilitator"])) as c:
        r = c.post("/api/v1/batches", json={"file": BATCH})
        assert r.status_code == 201, r.text
        batch = r.json()["batch_id"]
        assert r.json()["runs"] == 4
        deadline = time.monotonic() + 90
        while c.get(f"/api/v1/batches/{batch}").json()["counts"].get("completed", 0) < 4:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        listed = c.get("/api/v1/batches")
        assert [b["batch_id"] for b in listed.json()] == [batch]
        report = c.get(f"/api/v1/batches/{batch}/report")
        assert report.status_code == 200 and "Server sweep" in report.text
        shown = c.get(f"/api/v1/batches/{batch}")
        assert shown.json()["config"]["base_scenario"] == "strait-crisis"
        assert shown.json()["source"] == "batch file"  # kept under a random name
        # the files the server keeps are named, never their paths on the server
        root = str(w.db.parent)
        for text in (r.text, listed.text, shown.text, report.text):
            assert root not in text and "/work/" not in text and "scenarios/" not in text
        # nothing left to finish: resuming is a no-op that says so, not an error
        resumed = c.post(f"/api/v1/batches/{batch}/resume")
        assert resumed.status_code in (200, 409), resumed.text
        # a base scenario that is not offered, or a path, is refused
        body = assert_problem(
            c.post("/api/v1/batches", json={"file": BATCH.replace("strait-crisis", "../x")}), 404
        )
        assert body["field"] == "scenario"
        assert_problem(c.post("/api/v1/batches", json={"file": "[unclosed"}), 422)
        assert_problem(c.post("/api/v1/batches", json={"file": "a: 1"}), 422)
        assert "no batch 'nope'" in assert_problem(c.get("/api/v1/batches/nope"), 400)["detail"]
