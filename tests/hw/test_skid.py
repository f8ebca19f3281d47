# amaranth: UnusedElaboratable=no
"""SkidBuffer: every beat passes once and in order under random valid/ready stalls, full
throughput without stalls, and ``i.ready`` / ``o`` come from registers only."""

import random

import pytest
from amaranth.hdl import unsigned
from amaranth.lib import data
from amaranth.sim import Simulator

from scanfuse.hw.skid import SkidBuffer


def run(beats: list[int], p_valid: float, p_ready: float, seed: int, width: int = 12):
    """Push ``beats`` through a SkidBuffer; returns (beats out, cycle of each input transfer,
    cycle of each output transfer)."""
    dut = SkidBuffer(width)
    rng = random.Random(seed)
    got, t_in, t_out = [], [], []

    async def bench(ctx):
        i = 0
        cycle = 0
        while len(got) < len(beats):
            assert cycle < 20 * len(beats) + 50, "stalled"
            offer = i < len(beats) and rng.random() < p_valid
            ctx.set(dut.i.valid, offer)
            ctx.set(dut.i.payload, beats[i] if i < len(beats) else 0)
            ctx.set(dut.o.ready, rng.random() < p_ready)
            # Sample both handshakes just before the edge.
            if offer and ctx.get(dut.i.ready):
                t_in.append(cycle)
                i += 1
            if ctx.get(dut.o.valid) and ctx.get(dut.o.ready):
                got.append(ctx.get(dut.o.payload))
                t_out.append(cycle)
            await ctx.tick()
            cycle += 1

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return got, t_in, t_out


@pytest.mark.parametrize("p_valid,p_ready", [(1.0, 0.5), (0.5, 1.0), (0.6, 0.4), (0.9, 0.9)])
@pytest.mark.parametrize("seed", [1, 2])
def test_random_stalls_lose_nothing(p_valid, p_ready, seed):
    beats = random.Random(seed).choices(range(1 << 12), k=200)
    got, _, _ = run(beats, p_valid, p_ready, seed)
    assert got == beats


def test_full_throughput_and_one_cycle_latency():
    beats = list(range(50))
    got, t_in, t_out = run(beats, 1.0, 1.0, 0)
    assert got == beats
    assert t_in == list(range(50))
    assert t_out == [t + 1 for t in t_in]


def test_struct_payload():
    layout = data.StructLayout({"a": unsigned(3), "b": unsigned(5)})
    dut = SkidBuffer(layout)
    assert dut.i.payload.shape() == layout and dut.o.payload.shape() == layout


def test_no_combinational_path_through():
    """o.valid/o.payload and i.ready change only on clock edges: flipping i.valid, i.payload
    and o.ready between edges does not change them."""
    dut = SkidBuffer(8)

    async def bench(ctx):
        # Fill: output register and skid register both full (consumer stalled).
        ctx.set(dut.o.ready, 0)
        for v in (11, 22):
            ctx.set(dut.i.valid, 1)
            ctx.set(dut.i.payload, v)
            await ctx.tick()
        before = (ctx.get(dut.o.valid), ctx.get(dut.o.payload), ctx.get(dut.i.ready))
        assert before == (1, 11, 0)
        for valid, payload, ready in ((0, 0, 1), (1, 99, 0), (1, 5, 1)):
            ctx.set(dut.i.valid, valid)
            ctx.set(dut.i.payload, payload)
            ctx.set(dut.o.ready, ready)
            await ctx.delay(1e-8)
            assert (ctx.get(dut.o.valid), ctx.get(dut.o.payload),
                    ctx.get(dut.i.ready)) == before

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
