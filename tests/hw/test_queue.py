# amaranth: UnusedElaboratable=no
"""StreamQueue: a LUT RAM queue with registered ready/valid; at depth 2 cycle-equal to a
SkidBuffer."""

import random
from collections import deque

import pytest
from amaranth.hdl import Module
from amaranth.sim import Simulator

from scanfuse.hw.queue import StreamQueue
from scanfuse.hw.skid import SkidBuffer


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_depth_two_is_cycle_equal_to_a_skid_buffer(seed):
    m = Module()
    m.submodules.q = q = StreamQueue(12)
    m.submodules.s = s = SkidBuffer(12)
    rng = random.Random(seed)

    async def bench(ctx):
        sent = 0
        for cycle in range(800):
            valid = rng.random() < 0.7
            ready = rng.random() < 0.6
            word = rng.getrandbits(12)
            for port in (q, s):
                ctx.set(port.i.valid, valid)
                ctx.set(port.i.payload, word)
                ctx.set(port.o.ready, ready)
            assert ctx.get(q.i.ready) == ctx.get(s.i.ready), cycle
            assert ctx.get(q.o.valid) == ctx.get(s.o.valid), cycle
            if ctx.get(s.o.valid):
                assert ctx.get(q.o.payload) == ctx.get(s.o.payload), cycle
            sent += valid and ctx.get(s.i.ready)
            await ctx.tick()
        assert sent > 300

    sim = Simulator(m)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()


@pytest.mark.parametrize("depth,seed", [(4, 4), (8, 5)])
def test_deeper_queue_keeps_order_and_fills(depth, seed):
    dut = StreamQueue(9, depth)
    rng = random.Random(seed)

    async def bench(ctx):
        model = deque()
        full_seen = False
        for cycle in range(1000):
            valid, ready = rng.random() < 0.6, rng.random() < 0.45
            word = rng.getrandbits(9)
            ctx.set(dut.i.valid, valid)
            ctx.set(dut.i.payload, word)
            ctx.set(dut.o.ready, ready)
            assert ctx.get(dut.level) == len(model), cycle
            assert ctx.get(dut.i.ready) == (len(model) < depth), cycle
            assert ctx.get(dut.o.valid) == bool(model), cycle
            full_seen |= len(model) == depth
            if model:
                assert ctx.get(dut.o.payload) == model[0], cycle
                if ready:
                    model.popleft()
            if valid and ctx.get(dut.i.ready):
                model.append(word)
            await ctx.tick()
        assert full_seen

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()


@pytest.mark.parametrize("depth", [0, 1, 3, True])
def test_depth_is_checked(depth):
    with pytest.raises(ValueError, match="depth"):
        StreamQueue(8, depth)
