"""JSON document and tables for ``scanfuse plan --fuse``."""

from rich.table import Table

from ..plan.fusion import FusedNetworkPlan, entries_at_lower_bound
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


def schedule_json(schedule) -> dict:
    """A fused schedule's parameters: a chain's (``tr``, ``tc``, mode, order, residency) or a
    pipeline's (``tr``, per weight unit ``tcs`` and ``w_resident``)."""
    if hasattr(schedule, "tcs"):
        return {"tr": schedule.tr, "tcs": list(schedule.tcs), "w_resident": list(schedule.resident)}
    s = schedule
    return {"tr": s.tr, "tc": s.tc, "mode": s.mode, "visit_order": "scan" if s.scan else "raster",
            "x_resident": s.x_resident, "y_resident": s.y_resident, "w_resident": s.w_resident,
            "keep": s.keep}


def extended_group_json(e, plan: FusedNetworkPlan) -> dict:
    g, p = e.group, e.plan
    return {"name": g.name, "kind": g.kind, "layers": [l.name for l in g.layers],
            "segments": [[l.name for l in seg.layers] for seg in g.segments],
            "residuals": [list(r) for r in g.residuals],
            "taps": [[l.name for l in g.segments[t - 1].layers][-1] for t in g.taps],
            "dram": {"reads": p.traffic.reads, "writes": p.traffic.writes,
                     "read_bytes": p.read_bytes, "write_bytes": p.write_bytes},
            "onchip_peak": p.onchip_peak, "lower_bound": g.lower_bound(),
            "ratio": round(p.elements / g.lower_bound(), 6),
            "lower_bound_entries": entries_at_lower_bound(g, plan.model.psum_entries, plan.widths),
            "replaced_bytes": e.replaced_bytes, "reason": e.reason,
            "schedule": schedule_json(p.schedule)}


def fused_plan_json(plan: FusedNetworkPlan, moved: dict | None = None) -> dict:
    """The ``plan --fuse --json`` document; ``moved``: :func:`scanfuse.evaluate.moved.
    moved_bytes` (payload and 64-byte bursts per variant), as key ``bytes_moved``."""
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
                "lower_bound_entries": entries_at_lower_bound(g.chain, plan.model.psum_entries,
                                                              plan.widths),
                "schedule": schedule_json(s)})
        else:
            entry.update({"dram": None, "onchip_peak": None, "ratio": None, "schedule": None,
                          "lower_bound_entries": entries_at_lower_bound(
                              g.chain, plan.model.psum_entries, plan.widths)})
        groups.append(entry)
    extended = [extended_group_json(e, plan) for e in plan.extended]
    return {
        "network": plan.network, "buffer_entries": plan.model.entries,
        "psum_entries": plan.model.psum_entries, "double_buffer": plan.model.double_buffer,
        "layers": [layer_json(t) for t in plan.layers],
        "groups": groups,
        "extended_groups": extended,
        "cuts": [c.to_json() for c in plan.cuts],
        "total_unfused": plan.total_unfused,
        "total": plan.total,
        "total_extended": plan.total_extended,
        "thesis_floor_bytes": plan.thesis_floor_bytes,
        "thesis_compulsory_floor_bytes": plan.thesis_compulsory_floor_bytes,
        "bytes_moved": moved,
    }


def _lb_at(group, fused_plan, plan: FusedNetworkPlan) -> str:
    """'at LB' when the plan reaches the group lower bound, else the smallest buffer that would."""
    if fused_plan is not None and fused_plan.elements == group.lower_bound():
        return "at LB"
    return f"{entries_at_lower_bound(group, plan.model.psum_entries, plan.widths):,}"


def fused_plan_tables(plan: FusedNetworkPlan, moved: dict | None = None) -> list[Table]:
    table = Table(title=f"{plan.network}: fused groups at S = {plan.model.entries:,} entries",
                  caption="traffic in bytes (A/B/C 1 B, partial sums "
                          f"{plan.widths.psum} B); LB = group input + weights + output, once; "
                          "LB at S = the smallest buffer at which the group reaches its LB")
    for col in ("group", "layers", "schedule", "fused B", "unfused B", "group LB", "ratio",
                "LB at S", "on-chip peak", "decision"):
        table.add_column(col, justify="left" if col in ("group", "layers", "schedule", "decision") else "right")
    for g in plan.groups:
        p = g.plan
        table.add_row(g.chain.name, " → ".join(l.name.rsplit(".", 1)[-1] for l in g.chain.layers),
                      p.schedule.describe() if p else "—", f"{p.total_bytes:,}" if p else "—",
                      f"{g.unfused_bytes:,}", f"{g.chain.lower_bound():,}",
                      f"{(p.traffic.reads + p.traffic.writes) / g.chain.lower_bound():.3f}" if p else "—",
                      _lb_at(g.chain, p, plan), f"{p.onchip_peak:,}" if p else "—",
                      "fused" if g.fused else g.reason)
    ext = Table(title=f"{plan.network}: extended fusion (the best grouping) at S = "
                      f"{plan.model.entries:,} entries",
                caption="groups chosen by dynamic programming over each run of blocks; "
                        "thesis B = the same layers under thesis-style fusion; writes L = a group "
                        "across a block join also stores block output L for the next residual or shortcut")
    for col in ("group", "kind", "schedule", "bytes", "thesis B", "LB", "ratio", "LB at S", "on-chip peak"):
        ext.add_column(col, justify="left" if col in ("group", "kind", "schedule") else "right")
    for e in plan.extended:
        taps = "".join(f" + writes {e.group.segments[t - 1].layers[-1].name}" for t in e.group.taps)
        ext.add_row(e.group.name, e.group.kind, e.plan.schedule.describe() + taps, f"{e.plan.total_bytes:,}",
                    f"{e.replaced_bytes:,}", f"{e.group.lower_bound():,}",
                    f"{e.plan.elements / e.group.lower_bound():.3f}", _lb_at(e.group, e.plan, plan),
                    f"{e.plan.onchip_peak:,}")
    if not plan.extended:
        ext.add_row("(no fused group at this buffer size)", "", "", "", "", "", "", "", "")
    cuts = Table(title=f"{plan.network}: where the best grouping cuts, and why")
    for col in ("blocks", "chosen groups", "bytes", "thesis-style B", "candidates"):
        cuts.add_column(col, justify="left" if col in ("blocks", "chosen groups") else "right")
    for c in plan.cuts:
        if c.bytes < c.thesis_bytes:
            cuts.add_row("+".join(c.blocks) if len(c.blocks) < 4 else f"{c.blocks[0]}..{c.blocks[-1]}",
                         c.reason.split(": ", 1)[1].split("; ")[0], f"{c.bytes:,}", f"{c.thesis_bytes:,}",
                         str(c.candidates))
    totals = Table(title=f"{plan.network}: whole-network DRAM traffic",
                   caption="payload = bytes the loads and stores ask for (what the planner "
                           "minimises); moved = whole 64-byte bursts; burst-aware = unfused layers "
                           "planned for fewest bursts, as `scanfuse evaluate` plans them; thesis-style "
                           f"floor (every thesis-style group at its group LB, other layers as "
                           f"planned): {plan.thesis_floor_bytes:,} B; with other layers at their "
                           f"compulsory traffic: {plan.thesis_compulsory_floor_bytes:,} B")
    cols = ["", "reads", "writes", "read B", "write B", "payload B", "saving"]
    if moved is not None:
        cols += ["moved B", "burst-aware payload B", "burst-aware moved B"]
    for col in cols:
        totals.add_column(col, justify="left" if col == "" else "right")
    unfused, fused = plan.total_unfused, plan.total
    base = unfused["read_bytes"] + unfused["write_bytes"]
    for label, key, t in (("unfused", "unfused", unfused), ("thesis-style fused", "thesis-style", fused),
                          ("extended fused", "extended", plan.total_extended)):
        total = t["read_bytes"] + t["write_bytes"]
        row = [label, f"{t['reads']:,}", f"{t['writes']:,}", f"{t['read_bytes']:,}",
               f"{t['write_bytes']:,}", f"{total:,}", f"{100 * (1 - total / base):.1f}%"]
        if moved is not None:
            m = moved[key]
            row += [f"{m['moved']:,}", f"{m['aware_payload']:,}", f"{m['aware_moved']:,}"]
        totals.add_row(*row)
    return [table, ext, cuts, totals]


def sweep_json(plans: list[FusedNetworkPlan]) -> list[dict]:
    """One row per plan (buffer size): payload bytes unfused, thesis-style and extended, the
    savings against unfused, and the groups fused."""
    rows = []
    for plan in plans:
        total = lambda t: t["read_bytes"] + t["write_bytes"]
        unfused, thesis, ext = total(plan.total_unfused), total(plan.total), total(plan.total_extended)
        rows.append({"network": plan.network, "buffer_entries": plan.model.entries,
                     "unfused_bytes": unfused, "thesis_bytes": thesis, "extended_bytes": ext,
                     "thesis_saving": round(1 - thesis / unfused, 6),
                     "extended_saving": round(1 - ext / unfused, 6),
                     "groups_fused": sum(g.fused for g in plan.groups), "groups": len(plan.groups),
                     "extended_groups": len(plan.extended),
                     "extended_pipelines": sum(e.group.kind == "pipeline" for e in plan.extended)})
    return rows


def sweep_table(plans: list[FusedNetworkPlan]) -> Table:
    table = Table(title=f"{plans[0].network}: whole-network DRAM payload bytes over buffer sizes",
                  caption="savings against unfused at the same buffer size")
    for col in ("S", "unfused B", "thesis-style B", "saving", "extended B", "saving",
                "thesis groups fused", "extended groups (pipelines)"):
        table.add_column(col, justify="right")
    for r in sweep_json(plans):
        table.add_row(f"{r['buffer_entries']:,}", f"{r['unfused_bytes']:,}", f"{r['thesis_bytes']:,}",
                      f"-{100 * r['thesis_saving']:.1f}%", f"{r['extended_bytes']:,}",
                      f"-{100 * r['extended_saving']:.1f}%", f"{r['groups_fused']}/{r['groups']}",
                      f"{r['extended_groups']} ({r['extended_pipelines']})")
    return table
