"""cocotb bench: the Verilog of ControlRegisters driven by cocotbext-axi's AxiLiteMaster.

Run through ``tests/hw/test_regs_cocotb.py`` (cocotb runner, Icarus). The top level is
``amaranth.back.verilog.convert(ControlRegisters(cfg, counter_bits), name="control_registers")``
with Amaranth's port names: ``clk``, ``rst``, ``bus__awaddr`` ... ``bus__rready``, ``start``,
``clear``, ``prog_addr``, ``prog_len`` and the engine-side inputs. The master finds the AXI4-Lite
signals with ``AxiLiteBus.from_prefix(dut, "bus", bus_separator="__")``; offsets and bit values
come from :mod:`scanfuse.hw.regs`.

Environment: ``SEED`` seeds the stalls and data; ``ROWS``, ``COLS``, ``ADDR_BITS`` and
``COUNTER_BITS`` give the configuration the Verilog was built with (checked against CONFIG).
"""

import logging
import os
import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import RisingEdge
from cocotbext.axi import AxiLiteBus, AxiLiteMaster, AxiResp

from scanfuse.hw.params import AccelConfig
from scanfuse.sim.cocotb_util import random_pause, reset_dut
from scanfuse.hw.regs import COUNTERS, ID_MAGIC, VERSION, ConfigWord, Ctrl, Reg, Status, config_word

INPUTS = ("busy", "done", "error_code", *COUNTERS)


class TB:
    """One ControlRegisters, an AxiLiteMaster on its bus, and a monitor of the pulses."""

    def __init__(self, dut):
        self.dut = dut
        env = os.environ
        self.cfg = AccelConfig(rows=int(env.get("ROWS", "8")), cols=int(env.get("COLS", "8")),
                               addr_bits=int(env.get("ADDR_BITS", "32")))
        self.counter_bits = int(env.get("COUNTER_BITS", "64"))
        self.rng = random.Random(int(env.get("SEED", "1")))
        cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
        self.axi = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "bus", bus_separator="__"),
                                 dut.clk, dut.rst)
        # the master logs every access at INFO; keep the log readable
        logging.getLogger(f"cocotb.{dut._name}.bus").setLevel(logging.WARNING)
        self.cycle = 0
        self.pulses = {"start": [], "clear": []}
        cocotb.start_soon(self._monitor())

    def backpressure(self, p_stall: float):
        if p_stall == 0:
            return
        wr, rd = self.axi.write_if, self.axi.read_if
        for ch in (wr.aw_channel, wr.w_channel, wr.b_channel, rd.ar_channel, rd.r_channel):
            ch.set_pause_generator(random_pause(random.Random(self.rng.random()), p_stall))

    async def _monitor(self):
        """Cycle numbers of every edge that sees ``start``/``clear`` high."""
        while True:
            await RisingEdge(self.dut.clk)
            self.cycle += 1
            for name, cycles in self.pulses.items():
                if int(getattr(self.dut, name).value):
                    cycles.append(self.cycle)

    async def reset(self):
        for name in INPUTS:
            getattr(self.dut, name).value = 0
        await reset_dut(self.dut)

    async def read(self, reg: int) -> int:
        resp = await self.axi.read(reg, 4)
        assert resp.resp == AxiResp.OKAY, f"read {reg:#x}: {resp.resp}"
        return int.from_bytes(resp.data, "little")

    async def write(self, reg: int, value: int):
        resp = await self.axi.write(reg, value.to_bytes(4, "little"))
        assert resp.resp == AxiResp.OKAY, f"write {reg:#x}: {resp.resp}"

    async def idle(self, n: int):
        for _ in range(n):
            await RisingEdge(self.dut.clk)


@cocotb.test()
@cocotb.parametrize(p_stall=[0.0, 0.5])
async def identity_and_program(dut, p_stall):
    """ID/VERSION/CONFIG, then PROG_ADDR/PROG_LEN including a one-byte (strobed) write."""
    tb = TB(dut)
    tb.backpressure(p_stall)
    await tb.reset()
    assert await tb.read(Reg.ID) == ID_MAGIC
    assert await tb.read(Reg.VERSION) == VERSION
    word = await tb.read(Reg.CONFIG)
    assert word == config_word(tb.cfg, tb.counter_bits), f"CONFIG {word:#x}"
    fields = ConfigWord().from_bits(word)
    assert (fields.rows, fields.cols) == (tb.cfg.rows, tb.cfg.cols)

    ab = tb.cfg.addr_bits
    addr = tb.rng.getrandbits(ab)
    await tb.write(Reg.PROG_ADDR_LO, addr & 0xFFFF_FFFF)
    await tb.write(Reg.PROG_ADDR_HI, addr >> 32)
    await tb.write(Reg.PROG_LEN, 1000)
    resp = await tb.axi.write(Reg.PROG_LEN + 1, bytes([0x12]))      # WSTRB = 0b0010
    assert resp.resp == AxiResp.OKAY
    want_len = (1000 & ~0xFF00) | 0x1200
    assert await tb.read(Reg.PROG_LEN) == want_len
    assert await tb.read(Reg.PROG_ADDR_LO) == addr & 0xFFFF_FFFF
    assert await tb.read(Reg.PROG_ADDR_HI) == addr >> 32
    assert int(dut.prog_addr.value) == addr
    assert int(dut.prog_len.value) == want_len
    assert tb.pulses == {"start": [], "clear": []}


@cocotb.test()
@cocotb.parametrize(p_stall=[0.0, 0.5])
async def start_done_clear(dut, p_stall):
    """START gives one one-cycle pulse; DONE is sticky until START; CLEAR pulses once."""
    tb = TB(dut)
    tb.backpressure(p_stall)
    await tb.reset()
    await tb.write(Reg.CTRL, Ctrl.START)
    await tb.idle(3)
    assert len(tb.pulses["start"]) == 1, tb.pulses
    dut.busy.value = 1
    assert await tb.read(Reg.STATUS) == Status.BUSY
    dut.busy.value = 0
    dut.done.value = 1
    await RisingEdge(dut.clk)
    dut.done.value = 0
    await tb.idle(5)
    assert await tb.read(Reg.STATUS) == Status.DONE
    assert await tb.read(Reg.STATUS) == Status.DONE
    await tb.write(Reg.CTRL, Ctrl.START)
    assert await tb.read(Reg.STATUS) == 0
    dut.error_code.value = 7
    assert await tb.read(Reg.STATUS) == Status.ERROR
    assert await tb.read(Reg.ERROR) == 7
    await tb.write(Reg.CTRL, Ctrl.CLEAR)
    await tb.idle(3)
    starts, clears = tb.pulses["start"], tb.pulses["clear"]
    assert len(starts) == 2 and starts[1] - starts[0] > 1, tb.pulses
    assert len(clears) == 1, tb.pulses


@cocotb.test()
@cocotb.parametrize(p_stall=[0.0, 0.5])
async def counter_snapshot(dut, p_stall):
    """CYCLES moves by a large step every cycle; each LO-then-HI pair is one of its values and
    lies between the values before and after the pair was read."""
    tb = TB(dut)
    tb.backpressure(p_stall)
    await tb.reset()
    limit = (1 << tb.counter_bits) - 1
    seen = []

    async def drive():
        value = 0
        while True:
            value = min(value + tb.rng.randint(1, 1 << 31), limit)
            dut.cycles.value = value
            seen.append(value)
            await RisingEdge(dut.clk)

    driver = cocotb.start_soon(drive())
    await tb.idle(2)
    values = set()
    for _ in range(10):
        before = seen[-1]
        lo = await tb.read(Reg.CYCLES_LO)
        hi = await tb.read(Reg.CYCLES_HI)
        after = seen[-1]
        got = hi << 32 | lo
        values.update(seen)
        assert got in values and before <= got <= after, f"torn read {got:#x}"
    driver.cancel()

    resp = await tb.axi.read(0xFFC, 4)
    assert resp.resp == AxiResp.SLVERR
    resp = await tb.axi.write(Reg.ID, bytes(4))
    assert resp.resp == AxiResp.SLVERR
