# amaranth: UnusedElaboratable=no
"""ControlRegisters under the Amaranth simulator (async testbench, seeded).

One testbench coroutine plays the AXI4-Lite master and the engine each cycle (:class:`Bench`):
it drives the five channels (AW and W of a write with independent random delays, so either may
arrive first; BREADY and RREADY randomly low), sets the engine-side inputs, samples every output
once the inputs have settled, then takes the clock edge and settles the handshakes. One write and
one read may be in flight at the same time. Every cycle it checks the slave side of the protocol:
BVALID/RVALID never before their address (and data) handshakes, and held with a stable response
until accepted. The trace of every cycle (engine inputs set, ``start``/``clear``/``prog_*`` seen)
lets the tests check pulse widths and the counter snapshot against the exact cycle of the AR
handshake.

(The first line silences Amaranth's "created but never used" warning for components whose
constructor is made to raise in ``test_rejects_bad_parameters``.)
"""

import random
import re
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from amaranth.sim import Simulator

from scanfuse.hw.axi import Resp
from scanfuse.hw.params import AccelConfig
from scanfuse.hw.regs import (COUNTERS, ID_MAGIC, REGISTERS, VERSION, Access, ConfigWord,
                              ControlRegisters, Ctrl, Reg, Status, config_word)

OKAY, SLVERR = Resp.OKAY.value, Resp.SLVERR.value
DOC = Path(__file__).resolve().parents[2] / "docs" / "hardware" / "regs.md"


# --------------------------------------------------------------------------- master / bench
@dataclass
class Op:
    write: bool
    addr: int
    data: int = 0
    strb: int = 0xF
    # filled in by the bench
    resp: int | None = None
    rdata: int | None = None
    addr_cycle: int | None = None      # cycle whose edge did the AW/AR handshake
    resp_cycle: int | None = None      # first cycle with BVALID/RVALID for this op
    aw_wait: int = 0
    w_wait: int = 0
    aw_done: bool = False
    w_done: bool = False

    @property
    def done(self):
        return self.resp is not None


@dataclass
class Cycle:
    inputs: dict
    start: int
    clear: int
    prog_addr: int
    prog_len: int


INPUTS = ("busy", "done", "error_code", *COUNTERS)


@dataclass
class Bench:
    ctx: object
    dut: ControlRegisters
    rng: random.Random
    max_delay: int = 3
    p_stall: float = 0.5
    cycle: int = 0
    inputs: dict = field(default_factory=lambda: dict.fromkeys(INPUTS, 0))
    env: object = None                 # callable(bench), may update ``inputs`` every cycle
    trace: list = field(default_factory=list)
    wq: deque = field(default_factory=deque)
    rq: deque = field(default_factory=deque)
    w: Op | None = None
    r: Op | None = None
    b_hold: tuple | None = None
    r_hold: tuple | None = None

    async def step(self):
        ctx, bus, rng = self.ctx, self.dut.bus, self.rng
        aw_bits = len(bus.awaddr)
        if self.w is None and self.wq:
            self.w = self.wq.popleft()
            self.w.aw_wait = rng.randint(0, self.max_delay)
            self.w.w_wait = rng.randint(0, self.max_delay)
        if self.r is None and self.rq:
            self.r = self.rq.popleft()
            self.r.aw_wait = rng.randint(0, self.max_delay)
        w, r = self.w, self.r

        awvalid = w is not None and not w.aw_done and w.aw_wait == 0
        wvalid = w is not None and not w.w_done and w.w_wait == 0
        arvalid = r is not None and not r.aw_done and r.aw_wait == 0
        bready = rng.random() >= self.p_stall
        rready = rng.random() >= self.p_stall
        # payloads are garbage while valid is low
        ctx.set(bus.awvalid, awvalid)
        ctx.set(bus.awaddr, w.addr if awvalid else rng.getrandbits(aw_bits))
        ctx.set(bus.awprot, rng.getrandbits(3))
        ctx.set(bus.wvalid, wvalid)
        ctx.set(bus.wdata, w.data if wvalid else rng.getrandbits(32))
        ctx.set(bus.wstrb, w.strb if wvalid else rng.getrandbits(4))
        ctx.set(bus.bready, bready)
        ctx.set(bus.arvalid, arvalid)
        ctx.set(bus.araddr, r.addr if arvalid else rng.getrandbits(aw_bits))
        ctx.set(bus.arprot, rng.getrandbits(3))
        ctx.set(bus.rready, rready)
        if self.env is not None:
            self.env(self)
        for name in INPUTS:
            ctx.set(getattr(self.dut, name), self.inputs[name])

        awready, wready, bvalid, bresp = (ctx.get(s) for s in
                                          (bus.awready, bus.wready, bus.bvalid, bus.bresp))
        arready, rvalid, rdata, rresp = (ctx.get(s) for s in
                                         (bus.arready, bus.rvalid, bus.rdata, bus.rresp))
        c = self.cycle
        if self.b_hold is not None:
            assert (bvalid, bresp) == (1, self.b_hold), f"cycle {c}: B dropped or changed"
        if self.r_hold is not None:
            assert (rvalid, rdata, rresp) == (1, *self.r_hold), f"cycle {c}: R dropped or changed"
        if bvalid:
            assert w is not None and w.aw_done and w.w_done, f"cycle {c}: BVALID before AW and W"
            if w.resp_cycle is None:
                w.resp_cycle = c
        if rvalid:
            assert r is not None and r.aw_done, f"cycle {c}: RVALID before AR"
            if r.resp_cycle is None:
                r.resp_cycle = c
        self.trace.append(Cycle(dict(self.inputs), ctx.get(self.dut.start),
                                ctx.get(self.dut.clear), ctx.get(self.dut.prog_addr),
                                ctx.get(self.dut.prog_len)))

        await ctx.tick()

        if w is not None:
            if awvalid and awready:
                w.aw_done, w.addr_cycle = True, c
            elif not w.aw_done and w.aw_wait:
                w.aw_wait -= 1
            if wvalid and wready:
                w.w_done = True
            elif not w.w_done and w.w_wait:
                w.w_wait -= 1
            if bvalid and bready:
                w.resp, self.w, self.b_hold = bresp, None, None
            elif bvalid:
                self.b_hold = bresp
        if r is not None:
            if arvalid and arready:
                r.aw_done, r.addr_cycle = True, c
            elif not r.aw_done and r.aw_wait:
                r.aw_wait -= 1
            if rvalid and rready:
                r.resp, r.rdata, self.r, self.r_hold = rresp, rdata, None, None
            elif rvalid:
                self.r_hold = (rdata, rresp)
        self.cycle += 1

    def submit(self, op: Op) -> Op:
        (self.wq if op.write else self.rq).append(op)
        return op

    async def wait(self, *ops):
        guard = self.cycle + 200 * len(ops)
        while not all(op.done for op in ops):
            assert self.cycle < guard, "transaction timed out"
            await self.step()

    async def write(self, addr, data, strb=0xF) -> Op:
        op = self.submit(Op(True, addr, data, strb))
        await self.wait(op)
        return op

    async def read(self, addr) -> Op:
        op = self.submit(Op(False, addr))
        await self.wait(op)
        return op

    async def read_ok(self, addr) -> int:
        op = await self.read(addr)
        assert op.resp == OKAY, f"read {addr:#x}: resp {op.resp}"
        return op.rdata

    async def write_ok(self, addr, data, strb=0xF) -> Op:
        op = await self.write(addr, data, strb)
        assert op.resp == OKAY, f"write {addr:#x}: resp {op.resp}"
        return op

    async def idle(self, n):
        for _ in range(n):
            await self.step()

    def pulses(self, name, since=0):
        return [c for c, t in enumerate(self.trace) if c >= since and getattr(t, name)]


def simulate(dut, body, *, seed, **kw):
    """Run ``body(bench)`` on ``dut`` with a fresh seeded bench."""
    async def testbench(ctx):
        await body(Bench(ctx, dut, random.Random(seed), **kw))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()


def mask(bits):
    return (1 << bits) - 1


def strobe_merge(old, data, strb):
    bm = sum(0xFF << 8 * i for i in range(4) if strb >> i & 1)
    return (old & ~bm) | (data & bm)


# Configurations: default; wide program address with narrow counters; the narrowest of each.
CONFIGS = {
    "default": dict(cfg=AccelConfig()),
    "a48-c40": dict(cfg=AccelConfig(rows=16, cols=4, addr_bits=48), counter_bits=40,
                    error_bits=5, prog_len_bits=16, addr_width=16),
    "a16-c32": dict(cfg=AccelConfig(rows=1, cols=64, addr_bits=16), counter_bits=32,
                    error_bits=32, prog_len_bits=20),
}


def make(name):
    kw = dict(CONFIGS[name])
    return ControlRegisters(kw.pop("cfg"), **kw)


def reset_value(dut, reg):
    return {Reg.ID: ID_MAGIC, Reg.VERSION: VERSION, Reg.CONFIG: dut.config_word}.get(reg, 0)


# --------------------------------------------------------------------------- static checks
def test_register_table_is_consistent():
    offsets = [r.reg for r in REGISTERS]
    assert offsets == sorted(Reg), "REGISTERS covers every Reg once, in offset order"
    assert all(r % 4 == 0 for r in Reg)
    for name, lo in COUNTERS.items():
        assert lo.name.endswith("_LO") and Reg(lo + 4).name == lo.name[:-3] + "_HI"
    word = config_word(AccelConfig(rows=3, cols=5, addr_bits=40), 48)
    fields = ConfigWord().from_bits(word)
    assert (fields.rows, fields.cols, fields.addr_bits, fields.counter_bits) == (3, 5, 40, 48)


def test_doc_table_matches_code():
    """docs/hardware/regs.md lists exactly REGISTERS: offset, name, access."""
    rows = re.findall(r"^\| `(0x[0-9A-F]{2})` \| `(\w+)` \| (\w+) \|", DOC.read_text(), re.M)
    assert [(int(o, 16), n, a) for o, n, a in rows] == \
        [(int(r.reg), r.reg.name, r.access.value) for r in REGISTERS]


def test_rejects_bad_parameters():
    with pytest.raises(TypeError):
        ControlRegisters(None)
    for kw in (dict(counter_bits=0), dict(counter_bits=65), dict(error_bits=33),
               dict(prog_len_bits=15), dict(prog_len_bits=33), dict(addr_width=11),
               dict(counter_bits=True)):
        with pytest.raises(ValueError):
            ControlRegisters(AccelConfig(), **kw)


# --------------------------------------------------------------------------- behaviour
@pytest.mark.parametrize("config", CONFIGS)
def test_reset_values(config):
    dut = make(config)

    async def body(b):
        for reg in Reg:
            assert await b.read_ok(reg) == reset_value(dut, reg), reg.name
        assert all(t.prog_addr == 0 and t.prog_len == 0 for t in b.trace)
        assert not b.pulses("start") and not b.pulses("clear")

    simulate(dut, body, seed=1)
    fields = ConfigWord().from_bits(dut.config_word)
    cfg = CONFIGS[config]["cfg"]
    assert (fields.rows, fields.cols, fields.addr_bits) == (cfg.rows, cfg.cols, cfg.addr_bits)
    assert fields.counter_bits == dut.counter_bits


@pytest.mark.parametrize("config", CONFIGS)
def test_rw_registers_with_strobes(config):
    """Random strobed writes to PROG_ADDR_LO/HI and PROG_LEN against a model; a read of a
    constant register runs concurrently with every write."""
    dut = make(config)
    ab, lb = dut.cfg.addr_bits, dut.prog_len_bits
    implemented = {Reg.PROG_ADDR_LO: mask(min(ab, 32)), Reg.PROG_ADDR_HI: mask(max(ab - 32, 0)),
                   Reg.PROG_LEN: mask(lb)}

    async def body(b):
        model = dict.fromkeys(implemented, 0)
        for _ in range(40):
            reg = b.rng.choice(list(implemented))
            data, strb = b.rng.getrandbits(32), b.rng.getrandbits(4)
            const = b.rng.choice([Reg.ID, Reg.VERSION, Reg.CONFIG])
            w = b.submit(Op(True, reg, data, strb))
            r = b.submit(Op(False, const))
            await b.wait(w, r)
            assert (w.resp, r.resp, r.rdata) == (OKAY, OKAY, reset_value(dut, const))
            model[reg] = strobe_merge(model[reg], data, strb) & implemented[reg]
            got = await b.read_ok(reg)
            assert got == model[reg], f"{reg.name}: {got:#x} != {model[reg]:#x}"
            last = b.trace[-1]
            assert last.prog_addr == model[Reg.PROG_ADDR_HI] << 32 | model[Reg.PROG_ADDR_LO]
            assert last.prog_len == model[Reg.PROG_LEN]
        # the low two address bits are ignored
        assert await b.read_ok(Reg.PROG_LEN + 3) == model[Reg.PROG_LEN]
        assert not b.pulses("start") and not b.pulses("clear")

    simulate(dut, body, seed=2)


@pytest.mark.parametrize("config", ["default", "a48-c40"])
def test_ro_writes_and_unmapped_addresses(config):
    dut = make(config)
    mapped = {int(r) >> 2 for r in Reg}
    top = 1 << dut.addr_width
    holes = [a for a in range(0, 0x80, 4) if a >> 2 not in mapped]
    unmapped = holes + [0xFFC, top - 4, top - 1] + ([0x1000 | Reg.ID] if top > 0x1000 else [])

    async def body(b):
        b.inputs.update(busy=1, error_code=3, cycles=0x1234_5678_9ABC_DEF0 & mask(dut.counter_bits))
        await b.write_ok(Reg.PROG_LEN, 0xBEEF)
        before = {reg: await b.read_ok(reg) for reg in Reg}
        for reg in (r.reg for r in REGISTERS if r.access is Access.RO):
            op = await b.write(reg, b.rng.getrandbits(32))
            assert op.resp == SLVERR, reg.name
        for addr in unmapped:
            w = await b.write(addr, 0xFFFF_FFFF)
            r = await b.read(addr)
            assert (w.resp, r.resp, r.rdata) == (SLVERR, SLVERR, 0), hex(addr)
        after = {reg: await b.read_ok(reg) for reg in Reg}
        assert after == before
        assert not b.pulses("start") and not b.pulses("clear")

    simulate(dut, body, seed=3)


def test_start_pulse_and_done_sticky():
    dut = make("default")

    async def body(b):
        # CTRL reads as 0; writes of 0 or without byte 0 strobed do nothing
        assert await b.read_ok(Reg.CTRL) == 0
        await b.write_ok(Reg.CTRL, 0)
        await b.write_ok(Reg.CTRL, Ctrl.START | Ctrl.START << 8, strb=0b1110)
        await b.idle(3)
        assert not b.pulses("start")

        # START: exactly one pulse of one cycle, raised with BVALID
        op = await b.write_ok(Reg.CTRL, Ctrl.START)
        await b.idle(3)
        assert b.pulses("start") == [op.resp_cycle]
        assert not b.pulses("clear")

        # back-to-back START writes: one separate pulse each
        mark = b.cycle
        ops = [await b.write_ok(Reg.CTRL, Ctrl.START) for _ in range(4)]
        await b.idle(2)
        assert b.pulses("start", mark) == [op.resp_cycle for op in ops]

        # busy and the error code are live
        b.inputs.update(busy=1)
        assert await b.read_ok(Reg.STATUS) == Status.BUSY
        b.inputs.update(error_code=0x5A)
        assert await b.read_ok(Reg.STATUS) == Status.BUSY | Status.ERROR
        assert await b.read_ok(Reg.ERROR) == 0x5A
        b.inputs.update(busy=0, error_code=0)
        assert await b.read_ok(Reg.STATUS) == 0

        # done as a one-cycle pulse: sticky until START
        b.inputs["done"] = 1
        await b.step()
        b.inputs["done"] = 0
        await b.idle(20)
        assert await b.read_ok(Reg.STATUS) == Status.DONE
        assert await b.read_ok(Reg.STATUS) == Status.DONE
        await b.write_ok(Reg.CTRL, Ctrl.START)
        assert await b.read_ok(Reg.STATUS) == 0

        # done as a level held until the engine sees start: START clears it, the held level
        # does not set it again; the next rising edge does
        b.inputs["done"] = 1
        await b.idle(2)
        assert await b.read_ok(Reg.STATUS) == Status.DONE
        await b.write_ok(Reg.CTRL, Ctrl.START)
        await b.idle(3)
        assert await b.read_ok(Reg.STATUS) == 0
        b.inputs["done"] = 0
        await b.idle(2)
        b.inputs["done"] = 1
        await b.idle(1)
        assert await b.read_ok(Reg.STATUS) == Status.DONE

        # CLEAR clears DONE too, and wins over START in the same write
        b.inputs["done"] = 0
        mark = b.cycle
        op = await b.write_ok(Reg.CTRL, Ctrl.START | Ctrl.CLEAR)
        await b.idle(2)
        assert b.pulses("clear", mark) == [op.resp_cycle]
        assert b.pulses("start", mark) == []
        assert await b.read_ok(Reg.STATUS) == 0

    simulate(dut, body, seed=4)


def test_clear_pulse_keeps_program_and_clears_shadows():
    dut = make("default")

    async def body(b):
        await b.write_ok(Reg.PROG_ADDR_LO, 0x8000_1000)
        await b.write_ok(Reg.PROG_LEN, 77)
        b.inputs["macs"] = 0xAAAA_BBBB_CCCC_DDDD
        assert await b.read_ok(Reg.MACS_LO) == 0xCCCC_DDDD
        assert await b.read_ok(Reg.MACS_HI) == 0xAAAA_BBBB
        op = await b.write_ok(Reg.CTRL, Ctrl.CLEAR)
        await b.idle(2)
        assert b.pulses("clear") == [op.resp_cycle]
        assert not b.pulses("start")
        assert await b.read_ok(Reg.MACS_HI) == 0          # shadow cleared with the counters
        assert await b.read_ok(Reg.PROG_ADDR_LO) == 0x8000_1000
        assert await b.read_ok(Reg.PROG_LEN) == 77

    simulate(dut, body, seed=5)


@pytest.mark.parametrize("config", CONFIGS)
def test_counter_snapshot(config):
    """Every counter changes every cycle (often carrying into the high word). A LO-then-HI pair
    equals the counter's value in the cycle of the LO read's AR handshake; pairs of different
    counters interleave (per-counter shadows); a second HI read repeats the first."""
    dut = make(config)
    cb = dut.counter_bits

    def drive(b):
        for name in COUNTERS:
            step = b.rng.choice([1, b.rng.getrandbits(31), b.rng.getrandbits(33)])
            b.inputs[name] = (b.inputs[name] + step) & mask(cb)

    async def body(b):
        b.env = drive
        names = list(COUNTERS)
        for _ in range(12):
            x, y = b.rng.sample(names, 2)
            lo_x = await b.read(COUNTERS[x])
            lo_y = await b.read(COUNTERS[y])
            hi_x = await b.read(COUNTERS[x] + 4)
            hi_y = await b.read(COUNTERS[y] + 4)
            hi_y2 = await b.read(COUNTERS[y] + 4)
            assert hi_y2.rdata == hi_y.rdata
            for name, lo, hi in ((x, lo_x, hi_x), (y, lo_y, hi_y)):
                assert lo.resp == hi.resp == OKAY
                want = b.trace[lo.addr_cycle].inputs[name]
                got = hi.rdata << 32 | lo.rdata
                assert got == want, f"{name}: {got:#x} != {want:#x}"
                if cb <= 32:
                    assert hi.rdata == 0

    simulate(dut, body, seed=6)


@pytest.mark.parametrize("seed", range(3))
def test_mixed_traffic(seed):
    """Reads of constants and counters overlap random writes; no response is lost or changed."""
    dut = make("default")

    async def body(b):
        b.max_delay, b.p_stall = 5, 0.7
        model = 0
        for _ in range(25):
            data, strb = b.rng.getrandbits(32), b.rng.getrandbits(4)
            ops = [b.submit(Op(True, Reg.PROG_LEN, data, strb))]
            ops += [b.submit(Op(False, b.rng.choice([Reg.ID, Reg.CONFIG]))) for _ in range(2)]
            await b.wait(*ops)
            model = strobe_merge(model, data, strb)
            assert ops[0].resp == OKAY
            assert [op.rdata for op in ops[1:]] == [reset_value(dut, op.addr) for op in ops[1:]]
        assert await b.read_ok(Reg.PROG_LEN) == model

    simulate(dut, body, seed=10 + seed)
