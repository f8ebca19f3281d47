"""Helpers shared by the cocotb benches in ``scanfuse.sim``."""

import random


def random_pause(rng: random.Random, p_stall: float):
    """Pause generator for cocotbext-axi channels: True = stall this cycle."""
    while True:
        yield rng.random() < p_stall
