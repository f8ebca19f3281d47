# amaranth: UnusedElaboratable=no
"""ReplicaRegister: one cycle of delay in simulation; on ECP5 built from TRELLIS_FF primitives,
so that synthesis keeps each copy (a plain register's twins are merged)."""

import random

import pytest
from amaranth.back import rtlil
from amaranth.hdl import Module
from amaranth.sim import Simulator

from scanfuse.hw.replica import ReplicaRegister


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
