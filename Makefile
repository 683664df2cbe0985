# The two set-up commands (README): `make run` and `make test`. Both install what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUNTIME_DIR ?= /opt/grader/runtime
PYTEST_ARGS ?= -n 2

.PHONY: setup venv runtime services run test bench check clean

setup: venv runtime

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -e '.[test]'
	touch $@

# The student zone's Python runtime (and bubblewrap): see scripts/install_runtime.sh.
runtime:
	bash scripts/install_runtime.sh $(RUNTIME_DIR)

# Grade the sample CW1 submissions on embedded defaults and print their marks.
run: setup
	$(BIN)/python scripts/grade_samples.py

test: setup services
	$(BIN)/python -m pytest $(PYTEST_ARGS)

check: setup
	$(BIN)/grader rubric check cw1

bench: setup
	$(BIN)/python bench/overhead.py

clean:
	rm -rf $(VENV) build *.egg-info

# PostgreSQL and Redis for the gradebook and broker tests (started if not running).
services:
	bash scripts/ensure_services.sh
