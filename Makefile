# gazelab — two commands set up and run everything on a fresh machine:
#   make demo   PPO: CNN baseline vs gaze+contrastive vs the oracle fovea on the evidence task (~3.5 min, 2 idle cores)
#   make test   unit tests + every notebook (smoke budgets)
# Each target creates .venv on first use and installs into it; later runs reuse it.
# On a machine with an NVIDIA GPU add GPU=1 to every target (make demo GPU=1): CUDA torch, no lavapipe.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
# torch first and pinned: 2.13.0 is a CPU wheel on the project machines; an open range pulls a multi-GB CUDA build.
TORCH_SPEC ?= torch==2.13.0
# GPU=1: torch's CUDA build, checked after the install, and only the Vulkan loader instead of lavapipe (the NVIDIA
# driver renders ManiSkill3). PyPI's Linux x86_64 torch 2.13.0 wheel is the CUDA 13 build (NVIDIA driver >= 580);
# PyPI is named so that a pip configuration pointing at CPU wheels does not win. For an older driver choose one of
# PyTorch's CUDA indexes that has the pinned version, e.g. TORCH_INDEX=https://download.pytorch.org/whl/cu126.
# The GPU install has its own stamp: GPU=1 on a venv that holds the CPU build stops with "make clean-venv first".
GPU ?= 0
ifeq ($(GPU),1)
TORCH_INDEX ?= https://pypi.org/simple
SYSTEM_DEPS_FLAGS := --gpu
CUDA_CHECK := import sys, torch; sys.exit(None if torch.version.cuda else \
	f"torch {torch.__version__} is a CPU build: run make clean-venv first, then again with GPU=1")
STAMP  := $(VENV)/.gazelab-installed-gpu
else
STAMP  := $(VENV)/.gazelab-installed
endif

.PHONY: demo test test-fast tutorials site release grade wheel lab benchmarks gallery clean-venv help

help:
	@echo "make demo        train baseline vs gaze+contrastive PPO on the built-in cluttered task -> runs/demo/"
	@echo "make test        unit tests + all notebooks in smoke mode (what CI runs)"
	@echo "make test-fast   unit tests without ManiSkill and notebooks"
	@echo "make tutorials   regenerate tutorials/ from solutions/ (the single source)"
	@echo "make site        execute every notebook (full budget) -> build/site/index.html, HTML pages that read offline"
	@echo "make release     nbgrader student release (no solutions) + student wheel -> build/course/release/, grading secret"
	@echo "make grade SUBMISSIONS=dir   grade dir/<student>/<notebook>.ipynb, sandboxed -> build/course/grades_by_student.csv"
	@echo "make wheel       the student wheel -> dist/gazelab-<version>-py3-none-any.whl (cloud notebooks: docs/gpu.md)"
	@echo "make lab         JupyterLab on tutorials/"
	@echo "make benchmarks  speed + mining benchmarks (prints numbers)"
	@echo "GPU=1            with any target on an NVIDIA GPU machine: CUDA torch, no lavapipe (make demo GPU=1)"

$(STAMP): pyproject.toml scripts/install_system_deps.sh
	bash scripts/install_system_deps.sh $(SYSTEM_DEPS_FLAGS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q "$(TORCH_SPEC)" $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(if $(CUDA_CHECK),$(PY) -c '$(CUDA_CHECK)')
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
	$(PY) -m gazelab.authoring.tutorials

# The course executed, as HTML pages readable without running anything and without network (gazelab/authoring/site.py):
# SITE_SOURCE=solutions for the solved notebooks; GAZELAB_SMOKE=1 for the smoke budgets (~1.5 min instead of ~8 on 2
# idle cores, tutorials/README.md has the times per notebook).
SITE_SOURCE ?= tutorials
site: $(STAMP)
	$(PY) -m gazelab.authoring.site --source $(SITE_SOURCE) --out build/site

# The instructor's workflow (INSTRUCTORS.md): nbgrader course folder in $(COURSE), one assignment per notebook.
# release also writes the student wheel and $(COURSE)/.grading_secret (the hidden inputs; keep it); grade runs every
# student's exercises in a sandbox (as nobody, no network, limits: gazelab/authoring/sandbox.py) and always writes the table.
COURSE ?= build/course
release: $(STAMP)
	$(PY) -m gazelab.authoring.grading release --course $(COURSE)

grade: $(STAMP)
	@test -n "$(SUBMISSIONS)" || { echo "usage: make grade SUBMISSIONS=folder of <student>/<notebook>.ipynb"; exit 2; }
	$(PY) -m gazelab.authoring.grading grade "$(SUBMISSIONS)" --course $(COURSE)

# The student wheel alone (the library without gazelab/authoring, no course files; the one make release writes) -> dist/:
# what a cloud notebook (Colab, Kaggle) installs from an upload or a URL, without the repository (docs/gpu.md).
wheel: $(STAMP)
	$(PY) -m gazelab.authoring.grading wheel --out dist

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
