"""The block engine's memory partition (``scanfuse.sim.fused_partition``): splits turn into
engines that fit the buffer, and the chosen split moves fewer of MobileNetV2's fused bytes
than the even split it replaced."""

import pytest

from scanfuse.network.zoo import get_network
from scanfuse.plan.fusion import thesis_groups
from scanfuse.program.fused_block import block_shape
from scanfuse.sim.fused_partition import (PARTITION, Split, network_fused_bytes,
                                          partition_config, sweep_partitions)


@pytest.mark.parametrize("buffer", [16384, 65536, 131072, 100_000])
def test_split_fits_the_buffer(buffer):
    b = partition_config(buffer)
    assert b.x_entries + b.d_entries + 4 * b.p_entries + b.w1_entries + b.w2_entries <= buffer


def test_bad_split_is_refused():
    with pytest.raises(ValueError, match="64ths"):
        Split(32, 16, 16, 8, 8)
    with pytest.raises(ValueError, match="64ths"):
        Split(0, 16, 16, 8, 8)


def test_partition_beats_the_even_split():
    """The split before the sweep (X and D a quarter each, P a quarter, W1 and W2 an eighth)
    moves more bytes than PARTITION at 64K and at 128K."""
    shapes = [block_shape(g) for g in thesis_groups(get_network("mobilenetv2"))]
    for buffer in (65536, 131072):
        old = network_fused_bytes(shapes, partition_config(buffer, Split(16, 16, 16, 8, 8)))
        new = network_fused_bytes(shapes, partition_config(buffer, PARTITION))
        assert new < old


def test_partition_plans_the_cp_chains_that_ran_before():
    """The ResNet-50-CP chains run on the 64K engine before the re-split still plan."""
    from scanfuse.program.fused_block import plan_block
    g = {c.name: c for c in thesis_groups(get_network("resnet50-cp"))}
    for name in ("s1b0.conv2", "s2b1.conv2", "s3b1.conv2"):
        plan_block(block_shape(g[name]), partition_config(65536))


@pytest.mark.regress
def test_partition_is_the_sweeps_best_at_64k():
    best_bytes, best = sweep_partitions(65536)[0]
    assert best == PARTITION
