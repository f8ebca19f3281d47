# amaranth: UnusedElaboratable=no
"""WideProduct: ``(a * b) mod 2**p_bits`` exactly ``latency`` cycles after the operands, with
new operands every cycle, for both multiplier kinds and one- and two-chunk widths; its
latency per kind; bad parameters refused."""

import random

import pytest
from amaranth.sim import Simulator

from scanfuse.hw.product import WideProduct

SHAPES = [(16, 32, 32), (16, 16, 17), (17, 34, 34), (5, 40, 12)]


@pytest.mark.parametrize("kind", ["inferred", "mult18x18d"])
@pytest.mark.parametrize("a_bits,b_bits,p_bits", SHAPES)
def test_product_every_cycle(kind, a_bits, b_bits, p_bits):
    dut = WideProduct(kind, a_bits, b_bits, p_bits)
    rng = random.Random(a_bits * 1000 + b_bits * 10 + p_bits)
    edge = [(0, 0), ((1 << a_bits) - 1, (1 << b_bits) - 1), (1, (1 << b_bits) - 1),
            ((1 << a_bits) - 1, 1)]
    pairs = edge + [(rng.getrandbits(a_bits), rng.getrandbits(b_bits)) for _ in range(60)]
    seen = []

    async def bench(ctx):
        for i in range(len(pairs) + dut.latency):
            if i < len(pairs):
                ctx.set(dut.a, pairs[i][0])
                ctx.set(dut.b, pairs[i][1])
            await ctx.tick()
            if i + 1 >= dut.latency:
                seen.append(ctx.get(dut.p))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    want = [(a * b) % (1 << p_bits) for a, b in pairs]
    assert seen[:len(want)] == want


def test_latency_per_kind():
    assert WideProduct("inferred", 16, 32, 32).latency == 1
    one = WideProduct("mult18x18d", 16, 16, 17)
    two = WideProduct("mult18x18d", 16, 32, 32)
    assert (one.chunks, one.latency) == (1, 3)
    assert (two.chunks, two.latency) == (2, 4)
    # Chunks of b at or above bit p_bits are not multiplied.
    assert WideProduct("mult18x18d", 16, 40, 17).chunks == 1


@pytest.mark.parametrize("args,match", [
    (("dsp", 16, 32, 32), "kind must be one of"),
    (("inferred", 18, 32, 32), "a_bits must be at most 17"),
    (("inferred", 0, 32, 32), "a_bits must be a positive integer"),
    (("inferred", 16, True, 32), "b_bits must be a positive integer"),
    (("inferred", 16, 32, 0), "p_bits must be a positive integer"),
])
def test_bad_parameters(args, match):
    with pytest.raises(ValueError, match=match):
        WideProduct(*args)
