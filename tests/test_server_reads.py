"""The read routes over the log, against a real uvicorn: runs, state, events (the same
objects as ``log --json``), audit, verify, report, scenarios, a seat's view, the docs."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

from tests.engine_helpers import cli
from tests.server_helpers import (
    STRAIT,
    TABLETOP,
    World,
    assert_problem,
    bearer,
    live,
    make_world,
    play,
)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return make_world(tmp_path_factory.mktemp("reads"))


def test_runs_list_filters_and_pages_with_a_cursor(tmp_path: Path) -> None:
    w = make_world(tmp_path)
    more = [play(w.db, STRAIT, seed) for seed in (5, 6, 7)]
    with live(w.settings) as srv, srv.client(headers=bearer(w.keys["analyst"])) as c:
        everything = c.get("/api/v1/runs").json()
        assert [r["run_id"] for r in everything["runs"]][:3] == more[::-1]
        assert everything["next_cursor"] is None
        ids, cursor = [], None
        for _ in range(10):
            page = c.get(
                "/api/v1/runs", params={"limit": 2, **({"cursor": cursor} if cursor else {})}
            ).json()
            ids += [r["run_id"] for r in page["runs"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert ids == [r["run_id"] for r in everything["runs"]]
        halted = c.get("/api/v1/runs", params={"status": "halted"}).json()["runs"]
        assert [r["run_id"] for r in halted] == [w.tabletop]
        by_name = c.get("/api/v1/runs", params={"scenario": "Strait Crisis"}).json()["runs"]
        assert len(by_name) == 4
        # filtered pages of one: every match once, then no cursor
        seen, cursor = [], None
        for _ in range(10):
            params = {
                "scenario": "Strait Crisis",
                "limit": 1,
                **({"cursor": cursor} if cursor else {}),
            }
            page = c.get("/api/v1/runs", params=params).json()
            seen += [r["run_id"] for r in page["runs"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == [r["run_id"] for r in by_name]
        one = c.get("/api/v1/runs", params={"status": "halted", "limit": 1}).json()
        assert [r["run_id"] for r in one["runs"]] == [w.tabletop]
        assert c.get("/api/v1/runs", params={"parent": w.strait}).json()["runs"] == []
        # a filter that names no batch is refused, not an empty page that looks right
        assert (
            "none" in assert_problem(c.get("/api/v1/runs", params={"batch": "none"}), 400)["detail"]
        )
        assert_problem(c.get("/api/v1/runs", params={"status": "sleeping"}), 422)
        assert (
            assert_problem(c.get("/api/v1/runs", params={"cursor": "!!"}), 422)["field"] == "cursor"
        )


def test_a_run_shows_status_turn_cost_lineage_and_pending_seats(tmp_path: Path) -> None:
    w = make_world(tmp_path)
    fork = cli("fork", w.strait, "--at-turn", "4", "--seed", "9", "--db", w.db)
    assert fork.exit_code == 0, fork.output
    branch = fork.stdout.strip().splitlines()[-1]
    with live(w.settings) as srv, srv.client(headers=bearer(w.keys["analyst"])) as c:
        run = c.get(f"/api/v1/runs/{w.tabletop}").json()
        assert run["status"] == "halted" and run["halt_reason"] == "human_input"
        assert run["turn"] == 1 and run["turns"] == 5 and run["total_cost_usd"] == 0
        assert run["seats_pending"] == [
            {
                "actor": "grid-operator",
                "kind": "decision",
                "turn": 1,
                "action_name": "manual_restoration",
            }
        ]
        b = c.get(f"/api/v1/runs/{branch}").json()
        assert [x["run_id"] for x in b["lineage"]] == [w.strait, branch]
        parent = c.get(f"/api/v1/runs/{w.strait}").json()
        assert parent["children"] == [{"run_id": branch, "fork_turn": 4}]
        kids = c.get("/api/v1/runs", params={"parent": w.strait}).json()["runs"]
        assert [k["run_id"] for k in kids] == [branch]


def test_state_at_a_turn_and_a_turn_the_run_lacks(world: World) -> None:
    with live(world.settings) as srv, srv.client(headers=bearer(world.keys["analyst"])) as c:
        s3 = c.get(f"/api/v1/runs/{world.strait}/state", params={"turn": 3}).json()
        now = c.get(f"/api/v1/runs/{world.strait}/state").json()
        assert s3["last_completed_turn"] == 3 and now["last_completed_turn"] == 10
        body = assert_problem(c.get(f"/api/v1/runs/{world.strait}/state", params={"turn": 99}), 404)
        assert body["detail"].startswith(f"run {world.strait} has no turn 99")


def test_events_pages_are_the_log_json_lines(world: World) -> None:
    result = cli("log", world.strait, "--json", "--db", world.db)
    expected = [json.loads(x) for x in result.stdout.splitlines()]
    with live(world.settings) as srv, srv.client(headers=bearer(world.keys["analyst"])) as c:
        got, after = [], 0
        for _ in range(100):
            page = c.get(
                f"/api/v1/runs/{world.strait}/events", params={"after": after, "limit": 25}
            ).json()
            if not page["events"]:
                break
            got += page["events"]
            after = page["next_after"]
        assert got == expected
        tail = c.get(
            f"/api/v1/runs/{world.strait}/events", params={"after": expected[-3]["position"]}
        )
        assert tail.json()["events"] == expected[-2:]
        assert_problem(c.get(f"/api/v1/runs/{world.strait}/events", params={"limit": 0}), 422)


def test_a_seat_gets_only_its_own_view_of_the_events(world: World) -> None:
    with live(world.settings) as srv, srv.client(headers=bearer(world.seat)) as c:
        events = c.get(f"/api/v1/runs/{world.tabletop}/events").json()["events"]
        types = {e["type"] for e in events}
        assert "RunStarted" in types and "CostIncurred" not in types
        text = json.dumps(events)
        for other in ("government", "attackers"):
            for goal in _private_strings(TABLETOP / "actors" / f"{other}.yaml"):
                assert goal not in text
        assert "prompt_hash" not in text and "response_hash" not in text
        brief = events[0]["payload"]["scenario"]
        assert set(brief["actors"]["government"]) == {"name", "short_name", "role", "description"}


def _private_strings(actor_file: Path) -> list[str]:
    import yaml

    spec = yaml.safe_load(actor_file.read_text())
    out = [str(g) for g in spec.get("goals", []) + spec.get("constraints", [])]
    out += [str(spec["private_information"]).strip()] if spec.get("private_information") else []
    return [s for s in out if len(s) > 12]


def test_the_seat_view_asks_in_words_not_json(world: World) -> None:
    with live(world.settings) as srv, srv.client(headers=bearer(world.seat)) as c:
        view = c.get(f"/api/v1/runs/{world.tabletop}/seat").json()
        assert view["actor"] == "grid-operator" and view["waiting_for"] == ["grid-operator"]
        (question,) = view["pending"]
        assert question["question"] == "What does National Grid Operator do in turn 1?"
        assert {c["name"] for c in question["choices"]} >= {"manual_restoration", "public_briefing"}
        assert "JSON" not in json.dumps(view) and "json" not in question["question"]
        assert view["briefing"]["actors"]["grid-operator"]["private_information"]
        assert "goals" not in view["briefing"]["actors"]["attackers"]
        # a seat token shows its own seat only
        assert_problem(
            c.get(f"/api/v1/runs/{world.tabletop}/seat", params={"actor": "attackers"}), 403
        )
    with live(world.settings) as srv, srv.client(headers=bearer(world.keys["facilitator"])) as c:
        assert_problem(c.get(f"/api/v1/runs/{world.tabletop}/seat"), 400)
        body = assert_problem(
            c.get(f"/api/v1/runs/{world.tabletop}/seat", params={"actor": "nobody"}), 404
        )
        assert "has no actor 'nobody'" in body["detail"]
        other = c.get(f"/api/v1/runs/{world.tabletop}/seat", params={"actor": "government"}).json()
        assert other["pending"] == [] and other["waiting_for"] == ["grid-operator"]


def test_audit_verify_and_report(world: World) -> None:
    with live(world.settings) as srv, srv.client(headers=bearer(world.keys["analyst"])) as c:
        audit = c.get(f"/api/v1/runs/{world.strait}/audit").json()
        assert audit and {"actor", "turn"} <= audit[0].keys()
        verify = c.get(f"/api/v1/runs/{world.strait}/verify").json()
        assert verify["ok"] is True and verify["checked"] > 100
        r = c.get(f"/api/v1/runs/{world.strait}/report")
        assert r.headers["content-type"].startswith("text/markdown")
        assert r.text.startswith(f"# Run `{world.strait}`: Strait Crisis")
        assert_problem(c.get("/api/v1/runs/nope/report"), 404)


def test_scenarios_bundled_and_configured_by_folder_name(tmp_path: Path, world: World) -> None:
    extra = tmp_path / "mine"
    (extra / "broken").mkdir(parents=True)
    (extra / "broken" / "scenario.yaml").write_text("name: Broken\nturns: 0\nactors: []\n")
    (extra / "not-a-scenario").mkdir()
    import shutil

    shutil.copytree(STRAIT, extra / "my-strait")
    settings = replace(world.settings, scenario_dirs=(extra,))
    with live(settings) as srv, srv.client(headers=bearer(world.keys["analyst"])) as c:
        listed = {s["name"]: s for s in c.get("/api/v1/scenarios").json()}
        assert {"strait-crisis", "tabletop-human", "my-strait", "broken"} <= listed.keys()
        assert "not-a-scenario" not in listed
        assert listed["my-strait"]["source"] == "configured" and listed["my-strait"]["turns"] == 10
        assert listed["broken"]["valid"] is False and listed["broken"]["problems"]
        one = c.get("/api/v1/scenarios/tabletop-human").json()
        assert one["scenario"]["actors"]["grid-operator"]["control"] == "human"
        body = assert_problem(c.get("/api/v1/scenarios/nope"), 404)
        assert body["detail"].startswith("no scenario 'nope'")
        assert_problem(c.get("/api/v1/scenarios/..%2F..%2Fetc"), 404)
        assert str(tmp_path) not in json.dumps(listed)


def test_docs_and_openapi_load_nothing_from_outside(world: World) -> None:
    with live(world.settings) as srv, srv.client() as c:
        spec = c.get("/api/v1/openapi.json").json()
        assert "/api/v1/runs/{run_id}/events" in spec["paths"]
        html = c.get("/api/docs").text
        urls = re.findall(r"""(?:src|href)=["']([^"']+)""", html) + re.findall(
            r"url: *'([^']+)'", html
        )
        assert urls and all(u.startswith("/") for u in urls), urls
        assert not re.search(r"https?://(?!127\.0\.0\.1)", html)
        for u in urls:
            assert c.get(u).status_code == 200, u
        assert_problem(c.get("/api/docs/assets/index.html"), 404)
