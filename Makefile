# The common commands. `make demo` and `make test` are the two a new user runs.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DB ?= demo.db

.PHONY: setup web browser postgres demo test lint typecheck bench clean

$(BIN)/scenario-lab: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev,otel,postgres,ray]'
	@touch $@

setup: $(BIN)/scenario-lab web

# The browser app (web/): built from the npm lockfile into server/webapp, which the
# package ships; rebuilt when a source or the lockfile changes.
WEB_SRC := $(shell find web/src -type f 2>/dev/null) web/package-lock.json web/index.html web/vite.config.ts web/tsconfig.json
web: server/webapp/index.html

server/webapp/index.html: $(WEB_SRC)
	cd web && npm ci --no-audit --no-fund && npm run build

# The browser the web tests drive (Debian's chromium; Playwright cannot download one here).
browser:
	command -v chromium >/dev/null || (apt-get update -q && apt-get install -y -q chromium)

# The PostgreSQL server the tests start a throwaway cluster of (Debian's package; the
# tests find initdb and pg_ctl in /usr/lib/postgresql/*/bin or on PATH).
postgres:
	command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 \
		|| (apt-get update -q && apt-get install -y -q postgresql)

# Plays the bundled rule-driven scenario offline, forks it, and writes a report.
demo: setup
	./scripts/demo.sh $(BIN) $(DB)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: setup
	$(BIN)/mypy

test: lint typecheck web browser postgres
	$(BIN)/pytest -q

bench: setup
	for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b; done

clean:
	rm -rf $(VENV) web/node_modules server/webapp .pytest_cache .mypy_cache .ruff_cache .import_linter_cache demo.db demo.duckdb demo.db.locks out
