# The two set-up commands (README): `make run` (the whole service on this machine: `grader up`)
# and `make test`. Both install what they need. `make samples` grades the sample CW1 submissions.
# Debian's Python 3.11: the interpreter of the student runtime and of the images' stand-in base, so the
# versions pip picks for .venv (and pins into the images) install on both.
PYTHON ?= /usr/bin/python3.11
VENV := .venv
BIN := $(VENV)/bin
RUNTIME_DIR ?= /opt/grader/runtime
PYTEST_ARGS ?= -n 2

.PHONY: setup venv runtime services run samples lint test bench check clean deploy-check

setup: venv runtime

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PYTHON) && dpkg -s python3.11-venv >/dev/null 2>&1 \
	  || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3.11 python3.11-venv)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -e '.[test]'
	$(BIN)/python scripts/torchvision_without_ops.py  # PyPI's torchvision beside the CPU torch
	touch $@

# The student zone's Python runtime (and bubblewrap): see scripts/install_runtime.sh.
runtime:
	bash scripts/install_runtime.sh $(RUNTIME_DIR)

# The whole service on embedded defaults (SQLite, a broker needing no server, one worker, the API),
# everything under var/; prints the URL and demo tokens. Ctrl-C stops it.
run: setup
	$(BIN)/grader up

# Grade the sample CW1 submissions on embedded defaults and print their marks.
samples: setup
	$(BIN)/python scripts/grade_samples.py

# Static checks, all configured in pyproject.toml: ruff's lint rules and format, mypy, and the import
# contracts (the layers of docs/architecture.md). Any finding fails it, and so `make test`.
lint: venv
	$(BIN)/ruff check
	$(BIN)/ruff format --check
	$(BIN)/mypy
	$(BIN)/lint-imports --no-logo

test: lint setup services
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Everything that needs no sandbox (tests/README.md): no notebook graded, no sandbox image needed;
# the aim is under three minutes on two cores. Postgres, Redis, Chromium, the Docker engine (tests/deploy),
# the OpenID provider (tests/users).
.PHONY: test-fast
test-fast: setup
	bash scripts/ensure_services.sh
	bash scripts/ensure_pg_client.sh
	bash scripts/ensure_browser.sh
	bash scripts/ensure_axe.sh
	bash scripts/ensure_docker.sh
	bash scripts/ensure_oidc_provider.sh
	$(BIN)/python -m pytest -n 2 --dist worksteal -m "not sandbox and not slow"  # worksteal: no idle worker at the tail

check: setup
	$(BIN)/grader rubric check cw1
	$(BIN)/grader rubric check cw2

bench: setup
	$(BIN)/python bench/overhead.py
	$(BIN)/python bench/upload_check.py  # an upload's check forked from its template against a new interpreter
	bash scripts/ensure_services.sh  # Postgres and Redis, for the two below
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/throughput.py
	$(BIN)/python bench/peers.py  # nbgrader in a virtualenv of its own (scripts/ensure_peer_tools.sh)
	$(BIN)/python bench/cw2_reference.py
	$(BIN)/python bench/rush.py
	$(BIN)/python bench/dashboard.py  # the markers' overview, its poll and the marking page at 600 students
	$(BIN)/python bench/similarity.py  # fingerprints: the inverted index against every pair, 600 CW2-sized notebooks

clean:
	rm -rf $(VENV) build *.egg-info

# The deployment files: docker-compose.yml validated, Dockerfile.gpu built on a local stand-in base.
deploy-check: setup
	bash scripts/ensure_docker.sh
	$(BIN)/python -m pytest -p no:xdist tests/deploy

# PostgreSQL and Redis for the gradebook and broker tests (pg_dump/pg_restore for tests/backup), Chromium
# and axe-core for the dashboard's browser tests, the Docker engine and the docker backend's image for the
# sandbox tests (each started or built if not there), the OpenID provider of the sign-on tests
# (tests/users), and nbgrader and otter-grader in a virtualenv of their own for the agreement test
# (tests/importers) and bench/peers.py.
services:
	bash scripts/ensure_services.sh
	bash scripts/ensure_pg_client.sh
	bash scripts/ensure_browser.sh
	bash scripts/ensure_axe.sh
	bash scripts/ensure_docker.sh
	bash scripts/build_sandbox_image.sh
	bash scripts/ensure_peer_tools.sh
	bash scripts/ensure_oidc_provider.sh
