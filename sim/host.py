"""The host register protocol, written once: how a CPU runs a tile program on the engine.

A run is a script of :class:`~scanfuse.hw.fpga.selftest.Step` records (write a register, wait
until a register reads a value under a mask, check a register once), the vocabulary the FPGA
self-test controller executes in gateware. :func:`start_steps` is the one definition of
starting a program and waiting for it: check ``ID``, write ``PROG_ADDR`` and ``PROG_LEN``,
pulse ``CTRL.START``, wait for ``STATUS.DONE``. The results are ``ERROR`` and the 64-bit
counters of :data:`scanfuse.hw.regs.COUNTERS` (:func:`read_results`).

Users:

* the FPGA self-test image (:mod:`scanfuse.sim.fpga_image`) appends its CHECK steps and hands
  the script to the gateware;
* the Amaranth-simulator run (:mod:`scanfuse.sim.engine_sim`) and the cocotb bench
  (:mod:`scanfuse.sim.engine_bench`) execute it with :func:`run_steps` over their own
  AXI4-Lite master (a :class:`HostBus`).

The Verilator harness (``sim/verilator/harness.cpp``) is C++ and keeps its own copy of the
sequence; it is the one not derived from here.
"""

from dataclasses import dataclass
from typing import Protocol

from ..hw.fpga.selftest import ScriptOp, Step
from ..hw.regs import COUNTERS, ID_MAGIC, Ctrl, Reg, Status

__all__ = ["HostBus", "HostResult", "start_steps", "run_steps", "read_results", "run_program"]


def start_steps(prog_addr: int, prog_len: int, *, check_id: bool = True) -> tuple[Step, ...]:
    """The script that starts the program of ``prog_len`` descriptors at byte address
    ``prog_addr`` and waits until the engine is done."""
    steps = [Step(ScriptOp.CHECK, Reg.ID, ID_MAGIC, note="ID reads the magic")] if check_id else []
    steps += [
        Step(ScriptOp.WRITE, Reg.PROG_ADDR_LO, prog_addr & 0xFFFF_FFFF, note="tile program address"),
        Step(ScriptOp.WRITE, Reg.PROG_ADDR_HI, prog_addr >> 32, note="tile program address, high"),
        Step(ScriptOp.WRITE, Reg.PROG_LEN, prog_len,
             note="one descriptor" if prog_len == 1 else f"{prog_len} descriptors"),
        Step(ScriptOp.WRITE, Reg.CTRL, Ctrl.START, note="start"),
        Step(ScriptOp.WAIT, Reg.STATUS, Status.DONE, mask=Status.DONE, note="wait for DONE"),
    ]
    return tuple(steps)


class HostBus(Protocol):
    """An AXI4-Lite master on the engine's register port, as a simulator drives it."""

    async def read(self, reg: int) -> int:
        """One 32-bit register read."""

    async def write(self, reg: int, value: int) -> None:
        """One 32-bit register write."""

    async def pause(self) -> None:
        """Let time pass between two polls of a WAIT step."""

    def now(self) -> int:
        """The current engine cycle (any origin)."""


@dataclass
class HostResult:
    """What the host saw: the last STATUS read, ERROR, the counters (name -> value) and the
    engine cycles from the START write to DONE seen."""

    status: int
    error: int
    counters: dict
    cycles: int


async def run_steps(bus: HostBus, steps, *, max_cycles: int) -> tuple[int, int]:
    """Execute ``steps`` on ``bus``: returns ``(last value read, cycles since the START
    write)``. A CHECK that fails raises ``AssertionError``; a WAIT longer than ``max_cycles``
    raises ``TimeoutError`` (a hang is a bug)."""
    value, t0 = 0, bus.now()
    for step in steps:
        if step.op is ScriptOp.WRITE:
            if step.addr == Reg.CTRL and step.value & Ctrl.START:
                t0 = bus.now()
            await bus.write(step.addr, step.value)
        elif step.op is ScriptOp.CHECK:
            value = await bus.read(step.addr)
            assert value & step.mask == step.value, \
                f"{step.note}: register {step.addr:#x} reads {value:#x}, expected {step.value:#x}"
        else:
            while True:
                value = await bus.read(step.addr)
                if value & step.mask == step.value:
                    break
                if bus.now() - t0 > max_cycles:
                    raise TimeoutError(f"engine not done after {bus.now() - t0} cycles "
                                       f"(STATUS={value:#x})")
                await bus.pause()
    return value, bus.now() - t0


async def read_results(bus: HostBus) -> tuple[int, dict]:
    """``ERROR`` and every counter of :data:`COUNTERS` (low word first: it latches the high)."""
    error = await bus.read(Reg.ERROR)
    counters = {}
    for name, lo in COUNTERS.items():
        low = await bus.read(lo)
        counters[name] = (await bus.read(lo + 4)) << 32 | low
    return error, counters


async def run_program(bus: HostBus, prog_addr: int, prog_len: int, *, max_cycles: int,
                      check_id: bool = True) -> HostResult:
    """Start the program, wait for DONE, read the results: what every Python bench does."""
    status, cycles = await run_steps(bus, start_steps(prog_addr, prog_len, check_id=check_id),
                                     max_cycles=max_cycles)
    error, counters = await read_results(bus)
    return HostResult(status, error, counters, cycles)
