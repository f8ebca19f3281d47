"""cocotb bench: the whole engine's Verilog against cocotbext-axi's AxiRam and AxiLiteMaster.

Run through ``tests/hw/test_engine_cocotb.py`` (cocotb runner, Icarus or Verilator; builds cached by
:mod:`scanfuse.sim.engine_rtl`). The top level is ``verilog.convert(Engine(cfg), name="engine")``
with Amaranth's port names: ``clk``, ``rst``, ``ctrl__*`` (AXI4-Lite slave), ``bus__*`` (AXI4
master), ``irq``; the cocotbext-axi buses find them with ``bus_separator="__"``.

The ladder (the DMA alone is ``dma_bench``): ``one_tile`` (a GEMM that is one tile), ``gemm``
(seeded random GEMMs: primes, dimensions smaller than the array, fragmented edge tiles, both
visit orders, every loop order, planned for several buffer shares or tiled at random, raw and
requantised), ``chain`` (each requantised output feeds the next layer), ``channels`` (random
GEMMs under per-channel stall profiles, :data:`PROFILES`), ``illegal`` (one descriptor per
rule broken: its error code, nothing moved), ``bus_fault`` (one faulty AXI response,
:mod:`scanfuse.sim.bus_fault`: BUS_ERROR, then a clean rerun without reset),
``start_while_busy`` (a second START during a run is ignored). Each case is a DRAM image from
:mod:`scanfuse.sim.cases`; the :class:`TB` runs it as a CPU would, with the one host protocol
of :mod:`scanfuse.sim.host` (write
PROG_ADDR / PROG_LEN, pulse CTRL.START, poll STATUS until DONE, read ERROR and the counters) and
the scoreboard (:func:`scanfuse.sim.scoreboard.check_run`) compares every output with numpy and the
counters with the planner's bytes; cycles are logged against the roofline. ``run_image`` runs
an image from files (``scanfuse sim --sim icarus``).

Environment: ``ENGINE_CFG`` (JSON of the :class:`AccelConfig` the Verilog was built with),
``SEED``, ``CASES`` (random GEMMs, default 4), ``MAX_DIM`` (largest random dimension, default
80), ``P_STALL`` (stall probability of the stalled runs, default 0.3), ``REPORT`` (a JSON-lines
file each case appends its figures to), ``RUN_DIR`` (``run_image``).
"""

import json
import logging
import os
import random
from pathlib import Path

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import First, RisingEdge, Timer
from cocotb.utils import get_sim_time
from cocotbext.axi import AxiBus, AxiLiteBus, AxiLiteMaster

from scanfuse.sim.host import run_program
from scanfuse.sim.cases import Case, chain_case, gemm_case, random_gemm_case, random_tiling
from scanfuse.sim.scoreboard import case_report, check_run
from scanfuse.hw.params import AccelConfig
from scanfuse.hw.program import DescriptorError, OutMode
from scanfuse.plan import BufferModel, Gemm, Tiling, VisitOrder, plan_gemm
from scanfuse.program.descriptors import DescriptorFields, pack
from scanfuse.plan.fixed import fixed_plan
from scanfuse.sim.cocotb_util import FaultyAxiRam, burst_pause, random_pause, reset_dut
from scanfuse.sim.engine_sim import EngineRun
from scanfuse.sim.bus_fault import FAULTS, fault_case, fault_on, fault_problems, run_start_while_busy

PERIOD_NS = 10
ENV = os.environ
SEED = int(ENV.get("SEED", "1"))
CASES = int(ENV.get("CASES", "4"))
MAX_DIM = int(ENV.get("MAX_DIM", "80"))
P_STALL = float(ENV.get("P_STALL", "0.3"))


def engine_cfg() -> AccelConfig:
    return AccelConfig(**json.loads(ENV["ENGINE_CFG"])) if "ENGINE_CFG" in ENV else AccelConfig()


class TB:
    """One engine, an AxiRam as its DRAM and an AxiLiteMaster on its registers."""

    def __init__(self, dut, cfg: AccelConfig, mem_size: int, seed: int = SEED, fault=None):
        self.dut, self.cfg = dut, cfg
        self.rng = random.Random(seed)
        self.log = logging.getLogger("cocotb.engine_bench")
        cocotb.start_soon(Clock(dut.clk, PERIOD_NS, unit="ns").start())
        # an AxiRam, with one faulty response if ``fault`` (a BusFault) is given
        self.ram = FaultyAxiRam(AxiBus.from_prefix(dut, "bus", bus_separator="__"), dut.clk,
                                dut.rst, size=max(4096, -(-mem_size // 4096) * 4096),
                                fault=fault)
        self.ctrl = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "ctrl", bus_separator="__"),
                                  dut.clk, dut.rst)
        # both log every burst at INFO; keep the log readable
        for name in ("bus", "ctrl"):
            logging.getLogger(f"cocotb.{dut._name}.{name}").setLevel(logging.WARNING)

    def stall(self, p_stall: "float | dict"):
        """Random pauses on the RAM's channels: backpressure on AR/AW/W, random latency on R
        and B. Each channel has its own generator; ``p_stall`` is one probability for all, or
        a profile ``{channel: probability}`` (missing channels do not stall; a negative
        probability ``-p`` gives stalls in runs, :func:`burst_pause` with start ``p``)."""
        if not p_stall:
            return
        ram = self.ram
        channels = {"aw": ram.write_if.aw_channel, "w": ram.write_if.w_channel,
                    "b": ram.write_if.b_channel, "ar": ram.read_if.ar_channel,
                    "r": ram.read_if.r_channel}
        profile = p_stall if isinstance(p_stall, dict) else dict.fromkeys(channels, p_stall)
        for name, ch in channels.items():
            p = profile.get(name, 0.0)
            rng = random.Random(self.rng.random())
            if p > 0:
                ch.set_pause_generator(random_pause(rng, p))
            elif p < 0:
                ch.set_pause_generator(burst_pause(rng, -p))

    async def reset(self):
        await reset_dut(self.dut)

    async def read(self, reg: int) -> int:
        resp = await self.ctrl.read(int(reg), 4)
        return int.from_bytes(resp.data, "little")

    async def write(self, reg: int, value: int):
        await self.ctrl.write(int(reg), int(value).to_bytes(4, "little"))

    async def pause(self, poll_cycles: int = 2000):
        """Between polls: until irq rises (it does with DONE), at most ``poll_cycles`` (one
        callback, not one per cycle)."""
        await First(RisingEdge(self.dut.irq), Timer(poll_cycles * PERIOD_NS, "ns"))

    def now(self) -> int:
        return int(get_sim_time("ns")) // PERIOD_NS

    async def run(self, mem: bytes, prog_addr: int, prog_len: int,
                  max_cycles: int = 20_000_000) -> EngineRun:
        """Load ``mem``, run the program (:func:`scanfuse.sim.host.run_program`), return the
        final memory and the registers."""
        self.ram.write(0, bytes(mem))
        run = await run_program(self, prog_addr, prog_len, max_cycles=max_cycles)
        assert int(self.dut.irq.value) == 1, "irq low with STATUS.DONE set"
        out = bytearray(self.ram.read(0, len(mem)))
        return EngineRun(out, run.status, run.error, run.counters, None, None, run.cycles)


def report(case: Case, run: EngineRun, log, stall="none") -> dict:
    """Scoreboard: fail on any mismatch; log cycles against the roofline; append to REPORT,
    and the descriptors' coverage bins to $SCANFUSE_COVERAGE (:mod:`scanfuse.sim.coverage`)."""
    check = check_run(case, run)
    rep = case_report(case, run, check)
    rep["case"] = case.name
    log.info("%s: %s, cycles %d, roofline %d (%.2f), utilisation %.3f, read %d/%d B, write %d/%d B",
             case.name, "ok" if check.ok else "FAIL", rep["cycles"], rep["roofline_cycles"],
             rep["roofline_fraction"], rep["utilization"], rep["dram_read_bytes"],
             rep["predicted_read_bytes"], rep["dram_write_bytes"], rep["predicted_write_bytes"])
    if ENV.get("REPORT"):
        with open(ENV["REPORT"], "a") as f:
            f.write(json.dumps(rep) + "\n")
    if ENV.get("SCANFUSE_COVERAGE"):
        from scanfuse.sim.coverage import case_records
        with open(ENV["SCANFUSE_COVERAGE"], "a") as f:
            for record in case_records(case, run, stall):
                f.write(json.dumps(record) + "\n")
    assert check.ok, f"{case.name}: " + "; ".join(check.problems)
    return rep


async def run_case(dut, case: Case, p_stall: "float | dict", seed: int = SEED) -> dict:
    tb = TB(dut, case.cfg, len(case.image.mem), seed)
    tb.stall(p_stall)
    await tb.reset()
    run = await tb.run(case.image.mem, case.image.prog_addr, case.image.prog_len)
    stall = ("none" if not p_stall else "per-channel" if isinstance(p_stall, dict)
             else "uniform")
    return report(case, run, tb.log, stall)


def one_tile_case(cfg: AccelConfig, seed: int) -> Case:
    """A GEMM that is a single tile of the engine: odd sizes just over the array."""
    model = BufferModel.for_engine(cfg)
    m, k, n = 2 * cfg.rows + 3, 3 * cfg.axi_bytes + 5, cfg.cols + 3
    while not model.fits(m, n, k):
        m, n, k = max(1, m // 2), max(1, n // 2), max(1, k // 2)
    gemm = Gemm(m, k, n)
    plan = fixed_plan(gemm, Tiling(m, n, k, "mnk", VisitOrder.SCAN), model)
    return gemm_case(f"one tile {m}x{k}x{n}", plan, cfg, seed=seed, out_mode="raw", skew=3)


@cocotb.test()
@cocotb.parametrize(p_stall=[0.0, P_STALL])
async def one_tile(dut, p_stall):
    """Rung 1: one tile, one load of A and B, one store of C."""
    await run_case(dut, one_tile_case(engine_cfg(), SEED), p_stall)


@cocotb.test()
@cocotb.parametrize(case=list(range(CASES)))
async def gemm(dut, case):
    """Rung 2: seeded random GEMMs (every other one with random stalls on every channel)."""
    seed = SEED * 1000 + case
    await run_case(dut, random_gemm_case(seed, engine_cfg(), MAX_DIM), P_STALL * (case % 2), seed)


def chain_cases(cfg: AccelConfig, seed: int) -> Case:
    """Three layers over one M: the first two requantised (int8) feeding the next, the last
    raw; the middle layer tiled at random, the others planned (Scan and raster)."""
    rng = random.Random(seed)
    m = rng.choice([23, 31, 37, 41])
    dims = [rng.choice([13, 16, 24, 29]), rng.choice([11, 24, 40]), rng.choice([9, 17, 32]),
            rng.choice([5, 19, 23])]
    gemms = [Gemm(m, k, n) for k, n in zip(dims, dims[1:])]
    model = BufferModel.for_engine(cfg)
    plans = [plan_gemm(gemms[0], model, order="scan"),
             fixed_plan(gemms[1], random_tiling(rng, gemms[1], model), model),
             plan_gemm(gemms[2], model, order="raster")]
    return chain_case(f"chain {m}x" + "->".join(map(str, dims)), plans, cfg, seed=seed,
                      out_modes=[OutMode.INT8, OutMode.INT8, OutMode.RAW_INT32],
                      skew=rng.randrange(cfg.axi_bytes))


@cocotb.test()
@cocotb.parametrize(p_stall=[0.0, P_STALL])
async def chain(dut, p_stall):
    """Rung 3: a chain of layers, each requantised output the next layer's input."""
    await run_case(dut, chain_cases(engine_cfg(), SEED), p_stall)


#: Stall profiles with a setting per channel (AW, W, B, AR, R): one direction slow and the other
#: free, a slow write response only, and stalls in runs (negative: run start probability).
PROFILES = {
    "writes_slow": {"aw": 0.5, "w": 0.7, "b": 0.9},
    "reads_slow": {"ar": 0.6, "r": 0.8},
    "b_only": {"b": 0.95},
    "runs": {"aw": -0.1, "w": -0.2, "b": -0.1, "ar": -0.1, "r": -0.2},
}


@cocotb.test()
@cocotb.parametrize(profile=list(PROFILES))
async def channels(dut, profile):
    """Random GEMMs under per-channel stall profiles (independent idle and back-pressure)."""
    seed = SEED * 1000 + 500 + list(PROFILES).index(profile)
    await run_case(dut, random_gemm_case(seed, engine_cfg(), MAX_DIM), PROFILES[profile], seed)


def illegal_descriptor(cfg: AccelConfig, error: DescriptorError) -> DescriptorFields:
    """A descriptor that breaks exactly ``error``'s rule (a 9x5x7 one-tile GEMM otherwise)."""
    wa, wb, wc = cfg.word_entries
    legal = dict(M=9, K=5, N=7, tm=9, tn=7, tk=5, a_base=0x400, b_base=0x500, c_base=0x600,
                 a_stride=5, b_stride=7, c_stride=28, last=1)
    broken = {
        DescriptorError.ZERO_DIM: {"M": 0},
        DescriptorError.ZERO_TILE: {"tn": 0},
        DescriptorError.TILE_TOO_BIG: {"tk": 6},
        DescriptorError.A_OVERFLOW: {"a_off": cfg.a_entries - wa},
        DescriptorError.B_OVERFLOW: {"b_off": cfg.b_entries - wb},
        DescriptorError.C_OVERFLOW: {"c_off": cfg.c_entries - wc},
        DescriptorError.BAD_LOOP_ORDER: {"loop_order": 6},
        DescriptorError.BAD_ALIGNMENT: {"p_base": 2},
        DescriptorError.BAD_MODE: {"out_mode": 3},
        DescriptorError.BAD_OFFSET: {"a_off": 1},
    }[error]
    return DescriptorFields(**{**legal, **broken})


@cocotb.test()
@cocotb.parametrize(error=[e.name for e in DescriptorError if e is not DescriptorError.NONE])
async def illegal(dut, error):
    """Every descriptor rule: the engine stops with its code in ERROR, having moved nothing."""
    cfg = engine_cfg()
    code = DescriptorError[error]
    fields = illegal_descriptor(cfg, code)
    mem = bytearray(4096)
    blob = pack(fields, cfg, check=False)
    mem[:len(blob)] = blob
    tb = TB(dut, cfg, len(mem))
    await tb.reset()
    run = await tb.run(mem, 0, 1)
    tb.log.info("%s: ERROR = %d, counters %s", error, run.error, run.counters)
    if ENV.get("SCANFUSE_COVERAGE"):
        from scanfuse.sim.coverage import descriptor_record
        with open(ENV["SCANFUSE_COVERAGE"], "a") as f:
            f.write(json.dumps(descriptor_record(fields, cfg, run.error, "none")) + "\n")
    assert run.done and run.error == code.value, (run.done, run.error)
    assert run.counters["macs"] == 0 and run.counters["write_bytes"] == 0


@cocotb.test()
@cocotb.parametrize(fault=[f"{t}-{r}-{i}" for t, r, i in FAULTS])
async def bus_fault(dut, fault):
    """A bus fault (:data:`scanfuse.sim.bus_fault.FAULTS`: target-resp-id) on the first run:
    DONE, STATUS.ERROR, ERROR = BUS_ERROR, no hang; then START again (no reset) and the same
    program runs bit-exactly with the planner's counts."""
    from scanfuse.sim.host import run_program as host_run
    cfg = engine_cfg()
    case = fault_case(cfg)
    target, resp, rid = fault.split("-")
    spec = fault_on(case.image, target, resp=int(resp), id=int(rid), beat=1)
    tb = TB(dut, cfg, len(case.image.mem), SEED, fault=spec)
    tb.stall(P_STALL)
    await tb.reset()
    first = await tb.run(case.image.mem, case.image.prog_addr, case.image.prog_len,
                         max_cycles=200_000)
    r = await host_run(tb, case.image.prog_addr, case.image.prog_len, max_cycles=200_000,
                       check_id=False)
    out = bytearray(tb.ram.read(0, len(case.image.mem)))
    second = EngineRun(out, r.status, r.error, r.counters, None, None, r.cycles)
    tb.log.info("%s: first run ERROR=%#x counters %s; rerun ERROR=%#x", fault, first.error,
                first.counters, second.error)
    problems = fault_problems(case, first, second, tb.ram.fired, target)
    assert not problems, problems


@cocotb.test()
async def start_while_busy(dut):
    """CTRL.START written again while the engine is busy is ignored: one run, bit-exact."""
    cfg = engine_cfg()
    case = fault_case(cfg)
    tb = TB(dut, cfg, len(case.image.mem))
    await tb.reset()
    tb.ram.write(0, bytes(case.image.mem))
    r = await run_start_while_busy(tb, case.image.prog_addr, case.image.prog_len,
                                   max_cycles=200_000)
    out = bytearray(tb.ram.read(0, len(case.image.mem)))
    run = EngineRun(out, r.status, r.error, r.counters, None, None, r.cycles)
    check = check_run(case, run)
    assert check.ok, check.problems


@cocotb.test()
async def run_image(dut):
    """Run ``RUN_DIR/image.bin`` (program at ``image.json``'s ``prog_addr``) and leave
    ``mem_out.bin`` and ``run.json`` beside it (no checks: the caller compares)."""
    run_dir = Path(ENV["RUN_DIR"])
    meta = json.loads((run_dir / "image.json").read_text())
    mem = (run_dir / "image.bin").read_bytes()
    tb = TB(dut, engine_cfg(), len(mem), int(meta.get("seed", SEED)))
    tb.stall(float(meta.get("p_stall", 0.0)))
    await tb.reset()
    run = await tb.run(mem, meta["prog_addr"], meta["prog_len"],
                       max_cycles=int(meta.get("max_cycles", 20_000_000)))
    (run_dir / "mem_out.bin").write_bytes(bytes(run.mem))
    (run_dir / "run.json").write_text(json.dumps({
        "status": run.status, "error": run.error, "counters": run.counters,
        "bus_read_bytes": None, "bus_write_bytes": None,
        "cycles_total": run.cycles_total}) + "\n")
