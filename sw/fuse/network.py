"""Network-level fusion: find fusable chains, decide which to fuse, total the traffic.

Thesis-style groups are the fusable runs ``[1x1] -> depthwise+ -> 1x1`` inside each block:
a whole MobileNetV2 inverted residual (with its residual add when it has one), a MobileNetV1
depthwise-separable pair, or the 4-layer CP chain that replaces a ResNet-50 3x3. A group is
fused only when a fused schedule fits the buffer *and* moves fewer DRAM bytes than its layers
run one by one; otherwise its layers run unfused and the report says why.
"""

from dataclasses import dataclass

from ..network.layers import Layer, LayerKind, Network
from ..plan.buffer import BufferModel, ElementWidths
from ..plan.layer_models import LayerTraffic, layer_traffic
from .chain import FusedChain, FusedPlan, plan_chain


@dataclass(frozen=True)
class GroupDecision:
    """A candidate group, its best fused plan (if any) and whether it is fused."""

    chain: FusedChain
    plan: FusedPlan | None
    unfused_bytes: int
    fused: bool
    reason: str


@dataclass(frozen=True)
class FusedNetworkPlan:
    network: str
    model: BufferModel
    widths: ElementWidths
    layers: tuple[LayerTraffic, ...]        # every layer, unfused
    groups: tuple[GroupDecision, ...]

    def _sum(self, items) -> dict:
        keys = ("reads", "writes", "read_bytes", "write_bytes")
        return {k: sum(getattr(i, k) for i in items) for k in keys}

    @property
    def total_unfused(self) -> dict:
        totals = self._sum(self.layers)
        totals["lower_bound"] = sum(t.lower_bound for t in self.layers)
        return totals

    @property
    def total(self) -> dict:
        fused_names = {l.name for g in self.groups if g.fused for l in g.chain.layers}
        rest = [t for t in self.layers if t.layer.name not in fused_names]
        totals = self._sum(rest)
        for g in self.groups:
            if g.fused:
                totals["reads"] += g.plan.traffic.reads
                totals["writes"] += g.plan.traffic.writes
                totals["read_bytes"] += g.plan.read_bytes
                totals["write_bytes"] += g.plan.write_bytes
        totals["lower_bound"] = (sum(t.lower_bound for t in rest)
                                 + sum(g.chain.lower_bound() for g in self.groups if g.fused))
        return totals


def thesis_groups(network: Network) -> list[FusedChain]:
    """Fusable ``[1x1] -> depthwise+ -> 1x1`` runs within each block."""
    chains = []
    for block in network.blocks:
        layers = [network.layer(name) for name in block.layers]
        i = 0
        while i < len(layers):
            if layers[i].kind is not LayerKind.DEPTHWISE:
                i += 1
                continue
            start = i - 1 if i > 0 and _plain_pointwise(layers[i - 1]) and _feeds(layers[i - 1], layers[i]) else i
            end = i
            while end + 1 < len(layers) and layers[end + 1].kind is LayerKind.DEPTHWISE and _feeds(layers[end], layers[end + 1]):
                end += 1
            if end + 1 < len(layers) and _plain_pointwise(layers[end + 1]) and _feeds(layers[end], layers[end + 1]):
                run = tuple(layers[start:end + 2])
                whole = len(run) == len(layers)
                name = block.name if whole else _common_prefix([l.name for l in run])
                chains.append(FusedChain(name, run, residual=block.residual and whole))
                i = end + 2
            else:
                i = end + 1
    return chains


def _common_prefix(names: list[str]) -> str:
    """Shared dotted prefix of layer names: s1b0.conv2.cp1, ... -> s1b0.conv2."""
    parts = [n.split(".") for n in names]
    common = []
    for pieces in zip(*parts):
        if len(set(pieces)) != 1:
            break
        common.append(pieces[0])
    return ".".join(common) or names[0]


def _plain_pointwise(layer: Layer) -> bool:
    return layer.is_pointwise and layer.stride == (1, 1)


def _feeds(a: Layer, b: Layer) -> bool:
    return (a.cout, a.h_out, a.w_out) == (b.cin, b.h_in, b.w_in)


def plan_fused_network(network: Network, model: BufferModel, widths: ElementWidths = ElementWidths(),
                       order: str = "best") -> FusedNetworkPlan:
    """Unfused traffic of every layer plus a fuse-or-not decision for every thesis group."""
    layers = tuple(layer_traffic(layer, model, widths, order) for layer in network.layers)
    by_name = {t.layer.name: t for t in layers}
    scan_only = None if order == "best" else order == "scan"
    groups = []
    for chain in thesis_groups(network):
        unfused = sum(by_name[l.name].total_bytes for l in chain.layers)
        plan = plan_chain(chain, model, widths, scan_only)
        if plan is None:
            groups.append(GroupDecision(chain, None, unfused, False,
                                        f"no fused schedule fits {model.entries} entries: layers run unfused"))
        elif plan.total_bytes >= unfused:
            groups.append(GroupDecision(chain, plan, unfused, False,
                                        f"fusion would move {plan.total_bytes:,} B against {unfused:,} B unfused"))
        else:
            groups.append(GroupDecision(chain, plan, unfused, True, "fused"))
    return FusedNetworkPlan(network.name, model, widths, layers, tuple(groups))
