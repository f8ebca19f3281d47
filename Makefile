# ScanFuse: every target bootstraps .venv on first use; nothing is installed by hand.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
JOBS   ?= 2

.PHONY: all demo test bench verilog regress fpga clean distclean venv

all: test

venv: $(STAMP)

# Reinstall when the project's metadata changes (the sources are installed editable).
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/scanfuse plan --network mobilenetv2 --buffer 64K
	$(VENV)/bin/scanfuse plan --network mobilenetv2 --buffer 64K --fuse
	$(VENV)/bin/scanfuse plan --network resnet50-cp --buffer 64K --fuse

test: $(STAMP)
	$(PY) -m pytest -q -n $(JOBS) tests

bench: $(STAMP)
	$(PY) -m scanfuse.bench

clean:
	rm -rf build results .pytest_cache .hypothesis

distclean: clean
	rm -rf $(VENV)
