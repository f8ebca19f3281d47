"""Run the whole :class:`~scanfuse.hw.engine.Engine` on a DRAM image in the Amaranth simulator.

The engine's AXI4 master talks to :class:`~scanfuse.sim.amaranth_axi.AxiMemory` (random
stalls), and a testbench drives the register block over AXI4-Lite exactly as a CPU would:
write PROG_ADDR / PROG_LEN, pulse CTRL.START, poll STATUS until DONE, read ERROR and the
counters. Slow (pure Python), so for small GEMMs; the cocotb and Verilator benches take the
large ones.
"""

from dataclasses import dataclass

from amaranth.sim import Simulator

from ..hw.engine import Engine
from ..hw.params import AccelConfig
from ..hw.regs import COUNTERS, Ctrl, Reg, Status
from .amaranth_axi import AxiMemory, lite_read, lite_write

__all__ = ["EngineRun", "run_engine"]


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


async def _read64(ctx, bus, lo_reg) -> int:
    lo, _ = await lite_read(ctx, bus, lo_reg)
    hi, _ = await lite_read(ctx, bus, lo_reg + 4)
    return hi << 32 | lo


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
        ctrl = dut.ctrl
        await lite_write(ctx, ctrl, Reg.PROG_ADDR_LO, prog_addr & 0xFFFF_FFFF)
        await lite_write(ctx, ctrl, Reg.PROG_ADDR_HI, prog_addr >> 32)
        await lite_write(ctx, ctrl, Reg.PROG_LEN, prog_len)
        await lite_write(ctx, ctrl, Reg.CTRL, Ctrl.START)
        cycles = 0
        while True:
            status, _ = await lite_read(ctx, ctrl, Reg.STATUS)
            if status & Status.DONE:
                break
            for _ in range(20):
                await ctx.tick()
            cycles += 22
            if cycles > max_cycles:
                raise TimeoutError(f"engine not done after {max_cycles} cycles "
                                   f"(STATUS={status:#x})")
        out["status"] = status
        out["error"], _ = await lite_read(ctx, ctrl, Reg.ERROR)
        out["counters"] = {name: await _read64(ctx, ctrl, reg) for name, reg in COUNTERS.items()}
        out["cycles_total"] = cycles

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(axi.run, background=True)
    sim.add_testbench(control)
    if vcd:
        with sim.write_vcd(vcd):
            sim.run()
    else:
        sim.run()
    return EngineRun(mem, out["status"], out["error"], out["counters"], axi.read_bytes,
                     axi.write_bytes, out["cycles_total"])


