# amaranth: UnusedElaboratable=no
"""ReplicaRegister: one cycle of delay in simulation; on ECP5 built from TRELLIS_FF primitives,
so that synthesis keeps each copy (a plain register's twins are merged)."""

import random
import re

import pytest
from amaranth.back import rtlil
from amaranth.hdl import Module, Signal
from amaranth.sim import Simulator

from scanfuse.hw.replica import ReplicaRegister, replica


@pytest.mark.parametrize("ecp5", [False, True])
def test_q_is_d_one_cycle_late(ecp5):
    dut = ReplicaRegister(7, ecp5=ecp5)    # no platform: a plain register either way
    rng = random.Random(3)
    values = [rng.getrandbits(7) for _ in range(50)]

    async def bench(ctx):
        assert ctx.get(dut.q) == 0
        for i, v in enumerate(values):
            ctx.set(dut.d, v)
            await ctx.tick()
            assert ctx.get(dut.q) == v, i

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()


def _rtlil(ecp5):
    m = Module()
    copies = []
    for c in range(3):
        m.submodules[f"r{c}"] = r = ReplicaRegister(5, ecp5=ecp5)
        copies.append(r)
    return rtlil.convert(m, ports=[p for r in copies for p in (r.d, r.q)], platform="ecp5")


def test_ecp5_copies_are_primitives_one_per_bit():
    assert _rtlil(True).count("cell \\TRELLIS_FF ") == 15
    assert "TRELLIS_FF" not in _rtlil(False)


@pytest.mark.parametrize("width", [0, 65, True, 2.0])
def test_width_is_checked(width):
    with pytest.raises(ValueError, match="width"):
        ReplicaRegister(width)


@pytest.mark.parametrize("ecp5", [False, True])
def test_enabled_copy_holds_while_en_is_low(ecp5):
    dut = ReplicaRegister(6, ecp5=ecp5, enable=True)
    rng = random.Random(5)

    async def bench(ctx):
        want = 0
        for i in range(80):
            v, en = rng.getrandbits(6), rng.random() < 0.5
            ctx.set(dut.d, v)
            ctx.set(dut.en, en)
            await ctx.tick()
            want = v if en else want
            assert ctx.get(dut.q) == want, i

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()


def test_enabled_ecp5_copy_drives_each_flip_flops_ce():
    m = Module()
    m.submodules.r = r = ReplicaRegister(4, ecp5=True, enable=True)
    text = rtlil.convert(m, ports=[r.d, r.en, r.q], platform="ecp5")
    assert text.count('parameter \\CEMUX "CE"') == 4
    assert len(re.findall(r"connect \\CE \\en", text)) == 4
    assert 'CEMUX "1"' not in text


def test_enable_is_checked():
    with pytest.raises(TypeError, match="enable must be a bool"):
        ReplicaRegister(3, enable=1)


def test_replica_helper_adds_one_named_copy_with_or_without_enable():
    m = Module()
    d, en = Signal(4), Signal()
    q_free = replica(m, "free", d, ecp5=True)
    q_held = replica(m, "held", d, ecp5=True, enable=en)
    assert len(q_free) == len(q_held) == 4
    text = rtlil.convert(m, ports=[d, en, q_free, q_held], platform="ecp5")
    assert text.count("cell \\TRELLIS_FF ") == 8
    assert text.count('"CE"') == 4          # only the enabled copy's flip-flops use CE

    m = Module()
    d, en = Signal(4), Signal()
    q = replica(m, "held", d, ecp5=False, enable=en)

    async def bench(ctx):
        for i, (value, load) in enumerate([(3, 1), (9, 0), (12, 1), (5, 0)]):
            ctx.set(d, value)
            ctx.set(en, load)
            await ctx.tick()
            assert ctx.get(q) == (3 if i < 2 else 12), i

    sim = Simulator(m)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
