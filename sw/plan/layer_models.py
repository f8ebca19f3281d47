"""Unfused DRAM traffic of every layer kind, so a whole network has a traffic figure.

* pointwise and FC layers: the GEMM planner (:func:`scanfuse.plan.search.plan_gemm`; an FC
  layer is a GEMM with M = 1).
* depthwise: channels are independent, so with a line buffer over rows and channels in
  chunks every input row is read once: traffic = needed input + weights + output, provided
  one output row of one channel fits (``kh*W + kh*kw + Wo`` entries).
* standard (dense) conv: no im2col in DRAM. Output rows go in strips of ``tr`` rows and output
  channels in chunks of ``tn``; the full reduction (Cin*kh*kw) stays in each tile, so no
  partial sums are spilled. Either strips outer (input read once through a line buffer,
  weights once per strip unless one chunk holds them all; Scan keeps the turning chunk) or
  chunks outer (weights once, input once per chunk pass; Scan keeps the turning strip's
  rows). Footprint: input strip rows x W x Cin + tn*Cin*kh*kw + tr*Wo*tn*psum_entries.
* pooling: input + output (line-buffered like depthwise).

``burst_bytes`` (e.g. 64) makes the choices burst-aware. GEMM layers use the burst-aware
objective of :func:`scanfuse.plan.search.plan_gemm`. In the NHWC layout a channel chunk of a
pixel row is a segment of ``tc*elem`` bytes every ``C*elem`` bytes, so depthwise and pooling
layers (whose traffic does not depend on the chunk) pick the chunk that moves the fewest
whole bursts per pixel, and dense convs count their output stores in whole bursts per pixel
(:func:`pixel_burst_bytes`, an average over the pixels' burst offsets) when they weigh chunk
sizes against weight reloads.

:func:`scanfuse.schedule.layer_steps.layer_steps` emits the step list of a depthwise, pooling or
dense-conv schedule chosen here (GEMM layers use :func:`scanfuse.schedule.build_schedule`), in
the step vocabulary of :mod:`scanfuse.schedule.steps`, with image rows and channel ranges.
"""

from dataclasses import dataclass
from math import gcd

import numpy as np

from ..errors import BufferTooSmallError
from ..network.layers import Layer, LayerKind
from .buffer import BufferModel, ElementWidths
from .gemm import Gemm
from .geometry import StripWalk, VerticalStage, strip_bounds
from .search import candidate_tiles, plan_gemm


@dataclass(frozen=True)
class LayerTraffic:
    """Unfused DRAM traffic of one layer (elements; bytes through the plan's widths)."""

    layer: Layer
    reads: int
    writes: int
    read_bytes: int
    write_bytes: int
    lower_bound: int
    schedule: str
    gemm_plan: object = None   # the GemmPlan for pointwise and FC layers
    layer_schedule: object = None
    """:class:`ChannelChunks` (depthwise, pooling) or :class:`ConvSchedule` (dense conv);
    None for GEMM layers."""

    @property
    def total(self) -> int:
        return self.reads + self.writes

    @property
    def total_bytes(self) -> int:
        return self.read_bytes + self.write_bytes


@dataclass(frozen=True)
class ChannelChunks:
    """Depthwise or pooling schedule: channels in chunks of ``tc``, output rows one at a time
    through a line buffer of input rows (every needed input row read once per chunk)."""

    tc: int

    def describe(self) -> str:
        return f"line-buffered rows, channel chunks of {self.tc}"


@dataclass(frozen=True)
class ConvSchedule:
    """Dense-conv schedule: output strips of ``tr`` rows, output-channel chunks of ``tn``,
    ``mode`` ``'strips'`` or ``'chunks'`` outer, Scan (else raster) over (strip, chunk)."""

    tr: int
    tn: int
    mode: str
    scan: bool

    def describe(self) -> str:
        return f"Tr={self.tr} Tn={self.tn} {self.mode}-outer {'scan' if self.scan else 'raster'}"


def vertical_stage(layer: Layer) -> VerticalStage:
    """The row geometry of ``layer``'s kernel (kh, stride, padding, input and output rows)."""
    return VerticalStage(layer.kernel[0], layer.stride[0], layer.padding[0], layer.h_in, layer.h_out)


def _needed_rows(layer: Layer) -> int:
    """Input rows any output row reads (rows a stride skips are never needed)."""
    return StripWalk.of(*vertical_stage(layer).input_range(np.arange(layer.h_out), np.arange(1, layer.h_out + 1))).union


def pixel_burst_bytes(channels: int, chunks, elem: int, burst_bytes: int) -> np.ndarray:
    """Bytes moved per pixel (mean over a long run of pixels) when rows of NHWC pixels of
    ``channels`` elements are transferred one channel chunk at a time, for each chunk size in
    ``chunks``: every segment moves the whole bursts it touches, and consecutive pixels of the
    same chunk share a burst their segments both touch (the DMA merges it, as in
    :mod:`scanfuse.dram.bursts`). The pattern repeats every ``burst / gcd(burst, row bytes)``
    pixels, so that many pixels give the exact long-run mean."""
    row = channels * elem
    period = burst_bytes // gcd(burst_bytes, row)
    start = np.arange(period + 1, dtype=np.int64)[:, None] * row     # pixels 0..period
    out = []
    for tc in np.atleast_1d(np.asarray(chunks, dtype=np.int64)).tolist():
        a = np.arange(0, channels, tc, dtype=np.int64) * elem
        b = np.minimum(a + tc * elem, row)
        first, last = (start + a) // burst_bytes, (start + b - 1) // burst_bytes
        count = last[1:] - first[1:] + 1 - (first[1:] == last[:-1])     # pixels 1..period
        out.append(count.sum() * burst_bytes / period)
    return np.asarray(out, dtype=np.float64)


def _streamed(layer: Layer, model: BufferModel, widths: ElementWidths, weights: int,
              burst_bytes: int | None = None) -> LayerTraffic:
    """Depthwise or pooling: every needed input row once, weights once, output once."""
    kh, kw = layer.kernel
    need = kh * layer.w_in + kh * kw * (weights > 0) + layer.w_out
    if need > model.entries:
        raise BufferTooSmallError(
            f"layer {layer.name}: one output row of one channel needs {need} entries; the buffer has {model.entries}")
    tc = min(layer.cin, model.entries // need)
    rows = _needed_rows(layer)
    if burst_bytes is not None and tc < layer.cin:
        # traffic does not depend on the chunk: take the one moving the fewest bursts
        tcs = candidate_tiles(layer.cin, burst_bytes)
        tcs = np.unique(np.append(tcs[tcs <= tc], tc))
        moved = (rows * layer.w_in * pixel_burst_bytes(layer.cin, tcs, widths.a, burst_bytes)
                 + layer.h_out * layer.w_out * pixel_burst_bytes(layer.cout, tcs, widths.c, burst_bytes))
        tc = int(tcs[np.flatnonzero(moved == moved.min())[-1]])
    x = rows * layer.w_in * layer.cin
    y = layer.h_out * layer.w_out * layer.cout
    reads = x + weights
    return LayerTraffic(layer, reads, y, x * widths.a + weights * widths.b, y * widths.c,
                        reads + y, "line-buffered rows, channel chunks", None, ChannelChunks(tc))


def conv_traffic(layer: Layer, model: BufferModel, widths: ElementWidths, scan: bool | None = None,
                 burst_bytes: int | None = None):
    """Best strip/chunk schedule of a dense conv (a :class:`LayerTraffic`).

    With ``burst_bytes``, the search counts output stores in whole bursts per pixel
    (:func:`pixel_burst_bytes`); input rows and weight records are contiguous ranges."""
    kh, kw = layer.kernel
    per_out = layer.cin * kh * kw            # weights per output channel
    w_total = per_out * layer.cout
    stage = VerticalStage(kh, layer.stride[0], layer.padding[0], layer.h_in, layer.h_out)
    x_row = layer.w_in * layer.cin
    y_total = layer.h_out * layer.w_out * layer.cout
    tns = candidate_tiles(layer.cout)
    y_cost = y_total * widths.c
    if burst_bytes is not None:
        y_cost = layer.h_out * layer.w_out * pixel_burst_bytes(layer.cout, tns, widths.c, burst_bytes)
    chunks = -(-layer.cout // tns)
    edge = layer.cout - (chunks - 1) * tns
    best = None
    for tr in range(1, layer.h_out + 1):
        a, b = strip_bounds(layer.h_out, tr)
        walk = StripWalk.of(*stage.input_range(a, b))
        ns = len(a)
        footprint = walk.widest * x_row + tns * per_out + min(tr, layer.h_out) * layer.w_out * tns * model.psum_entries
        fits = footprint <= model.entries
        for s in ((True, False) if scan is None else (scan,)):
            kept = (ns // 2) * edge * per_out + ((ns - 1) - ns // 2) * tns * per_out if s else 0
            w_strips = np.where(chunks == 1, w_total, ns * w_total - kept)
            x_strips = walk.passes(1, True) * x_row
            x_chunks = walk.passes(chunks, s) * x_row
            for mode, x, w in (("strips", x_strips + 0 * tns, w_strips), ("chunks", x_chunks, w_total + 0 * tns)):
                cost = x * widths.a + w * widths.b + y_cost
                ok = np.flatnonzero(fits)
                if ok.size == 0:
                    continue
                i = ok[np.argmin(cost[ok])]
                key = (float(cost[i]), ns * int(chunks[i]), not s, mode != "strips")
                if best is None or key < best[0]:
                    best = (key, int(x[i]), int(w[i]), ConvSchedule(tr, int(tns[i]), mode, s))
    if best is None:
        raise BufferTooSmallError(
            f"layer {layer.name}: one output row with one output channel needs "
            f"{kh * x_row + per_out + layer.w_out * model.psum_entries} entries; the buffer has {model.entries}")
    _, x, w, sched = best
    lb = _needed_rows(layer) * x_row + w_total + y_total
    return LayerTraffic(layer, x + w, y_total, x * widths.a + w * widths.b, y_total * widths.c, lb,
                        sched.describe(), None, sched)


def layer_gemm(layer: Layer) -> Gemm:
    """The GEMM of a pointwise (``M = Ho*Wo``) or FC (``M = 1``) layer."""
    return Gemm.of_layer(layer) if layer.is_pointwise else Gemm(1, layer.cin, layer.cout)


def layer_traffic(layer: Layer, model: BufferModel, widths: ElementWidths = ElementWidths(),
                  order: str = "best", burst_bytes: int | None = None) -> LayerTraffic:
    """Unfused traffic of any layer under ``model``; ``order`` is scan, raster or best;
    ``burst_bytes`` makes the choices burst-aware (module docstring)."""
    if layer.kind in (LayerKind.POINTWISE, LayerKind.FC):
        plan = plan_gemm(layer_gemm(layer), model, widths, order, burst_bytes=burst_bytes)
        t = plan.traffic
        return LayerTraffic(layer, t.reads, t.writes, plan.read_bytes, plan.write_bytes,
                            plan.lower_bound, plan.tiling.describe(), plan)
    if layer.kind is LayerKind.DEPTHWISE:
        return _streamed(layer, model, widths, layer.kernel[0] * layer.kernel[1] * layer.cout,
                         burst_bytes)
    if layer.kind is LayerKind.POOL:
        return _streamed(layer, model, widths, 0, burst_bytes)
    return conv_traffic(layer, model, widths, None if order == "best" else order == "scan",
                        burst_bytes)


def conv_weights_per_channel(layer: Layer) -> int:
    """Weights per output channel of a dense conv as the traffic model counts them."""
    return layer.cin * layer.kernel[0] * layer.kernel[1]
