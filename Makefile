# PMØ Workbench — `make demo` and `make test` work on a fresh machine: each bootstraps .venv on first use.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.pmo-installed
DEMO_STAMP := $(VENV)/.pmo-demo-installed
PYTEST_ARGS ?=
# quiet installs: one line per step, no progress bars or build-backend banners in a terminal or a CI log
PIP_QUIET := --quiet --progress-bar off --disable-pip-version-check


.PHONY: demo test lab bench setup sysdeps lint format clean docs

# the C kernels are compiled by the install, so a changed .c or .h file reinstalls
INSTALL_INPUTS := pyproject.toml constraints.txt $(wildcard pmo_workbench/ckernels/*.c pmo_workbench/ckernels/*.h)

# The installer: uv when it can be had (pip installs it into the venv, a few seconds from pip's cache): it installs
# the same pinned versions several times faster than pip (parallel, links files from its cache, compiles no
# bytecode up front). Without it -- no uv on the package index, an offline mirror uv cannot read -- pip does the same.
# PMO_INSTALLER=pip forces pip.
PMO_INSTALLER ?= uv
define venv_install
	@if [ "$(PMO_INSTALLER)" = uv ] && { test -x $(VENV)/bin/uv || $(PY) -m pip install $(PIP_QUIET) uv >/dev/null 2>&1; }; then \
	  $(VENV)/bin/uv pip install --quiet --python $(PY) -c constraints.txt $(1) || \
	  { echo "[setup] uv could not install; pip instead"; PYTHONWARNINGS=ignore $(PY) -m pip install $(PIP_QUIET) -c constraints.txt $(1); }; \
	else PYTHONWARNINGS=ignore $(PY) -m pip install $(PIP_QUIET) -c constraints.txt $(1); fi
endef

# `make demo` needs the workbench alone (embedded backend): no Hail/PySpark/Java, no test or docs tools
$(DEMO_STAMP): $(INSTALL_INPUTS)
	@command -v $${CC:-cc} >/dev/null 2>&1 || { echo "no C compiler ($${CC:-cc}): install gcc (apt-get install gcc)"; exit 2; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "[setup] installing the workbench into $(VENV) (embedded backend)"
	$(call venv_install,-e .)
	@$(PY) -m pmo_workbench.teaching.lab_environment
	@touch $@

# `make test` adds the Hail backend, the test tools and the docs site builder
$(STAMP): $(INSTALL_INPUTS)
	@command -v $${CC:-cc} >/dev/null 2>&1 || { echo "no C compiler ($${CC:-cc}): install gcc (apt-get install gcc)"; exit 2; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "[setup] installing the workbench with Hail, test and docs tools into $(VENV)"
	@PYTHONWARNINGS=ignore $(PY) -m pip install $(PIP_QUIET) --upgrade pip
	@PYTHONWARNINGS=ignore $(PY) -m pip install $(PIP_QUIET) -c constraints.txt -e ".[hail,test,docs]"
	@$(PY) -m pmo_workbench.teaching.lab_environment
	@git rev-parse --git-dir >/dev/null 2>&1 && $(VENV)/bin/nbstripout --install --attributes .gitattributes || true  # .gitattributes' filter
	@# record the checkout's file stats in the index once: runs read `git status` without refreshing it (no lock
	@# taken), and a fresh clone's racily-clean notebooks would otherwise go through the clean filter on every run
	@git rev-parse --git-dir >/dev/null 2>&1 && git update-index -q --refresh >/dev/null || true
	@touch $@ $(DEMO_STAMP)

setup: $(STAMP)

sysdeps:
	@bash .ci/sysdeps.sh

demo: $(DEMO_STAMP)
	@$(VENV)/bin/pmo demo --dir demo

test: setup sysdeps
	$(VENV)/bin/ruff check pmo_workbench widgets tests benchmarks
	$(PY) -m pytest $(PYTEST_ARGS)

lab: $(DEMO_STAMP)
	@test -f demo/pmo.yaml || $(VENV)/bin/pmo synth --out demo
	$(VENV)/bin/pmo lab --project demo

bench: setup sysdeps
	$(PY) -m benchmarks

lint: setup
	$(VENV)/bin/ruff check pmo_workbench widgets tests benchmarks

format: setup
	$(VENV)/bin/ruff check --fix pmo_workbench widgets tests benchmarks

docs: setup
	$(VENV)/bin/mkdocs build --strict --site-dir site

clean:
	rm -rf $(VENV) demo .pytest_cache .ruff_cache .hypothesis
