# amaranth: UnusedElaboratable=no
"""TileBuffer read latency (1 and 2, and the dp16kd tile memories' 3): words written with random
lane enables come back on ``x_rdata`` exactly ``read_latency`` enabled cycles after their
address under random ``x_ren`` stalls (C: ``c_read_latency`` edges after an enabled one,
whatever ``c_ren`` is then); the parameter is checked."""

import dataclasses
import random

import pytest
from amaranth.sim import Simulator

from scanfuse.hw.buffer import TileBuffer, c_read_latency
from scanfuse.hw.params import AccelConfig

CFG = AccelConfig(rows=2, cols=2, a_entries=256, b_entries=256, c_entries=128)


@pytest.mark.parametrize("latency", [1, 2, "dp16kd"])
@pytest.mark.parametrize("mem", ["a", "b", "c"])
def test_reads_arrive_after_read_latency_enabled_cycles(mem, latency):
    cfg = dataclasses.replace(CFG, tile_memory="dp16kd") if latency == "dp16kd" else CFG
    if latency == "dp16kd":
        dut = TileBuffer(cfg)
        assert dut.read_latency == 3
    else:
        dut = TileBuffer(cfg, read_latency=latency)
    latency = c_read_latency(cfg) if mem == "c" else dut.read_latency
    g = dut.geometry
    depth = {"a": g.a_depth, "b": g.b_depth, "c": g.c_depth}[mem]
    bits = {"a": g.a_word_bits, "b": g.b_word_bits, "c": g.c_word_bits}[mem]
    lanes = {"a": g.a_lanes, "b": g.b_lanes, "c": g.c_lanes}[mem]
    lane_bits = bits // lanes
    rng = random.Random(f"{mem}{latency}")   # str seeds are stable (not hash())
    port = {n: getattr(dut, f"{mem}_{n}") for n in ("waddr", "wdata", "wen", "raddr", "ren",
                                                    "rdata")}
    checked = []

    async def bench(ctx):
        model = [0] * depth
        # Write phase: random words, random lane enables (a lane keeps its old bytes when off).
        for _ in range(3 * depth):
            addr, word, wen = rng.randrange(depth), rng.getrandbits(bits), rng.getrandbits(lanes)
            ctx.set(port["waddr"], addr)
            ctx.set(port["wdata"], word)
            ctx.set(port["wen"], wen)
            await ctx.tick()
            for lane in range(lanes):
                if wen >> lane & 1:
                    mask = ((1 << lane_bits) - 1) << (lane * lane_bits)
                    model[addr] = (model[addr] & ~mask) | (word & mask)
        ctx.set(port["wen"], 0)
        # Read phase: a new address every cycle, ren random; after each enabled edge the
        # output shows the word of the address sampled `latency` enabled edges ago.
        sampled = []
        latched = None          # C: the address in the block's read latch before this edge
        stage0 = (None, False)  # C with latency 3: (address, ren) in the input registers
        for _ in range(6 * depth):
            addr, ren = rng.randrange(depth), rng.random() < 0.6
            ctx.set(port["raddr"], addr)
            ctx.set(port["ren"], ren)
            before = ctx.get(port["rdata"])
            await ctx.tick()
            if mem == "c":
                if latched is not None:
                    assert ctx.get(port["rdata"]) == model[latched]
                    checked.append(latched)
                read = stage0 if latency == 3 else (addr, ren)
                if read[1]:
                    latched = read[0]
                stage0 = (addr, ren)
            elif ren:
                sampled.append(addr)
                if len(sampled) >= latency:
                    assert ctx.get(port["rdata"]) == model[sampled[-latency]]
                    checked.append(addr)
            else:
                assert ctx.get(port["rdata"]) == before, "rdata moved with ren low"

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert len(checked) > 2 * depth


def test_read_latency_is_checked():
    assert TileBuffer(CFG).read_latency == 2
    assert TileBuffer(CFG, read_latency=1).read_latency == 1
    for bad in (0, 3, True, "2"):
        with pytest.raises(ValueError, match="read_latency must be 1 or 2"):
            TileBuffer(CFG, read_latency=bad)
    dp = dataclasses.replace(CFG, tile_memory="dp16kd")
    assert TileBuffer(dp, read_latency=3).read_latency == 3
    assert c_read_latency(CFG) == 2 and c_read_latency(dp) == 3
    with pytest.raises(ValueError, match="read_latency of dp16kd tile memories is 3"):
        TileBuffer(dp, read_latency=2)
    with pytest.raises(ValueError, match="tile_memory must be one of inferred, dp16kd"):
        AccelConfig(tile_memory="bram")
