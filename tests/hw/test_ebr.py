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


@pytest.mark.parametrize("free", [False, True], ids=["oce_ren", "oce_free"])
@pytest.mark.parametrize("width, depth, lanes, pins", [
    (16, 40, 2, False), (16, 40, 2, True),          # x9 columns, one row
    (36, 3000, 1, True),                            # x18: 2 columns, 3 rows + read mux
    (24, 1500, 3, True),                            # three 8-bit lanes, one x9 block each
])
def test_reads_arrive_two_enabled_cycles_later(width, depth, lanes, pins, free):
    """Without ``free_running_output``: the word after the second edge with ``ren``, held
    while ``ren`` is low. With it: after every edge, the word of the latest read sampled
    before that edge, whatever ``ren`` is."""
    dut = EBRMemory(width, depth, lanes, primitive=DP16KDPins if pins else None,
                    free_running_output=free)
    lane_bits = width // lanes
    rng = random.Random(f"ebr/{width}/{depth}/{lanes}/{pins}/{free}")
    # Addresses near both ends and around the block-row boundaries.
    hot = sorted({0, depth - 1, *range(0, depth, max(1, dut.layout.block_depth))} |
                 {min(depth - 1, a + d) for a in range(0, depth, dut.layout.block_depth)
                  for d in (-1, 1)} - {-1})
    checked = []

    def addr():
        return rng.choice(hot) if rng.random() < 0.5 else rng.randrange(depth)

    async def bench(ctx):
        model = {}
        for _ in range(400):
            a, word, wen = addr(), rng.getrandbits(width), rng.getrandbits(lanes)
            ctx.set(dut.waddr, a)
            ctx.set(dut.wdata, word)
            ctx.set(dut.wen, wen)
            await ctx.tick()
            old = model.get(a, 0)
            for lane in range(lanes):
                if wen >> lane & 1:
                    mask = ((1 << lane_bits) - 1) << (lane * lane_bits)
                    old = old & ~mask | word & mask
            model[a] = old
        ctx.set(dut.wen, 0)
        sampled = []
        latched = None          # free: the address in the first stage before this edge
        for _ in range(600):
            a, ren = addr(), rng.random() < 0.6
            ctx.set(dut.raddr, a)
            ctx.set(dut.ren, ren)
            before = ctx.get(dut.rdata)
            await ctx.tick()
            if free:
                if latched is not None:
                    assert ctx.get(dut.rdata) == model.get(latched, 0)
                    checked.append(latched)
                if ren:
                    latched = a
            elif ren:
                sampled.append(a)
                if len(sampled) >= 2:
                    assert ctx.get(dut.rdata) == model.get(sampled[-2], 0)
                    checked.append(a)
            else:
                assert ctx.get(dut.rdata) == before, "rdata moved with ren low"

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert len(checked) > 300


def test_free_running_output_is_checked():
    with pytest.raises(TypeError, match="free_running_output must be a bool"):
        EBRMemory(8, 16, free_running_output=1)


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
