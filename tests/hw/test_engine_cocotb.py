"""The whole engine's Verilog under cocotb, on Icarus and on Verilator (the ``sim`` parameter,
:mod:`scanfuse.sim.hdl_sim`): AxiRam as DRAM, AxiLiteMaster on the registers, numpy as the
golden model.

Bench: ``scanfuse.sim.engine_bench`` (the ladder one tile -> random GEMMs -> a chain of
requantised layers; the DMA alone is ``test_dma_cocotb.py``). Every case checks its outputs
bit-exactly and the engine's read/write byte counters against the planner's prediction, and
logs cycles against the roofline. The Verilog and the Icarus build are made once per
configuration and cached under ``build/`` (``scanfuse.sim.engine_rtl``). ``WAVES=1`` writes
``engine.fst`` into the test's tmp directory.

``make test`` runs a short set (the ladder on both simulators: one Verilator build of a few
minutes, cached); ``SCANFUSE_REGRESS=1`` (``make regress``) adds the long cases, and the other
configurations on Verilator too.
"""

import json
import os

import pytest

from scanfuse.hw.params import AccelConfig
from scanfuse.sim import hdl_sim

LONG = os.environ.get("SCANFUSE_REGRESS", "0") not in ("", "0")
long_only = pytest.mark.skipif(not LONG, reason="long case: SCANFUSE_REGRESS=1 (make regress)")


def _sim(sim, long=False):
    marks = [pytest.mark.skipif(not hdl_sim.available(sim), reason=f"{sim} missing")]
    if long:
        marks.append(long_only)
    return pytest.param(sim, marks=marks, id=sim)


#: Both simulators.
SIMS = [_sim(s) for s in hdl_sim.SIMULATORS]
#: Icarus in make test; Verilator only in make regress (each configuration is another build).
SIMS_ICARUS_SHORT = [_sim("icarus"), _sim("verilator", long=True)]

#: Small memories, so modest shapes still split into many tiles (Icarus runs ~600 cycles/s).
CONFIGS = {
    "r8c8-b64": AccelConfig(a_entries=1024, b_entries=1024, c_entries=512, double_buffer=False),
    "r4c4-b32": AccelConfig(rows=4, cols=4, axi_data_bits=32, a_entries=512, b_entries=256,
                            c_entries=256, double_buffer=False),
    # double-buffered: the next step's A and B tiles load while the current one computes
    "r4c8-b128-db": AccelConfig(rows=4, cols=8, axi_data_bits=128, a_entries=2048,
                                b_entries=2048, c_entries=512, double_buffer=True),
    "r8c8-b64-db": AccelConfig(a_entries=2048, b_entries=2048, c_entries=512, double_buffer=True),
}


def run_bench(tmp_path, cfg: AccelConfig, test_filter: str, seed: int, sim: str = "icarus",
              **env) -> list[dict]:
    """Run the bench's tests matching ``test_filter`` on ``sim``; return (and print) the case
    figures."""
    from scanfuse.sim.engine_rtl import cocotb_test
    report = tmp_path / "cases.jsonl"
    cocotb_test(cfg, tmp_path, test_filter, {"REPORT": str(report),
                                             **{k: str(v) for k, v in env.items()}}, sim=sim,
                seed=seed)
    rows = [json.loads(line) for line in report.read_text().splitlines()]
    for r in rows:
        print(f"{r['case']}: cycles {r['cycles']} roofline {r['roofline_cycles']} "
              f"util {r['utilization']:.3f} read {r['dram_read_bytes']} write "
              f"{r['dram_write_bytes']} B")
    assert all(r["bit_exact"] and r["counters_match"] for r in rows)
    return rows


@pytest.mark.parametrize("sim", SIMS)
@pytest.mark.parametrize("rung,cases", [("one_tile", 2), ("gemm", 4), ("chain", 2),
                                        ("channels", 4)])
def test_ladder(tmp_path, rung, cases, sim):
    """One tile, random GEMMs, a requantised chain; with and without random stalls; random
    GEMMs under per-channel stall profiles."""
    rows = run_bench(tmp_path, CONFIGS["r8c8-b64"], rung, seed=11, sim=sim, CASES=4, MAX_DIM=48)
    assert len(rows) == cases


@pytest.mark.parametrize("sim", SIMS)
def test_illegal_descriptors(tmp_path, sim):
    """One descriptor per rule broken: the engine reports the rule's code and moves nothing."""
    from scanfuse.sim.engine_rtl import cocotb_test
    results = cocotb_test(CONFIGS["r8c8-b64"], tmp_path, "illegal", {}, sim=sim, seed=3)
    from cocotb_tools.check_results import get_results
    assert get_results(results) == (10, 0)


@pytest.mark.parametrize("sim", SIMS_ICARUS_SHORT)
@pytest.mark.parametrize("name", ["r4c4-b32", "r4c8-b128-db"])
def test_random_gemms_other_arrays_and_buses(tmp_path, name, sim):
    rows = run_bench(tmp_path, CONFIGS[name], "gemm", seed=len(name), sim=sim, CASES=3,
                     MAX_DIM=40)
    assert len(rows) == 3


@long_only
@pytest.mark.parametrize("sim", SIMS)
@pytest.mark.parametrize("name", list(CONFIGS))
def test_long_random_gemms(tmp_path, name, sim):
    rows = run_bench(tmp_path, CONFIGS[name], "gemm|chain", seed=100 + len(name), sim=sim,
                     CASES=10, MAX_DIM=96)
    assert len(rows) == 12


@long_only
@pytest.mark.parametrize("sim", SIMS)
def test_long_default_engine(tmp_path, sim):
    """The default engine (16K/16K/8K): one tile, random GEMMs up to 128, a chain."""
    rows = run_bench(tmp_path, AccelConfig(), "one_tile|gemm|chain", seed=7, sim=sim, CASES=6,
                     MAX_DIM=128)
    assert len(rows) == 10
