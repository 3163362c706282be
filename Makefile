# gazelab — two commands set up and run everything on a fresh machine:
#   make demo   train the CNN baseline and gaze+contrastive PPO on the built-in cluttered task (~4 min on 2 idle cores)
#   make test   unit tests + every notebook (smoke budgets)
# Each target creates .venv on first use and installs into it; later runs reuse it.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
# torch first and pinned: 2.13.0 is a CPU wheel on the project machines; an open range pulls a multi-GB CUDA build.
TORCH_SPEC ?= torch==2.13.0
STAMP  := $(VENV)/.gazelab-installed

.PHONY: demo test test-fast tutorials lab benchmarks gallery clean-venv help

help:
	@echo "make demo        train baseline vs gaze+contrastive PPO on the built-in cluttered task -> runs/demo/"
	@echo "make test        unit tests + all notebooks in smoke mode (what CI runs)"
	@echo "make test-fast   unit tests without ManiSkill and notebooks"
	@echo "make tutorials   regenerate tutorials/ from solutions/ (the single source)"
	@echo "make lab         JupyterLab on tutorials/"
	@echo "make benchmarks  speed + mining benchmarks (prints numbers)"

$(STAMP): pyproject.toml scripts/install_system_deps.sh
	bash scripts/install_system_deps.sh
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q "$(TORCH_SPEC)"
	$(PIP) install -q -e ".[all]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/gazelab demo

# Unit tests, then every notebook executed by nbmake with smoke budgets (GAZELAB_SMOKE=1). The solved notebooks run
# with GAZELAB_STRICT_EXERCISES=1 so a wrong solution fails instead of falling back to the library's reference.
NBMAKE := $(PY) -m pytest -q --nbmake --nbmake-timeout=600 -p no:cacheprovider
test: $(STAMP)
	GAZELAB_SMOKE=1 $(PY) -m pytest -q tests
	GAZELAB_SMOKE=1 GAZELAB_STRICT_EXERCISES=1 $(NBMAKE) solutions
	GAZELAB_SMOKE=1 $(NBMAKE) tutorials

test-fast: $(STAMP)
	$(PY) -m pytest -q tests -m "not maniskill"

tutorials: $(STAMP)
	$(PY) -m gazelab.tutorials

lab: $(STAMP)
	$(VENV)/bin/jupyter lab --ServerApp.root_dir=tutorials $(if $(filter 0,$(shell id -u)),--allow-root)

benchmarks: $(STAMP)
	$(PY) benchmarks/mining.py
	$(PY) benchmarks/env_speed.py
	$(PY) benchmarks/throughput.py

gallery: $(STAMP)
	$(PY) scripts/env_gallery.py

clean-venv:
	rm -rf $(VENV)
