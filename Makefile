# The README's commands. Only Python 3.11 and pip are needed on a fresh machine:
# `make install` creates .venv, installs uv from PyPI into it and syncs the lockfile.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.retail-assets-installed
UV_VERSION := 0.13.8
UI_PORT ?= 3000

export RETAIL_ASSETS_HOME ?= $(CURDIR)/.retail
# absolute: `make ui` runs in DAGSTER_HOME, where a relative home would point elsewhere
override RETAIL_ASSETS_HOME := $(abspath $(RETAIL_ASSETS_HOME))

# The Dagster instance `make demo` and `make ui` record into: INSTANCE=sqlite (default, dagster.yaml:
# SQLite files under the home) or INSTANCE=postgres (dagster.postgres.yaml on the private PostgreSQL
# cluster of scripts/local_postgres.sh, started if it is not running; it keeps running afterwards,
# `bash scripts/local_postgres.sh stop` stops it). Each has its own DAGSTER_HOME.
INSTANCE ?= sqlite
ifeq ($(INSTANCE),sqlite)
INSTANCE_YAML := dagster.yaml
DAGSTER_HOME_DIR := $(RETAIL_ASSETS_HOME)/dagster_home
INSTANCE_ENV :=
else ifeq ($(INSTANCE),postgres)
INSTANCE_YAML := dagster.postgres.yaml
DAGSTER_HOME_DIR := $(RETAIL_ASSETS_HOME)/dagster_home_postgres
INSTANCE_ENV := bash scripts/local_postgres.sh start || exit 1; eval "$$(bash scripts/local_postgres.sh env)";
else
$(error INSTANCE=$(INSTANCE) is not an instance this project ships: use INSTANCE=sqlite (the default) or INSTANCE=postgres)
endif

# make ui's log folder under DAGSTER_HOME (retail_assets/demo.py LOGS_DIR_NAME): Dagster's webserver and
# daemons treat $$DAGSTER_HOME/logs as a telemetry queue and empty it, so never log there.
UI_LOGS := retail_assets_logs

AZURITE_DIR := tools/azurite
AZURITE_STAMP := $(AZURITE_DIR)/node_modules/.retail-assets-installed
AZURE_HOME ?= $(CURDIR)/.retail-azure

.PHONY: help install test test-fast lint check-defs chromium azurite postgresql demo demo-azure ui bench dagster-home

help:
	@echo "make demo   - create the environment if needed, run the demo (dims + Bronze days), print rows per table per day"
	@echo "make demo-azure - the demo with the lake on Azure Storage (a local Azurite emulator, started and stopped by it)"
	@echo "make test   - create the environment if needed, ruff + dg check defs + the whole pytest suite"
	@echo "make test-fast - the inner loop: the suite without e2e, Azurite/Sail/Event Hubs servers and the crash matrix"
	@echo "make ui     - dagster dev (webserver + daemon) on the instance under RETAIL_ASSETS_HOME; Ctrl-C stops it"
	@echo "             (make demo|ui INSTANCE=postgres: the instance on a local PostgreSQL, see dagster.postgres.yaml)"
	@echo "make bench  - scale-factor-1 benchmark (see bench/)"

# Re-runs only when the lockfile or pyproject change (warm runs skip it). Bytecode is compiled here, once:
# where PYTHONDONTWRITEBYTECODE=1 is set (this machine, most container images) Python never writes .pyc
# files, so every process — each Dagster run worker, sensor tick and CLI call — otherwise recompiled
# Dagster, pandas, pyarrow and the project from source (≈ 2 s of CPU per run start, bench/bench_silver_dagster.py).
install: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(VENV)/bin/uv pip sync --compile-bytecode --python $(VENV)/bin/python requirements.lock
	$(VENV)/bin/uv pip install --python $(VENV)/bin/python --no-deps -e .
	$(VENV)/bin/python -m compileall -q retail_assets
	@touch $@

lint: install
	$(BIN)/ruff check retail_assets retail_assets_tests bench

# dg finds the project through [tool.dg] in pyproject.toml and the venv's python on PATH.
check-defs: install
	PATH="$(BIN):$$PATH" $(BIN)/dg check defs

# The end-to-end test (marker e2e, part of the suite) drives Debian's Chromium; installed once.
chromium:
	@bash scripts/install_chromium.sh

# Azurite (Microsoft's Azure Storage emulator, npm, pinned by tools/azurite/package-lock.json) for the
# lake-on-Azure tests and `make demo-azure`. Re-runs only when the lock changes. protobufjs' postinstall
# (a version notice) is not needed, hence --ignore-scripts.
azurite: $(AZURITE_STAMP)

$(AZURITE_STAMP): $(AZURITE_DIR)/package.json $(AZURITE_DIR)/package-lock.json
	cd $(AZURITE_DIR) && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
	@touch $@

# Debian's PostgreSQL server for the Postgres-instance e2e test and INSTANCE=postgres; installed once.
postgresql:
	@bash scripts/install_postgres.sh

# Two pytest workers (pytest-xdist), each running whole test files (--dist loadfile keeps a module's
# fixtures, e.g. one dagster dev or one PostgreSQL server, in one process): 13.4 -> 8.1 min here.
# --no-loadscope-reorder: xdist otherwise queues files by their number of tests, which sent the
# one-test e2e files (the longest, minutes each) last, after the conftest had put them first
# (SLOWEST_FIRST); the run then ended with one worker on the UI test for four minutes.
TEST_WORKERS ?= 2
XDIST := -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

test: lint check-defs chromium azurite postgresql
	PATH="$(BIN):$$PATH" $(BIN)/pytest -q $(XDIST) --durations=25

# Inner loop (~half the time): everything but the browser e2e, the external-server suites (Azurite,
# Sail server, fake Event Hubs) and the SIGKILL crash matrix. CI runs `make test`, i.e. everything.
test-fast: install
	PATH="$(BIN):$$PATH" $(BIN)/pytest -q $(XDIST) -m "not e2e" --ignore=retail_assets_tests/azure \
		--ignore=retail_assets_tests/eventhubs --ignore=retail_assets_tests/crash

# The persistent instance the demo records into and the UI shows.
dagster-home:
	@mkdir -p "$(DAGSTER_HOME_DIR)"
	@cmp -s $(INSTANCE_YAML) "$(DAGSTER_HOME_DIR)/dagster.yaml" || cp $(INSTANCE_YAML) "$(DAGSTER_HOME_DIR)/dagster.yaml"

demo: install dagster-home $(if $(filter postgres,$(INSTANCE)),postgresql)
	$(INSTANCE_ENV) RETAIL_ASSETS_DAGSTER_YAML="$(CURDIR)/$(INSTANCE_YAML)" DAGSTER_HOME="$(DAGSTER_HOME_DIR)" $(BIN)/retail-assets demo

# The demo with RETAIL_ASSETS_LAKE_ROOT on Azurite (its data under $(AZURE_HOME)/azurite, so the lake
# persists between runs; the ledger, outbox and Dagster instance under $(AZURE_HOME) as usual).
demo-azure: install azurite
	RETAIL_ASSETS_HOME="$(AZURE_HOME)" DAGSTER_HOME="$(AZURE_HOME)/dagster_home" $(BIN)/python scripts/demo_azure.py $(DEMO_ARGS)

# dagster dev ignores SIGINT/SIGTERM, so it runs in its own session and Ctrl-C kills that
# whole process group (webserver, daemon, code server) instead. It runs in DAGSTER_HOME (a
# dagster.yaml in the working directory that is not DAGSTER_HOME's draws a warning). The full log
# goes to $(DAGSTER_HOME_DIR)/$(UI_LOGS)/ui.log (not logs/: see demo.LOGS_DIR_NAME); the terminal leaves out the daemon's periodic no-op lines
# (UI_NOISE: sensor ticks that skipped, automation ticks that requested nothing; and Dagster's note,
# one line naming all 134 check outputs, that `silver_facts` reported its check evaluations as events,
# which it does on purpose: they carry each day's partition); UI_VERBOSE=1 shows
# everything. Two warnings that are not about this project are ignored (PYTHONWARNINGS, inherited by
# the webserver, the daemon and the code server): `dagster dev` is "superseded" by `dg dev` (which does
# not take workspace.yaml), and Dagster 1.13.27's own sensor decorator passes `owners` to
# SensorDefinition, which then warns that this parameter is beta although no sensor here sets it.
UI_WARNINGS := ignore:Function `dev_command` is superseded,ignore:Parameter `owners` of initializer `SensorDefinition
UI_NOISE := Checking for new runs for sensor|Sensor [A-Za-z0-9_]+ skipped|Prefetching asset records|Done prefetching asset records|Tick produced 0 runs|Adding [0-9]+ asset evaluations? for evaluation|Submitting 0 runs for evaluation|Finished auto-materialization tick|Checking [0-9]+ assets/checks and|Renaming any states corresponding|op .silver_facts. did not yield or return expected outputs
ifeq ($(UI_VERBOSE),1)
UI_NOISE := ^$$^
endif

ui: install dagster-home $(if $(filter postgres,$(INSTANCE)),postgresql)
	@test -f "$(RETAIL_ASSETS_HOME)/calendar.json" || $(BIN)/retail-assets calendar init
	@mkdir -p "$(DAGSTER_HOME_DIR)/$(UI_LOGS)"
	@echo "Dagster UI on http://127.0.0.1:$(UI_PORT) (instance $(DAGSTER_HOME_DIR), $(INSTANCE); full log in $(UI_LOGS)/ui.log there); Ctrl-C to stop"
	@$(INSTANCE_ENV) DAGSTER_HOME="$(DAGSTER_HOME_DIR)" DAGSTER_DISABLE_TELEMETRY=1 PATH="$(BIN):$$PATH" PYTHONWARNINGS='$(UI_WARNINGS)' \
	setsid bash -c 'set -o pipefail; cd "$(DAGSTER_HOME_DIR)" && "$(BIN)/dagster" dev -w "$(CURDIR)/workspace.yaml" \
		-p $(UI_PORT) 2>&1 | tee -a $(UI_LOGS)/ui.log | grep --line-buffered -vE "$(UI_NOISE)"' & \
	pid=$$!; \
	stop() { kill -TERM -- -$$pid 2>/dev/null; for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 -- -$$pid 2>/dev/null || exit 0; sleep 0.5; done; kill -KILL -- -$$pid 2>/dev/null; exit 0; }; \
	trap stop INT TERM; \
	wait $$pid

# Speed targets live here, not in tests. Sparingly: each run generates scale-factor-1 days.
bench: install
	$(BIN)/python bench/bench_dimensions.py
	$(BIN)/python bench/bench_generate.py
	$(BIN)/python bench/bench_pipeline.py
