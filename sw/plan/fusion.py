"""Network-level fusion: find fusable chains, decide which to fuse, total the traffic.

Thesis-style groups are the fusable runs ``[1x1] -> depthwise+ -> 1x1`` inside each block:
a whole MobileNetV2 inverted residual (with its residual add when it has one), a MobileNetV1
depthwise-separable pair, or the 4-layer CP chain that replaces a ResNet-50 3x3. A group is
fused only when a fused schedule fits the buffer *and* moves fewer DRAM bytes than its layers
run one by one; otherwise its layers run unfused and the report says why.
"""

from dataclasses import dataclass

from ..errors import InvalidOptionError, check_type
from ..network.layers import Layer, LayerKind, Network
from .buffer import BufferModel, ElementWidths
from .layer_models import LayerTraffic, layer_traffic
from .chain import FusedChain, plan_chain
from .group import FusedGroup, FusedPlan, Projection
from .pipeline import FusedPipeline, plan_pipeline
from .segment import NotFusableError, Segment


@dataclass(frozen=True)
class GroupDecision:
    """A candidate group, its best fused plan (if any) and whether it is fused."""

    chain: FusedChain
    plan: FusedPlan | None
    unfused_bytes: int
    fused: bool
    reason: str

    @property
    def group(self) -> FusedGroup:
        return self.chain


@dataclass(frozen=True)
class ExtendedGroup:
    """A pipeline (extended fusion) that replaces thesis-style groups and unfused layers."""

    pipeline: FusedPipeline
    plan: FusedPlan
    replaced_bytes: int      # what its layers cost without it (thesis-style decisions)

    @property
    def group(self) -> FusedGroup:
        return self.pipeline


@dataclass(frozen=True)
class FusedNetworkPlan:
    network: str
    model: BufferModel
    widths: ElementWidths
    layers: tuple[LayerTraffic, ...]        # every layer, unfused
    groups: tuple[GroupDecision, ...]
    extended: tuple[ExtendedGroup, ...] = ()

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
        """Thesis-style fusion: fused groups plus every other layer unfused."""
        return self._total(extended=False)

    @property
    def total_extended(self) -> dict:
        """Extended fusion: pipelines replace the groups and layers they cover."""
        return self._total(extended=True)

    def _total(self, extended: bool) -> dict:
        pipelines = self.extended if extended else ()
        in_pipeline = {l.name for e in pipelines for l in e.pipeline.layers}
        groups = [g for g in self.groups if g.fused and not ({l.name for l in g.chain.layers} & in_pipeline)]
        covered = in_pipeline | {l.name for g in groups for l in g.chain.layers}
        rest = [t for t in self.layers if t.layer.name not in covered]
        totals = self._sum(rest)
        lower = sum(t.lower_bound for t in rest)
        for plan, lb in [(g.plan, g.chain.lower_bound()) for g in groups] + \
                        [(e.plan, e.pipeline.lower_bound()) for e in pipelines]:
            totals["reads"] += plan.traffic.reads
            totals["writes"] += plan.traffic.writes
            totals["read_bytes"] += plan.read_bytes
            totals["write_bytes"] += plan.write_bytes
            lower += lb
        totals["lower_bound"] = lower
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
    """Shared dotted prefix of layer names: s1b0.conv2.first, ... -> s1b0.conv2."""
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


#: Longest run of MobileNetV2 blocks one pipeline may span.
MAX_BLOCKS_PER_PIPELINE = 4


def _block_segments(network: Network, block) -> tuple[list[Segment], Layer | None] | None:
    """Segments of a whole block and its projection shortcut (or None), found from the data
    flow rather than layer names: the main path is the chain of layers from the block's first
    layer, each feeding the next; it splits into cores ``[1x1] -> depthwise+ -> 1x1`` and lone
    1x1 layers. At most one other layer may remain: a 1x1 projection from the block input to
    the block output. None if the block cannot be a pipeline stage (e.g. a dense 3x3)."""
    layers = [network.layer(n) for n in block.layers]
    path, rest = [layers[0]], []
    for layer in layers[1:]:
        (path if _feeds(path[-1], layer) else rest).append(layer)
    projection = None
    if rest:
        first, last, p = path[0], path[-1], rest[0]
        if (len(rest) > 1 or not p.is_pointwise
                or (p.cin, p.h_in, p.w_in) != (first.cin, first.h_in, first.w_in)
                or (p.cout, p.h_out, p.w_out) != (last.cout, last.h_out, last.w_out)):
            return None
        projection = p
    segments, i = [], 0
    while i < len(path):
        j = i + 1 if path[i].is_pointwise else i        # optional leading 1x1 of a core
        while j < len(path) and path[j].kind is LayerKind.DEPTHWISE:
            j += 1
        if j == i + 1 and path[i].is_pointwise:          # no depthwise after it: a lone 1x1
            segments.append(path[i:i + 1])
            i += 1
        elif j < len(path) and path[j].is_pointwise:     # a core ends with its 1x1
            segments.append(path[i:j + 1])
            i = j + 1
        else:
            return None
    try:
        return [Segment(tuple(seg)) for seg in segments], projection
    except NotFusableError:
        return None


def extended_groups(network: Network, decided: list[GroupDecision], layers: dict[str, LayerTraffic],
                    model: BufferModel, widths: ElementWidths) -> list[ExtendedGroup]:
    """Pipelines that beat the thesis-style decisions for the blocks they cover.

    Blocks are split into runs of consecutive pipeline-able blocks; within a run a dynamic
    program picks the partition into pipelines (up to MAX_BLOCKS_PER_PIPELINE blocks, at least
    two segments) and single blocks that moves the fewest bytes.
    """
    group_of = {l.name: g for g in decided for l in g.chain.layers}

    def baseline_bytes(block) -> int:
        total, seen = 0, set()
        for name in block.layers:
            g = group_of.get(name)
            if g is not None and g.fused:
                if id(g) not in seen:
                    total += g.plan.total_bytes
                    seen.add(id(g))
            else:
                total += layers[name].total_bytes
        return total

    runs, current = [], []
    for block in network.blocks:
        found = _block_segments(network, block)
        if found is None:
            runs.append(current)
            current = []
            continue
        segs, shortcut = found
        if current:
            prev_last = current[-1][1][-1].layers[-1]
            first = segs[0].layers[0]
            if (prev_last.cout, prev_last.h_out, prev_last.w_out) != (first.cin, first.h_in, first.w_in):
                runs.append(current)
                current = []
        current.append((block, segs, shortcut))
    runs.append(current)

    chosen = []
    for run in runs:
        n = len(run)
        best = [(0, [])] + [None] * n          # best[i]: (bytes, groups) for the first i blocks
        for i in range(1, n + 1):
            block = run[i - 1][0]
            single = best[i - 1][0] + baseline_bytes(block)
            best[i] = (single, best[i - 1][1])
            for start in range(max(0, i - MAX_BLOCKS_PER_PIPELINE), i):
                span = run[start:i]
                segments = [seg for _, segs, _ in span for seg in segs]
                if len(segments) < 2:
                    continue
                residuals, projections, offset = [], [], 0
                for b, segs, shortcut in span:
                    if shortcut is not None:
                        projections.append(Projection(offset, offset + len(segs), shortcut))
                    elif b.residual:
                        residuals.append((offset, offset + len(segs)))
                    offset += len(segs)
                try:
                    pipeline = FusedPipeline("+".join(b.name for b, _, _ in span), tuple(segments),
                                             tuple(residuals), tuple(projections))
                except NotFusableError:
                    continue
                plan = plan_pipeline(pipeline, model, widths)
                if plan is None:
                    continue
                replaced = sum(baseline_bytes(b) for b, _, _ in span)
                cost = best[start][0] + plan.total_bytes
                if plan.total_bytes < replaced and cost < best[i][0]:
                    best[i] = (cost, best[start][1] + [ExtendedGroup(pipeline, plan, replaced)])
        chosen.extend(best[n][1])
    return chosen


def plan_fused_network(network: Network, model: BufferModel, widths: ElementWidths = ElementWidths(),
                       order: str = "best", extended: bool = False) -> FusedNetworkPlan:
    """Unfused traffic of every layer plus a fuse-or-not decision for every thesis group;
    with ``extended``, also the pipelines (whole blocks, runs of blocks) that beat them.

    Needs a shared buffer model: fused schedules keep several tensor kinds in one buffer."""
    check_type("network", network, Network)
    check_type("model", model, BufferModel)
    if model.split is not None:
        raise InvalidOptionError("fusion plans a shared buffer; separate A/B/C memories (--split) "
                                 "apply to single GEMM layers only")
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
    pipelines = extended_groups(network, groups, by_name, model, widths) if extended else []
    return FusedNetworkPlan(network.name, model, widths, layers, tuple(groups), tuple(pipelines))
