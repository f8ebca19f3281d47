"""The scoreboard: a run against its case, bit for bit and byte for byte.

:func:`check_run` compares a run with its :class:`~scanfuse.sim.cases.Case`: every output
bit-exact, every other byte of the image (program, inputs, weights, the gaps between regions)
unchanged, DRAM bytes read and written (engine counters) equal to the planner's prediction,
MACs equal to ``M*N*K``. :func:`case_report` adds cycles against the roofline
``max(MACs / (rows*cols), bytes / axi_bytes)``.
"""

from dataclasses import dataclass

import numpy as np

from ..hw.params import AccelConfig
from .cases import Case

__all__ = ["Check", "check_run", "stray_writes", "roofline_cycles", "padded_compute_cycles", "case_report",
           "regression_total"]


@dataclass
class Check:
    """The scoreboard's verdict on one run."""

    bit_exact: bool
    counters_match: bool
    problems: list

    @property
    def ok(self) -> bool:
        return self.bit_exact and self.counters_match


def stray_writes(image, mem) -> str:
    """A message if ``mem`` differs from the loaded image outside every layer's C and P
    ranges (the DMA wrote where it must not), else ``""``."""
    before = np.frombuffer(bytes(image.mem), np.uint8)
    after = np.frombuffer(bytes(mem), np.uint8)
    if len(after) < len(before):
        return f"memory after the run is {len(after)} bytes, the image {len(before)}"
    outside = np.ones(len(before), bool)
    for place in image.layers:
        for start, end in place.written_ranges:
            outside[start:end] = False
    bad = np.flatnonzero((before != after[:len(before)]) & outside)
    if not len(bad):
        return ""
    return (f"{len(bad)} bytes changed outside the output and scratch regions, first at "
            f"{int(bad[0]):#x} ({before[bad[0]]:#04x} -> {after[bad[0]]:#04x})")


def check_run(case: Case, run) -> Check:
    """Outputs against numpy, counters against the planner, and every byte outside the
    outputs and partial-sum scratch unchanged (module docstring)."""
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
    stray = stray_writes(case.image, run.mem)
    if stray:
        exact = False
        problems.append(stray)
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


def _padded_sum(dim: int, tile: int, lanes: int) -> int:
    """``sum(ceil(len / lanes))`` over the tiles of ``dim`` (full tiles then the edge one)."""
    full, edge = divmod(dim, tile)
    return full * -(-tile // lanes) + -(-edge // lanes)


def padded_compute_cycles(cfg: AccelConfig, gemm, tiling) -> int:
    """Array cycles of ``gemm`` under ``tiling`` when every tile's ``rows x cols`` blocks are
    padded to whole blocks: ``sum_m ceil(m_len/rows) * sum_n ceil(n_len/cols) * K``. The
    layer's *padding ceiling* is ``MACs / (rows * cols * this)``: the utilisation an engine
    with no other overhead reaches with these tiles (issue 14)."""
    return (_padded_sum(gemm.M, tiling.tm, cfg.rows) * _padded_sum(gemm.N, tiling.tn, cfg.cols)
            * gemm.K)


def regression_total(cfg: AccelConfig, rows: list[dict]) -> dict:
    """The ``total`` of a regression: summed ``cycles``, ``macs`` (and bytes) over ``rows``
    (dicts of :func:`case_report`), ``utilization`` = macs / (rows x cols x cycles) and the
    padded ceiling of the whole set."""
    tot = {k: sum(r[k] for r in rows) for k in ("cycles", "macs", "dram_read_bytes",
                                                "dram_write_bytes", "predicted_read_bytes",
                                                "predicted_write_bytes", "padded_cycles")}
    lanes = cfg.rows * cfg.cols
    tot["utilization"] = round(tot["macs"] / lanes / tot["cycles"], 4) if tot["cycles"] else 0.0
    tot["padding_ceiling"] = (round(tot["macs"] / lanes / tot["padded_cycles"], 4)
                              if tot["padded_cycles"] else 0.0)
    tot["bit_exact"] = all(r["bit_exact"] for r in rows)
    tot["counters_match"] = all(r["counters_match"] for r in rows)
    return tot


def case_report(case: Case, run, check: "Check | None" = None) -> dict:
    """The figures of one run (the keys of ``scanfuse sim --json`` and of the regressions)."""
    check = check_run(case, run) if check is None else check
    cfg, c = case.cfg, run.counters
    read, write = case.predicted
    cycles = c["cycles"]
    roof = roofline_cycles(cfg, case.macs, read + write)
    padded = sum(padded_compute_cycles(cfg, p.gemm, p.tiling) for p in case.plans)
    lanes = cfg.rows * cfg.cols
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
        "padded_cycles": padded,
        "padding_ceiling": round(case.macs / lanes / padded, 4) if padded else 0.0,
        "error": run.error,
        "problems": check.problems,
    }
