"""The five variants ``scanfuse evaluate`` compares, as plans and as lists of units.

``baseline``              every layer unfused, each at its best *raster* tiling;
``scan``                  every layer unfused, each at its best Scan tiling;
``raster+fusion``         thesis-style groups fused (raster schedules) where fusing saves
                          traffic, every other layer as in ``baseline``;
``scan+fusion``           thesis-style groups fused (Scan schedules), the rest as in ``scan``;
``scan+extended-fusion``  the best grouping (extended fusion): fused groups chosen by dynamic
                          programming over each run of blocks (pipelines of whole blocks,
                          chains and pipelines cut out of one block, thesis-style chains),
                          the rest as in ``scan``.

Unfused layers are planned burst-aware (:func:`scanfuse.plan.layer_models.layer_traffic` with
the DRAM's burst size), so no variant is charged for tile rows narrower than a burst that a
burst-aware planner would not pick. Fusion decisions are :func:`plan_fused_network`'s: made
on payload bytes against the payload-optimal unfused plans.
"""

from dataclasses import dataclass

from ..errors import InvalidOptionError
from ..plan.fusion import FusedNetworkPlan, plan_fused_network
from ..network.layers import Network
from ..plan.buffer import BufferModel, ElementWidths
from ..plan.layer_models import LayerTraffic, layer_traffic
from .units import network_units

VARIANTS: tuple[str, ...] = ("baseline", "scan", "raster+fusion", "scan+fusion", "scan+extended-fusion")

#: Visit order of each variant's unfused layers and fused schedules.
_ORDER = {"baseline": "raster", "scan": "scan", "raster+fusion": "raster", "scan+fusion": "scan",
          "scan+extended-fusion": "scan"}


def check_variants(variants) -> tuple[str, ...]:
    """Return ``variants`` as a tuple if every name is known, else raise."""
    variants = tuple(variants)
    for v in variants:
        if v not in VARIANTS:
            raise InvalidOptionError(f"unknown variant {v!r}; choose from: {', '.join(VARIANTS)}")
    return variants


@dataclass(frozen=True)
class NetworkPlans:
    """Everything the variants of one network at one buffer size need.

    ``unfused[order][layer name]``: burst-aware unfused plans (order ``raster`` or ``scan``);
    ``fused[order]``: :func:`plan_fused_network` with that order (``scan`` with extended
    fusion).
    """

    network: Network
    model: BufferModel
    widths: ElementWidths
    unfused: dict[str, dict[str, LayerTraffic]]
    fused: dict[str, FusedNetworkPlan]


def plan_variants(network: Network, model: BufferModel, widths: ElementWidths,
                  burst_bytes: int, variants=VARIANTS) -> NetworkPlans:
    """Plan what ``variants`` need. Raises :class:`~scanfuse.errors.BufferTooSmallError`
    when a layer does not fit ``model``."""
    orders = sorted({_ORDER[v] for v in check_variants(variants)})
    unfused = {o: {l.name: layer_traffic(l, model, widths, o, burst_bytes) for l in network.layers}
               for o in orders}
    fused = {}
    if "raster+fusion" in variants:
        fused["raster"] = plan_fused_network(network, model, widths, "raster")
    if "scan+fusion" in variants or "scan+extended-fusion" in variants:
        fused["scan"] = plan_fused_network(network, model, widths, "scan",
                                           extended="scan+extended-fusion" in variants)
    return NetworkPlans(network, model, widths, unfused, fused)


def variant_units(plans: NetworkPlans, variant: str) -> list:
    """The units of ``variant`` in execution order: :class:`LayerTraffic` (an unfused
    layer), :class:`~scanfuse.plan.fusion.GroupDecision` (a fused group) or
    :class:`~scanfuse.plan.fusion.ExtendedGroup` (a pipeline)."""
    check_variants([variant])
    order = _ORDER[variant]
    layers = plans.unfused[order]
    fused_units = []
    if variant in ("raster+fusion", "scan+fusion", "scan+extended-fusion"):
        fused_units = plans.fused[order].fused_units(extended=variant == "scan+extended-fusion")
    return network_units([layers[l.name] for l in plans.network.layers], fused_units)
