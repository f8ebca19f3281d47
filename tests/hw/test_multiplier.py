# amaranth: UnusedElaboratable=no
"""PE multipliers (scanfuse.hw.multiplier): each kind's latency and enable behaviour in
simulation, the ECP5 kind's primitive and parameters when elaborated for a platform, and the
kind check of AccelConfig / make_multiplier."""

import random
import re

import pytest
from amaranth.back import rtlil
from amaranth.sim import Simulator

from scanfuse.hw.multiplier import (MULT18X18D_PARAMS, ECP5Mult18x18D, InferredMultiplier,
                                    dsp_operand_shift,
                                    make_multiplier, multiplier_latency)
from scanfuse.hw.params import PE_MULTIPLIER_KINDS, AccelConfig


@pytest.mark.parametrize("kind", PE_MULTIPLIER_KINDS)
def test_latency_counts_enabled_cycles(kind):
    """p shows the product of the operands sampled `latency` enabled clock edges earlier; with
    en low nothing moves (random en, random int8 operands, extremes included)."""
    dut = make_multiplier(kind, 8)
    rng = random.Random(PE_MULTIPLIER_KINDS.index(kind) + 11)
    ops = [(-128, -128), (-128, 127), (127, 127)] + [
        (rng.randrange(-128, 128), rng.randrange(-128, 128)) for _ in range(200)]
    seen = []

    async def bench(ctx):
        pipe = []          # products in flight, one per enabled edge
        for a, b in ops:
            en = rng.random() < 0.7
            ctx.set(dut.a, a)
            ctx.set(dut.b, b)
            ctx.set(dut.en, en)
            await ctx.tick()
            if en:
                pipe.append(a * b)
                if len(pipe) >= dut.latency:
                    assert ctx.get(dut.p) == pipe[-dut.latency]
                    seen.append(pipe[-dut.latency])

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert dut.latency == multiplier_latency(kind) == {"inferred": 1, "mult18x18d": 3}[kind]
    assert 16384 in seen and len(seen) > 100


class _AnyPlatform:
    """Stands in for an ECP5 platform: the multiplier only asks whether there is one."""


def test_ecp5_kind_is_the_registered_primitive_on_a_platform():
    text = rtlil.convert(ECP5Mult18x18D(8), name="m", platform=_AnyPlatform())
    assert "cell \\MULT18X18D" in text
    for key in ("REG_INPUTA_CLK", "REG_INPUTB_CLK", "REG_OUTPUT_CLK"):
        assert MULT18X18D_PARAMS[key] == "CLK0"
        assert f'parameter \\{key} "CLK0"' in text
    assert f'parameter \\REG_PIPELINE_CLK "NONE"' in text
    # Without a platform: the behavioural model, no primitive.
    assert "MULT18X18D" not in rtlil.convert(ECP5Mult18x18D(8), name="m")
    assert "MULT18X18D" not in rtlil.convert(InferredMultiplier(8), name="m",
                                             platform=_AnyPlatform())


def test_kind_and_width_are_checked():
    with pytest.raises(ValueError, match="pe_multiplier must be one of inferred, mult18x18d"):
        AccelConfig(pe_multiplier="lut")
    with pytest.raises(ValueError, match="pe_multiplier"):
        make_multiplier("lut", 8)
    with pytest.raises(ValueError, match="operand_bits"):
        InferredMultiplier(19)
    assert AccelConfig().pe_multiplier == "inferred"


@pytest.mark.parametrize("n", [8, 5, 18])
def test_ecp5_operands_sit_in_the_top_port_bits(n):
    """The primitive's port mapping: an n-bit operand shifted left by 18 - n on the 18-bit
    signed ports, the product read from P bits 2*(18-n) .. 2*(18-n)+2n-1. Every int8 pair
    (n = 8), random pairs for the other widths; and the instance leaves the low A/B pins
    constant 0 and reads only those P pins (so they need no routes)."""
    shift = dsp_operand_shift(n)
    assert shift == 18 - n
    lo, hi = -(1 << (n - 1)), 1 << (n - 1)
    rng = random.Random(n)
    pairs = ([(a, b) for a in range(lo, hi) for b in range(lo, hi)] if n == 8 else
             [(lo, lo), (lo, hi - 1), (hi - 1, hi - 1)]
             + [(rng.randrange(lo, hi), rng.randrange(lo, hi)) for _ in range(2000)])
    for a, b in pairs:
        p36 = ((a << shift) * (b << shift)) & ((1 << 36) - 1)    # the 36-bit P bus
        field = (p36 >> (2 * shift)) & ((1 << 2 * n) - 1)
        assert field - ((field >> (2 * n - 1)) << 2 * n) == a * b
    text = rtlil.convert(ECP5Mult18x18D(n), name="m", platform=_AnyPlatform())
    p_pins = {int(x) for x in re.findall(r"connect \\P(\d+) ", text)}
    assert p_pins == set(range(2 * shift, 2 * shift + 2 * n))
