"""The scoreboard: a run against its case, bit for bit and byte for byte.

:func:`check_run` compares a run with its :class:`~scanfuse.sim.cases.Case`: every output
bit-exact, DRAM bytes read and written (engine counters) equal to the planner's prediction,
MACs equal to ``M*N*K``. :func:`case_report` adds cycles against the roofline
``max(MACs / (rows*cols), bytes / axi_bytes)``.
"""

from dataclasses import dataclass

import numpy as np

from ..hw.params import AccelConfig
from .cases import Case

__all__ = ["Check", "check_run", "roofline_cycles", "case_report"]


@dataclass
class Check:
    """The scoreboard's verdict on one run."""

    bit_exact: bool
    counters_match: bool
    problems: list

    @property
    def ok(self) -> bool:
        return self.bit_exact and self.counters_match


def check_run(case: Case, run) -> Check:
    """Outputs against numpy, counters against the planner (module docstring)."""
    problems = []
    if not run.done or run.error:
        problems.append(f"engine {'done' if run.done else 'not done'}, ERROR={run.error:#x}")
    exact = not problems
    for i, (place, want) in enumerate(zip(case.image.layers, case.wants)):
        got = place.read_c(run.mem)
        if not np.array_equal(got, want):
            exact = False
            bad = np.argwhere(got != want)
            m, n = bad[0]
            problems.append(f"layer {i}: {len(bad)} of {want.size} outputs differ, first "
                            f"C[{m},{n}] = {got[m, n]} (numpy {want[m, n]})")
    read, write = case.predicted
    c = run.counters
    match = c["read_bytes"] == read and c["write_bytes"] == write and c["macs"] == case.macs
    if not match:
        problems.append(f"counters read/write/macs {c['read_bytes']}/{c['write_bytes']}/"
                        f"{c['macs']}, predicted {read}/{write}/{case.macs}")
    return Check(exact, match, problems)


def roofline_cycles(cfg: AccelConfig, macs: int, nbytes: int) -> int:
    """``max(MACs / (rows*cols), bytes / axi_bytes)``, rounded up."""
    return max(-(-macs // (cfg.rows * cfg.cols)), -(-nbytes // cfg.axi_bytes))


def case_report(case: Case, run, check: "Check | None" = None) -> dict:
    """The figures of one run (the keys of ``scanfuse sim --json`` and of the regressions)."""
    check = check_run(case, run) if check is None else check
    cfg, c = case.cfg, run.counters
    read, write = case.predicted
    cycles = c["cycles"]
    roof = roofline_cycles(cfg, case.macs, read + write)
    return {
        "bit_exact": check.bit_exact,
        "counters_match": check.counters_match,
        "cycles": cycles,
        "dram_read_bytes": c["read_bytes"],
        "dram_write_bytes": c["write_bytes"],
        "predicted_read_bytes": read,
        "predicted_write_bytes": write,
        "utilization": round(case.macs / (cfg.rows * cfg.cols) / cycles, 4) if cycles else 0.0,
        "macs": case.macs,
        "roofline_cycles": roof,
        "roofline_fraction": round(roof / cycles, 4) if cycles else 0.0,
        "stall_cycles": c["stalls"],
        "error": run.error,
        "problems": check.problems,
    }
