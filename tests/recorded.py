"""Recorded runs as test fixtures: a run's events and blobs in one JSON-lines file.

``python -m tests.recorded OUT.jsonl [DIVERGENT.jsonl]`` records a fresh 2-turn run of
the llm3 test scenario against the loopback fake, and derives the divergent copy: the
same run with the model's recorded answer to turn 2's first decision changed, so a
re-execution parses a different action than the log holds. The tests load the
committed files into a new log and replay-check them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
from pathlib import Path

import msgspec

from eventstore import AnyEvent, EventStore

_decoder = msgspec.json.Decoder(AnyEvent)


def export_run(store: EventStore, run_id: str, path: Path) -> None:
    blobs: set[str] = set()
    lines = []
    for rec in store.read(run_id):
        data = msgspec.to_builtins(rec.event)
        lines.append(json.dumps({"event": data}))
        for text in json.dumps(data).split('"'):
            if len(text) == 64 and all(c in "0123456789abcdef" for c in text):
                blobs.add(text)
    for sha in sorted(blobs):
        try:
            raw = store.get_blob(sha)
        except Exception:
            continue  # a 64-hex string that is not a blob (e.g. the scenario hash)
        lines.append(json.dumps({"blob": sha, "data": base64.b64encode(raw).decode()}))
    path.write_text(json.dumps({"run_id": run_id}) + "\n" + "\n".join(lines) + "\n")


def import_run(path: Path, store: EventStore) -> str:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    run_id = rows[0]["run_id"]
    events = [_decoder.decode(json.dumps(r["event"])) for r in rows[1:] if "event" in r]
    blobs = {r["blob"]: base64.b64decode(r["data"]) for r in rows[1:] if "blob" in r}
    setup = [e for e in events if e.turn == 0]
    store.create_run(run_id, events=setup, blobs=blobs)
    store.append(run_id, events[len(setup) :], expected_seq=len(setup), blobs=blobs)
    return run_id


def _record(out: Path) -> None:
    import tempfile

    from tests.engine_helpers import LLM3, cli, last_line, llm_env
    from tests.fakellm import FakeLLMServer

    counter = iter(range(1, 1000))

    def unique_decisions(request: dict) -> str | None:
        # distinct answers, so each decision has a blob of its own to tamper with
        fmt = request.get("response_format", {}).get("json_schema", {}).get("name")
        if fmt != "decision":
            return None
        n = next(counter)
        return json.dumps(
            {
                "long_term_goals": [f"goal {n}"],
                "short_term_priorities": ["now"],
                "reasoning": f"reason {n}",
                "action": f"action {n}",
                "action_name": None,
            }
        )

    with tempfile.TemporaryDirectory() as tmp, FakeLLMServer(responder=unique_decisions) as fake:
        db = Path(tmp) / "log.db"
        result = cli(
            "run", LLM3, "--db", db, "--turns", "2", "--seed", "9", env=llm_env(fake.base_url)
        )
        run_id = last_line(result.stdout)
        with EventStore.open(db) as store:
            export_run(store, run_id, out)


def make_divergent(src: Path, dst: Path) -> None:
    rows = [json.loads(line) for line in src.read_text().splitlines() if line.strip()]
    target = next(
        r["event"]["call"]["response_hash"]
        for r in rows[1:]
        if "event" in r and r["event"]["type"] == "DecisionMade" and r["event"]["turn"] == 2
    )
    # A different answer is a different blob: stored under its own hash, which every
    # event naming the old one names instead, so the log is consistent (it verifies)
    # and only its history diverges (a blob edited in place is tampering: verify names it).
    raw = base64.b64decode(next(r["data"] for r in rows if r.get("blob") == target))
    data = json.loads(raw)
    data["action"] = "A DIFFERENT ACTION THAN THE LOG RECORDS"
    changed = json.dumps(data).encode()
    new = hashlib.sha256(changed).hexdigest()
    out = []
    for r in rows:
        if r.get("blob") == target:
            r = {"blob": new, "data": base64.b64encode(changed).decode()}
        out.append(json.dumps(r).replace(target, new))
    dst.write_text("\n".join(out) + "\n")


if __name__ == "__main__":
    _record(Path(sys.argv[1]))
    if len(sys.argv) > 2:
        make_divergent(Path(sys.argv[1]), Path(sys.argv[2]))
