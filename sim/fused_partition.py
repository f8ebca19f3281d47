"""How the fused-block engine's buffer is split among its five tensor memories, and the sweep
that justifies the split (``docs/hardware/block-engine.md``, "Memory partition").

A buffer of ``S`` bytes holds the X ring, the depthwise outputs D, the project partial sums P
(int32, 4 bytes each) and the W1 and W2 weight chunks: ``X + D + 4 * P + W1 + W2 <= S``.
:data:`PARTITION` gives each memory's share of ``S`` in 64ths; :func:`partition_config` turns
a split into a :class:`~scanfuse.hw.fused_program.BlockConfig` and
:func:`sweep_partitions` ranks splits by the DRAM bytes of a network's fused blocks, each
block planned by :func:`~scanfuse.program.fused_block.plan_block` for that engine (rerun:
``.venv/bin/python -m scanfuse.sim.fused_partition 64K``).
"""

import itertools
import sys
from dataclasses import dataclass

from ..hw.fused_program import BlockConfig
from ..hw.params import AccelConfig
from ..program.fused_block import IllegalBlockError, block_shape, block_traffic, plan_block

__all__ = ["Split", "PARTITION", "partition_config", "planned_blocks", "network_fused_bytes",
           "required_chains", "sweep_partitions"]


@dataclass(frozen=True)
class Split:
    """Shares of the buffer in 64ths: X ring, D, P (bytes: 4 per int32), W1, W2; they sum to
    at most 64."""

    x: int
    d: int
    p: int
    w1: int
    w2: int

    def __post_init__(self):
        parts = (self.x, self.d, self.p, self.w1, self.w2)
        if any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in parts) \
                or sum(parts) > 64:
            raise ValueError(f"a split is five positive 64ths summing to at most 64, "
                             f"not {parts}")


#: The engine's split: the best of :func:`sweep_partitions` at 64K (MobileNetV2's 17 blocks
#: move 5,138,608 bytes; every stride-1 ResNet-50-CP chain of cout <= 320 plans). Every X row
#: is read once, so the X ring needs only one strip's rows; P, which sets how many output rows
#: a strip holds and so how often a block of several hidden chunks re-reads its weights, gets
#: the most; W1 and W2 hold two chunks each (the running one and the prefetched next).
PARTITION = Split(x=12, d=6, p=36, w1=4, w2=6)


def partition_config(buffer: int, split: Split = PARTITION, array: tuple = (8, 8)) -> BlockConfig:
    """The block engine whose five tensor memories share ``buffer`` bytes as ``split`` says,
    each rounded down to whole memory words; chunk biases for 192 channels, project biases
    for 320, rows of 112 pixels (MobileNetV2's widest)."""
    rows, cols = array
    cfg = AccelConfig(rows=rows, cols=cols, axi_data_bits=8 * cols)
    word = rows * cols

    def down(v, w):
        return max(w, v // w * w)

    share = lambda n: buffer * n // 64     # noqa: E731
    return BlockConfig(accel=cfg, x_entries=down(share(split.x), word),
                       d_entries=down(share(split.d), word),
                       w1_entries=down(share(split.w1), cols),
                       w2_entries=down(share(split.w2), cols),
                       p_entries=down(share(split.p) // 4, cols),
                       max_chunk=down(192, cols), max_cout=down(320, cols), max_width=112)


def planned_blocks(shapes, bcfg: BlockConfig) -> int:
    """How many of ``shapes`` have a schedule on ``bcfg``."""
    n = 0
    for shape in shapes:
        try:
            plan_block(shape, bcfg)
        except IllegalBlockError:
            continue
        n += 1
    return n


def network_fused_bytes(shapes, bcfg: BlockConfig) -> "int | None":
    """DRAM bytes (read + write) of the blocks ``shapes``, each planned for ``bcfg``; None
    when one of them has no schedule that fits."""
    total = 0
    for shape in shapes:
        try:
            t = block_traffic(shape, plan_block(shape, bcfg))
        except IllegalBlockError:
            return None
        total += t.read_bytes + t.write_bytes
    return total


#: The shares :func:`sweep_partitions` tries, in 64ths of the buffer.
SWEEP_SHARES = {"x": (8, 12, 16, 20, 24), "d": (2, 4, 6, 8), "w1": (2, 3, 4, 6, 8),
                "w2": (2, 4, 6, 8, 12)}


def _shapes(network: str):
    from ..network.zoo import get_network
    from ..plan.fusion import thesis_groups
    out = []
    for g in thesis_groups(get_network(network)):
        try:
            out.append(block_shape(g))
        except IllegalBlockError:
            continue
    return out


def required_chains(also: str = "resnet50-cp", max_cout: int = 320) -> list:
    """The blocks of ``also`` every split must plan: its stride-1 blocks of at most
    ``max_cout`` output channels (ResNet-50-CP's stride-2 chains need three input rows of up
    to 14x512 bytes, and s4's 512 output channels exceed the engine's project biases)."""
    return [s for s in _shapes(also) if s.stride == (1, 1) and s.cout <= max_cout]


def sweep_partitions(buffer: int, network: str = "mobilenetv2", array: tuple = (8, 8),
                     also: str = "resnet50-cp"):
    """Every split of :data:`SWEEP_SHARES` (P gets the rest) under which every block of
    ``network`` and every :func:`required_chains` block of ``also`` has a schedule, with the
    total DRAM bytes of ``network``'s fused blocks on its engine, fewest first:
    ``[(bytes, split), ...]``."""
    shapes, required = _shapes(network), required_chains(also)
    out = []
    for x, d, w1, w2 in itertools.product(*SWEEP_SHARES.values()):
        p = 64 - x - d - w1 - w2
        if p < 1:
            continue
        split = Split(x, d, p, w1, w2)
        bcfg = partition_config(buffer, split, array)
        total = network_fused_bytes(shapes, bcfg)
        if total is not None and planned_blocks(required, bcfg) == len(required):
            out.append((total, split))
    out.sort(key=lambda e: (e[0], e[1].x + e[1].d + e[1].w1 + e[1].w2))
    return out


def _main(argv) -> int:
    from ..units import parse_entries
    buffer = parse_entries(argv[0]) if argv else 65536
    shapes_net = argv[1] if len(argv) > 1 else "mobilenetv2"
    ranked = sweep_partitions(buffer, shapes_net)
    mine = partition_config(buffer, PARTITION)
    total = network_fused_bytes(_shapes(shapes_net), mine)
    print(f"{shapes_net}, buffer {buffer} bytes: {len(ranked)} splits (64ths: x d p w1 w2) "
          f"planning every stride-1 ResNet-50-CP chain of cout <= 320")
    for total_, s in ranked[:10]:
        print(f"{total_:>12,}  {s.x:>2} {s.d:>2} {s.p:>2} {s.w1:>2} {s.w2:>2}")
    print(f"PARTITION {PARTITION}: "
          + (f"{total:,} bytes" if total is not None else "a block has no schedule")
          + f", {planned_blocks(_shapes('resnet50-cp'), mine)} ResNet-50-CP chains")
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
