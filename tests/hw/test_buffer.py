# amaranth: UnusedElaboratable=no
"""TileBuffer: each of the A, B and C memories against a Python model under random traffic:
lane-enabled writes, one-cycle A and B reads (``read_latency=1``; the engine's two-cycle A
and B reads are in test_buffer_latency.py) held while ``ren`` is low, C's two-cycle reads
(the second stage loading at every edge), and a read of the word being written returning the
old value inverted (the hardware's word is undefined then; the model's is wrong on purpose,
hw/ebr.py collision_word). BufferGeometry's sizes too."""

import random

import pytest
from amaranth.sim import Simulator

from scanfuse.hw.buffer import BufferGeometry, TileBuffer
from scanfuse.hw.params import AccelConfig

SMALL = AccelConfig(a_entries=1024, b_entries=512, c_entries=256)


def test_geometry_of_the_default_engine():
    g = BufferGeometry(AccelConfig())
    # A: 8 lanes of 8 bytes; B: 8-byte words; C: 8 int32 = 32 bytes = 4 beats.
    assert (g.a_lanes, g.a_word_bits, g.a_depth) == (8, 512, 16384 // 64)
    assert (g.b_lanes, g.b_word_bits, g.b_depth, g.b_blocks_per_word) == (1, 64, 2048, 1)
    assert (g.c_lanes, g.c_word_bits, g.c_depth) == (4, 256, 1024)
    assert (g.a_addr_bits, g.b_addr_bits, g.c_addr_bits) == (8, 11, 10)


@pytest.mark.parametrize("cfg", [SMALL, AccelConfig(rows=4, cols=4, axi_data_bits=32,
                                                    a_entries=512, b_entries=256, c_entries=256)],
                         ids=["r8c8-64b", "r4c4-32b"])
@pytest.mark.parametrize("name", ["a", "b", "c"])
def test_memory_matches_a_model_under_random_traffic(cfg, name):
    dut = TileBuffer(cfg, read_latency=1)
    g = dut.geometry
    depth, bits, lanes = {"a": (g.a_depth, g.a_word_bits, g.a_lanes),
                          "b": (g.b_depth, g.b_word_bits, g.b_lanes),
                          "c": (g.c_depth, g.c_word_bits, g.c_lanes)}[name]
    lane_bits = bits // lanes
    port = {k: getattr(dut, f"{name}_{k}") for k in ("waddr", "wdata", "wen", "raddr", "ren",
                                                     "rdata")}
    rng = random.Random(depth * 7 + lanes)
    model = [0] * depth
    hot = [rng.randrange(depth) for _ in range(4)]     # a few addresses hit often

    async def bench(ctx):
        expect = None           # A, B: the word of the latest enabled read
        stage1 = [None, None]   # C: stage 1's word before the last edge and after it
        for _ in range(600):
            waddr = rng.choice(hot) if rng.random() < 0.5 else rng.randrange(depth)
            raddr = waddr if rng.random() < 0.2 else (rng.choice(hot) if rng.random() < 0.5
                                                      else rng.randrange(depth))
            wdata, wen, ren = rng.getrandbits(bits), rng.getrandbits(lanes), rng.random() < 0.7
            ctx.set(port["waddr"], waddr)
            ctx.set(port["wdata"], wdata)
            ctx.set(port["wen"], wen)
            ctx.set(port["raddr"], raddr)
            ctx.set(port["ren"], ren)
            if name == "c":
                expect = stage1[0]          # the second stage: stage 1 before the last edge
            if expect is not None:
                assert ctx.get(port["rdata"]) == expect
            stage1[0] = stage1[1]
            if ren:                         # old value, inverted if written at this edge
                word = model[raddr]
                if wen and raddr == waddr:
                    word ^= (1 << bits) - 1
                if name == "c":
                    stage1[1] = word
                else:
                    expect = word
            old = model[waddr]
            for lane in range(lanes):
                if wen >> lane & 1:
                    mask = ((1 << lane_bits) - 1) << (lane * lane_bits)
                    old = (old & ~mask) | (wdata & mask)
            model[waddr] = old
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
