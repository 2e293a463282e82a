# Two commands on a fresh machine (Python 3.11, offline, no GPU needed):
#   make demo   # .venv + install + WordNet offline + the whole workflow on config/demo.yaml
#   make test   # same set-up, then the test suite
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
CORES ?= 8
GPUS ?= 1
NLTK_DATA ?= $(CURDIR)/resources/nltk_data
export NLTK_DATA
export PATH := $(CURDIR)/$(BIN):$(PATH)
# Offline by default: models load from local folders, never from the hub at run time.
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

SNAKEMAKE := $(BIN)/snakemake --cores $(CORES) --resources gpu=$(GPUS)
# Snakemake's message for a YAML error in a --configfile names no file or line; this one does.
CHECK_CONFIG := $(BIN)/semspace config check config/config.yaml

.PHONY: help setup wordnet demo test test-fast report unlock video-tools lint bench bench-gpu clean

help:
	@echo "make demo | test | test-fast | report | lint | bench | bench-gpu | clean"

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)

# torch==2.14.1 / torchvision==0.29.1 are pinned in pyproject.toml: on the build machines pip
# takes them from local disk; elsewhere they come from PyPI.
# TORCH_INDEX=<a CPU wheel index> installs CPU-only torch first (no CUDA libraries).
TORCH_INDEX ?=
$(VENV)/.installed: pyproject.toml | $(BIN)/activate
	$(BIN)/pip install --upgrade pip
	$(if $(TORCH_INDEX),$(BIN)/pip install --index-url $(TORCH_INDEX) torch==2.14.1 torchvision==0.29.1)
	$(BIN)/pip install -e '.[dev]'
	touch $@

setup: $(VENV)/.installed wordnet

# WordNet 3.0 offline: Debian's wordnet-base files copied into an NLTK data folder.
wordnet: $(NLTK_DATA)/corpora/wordnet/lexnames
$(NLTK_DATA)/corpora/wordnet/lexnames: | $(VENV)/.installed
	@test -f /usr/share/wordnet/data.noun || bash scripts/install-wordnet.sh
	$(BIN)/semspace wordnet prepare --out $(NLTK_DATA)

# The config a command layers over config/config.yaml, and its run name (key `run`).
CONFIG ?= config/demo.yaml
RUN = $(shell sed -n 's/^run: *//p' $(CONFIG) | head -n 1)

demo: setup
	$(CHECK_CONFIG) config/demo.yaml
	$(SNAKEMAKE) --configfile config/demo.yaml

# After a hard kill: remove Snakemake's stale lock (only when no other run uses this folder).
unlock: setup
	$(CHECK_CONFIG) $(CONFIG)
	$(BIN)/snakemake --unlock --configfile $(CONFIG)

# ffmpeg: only for frames of the real LAVA videos (syntax.frames.extract with missing frames).
video-tools:
	@command -v ffmpeg >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ffmpeg)

# `make report` for the demo; `make report CONFIG=config/coco-real.yaml` for another run.
# Snakemake 9's --report prints a harmless 'coroutine ... never awaited' RuntimeWarning per rule
# (snakemake/snakemake#4280, open); this filter hides that one message and no other warning.
SNAKEMAKE_REPORT_QUIET := PYTHONWARNINGS="ignore:coroutine 'InputFiles._predicated_size_files:RuntimeWarning"
report: setup
	$(CHECK_CONFIG) $(CONFIG)
	$(SNAKEMAKE_REPORT_QUIET) $(BIN)/snakemake --configfile $(CONFIG) --report results/$(RUN)/report.html

# The report in Debian's headless chromium (installed here when missing, as root): the landing
# page's run and demo banner, every experiment's tables inline as HTML, every figure at its printed
# size; screenshots and summary.md under results/$(RUN)/report-check/ (scripts/report-check.py).
.PHONY: report-check
report-check: report
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else \
	    echo "make report-check needs Debian's package chromium: run 'apt-get install chromium' as root" >&2; \
	    exit 2; \
	  fi
	$(BIN)/python scripts/report-check.py --config $(CONFIG) --figures

test: setup
	$(BIN)/pytest -q --durations=20  # the slowest tests: CI must stay under 35 min

test-fast: setup
	$(BIN)/pytest -q -m "not slow"

lint: setup
	$(BIN)/snakemake --lint --configfile config/demo.yaml
	$(BIN)/snakefmt --check workflow
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

bench: setup
	$(BIN)/python bench/run_all.py --device cpu

bench-gpu: setup
	$(BIN)/python bench/run_all.py --device cuda

clean:
	rm -rf results logs benchmarks .snakemake resources/demo

# A throwaway single-node SLURM (root; scripts/slurm-local.sh installs Debian's slurm-wlm), the
# SLURM tests (marker slurm) through profiles/slurm-local, and the cluster stopped whatever the
# tests did. Everything runs under timeout -s INT, so that a hung job cannot hang CI.
SLURM_TIMEOUT ?= 3600
.PHONY: test-slurm
test-slurm: setup
	@status=0; \
	timeout -s INT 600 bash scripts/slurm-local.sh start || status=$$?; \
	if [ $$status -eq 0 ]; then \
	  SEMSPACE_SLURM_TEST=1 timeout -s INT $(SLURM_TIMEOUT) $(BIN)/pytest -q -m slurm \
	    -W ignore::pytest.PytestUnknownMarkWarning tests/test_slurm.py || status=$$?; \
	fi; \
	timeout -s INT 120 bash scripts/slurm-local.sh stop || status=$$?; \
	exit $$status

# Rehearsal of the full reproduction on replicas served from loopback (scripts/rehearsal.sh).
.PHONY: rehearsal
# REHEARSAL_SIZE=ci: CI's shorter training loops (config/rehearsal-ci.yaml).
REHEARSAL_SIZE ?= full
rehearsal: setup video-tools
	HF_HUB_OFFLINE=0 REHEARSAL_SIZE=$(REHEARSAL_SIZE) bash scripts/rehearsal.sh

# The rehearsal fills config.yaml's own paths (listed in resources/.rehearsal-owns); a real run
# refuses to start over them. This removes exactly those paths.
.PHONY: clean-rehearsal
clean-rehearsal:
	@if [ -f resources/.rehearsal-owns ]; then \
	  xargs -d '\n' rm -rf -- < resources/.rehearsal-owns; \
	  rm -rf resources/rehearsal resources/.rehearsal-owns; fi

# GPU acceptance run (scripts/gpu-check.py): demo workflow on CUDA in bf16, then the embed and LLM
# benchmarks at the real architectures' sizes, <= 8 min on one H100/H200, into
# benchmarks/gpu-check.json and .md. The dry run is the same code on CPU at toy sizes.
.PHONY: gpu-check gpu-check-dry-run
gpu-check: setup
	$(BIN)/python scripts/gpu-check.py --time-budget 480

gpu-check-dry-run: setup
	$(BIN)/python scripts/gpu-check.py --dry-run
