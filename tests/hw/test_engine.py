# amaranth: UnusedElaboratable=no
"""The whole engine in the Amaranth simulator: tile programs from the driver against numpy.

Every run checks the output bit-exactly, and the engine's DRAM byte counters against the
planner's predicted bytes (``scanfuse.program.image.predicted_bytes``), exactly. Shapes are
seeded and random: odd sizes, dimensions smaller than the array, fragmented edge tiles, every
loop order, both visit orders, partial-sum spills, raw int32 and requantised int8 outputs,
random AXI stalls. Illegal programs must end with an error code and leave the engine usable.
"""

import random
import zlib

import numpy as np
import pytest
from amaranth.back import verilog

from scanfuse.program.image import chain_image, gemm_image
from scanfuse.program.descriptors import DescriptorFields, RequantFields, pack
from scanfuse.hw.engine import Engine
from scanfuse.hw.params import AccelConfig
from scanfuse.hw.program import DescriptorError, LayerDescriptor, OutMode
from scanfuse.hw.regs import Status
from scanfuse.hw.requant import Activation
from scanfuse.hw.sequencer import EngineError
from scanfuse.plan import BufferModel, Gemm, Tiling, plan_gemm
from scanfuse.plan.fixed import fixed_plan
from scanfuse.plan.tiling import LOOP_ORDERS, VisitOrder
from scanfuse.sim.engine_sim import run_engine, run_engine_programs
from scanfuse.sim.golden import pw_conv_ref, requant_ref
from scanfuse.sim.scoreboard import stray_writes

# Plain (single-buffered) and double-buffered (the default) configurations.
SMALL = AccelConfig(a_entries=1024, b_entries=1024, c_entries=512, double_buffer=False)
CONFIGS = {
    "r8c8-64b": SMALL,
    "r4c4-32b": AccelConfig(rows=4, cols=4, axi_data_bits=32, a_entries=512, b_entries=256,
                            c_entries=256, double_buffer=False),
    "r2c2-64b": AccelConfig(rows=2, cols=2, a_entries=256, b_entries=256, c_entries=128,
                            double_buffer=False),
    # Double-buffered: the next step's A and B load into the free halves while computing.
    "r8c8-64b-db": AccelConfig(a_entries=2048, b_entries=2048, c_entries=512, double_buffer=True),
    "r4c4-32b-db": AccelConfig(rows=4, cols=4, axi_data_bits=32, a_entries=512, b_entries=512,
                               c_entries=256, double_buffer=True),
}


def random_tiling(rng: random.Random, gemm: Gemm, cfg: AccelConfig) -> Tiling:
    model = BufferModel.for_engine(cfg)
    tm, tn, tk = (rng.randint(1, d) for d in (gemm.M, gemm.N, gemm.K))
    while not model.fits(tm, tn, tk):
        tm, tn, tk = max(1, tm * 3 // 4), max(1, tn * 3 // 4), max(1, tk * 3 // 4)
    return Tiling(tm, tn, tk, rng.choice(LOOP_ORDERS), rng.choice(list(VisitOrder)))


def random_requant(rng: random.Random) -> RequantFields:
    return RequantFields(multiplier=rng.randint(1 << 20, (1 << 31) - 1), shift=rng.randint(24, 40),
                         zero_point=rng.randint(-20, 20), mode=rng.choice(list(Activation)),
                         relu6_max=rng.randint(30, 127))


def expected_output(acc: np.ndarray, mode: OutMode, rq: "RequantFields | None") -> np.ndarray:
    if mode is OutMode.RAW_INT32:
        return acc
    return requant_ref(acc, rq.multiplier, rq.shift, rq.zero_point, rq.mode, rq.relu6_max)


def check_run(image, run, want_outputs):
    assert run.done and run.error == 0, f"error {run.error:#x}"
    for place, want in zip(image.layers, want_outputs):
        got = place.read_c(run.mem)
        assert np.array_equal(got, want), (place.plan.tiling, np.argwhere(got != want)[:5])
    assert not stray_writes(image, run.mem)      # nothing written outside C and P
    read, write = image.predicted
    assert run.counters["read_bytes"] == read
    assert run.counters["write_bytes"] == write
    assert run.counters["macs"] == image.macs
    assert run.counters["cycles"] >= image.macs / (image.program.cfg.rows * image.program.cfg.cols)


# make test: one seed per configuration; make regress adds two more.
@pytest.mark.parametrize("seed", [0, *(pytest.param(s, marks=pytest.mark.regress) for s in (1, 2))])
@pytest.mark.parametrize("name", CONFIGS)
def test_random_gemms_bit_exact_and_counted(name, seed):
    cfg = CONFIGS[name]
    rng = random.Random(zlib.crc32(f"{name}/{seed}".encode()) & 0xFFFF)  # stable per test id
    gemm = Gemm(rng.randint(1, 30), rng.randint(1, 40), rng.randint(1, 30))
    tiling = random_tiling(rng, gemm, cfg)
    plan = fixed_plan(gemm, tiling, BufferModel.for_engine(cfg))
    mode = rng.choice(list(OutMode))
    rq = random_requant(rng) if mode is OutMode.INT8 else None
    nrng = np.random.default_rng(seed)
    a = nrng.integers(-128, 128, (gemm.M, gemm.K), dtype=np.int8)
    b = nrng.integers(-128, 128, (gemm.K, gemm.N), dtype=np.int8)
    image = gemm_image(plan, a, b, mode, rq, cfg, skew=rng.randrange(cfg.axi_bytes))
    run = run_engine(image.mem, image.prog_addr, image.prog_len, cfg, seed=seed,
                     p_ready=rng.choice([1.0, 0.6]), p_valid=rng.choice([1.0, 0.7]))
    check_run(image, run, [expected_output(pw_conv_ref(a, b), mode, rq)])


@pytest.mark.parametrize("name,tiling", [("r8c8-64b-db", Tiling(9, 3, 9, "nmk", VisitOrder.SCAN)),
                                         ("r4c4-32b-db", Tiling(7, 4, 6, "kmn", VisitOrder.RASTER))])
def test_double_buffered_stores_overlap_many_c_tiles(name, tiling):
    """Small tiles, so the C tile changes nearly every step: each store runs from one C
    region while the next tile accumulates in the other (kmn also spills and reloads partial
    sums behind running stores), under AXI stalls."""
    cfg = CONFIGS[name]
    gemm = Gemm(31, 26, 35)
    plan = fixed_plan(gemm, tiling, BufferModel.for_engine(cfg))
    nrng = np.random.default_rng(11)
    a = nrng.integers(-128, 128, (gemm.M, gemm.K), dtype=np.int8)
    b = nrng.integers(-128, 128, (gemm.K, gemm.N), dtype=np.int8)
    rq = RequantFields(multiplier=1 << 30, shift=36, zero_point=-2, mode=Activation.RELU6,
                       relu6_max=90)
    image = gemm_image(plan, a, b, "int8", rq, cfg, skew=3)
    run = run_engine(image.mem, image.prog_addr, image.prog_len, cfg, seed=5, p_ready=0.7,
                     p_valid=0.8)
    check_run(image, run, [expected_output(pw_conv_ref(a, b), OutMode.INT8, rq)])


@pytest.mark.parametrize("name,order", [("r8c8-64b", "kmn"), ("r8c8-64b-db", "nkm")])
def test_partial_sums_spill_and_reload(name, order):
    """K split with C not resident: int32 partial sums go to P and come back, exactly."""
    cfg = CONFIGS[name]
    gemm = Gemm(19, 45, 13)
    plan = fixed_plan(gemm, Tiling(8, 8, 10, order, VisitOrder.SCAN), BufferModel.for_engine(cfg))
    assert plan.traffic.c_psum_writes > 0 and plan.traffic.c_psum_reads > 0
    nrng = np.random.default_rng(3)
    a = nrng.integers(-128, 128, (gemm.M, gemm.K), dtype=np.int8)
    b = nrng.integers(-128, 128, (gemm.K, gemm.N), dtype=np.int8)
    rq = RequantFields(multiplier=1 << 30, shift=40, zero_point=3, mode=Activation.RELU)
    image = gemm_image(plan, a, b, "int8", rq, cfg)
    run = run_engine(image.mem, image.prog_addr, image.prog_len, cfg, p_ready=0.7)
    check_run(image, run, [expected_output(pw_conv_ref(a, b), OutMode.INT8, rq)])


def test_chain_of_layers_requantised_output_feeds_the_next():
    cfg = SMALL
    rng = np.random.default_rng(7)
    gemms = [Gemm(23, 16, 24), Gemm(23, 24, 12), Gemm(23, 12, 9)]
    plans = [plan_gemm(g, BufferModel.for_engine(cfg)) for g in gemms]
    a = rng.integers(-128, 128, (23, 16), dtype=np.int8)
    weights = [rng.integers(-128, 128, (g.K, g.N), dtype=np.int8) for g in gemms]
    rqs = [RequantFields(multiplier=1 << 30, shift=37, zero_point=-2, mode=Activation.RELU6,
                         relu6_max=90),
           RequantFields(multiplier=3 << 28, shift=36, zero_point=1, mode=Activation.NONE), None]
    image = chain_image(plans, a, weights, ["int8", "int8", "raw"], rqs, cfg, skew=3)
    run = run_engine(image.mem, image.prog_addr, image.prog_len, cfg, seed=1, p_valid=0.8)
    wants, x = [], a
    for w, rq, mode in zip(weights, rqs, [OutMode.INT8, OutMode.INT8, OutMode.RAW_INT32]):
        x = expected_output(pw_conv_ref(x, w), mode, rq)
        wants.append(x)
    check_run(image, run, wants)


def _program_image(cfg, descs, extra: int = 4096):
    blob = b"".join(pack(d, cfg, check=False) for d in descs)
    mem = bytearray(len(blob) + extra)
    mem[:len(blob)] = blob
    return mem


def _legal(**changes) -> DescriptorFields:
    base = dict(M=9, K=5, N=7, tm=9, tn=7, tk=5, a_base=0x400, b_base=0x500, c_base=0x600,
                a_stride=5, b_stride=7, c_stride=28, last=1)
    base.update(changes)
    return DescriptorFields(**base)


@pytest.mark.parametrize("change,error", [
    ({"N": 0}, DescriptorError.ZERO_DIM),
    ({"tk": 0}, DescriptorError.ZERO_TILE),
    ({"tm": 10}, DescriptorError.TILE_TOO_BIG),
    ({"M": 300, "tm": 300}, DescriptorError.A_OVERFLOW),
    ({"K": 40, "N": 40, "tk": 40, "tn": 40}, DescriptorError.B_OVERFLOW),
    ({"c_off": 8 * 60}, DescriptorError.C_OVERFLOW),
    ({"loop_order": 7}, DescriptorError.BAD_LOOP_ORDER),
    ({"c_base": 0x602}, DescriptorError.BAD_ALIGNMENT),
    ({"out_mode": 3}, DescriptorError.BAD_MODE),
    ({"b_off": 4}, DescriptorError.BAD_OFFSET),
])
def test_illegal_descriptor_sets_error_and_returns_to_idle(change, error):
    """The second descriptor is illegal: the first runs, then the engine stops with the code;
    a second START (no reset) runs a legal program to completion."""
    cfg = SMALL
    first = _legal(last=0)
    mem = _program_image(cfg, [first, _legal(**change), _legal()])
    size = LayerDescriptor(cfg).size_bytes
    (run, again), _ = run_engine_programs(mem, [(0, 2), (2 * size, 1)], cfg)
    assert run.done and run.status & Status.ERROR and run.error == error.value
    assert run.counters["macs"] == 9 * 5 * 7            # the first layer ran to completion
    assert run.counters["read_bytes"] == 9 * 5 + 5 * 7
    assert again.done and not again.status & Status.ERROR and again.error == 0
    assert again.counters["macs"] == 9 * 5 * 7
    assert again.counters["write_bytes"] == 9 * 7 * 4


def test_program_length_errors():
    cfg = SMALL
    mem = _program_image(cfg, [_legal(last=0), _legal(last=0)])
    run = run_engine(mem, 0, 2, cfg)
    assert run.error == EngineError.NO_LAST and run.counters["macs"] == 2 * 9 * 5 * 7
    run = run_engine(bytearray(mem), 0, 0, cfg)
    assert run.error == EngineError.EMPTY_PROGRAM and run.counters["cycles"] <= 2


def test_engine_rejects_configurations_it_cannot_build():
    with pytest.raises(ValueError, match="power of two"):
        Engine(AccelConfig(rows=3))
    with pytest.raises(ValueError, match="axi_bytes/4"):
        Engine(AccelConfig(rows=1, cols=1))
    with pytest.raises(ValueError, match="multiple of the memory word"):
        Engine(AccelConfig(a_entries=1000))
    with pytest.raises(TypeError):
        Engine("8x8")


def test_descriptor_size_matches_the_fetch():
    assert LayerDescriptor(SMALL).size_bytes % SMALL.axi_bytes == 0


def test_engine_verilog_has_the_documented_ports():
    text = verilog.convert(Engine(CONFIGS["r2c2-64b"]), name="engine")
    for port in ("ctrl__awaddr", "ctrl__rdata", "bus__araddr", "bus__wstrb", "bus__rlast", "irq"):
        assert f" {port}" in text or f"{port};" in text, port


def test_verilog_named_by_configuration_and_lint_clean(tmp_path):
    import shutil

    from scanfuse.hw.verilog import lint, write_engine
    path = write_engine(CONFIGS["r2c2-64b"], tmp_path)
    assert path.name == "engine.r2c2.v"
    if shutil.which("verilator") is None:
        pytest.skip("verilator not installed")
    result = lint(path)
    assert result.returncode == 0, result.stderr[-2000:]
