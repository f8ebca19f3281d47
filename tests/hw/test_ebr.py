# amaranth: UnusedElaboratable=no
"""EBRMemory (scanfuse.hw.ebr): the block layout's counts; the behavioural model and the
tiling of DP16KD blocks (simulated through a model of the block's pins) both give every word
back after exactly two enabled read cycles under random writes, lane enables and ren stalls;
on a platform the blocks are DP16KD instances with port B's output register."""

import random
import re

import pytest
from amaranth.back import rtlil
from amaranth.hdl import Elaboratable, Module, Mux, Signal
from amaranth.lib import memory
from amaranth.sim import Simulator

from scanfuse.hw.ebr import DP16KD_PARAMS, DP16KD_WIDTHS, EBRMemory, ebr_layout


class DP16KDPins(Elaboratable):
    """A ``DP16KD`` as the blocks use it (port A writes, port B reads, ``REGMODE_B = OUTREG``),
    written from the pins' documented meaning, independent of :mod:`scanfuse.hw.ebr`: word
    address on ``AD[13:shift]``, at width 18 the byte enables on ``AD0``/``AD1``; port B's
    read at a ``CEB`` edge into its latch, the latch into the output register at an ``OCEB``
    edge. Takes the same ``(params, pins)`` as the ``Instance`` factory."""

    def __init__(self, params: dict, pins: dict):
        assert {k: params[k] for k in DP16KD_PARAMS} == DP16KD_PARAMS
        assert params["DATA_WIDTH_A"] == params["DATA_WIDTH_B"]
        self.w, self.pins = params["DATA_WIDTH_A"], pins
        for fixed, value in (("i_OCEA", 0), ("i_WEB", 0), ("i_RSTA", 0), ("i_RSTB", 0),
                             ("i_CEA", 1), ("i_CSA0", 0), ("i_CSB0", 0)):
            assert pins[fixed] is value or repr(pins[fixed]) == repr(value), fixed

    def elaborate(self, platform):
        m = Module()
        w, p = self.w, self.pins
        shift = {18: 4, 9: 3, 4: 2, 2: 1, 1: 0}[w]   # Lattice TN1264's address pins
        mem = memory.Memory(shape=w, depth=DP16KD_WIDTHS[w], init=[])
        m.submodules.mem = mem
        gran = 9 if w == 18 else w
        wp = mem.write_port(granularity=gran)
        rp = mem.read_port(transparent_for=())
        def bus(prefix, lo, hi):
            sig = Signal(hi - lo, name=prefix.lower())
            for i in range(lo, hi):
                m.d.comb += sig[i - lo].eq(p[f"i_{prefix}{i}"])
            return sig
        m.d.comb += [wp.addr.eq(bus("ADA", shift, 14)), wp.data.eq(bus("DIA", 0, w)),
                     rp.addr.eq(bus("ADB", shift, 14)), rp.en.eq(p["i_CEB"])]
        if w == 18:
            m.d.comb += wp.en.eq(Mux(p["i_WEA"], bus("ADA", 0, 2), 0))
        else:
            m.d.comb += wp.en.eq(p["i_WEA"])
        outreg = Signal(w)
        with m.If(p["i_OCEB"]):
            m.d.sync += outreg.eq(rp.data)
        for i in range(w):
            if f"o_DOB{i}" in p:
                m.d.comb += p[f"o_DOB{i}"].eq(outreg[i])
        return m


@pytest.mark.parametrize("width, depth, lanes, want", [
    (256, 512, 4, (18, 4, 1, 16)),     # 4x4 A: 4 lanes of 64 bits, 512 words
    (512, 256, 8, (18, 4, 1, 32)),     # 8x8 A
    (64, 2048, 1, (9, 8, 1, 8)),       # B (both arrays): 2048 x 64
    (8, 5000, 1, (9, 1, 3, 3)),        # deeper than one block: stacked rows, read multiplexer
    (36, 1024, 2, (18, 1, 1, 2)),
])
def test_layout_counts(width, depth, lanes, want):
    lay = ebr_layout(width, depth, lanes)
    assert (lay.block_width, lay.columns, lay.rows, lay.blocks) == want


def test_layout_checks_its_arguments():
    for bad in ((0, 4, 1), (8, 0, 1), (8, 4, 3), (True, 4, 1)):
        with pytest.raises(ValueError):
            ebr_layout(*bad)


class ReadStages:
    """The read pipeline the module docstring promises, as the addresses it holds: with
    ``registered`` an address stage in front of the block's read (enabled by ``ren``, or
    loading at every edge with ``ren`` beside it when ``free``), the read itself (``CEB``),
    the output register (``OCEB``: ``ren``, or every edge when ``free``). ``edge(a, ren)``
    moves it by one clock edge; ``out`` is the address whose word is on ``rdata`` (None before
    any)."""

    def __init__(self, registered: bool, free: bool):
        self.registered, self.free = registered, free
        self.stage0 = (None, False)     # (address, ren) in the address registers
        self.latch = None               # the block's read latch
        self.out = None

    def edge(self, a, ren):
        if self.free:
            self.out = self.latch
        elif ren:
            self.out = self.latch
        if not self.registered:
            if ren:
                self.latch = a
            return
        a0, ren0 = self.stage0
        if self.free:
            if ren0:
                self.latch = a0
            self.stage0 = (a, ren)
        elif ren:
            self.latch = a0
            self.stage0 = (a, True)


@pytest.mark.parametrize("registered", [False, True], ids=["in_direct", "in_reg"])
@pytest.mark.parametrize("free", [False, True], ids=["oce_ren", "oce_free"])
@pytest.mark.parametrize("width, depth, lanes, pins", [
    (16, 40, 2, False), (16, 40, 2, True),          # x9 columns, one row
    (36, 3000, 1, True),                            # x18: 2 columns, 3 rows + read mux
    (24, 1500, 3, True),                            # three 8-bit lanes, one x9 block each
])
def test_reads_follow_the_enabled_stages(width, depth, lanes, pins, free, registered):
    """Without ``free_running_output``: the word after the second (third with
    ``registered_inputs``) edge with ``ren``, held while ``ren`` is low. With it: the word of
    the latest read whose address reached the block, whatever ``ren`` is (:class:`ReadStages`).
    Writes and reads interleave: the model writes when the memory does (one edge later with
    ``registered_inputs``)."""
    dut = EBRMemory(width, depth, lanes, primitive=DP16KDPins if pins else None,
                    free_running_output=free, registered_inputs=registered)
    assert dut.latency == (3 if registered else 2)
    lane_bits = width // lanes
    rng = random.Random(f"ebr/{width}/{depth}/{lanes}/{pins}/{free}/{registered}")
    # Addresses near both ends and around the block-row boundaries.
    hot = sorted({0, depth - 1, *range(0, depth, max(1, dut.layout.block_depth))} |
                 {min(depth - 1, a + d) for a in range(0, depth, dut.layout.block_depth)
                  for d in (-1, 1)} - {-1})
    checked = []

    def addr():
        return rng.choice(hot) if rng.random() < 0.5 else rng.randrange(depth)

    def apply(model, write):
        a, word, wen = write
        old = model.get(a, 0)
        for lane in range(lanes):
            if wen >> lane & 1:
                mask = ((1 << lane_bits) - 1) << (lane * lane_bits)
                old = old & ~mask | word & mask
        model[a] = old

    async def bench(ctx):
        model = {}
        for _ in range(400):                       # fill
            write = (addr(), rng.getrandbits(width), rng.getrandbits(lanes))
            ctx.set(dut.waddr, write[0])
            ctx.set(dut.wdata, write[1])
            ctx.set(dut.wen, write[2])
            await ctx.tick()
            apply(model, write)
        ctx.set(dut.wen, 0)
        await ctx.tick()                          # the last write has landed
        stages = ReadStages(registered, free)
        # Reads, with writes to words no read in flight can see: a word in the upper half of
        # the address range is written only while reads stay in the lower half, and so on.
        snapshots = {}
        for i in range(900):
            half = (i // 150) % 2                 # reads in this half, writes in the other
            lo, hi = (0, depth // 2) if half == 0 else (depth // 2, depth)
            a = rng.randrange(lo, hi) if rng.random() < 0.7 else rng.choice(
                [h for h in hot if lo <= h < hi] or [lo])
            ren = rng.random() < 0.6
            wlo, whi = (depth // 2, depth) if half == 0 else (0, depth // 2)
            write = (rng.randrange(wlo, whi), rng.getrandbits(width), rng.getrandbits(lanes))
            ctx.set(dut.raddr, a)
            ctx.set(dut.ren, ren)
            quiet = i % 150 >= 140                # the last cycles of a phase write nothing
            ctx.set(dut.wen, 0 if quiet else write[2])
            ctx.set(dut.waddr, write[0])
            ctx.set(dut.wdata, write[1])
            before = ctx.get(dut.rdata)
            await ctx.tick()
            stages.edge(a, ren)
            if not quiet:
                apply(model, write)
            if not free and not ren:
                assert ctx.get(dut.rdata) == before, "rdata moved with ren low"
            if stages.out is not None and i % 150 >= 10:
                assert ctx.get(dut.rdata) == model.get(stages.out, 0), (i, stages.out)
                checked.append(stages.out)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert len(checked) > 600


def test_flags_are_checked():
    with pytest.raises(TypeError, match="free_running_output must be a bool"):
        EBRMemory(8, 16, free_running_output=1)
    with pytest.raises(TypeError, match="registered_inputs must be a bool"):
        EBRMemory(8, 16, registered_inputs=1)


class _Platform:
    """Just enough platform for elaboration (EBRMemory only asks whether there is one)."""


@pytest.mark.parametrize("free", [False, True])
def test_platform_build_is_dp16kd_blocks_with_output_register(free):
    dut = EBRMemory(64, 2048, 1, free_running_output=free)
    text = rtlil.convert(dut, platform=_Platform())
    cells = re.findall(r"cell \\DP16KD ", text)
    assert len(cells) == dut.layout.blocks == 8
    assert text.count('parameter \\REGMODE_B "OUTREG"') == 8
    assert text.count("parameter \\DATA_WIDTH_B 9") == 8
    # the output register's enable: the read enable, or always (free_running_output)
    oceb = re.findall(r"connect \\OCEB (.*)", text)
    assert oceb == (["1'1"] if free else ["\\ren [0]"]) * 8


@pytest.mark.parametrize("free", [False, True])
def test_registered_inputs_are_flip_flops_per_block(free):
    """With ``registered_inputs`` on a platform, every block's write enable, write address,
    write data and read address come from its own ``TRELLIS_FF`` copies (synthesis would merge
    plain twins); the read address copies load with ``ren`` unless the output is free-running."""
    dut = EBRMemory(64, 2048, 1, free_running_output=free, registered_inputs=True)
    text = rtlil.convert(dut, platform=_Platform())
    blocks = dut.layout.blocks                      # 8 blocks of 2048 x 9
    abits = 11                                      # 2048 words
    per_block = 1 + abits + 8 + abits               # WEA, ADA, DIA (8 of 9 bits used), ADB
    assert text.count("cell \\TRELLIS_FF ") == blocks * per_block
    enabled = text.count('parameter \\CEMUX "CE"')
    assert enabled == (0 if free else blocks * abits)
    # the block read (CEB): ren, or ren one edge late when the address stage is free-running
    ceb = re.findall(r"connect \\CEB (.*)", text)
    assert ceb == (["\\ren_q [0]"] if free else ["\\ren [0]"]) * blocks


@pytest.mark.parametrize("registered", [False, True], ids=["in_direct", "in_reg"])
def test_model_read_of_a_word_written_at_the_same_edge_is_wrong(registered):
    """The model gives the old word inverted when a read and a write of the same word meet at
    the block (the same edge; with ``registered_inputs`` one edge after the ports), so a
    design that uses such a read fails its simulation (the hardware's word is undefined)."""
    dut = EBRMemory(16, 64, 2, registered_inputs=registered)

    async def bench(ctx):
        ctx.set(dut.waddr, 5)
        ctx.set(dut.wdata, 0x1234)
        ctx.set(dut.wen, 0b11)
        await ctx.tick()
        ctx.set(dut.wen, 0)
        await ctx.tick()
        ctx.set(dut.raddr, 5)           # read word 5 while writing it
        ctx.set(dut.ren, 1)
        ctx.set(dut.wdata, 0xABCD)
        ctx.set(dut.wen, 0b01)
        await ctx.tick()
        ctx.set(dut.wen, 0)
        ctx.set(dut.raddr, 6)
        for _ in range(dut.latency - 1):
            await ctx.tick()
        assert ctx.get(dut.rdata) == 0x1234 ^ 0xFFFF
        await ctx.tick()                # the next read, word 5 untouched by it: the new word
        ctx.set(dut.raddr, 5)
        for _ in range(dut.latency):
            await ctx.tick()
        assert ctx.get(dut.rdata) == 0x12CD

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
