"""Extended fusion: pipelines of fused segments with on-chip tensors between them.

Beyond the thesis's chains, a *pipeline* runs several segments back to back, strip by strip,
so that the tensors *between* segments never reach DRAM either. A segment is a chunked core
(``[1x1] -> depthwise* -> 1x1``, chunked over its hidden channels exactly as in
:mod:`scanfuse.plan.chain`) or a lone 1x1 (chunked over its input channels). Examples: a whole
ResNet-50 bottleneck (conv1, the CP chain, conv3 and the identity shortcut), or several
MobileNetV2 inverted residuals in a row.

Execution is strips outer: for output strip j, every tensor ``T_i`` between segments needs a
window of rows ``R_i(j)`` (back-projected through all later depthwise stages, widened to
cover rows a residual add reads). Windows only move down, so each tensor is a line buffer:
rows below the window are freed and only the new rows ``N_i(j)`` are computed. X rows are
loaded once, Y rows stored once. Segment i's weights are either *resident* (loaded once,
kept) or reloaded chunk by chunk on every strip where the segment has new rows.

Traffic (elements): needed X + Y + sum_i W_i * (1 if resident else active strips of i),
plus every tapped tensor (a tensor between segments also stored to DRAM) once.
"""

from dataclasses import dataclass
from itertools import product

from ..network.layers import Layer
from .buffer import BufferModel, ElementWidths
from .group import FusedGroup, FusedPlan, FusedTraffic, Projection, StripFacts
from .segment import NotFusableError, Segment


@dataclass(frozen=True)
class FusedPipeline(FusedGroup):
    """Segments run back to back over tensors T_0 = X .. T_n = Y.

    ``residuals``: (a, b) pairs adding T_a to T_b (equal shapes). ``projections``: 1x1
    shortcuts from T_src added into T_dst. ``taps``: tensors between segments also written
    to DRAM (each row once, when the window leaves it).
    """

    name: str
    segments: tuple[Segment, ...]
    residuals: tuple[tuple[int, int], ...] = ()
    projections: tuple[Projection, ...] = ()
    taps: tuple[int, ...] = ()

    kind = "pipeline"

    def __post_init__(self):
        if len(self.segments) < 2:
            raise NotFusableError(f"{self.name}: a pipeline has at least two segments")
        for a, b in zip(self.segments, self.segments[1:]):
            x, y = a.layers[-1], b.layers[0]
            if (x.cout, x.h_out, x.w_out) != (y.cin, y.h_in, y.w_in):
                raise NotFusableError(f"{self.name}: {x.name} does not feed {y.name}")
        for src, dst in self.residuals:
            if not 0 <= src < dst <= len(self.segments) or self.tensor_shape(src) != self.tensor_shape(dst):
                raise NotFusableError(f"{self.name}: residual {src}->{dst} needs equal shapes")
        for pr in self.projections:
            l = pr.layer
            if (not l.is_pointwise or not 0 <= pr.src < pr.dst <= len(self.segments)
                    or (l.h_in, l.w_in, l.cin) != self.tensor_shape(pr.src)
                    or (l.h_out, l.w_out, l.cout) != self.tensor_shape(pr.dst)):
                raise NotFusableError(f"{self.name}: projection {l.name} does not map T{pr.src} onto T{pr.dst}")
        for t in self.taps:
            if not 0 < t < len(self.segments):
                raise NotFusableError(f"{self.name}: tap T{t} is not a tensor between segments")

    @property
    def layers(self) -> tuple[Layer, ...]:
        return tuple(l for s in self.segments for l in s.layers) + tuple(p.layer for p in self.projections)


@dataclass(frozen=True)
class PipelineSchedule:
    """``tr`` output rows per strip; per weight unit (segments, then projections) its chunk
    size and weight residency."""

    tr: int
    tcs: tuple[int, ...]
    resident: tuple[bool, ...]

    def describe(self) -> str:
        segs = ", ".join(f"Tc={tc}{' W-resident' if r else ''}" for tc, r in zip(self.tcs, self.resident))
        return f"pipeline Tr={self.tr} [{segs}]"


def pipeline_traffic(p: FusedPipeline, sched: PipelineSchedule,
                     facts: StripFacts | None = None) -> FusedTraffic:
    """Exact traffic (elements) of ``sched``: X once, Y once, each weight unit once if
    resident, else once per strip where it has new rows, each tapped tensor once."""
    f = facts or StripFacts(p, sched.tr, 1)
    w = sum(u.weights * (1 if r else a) for u, r, a in zip(p.weight_units, sched.resident, f.active))
    return FusedTraffic(int(f.x), int(w), int(f.y_total), tap_writes=p.tap_elements)


def pipeline_footprint(p: FusedPipeline, sched: PipelineSchedule, psum_entries: int = 1) -> int:
    f = StripFacts(p, sched.tr, psum_entries)
    resident = sum(u.weights for u, r in zip(p.weight_units, sched.resident) if r)
    chunk = max((0 if r else tc * u.weights_per_channel) + tc * t
                for u, tc, r, t in zip(p.weight_units, sched.tcs, sched.resident, f.temp_per_channel))
    return f.fixed + resident + chunk


#: Pipelines with up to this many segments try every weight-residency combination.
EXHAUSTIVE_SEGMENTS = 5


def _residency_choices(p: FusedPipeline, f: StripFacts, model: BufferModel):
    """Weight-residency combinations to evaluate: all of them for short pipelines; for long
    ones, the greedy prefixes that make segments resident in order of traffic saved per entry
    (a knapsack heuristic; the search is then not exhaustive)."""
    units = p.weight_units
    n = len(units)
    if n <= EXHAUSTIVE_SEGMENTS:
        yield from product((True, False), repeat=n)
        return
    saving = [(u.weights * (a - 1)) / u.weights for u, a in zip(units, f.active)]
    order = sorted(range(n), key=lambda i: (-saving[i], units[i].weights))
    resident = [False] * n
    yield tuple(resident)
    for i in order:
        resident[i] = True
        yield tuple(resident)


def plan_pipeline(p: FusedPipeline, model: BufferModel,
                  widths: ElementWidths = ElementWidths()) -> FusedPlan | None:
    """Fewest DRAM bytes over ``tr``, weight residency per segment and the largest chunks
    that fit (chunk sizes change steps, not traffic). None if nothing fits. Searched once
    per geometry (repeated blocks plan once)."""
    key = (p.geometry_key(), model, widths)
    if key not in _SEARCHED:
        _SEARCHED[key] = _search(p, model, widths)
    found = _SEARCHED[key]
    if found is None:
        return None
    sched, traffic, peak = found
    return FusedPlan(p, sched, traffic, peak, model, widths)


#: Search results by (pipeline geometry, model, widths).
_SEARCHED: dict = {}


def _search(p: FusedPipeline, model: BufferModel, widths: ElementWidths):
    best = None
    n = len(p.segments)
    units = p.weight_units
    for tr in range(1, p.tensor_shape(n)[0] + 1):
        f = StripFacts(p, tr, model.psum_entries)
        if f.fixed + max(f.temp_per_channel) > model.entries:
            break       # windows only grow with tr: no taller strip fits either
        for resident in _residency_choices(p, f, model):
            budget = model.entries - f.fixed - sum(u.weights for u, r in zip(units, resident) if r)
            if budget < 0:
                continue    # the resident weights alone overflow (a unit with nothing per
                            # channel, a resident lone 1x1, would not catch it below)
            tcs = []
            for s, r, t in zip(units, resident, f.temp_per_channel):
                per_channel = (0 if r else s.weights_per_channel) + t
                tc = min(s.hidden, budget // per_channel) if per_channel else s.hidden
                if tc < 1:
                    break
                tcs.append(int(tc))
            if len(tcs) < len(units):
                continue
            sched = PipelineSchedule(tr, tuple(tcs), resident)
            traffic = pipeline_traffic(p, sched, f)
            cost = traffic.read_bytes(widths) + traffic.write_bytes(widths)
            steps = f.strips * sum(-(-u.hidden // tc) for u, tc in zip(units, tcs))
            key = (cost, steps)
            if best is None or key < best[0]:
                best = (key, sched, traffic)
    if best is None:
        return None
    _, sched, traffic = best
    return sched, traffic, pipeline_footprint(p, sched, model.psum_entries)


def pipeline_entries_at_lower_bound(p: FusedPipeline, psum_entries: int = 1) -> int:
    """The smallest buffer (entries) at which :func:`plan_pipeline` reaches the group lower
    bound. Traffic is at the bound exactly when every weight unit is read once: resident, or
    active on a single strip; so per ``tr`` the least footprint keeps resident only the units
    active on several strips, with chunks of one channel."""
    best = None
    units = p.weight_units
    for tr in range(1, p.y_shape[0] + 1):
        f = StripFacts(p, tr, psum_entries)
        resident = tuple(a > 1 for a in f.active)
        sched = PipelineSchedule(tr, (1,) * len(units), resident)
        entries = pipeline_footprint(p, sched, psum_entries)
        if best is None or entries < best:
            best = entries
    return best
