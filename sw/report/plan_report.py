"""JSON documents and rich tables for network plans (the ``scanfuse plan`` contract)."""

from rich.table import Table

from ..network.layers import Network
from ..plan.network_plan import NetworkPlan
from ..plan.search import GemmPlan


def _dram(plan_like) -> dict:
    traffic = plan_like.traffic
    return {"reads": traffic.reads, "writes": traffic.writes,
            "read_bytes": plan_like.read_bytes, "write_bytes": plan_like.write_bytes}


def gemm_plan_json(name: str, plan: GemmPlan) -> dict:
    """One layer entry of ``plan --json`` (elements unless a key says bytes)."""
    t = plan.tiling
    return {
        "name": name,
        "M": plan.gemm.M, "K": plan.gemm.K, "N": plan.gemm.N,
        "tile": {"m": t.tm, "n": t.tn, "k": t.tk},
        "loop_order": t.loop_order,
        "visit_order": t.visit_order.value,
        "dram": _dram(plan),
        "lower_bound": plan.lower_bound,
        "ratio": round(plan.ratio, 6),
    }


def network_plan_json(plan: NetworkPlan) -> dict:
    """The document ``scanfuse plan --json`` prints."""
    total = _dram(plan)
    total["lower_bound"] = plan.lower_bound
    return {
        "network": plan.network,
        "buffer_entries": plan.model.entries,
        "psum_entries": plan.model.psum_entries,
        "double_buffer": plan.model.double_buffer,
        "split": list(plan.model.split) if plan.model.split else None,
        "layers": [gemm_plan_json(item.layer.name, item.plan) for item in plan.layers],
        "not_planned": [{"name": layer.name, "kind": layer.kind.value} for layer in plan.not_planned],
        "total": total,
    }


def network_plan_table(plan: NetworkPlan) -> Table:
    table = Table(title=f"{plan.network}: pointwise layers at {plan.model.describe()}"
                        f" (psum_entries={plan.model.psum_entries}"
                        f"{', double-buffered' if plan.model.double_buffer else ''})",
                  caption="reads/writes/LB in elements; bytes at A,B,C = 1 B, psum = "
                          f"{plan.widths.psum} B; ratio = (reads+writes)/LB")
    for column, justify in (("layer", "left"), ("M", "right"), ("K", "right"), ("N", "right"),
                            ("tile m×n×k", "right"), ("loop", "left"), ("visit", "left"),
                            ("reads", "right"), ("writes", "right"), ("read B", "right"),
                            ("write B", "right"), ("LB", "right"), ("ratio", "right")):
        table.add_column(column, justify=justify)
    for item in plan.layers:
        p, t = item.plan, item.plan.tiling
        table.add_row(item.layer.name, str(p.gemm.M), str(p.gemm.K), str(p.gemm.N),
                      f"{t.tm}×{t.tn}×{t.tk}", t.loop_order, t.visit_order.value,
                      f"{p.traffic.reads:,}", f"{p.traffic.writes:,}", f"{p.read_bytes:,}",
                      f"{p.write_bytes:,}", f"{p.lower_bound:,}", f"{p.ratio:.3f}")
    traffic = plan.traffic
    table.add_section()
    table.add_row("total", "", "", "", "", "", "", f"{traffic.reads:,}", f"{traffic.writes:,}",
                  f"{plan.read_bytes:,}", f"{plan.write_bytes:,}", f"{plan.lower_bound:,}",
                  f"{traffic.total / plan.lower_bound:.3f}" if plan.lower_bound else "")
    return table


def not_planned_table(plan: NetworkPlan) -> Table | None:
    if not plan.not_planned:
        return None
    table = Table(title="not yet planned (non-pointwise layers)")
    table.add_column("layer")
    table.add_column("shape")
    table.add_column("MACs", justify="right")
    for layer in plan.not_planned:
        table.add_row(layer.name, layer.describe(), f"{layer.macs:,}")
    return table


def network_layers_json(network: Network) -> dict:
    """The document ``scanfuse layers --json`` prints."""
    return {
        "network": network.name,
        "input": {"h": network.input_hw[0], "w": network.input_hw[1], "c": 3},
        "macs": network.macs,
        "macs_by_kind": {kind.value: macs for kind, macs in network.macs_by_kind().items()},
        "layers": [{
            "name": layer.name, "kind": layer.kind.value, "block": layer.block,
            "cin": layer.cin, "cout": layer.cout,
            "kernel": list(layer.kernel), "stride": list(layer.stride),
            "padding": list(layer.padding), "groups": layer.groups,
            "h_in": layer.h_in, "w_in": layer.w_in, "h_out": layer.h_out, "w_out": layer.w_out,
            "macs": layer.macs,
        } for layer in network.layers],
        "blocks": [{"name": b.name, "kind": b.kind, "layers": list(b.layers), "residual": b.residual}
                   for b in network.blocks],
    }


def network_layers_table(network: Network) -> Table:
    table = Table(title=f"{network.name}: {len(network.layers)} layers, {network.macs:,} MACs "
                        f"(input {network.input_hw[0]}×{network.input_hw[1]}×3)")
    for column in ("layer", "block", "kind", "Cin", "Cout", "kernel", "stride", "pad", "groups",
                   "in H×W", "out H×W", "MACs"):
        table.add_column(column, justify="left" if column in ("layer", "block", "kind") else "right")
    for layer in network.layers:
        table.add_row(layer.name, layer.block or "", layer.kind.value, str(layer.cin), str(layer.cout),
                      "×".join(map(str, layer.kernel)), "×".join(map(str, layer.stride)),
                      "×".join(map(str, layer.padding)), str(layer.groups),
                      f"{layer.h_in}×{layer.w_in}", f"{layer.h_out}×{layer.w_out}", f"{layer.macs:,}")
    return table
