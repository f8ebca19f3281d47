"""The whole engine's Verilog under Icarus with cocotb: AxiRam as DRAM, AxiLiteMaster on the
registers, numpy as the golden model.

Bench: ``scanfuse.sim.engine_bench`` (the ladder one tile -> random GEMMs -> a chain of
requantised layers; the DMA alone is ``test_dma_cocotb.py``). Every case checks its outputs
bit-exactly and the engine's read/write byte counters against the planner's prediction, and
logs cycles against the roofline. The Verilog and the Icarus build are made once per
configuration and cached under ``build/`` (``scanfuse.sim.engine_rtl``). ``WAVES=1`` writes
``engine.fst`` into the test's tmp directory.

``make test`` runs a short set; ``SCANFUSE_REGRESS=1`` (``make regress``) adds the long cases.
"""

import json
import os
import shutil

import pytest

from scanfuse.hw.params import AccelConfig

pytestmark = pytest.mark.skipif(shutil.which("iverilog") is None, reason="Icarus Verilog missing")

LONG = os.environ.get("SCANFUSE_REGRESS", "0") not in ("", "0")
long_only = pytest.mark.skipif(not LONG, reason="long case: SCANFUSE_REGRESS=1 (make regress)")

#: Small memories, so modest shapes still split into many tiles (Icarus runs ~600 cycles/s).
CONFIGS = {
    "r8c8-b64": AccelConfig(a_entries=1024, b_entries=1024, c_entries=512),
    "r4c4-b32": AccelConfig(rows=4, cols=4, axi_data_bits=32, a_entries=512, b_entries=256,
                            c_entries=256),
    # double-buffered: the next step's A and B tiles load while the current one computes
    "r4c8-b128-db": AccelConfig(rows=4, cols=8, axi_data_bits=128, a_entries=2048,
                                b_entries=2048, c_entries=512, double_buffer=True),
    "r8c8-b64-db": AccelConfig(a_entries=2048, b_entries=2048, c_entries=512, double_buffer=True),
}


def run_bench(tmp_path, cfg: AccelConfig, test_filter: str, seed: int, **env) -> list[dict]:
    """Run the bench's tests matching ``test_filter``; return (and print) the case figures."""
    from scanfuse.sim.engine_rtl import icarus_test
    report = tmp_path / "cases.jsonl"
    icarus_test(cfg, tmp_path, test_filter, {"REPORT": str(report),
                                             **{k: str(v) for k, v in env.items()}}, seed=seed)
    rows = [json.loads(line) for line in report.read_text().splitlines()]
    for r in rows:
        print(f"{r['case']}: cycles {r['cycles']} roofline {r['roofline_cycles']} "
              f"util {r['utilization']:.3f} read {r['dram_read_bytes']} write "
              f"{r['dram_write_bytes']} B")
    assert all(r["bit_exact"] and r["counters_match"] for r in rows)
    return rows


@pytest.mark.parametrize("rung,cases", [("one_tile", 2), ("gemm", 4), ("chain", 2)])
def test_ladder(tmp_path, rung, cases):
    """One tile, random GEMMs, a requantised chain; with and without random stalls."""
    rows = run_bench(tmp_path, CONFIGS["r8c8-b64"], rung, seed=11, CASES=4, MAX_DIM=48)
    assert len(rows) == cases


@pytest.mark.parametrize("name", ["r4c4-b32", "r4c8-b128-db"])
def test_random_gemms_other_arrays_and_buses(tmp_path, name):
    rows = run_bench(tmp_path, CONFIGS[name], "gemm", seed=len(name), CASES=3, MAX_DIM=40)
    assert len(rows) == 3


@long_only
@pytest.mark.parametrize("name", list(CONFIGS))
def test_long_random_gemms(tmp_path, name):
    rows = run_bench(tmp_path, CONFIGS[name], "gemm|chain", seed=100 + len(name), CASES=10,
                     MAX_DIM=96)
    assert len(rows) == 12


@long_only
def test_long_default_engine(tmp_path):
    """The default engine (16K/16K/8K): one tile, random GEMMs up to 128, a chain."""
    rows = run_bench(tmp_path, AccelConfig(), "one_tile|gemm|chain", seed=7, CASES=6,
                     MAX_DIM=128)
    assert len(rows) == 10
