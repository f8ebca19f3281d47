"""Random-stall campaign: every MobileNetV2 pointwise layer at full size under many stall seeds.

``scanfuse campaign --seeds 20`` (``make regress``) runs the whole set of
pointwise layers on the default engine in the Verilator harness once per seed. Seed ``s`` draws
its own memory stall probabilities (``p_ready`` on AR/AW/W and ``p_valid`` on R/B, each in
0.5..0.95) and its own layer data (``layer_case(..., seed=s)``). Every run must be bit-exact
with DRAM read and write bytes equal to the planner's; a line per seed and the totals (runs,
seeds, layers, mismatches, wall time) are printed, the per-layer tables go to ``--log``.
"""

import io
import random
import sys
import time

from ..hw.params import AccelConfig
from .verilator_run import regress_mobilenetv2

__all__ = ["stall_profile", "campaign"]


def stall_profile(seed: int) -> tuple[float, float]:
    """``(p_ready, p_valid)`` of campaign seed ``seed``."""
    rng = random.Random(f"stall-campaign-{seed}")
    return round(rng.uniform(0.5, 0.95), 2), round(rng.uniform(0.5, 0.95), 2)


def campaign(seeds: range, cfg: AccelConfig = AccelConfig(), out=sys.stdout, log=None,
             layers: "list[str] | None" = None) -> dict:
    """Run the campaign (on ``layers``, default every pointwise layer); returns the totals
    (``runs``, ``seeds``, ``layers``, ``mismatches``, ``wall_seconds``)."""
    start = time.perf_counter()
    runs = mismatches = 0
    names = set()
    print(f"{'seed':>4} {'p_ready':>7} {'p_valid':>7} {'layers':>6} {'cycles':>11} "
          f"{'mismatch':>8} {'wall s':>7}", file=out, flush=True)
    for seed in seeds:
        p_ready, p_valid = stall_profile(seed)
        t0 = time.perf_counter()
        table = io.StringIO()
        rows = regress_mobilenetv2(cfg, layers=layers, seed=seed, p_ready=p_ready,
                                   p_valid=p_valid, out=table)
        if log is not None:
            log.write(f"# seed {seed} p_ready {p_ready} p_valid {p_valid}\n{table.getvalue()}")
        bad = sum(not (r["bit_exact"] and r["counters_match"]) for r in rows)
        runs += len(rows)
        mismatches += bad
        names.update(r["layer"] for r in rows)
        print(f"{seed:>4} {p_ready:>7} {p_valid:>7} {len(rows):>6} "
              f"{sum(r['cycles'] for r in rows):>11,} {bad:>8} "
              f"{time.perf_counter() - t0:>7.1f}", file=out, flush=True)
    totals = {"runs": runs, "seeds": len(seeds), "layers": len(names),
              "mismatches": mismatches, "wall_seconds": round(time.perf_counter() - start, 1)}
    print(f"campaign: {totals['runs']} runs = {totals['seeds']} seeds x {totals['layers']} "
          f"layers, {totals['mismatches']} mismatches, {totals['wall_seconds']:.0f} s",
          file=out, flush=True)
    return totals


if __name__ == "__main__":
    sys.exit("python -m scanfuse.sim.stall_campaign is now `scanfuse campaign` (same options)")
