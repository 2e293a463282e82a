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

.PHONY: help setup wordnet demo test test-fast report lint bench bench-gpu clean

help:
	@echo "make demo | test | test-fast | report | lint | bench | bench-gpu | clean"

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)

# torch==2.14.1 / torchvision==0.29.1 are pinned in pyproject.toml: on the build machines pip
# takes them from local disk; elsewhere they come from PyPI.
$(VENV)/.installed: pyproject.toml | $(BIN)/activate
	$(BIN)/pip install --upgrade pip
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
	$(SNAKEMAKE) --configfile config/demo.yaml

# `make report` for the demo; `make report CONFIG=config/coco-real.yaml` for another run.
report: setup
	$(BIN)/snakemake --configfile $(CONFIG) --report results/$(RUN)/report.html

test: setup
	$(BIN)/pytest -q

test-fast: setup
	$(BIN)/pytest -q -m "not slow"

lint: setup
	$(BIN)/snakemake --lint --configfile config/demo.yaml
	$(BIN)/snakefmt --check Snakefile workflow/rules
	$(BIN)/ruff check src tests bench

bench: setup
	$(BIN)/python bench/run_all.py --device cpu

bench-gpu: setup
	$(BIN)/python bench/run_all.py --device cuda

clean:
	rm -rf results logs benchmarks .snakemake resources/demo
