#!/usr/bin/env bash
# The main job, offline: play the bundled rule-driven scenario, fork it with a
# counterfactual, sweep it as a 40-run batch, and write markdown reports. Usage: scripts/demo.sh VENV_BIN DB
set -euo pipefail
bin="${1:-.venv/bin}"
db="${2:-demo.db}"
sl() { "$bin/scenario-lab" "$@" --db "$db"; }
mkdir -p out
run=$(sl run scenarios/strait-crisis --seed 7 | tail -n 1)
branch=$(sl fork "$run" --at-turn 4 --seed 8 --play | tail -n 1)
sl runs --tree
sl verify "$run"
sl report "$run" -o "out/report-$run.md"
sl compare "$run" "$branch" -o "out/compare-$run-$branch.md"
sl sql "SELECT run_id, turn, name, round(value, 2) AS value FROM metrics WHERE run_id = '$branch' AND name = 'tension' ORDER BY turn"
batch=$(sl batch run scenarios/strait-crisis-sweep.yaml | tail -n 1)
sl report --batch "$batch" -o "out/sweep-$batch.md"
echo "reports: out/report-$run.md out/compare-$run-$branch.md out/sweep-$batch.md" >&2
