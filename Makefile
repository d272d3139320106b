# The two commands a new user needs are `make demo` and `make test`; both set up .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.stamp-run
DEV_STAMP := $(VENV)/.stamp-dev
SKAB ?= ../shared/data/skab

.PHONY: demo test test-slow test-all check bench fmt clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[coordinator]'
	touch $@

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(RUN_STAMP)

demo: $(RUN_STAMP)
	$(BIN)/edgewatch demo $(ARGS)

# Test workers (pytest-xdist): the tests mostly wait on real processes, so more workers
# than cores pays. A file's tests stay on one worker (their module fixtures are shared).
# `make test WORKERS=0` runs in one process.
WORKERS ?= 4
XDIST = $(if $(filter 0,$(WORKERS)),,-n $(WORKERS) --dist loadfile)

# The whole suite but the slow fault and fuzz tests (marker `slow`): minutes, not ten.
test: $(DEV_STAMP)
	$(BIN)/python -m pytest -q -m "not slow" $(XDIST) $(PYTEST_ARGS)

# The slow ones: long flapping links, repeated kills, 10,000 hostile payloads. CI runs
# them, two files at a time (their timing bounds are measured on a box they share).
test-slow: $(DEV_STAMP)
	$(BIN)/python -m pytest -q -m slow $(if $(filter 0,$(WORKERS)),,-n 2 --dist loadfile) $(PYTEST_ARGS)

test-all: $(DEV_STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

TYPECHECK := build/typecheck/edgewatch

check: $(DEV_STAMP)
	$(BIN)/ruff format --check agent coordinator shared tests
	$(BIN)/ruff check agent coordinator shared tests
	@mkdir -p $(TYPECHECK)
	@for p in agent coordinator shared; do ln -sfn ../../../$$p $(TYPECHECK)/$$p; done
	$(BIN)/mypy

fmt: $(DEV_STAMP)
	$(BIN)/ruff format agent coordinator shared tests
	$(BIN)/ruff check --fix agent coordinator shared tests

bench: $(DEV_STAMP)
	$(BIN)/edgewatch bench pipeline --json
	$(BIN)/edgewatch bench pipeline --json --rate 2000 --count 40000
	$(BIN)/edgewatch bench recovery --json
	$(BIN)/edgewatch bench scoring --json
	$(BIN)/edgewatch bench rollout --json
	$(BIN)/edgewatch bench alerts --json

clean:
	rm -rf $(VENV) var build *.egg-info
