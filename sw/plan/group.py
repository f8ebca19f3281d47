"""The fused group: what thesis-style chains and extended pipelines share, written once.

A *fused group* runs one or more :class:`~scanfuse.plan.segment.Segment` s back to back over
tensors ``T_0 = X .. T_n = Y`` with every tensor between them on chip, optionally adding a
tensor into a later one (a residual) or a 1x1 projection of it (a shortcut), and optionally
also storing a tensor between segments to DRAM (a *tap*: a block output that a group spanning
the join into the next block keeps on chip for the next layer, but that a later residual add
or shortcut still reads from DRAM). A thesis-style
chain (:class:`~scanfuse.plan.chain.FusedChain`) is the one-segment group; an extended
pipeline (:class:`~scanfuse.plan.pipeline.FusedPipeline`) has two or more. The two differ only
in the loop nests their planners search; everything below is common to both:

* :class:`FusedGroup`: the geometry (tensor shapes, weight units, the per-strip row windows of
  every tensor, the group lower bound);
* :class:`StripFacts`: the per-``Tr`` quantities both traffic models are built from;
* :class:`FusedTraffic`: the traffic record (elements; bytes through ``ElementWidths``);
* :class:`FusedPlan`: the plan record (group, schedule, traffic, on-chip peak).

Sizes are in elements (= buffer entries at ``psum_entries`` 1) unless a name says bytes.
"""

from dataclasses import dataclass

import numpy as np

from ..network.layers import Layer
from .buffer import BufferModel, ElementWidths, PlanBytes
from .geometry import StripWalk, strip_bounds
from .segment import Segment

__all__ = ["Projection", "FusedGroup", "StripFacts", "FusedTraffic", "FusedPlan"]


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


class FusedGroup:
    """Geometry shared by every fused group. A subclass provides ``name``, ``layers``,
    ``segments`` (tuple of :class:`Segment`), ``residuals`` ((src, dst) tensor pairs) and
    ``projections`` (tuple of :class:`Projection`), ``taps`` (indices ``0 < i < n`` of the
    tensors between segments that are also written to DRAM, each row once; default none), and
    ``kind`` (the unit kind evaluate reports: ``"fused"`` or ``"pipeline"``)."""

    kind = "fused"
    segments: tuple[Segment, ...]
    residuals: tuple[tuple[int, int], ...]
    projections: tuple[Projection, ...]
    taps: tuple[int, ...] = ()

    @property
    def weight_units(self) -> tuple:
        """Everything with weights, in the order of a schedule's per-unit fields: segments,
        then projections."""
        return tuple(self.segments) + tuple(self.projections)

    @property
    def weight_operands(self) -> tuple[str, ...]:
        """Step-list operand of each weight unit: ``W`` for a one-unit group, else
        ``W1``..``Wu``."""
        units = self.weight_units
        return ("W",) if len(units) == 1 else tuple(f"W{u + 1}" for u in range(len(units)))

    def tensor_shape(self, i: int) -> tuple[int, int, int]:
        """(rows, width, channels) of T_i (T_0 = X, T_n = Y)."""
        if i == 0:
            l = self.segments[0].layers[0]
            return l.h_in, l.w_in, l.cin
        l = self.segments[i - 1].layers[-1]
        return l.h_out, l.w_out, l.cout

    @property
    def x_shape(self) -> tuple[int, int, int]:
        """Group input (rows, width, channels)."""
        return self.tensor_shape(0)

    @property
    def y_shape(self) -> tuple[int, int, int]:
        """Group output (rows, width, channels)."""
        return self.tensor_shape(len(self.segments))

    @property
    def weights(self) -> int:
        return sum(u.weights for u in self.weight_units)

    def windows(self, tr: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per tensor T_0..T_n, per output strip of ``tr`` rows, the rows [lo, hi) that must be
        on chip: the rows segment i+1 reads to compute T_{i+1}'s *new* rows (rows an earlier
        strip computed stay in T_{i+1}'s own line buffer, so their inputs are not held),
        widened to the rows a residual or projection reads."""
        n = len(self.segments)
        a, b = strip_bounds(self.tensor_shape(n)[0], tr)
        wins = [None] * (n + 1)
        wins[n] = (a, b)
        for i in range(n, 0, -1):
            computed = wins[i] if i == n else self.new_rows(*wins[i])
            lo, hi = self.segments[i - 1].input_rows(*computed)
            empty = computed[1] <= computed[0]     # nothing new: hold what the last strip held
            lo = np.maximum.accumulate(np.where(empty, 0, lo))
            hi = np.maximum.accumulate(np.where(empty, 0, hi))
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

    @property
    def x_needed(self) -> int:
        """Elements of X any schedule must read (rows a stride skips are never needed)."""
        lo, hi = self.windows(self.y_shape[0])[0]
        h, w, c = self.x_shape
        return int((hi - lo).sum()) * w * c

    @property
    def tap_elements(self) -> int:
        """Elements of the tapped tensors (each written once by any schedule)."""
        return sum(int(np.prod(self.tensor_shape(i))) for i in self.taps)

    def lower_bound(self) -> int:
        """Group lower bound in elements: needed input, all weights and the output, once
        (and every tapped tensor, written once)."""
        return self.x_needed + self.weights + int(np.prod(self.y_shape)) + self.tap_elements

    def geometry_key(self) -> tuple:
        """Everything a schedule of the group depends on (not the layer names)."""
        def key(l: Layer) -> tuple:
            return (l.kind, l.cin, l.cout, l.kernel, l.stride, l.padding, l.h_in, l.w_in)
        return (tuple(tuple(map(key, s.layers)) for s in self.segments), tuple(self.residuals),
                tuple((p.src, p.dst, key(p.layer)) for p in self.projections), tuple(self.taps))


class StripFacts:
    """Per-``tr`` quantities of a group shared by every chunk size and residency choice.

    ``strips``: output strips; ``x_walk``: the line-buffered walk over X's windows, ``x_row``
    elements per X row, ``x`` X elements one pass reads, ``x_buf`` the widest X window;
    ``y_row``/``y_first``/``y_last``/``y_strip_max``/``y_total``: Y elements per row, in the
    first, last and widest strip, in all; per weight unit: ``active`` strips (strips where it
    has new rows) and ``temp_per_channel`` (on-chip temporaries per hidden channel, widest
    strip); ``fixed``: on-chip entries of the tensor windows between segments and of Y's
    accumulators at ``psum_entries`` entries per accumulator (pipelines' footprint).
    """

    def __init__(self, group: FusedGroup, tr: int, psum_entries: int = 1):
        n = len(group.segments)
        wins = group.windows(tr)
        h, w0, cin = group.tensor_shape(0)
        self.x_row = w0 * cin
        self.x_walk = StripWalk.of(*wins[0])
        self.x = int(self.x_walk.passes(1, True)) * self.x_row
        self.x_buf = self.x_walk.widest * self.x_row
        ho, wo, cout = group.tensor_shape(n)
        self.y_row = wo * cout
        out_rows = wins[n][1] - wins[n][0]
        self.strips = len(out_rows)
        self.y_first = int(out_rows[0]) * self.y_row
        self.y_last = int(out_rows[-1]) * self.y_row
        self.y_strip_max = int(out_rows.max()) * self.y_row
        self.y_total = ho * self.y_row
        self.active, self.temp_per_channel, fixed = [], [], self.x_buf
        for i, seg in enumerate(group.segments, start=1):
            lo, hi = wins[i]
            new_lo, new_hi = group.new_rows(lo, hi) if i < n else (lo, hi)
            self.active.append(int((new_hi > new_lo).sum()))
            rows_i, width_i, ch_i = group.tensor_shape(i)
            if i < n:   # a window of finished rows, plus accumulators for the new ones
                fixed += int((hi - lo).max()) * width_i * ch_i
                fixed += int((new_hi - new_lo).max()) * width_i * ch_i * (psum_entries - 1)
            else:
                fixed += int((hi - lo).max()) * width_i * ch_i * psum_entries
            temps = seg.temp_rows(new_lo, new_hi)
            per_strip = sum((thi - tlo) * l.w_out for (tlo, thi), l in zip(temps, seg.temporaries))
            self.temp_per_channel.append(int(np.max(per_strip)) if seg.temporaries else 0)
        for pr in group.projections:    # runs whenever its destination gets new rows
            self.active.append(self.active[pr.dst - 1])
            self.temp_per_channel.append(0)
        self.fixed = fixed


@dataclass(frozen=True)
class FusedTraffic:
    """DRAM traffic of a fused schedule in elements (bytes through ``ElementWidths``): X read,
    weights read, final Y written, Y partial sums spilled and read back (0 for schedules
    that keep every accumulator on chip), tapped tensors written (0 without taps). Fields may
    be numpy arrays (one per chunk size) inside the planners' searches."""

    x_reads: int
    w_reads: int
    y_final_writes: int
    y_psum_writes: int = 0
    y_psum_reads: int = 0
    tap_writes: int = 0

    @property
    def reads(self) -> int:
        return self.x_reads + self.w_reads + self.y_psum_reads

    @property
    def writes(self) -> int:
        return self.y_final_writes + self.y_psum_writes + self.tap_writes

    def read_bytes(self, w: ElementWidths) -> int:
        return self.x_reads * w.a + self.w_reads * w.b + self.y_psum_reads * w.psum

    def write_bytes(self, w: ElementWidths) -> int:
        return (self.y_final_writes + self.tap_writes) * w.c + self.y_psum_writes * w.psum

    def scalar(self) -> "FusedTraffic":
        """The same record with plain ints (after a vectorised search picked one entry)."""
        return FusedTraffic(*(int(v) for v in (self.x_reads, self.w_reads, self.y_final_writes,
                                               self.y_psum_writes, self.y_psum_reads, self.tap_writes)))


@dataclass(frozen=True)
class FusedPlan(PlanBytes):
    """The chosen schedule of a fused group (a chain's
    :class:`~scanfuse.plan.chain.FusedSchedule` or a pipeline's
    :class:`~scanfuse.plan.pipeline.PipelineSchedule`), its exact traffic and on-chip peak
    bound (entries)."""

    group: FusedGroup
    schedule: object
    traffic: FusedTraffic
    onchip_peak: int
    model: BufferModel
    widths: ElementWidths

    @property
    def lower_bound(self) -> int:
        return self.group.lower_bound()

    @property
    def elements(self) -> int:
        """Elements moved (reads + writes)."""
        return self.traffic.reads + self.traffic.writes


def lower_bound_bytes(group: FusedGroup, widths: ElementWidths) -> int:
    """The group lower bound in bytes: needed X at ``widths.a``, weights at ``b``, Y and the
    tapped tensors at ``c``, each once."""
    return (group.x_needed * widths.a + group.weights * widths.b
            + (int(np.prod(group.y_shape)) + group.tap_elements) * widths.c)
