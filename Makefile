# PMØ Workbench — `make demo` and `make test` work on a fresh machine: each bootstraps .venv on first use.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.pmo-installed
PYTEST_ARGS ?=

.PHONY: demo test lab bench setup sysdeps lint format clean

# the C kernels are compiled by the install, so a changed .c or .h file reinstalls
$(STAMP): pyproject.toml constraints.txt $(wildcard pmo_workbench/ckernels/*.c pmo_workbench/ckernels/*.h)
	@command -v $${CC:-cc} >/dev/null 2>&1 || { echo "no C compiler ($${CC:-cc}): install gcc (apt-get install gcc)"; exit 2; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e ".[hail,test]"
	@git rev-parse --git-dir >/dev/null 2>&1 && $(VENV)/bin/nbstripout --install --attributes .gitattributes || true  # .gitattributes' filter
	@touch $@

setup: $(STAMP)

sysdeps:
	@bash .ci/sysdeps.sh

demo: setup
	$(VENV)/bin/pmo demo --dir demo

test: setup sysdeps
	$(VENV)/bin/ruff check pmo_workbench widgets tests benchmarks
	$(PY) -m pytest $(PYTEST_ARGS)

lab: setup
	@test -f demo/pmo.yaml || $(VENV)/bin/pmo synth --out demo
	$(VENV)/bin/pmo lab --project demo

bench: setup sysdeps
	$(PY) -m benchmarks

lint: setup
	$(VENV)/bin/ruff check pmo_workbench widgets tests benchmarks

format: setup
	$(VENV)/bin/ruff check --fix pmo_workbench widgets tests benchmarks

clean:
	rm -rf $(VENV) demo .pytest_cache .ruff_cache .hypothesis
