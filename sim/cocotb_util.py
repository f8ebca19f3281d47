"""Helpers shared by the cocotb benches in ``scanfuse.sim``."""

import random

from cocotb.triggers import RisingEdge


def random_pause(rng: random.Random, p_stall: float):
    """Pause generator for cocotbext-axi channels: True = stall this cycle."""
    while True:
        yield rng.random() < p_stall


async def reset_dut(dut, cycles: int = 4):
    """Hold ``dut.rst`` high for ``cycles`` rising edges of ``dut.clk``, release it, and wait one
    more edge (inputs the bench drives should be set to their idle values first)."""
    dut.rst.value = 1
    for _ in range(cycles):
        await RisingEdge(dut.clk)
    dut.rst.value = 0
    await RisingEdge(dut.clk)
