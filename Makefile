# The common commands. `make demo` and `make test` are the two a new user runs.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DB ?= demo.db

.PHONY: setup demo test lint typecheck bench clean

$(BIN)/scenario-lab: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev,otel]'
	@touch $@

setup: $(BIN)/scenario-lab

# Plays the bundled rule-driven scenario offline, forks it, and writes a report.
demo: setup
	./scripts/demo.sh $(BIN) $(DB)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: setup
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/pytest -q

bench: setup
	for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b; done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .import_linter_cache demo.db demo.duckdb demo.db.locks out
