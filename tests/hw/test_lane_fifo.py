# amaranth: UnusedElaboratable=no
"""LaneFIFO: the store path's C FIFO, one memory and one set of pointer copies per lane.
Checked cycle by cycle against a queue model under random writes and reads."""

import random
from collections import deque

import pytest
from amaranth.back import rtlil
from amaranth.sim import Simulator

from scanfuse.hw.lane_fifo import LaneFIFO


@pytest.mark.parametrize("lane_bits,lanes,depth,seed", [(32, 8, 4, 1), (32, 8, 8, 2),
                                                        (5, 3, 2, 3), (1, 1, 4, 4)])
def test_words_leave_in_order_one_cycle_after_their_write(lane_bits, lanes, depth, seed):
    dut = LaneFIFO(lane_bits, lanes, depth)
    width = lane_bits * lanes
    rng = random.Random(seed)

    async def bench(ctx):
        model = deque()          # words readable this cycle
        landing = None           # the word written at the end of this cycle
        announced = False        # w_next was high last cycle
        written = read = 0
        for cycle in range(600):
            # This cycle's inputs: the word announced last cycle, the next announcement (only
            # while the FIFO will have room for every word asked for), a random read.
            word = rng.getrandbits(width) if announced else 0
            in_flight = len(model) + int(announced)
            w_next = in_flight < depth and rng.random() < 0.7
            r_en = rng.random() < 0.6
            ctx.set(dut.w_data, word)
            ctx.set(dut.w_next, w_next)
            ctx.set(dut.r_en, r_en)
            assert ctx.get(dut.r_rdy) == bool(model), cycle
            assert ctx.get(dut.level) == len(model), cycle
            if model:
                assert ctx.get(dut.r_data) == model[0], cycle
                if r_en:
                    model.popleft()
                    read += 1
            landing = word if announced else None
            announced = w_next
            await ctx.tick()
            if landing is not None:
                model.append(landing)
                written += 1
        assert read > 100 and written - read == len(model)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()


def test_each_lane_has_its_own_pointer_copies_on_ecp5():
    dut = LaneFIFO(32, 8, 8, ecp5=True)
    text = rtlil.convert(dut, platform="ecp5")
    # per lane: the write flag (1) and both pointers (3 bits each), as TRELLIS_FF primitives
    assert text.count("cell \\TRELLIS_FF ") == 8 * (1 + 3 + 3)
    assert "TRELLIS_FF" not in rtlil.convert(LaneFIFO(32, 8, 8), platform="ecp5")


@pytest.mark.parametrize("kwargs,match", [
    ({"lane_bits": 0, "lanes": 8, "depth": 4}, "lane_bits"),
    ({"lane_bits": 32, "lanes": True, "depth": 4}, "lanes"),
    ({"lane_bits": 32, "lanes": 8, "depth": 1}, "depth"),
    ({"lane_bits": 32, "lanes": 8, "depth": 6}, "power of two"),
])
def test_parameters_are_checked(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LaneFIFO(**kwargs)
