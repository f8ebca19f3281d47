"""Run the whole :class:`~scanfuse.hw.engine.Engine` on a DRAM image in the Amaranth simulator.

The engine's AXI4 master talks to :class:`~scanfuse.sim.amaranth_axi.AxiMemory` (random
stalls), and a testbench drives the register block over AXI4-Lite exactly as a CPU would, with the one
host protocol of :mod:`scanfuse.sim.host` (write PROG_ADDR / PROG_LEN, pulse CTRL.START, poll
STATUS until DONE, read ERROR and the counters). Slow (pure Python), so for small GEMMs; the cocotb and Verilator benches take the
large ones.
"""

from dataclasses import dataclass

from amaranth.sim import Simulator

from ..hw.engine import Engine
from ..hw.params import AccelConfig
from ..hw.regs import Status
from .amaranth_axi import AxiMemory, lite_read, lite_write
from .host import run_program

__all__ = ["EngineRun", "run_engine", "run_engine_programs"]


@dataclass
class EngineRun:
    """What a run left behind: the final DRAM contents and the engine's registers."""

    mem: bytearray
    status: int
    error: int
    counters: dict          # COUNTERS name -> value
    bus_read_bytes: int     # whole beats on the AXI R channel (program fetches included)
    bus_write_bytes: int    # strobed bytes on the W channel
    cycles_total: int       # simulated cycles from reset to DONE seen

    @property
    def done(self) -> bool:
        return bool(self.status & Status.DONE)


class _LiteBus:
    """:class:`~scanfuse.sim.host.HostBus` over the Amaranth testbench's AXI4-Lite master;
    a poll pause is 20 ticks, counted with the read as 22 cycles."""

    def __init__(self, ctx, port):
        self.ctx, self.port, self.cycles = ctx, port, 0

    async def read(self, reg: int) -> int:
        value, _ = await lite_read(self.ctx, self.port, reg)
        return value

    async def write(self, reg: int, value: int) -> None:
        await lite_write(self.ctx, self.port, reg, value)

    async def pause(self) -> None:
        for _ in range(20):
            await self.ctx.tick()
        self.cycles += 22

    def now(self) -> int:
        return self.cycles


def run_engine(mem: bytearray, prog_addr: int, prog_len: int, cfg: AccelConfig = AccelConfig(),
               *, seed: int = 0, p_ready: float = 1.0, p_valid: float = 1.0,
               max_cycles: int = 2_000_000, vcd: "str | None" = None) -> EngineRun:
    """Run the program at ``prog_addr`` on a fresh engine over ``mem`` (modified in place).

    Raises ``TimeoutError`` if DONE is not seen within ``max_cycles`` (a hang is a bug).
    """
    dut = Engine(cfg)
    axi = AxiMemory(dut.bus, mem, seed=seed, p_ready=p_ready, p_valid=p_valid)
    out = {}

    async def control(ctx):
        out["run"] = await run_program(_LiteBus(ctx, dut.ctrl), prog_addr, prog_len,
                                       max_cycles=max_cycles, check_id=False)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(axi.run, background=True)
    sim.add_testbench(control)
    if vcd:
        with sim.write_vcd(vcd):
            sim.run()
    else:
        sim.run()
    run = out["run"]
    return EngineRun(mem, run.status, run.error, run.counters, axi.read_bytes,
                     axi.write_bytes, run.cycles)




def run_engine_programs(mem: bytearray, programs, cfg: AccelConfig = AccelConfig(), *,
                        seed: int = 0, p_ready: float = 1.0, p_valid: float = 1.0, fault=None,
                        busy_start: bool = False, max_cycles: int = 2_000_000):
    """Run several programs one after another on one engine, with no reset in between (the
    error-path tests: an error, then START again).

    ``programs``: ``[(prog_addr, prog_len), ...]``; ``fault``: a
    :class:`~scanfuse.sim.bus_fault.BusFault` for the memory; ``busy_start``: write
    CTRL.START again while the first program is busy. Returns ``(runs, memory model)``: one
    :class:`EngineRun` per program (all over ``mem``, modified in place; ``cycles_total`` is
    the host's START-to-DONE count) and the :class:`AxiMemory` (``fired``, ``reads``).
    """
    from .bus_fault import run_start_while_busy
    dut = Engine(cfg)
    axi = AxiMemory(dut.bus, mem, seed=seed, p_ready=p_ready, p_valid=p_valid, fault=fault)
    runs = []

    async def control(ctx):
        bus = _LiteBus(ctx, dut.ctrl)
        for i, (addr, length) in enumerate(programs):
            if busy_start and i == 0:
                r = await run_start_while_busy(bus, addr, length, max_cycles=max_cycles)
            else:
                r = await run_program(bus, addr, length, max_cycles=max_cycles, check_id=False)
            runs.append(EngineRun(mem, r.status, r.error, r.counters, None, None, r.cycles))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(axi.run, background=True)
    sim.add_testbench(control)
    sim.run()
    return runs, axi
