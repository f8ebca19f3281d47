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
"""

from dataclasses import dataclass

import numpy as np

from ..errors import BufferTooSmallError
from ..network.layers import Layer, LayerKind
from .buffer import BufferModel, ElementWidths
from .gemm import Gemm
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

    @property
    def total(self) -> int:
        return self.reads + self.writes

    @property
    def total_bytes(self) -> int:
        return self.read_bytes + self.write_bytes


def _needed_rows(layer: Layer) -> int:
    """Input rows any output row reads (rows a stride skips are never needed)."""
    from ..fuse.geometry import StripWalk, VerticalStage
    stage = VerticalStage(layer.kernel[0], layer.stride[0], layer.padding[0], layer.h_in, layer.h_out)
    return StripWalk.of(*stage.input_range(np.arange(layer.h_out), np.arange(1, layer.h_out + 1))).union


def _streamed(layer: Layer, model: BufferModel, widths: ElementWidths, weights: int) -> LayerTraffic:
    """Depthwise or pooling: every needed input row once, weights once, output once."""
    kh, kw = layer.kernel
    need = kh * layer.w_in + kh * kw * (weights > 0) + layer.w_out
    if need > model.entries:
        raise BufferTooSmallError(
            f"layer {layer.name}: one output row of one channel needs {need} entries; the buffer has {model.entries}")
    x = _needed_rows(layer) * layer.w_in * layer.cin
    y = layer.h_out * layer.w_out * layer.cout
    reads = x + weights
    return LayerTraffic(layer, reads, y, x * widths.a + weights * widths.b, y * widths.c,
                        reads + y, "line-buffered rows, channel chunks")


def conv_traffic(layer: Layer, model: BufferModel, widths: ElementWidths, scan: bool | None = None):
    """Best strip/chunk schedule of a dense conv: (LayerTraffic, description)."""
    from ..fuse.geometry import StripWalk, VerticalStage, strip_bounds
    kh, kw = layer.kernel
    per_out = layer.cin * kh * kw            # weights per output channel
    w_total = per_out * layer.cout
    stage = VerticalStage(kh, layer.stride[0], layer.padding[0], layer.h_in, layer.h_out)
    x_row = layer.w_in * layer.cin
    y_total = layer.h_out * layer.w_out * layer.cout
    tns = candidate_tiles(layer.cout)
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
                cost = x * widths.a + w * widths.b + y_total * widths.c
                ok = np.flatnonzero(fits)
                if ok.size == 0:
                    continue
                i = ok[np.argmin(cost[ok])]
                key = (int(cost[i]), ns * int(chunks[i]), not s, mode != "strips")
                if best is None or key < best[0]:
                    best = (key, int(x[i]), int(w[i]), f"Tr={tr} Tn={int(tns[i])} {mode}-outer "
                                                        f"{'scan' if s else 'raster'}")
    if best is None:
        raise BufferTooSmallError(
            f"layer {layer.name}: one output row with one output channel needs "
            f"{kh * x_row + per_out + layer.w_out * model.psum_entries} entries; the buffer has {model.entries}")
    _, x, w, desc = best
    lb = _needed_rows(layer) * x_row + w_total + y_total
    return LayerTraffic(layer, x + w, y_total, x * widths.a + w * widths.b, y_total * widths.c, lb, desc)


def layer_traffic(layer: Layer, model: BufferModel, widths: ElementWidths = ElementWidths(),
                  order: str = "best") -> LayerTraffic:
    """Unfused traffic of any layer under ``model``; ``order`` is scan, raster or best."""
    if layer.kind in (LayerKind.POINTWISE, LayerKind.FC):
        gemm = layer.gemm() if layer.is_pointwise else Gemm(1, layer.cin, layer.cout)
        plan = plan_gemm(gemm, model, widths, order)
        t = plan.traffic
        return LayerTraffic(layer, t.reads, t.writes, plan.read_bytes, plan.write_bytes,
                            plan.lower_bound, plan.tiling.describe(), plan)
    if layer.kind is LayerKind.DEPTHWISE:
        return _streamed(layer, model, widths, layer.kernel[0] * layer.kernel[1] * layer.cout)
    if layer.kind is LayerKind.POOL:
        return _streamed(layer, model, widths, 0)
    return conv_traffic(layer, model, widths, None if order == "best" else order == "scan")
