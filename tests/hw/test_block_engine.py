# amaranth: UnusedElaboratable=no
"""The fused-block engine in the Amaranth simulator: small blocks bit-exact against
``fused_block_ref``, the DMA's byte counters equal to the driver's prediction, under random
AXI stalls; an illegal descriptor ends with its error code and no DRAM access."""

import numpy as np
import pytest

from scanfuse.hw.fused_program import BlockConfig, FusedError
from scanfuse.hw.params import AccelConfig
from scanfuse.program.fused_block import BlockSchedule, BlockShape
from scanfuse.sim.fused_golden import fused_block_ref
from scanfuse.sim.fused_rtl import compile_fused, random_block, run_block_amaranth

SMALL = BlockConfig(x_entries=4096, d_entries=2048, p_entries=1024, w1_entries=1024,
                    w2_entries=1024, max_chunk=32, max_cout=32, max_width=16)

#: (shape, schedule (strip_rows, chunk), stall probability): strips and chunks > 1, halo rows
#: kept in the X ring (a last CP strip with no new rows),
#: stride 2 on odd sizes, residual, no expand with a CP-style 1x3 kernel, CP chains.
CASES = {
    "s1-3strips-2chunks": (BlockShape(8, 8, 16, 32, 16), (3, 16), 0.7),
    "s2-odd": (BlockShape(9, 7, 16, 32, 24, stride=(2, 2)), (2, 16), 0.7),
    # The X ring wraps several times (6 strips of 2 rows, 4 slots), residual from the ring,
    # 4 chunks: each chunk's W1 / W2 prefetched, across strips too.
    "s1-ring-4chunks": (BlockShape(11, 9, 16, 32, 16, residual=True), (2, 8), 0.7),
    "no-expand-1x3": (BlockShape(6, 10, 16, 16, 8, kernel=(1, 3), expand=False), (4, 8), 0.8),
    # CP chains (1x1 -> 3x1 -> 1x3 -> 1x1, the second depthwise unit): stride (2, 2) on odd
    # sizes with 3 strips and 2 chunks; stride 1 in one chunk (weights read once).
    "cp-s2-odd": (BlockShape(9, 7, 16, 16, 16, stride=(2, 2), kernel=(3, 1), cp=True),
                  (2, 8), 0.7),
    "cp-s1": (BlockShape(5, 6, 8, 16, 8, kernel=(3, 1), cp=True), (2, 16), 0.7),
    # One hidden chunk: one continued depthwise run over all strips (each X row fed once).
    # Stride 1, one-row strips: the last strip feeds no row (its output is the drain row).
    "one-chunk-s1-rows": (BlockShape(7, 5, 16, 32, 16, residual=True), (1, 32), 0.7),
    # Stride 2, H even (no drain row) and odd (the last strip's drain row), W odd / even.
    "one-chunk-s2-even": (BlockShape(8, 7, 16, 32, 24, stride=(2, 2)), (1, 32), 0.7),
    "one-chunk-s2-odd": (BlockShape(9, 6, 16, 32, 16, stride=(2, 1)), (2, 32), 0.7),
    # Without expand (the direct feeder), strips of 1 and 2 rows.
    "one-chunk-no-expand": (BlockShape(6, 9, 16, 16, 8, expand=False), (1, 16), 0.7),
    "one-chunk-no-expand-s2": (BlockShape(7, 5, 16, 16, 16, stride=(2, 2), expand=False),
                               (2, 16), 0.7),
}


@pytest.mark.parametrize("name", list(CASES))
def test_block_bit_exact_and_bytes_as_predicted(name):
    shape, (tr, tc), p = CASES[name]
    rng = np.random.default_rng(sum(map(ord, name)))
    x, block = random_block(rng, shape)
    image = compile_fused(x, block, SMALL, BlockSchedule(tr, tc))
    expected = fused_block_ref(x, block)
    assert len(np.unique(expected)) > 20          # not a saturated, trivially matched output
    run = run_block_amaranth(image, expected, SMALL, seed=len(name), p_ready=p, p_valid=p)
    assert run.error is FusedError.NONE
    assert np.array_equal(run.y, expected)
    assert (run.read_bytes, run.write_bytes) == (image.traffic.read_bytes,
                                                 image.traffic.write_bytes)


def test_4x4_array_on_a_32_bit_bus():
    """Another geometry: 4x4 PE array, 4-byte beats (13-beat depthwise words of 52 bytes),
    stride (1, 2) on a 7x6 input, cout 12."""
    bcfg = BlockConfig(accel=AccelConfig(rows=4, cols=4, axi_data_bits=32), x_entries=2048,
                       d_entries=1024, p_entries=512, w1_entries=512, w2_entries=512,
                       max_chunk=16, max_cout=16, max_width=12)
    shape = BlockShape(7, 6, 8, 16, 12, stride=(1, 2))
    x, block = random_block(np.random.default_rng(9), shape)
    image = compile_fused(x, block, bcfg, BlockSchedule(3, 8))
    expected = fused_block_ref(x, block)
    run = run_block_amaranth(image, expected, bcfg, seed=2, p_ready=0.7, p_valid=0.7)
    assert run.bit_exact
    assert (run.read_bytes, run.write_bytes) == (image.traffic.read_bytes,
                                                 image.traffic.write_bytes)


def test_residual_is_added():
    """The residual case differs from the same block without it (the add is not a no-op)."""
    shape = BlockShape(8, 8, 16, 32, 16, residual=True)
    x, block = random_block(np.random.default_rng(5), shape)
    plain = type(block)(block.stages, residual=False)
    assert not np.array_equal(fused_block_ref(x, block), fused_block_ref(x, plain))


def test_illegal_descriptor_ends_with_its_code():
    shape = BlockShape(8, 8, 16, 32, 16)
    x, block = random_block(np.random.default_rng(2), shape)
    image = compile_fused(x, block, SMALL, BlockSchedule(8, 32))
    image.desc_bits = image.desc_bits & ~(0xFFFF << 368)      # chunk = 0
    run = run_block_amaranth(image, fused_block_ref(x, block), SMALL, max_cycles=50)
    assert run.error is FusedError.ZERO_SCHEDULE
    assert (run.read_bytes, run.write_bytes) == (0, 0)
    assert run.cycles <= 3


@pytest.mark.regress
@pytest.mark.parametrize("seed", range(4))   # residual blocks (make test: the Icarus case)
def test_block_seeds(seed):
    shape = BlockShape(10, 9, 16, 32, 16, residual=True)
    x, block = random_block(np.random.default_rng(seed), shape)
    image = compile_fused(x, block, SMALL, BlockSchedule(1 + seed, 8 << (seed % 3)))
    run = run_block_amaranth(image, fused_block_ref(x, block), SMALL, seed=seed,
                             p_ready=0.6, p_valid=0.6)
    assert run.bit_exact
    assert (run.read_bytes, run.write_bytes) == (image.traffic.read_bytes,
                                                 image.traffic.write_bytes)


def test_one_chunk_strips_expand_each_row_once():
    """One hidden chunk in one-row strips: the continued depthwise run expands each X row
    once and the next strip's X row loads during phase E, so the eight strips cost less than
    1.35x the block as one strip (2,044 against 1,525 cycles since the ten-stage requantiser
    and the DMA's two-cycle burst issue, fifteenth timing round; before them 1,955 against
    1,507 with the freeze-free PE array, whose rows come 6 cycles later; 1,940 against 1,505
    when its accumulator restarted, rows 5 cycles later; 1,865 against 1,495 with the
    freezing array; then without the X row prefetch 1,991, with a run per strip, which
    expands 3 rows per output row, 2,925), bit-exact, bytes as predicted."""
    shape = BlockShape(8, 8, 16, 32, 16)
    x, block = random_block(np.random.default_rng(1), shape)
    expected = fused_block_ref(x, block)
    cycles = {}
    for tr in (1, 8):
        image = compile_fused(x, block, SMALL, BlockSchedule(tr, 32))
        run = run_block_amaranth(image, expected, SMALL)
        assert run.bit_exact
        assert (run.read_bytes, run.write_bytes) == (image.traffic.read_bytes,
                                                     image.traffic.write_bytes)
        cycles[tr] = run.cycles
    assert cycles[1] < 1.35 * cycles[8], cycles
