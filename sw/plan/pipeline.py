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

Traffic (elements): needed X + Y + sum_i W_i * (1 if resident else active strips of i).
"""

from dataclasses import dataclass
from functools import cached_property
from itertools import product

import numpy as np

from ..network.layers import Layer, LayerKind
from .buffer import BufferModel, ElementWidths, PlanBytes
from .segment import NotFusableError, Segment
from .geometry import StripWalk, VerticalStage, strip_bounds


@dataclass(frozen=True)
class Projection:
    """A projection shortcut: a (possibly strided) 1x1 conv from tensor ``src`` whose output
    is added into tensor ``dst`` (e.g. a first bottleneck's downsample, X -> block output).
    Chunked over its input channels like a lone 1x1 segment."""

    src: int
    dst: int
    layer: Layer

    @property
    def hidden(self) -> int:
        return self.layer.cin

    @property
    def weights_per_channel(self) -> int:
        return self.layer.cout

    @property
    def weights(self) -> int:
        return self.layer.cin * self.layer.cout

    @property
    def temporaries(self) -> list[Layer]:
        return []


@dataclass(frozen=True)
class FusedPipeline:
    """Segments run back to back over tensors T_0 = X .. T_n = Y.

    ``residuals``: (a, b) pairs adding T_a to T_b (equal shapes). ``projections``: 1x1
    shortcuts from T_src added into T_dst.
    """

    name: str
    segments: tuple[Segment, ...]
    residuals: tuple[tuple[int, int], ...] = ()
    projections: tuple[Projection, ...] = ()

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

    @property
    def weight_units(self) -> tuple:
        """Everything with weights, in schedule order of residency flags: segments, then
        projections."""
        return self.segments + self.projections

    @property
    def layers(self) -> tuple[Layer, ...]:
        return tuple(l for s in self.segments for l in s.layers) + tuple(p.layer for p in self.projections)

    def tensor_shape(self, i: int) -> tuple[int, int, int]:
        """(rows, width, channels) of T_i."""
        if i == 0:
            l = self.segments[0].layers[0]
            return l.h_in, l.w_in, l.cin
        l = self.segments[i - 1].layers[-1]
        return l.h_out, l.w_out, l.cout

    @property
    def weights(self) -> int:
        return sum(u.weights for u in self.weight_units)

    def windows(self, tr: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per tensor T_0..T_n, per strip, the rows [lo, hi) that must be on chip."""
        n = len(self.segments)
        a, b = strip_bounds(self.tensor_shape(n)[0], tr)
        wins = [None] * (n + 1)
        wins[n] = (a, b)
        for i in range(n, 0, -1):
            lo, hi = self.segments[i - 1].input_rows(*wins[i])
            for src, dst in self.residuals:      # a residual source must hold the rows it adds
                if src == i - 1:
                    lo, hi = np.minimum(lo, wins[dst][0]), np.maximum(hi, wins[dst][1])
            for pr in self.projections:          # and a projection source the rows it reads
                if pr.src == i - 1:
                    s = pr.layer.stride[0]
                    dlo, dhi = wins[pr.dst]
                    lo, hi = np.minimum(lo, dlo * s), np.maximum(hi, (dhi - 1) * s + 1)
            wins[i - 1] = (lo, hi)
        return wins

    @staticmethod
    def new_rows(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rows each strip must add to a line buffer whose windows only move down."""
        prev_hi = np.concatenate([[0], hi[:-1]])
        start = np.maximum(lo, prev_hi)
        return start, np.maximum(hi, start)

    def lower_bound(self) -> int:
        wins = self.windows(self.tensor_shape(len(self.segments))[0])
        h, w, c = self.tensor_shape(0)
        x = int((wins[0][1] - wins[0][0]).sum()) * w * c
        return x + self.weights + int(np.prod(self.tensor_shape(len(self.segments))))


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


@dataclass(frozen=True)
class PipelineTraffic:
    x_reads: int
    w_reads: int
    y_writes: int

    @property
    def reads(self) -> int:
        return self.x_reads + self.w_reads

    @property
    def writes(self) -> int:
        return self.y_writes

    def read_bytes(self, w: ElementWidths) -> int:
        return self.x_reads * w.a + self.w_reads * w.b

    def write_bytes(self, w: ElementWidths) -> int:
        return self.y_writes * w.c


class _Facts:
    """Per-``tr`` geometry: traffic terms and footprint pieces (entries)."""

    def __init__(self, p: FusedPipeline, tr: int, psum_entries: int):
        n = len(p.segments)
        wins = p.windows(tr)
        h, w0, cin = p.tensor_shape(0)
        self.x = StripWalk.of(*wins[0]).passes(1, True) * w0 * cin
        self.x_buf = int((wins[0][1] - wins[0][0]).max()) * w0 * cin
        ho, wo, cout = p.tensor_shape(n)
        self.y = ho * wo * cout
        self.strips = len(wins[n][0])
        self.active, self.temp_per_channel, fixed = [], [], self.x_buf
        for i, seg in enumerate(p.segments, start=1):
            lo, hi = wins[i] if i < n else wins[n]
            new_lo, new_hi = p.new_rows(lo, hi) if i < n else (lo, hi)
            self.active.append(int((new_hi > new_lo).sum()))
            rows_i, width_i, ch_i = p.tensor_shape(i)
            if i < n:   # a window of finished rows, plus accumulators for the new ones
                fixed += int((hi - lo).max()) * width_i * ch_i
                fixed += int((new_hi - new_lo).max()) * width_i * ch_i * (psum_entries - 1)
            else:
                fixed += int((hi - lo).max()) * width_i * ch_i * psum_entries
            temps = seg.temp_rows(new_lo, new_hi)
            per_strip = sum((thi - tlo) * l.w_out for (tlo, thi), l in zip(temps, seg.temporaries))
            self.temp_per_channel.append(int(np.max(per_strip)) if seg.temporaries else 0)
        for pr in p.projections:    # runs whenever its destination gets new rows
            self.active.append(self.active[pr.dst - 1])
            self.temp_per_channel.append(0)
        self.fixed = fixed


def pipeline_traffic(p: FusedPipeline, sched: PipelineSchedule, facts: _Facts | None = None):
    f = facts or _Facts(p, sched.tr, 1)
    w = sum(u.weights * (1 if r else a) for u, r, a in zip(p.weight_units, sched.resident, f.active))
    return PipelineTraffic(int(f.x), int(w), int(f.y))


def pipeline_footprint(p: FusedPipeline, sched: PipelineSchedule, psum_entries: int = 1) -> int:
    f = _Facts(p, sched.tr, psum_entries)
    resident = sum(u.weights for u, r in zip(p.weight_units, sched.resident) if r)
    chunk = max((0 if r else tc * u.weights_per_channel) + tc * t
                for u, tc, r, t in zip(p.weight_units, sched.tcs, sched.resident, f.temp_per_channel))
    return f.fixed + resident + chunk


@dataclass(frozen=True)
class PipelinePlan(PlanBytes):
    pipeline: FusedPipeline
    schedule: PipelineSchedule
    traffic: PipelineTraffic
    onchip_peak: int
    model: BufferModel
    widths: ElementWidths


    @property
    def lower_bound(self) -> int:
        return self.pipeline.lower_bound()


#: Pipelines with up to this many segments try every weight-residency combination.
EXHAUSTIVE_SEGMENTS = 5


def _residency_choices(p: FusedPipeline, f: "_Facts", model: BufferModel):
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
                  widths: ElementWidths = ElementWidths()) -> PipelinePlan | None:
    """Fewest DRAM bytes over ``tr``, weight residency per segment and the largest chunks
    that fit (chunk sizes change steps, not traffic). None if nothing fits."""
    best = None
    n = len(p.segments)
    units = p.weight_units
    for tr in range(1, p.tensor_shape(n)[0] + 1):
        f = _Facts(p, tr, model.psum_entries)
        for resident in _residency_choices(p, f, model):
            budget = model.entries - f.fixed - sum(u.weights for u, r in zip(units, resident) if r)
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
    return PipelinePlan(p, sched, traffic, pipeline_footprint(p, sched, model.psum_entries), model, widths)
