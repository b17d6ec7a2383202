# Two commands on a fresh machine: `make run` starts the whole system, `make test` tests it.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# The console's browser tests drive Debian's chromium (Playwright's own download cannot reach the
# internet here); a CJK font so the screenshots show the Chinese labels.
CHROMIUM ?= /usr/bin/chromium
export CHROMIUM
SUDO     := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install browser run test test-fast test-faults lint bench histories compose-env clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required, found " + sys.version' 
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

$(CHROMIUM):
	@command -v apt-get >/dev/null || { echo "the console tests need chromium: install it, or set CHROMIUM=<path>"; exit 1; }
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium fonts-wqy-zenhei >/dev/null

browser: $(CHROMIUM)  ## Debian's chromium for the console's browser tests

run: $(STAMP)  ## the whole system on embedded defaults; Ctrl-C stops it
	$(BIN)/python -m services.run

test: $(STAMP) browser  ## every test: unit, workflow (time-skipping), replay, end-to-end, console in a browser
	$(BIN)/python -m pytest -m "not faults"

test-fast: $(STAMP)  ## everything but the end-to-end test
	$(BIN)/python -m pytest -m "not e2e and not faults"

test-faults: $(STAMP)  ## kill -9 each part of the running system under load; prints what was lost or doubled
	$(BIN)/python -m pytest -m faults -s tests/faults

lint: $(STAMP)  ## ruff (rules, import order, complexity, format) over services/ and tests/, mypy over services/
	$(BIN)/ruff check services tests
	$(BIN)/ruff format --check services tests
	$(BIN)/mypy services

bench: $(STAMP)  ## SLA timer storm and history sizes; intake throughput against raw start_workflow; reporting at 1M events
	$(BIN)/python -m tests.bench.sla_bench
	$(BIN)/python -m tests.bench.intake_bench
	$(BIN)/python -m tests.bench.reporting_bench

histories: $(STAMP)  ## record workflow histories for the replay test (after a deliberate change)
	$(BIN)/python -m tests.workflow.record_histories
	$(BIN)/python -m tests.workflow.record_event_examples

compose-env: $(STAMP)  ## tokens and payload keys for deploy/compose.yaml, in .data/compose/ (kept once made)
	$(BIN)/python -m services.compose_env

clean:  ## forget local state (complaints, database, deliveries, logs)
	rm -rf .data
