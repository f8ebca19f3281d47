"""Hostile but fair input to every ``scanfuse`` subcommand (issue 17).

Each case runs the real CLI as a child process (``python -m scanfuse.cli``) in a fresh folder
holding a sentinel file and a few malformed input files, under a memory limit
(``RLIMIT_AS``) and a wall-time limit, and asserts the README's promise for bad input: exit
code 2, exactly one line on stderr (``scanfuse: error: ...``), nothing on stdout, no
traceback, and no file in the folder created, changed or removed.

Placeholders in a case: ``{sentinel}`` an existing file the user cares about, ``{dir}`` an
existing folder (holding the sentinel), ``{garbage}`` random bytes named ``.onnx``,
``{empty}`` an empty file, ``{text}`` a text file, ``{badjson}`` a folder whose
``report.json`` is malformed, ``{latin1}`` a file that is not UTF-8.
"""

import hashlib
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

#: Address-space limit of each child: the CLI with numpy, Amaranth and rich loaded fits in
#: well under a gigabyte; a run that tries to allocate a huge array fails instead of
#: swapping the machine to a halt.
MEMORY_LIMIT = 1536 << 20
#: Wall-time limit of each child in seconds: a refusal happens before any long work.
TIME_LIMIT = 15.0

G = "--gemm"
BIG = "99999999999999999999"
#: The whole-network run (sim --layers all).
NET = ["sim", "--network", "mobilenetv2", "--fuse", "--layers", "all", "--buffer", "64K"]

CASES = {
    # --- top level -----------------------------------------------------------------------
    "no-command": [],
    "unknown-command": ["frobnicate"],
    "unknown-flag": ["plan", "--frobnicate"],
    # --- layers --------------------------------------------------------------------------
    "layers-no-network": ["layers"],
    "layers-unknown-network": ["layers", "--network", "alexnet"],
    "layers-empty-network": ["layers", "--network", ""],
    # --- plan: GEMM shapes -----------------------------------------------------------------
    "plan-gemm-huge-1e12": ["plan", G, "1000000000000,64,64", "--buffer", "64K"],
    "plan-gemm-huge-3e8": ["plan", G, "300000000,64,64", "--buffer", "64K"],
    "plan-gemm-huge-1e8": ["plan", G, "100000000,64,64", "--buffer", "64K"],
    "plan-gemm-huge-k": ["plan", G, "64,100000000,64", "--buffer", "64K"],
    "plan-gemm-huge-n": ["plan", G, "64,64,100000000", "--buffer", "64K"],
    "plan-gemm-huge-20digits": ["plan", G, f"{BIG},1,1", "--buffer", "64K"],
    "plan-gemm-zero": ["plan", G, "0,64,64", "--buffer", "64K"],
    "plan-gemm-negative": ["plan", G, "-1,64,64", "--buffer", "64K"],
    "plan-gemm-two-dims": ["plan", G, "64,64", "--buffer", "64K"],
    "plan-gemm-four-dims": ["plan", G, "64,64,64,64", "--buffer", "64K"],
    "plan-gemm-float": ["plan", G, "64.5,64,64", "--buffer", "64K"],
    "plan-gemm-nan": ["plan", G, "nan,64,64", "--buffer", "64K"],
    "plan-gemm-hex": ["plan", G, "0x40,64,64", "--buffer", "64K"],
    "plan-gemm-empty": ["plan", G, "", "--buffer", "64K"],
    "plan-gemm-spaces": ["plan", G, ",,", "--buffer", "64K"],
    "plan-gemm-unicode-digits": ["plan", G, "６４,64,64", "--buffer", "64K"],
    "plan-gemm-macs-too-many": ["plan", G, "1000000,1000000,1000000", "--buffer", "64K"],
    # --- plan: buffers -------------------------------------------------------------------
    "plan-buffer-overflow": ["plan", G, "64,64,64", "--buffer", f"{BIG}M"],
    "plan-buffer-zero": ["plan", G, "64,64,64", "--buffer", "0"],
    "plan-buffer-negative": ["plan", G, "64,64,64", "--buffer", "-64K"],
    "plan-buffer-float": ["plan", G, "64,64,64", "--buffer", "1.5K"],
    "plan-buffer-unit-gb": ["plan", G, "64,64,64", "--buffer", "64G"],
    "plan-buffer-inf": ["plan", G, "64,64,64", "--buffer", "inf"],
    "plan-buffer-too-small": ["plan", G, "64,64,64", "--buffer", "2"],
    "plan-buffer-and-split": ["plan", G, "64,64,64", "--buffer", "64K", "--split", "1K,1K,1K"],
    "plan-split-two": ["plan", G, "64,64,64", "--split", "1K,1K"],
    "plan-split-zero": ["plan", G, "64,64,64", "--split", "0,1K,1K"],
    "plan-split-huge": ["plan", G, "64,64,64", "--split", f"{BIG},1K,1K"],
    "plan-no-buffer": ["plan", G, "64,64,64"],
    "plan-psum-entries-zero": ["plan", G, "64,64,64", "--buffer", "64K", "--psum-entries", "0"],
    "plan-psum-entries-9": ["plan", G, "64,64,64", "--buffer", "64K", "--psum-entries", "9"],
    "plan-psum-entries-huge": ["plan", G, "64,64,64", "--buffer", "64K", "--psum-entries", BIG],
    "plan-psum-bytes-zero": ["plan", G, "64,64,64", "--buffer", "64K", "--psum-bytes", "0"],
    "plan-psum-bytes-17": ["plan", G, "64,64,64", "--buffer", "64K", "--psum-bytes", "17"],
    "plan-psum-bytes-float": ["plan", G, "64,64,64", "--buffer", "64K", "--psum-bytes", "4.5"],
    "plan-order-bogus": ["plan", G, "64,64,64", "--buffer", "64K", "--order", "zigzag"],
    "plan-split-psum-entries": ["plan", G, "64,64,64", "--split", "1K,1K,1K", "--psum-entries", "2"],
    "plan-fuse-gemm": ["plan", G, "64,64,64", "--buffer", "64K", "--fuse"],
    # an engine the hardware cannot be built as (cols * 8 is its AXI width): one line, before planning
    "plan-fuse-engine-odd-port": ["plan", "--network", "mobilenetv2", "--buffer", "64K", "--fuse",
                                  "--engine", "3x5"],
    "plan-fuse-engine-wide-port": ["plan", "--network", "mobilenetv2", "--buffer", "64K",
                                   "--fuse", "--engine", "64x64"],
    "plan-network-unknown": ["plan", "--network", "vgg", "--buffer", "64K"],
    "plan-network-and-gemm": ["plan", "--network", "mobilenetv2", G, "1,1,1", "--buffer", "64K"],
    # --- plan: ONNX files ----------------------------------------------------------------
    "plan-onnx-dev-zero": ["plan", "--onnx", "/dev/zero", "--buffer", "64K"],
    "plan-onnx-dev-null": ["plan", "--onnx", "/dev/null", "--buffer", "64K"],
    "plan-onnx-dir": ["plan", "--onnx", "{dir}", "--buffer", "64K"],
    "plan-onnx-missing": ["plan", "--onnx", "{dir}/missing.onnx", "--buffer", "64K"],
    "plan-onnx-garbage": ["plan", "--onnx", "{garbage}", "--buffer", "64K"],
    "plan-onnx-empty": ["plan", "--onnx", "{empty}", "--buffer", "64K"],
    "plan-onnx-text": ["plan", "--onnx", "{text}", "--buffer", "64K"],
    "plan-onnx-huge-input": ["plan", "--onnx", "{hugeonnx}", "--buffer", "64K"],
    "plan-fuse-onnx-huge-input": ["plan", "--onnx", "{hugeonnx}", "--buffer", "64K", "--fuse"],
    # --- schedule ------------------------------------------------------------------------
    "schedule-4e12-steps": ["schedule", G, "100000,100000,100000", "--buffer", "300", "--json"],
    "schedule-788MB-json": ["schedule", G, "3136,256,256", "--buffer", "1K", "--json"],
    "schedule-many-steps-table": ["schedule", G, "100000,100000,100000", "--buffer", "300"],
    "schedule-tile-too-big": ["schedule", G, "64,64,64", "--buffer", "1K", "--tile", "64,64,64",
                              "--loop-order", "MNK", "--order", "scan"],
    "schedule-tile-zero": ["schedule", G, "64,64,64", "--buffer", "64K", "--tile", "0,8,8",
                           "--loop-order", "MNK", "--order", "scan"],
    "schedule-tile-larger-than-gemm": ["schedule", G, "8,8,8", "--buffer", "64K", "--tile",
                                       "16,8,8", "--loop-order", "MNK", "--order", "scan"],
    "schedule-tile-no-loop-order": ["schedule", G, "64,64,64", "--buffer", "64K", "--tile", "8,8,8"],
    "schedule-tile-order-best": ["schedule", G, "64,64,64", "--buffer", "64K", "--tile", "8,8,8",
                                 "--loop-order", "MNK"],
    "schedule-loop-order-alone": ["schedule", G, "64,64,64", "--buffer", "64K", "--loop-order", "MNK"],
    "schedule-loop-order-bogus": ["schedule", G, "64,64,64", "--buffer", "64K", "--tile", "8,8,8",
                                  "--loop-order", "XYZ", "--order", "scan"],
    "schedule-tile-huge": ["schedule", G, "64,64,64", "--buffer", "64K", "--tile", f"{BIG},1,1",
                           "--loop-order", "MNK", "--order", "scan"],
    "schedule-no-gemm": ["schedule", "--buffer", "64K"],
    "schedule-plot-dev-full": ["schedule", G, "64,64,64", "--buffer", "64K", "--plot", "/dev/full"],
    "schedule-plot-xyz": ["schedule", G, "64,64,64", "--buffer", "64K", "--plot", "out.xyz"],
    "schedule-plot-no-dir": ["schedule", G, "64,64,64", "--buffer", "64K", "--plot",
                             "{dir}/missing/out.png"],
    "schedule-plot-is-dir": ["schedule", G, "64,64,64", "--buffer", "64K", "--plot", "{dir}"],
    "schedule-plot-existing": ["schedule", G, "64,64,64", "--buffer", "64K", "--plot", "{png}"],
    "schedule-plot-unwritable": ["schedule", G, "64,64,64", "--buffer", "64K", "--plot",
                                 "/proc/out.png"],
    "schedule-plot-many-steps": ["schedule", G, "100000,100000,100000", "--buffer", "300",
                                 "--plot", "out.png"],
    # --- trace ---------------------------------------------------------------------------
    "trace-1e6-bursts": ["trace", G, "1000000,1000,1000", "--buffer", "64K", "--format",
                         "dramsim2", "-o", "mase_t.trc"],
    "trace-overwrite": ["trace", G, "64,64,64", "--buffer", "64K", "--format", "dramsim3",
                        "-o", "{sentinel}"],
    "trace-dramsim2-name-late": ["trace", G, "3136,256,256", "--buffer", "1K", "--format",
                                 "dramsim2", "-o", "t.trc"],
    "trace-out-dev-full": ["trace", G, "64,64,64", "--buffer", "64K", "--format", "dramsim2",
                           "-o", "/dev/full"],
    "trace-out-dir": ["trace", G, "64,64,64", "--buffer", "64K", "--format", "dramsim2",
                      "-o", "{dir}"],
    "trace-out-no-dir": ["trace", G, "64,64,64", "--buffer", "64K", "--format", "dramsim2",
                         "-o", "{dir}/missing/t.trc"],
    "trace-out-proc": ["trace", G, "64,64,64", "--buffer", "64K", "--format", "dramsim2",
                       "-o", "/proc/t.trc"],
    "trace-format-bogus": ["trace", G, "64,64,64", "--buffer", "64K", "--format", "ramulator",
                           "-o", "mase_t.trc"],
    "trace-no-output": ["trace", G, "64,64,64", "--buffer", "64K", "--format", "dramsim2"],
    "trace-freq-inf": ["trace", G, "64,64,64", "--buffer", "64K", "--format", "dramsim2",
                       "-o", "mase_t.trc", "--freq-mhz", "inf"],
    "trace-freq-nan": ["trace", G, "64,64,64", "--buffer", "64K", "--format", "dramsim2",
                       "-o", "mase_t.trc", "--freq-mhz", "nan"],
    "trace-freq-zero": ["trace", G, "64,64,64", "--buffer", "64K", "--format", "dramsim2",
                        "-o", "mase_t.trc", "--freq-mhz", "0"],
    "trace-freq-negative": ["trace", G, "64,64,64", "--buffer", "64K", "--format", "dramsim2",
                            "-o", "mase_t.trc", "--freq-mhz", "-100"],
    "trace-port-inf": ["trace", G, "64,64,64", "--buffer", "64K", "--format", "dramsim2",
                       "-o", "mase_t.trc", "--port-bytes", "inf"],
    "trace-port-nan": ["trace", G, "64,64,64", "--buffer", "64K", "--format", "dramsim2",
                       "-o", "mase_t.trc", "--port-bytes", "nan"],
    "trace-port-zero": ["trace", G, "64,64,64", "--buffer", "64K", "--format", "dramsim2",
                        "-o", "mase_t.trc", "--port-bytes", "0"],
    "trace-port-negative": ["trace", G, "64,64,64", "--buffer", "64K", "--format", "dramsim2",
                            "-o", "mase_t.trc", "--port-bytes", "-8"],
    "trace-pe-zero": ["trace", G, "64,64,64", "--buffer", "64K", "--format", "dramsim2",
                      "-o", "mase_t.trc", "--pe", "0x8"],
    "trace-pe-huge": ["trace", G, "64,64,64", "--buffer", "64K", "--format", "dramsim2",
                      "-o", "mase_t.trc", "--pe", f"{BIG}x8"],
    "trace-pe-bogus": ["trace", G, "64,64,64", "--buffer", "64K", "--format", "dramsim2",
                       "-o", "mase_t.trc", "--pe", "eight"],
    "trace-mapping-bogus": ["trace", G, "64,64,64", "--buffer", "64K", "--format", "dramsim2",
                            "-o", "mase_t.trc", "--mapping", "scheme9"],
    "trace-dram-bogus": ["trace", G, "64,64,64", "--buffer", "64K", "--format", "dramsim2",
                         "-o", "mase_t.trc", "--dram", "ddr5"],
    "trace-policy-bogus": ["trace", G, "64,64,64", "--buffer", "64K", "--format", "dramsim2",
                           "-o", "mase_t.trc", "--dram-policy", "sometimes"],
    "trace-policy-negative": ["trace", G, "64,64,64", "--buffer", "64K", "--format", "dramsim2",
                              "-o", "mase_t.trc", "--dram-policy", "powerdown-after -1"],
    "trace-fuse-gemm": ["trace", G, "64,64,64", "--buffer", "64K", "--format", "dramsim2",
                        "-o", "mase_t.trc", "--fuse"],
    "trace-variant-bogus": ["trace", "--network", "mobilenetv2", "--buffer", "64K", "--format",
                            "dramsim2", "-o", "mase_t.trc", "--variant", "magic"],
    "trace-network-split": ["trace", "--network", "mobilenetv2", "--split", "1K,1K,1K",
                            "--format", "dramsim2", "-o", "mase_t.trc"],
    "trace-network-burst-aware": ["trace", "--network", "mobilenetv2", "--buffer", "64K",
                                  "--format", "dramsim2", "-o", "mase_t.trc", "--burst-aware"],
    "trace-network-unknown": ["trace", "--network", "lenet", "--buffer", "64K", "--format",
                              "dramsim2", "-o", "mase_t.trc"],
    "trace-onnx-garbage": ["trace", "--onnx", "{garbage}", "--buffer", "64K", "--format",
                           "dramsim2", "-o", "mase_t.trc"],
    "trace-dram-sim-missing": ["trace", G, "64,64,64", "--buffer", "64K", "--format", "dramsim2",
                               "-o", "mase_t.trc", "--dram-sim", "{dir}/nosuchsim"],
    "trace-dram-sim-not-exe": ["trace", G, "64,64,64", "--buffer", "64K", "--format", "dramsim2",
                               "-o", "mase_t.trc", "--dram-sim", "{text}"],
    # --- evaluate ------------------------------------------------------------------------
    "evaluate-network-unknown": ["evaluate", "--network", "nope", "--buffer", "64K"],
    "evaluate-network-duplicate": ["evaluate", "--network", "mobilenetv2,mobilenetv2",
                                   "--buffer", "64K"],
    "evaluate-network-empty": ["evaluate", "--network", ",", "--buffer", "64K"],
    "evaluate-buffer-zero": ["evaluate", "--network", "mobilenetv2", "--buffer", "0"],
    "evaluate-sweep-bogus": ["evaluate", "--network", "mobilenetv2", "--buffer", "64K",
                             "--sweep", "16K,lots"],
    "evaluate-sweep-zero": ["evaluate", "--network", "mobilenetv2", "--buffer", "64K",
                            "--sweep", "0"],
    "evaluate-sweep-huge": ["evaluate", "--network", "mobilenetv2", "--buffer", "64K",
                            "--sweep", f"{BIG}M"],
    "evaluate-workers-negative": ["evaluate", "--network", "mobilenetv2", "--buffer", "64K",
                                  "--workers", "-1"],
    "evaluate-workers-huge": ["evaluate", "--network", "mobilenetv2", "--buffer", "64K",
                              "--workers", "100000"],
    "evaluate-freq-inf": ["evaluate", "--network", "mobilenetv2", "--buffer", "64K",
                          "--freq-mhz", "inf"],
    "evaluate-freq-nan": ["evaluate", "--network", "mobilenetv2", "--buffer", "64K",
                          "--freq-mhz", "nan"],
    "evaluate-port-inf": ["evaluate", "--network", "mobilenetv2", "--buffer", "64K",
                          "--port-bytes", "inf"],
    "evaluate-port-negative": ["evaluate", "--network", "mobilenetv2", "--buffer", "64K",
                               "--port-bytes", "-1"],
    "evaluate-out-existing-file": ["evaluate", "--network", "mobilenetv2", "--buffer", "64K",
                                   "--sweep", "none", "--out", "{sentinel}"],
    "evaluate-out-existing-report": ["evaluate", "--network", "mobilenetv2", "--buffer", "64K",
                                     "--sweep", "none", "--out", "{dir}"],
    "evaluate-out-cwd-force": ["evaluate", "--network", "mobilenetv2", "--buffer", "64K",
                               "--sweep", "none", "--out", ".", "--force"],
    "evaluate-out-dev-full": ["evaluate", "--network", "mobilenetv2", "--buffer", "64K",
                              "--sweep", "none", "--out", "/dev/full"],
    "evaluate-out-proc": ["evaluate", "--network", "mobilenetv2", "--buffer", "64K",
                          "--sweep", "none", "--out", "/proc/report"],
    "evaluate-out-under-file": ["evaluate", "--network", "mobilenetv2", "--buffer", "64K",
                                "--sweep", "none", "--out", "{sentinel}/report"],
    "evaluate-onnx-dev-zero": ["evaluate", "--onnx", "/dev/zero", "--buffer", "64K"],
    "evaluate-onnx-garbage": ["evaluate", "--onnx", "{garbage}", "--buffer", "64K"],
    "evaluate-dram-sim-missing": ["evaluate", "--network", "mobilenetv2", "--buffer", "64K",
                                  "--dram-sim", "{dir}/nosuchsim"],
    "evaluate-mapping-bogus": ["evaluate", "--network", "mobilenetv2", "--buffer", "64K",
                               "--mapping", "linear"],
    # --- decompose -----------------------------------------------------------------------
    "decompose-shape-huge": ["decompose", "--shape", "100000,100000,3,3", "--rank", "8"],
    "decompose-shape-20digits": ["decompose", "--shape", f"{BIG},64,3,3", "--rank", "8"],
    "decompose-shape-zero": ["decompose", "--shape", "0,64,3,3", "--rank", "8"],
    "decompose-shape-negative": ["decompose", "--shape", "64,-64,3,3", "--rank", "8"],
    "decompose-shape-three": ["decompose", "--shape", "64,64,3", "--rank", "8"],
    "decompose-shape-kernel-huge": ["decompose", "--shape", "8,8,100000,100000", "--rank", "8"],
    "decompose-rank-huge": ["decompose", "--shape", "64,64,3,3", "--rank", "1000000000000"],
    "decompose-rank-zero": ["decompose", "--shape", "64,64,3,3", "--rank", "0"],
    "decompose-rank-negative": ["decompose", "--shape", "64,64,3,3", "--rank", "-3"],
    "decompose-rank-bogus": ["decompose", "--shape", "64,64,3,3", "--rank", "lots"],
    "decompose-mac-ratio-tiny": ["decompose", "--shape", "64,64,3,3", "--rank", "mac_ratio:1e-9"],
    "decompose-mac-ratio-zero": ["decompose", "--shape", "64,64,3,3", "--rank", "mac_ratio:0"],
    "decompose-mac-ratio-nan": ["decompose", "--shape", "64,64,3,3", "--rank", "mac_ratio:nan"],
    "decompose-mac-ratio-inf": ["decompose", "--shape", "64,64,3,3", "--rank", "mac_ratio:inf"],
    "decompose-mac-ratio-negative": ["decompose", "--shape", "64,64,3,3", "--rank",
                                     "mac_ratio:-1"],
    "decompose-stride-zero": ["decompose", "--shape", "64,64,3,3", "--rank", "8", "--stride", "0"],
    "decompose-stride-huge": ["decompose", "--shape", "64,64,3,3", "--rank", "8", "--stride", BIG],
    "decompose-iters-zero": ["decompose", "--shape", "64,64,3,3", "--rank", "8", "--iters", "0"],
    "decompose-iters-huge": ["decompose", "--shape", "64,64,3,3", "--rank", "8", "--iters",
                             "1000000000000"],
    "decompose-seed-negative": ["decompose", "--shape", "64,64,3,3", "--rank", "8", "--seed", "-1"],
    "decompose-seed-2-70": ["decompose", "--shape", "64,64,3,3", "--rank", "8", "--seed",
                            str(2 ** 70)],
    "decompose-input-hw-zero": ["decompose", "--shape", "64,64,3,3", "--rank", "8",
                                "--input-hw", "0,56"],
    "decompose-input-hw-huge": ["decompose", "--shape", "64,64,3,3", "--rank", "8",
                                "--input-hw", f"{BIG},56"],
    "decompose-input-hw-one": ["decompose", "--shape", "64,64,3,3", "--rank", "8",
                               "--input-hw", "56"],
    "decompose-kernel-missing": ["decompose", "--shape", "64,64,3,3", "--rank", "8",
                                 "--kernel", "{dir}/missing.npy"],
    "decompose-kernel-garbage": ["decompose", "--shape", "64,64,3,3", "--rank", "8",
                                 "--kernel", "{garbage}"],
    "decompose-kernel-dev-zero": ["decompose", "--shape", "64,64,3,3", "--rank", "8",
                                  "--kernel", "/dev/zero"],
    "decompose-kernel-wrong-shape": ["decompose", "--shape", "64,64,3,3", "--rank", "8",
                                     "--kernel", "{npy}"],
    "decompose-kernel-dir": ["decompose", "--shape", "64,64,3,3", "--rank", "8",
                             "--kernel", "{dir}"],
    # --- sim -----------------------------------------------------------------------------
    "sim-8000-cube": ["sim", G, "8000,8000,8000", "--buffer", "64K"],
    "sim-amaranth-big": ["sim", G, "1024,1024,1024", "--buffer", "64K", "--sim", "amaranth"],
    "sim-beyond-32-bit": ["sim", G, "100000,100000,1", "--buffer", "64K"],
    "sim-seed-negative": ["sim", G, "8,8,8", "--buffer", "64K", "--seed", "-1"],
    "sim-seed-2-70": ["sim", G, "8,8,8", "--buffer", "64K", "--seed", str(2 ** 70)],
    "sim-seed-2-64": ["sim", G, "8,8,8", "--buffer", "64K", "--seed", str(2 ** 64)],
    "sim-array-zero": ["sim", G, "8,8,8", "--buffer", "64K", "--array", "0,8"],
    "sim-array-huge": ["sim", G, "8,8,8", "--buffer", "64K", "--array", "100000,100000"],
    "sim-gemm-p-stall": ["sim", G, "8,8,8", "--buffer", "64K", "--p-stall", "0.3"],
    "sim-fuse-p-stall-one": ["sim", "--network", "mobilenetv2", "--fuse", "--layers", "b3",
                             "--buffer", "64K", "--p-stall", "1"],
    "sim-array-bogus": ["sim", G, "8,8,8", "--buffer", "64K", "--array", "8by8"],
    # the whole-network run (--layers all): refused before any tensor is drawn
    "sim-net-resolution-odd": [*NET, "--resolution", "100"],
    "sim-net-resolution-huge": [*NET, "--resolution", BIG],
    "sim-net-resolution-zero": [*NET, "--resolution", "0"],
    "sim-net-p-stall-one": [*NET, "--p-stall", "1"],
    "sim-net-p-stall-negative": [*NET, "--p-stall", "-0.1"],
    "sim-net-p-stall-nan": [*NET, "--p-stall", "nan"],
    "sim-net-p-stall-inf": [*NET, "--p-stall", "inf"],
    "sim-net-p-stall-word": [*NET, "--p-stall", "often"],
    "sim-net-icarus": [*NET, "--sim", "icarus"],
    "sim-net-seed-2-64": [*NET, "--seed", str(2 ** 64)],
    "sim-net-save-existing-dir": [*NET, "--save", "{dir}"],
    "sim-net-save-force-foreign": [*NET, "--save", "{dir}", "--force"],
    "sim-net-buffer-tiny": [*NET[:-1], "8"],
    "sim-net-resnet-all-resolution": ["sim", "--network", "resnet50-cp", "--fuse", "--layers",
                                      "all", "--buffer", "64K", "--resolution", "64"],
    "sim-blocks-no-unfused": ["sim", "--network", "mobilenetv2", "--fuse", "--layers", "b3",
                              "--buffer", "64K", "--no-unfused"],
    "sim-buffer-tiny": ["sim", G, "8,8,8", "--buffer", "8"],
    "sim-save-existing-file": ["sim", G, "8,8,8", "--buffer", "64K", "--save", "{sentinel}"],
    "sim-save-dev-full": ["sim", G, "8,8,8", "--buffer", "64K", "--save", "/dev/full"],
    "sim-save-proc": ["sim", G, "8,8,8", "--buffer", "64K", "--save", "/proc/saved"],
    "sim-save-existing-dir": ["sim", G, "8,8,8", "--buffer", "64K", "--save", "{dir}"],
    # --save is replaced whole: --force may replace a saved run, never the user's other files
    "sim-save-force-foreign": ["sim", G, "8,8,8", "--buffer", "64K", "--save", "{dir}",
                               "--force"],
    "sim-save-force-other-report": ["sim", G, "8,8,8", "--buffer", "64K", "--save",
                                    "{fpgadir}", "--force"],
    "sim-save-under-a-file": ["sim", G, "8,8,8", "--buffer", "64K", "--save",
                              "{sentinel}/saved"],
    "sim-which-bogus": ["sim", G, "8,8,8", "--buffer", "64K", "--sim", "modelsim"],
    "sim-order-bogus": ["sim", G, "8,8,8", "--buffer", "64K", "--order", "zigzag"],
    # --- fpga ----------------------------------------------------------------------------
    "fpga-board-bogus": ["fpga", "--board", "zynq"],
    "fpga-no-board": ["fpga"],
    "fpga-array-zero": ["fpga", "--board", "{board}", "--array", "0,0", "--synth-only",
                        "--out", "fpgaout"],
    "fpga-array-huge": ["fpga", "--board", "{board}", "--array", "1000,1000", "--synth-only",
                        "--out", "fpgaout"],
    "fpga-freq-inf": ["fpga", "--board", "{board}", "--freq", "inf", "--out", "fpgaout"],
    "fpga-freq-nan": ["fpga", "--board", "{board}", "--freq", "nan", "--out", "fpgaout"],
    "fpga-freq-zero": ["fpga", "--board", "{board}", "--freq", "0", "--out", "fpgaout"],
    "fpga-freq-negative": ["fpga", "--board", "{board}", "--freq", "-1", "--out", "fpgaout"],
    "fpga-seed-negative": ["fpga", "--board", "{board}", "--seed", "-1", "--out", "fpgaout"],
    "fpga-seed-huge": ["fpga", "--board", "{board}", "--seed", str(2 ** 70), "--out", "fpgaout"],
    "fpga-out-dev-full": ["fpga", "--board", "{board}", "--out", "/dev/full"],
    "fpga-out-file": ["fpga", "--board", "{board}", "--out", "{sentinel}"],
    "fpga-out-proc": ["fpga", "--board", "{board}", "--out", "/proc/fpga"],
    "fpga-out-existing": ["fpga", "--board", "{board}", "--out", "{fpgadir}"],
    "fpga-out-under-a-file": ["fpga", "--board", "{board}", "--out", "{sentinel}/build"],
    "fpga-out-force-foreign": ["fpga", "--board", "{board}", "--out", "{dir}", "--force"],
    "fpga-fmax-without-layers": ["fpga", "--board", "{board}", "--fmax", "100", "--out", "fpgaout"],
    "fpga-layers-fmax-zero": ["fpga", "--board", "{board}", "--layers", "--fmax", "0",
                              "--out", "fpgaout"],
    "fpga-layers-fmax-inf": ["fpga", "--board", "{board}", "--layers", "--fmax", "inf",
                             "--out", "fpgaout"],
    "fpga-layers-fmax-nan": ["fpga", "--board", "{board}", "--layers", "--fmax", "nan",
                             "--out", "fpgaout"],
    "fpga-layers-no-report": ["fpga", "--board", "{board}", "--layers", "--out", "{dir}"],
    "fpga-layers-report-malformed": ["fpga", "--board", "{board}", "--layers", "--out",
                                     "{badjson}"],
    "fpga-layers-report-list": ["fpga", "--board", "{board}", "--layers", "--out", "{listjson}"],
    "fpga-layers-report-fmax-string": ["fpga", "--board", "{board}", "--layers", "--out",
                                       "{strjson}"],
    "fpga-layers-report-fmax-negative": ["fpga", "--board", "{board}", "--layers", "--out",
                                         "{negjson}"],
    "fpga-layers-report-not-utf8": ["fpga", "--board", "{board}", "--layers", "--out",
                                    "{latin1dir}"],
    # --- verilog -------------------------------------------------------------------------
    "verilog-axi-bits-7": ["verilog", "--axi-bits", "7", "--out", "vout"],
    "verilog-axi-bits-zero": ["verilog", "--axi-bits", "0", "--out", "vout"],
    "verilog-axi-bits-huge": ["verilog", "--axi-bits", BIG, "--out", "vout"],
    "verilog-array-zero": ["verilog", "--array", "0,8", "--out", "vout"],
    "verilog-array-huge": ["verilog", "--array", "100000,100000", "--out", "vout"],
    "verilog-out-file": ["verilog", "--out", "{sentinel}"],
    "verilog-out-dev-full": ["verilog", "--out", "/dev/full"],
    "verilog-out-proc": ["verilog", "--out", "/proc/verilog"],
    "verilog-out-existing": ["verilog", "--out", "{vdir}"],
    # --- program -------------------------------------------------------------------------
    "program-gemm-huge": ["program", G, "100000,100000,100000"],
    "program-a-base-bogus": ["program", G, "8,8,8", "--a-base", "xyz"],
    "program-a-base-negative": ["program", G, "8,8,8", "--a-base", "-1"],
    "program-a-base-huge": ["program", G, "8,8,8", "--a-base", str(2 ** 40)],
    "program-c-base-overlap": ["program", G, "64,64,64", "--c-base", "0x1000"],
    "program-buffer-zero": ["program", G, "8,8,8", "--buffer", "0"],
    "program-a-base-past-32-bit": ["program", G, "64,64,64", "--a-base", "0xffffff00"],
    "program-c-base-hex-garbage": ["program", G, "8,8,8", "--c-base", "0xZZ"],
    # --- regress -------------------------------------------------------------------------
    "regress-p-ready-zero": ["regress", "--p-ready", "0"],
    "regress-p-ready-nan": ["regress", "--p-ready", "nan"],
    "regress-p-ready-over-one": ["regress", "--p-ready", "1.5"],
    "regress-p-ready-negative": ["regress", "--p-ready", "-0.5"],
    "regress-p-valid-zero": ["regress", "--p-valid", "0"],
    "regress-p-valid-inf": ["regress", "--p-valid", "inf"],
    "regress-seed-negative": ["regress", "--seed", "-1"],
    "regress-seed-2-70": ["regress", "--seed", str(2 ** 70)],
    "regress-network-unknown": ["regress", "--network", "resnet50"],
    "regress-stalls-negative": ["regress", "--stalls", "-1"],
    "regress-layers-unknown": ["regress", "--layers", "conv99"],
    "regress-layers-empty": ["regress", "--layers", ","],
    "regress-json-existing": ["regress", "--layers", "conv99", "--json", "{sentinel}"],
    "regress-json-dev-full": ["regress", "--json", "/dev/full"],
    "regress-json-dir": ["regress", "--json", "{dir}"],
    # --- campaign, coverage, formal -------------------------------------------------------
    "campaign-seeds-zero": ["campaign", "--seeds", "0"],
    "campaign-seeds-huge": ["campaign", "--seeds", str(10 ** 9)],
    "campaign-first-negative": ["campaign", "--first", "-1"],
    "campaign-layers-unknown": ["campaign", "--layers", "conv99"],
    "campaign-log-existing": ["campaign", "--layers", "conv99", "--log", "{sentinel}"],
    "campaign-log-existing-valid-layers": ["campaign", "--layers", "b13.project",
                                           "--log", "{sentinel}"],
    "coverage-missing-file": ["coverage", "{dir}/nothing-here.jsonl"],
    "coverage-folder": ["coverage", "{dir}"],
    "coverage-not-json": ["coverage", "{sentinel}"],
    "coverage-no-file": ["coverage"],
    "formal-unknown-proof": ["formal", "nope"],
    "formal-unknown-flag": ["formal", "--depth", "9"],
    "formal-timeout-zero": ["formal", "--timeout", "0"],
    "formal-timeout-nan": ["formal", "--timeout", "nan"],
    # --- bench ---------------------------------------------------------------------------
    "bench-unknown-flag": ["bench", "--network", "mobilenetv2"],
    "bench-positional": ["bench", "extra"],
}


@pytest.fixture
def workdir(tmp_path):
    return make_workdir(tmp_path)


def make_workdir(tmp_path: Path):
    """A folder of user files the children must leave alone, and the placeholders."""
    import json

    from scanfuse.hw.fpga.boards import board_names
    (tmp_path / "sentinel.txt").write_text("the user's notes\n")
    (tmp_path / "garbage.onnx").write_bytes(bytes(range(256)) * 17)
    (tmp_path / "empty.onnx").write_bytes(b"")
    (tmp_path / "text.txt").write_text("not a model\n")
    (tmp_path / "plot.png").write_bytes(b"\x89PNG the user's old plot")
    import numpy as np
    np.save(tmp_path / "small.npy", np.zeros((2, 2), np.float32))
    (tmp_path / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    dirs = {}
    for name, content in [("badjson", b"{not json"), ("listjson", b"[1, 2]"),
                          ("strjson", json.dumps({"fmax_mhz": "fast"}).encode()),
                          ("negjson", json.dumps({"fmax_mhz": -5}).encode()),
                          ("latin1dir", "{\"fmax_mhz\": \"caf\xe9\"}".encode("latin-1"))]:
        d = tmp_path / name
        d.mkdir()
        (d / "report.json").write_bytes(content)
        dirs[name] = str(d)
    for name, inner in [("fpgadir", "report.json"), ("vdir", "engine.r8c8.v")]:
        d = tmp_path / name
        d.mkdir()
        (d / inner).write_text("{\"fmax_mhz\": 50}\n" if inner.endswith("json") else "// old\n")
        dirs[name] = str(d)
    (tmp_path / "report.md").write_text("# the old report\n")
    huge = tmp_path / "huge.onnx"
    huge.write_bytes(_huge_input_onnx())
    values = {"sentinel": str(tmp_path / "sentinel.txt"), "dir": str(tmp_path),
              "garbage": str(tmp_path / "garbage.onnx"), "empty": str(tmp_path / "empty.onnx"),
              "text": str(tmp_path / "text.txt"), "png": str(tmp_path / "plot.png"),
              "npy": str(tmp_path / "small.npy"), "latin1": str(tmp_path / "latin1.txt"),
              "hugeonnx": str(huge), "board": board_names()[0], **dirs}
    return tmp_path, values


def _huge_input_onnx() -> bytes:
    """A valid ONNX model: one 1x1 conv on a 1x64x100000x100000 input."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    w = numpy_helper.from_array(np.zeros((64, 64, 1, 1), np.float32), "w")
    node = helper.make_node("Conv", ["x", "w"], ["y"], kernel_shape=[1, 1])
    graph = helper.make_graph(
        [node], "huge",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64, 100000, 100000])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 64, 100000, 100000])],
        initializer=[w])
    return helper.make_model(graph).SerializeToString()


def snapshot(root: Path) -> dict[str, str]:
    """Every file under ``root`` -> its SHA-256 (folders -> ``"dir"``)."""
    out = {}
    for path in sorted(root.rglob("*")):
        out[str(path.relative_to(root))] = (
            "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest())
    return out


def _limit_memory():
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def run_cli(argv: list[str], cwd: Path, timeout: float = TIME_LIMIT, env=None):
    """Run ``python -m scanfuse.cli *argv`` in ``cwd`` under the memory limit; returns
    ``(CompletedProcess, seconds)``."""
    env = dict(os.environ if env is None else env)
    env.setdefault("SCANFUSE_BUILD", str(cwd / ".build-not-used"))
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "scanfuse.cli", *argv], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout,
                          preexec_fn=_limit_memory)
    return proc, time.monotonic() - start


@pytest.mark.parametrize("argv", list(CASES.values()), ids=list(CASES))
def test_bad_input_is_one_line_exit_2(argv, workdir):
    root, values = workdir
    argv = [a.format(**values) for a in argv]
    before = snapshot(root)
    proc, seconds = run_cli(argv, root)
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    lines = proc.stderr.splitlines()
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-3000:])
    assert len(lines) == 1 and lines[0].startswith("scanfuse: error: "), proc.stderr[-3000:]
    assert proc.stdout == ""
    assert seconds < TIME_LIMIT
    assert snapshot(root) == before


def test_there_are_enough_cases():
    assert len(CASES) >= 150
    commands = {argv[0] for argv in CASES.values() if argv}
    assert commands >= {"layers", "plan", "schedule", "trace", "evaluate", "decompose", "sim",
                        "fpga", "verilog", "program", "regress", "bench", "campaign",
                        "coverage", "formal"}


@pytest.mark.parametrize("argv", [["layers", "--network", "mobilenetv2"],
                                  ["plan", "--gemm", "64,64,64", "--buffer", "64K", "--json"]],
                         ids=["layers", "plan-json"])
def test_stdout_to_a_full_disk_is_one_line_exit_2(argv, tmp_path):
    """``> /dev/full``: the write fails with ENOSPC; one line, exit 2, no second complaint
    when Python flushes stdout at exit."""
    with open("/dev/full", "w") as full:
        proc = subprocess.run([sys.executable, "-m", "scanfuse.cli", *argv], cwd=tmp_path,
                              stdout=full, stderr=subprocess.PIPE, text=True, timeout=TIME_LIMIT,
                              preexec_fn=_limit_memory)
    assert (proc.returncode, proc.stderr) == (
        2, "scanfuse: error: cannot write the output: No space left on device\n")


#: A child that receives a real SIGINT while ``scanfuse.cli`` is still importing its command
#: modules (sent by an import hook at a fixed point, so the test is deterministic), then calls
#: the console script's entry point.
_EARLY_SIGINT = """
import importlib.abc, os, signal, sys
class SigintDuringImport(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == {module!r}:
            os.kill(os.getpid(), signal.SIGINT)
        return None
sys.meta_path.insert(0, SigintDuringImport())
from scanfuse.cli import main
sys.exit(main(["layers", "--network", "mobilenetv2"]))
"""


@pytest.mark.parametrize("module", ["scanfuse.cli.main", "numpy", "rich.console",
                                    "scanfuse.dram.timing"])
def test_ctrl_c_while_the_command_loads_is_one_line_exit_130(module, tmp_path):
    """Ctrl-C during the startup imports (the entry point wrapper of ``scanfuse.cli``)."""
    res = subprocess.run([sys.executable, "-c", _EARLY_SIGINT.format(module=module)],
                         cwd=tmp_path, capture_output=True, text=True, timeout=TIME_LIMIT)
    assert res.returncode == 130, (res.returncode, res.stderr[-2000:])
    assert res.stderr == "scanfuse: interrupted\n", res.stderr[-2000:]
    assert res.stdout == ""
