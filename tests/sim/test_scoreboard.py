"""The scoreboard's pure parts: stray-write detection and the padding ceiling."""

import numpy as np

from scanfuse.hw.params import AccelConfig
from scanfuse.plan import BufferModel, Gemm, Tiling, plan_gemm
from scanfuse.program.image import gemm_image
from scanfuse.sim.scoreboard import padded_compute_cycles, regression_total, stray_writes


def _image():
    cfg = AccelConfig(a_entries=1024, b_entries=1024, c_entries=512)
    plan = plan_gemm(Gemm(20, 9, 12), BufferModel.for_engine(cfg))
    rng = np.random.default_rng(7)
    a = rng.integers(-128, 128, (20, 9), dtype=np.int8)
    b = rng.integers(-128, 128, (9, 12), dtype=np.int8)
    return gemm_image(plan, a, b, "raw", cfg=cfg, skew=3)


def test_writes_inside_c_are_allowed_and_outside_are_caught():
    image = _image()
    (c_start, c_end), = image.layers[0].written_ranges
    mem = bytearray(image.mem)
    mem[c_start:c_end] = b"\x5a" * (c_end - c_start)
    assert stray_writes(image, mem) == ""
    for addr in (c_start - 1, c_end, 0, len(mem) - 1):        # gap, program, slack
        bad = bytearray(mem)
        bad[addr] ^= 0xFF
        assert f"first at {addr:#x}" in stray_writes(image, bad)


def test_padding_ceiling_counts_whole_blocks():
    cfg = AccelConfig()
    # M = 49 in one tile: 7 row blocks of 8 = 56 padded rows; N = 24 = 3 whole blocks.
    assert padded_compute_cycles(cfg, Gemm(49, 10, 24), Tiling(49, 24, 10)) == 7 * 3 * 10
    # M = 20 in tiles of 9: 9, 9, 2 -> 2 + 2 + 1 blocks.
    assert padded_compute_cycles(cfg, Gemm(20, 4, 8), Tiling(9, 8, 4)) == 5 * 1 * 4
    rows = [{"cycles": 100, "macs": 64 * 90, "dram_read_bytes": 1, "dram_write_bytes": 2,
             "predicted_read_bytes": 1, "predicted_write_bytes": 2, "padded_cycles": 95,
             "bit_exact": True, "counters_match": True}]
    tot = regression_total(cfg, rows)
    assert (tot["utilization"], tot["padding_ceiling"]) == (0.9, round(90 / 95, 4))
