"""JSON document and tables for ``scanfuse plan --fuse``."""

from rich.table import Table

from ..plan.fusion import FusedNetworkPlan
from ..plan.layer_models import LayerTraffic
from .plan_report import gemm_plan_json


def _dram(obj) -> dict:
    return {"reads": obj.reads, "writes": obj.writes, "read_bytes": obj.read_bytes,
            "write_bytes": obj.write_bytes}


def layer_json(t: LayerTraffic) -> dict:
    """Every layer with the keys of ``plan --json``; GEMM-only keys are null for others."""
    if t.gemm_plan is not None:
        doc = gemm_plan_json(t.layer.name, t.gemm_plan)
    else:
        doc = {"name": t.layer.name, "M": None, "K": None, "N": None, "tile": None,
               "loop_order": None, "visit_order": None, "dram": _dram(t),
               "lower_bound": t.lower_bound, "ratio": round(t.total / t.lower_bound, 6)}
    doc["kind"] = t.layer.kind.value
    doc["schedule"] = t.schedule
    return doc


def fused_plan_json(plan: FusedNetworkPlan) -> dict:
    groups = []
    for g in plan.groups:
        p = g.plan
        entry = {"name": g.chain.name, "layers": [l.name for l in g.chain.layers],
                 "fused": g.fused, "reason": g.reason, "residual": g.chain.residual,
                 "unfused_bytes": g.unfused_bytes, "lower_bound": g.chain.lower_bound()}
        if p is not None:
            s = p.schedule
            entry.update({
                "dram": {"reads": p.traffic.reads, "writes": p.traffic.writes,
                         "read_bytes": p.read_bytes, "write_bytes": p.write_bytes},
                "onchip_peak": p.onchip_peak,
                "ratio": round((p.traffic.reads + p.traffic.writes) / g.chain.lower_bound(), 6),
                "schedule": {"tr": s.tr, "tc": s.tc, "mode": s.mode,
                             "visit_order": "scan" if s.scan else "raster",
                             "x_resident": s.x_resident, "y_resident": s.y_resident,
                             "w_resident": s.w_resident}})
        else:
            entry.update({"dram": None, "onchip_peak": None, "ratio": None, "schedule": None})
        groups.append(entry)
    extended = [{
        "name": e.pipeline.name, "layers": [l.name for l in e.pipeline.layers],
        "segments": [[l.name for l in seg.layers] for seg in e.pipeline.segments],
        "residuals": [list(r) for r in e.pipeline.residuals],
        "dram": {"reads": e.plan.traffic.reads, "writes": e.plan.traffic.writes,
                 "read_bytes": e.plan.read_bytes, "write_bytes": e.plan.write_bytes},
        "onchip_peak": e.plan.onchip_peak, "lower_bound": e.pipeline.lower_bound(),
        "replaced_bytes": e.replaced_bytes,
        "schedule": {"tr": e.plan.schedule.tr, "tcs": list(e.plan.schedule.tcs),
                     "w_resident": list(e.plan.schedule.resident)},
    } for e in plan.extended]
    return {
        "network": plan.network, "buffer_entries": plan.model.entries,
        "psum_entries": plan.model.psum_entries, "double_buffer": plan.model.double_buffer,
        "layers": [layer_json(t) for t in plan.layers],
        "groups": groups,
        "extended_groups": extended,
        "total_unfused": plan.total_unfused,
        "total": plan.total,
        "total_extended": plan.total_extended,
    }


def fused_plan_tables(plan: FusedNetworkPlan) -> list[Table]:
    table = Table(title=f"{plan.network}: fused groups at S = {plan.model.entries:,} entries",
                  caption="traffic in bytes (A/B/C 1 B, partial sums "
                          f"{plan.widths.psum} B); LB = group input + weights + output, once")
    for col in ("group", "layers", "schedule", "fused B", "unfused B", "group LB", "ratio",
                "on-chip peak", "decision"):
        table.add_column(col, justify="left" if col in ("group", "layers", "schedule", "decision") else "right")
    for g in plan.groups:
        p = g.plan
        table.add_row(g.chain.name, " → ".join(l.name.rsplit(".", 1)[-1] for l in g.chain.layers),
                      p.schedule.describe() if p else "—", f"{p.total_bytes:,}" if p else "—",
                      f"{g.unfused_bytes:,}", f"{g.chain.lower_bound():,}",
                      f"{(p.traffic.reads + p.traffic.writes) / g.chain.lower_bound():.3f}" if p else "—",
                      f"{p.onchip_peak:,}" if p else "—", "fused" if g.fused else g.reason)
    ext = Table(title=f"{plan.network}: extended fusion (pipelines of whole blocks) at S = "
                      f"{plan.model.entries:,} entries",
                caption="each pipeline replaces the thesis-style decisions for its blocks")
    for col in ("pipeline", "schedule", "bytes", "replaced B", "LB", "ratio", "on-chip peak"):
        ext.add_column(col, justify="left" if col in ("pipeline", "schedule") else "right")
    for e in plan.extended:
        moved = e.plan.traffic.reads + e.plan.traffic.writes
        ext.add_row(e.pipeline.name, e.plan.schedule.describe(), f"{e.plan.total_bytes:,}",
                    f"{e.replaced_bytes:,}", f"{e.pipeline.lower_bound():,}",
                    f"{moved / e.pipeline.lower_bound():.3f}", f"{e.plan.onchip_peak:,}")
    if not plan.extended:
        ext.add_row("(none beats thesis-style fusion at this buffer size)", "", "", "", "", "", "")
    totals = Table(title=f"{plan.network}: whole-network DRAM traffic")
    for col in ("", "reads", "writes", "read B", "write B", "total B", "saving"):
        totals.add_column(col, justify="left" if col == "" else "right")
    unfused, fused = plan.total_unfused, plan.total
    base = unfused["read_bytes"] + unfused["write_bytes"]
    for label, t in (("unfused", unfused), ("thesis-style fused", fused),
                     ("extended fused", plan.total_extended)):
        total = t["read_bytes"] + t["write_bytes"]
        totals.add_row(label, f"{t['reads']:,}", f"{t['writes']:,}", f"{t['read_bytes']:,}",
                       f"{t['write_bytes']:,}", f"{total:,}", f"{100 * (1 - total / base):.1f}%")
    return [table, ext, totals]
