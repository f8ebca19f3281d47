"""Helpers shared by the cocotb benches in ``scanfuse.sim``."""

import random

from cocotb.triggers import RisingEdge


def random_pause(rng: random.Random, p_stall: float):
    """Pause generator for cocotbext-axi channels: True = stall this cycle."""
    while True:
        yield rng.random() < p_stall


def burst_pause(rng: random.Random, p_start: float, max_run: int = 8):
    """Pause generator with stalls in runs: each cycle a run of 1..``max_run`` paused cycles
    starts with probability ``p_start`` (long idle gaps and back-pressure episodes rather than
    single-cycle noise)."""
    while True:
        if rng.random() < p_start:
            for _ in range(rng.randint(1, max_run)):
                yield True
        else:
            yield False


async def reset_dut(dut, cycles: int = 4):
    """Hold ``dut.rst`` high for ``cycles`` rising edges of ``dut.clk``, release it, and wait one
    more edge (inputs the bench drives should be set to their idle values first)."""
    dut.rst.value = 1
    for _ in range(cycles):
        await RisingEdge(dut.clk)
    dut.rst.value = 0
    await RisingEdge(dut.clk)
