"""Fused pointwise -> depthwise -> pointwise chains: description, exact traffic, search.

A fusable chain is an optional first 1x1 conv (``expand``: Cin -> hidden), one or more
depthwise stages (3x3, or kx1 then 1xk after CP decomposition), and a last 1x1 conv
(``project``: hidden -> Cout), optionally with the block input added to the output. The
hidden dimension is processed in chunks of ``tc`` channels (the first conv's N tile is the
last conv's K tile; the last conv accumulates over chunks) and space in strips of ``tr``
output rows. Intermediate tensors never reach DRAM; ReLU6 and the residual add are applied
on chip as tiles leave their producer.

Two loop nests, each walked raster or Scan over (strip, chunk):

``strips``  strips outer, chunks inner. X is line-buffered (each needed row read once);
            the output strip's accumulators stay on chip over the chunks, so Y is written
            once. Weights are either kept whole on chip once loaded (read once) or read once
            per strip unless one chunk holds them all; Scan keeps the last ``keep`` chunks
            of a strip on chip across the turn to the next (which walks the chunks the
            other way and so starts on them): as many as the buffer holds beside the
            strip's X window and Y accumulators, at the chunk size the search picks with
            one kept (smaller chunks would keep more payload on chip but cost more loads,
            each rounded up to whole DRAM bursts).
``chunks``  chunks outer, strips inner. Weights are read once. X is either kept whole on
            chip (read once) or line-buffered per pass (Scan keeps the turning strip's rows;
            a chain without a first conv loads only the chunk's channels, so each pass
            reads other channels and X is read once in all, unless a residual add needs
            the whole input rows);
            Y accumulators are either kept whole (written once) or spilled per pass as
            partial sums (Scan keeps the turning strip).

:func:`chain_traffic` gives the exact DRAM traffic of each option in closed form;
:func:`scanfuse.schedule.fused.fused_steps` emits the same schedule step by step and the tests
replay it.
"""

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ..network.layers import Layer, LayerKind
from .buffer import BufferModel, ElementWidths
from .search import candidate_tiles
from .geometry import VerticalStage, back_project, strip_bounds
from .group import FusedGroup, FusedPlan, FusedTraffic, StripFacts, lower_bound_bytes
from .segment import PER_CHANNEL, NotFusableError, Segment

MODES = ("strips", "chunks")


@dataclass(frozen=True)
class FusedChain(FusedGroup):
    """A fusable chain of layers (see module docstring): the one-segment
    :class:`~scanfuse.plan.group.FusedGroup`, with a name and an optional residual add of X
    into Y. Its structure is :attr:`segment`, the same one a pipeline is made of."""

    name: str
    layers: tuple[Layer, ...]
    residual: bool = False

    kind = "fused"
    projections = ()

    def __post_init__(self):
        kinds = [layer.kind for layer in self.layers]
        if len(kinds) < 2 or not any(k in PER_CHANNEL for k in kinds):
            raise NotFusableError(
                f"{self.name}: fusion needs [1x1] -> depthwise+ -> 1x1, not "
                + " -> ".join(k.value for k in kinds))
        try:
            self.segment
        except NotFusableError as err:
            raise NotFusableError(f"{self.name}: {err}") from None
        if self.residual and (self.x_shape != self.y_shape):
            raise NotFusableError(f"{self.name}: a residual add needs equal input and output shapes")

    @cached_property
    def segment(self) -> Segment:
        """The chain's layers as the one fused structure (validated on construction)."""
        return Segment(tuple(self.layers))

    @property
    def segments(self) -> tuple[Segment, ...]:
        return (self.segment,)

    @property
    def residuals(self) -> tuple[tuple[int, int], ...]:
        return ((0, 1),) if self.residual else ()

    # --- geometry of the one segment ------------------------------------------------------
    @property
    def has_first(self) -> bool:
        """Whether the chain starts with its own 1x1 conv."""
        return self.segment.has_first

    @property
    def depthwise(self) -> tuple[Layer, ...]:
        return self.segment.depthwise

    @property
    def hidden(self) -> int:
        """Channels chunked by ``tc``: the first conv's output (or the input's) channels."""
        return self.segment.hidden

    @property
    def vertical(self) -> list[VerticalStage]:
        return self.segment.vertical

    @property
    def x_by_chunk(self) -> bool:
        """Whether chunks-outer schedules that do not keep X whole load only the chunk's
        channels of X: a chain without a first conv, whose first stage works channel by
        channel, and without a residual add (which needs every channel of the input rows)."""
        return not self.has_first and not self.residual

    @property
    def weights_per_channel(self) -> int:
        """Weight elements per hidden channel over all layers of the chain."""
        return self.segment.weights_per_channel

    @property
    def intermediates(self) -> list[tuple[str, int]]:
        """On-chip tensors per hidden channel: (producing layer name, width in pixels)."""
        return [(l.name, l.w_out) for l in self.segment.temporaries]

    def strip_ranges(self, tr: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per strip, the row ranges of X (the depthwise input), each depthwise output, Y."""
        a, b = strip_bounds(self.y_shape[0], tr)
        return back_project(self.vertical, a, b)

    def to_json(self) -> dict:
        return {"name": self.name, "residual": self.residual,
                "layers": [layer.name for layer in self.layers],
                "x": list(self.x_shape), "y": list(self.y_shape), "hidden": self.hidden}


@dataclass(frozen=True)
class FusedSchedule:
    """Parameters of one fused execution of a chain.

    ``tr``: output rows per strip (1..Ho). ``tc``: hidden channels per chunk (1..hidden).
    ``mode``: ``'strips'`` or ``'chunks'`` outer. ``scan``: Scan (else raster) over
    (strip, chunk). ``x_resident`` / ``y_resident`` (``chunks`` mode only): keep the whole
    input / output accumulators on chip. ``w_resident`` (``strips`` mode only): keep every
    chunk's weights on chip once loaded. ``keep`` (``strips`` mode under Scan, weights not
    resident): chunks kept on chip across each strip turn, 1..chunks-1 (1: the turning chunk
    only); more than one chunk's weights are then on chip near a turn.
    """

    tr: int
    tc: int
    mode: str = "strips"
    scan: bool = True
    x_resident: bool = False
    y_resident: bool = False
    w_resident: bool = False
    keep: int = 1

    def describe(self) -> str:
        extra = "".join((" X-resident" if self.x_resident else "", " Y-resident" if self.y_resident else "",
                         " W-resident" if self.w_resident else "",
                         f" keep={self.keep}" if self.keep > 1 else ""))
        return f"Tr={self.tr} Tc={self.tc} {self.mode}-outer {'scan' if self.scan else 'raster'}{extra}"


def chain_traffic(chain: FusedChain, sched: FusedSchedule, facts: StripFacts | None = None,
                  tc=None, keep=None) -> tuple[FusedTraffic, np.ndarray]:
    """Exact traffic and on-chip footprint bound (entries, at psum_entries=1) of ``sched``.

    ``tc`` and ``keep`` may be numpy arrays (then every field is an array); they override
    ``sched.tc`` and ``sched.keep``.
    Returns ``(traffic, (footprint_without_y, y_accumulator_elements))`` so callers can
    weigh the accumulators by ``psum_entries``.
    """
    f = facts or StripFacts(chain, sched.tr)
    tc = np.asarray(sched.tc if tc is None else tc, dtype=np.int64)
    keep = np.asarray(sched.keep if keep is None else keep, dtype=np.int64)
    hidden, wpc = chain.hidden, chain.weights_per_channel
    chunks = -(-hidden // tc)
    edge = hidden - (chunks - 1) * tc
    w_total = chain.weights
    ns = f.strips
    zeros = np.zeros_like(tc)
    if sched.mode == "strips":
        x = f.x_walk.passes(1, True) * f.x_row + zeros
        if sched.w_resident:
            w = zeros + w_total
        elif sched.scan:
            # Turn t (t = 1..ns-1) keeps the k chunks the previous strip ended on: the edge
            # chunk and k-1 full ones after a forward strip (t odd), k full chunks after a
            # backward one (k < chunks, so the edge chunk is not among them).
            k = np.minimum(keep, np.maximum(chunks - 1, 1))
            kept = (ns // 2) * (edge + (k - 1) * tc) * wpc + ((ns - 1) - ns // 2) * k * tc * wpc
            w = np.where(chunks == 1, w_total, ns * w_total - kept)
        else:
            w = np.where(chunks == 1, w_total, ns * w_total)
        traffic = FusedTraffic(x, w, zeros + f.y_total, zeros, zeros)
        x_buf = f.x_walk.widest * f.x_row
        y_buf = f.y_strip_max
    elif sched.mode == "chunks":
        w = zeros + w_total
        if sched.x_resident:
            x = zeros + f.x_walk.union * f.x_row
            x_buf = f.x_walk.union * f.x_row
        elif chain.x_by_chunk:
            # a depthwise first stage needs only its chunk's channels of X: each pass loads
            # those channels' rows from an empty line buffer, forwards (even passes, and
            # every pass under raster) or backwards (odd passes under Scan); the edge chunk
            # is the last pass
            w_px = f.x_row // chain.x_shape[2]
            fwd, bwd = f.x_walk.first + f.x_walk.forward, f.x_walk.last + f.x_walk.backward
            last_bwd = (chunks - 1) % 2 == 1 if sched.scan else np.zeros_like(chunks, dtype=bool)
            n_bwd = (chunks - 1) // 2 if sched.scan else zeros
            n_fwd = (chunks - 1) - n_bwd
            x = (n_fwd * fwd + n_bwd * bwd) * tc * w_px + np.where(last_bwd, bwd, fwd) * edge * w_px
            x_buf = f.x_walk.widest * w_px * tc
        else:
            x = f.x_walk.passes(chunks, sched.scan) * f.x_row
            x_buf = f.x_walk.widest * f.x_row
        if sched.y_resident:
            spilled = zeros
            y_buf = f.y_total
        else:
            turns = chunks - 1
            if sched.scan:
                # Pass p (0-based) ends on strip ns-1 when p is even, on strip 0 when odd.
                kept = -(-turns // 2) * f.y_last + (turns // 2) * f.y_first
            else:
                kept = turns * f.y_first if ns == 1 else zeros
            spilled = turns * f.y_total - kept
            y_buf = f.y_strip_max
        traffic = FusedTraffic(x, w, zeros + f.y_total, spilled, spilled)
    else:
        raise ValueError(f"mode must be one of {MODES}, not {sched.mode!r}")
    if sched.w_resident:
        w_buf = w_total + zeros
    elif sched.mode == "strips" and sched.scan:
        w_buf = np.minimum(keep, np.maximum(chunks - 1, 1)) * tc * wpc     # k chunks at a turn
    else:
        w_buf = tc * wpc
    onchip = x_buf + w_buf + tc * f.temp_per_channel[0]
    return traffic, (onchip, y_buf)


def schedule_options(mode: str):
    """(scan, x_resident, y_resident, w_resident) combinations searched for a mode."""
    if mode == "strips":
        return [(scan, False, False, wr) for scan in (True, False) for wr in (False, True)]
    return [(scan, xr, yr, False) for scan in (True, False) for xr in (False, True) for yr in (False, True)]


def plan_chain(chain: FusedChain, model: BufferModel, widths: ElementWidths = ElementWidths(),
               scan_only: bool | None = None) -> FusedPlan | None:
    """The fused schedule with the fewest DRAM bytes, or None if nothing fits.

    ``scan_only``: True searches Scan only, False raster only, None both.
    Ties go to fewer (strip, chunk) steps, then Scan, then strips-outer.
    """
    key = (chain.geometry_key(), model, widths, scan_only)
    if key not in _SEARCHED:
        _SEARCHED[key] = _search(chain, model, widths, scan_only)
    found = _SEARCHED[key]
    if found is None:
        return None
    sched, peak = found
    traffic, _ = chain_traffic(chain, sched)
    return FusedPlan(chain, sched, traffic.scalar(), peak, model, widths)


#: Search results by (chain geometry, model, widths, scan_only): repeated blocks plan once.
_SEARCHED: dict = {}


def _search(chain: FusedChain, model: BufferModel, widths: ElementWidths, scan_only: bool | None):
    ho = chain.y_shape[0]
    tcs = candidate_tiles(chain.hidden)
    best = None
    for tr in range(1, ho + 1):
        facts = StripFacts(chain, tr)
        x_least = facts.x_buf // chain.x_shape[2] if chain.x_by_chunk else facts.x_buf  # one channel
        smallest = (x_least + chain.weights_per_channel + facts.temp_per_channel[0]
                    + facts.y_strip_max * model.psum_entries)
        if smallest > model.entries:
            break       # windows only grow with tr: no taller strip fits either
        for mode in MODES:
            for scan, xr, yr, wr in schedule_options(mode):
                if scan_only is not None and scan != scan_only:
                    continue
                sched = FusedSchedule(tr, 1, mode, scan, xr, yr, wr)
                traffic, (onchip, y_buf) = chain_traffic(chain, sched, facts, tcs)
                footprint = onchip + y_buf * model.psum_entries
                cost = traffic.read_bytes(widths) + traffic.write_bytes(widths)
                ok = np.flatnonzero((footprint <= model.entries) & _whole_runs(chain, sched, tcs, widths))
                if ok.size == 0:
                    continue
                steps = facts.strips * (-(-chain.hidden // tcs[ok]))
                i = ok[np.lexsort((steps, cost[ok]))[0]]
                sched = FusedSchedule(tr, int(tcs[i]), mode, scan, xr, yr, wr)
                if mode == "strips" and scan and not wr:
                    # keep every chunk that fits at the turns, at the chunk size chosen
                    # with one kept: fewer bytes and fewer loads, the same steps
                    k = int(_widest_keep(chain, facts, model, tcs[i:i + 1])[0])
                    if k > 1:
                        sched = FusedSchedule(tr, sched.tc, mode, scan, xr, yr, wr, k)
                        traffic, (onchip, y_buf) = chain_traffic(chain, sched, facts)
                        cost = np.full_like(cost, traffic.read_bytes(widths) + traffic.write_bytes(widths))
                        footprint = np.full_like(footprint, onchip + y_buf * model.psum_entries)
                key = (int(cost[i]), int(steps[np.searchsorted(ok, i)]), not scan, mode != "strips")
                if best is None or key < best[0]:
                    best = (key, sched, int(footprint[i]))
    if best is None:
        return None
    return best[1], best[2]


#: A chunk's channels of an X row are loaded (chains without a first conv, chunks outer) only
#: in runs of whole DRAM bursts per pixel, or as whole rows (one chunk): narrower runs save
#: payload but each pixel's run costs a burst of its own (resnet50-cp's s3b1.conv2.vertical..last
#: at Tc=18 would ask for 167,424 B and move 343,936 B; MobileNetV2's b16.dw..project at 16K
#: with Tc=1, 378,560 B against 3,402,560 B).
CHANNEL_RUN_BYTES = 64


def _whole_runs(chain: FusedChain, sched: FusedSchedule, tcs: np.ndarray, widths: ElementWidths) -> np.ndarray:
    """Per chunk size, whether ``sched`` is allowed at it: everything but channel-chunk X
    loads whose per-pixel runs are not whole multiples of :data:`CHANNEL_RUN_BYTES`."""
    if sched.mode != "chunks" or sched.x_resident or not chain.x_by_chunk:
        return np.ones_like(tcs, dtype=bool)
    return ((tcs * widths.a) % CHANNEL_RUN_BYTES == 0) | (tcs >= chain.hidden)


def _widest_keep(chain: FusedChain, facts: StripFacts, model: BufferModel, tcs: np.ndarray) -> np.ndarray:
    """Per chunk size, the most chunks a Scan strips-outer schedule can keep across a strip
    turn: those whose weights fit beside the widest X window, the chunk's temporaries and the
    strip's Y accumulators (at least 1, at most chunks-1; 1 where there is no turn to keep
    anything across). Traffic falls with every chunk kept, so the search takes the most."""
    chunks = -(-chain.hidden // tcs)
    room = model.entries - facts.x_buf - tcs * facts.temp_per_channel[0] - facts.y_strip_max * model.psum_entries
    k = room // (tcs * chain.weights_per_channel)
    if facts.strips == 1:
        return np.ones_like(tcs)
    return np.clip(k, 1, np.maximum(chunks - 1, 1))


def chain_entries_at_lower_bound(chain: FusedChain, psum_entries: int = 1,
                                 widths: ElementWidths = ElementWidths()) -> int:
    """The smallest buffer (entries) at which :func:`plan_chain` reaches the group lower bound:
    the least footprint over every schedule it searches (every ``tr``, mode, option and
    candidate ``tc``) whose traffic equals the bound."""
    target = lower_bound_bytes(chain, widths)
    tcs = candidate_tiles(chain.hidden)
    best = None
    for tr in range(1, chain.y_shape[0] + 1):
        facts = StripFacts(chain, tr)
        for mode in MODES:
            for scan, xr, yr, wr in schedule_options(mode):
                sched = FusedSchedule(tr, 1, mode, scan, xr, yr, wr)
                traffic, (onchip, y_buf) = chain_traffic(chain, sched, facts, tcs)
                cost = traffic.read_bytes(widths) + traffic.write_bytes(widths)
                footprint = (onchip + y_buf * psum_entries)[(cost == target) & _whole_runs(chain, sched, tcs, widths)]
                if footprint.size and (best is None or int(footprint.min()) < best):
                    best = int(footprint.min())
    return best
