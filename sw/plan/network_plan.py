"""Plan every pointwise layer of a network (other layer kinds are listed as not planned)."""

from dataclasses import dataclass

from ..errors import check_type
from ..network.layers import Layer, LayerKind, Network
from .buffer import BufferModel, ElementWidths
from .gemm import Gemm
from .search import GemmPlan, plan_gemm
from .traffic import Traffic


@dataclass(frozen=True)
class LayerPlan:
    """A pointwise layer and the plan of its GEMM."""

    layer: Layer
    plan: GemmPlan


@dataclass(frozen=True)
class NetworkPlan:
    """Plans of a network's pointwise layers, with the layers not planned by this stage."""

    network: str
    model: BufferModel
    widths: ElementWidths
    layers: tuple[LayerPlan, ...]
    not_planned: tuple[Layer, ...]

    @property
    def traffic(self) -> Traffic:
        total = Traffic(0, 0, 0, 0, 0)
        for item in self.layers:
            total = total + item.plan.traffic
        return total

    @property
    def lower_bound(self) -> int:
        return sum(item.plan.lower_bound for item in self.layers)

    @property
    def read_bytes(self) -> int:
        return sum(item.plan.read_bytes for item in self.layers)

    @property
    def write_bytes(self) -> int:
        return sum(item.plan.write_bytes for item in self.layers)


def plan_network(network: Network, model: BufferModel, widths: ElementWidths = ElementWidths(),
                 order: str = "best", align: int = 8) -> NetworkPlan:
    check_type("network", network, Network)
    check_type("model", model, BufferModel)
    planned, skipped = [], []
    for layer in network.layers:
        if layer.is_pointwise:
            planned.append(LayerPlan(layer, plan_gemm(Gemm.of_layer(layer), model, widths, order, align)))
        else:
            skipped.append(layer)
    return NetworkPlan(network.name, model, widths, tuple(planned), tuple(skipped))


def plan_single_gemm(gemm: Gemm, model: BufferModel, widths: ElementWidths = ElementWidths(),
                     order: str = "best", align: int = 8) -> NetworkPlan:
    """A one-layer 'network' for ``scanfuse plan --gemm``: the GEMM as a pointwise layer."""
    check_type("gemm", gemm, Gemm)
    check_type("model", model, BufferModel)
    layer = Layer("gemm", LayerKind.POINTWISE, gemm.K, gemm.N, (1, 1), (1, 1), (0, 0), 1,
                  gemm.M, 1, gemm.M, 1)
    return NetworkPlan("gemm", model, widths,
                       (LayerPlan(layer, plan_gemm(gemm, model, widths, order, align)),), ())

