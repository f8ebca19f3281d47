"""Payload bytes and 64-byte bursts moved, side by side, for ``scanfuse plan --fuse``.

``plan`` counts payload: the bytes each load and store asks for. The DRAM moves whole bursts,
so a tile row narrower than a burst, or one that straddles a burst boundary, costs more than
its payload. ``evaluate`` therefore plans unfused layers *burst-aware* (the tiling that moves
the fewest bursts, :func:`scanfuse.plan.layer_models.layer_traffic` with ``burst_bytes``),
which may ask for more payload than the payload-optimal tiling. :func:`moved_bytes` gives,
for the unfused network, thesis-style fusion and the best grouping:

``payload``              the plan's payload bytes (what ``plan`` has always printed);
``moved``                the bursts the same plans move (their step lists through
                         :mod:`scanfuse.dram.bursts`);
``aware_payload``,       payload and bursts moved when the unfused layers are planned
``aware_moved``          burst-aware as ``evaluate`` plans them (fused groups unchanged);
                         ``aware_moved`` is the traffic ``evaluate`` reports for the same order.
"""

from ..dram.evaluate import EngineClock
from ..plan.fusion import FusedNetworkPlan
from ..plan.layer_models import layer_traffic
from .units import UnitCache, build_unit, network_units

#: Variants of ``plan --fuse``: the unfused network, thesis-style fusion, the best grouping.
PLAN_VARIANTS = ("unfused", "thesis-style", "extended")


def moved_bytes(plan: FusedNetworkPlan, order: str = "best", burst_bytes: int = 64) -> dict[str, dict]:
    """Per variant of :data:`PLAN_VARIANTS`: ``payload``, ``moved``, ``aware_payload`` and
    ``aware_moved`` in bytes (see the module docstring)."""
    clock, cache = EngineClock(), UnitCache()
    by_name = {t.layer.name: t for t in plan.layers}
    aware = {t.layer.name: layer_traffic(t.layer, plan.model, plan.widths, order, burst_bytes)
             for t in plan.layers}
    out = {}
    for variant, fused in zip(PLAN_VARIANTS, ([], plan.fused_units(False), plan.fused_units(True))):
        row = {}
        for prefix, layers in (("", by_name), ("aware_", aware)):
            units = network_units([layers[t.layer.name] for t in plan.layers], fused)
            traces = [build_unit(u, 0, plan.widths, clock, True, burst_bytes, cache) for u in units]
            row[prefix + "payload"] = sum(t.summary.bytes_requested for t in traces)
            row[prefix + "moved"] = sum(t.summary.bytes_moved for t in traces)
        out[variant] = row
    return out
