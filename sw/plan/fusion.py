"""Network-level fusion: find fusable chains, decide which to fuse, choose the best
grouping, total the traffic.

Thesis-style groups are the fusable runs ``[1x1] -> depthwise+ -> 1x1`` inside each block:
a whole MobileNetV2 inverted residual (with its residual add when it has one), a MobileNetV1
depthwise-separable pair, or the 4-layer CP chain that replaces a ResNet-50 3x3. A group is
fused only when a fused schedule fits the buffer *and* moves fewer DRAM bytes than its layers
run one by one; otherwise its layers run unfused and the report says why.

Extended fusion is the best grouping (:func:`extended_groups`): where to cut each run of
blocks into fused groups (chains and pipelines, cut anywhere inside a block or spanning whole
blocks), chosen by dynamic programming with every candidate priced by the exact models.
"""

from dataclasses import dataclass

from ..errors import InvalidOptionError, check_type
from ..network.layers import Layer, LayerKind, Network
from .buffer import BufferModel, ElementWidths
from .layer_models import LayerTraffic, layer_traffic
from .chain import FusedChain, chain_entries_at_lower_bound, plan_chain
from .group import FusedGroup, FusedPlan, Projection, lower_bound_bytes
from .pipeline import FusedPipeline, pipeline_entries_at_lower_bound, plan_pipeline
from .geometry import VerticalStage
from .segment import PER_CHANNEL, NotFusableError, Segment


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
    """A fused group of the best grouping (extended fusion): a pipeline of whole blocks, a
    pipeline or chain cut out of one block, or a thesis-style chain the grouping kept.

    ``replaced_bytes``: what its layers cost under thesis-style fusion (thesis-style groups
    where they fuse, every other layer unfused); ``reason``: why this cut was chosen."""

    group: FusedGroup
    plan: FusedPlan
    replaced_bytes: int
    reason: str = ""

    @property
    def pipeline(self) -> FusedGroup:
        """The group (the name this record had when every extended group was a pipeline)."""
        return self.group


@dataclass(frozen=True)
class FusedNetworkPlan:
    network: str
    model: BufferModel
    widths: ElementWidths
    layers: tuple[LayerTraffic, ...]        # every layer, unfused
    groups: tuple[GroupDecision, ...]
    extended: tuple[ExtendedGroup, ...] = ()
    cuts: tuple["BlockCut", ...] = ()        # the best grouping's choice per run of blocks

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
        """Extended fusion: the best grouping's fused groups plus every other layer unfused."""
        return self._total(extended=True)

    @property
    def thesis_floor_bytes(self) -> int:
        """Payload bytes of thesis-style fusion with every thesis-style group (fused or not)
        at its group lower bound (needed input, weights and output once) and every other
        layer as planned unfused: no schedule of these groups moves less, so a thesis-style
        saving beyond ``1 - floor / unfused`` needs the unfused layers to move less."""
        grouped = {l.name for g in self.groups for l in g.chain.layers}
        rest = sum(t.total_bytes for t in self.layers if t.layer.name not in grouped)
        return rest + sum(lower_bound_bytes(g.chain, self.widths) for g in self.groups)

    @property
    def thesis_compulsory_floor_bytes(self) -> int:
        """Payload bytes of thesis-style fusion with every thesis-style group at its group
        lower bound and every other layer at its own compulsory traffic (input, weights and
        output once, in bytes): a floor for every schedule of every layer, but, unlike
        :attr:`thesis_floor_bytes`, one that the unfused baseline (the same layers, planned)
        does not move with."""
        grouped = {l.name for g in self.groups for l in g.chain.layers}
        # a layer's lower bound counts elements; at the narrowest width it is a floor in bytes
        # (exact when activations and weights are equally wide, as by default)
        narrow = min(self.widths.a, self.widths.b, self.widths.c)
        rest = sum(t.lower_bound * narrow for t in self.layers if t.layer.name not in grouped)
        return rest + sum(lower_bound_bytes(g.chain, self.widths) for g in self.groups)

    def fused_units(self, extended: bool) -> list:
        """The fused groups of a variant: the best grouping (``extended``) or the thesis-style
        groups that fuse."""
        if extended:
            return list(self.extended)
        return [g for g in self.groups if g.fused]

    def _total(self, extended: bool) -> dict:
        units = self.fused_units(extended)
        covered = {l.name for u in units for l in u.group.layers}
        rest = [t for t in self.layers if t.layer.name not in covered]
        totals = self._sum(rest)
        lower = sum(t.lower_bound for t in rest)
        for plan, lb in [(u.plan, u.group.lower_bound()) for u in units]:
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


def _span_name(names: list[str], known: dict) -> str:
    """Name of a run of layers cut out of a block: a thesis-style group's own name when the
    run is one (``known``: layer names -> group name), else first..last
    (s2b1.conv1..conv2.first)."""
    if tuple(names) in known:
        return known[tuple(names)]
    prefix = _common_prefix(names)
    tail = names[-1][len(prefix) + 1:] if names[-1].startswith(prefix + ".") else names[-1]
    return f"{names[0]}..{tail}"


def _dense(layer: Layer) -> bool:
    """A dense (one-group) kxk conv: it may start a segment, producing its hidden channels."""
    return layer.kind is LayerKind.CONV and layer.groups == 1


def _plain_pointwise(layer: Layer) -> bool:
    return layer.is_pointwise and layer.stride == (1, 1)


def _feeds(a: Layer, b: Layer) -> bool:
    return (a.cout, a.h_out, a.w_out) == (b.cin, b.h_in, b.w_in)


#: Longest run of whole blocks one pipeline may span.
MAX_BLOCKS_PER_PIPELINE = 4


@dataclass(frozen=True)
class BlockCut:
    """The best grouping's choice for a run of blocks: its groups (layer names per group; a
    one-layer group runs unfused), the bytes they move, the bytes under thesis-style fusion,
    and the number of candidate groupings priced."""

    blocks: tuple[str, ...]
    groups: tuple[tuple[str, ...], ...]
    bytes: int
    thesis_bytes: int
    candidates: int

    @property
    def reason(self) -> str:
        parts = " | ".join("+".join(n.rsplit(".", 1)[-1] if len(g) > 1 else n for n in g) if len(g) > 1
                           else f"{g[0]} (unfused)" for g in self.groups)
        if self.bytes < self.thesis_bytes:
            why = f"{self.bytes:,} B against {self.thesis_bytes:,} B thesis-style"
        else:
            why = f"no cut beats thesis-style ({self.thesis_bytes:,} B)"
        return f"best of {self.candidates} groupings: {parts}; {why}"

    def to_json(self) -> dict:
        return {"blocks": list(self.blocks), "groups": [list(g) for g in self.groups],
                "bytes": self.bytes, "thesis_bytes": self.thesis_bytes,
                "candidates": self.candidates, "reason": self.reason}


def _split_segments(path: list[Layer]) -> list[Segment] | None:
    """A run of layers, each feeding the next, as segments: cores ``[1x1 or dense conv] ->
    depthwise* -> 1x1`` and lone 1x1 layers; None if it does not split so (e.g. it ends on a
    depthwise)."""
    segments, i = [], 0
    while i < len(path):
        j = i + 1 if path[i].is_pointwise or _dense(path[i]) else i   # optional first conv
        while j < len(path) and path[j].kind in PER_CHANNEL:
            j += 1
        if j == i + 1 and path[i].is_pointwise:          # no depthwise after it: a lone 1x1
            segments.append(path[i:i + 1])
            i += 1
        elif j < len(path) and path[j].is_pointwise and j > i:   # a core ends with its 1x1
            segments.append(path[i:j + 1])
            i = j + 1
        elif j == len(path) and j > i + 1 and (path[i].is_pointwise or _dense(path[i])):
            segments.append(path[i:j])                   # the run ends on a per-channel stage
            i = j
        else:
            return None
    try:
        return [Segment(tuple(seg)) for seg in segments]
    except NotFusableError:
        return None


def _block_path(network: Network, block) -> tuple[list[Layer], Layer | None] | None:
    """A block's main path (the chain of layers from its first layer, each feeding the next)
    and its projection shortcut (or None), found from the data flow rather than layer names.
    At most one other layer may remain: a 1x1 projection from the block input to the block
    output. None if the block has another shape."""
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
    return path, projection


class _Pricer:
    """Prices candidate groups with the exact closed-form models, each geometry once."""

    def __init__(self, layers: dict[str, LayerTraffic], model: BufferModel, widths: ElementWidths,
                 scan_only: bool | None):
        self.layers, self.model, self.widths, self.scan_only = layers, model, widths, scan_only
        self.priced = 0
        self.known: dict = {}        # layer names of thesis-style groups -> their names

    def unfused(self, names) -> int:
        return sum(self.layers[n].total_bytes for n in names)

    def group(self, name: str, path: list[Layer], residual: bool, projection: Layer | None,
              tap_after: str | None = None):
        """(bytes, FusedGroup, FusedPlan) of fusing ``path`` (with the block's residual add
        or projection when the group spans the whole block), or None if it cannot fuse or
        nothing fits. ``tap_after``: a layer of ``path`` whose output the group also writes
        to DRAM (it must end a segment that is not the last)."""
        segments = _split_segments(path)
        if segments is None:
            return None
        taps = ()
        if tap_after is not None:
            ends = [s.layers[-1].name for s in segments[:-1]]
            if tap_after not in ends:
                return None
            taps = (ends.index(tap_after) + 1,)
        self.priced += 1
        try:
            if len(segments) == 1 and projection is None:
                if not segments[0].depthwise:
                    return None         # no per-channel stage: a GEMM chain, not a fused chain
                group = FusedChain(name, tuple(path), residual=residual)
                plan = plan_chain(group, self.model, self.widths, self.scan_only)
            else:
                n = len(segments)
                group = FusedPipeline(name, tuple(segments), ((0, n),) if residual else (),
                                      (Projection(0, n, projection),) if projection is not None else (),
                                      taps)
                plan = plan_pipeline(group, self.model, self.widths)
        except NotFusableError:
            return None
        return None if plan is None else (plan.total_bytes, group, plan)


def _span_group(span) -> FusedGroup | None:
    """The fused group of a span of whole blocks, each ``(block, path, shortcut)``:
    their segments back to back with each block's residual add or projection shortcut.
    Consecutive plain blocks (no residual, no shortcut) are joined into one path before it is
    split into segments, so a stem conv joins the depthwise stage of the next block, or its
    max pool when the two are separate blocks. One segment left is a chain."""
    name = "+".join(b.name for b, _, _ in span)
    segments, residuals, projections = [], [], []
    pending: list[Layer] = []

    def flush() -> bool:
        if pending:
            split = _split_segments(pending)
            if split is None:
                return False
            segments.extend(split)
            pending.clear()
        return True

    for b, path, shortcut in span:
        if shortcut is None and not b.residual:
            pending.extend(path)
            continue
        if not flush():
            return None
        split = _split_segments(path)
        if split is None:
            return None
        start = len(segments)
        segments.extend(split)
        if shortcut is not None:
            projections.append(Projection(start, len(segments), shortcut))
        else:
            residuals.append((start, len(segments)))
    if not flush():
        return None
    try:
        if len(segments) == 1 and not projections:
            if not segments[0].depthwise:
                return None
            return FusedChain(name, segments[0].layers, residual=bool(residuals))
        return FusedPipeline(name, tuple(segments), tuple(residuals), tuple(projections))
    except NotFusableError:
        return None


def _best_run_cut(run, pricer: _Pricer):
    """Dynamic program over the cut points of a run of blocks (each ``(block, path,
    shortcut)``), layer by layer: ``best[j]`` is the cheapest grouping of the first ``j``
    layers of the run's main paths into groups, each

    * a single unfused layer;
    * a fused run of consecutive layers inside one block (not the whole block);
    * a whole block, with its residual add or projection shortcut;
    * whole blocks ``a..b`` (up to :data:`MAX_BLOCKS_PER_PIPELINE`), each with its residual
      or shortcut (:func:`_span_group`);
    * a run across block joins: the end of block ``a`` (not its first layer, unless ``a`` is
      plain: no residual, no shortcut), any plain blocks whole, and the start of block ``b``
      (not its last layer, unless ``b`` is plain), so each block output goes from its
      producer to the next layer on chip. When block ``b`` also reads its input for its
      residual add or shortcut, the group writes that tensor to DRAM as well (a tap:
      written once, never read back by the group).

    A block's projection shortcut runs unfused unless a group spans the whole block; a
    residual add outside such a group is applied as the block output leaves its producer,
    the identity read not counted (the convention of unfused layers and thesis-style groups).
    Returns ``(bytes, [(layer names, (group, plan) or None), ...])``."""
    starts, flat = [0], []
    for _, path, _ in run:
        flat.extend(path)
        starts.append(len(flat))
    n = len(flat)
    block_at = [b for b, (_, path, _) in enumerate(run) for _ in path]
    proj = [(pricer.unfused([p.name]), ((p.name,), None)) if p is not None else (0, None)
            for _, _, p in run]

    def shortcuts(i: int, j: int):
        """Cost and entries of the projections of blocks ending inside [i, j), run unfused."""
        ends = [b for b in range(len(run)) if i <= starts[b + 1] - 1 < j and proj[b][1] is not None]
        return sum(proj[b][0] for b in ends), [proj[b][1] for b in ends]

    best: list = [(0, [])] + [None] * n

    def offer(i: int, j: int, cost: int, entry, with_shortcuts: bool):
        extra, entries = shortcuts(i, j) if with_shortcuts else (0, [])
        total = best[i][0] + cost + extra
        if best[j] is None or total < best[j][0]:
            best[j] = (total, best[i][1] + [entry] + entries)

    def tapped(b: int) -> bool:
        """Whether block b reads its input again (residual add or shortcut): not a plain
        block."""
        return run[b][0].residual or run[b][2] is not None

    def floor(i: int, j: int, tapped: bool) -> int:
        """Bytes no fused schedule of ``flat[i:j]`` moves less than: the input rows it needs
        (when no stride skips rows), its weights and its output (and a tapped block output)
        once; cheap, so hopeless candidates are not priced."""
        w = sum(l.cin // l.groups * l.kernel[0] * l.kernel[1] * l.cout for l in flat[i:j]
                if l.kind is not LayerKind.POOL)
        last = flat[j - 1]
        out = last.h_out * last.w_out * last.cout
        tap = flat[starts[block_at[j - 1]] - 1] if tapped else None
        tap_out = tap.h_out * tap.w_out * tap.cout if tap is not None else 0
        first = flat[i]
        x = first.h_in * first.w_in * first.cin
        if any(l.stride[0] > l.kernel[0] for l in flat[i:j]):
            x = 0                    # a stride may skip input rows: leave X out of the floor
        else:                        # every stride within its kernel: a contiguous row range
            lo, hi = 0, last.h_out
            for l in reversed(flat[i:j]):
                lo, hi = VerticalStage(l.kernel[0], l.stride[0], l.padding[0], l.h_in, l.h_out).input_range(lo, hi)
            x = int(hi - lo) * first.w_in * first.cin
        return x * pricer.widths.a + w * pricer.widths.b + (out + tap_out) * pricer.widths.c

    for j in range(1, n + 1):
        b = block_at[j - 1]
        for i in range(j - 1, -1, -1):      # shortest first: the unfused layer bounds best[j]
            names = tuple(l.name for l in flat[i:j])
            if j - i == 1:
                offer(i, j, pricer.unfused(names), (names, None), True)
                continue
            a = block_at[i]
            within = a == b and (i, j) != (starts[b], starts[b + 1])
            # across joins: the end of block a and the start of block b, every block between
            # them plain (no residual, no shortcut) and whole; a plain block may also be
            # taken whole at either end (nothing ties its ends), so how plain layers are
            # split into blocks (a stem and its pool, a pool and the FC) does not matter
            across = (a < b and b - a <= MAX_BLOCKS_PER_PIPELINE
                      and (i > starts[a] or not tapped(a)) and (j < starts[b + 1] or not tapped(b))
                      and not any(tapped(k) for k in range(a + 1, b)))
            if not (within or across) or best[i][0] + floor(i, j, across and tapped(b)) >= best[j][0]:
                continue
            tap = None
            if across and tapped(b):
                tap = flat[starts[b] - 1].name      # block b's input, which b reads again
            priced = pricer.group(_span_name(list(names), pricer.known), flat[i:j], False, None, tap)
            if priced is not None:
                offer(i, j, priced[0], (names, (priced[1], priced[2])), True)
        if j == starts[b + 1]:                      # block b ends here: whole-block groups
            block, path, projection = run[b]
            if len(path) > 1:
                priced = pricer.group(block.name, path, block.residual, projection)
                if priced is not None:
                    offer(starts[b], j, priced[0], (tuple(l.name for l in priced[1].layers),
                                                    (priced[1], priced[2])), False)
            for a in range(max(0, b + 1 - MAX_BLOCKS_PER_PIPELINE), b):
                group = _span_group(run[a:b + 1])
                if group is None:
                    continue
                pricer.priced += 1
                plan = (plan_chain(group, pricer.model, pricer.widths, pricer.scan_only)
                        if isinstance(group, FusedChain) else plan_pipeline(group, pricer.model, pricer.widths))
                if plan is not None:
                    offer(starts[a], j, plan.total_bytes,
                          (tuple(l.name for l in group.layers), (group, plan)), False)
    return best[n]


def extended_groups(network: Network, decided: list[GroupDecision], layers: dict[str, LayerTraffic],
                    model: BufferModel, widths: ElementWidths, scan_only: bool | None = None
                    ) -> tuple[list[ExtendedGroup], list[BlockCut]]:
    """The best grouping: where to cut the network into fused groups, by dynamic programming.

    Blocks are split into runs of consecutive blocks that can chain. Within a run a dynamic
    program over the layers' cut points (:func:`_best_run_cut`) picks groups inside a block,
    whole blocks with their shortcuts, spans of up to MAX_BLOCKS_PER_PIPELINE whole blocks,
    and groups across one block join, every candidate priced by the exact models (a
    thesis-style chain is one of the candidates). Blocks outside any run keep their
    thesis-style decisions.
    """
    group_of = {l.name: g for g in decided for l in g.chain.layers}
    pricer = _Pricer(layers, model, widths, scan_only)
    pricer.known = {tuple(l.name for l in g.chain.layers): g.chain.name for g in decided}

    def thesis_bytes(names) -> int:
        total, seen = 0, set()
        for name in names:
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
        found = _block_path(network, block)
        if found is None:
            runs.append(current)
            current = []
            continue
        if current:
            prev_last = current[-1][1][-1]
            first = found[0][0]
            if (prev_last.cout, prev_last.h_out, prev_last.w_out) != (first.cin, first.h_in, first.w_in):
                runs.append(current)
                current = []
        current.append((block, found[0], found[1]))
    runs.append(current)

    chosen, cuts = [], []
    for run in runs:
        if not run:
            continue
        start_priced = pricer.priced
        best = _best_run_cut(run, pricer)
        all_names = [l for b, _, _ in run for l in b.layers]
        cut = BlockCut(tuple(b.name for b, _, _ in run), tuple(names for names, _ in best[1]),
                       best[0], thesis_bytes(all_names), pricer.priced - start_priced)
        cuts.append(cut)
        for names, fused in best[1]:
            if fused is not None:
                group, plan = fused
                chosen.append(ExtendedGroup(group, plan, thesis_bytes(names),
                                            f"{plan.total_bytes:,} B against {thesis_bytes(names):,} B "
                                            f"thesis-style; {cut.reason}"))
    # blocks outside every run keep their thesis-style groups
    in_runs = {l for run in runs for b, _, _ in run for l in b.layers}
    for g in decided:
        if g.fused and not ({l.name for l in g.chain.layers} & in_runs):
            chosen.append(ExtendedGroup(g.chain, g.plan, g.plan.total_bytes, "thesis-style group"))
    return chosen, cuts


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
    pipelines, cuts = extended_groups(network, groups, by_name, model, widths, scan_only) if extended else ([], [])
    return FusedNetworkPlan(network.name, model, widths, layers, tuple(groups), tuple(pipelines), tuple(cuts))


def entries_at_lower_bound(group: FusedGroup, psum_entries: int = 1,
                           widths: ElementWidths = ElementWidths()) -> int | None:
    """The smallest buffer (entries) at which the planner reaches ``group``'s lower bound
    (a chain's or a pipeline's search); each geometry is searched once."""
    key = (type(group).__name__, group.geometry_key(), psum_entries, widths)
    if key not in _AT_LOWER_BOUND:
        if isinstance(group, FusedChain):
            _AT_LOWER_BOUND[key] = chain_entries_at_lower_bound(group, psum_entries, widths)
        else:
            _AT_LOWER_BOUND[key] = pipeline_entries_at_lower_bound(group, psum_entries)
    return _AT_LOWER_BOUND[key]


_AT_LOWER_BOUND: dict = {}
