"""Printing and plotting step lists."""

import json
from collections import Counter
from typing import TextIO

from ..files import atomic_file
from ..schedule.steps import Schedule
from ..plan.tiling import tile_count


def write_schedule_json(schedule: Schedule, out: TextIO) -> None:
    """Write the schedule document with one step per line (valid JSON, diff-friendly)."""
    doc = schedule.to_json()
    steps = doc.pop("steps")
    head = json.dumps(doc, indent=1)[:-2]  # drop the closing "\n}"
    out.write(head + ',\n "steps": [\n')
    for i, step in enumerate(steps):
        out.write("  " + json.dumps(step) + (",\n" if i + 1 < len(steps) else "\n"))
    out.write(" ]\n}\n")


def schedule_summary(schedule: Schedule) -> list[str]:
    g, t = schedule.gemm, schedule.tiling
    ops = Counter((type(s).__name__.lower(), getattr(s, "operand", "")) for s in schedule.steps)
    read_bytes, write_bytes = schedule.byte_counts()
    grid = "×".join(str(tile_count(g.dim(x), t.tile(x))) for x in "mnk")
    lines = [
        f"GEMM M={g.M} K={g.K} N={g.N}, buffer {schedule.model.describe()}",
        f"tiles {t.tm}×{t.tn}×{t.tk} (m×n×k), grid {grid}, loop order {t.loop_order} "
        f"(outer→inner), {t.visit_order.value} visit",
        f"{len(schedule.steps):,} steps: " + ", ".join(
            f"{n} {op}{' ' + operand if operand else ''}" for (op, operand), n in sorted(ops.items())),
        f"DRAM reads {schedule.reads:,} elements ({read_bytes:,} B), "
        f"writes {schedule.writes:,} elements ({write_bytes:,} B)",
    ]
    return lines


def plot_visit_order(schedule: Schedule, path: str) -> None:
    """Draw the tile visit order as a path through the (m, n, k) tile grid; write a PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..plan.walk import tile_walk

    g, t = schedule.gemm, schedule.tiling
    counts = t.counts(g)
    walk = list(tile_walk(counts, t.loop_order, t.visit_order))
    xs, ys, zs = ([p[x] for p in walk] for x in "mnk")
    fig = plt.figure(figsize=(7, 6))
    ax = fig.add_subplot(projection="3d")
    colours = plt.cm.viridis([i / max(len(walk) - 1, 1) for i in range(len(walk))])
    for i in range(len(walk) - 1):
        ax.plot(xs[i:i + 2], ys[i:i + 2], zs[i:i + 2], color=colours[i], linewidth=1.5)
    ax.scatter(xs, ys, zs, c=colours, s=12)
    ax.scatter([xs[0]], [ys[0]], [zs[0]], color="red", s=50, label="first tile")
    from matplotlib.ticker import MaxNLocator
    for axis in (ax.xaxis, ax.yaxis, ax.zaxis):
        axis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("m tile")
    ax.set_ylabel("n tile")
    ax.set_zlabel("k tile")
    ax.set_title(f"{t.visit_order.value} order, loops {t.loop_order} (outer→inner)\n"
                 f"GEMM {g.M}×{g.K}×{g.N}, tiles {t.tm}×{t.tn}×{t.tk}: "
                 f"{schedule.reads + schedule.writes:,} elements moved")
    ax.legend(loc="upper left")
    fig.tight_layout()
    try:
        with atomic_file(path, "wb") as f:
            fig.savefig(f, dpi=110, format="png")
    finally:
        plt.close(fig)
