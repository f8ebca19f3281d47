"""Functional coverage of the engine runs: which descriptor features the benches exercised.

Each run of the cocotb engine bench appends one record per descriptor to the JSON-lines file
named by ``$SCANFUSE_COVERAGE`` (``make regress`` sets it to ``build/coverage.jsonl``):
:func:`descriptor_record` (loop order, visit order, output mode, edge tiles in M, N and K, a
split K with partial-sum spills, a single-tile layer, operand byte skews, the engine's
configuration, the error code the run ended with, the stall profile). ``scanfuse
coverage FILE`` prints how often each bin was hit and lists the bins never hit.
"""

import collections
import sys

from ..hw.addrgen import LoopOrder, Visit
from ..hw.program import DescriptorError, OutMode

__all__ = ["descriptor_record", "case_records", "summarize"]


def _name(enum_cls, value) -> str:
    code = value.value if hasattr(value, "value") else int(value)
    try:
        return enum_cls(code).name
    except ValueError:
        return f"reserved {code}"


def descriptor_record(d, cfg, error: int, stall) -> dict:
    """The coverage bins one descriptor ``d`` (``DescriptorFields``) falls in."""
    return {
        "loop_order": _name(LoopOrder, d.loop_order),
        "visit": _name(Visit, d.visit),
        "out_mode": _name(OutMode, d.out_mode),
        "edge_m": d.M % d.tm != 0, "edge_n": d.N % d.tn != 0, "edge_k": d.K % d.tk != 0,
        "split_k": d.tk < d.K,
        "single_tile": (d.tm, d.tn, d.tk) == (d.M, d.N, d.K),
        "dim_below_array": d.M < cfg.rows or d.N < cfg.cols,
        "a_skewed": d.a_base % cfg.axi_bytes != 0,
        "c_skewed": d.c_base % cfg.axi_bytes != 0,
        "double_buffer": cfg.double_buffer,
        "array": f"{cfg.rows}x{cfg.cols}/{cfg.axi_data_bits}b",
        "error": _name(DescriptorError, error),
        "stalls": stall,
    }


def case_records(case, run, stall) -> list[dict]:
    """One record per descriptor of ``case``'s program, with the run's error code."""
    return [descriptor_record(d, case.cfg, run.error, stall)
            for d in case.image.program.descriptors]


#: Every bin the summary expects to see hit, by field.
EXPECTED = {
    "loop_order": [o.name for o in LoopOrder],
    "visit": [v.name for v in Visit],
    "out_mode": [m.name for m in OutMode],
    "edge_m": [True, False], "edge_n": [True, False], "edge_k": [True, False],
    "split_k": [True, False], "single_tile": [True, False], "dim_below_array": [True, False],
    "a_skewed": [True, False], "c_skewed": [True, False], "double_buffer": [True, False],
    "error": [e.name for e in DescriptorError],
}


def summarize(records: list[dict]) -> str:
    """A table of hits per bin and the list of bins never hit."""
    lines = [f"functional coverage: {len(records)} descriptors"]
    missing = []
    fields = list(EXPECTED) + ["array", "stalls"]
    for name in fields:
        hits = collections.Counter(str(r.get(name)) for r in records)
        bins = [str(b) for b in EXPECTED.get(name, sorted(hits))]
        lines.append(f"  {name:16} " + ", ".join(f"{b} {hits.get(b, 0)}" for b in bins))
        missing += [f"{name}={b}" for b in bins if not hits.get(b)]
    lines.append("  never hit: " + (", ".join(missing) if missing else "none"))
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit("python -m scanfuse.sim.coverage is now `scanfuse coverage` (same arguments)")
