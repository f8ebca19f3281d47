"""Turn schedule step lists into 64-byte DRAM bursts (vectorised with numpy).

Rules (see ``docs/traces.md``):

* Every ``load``/``store`` step is a rectangle of its tensor: for each of its rows, in
  ascending row order, the byte range ``[row_start + c0*elem, row_start + c1*elem)`` becomes
  the aligned ``burst_bytes`` bursts it touches, in ascending address order. A row that starts
  or ends inside a burst moves the whole burst (as a memory controller does): the payload is
  counted in ``bytes_requested``, the bus traffic in ``bytes_moved = burst_bytes * bursts``.
* Within one step, a burst touched by two consecutive rows (the end of one row and the start
  of the next share a burst) is moved once: the DMA engine coalesces it. So a tile of whole
  dense rows is one contiguous range and, if its ends are aligned, moves exactly its payload.
* Bursts of different steps are never merged, even if they hit the same address.
* ``compute``, ``evict`` and ``free`` steps produce no bursts.

Which region a C (or Y) transfer uses: ``load`` of C is a partial-sum read-back (the psum
region at ``widths.psum``); ``store`` of C is final (the C region at ``widths.c``) when every
k of ``[0, K)`` (every hidden channel, for a chain) has been accumulated into the stored
rectangle, else a partial-sum spill. This mirrors ``Schedule.byte_counts()``.
"""

from dataclasses import dataclass, field

import numpy as np

from ..errors import InvalidOptionError
from ..plan.gemm import Gemm
from ..schedule.steps import Compute, ComputeRows, Load, Store
from .layout import FusedLayout, GemmLayout, LayerLayout, TensorPlacement

#: Rows expanded per batch (bounds temporary memory on very long step lists).
_BATCH_ROWS = 1 << 20


@dataclass
class BurstTrace:
    """Bursts of one step list, in issue order (step order; address order within a step).

    ``addr``: burst byte address (uint64, a multiple of ``burst_bytes``); ``is_write``;
    ``step``: index of the producing step in the step list (int32); ``tensor``: index into
    ``tensor_names`` (uint8). ``step_requested``: payload bytes per step (int64, one entry per
    step, 0 for steps without traffic).
    """

    addr: np.ndarray
    is_write: np.ndarray
    step: np.ndarray
    tensor: np.ndarray
    tensor_names: tuple[str, ...]
    step_requested: np.ndarray
    read_bytes_requested: int = 0
    write_bytes_requested: int = 0
    burst_bytes: int = 64
    placements: dict[str, TensorPlacement] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.addr)

    @property
    def n_steps(self) -> int:
        return len(self.step_requested)

    @property
    def reads(self) -> int:
        """Read bursts."""
        return int(len(self.addr) - np.count_nonzero(self.is_write))

    @property
    def writes(self) -> int:
        """Write bursts."""
        return int(np.count_nonzero(self.is_write))

    @property
    def bytes_requested(self) -> int:
        return self.read_bytes_requested + self.write_bytes_requested

    @property
    def read_bytes_moved(self) -> int:
        return self.reads * self.burst_bytes

    @property
    def write_bytes_moved(self) -> int:
        return self.writes * self.burst_bytes

    @property
    def bytes_moved(self) -> int:
        return len(self.addr) * self.burst_bytes

    def step_bursts(self) -> np.ndarray:
        """Bursts per step (int64, length ``n_steps``)."""
        return np.bincount(self.step, minlength=self.n_steps).astype(np.int64)

    def summary(self) -> dict:
        return {"bursts": len(self), "read_bursts": self.reads, "write_bursts": self.writes,
                "bytes_requested": self.bytes_requested, "bytes_moved": self.bytes_moved,
                "read_bytes_requested": self.read_bytes_requested,
                "write_bytes_requested": self.write_bytes_requested,
                "burst_bytes": self.burst_bytes}


class _Transfers:
    """Collects one rectangle per transfer step, then expands them into bursts."""

    def __init__(self, placements: list[TensorPlacement]):
        self.placements = placements
        self.code = {p.name: i for i, p in enumerate(placements)}
        self.rows: list[tuple[int, ...]] = []  # (step, tensor, write, r0, r1, b0, nbytes)

    def add(self, step: int, p: TensorPlacement, write: bool, rows, cols=None):
        c0, c1 = (0, p.cols) if cols is None else cols
        self.rows.append((step, self.code[p.name], int(write), rows[0], rows[1], c0, c1))

    def trace(self, n_steps: int, burst_bytes: int) -> BurstTrace:
        if burst_bytes < 1 or burst_bytes & (burst_bytes - 1):
            raise ValueError(f"burst_bytes must be a power of two, not {burst_bytes}")
        t = np.array(self.rows, dtype=np.int64).reshape(-1, 7)
        step, tensor, write, r0, r1, c0, c1 = t.T
        prop = np.array([(p.base, p.stride, p.rows, p.cols, p.elem_bytes) for p in self.placements],
                        dtype=np.int64)[tensor]
        base, stride, elem = prop[:, 0], prop[:, 1], prop[:, 4]
        bad = ~((0 <= r0) & (r0 <= r1) & (r1 <= prop[:, 2]) & (0 <= c0) & (c0 <= c1) & (c1 <= prop[:, 3]))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(f"step {step[i]}: rectangle rows [{r0[i]}, {r1[i]}) cols [{c0[i]}, {c1[i]}) "
                             f"outside {self.placements[tensor[i]].name}")
        keep = (r1 > r0) & (c1 > c0)
        step, tensor, write, r0, r1, base, stride = (x[keep] for x in (step, tensor, write, r0, r1, base, stride))
        b0, nbytes = (c0 * elem)[keep], ((c1 - c0) * elem)[keep]
        t = t[keep]
        nrows = r1 - r0
        payload = nrows * nbytes
        step_requested = np.bincount(step, weights=payload, minlength=n_steps).astype(np.int64) \
            if len(step) else np.zeros(n_steps, dtype=np.int64)
        parts = []
        # batches of whole transfers, about _BATCH_ROWS rows each
        marks = np.cumsum(nrows) // _BATCH_ROWS
        bounds = np.concatenate([[0], np.flatnonzero(np.diff(marks)) + 1, [len(t)]])
        for lo, hi in zip(bounds[:-1], bounds[1:]):
            parts.append(_expand(step[lo:hi], tensor[lo:hi], write[lo:hi], base[lo:hi],
                                 stride[lo:hi], r0[lo:hi], nrows[lo:hi], b0[lo:hi],
                                 nbytes[lo:hi], burst_bytes))
        if parts:
            addr, is_w, st, tn = (np.concatenate(x) for x in zip(*parts))
        else:
            addr, is_w = np.zeros(0, np.uint64), np.zeros(0, bool)
            st, tn = np.zeros(0, np.int32), np.zeros(0, np.uint8)
        w = write.astype(bool)
        return BurstTrace(addr, is_w, st, tn, tuple(p.name for p in self.placements),
                          step_requested, int(payload[~w].sum()), int(payload[w].sum()),
                          burst_bytes, {p.name: p for p in self.placements})


def _expand(step, tensor, write, base, stride, r0, nrows, b0, nbytes, bb):
    """Bursts of a batch of transfers (all arrays per transfer)."""
    total_rows = int(nrows.sum())
    row_start = np.cumsum(nrows) - nrows
    tix = np.repeat(np.arange(len(nrows)), nrows)
    row = r0[tix] + (np.arange(total_rows) - row_start[tix])
    start = base[tix] + row * stride[tix] + b0[tix]
    first = start // bb
    last = (start + nbytes[tix] - 1) // bb
    # coalesce a burst shared with the previous row of the same transfer
    shared = np.zeros(total_rows, dtype=bool)
    if total_rows > 1:
        shared[1:] = (tix[1:] == tix[:-1]) & (first[1:] == last[:-1])
    first = first + shared
    count = last - first + 1           # >= 0
    n = int(count.sum())
    burst_start = np.cumsum(count) - count
    addr = (np.repeat(first - burst_start, count) + np.arange(n)) * bb
    return (addr.astype(np.uint64), np.repeat(write[tix].astype(bool), count),
            np.repeat(step[tix].astype(np.int32), count), np.repeat(tensor[tix].astype(np.uint8), count))


def gemm_bursts(schedule, layout: GemmLayout | None = None, burst_bytes: int = 64) -> BurstTrace:
    """Bursts of a :class:`scanfuse.schedule.Schedule` (default layout:
    ``GemmLayout.dense(schedule.gemm, schedule.widths)``)."""
    if not hasattr(schedule, "steps") or not isinstance(getattr(schedule, "gemm", None), Gemm):
        raise InvalidOptionError(f"schedule must be a Schedule (steps and a gemm), not "
                                 f"{type(schedule).__name__}")
    layout = layout or GemmLayout.dense(schedule.gemm, schedule.widths)
    K = schedule.gemm.K
    tr = _Transfers(list(layout.placements))
    out = tr.rows
    code = {"A": 0, "B": 1}                  # placements: A, B, C, C.psum
    accumulated: dict[tuple, int] = {}
    for i, s in enumerate(schedule.steps):
        kind = type(s)
        if kind is Compute:
            key = (s.m, s.n)
            accumulated[key] = accumulated.get(key, 0) + (s.k[1] - s.k[0])
        elif kind is Load:
            out.append((i, code.get(s.operand, 3), 0, *s.rows, *s.cols))
        elif kind is Store:
            final = accumulated.get((s.rows, s.cols), 0) == K
            out.append((i, 2 if final else 3, 1, *s.rows, *s.cols))
    return tr.trace(len(schedule.steps), burst_bytes)


def fused_bursts(group, steps, layout: FusedLayout | None = None, widths=None,
                 burst_bytes: int = 64) -> BurstTrace:
    """Bursts of a fused group's steps (:func:`scanfuse.schedule.fused.fused_steps`, a chain
    or a pipeline).

    ``X`` loads read whole image rows (or, with ``cols``, those channels of each pixel of
    the rows), weight loads (``W`` or ``W{u}``) read the chunk's
    per-channel records of that unit (one contiguous range), ``Y`` loads read partial sums,
    ``Y`` stores are final when every hidden channel of the last segment has been
    accumulated into those rows, else partial-sum spills; ``T{i}`` stores write rows of a
    pipeline's tapped tensor.
    """
    steps = list(steps)
    layout = layout or FusedLayout.dense(group, widths)
    last = group.segments[-1].layers[-1].name
    hidden = group.segments[-1].hidden
    weights = {p.name: p for p in layout.weights}
    taps = {p.name: p for p in layout.taps}
    tr = _Transfers(list(layout.placements))

    def pixels() -> TensorPlacement:
        """X as pixel rows of channels (for loads of a channel chunk), added once."""
        x = layout.x
        if "X.pixels" not in tr.code:
            if x.stride != x.row_bytes:
                raise ValueError("channel-chunk X loads need densely packed X rows")
            c = group.x_shape[2]
            tr.placements.append(TensorPlacement("X.pixels", x.base, group.x_shape[0] * group.x_shape[1],
                                                 c * x.elem_bytes, c * x.elem_bytes, x.elem_bytes))
            tr.code["X.pixels"] = len(tr.placements) - 1
        return tr.placements[tr.code["X.pixels"]]
    covered: dict[tuple, int] = {}
    for i, s in enumerate(steps):
        kind = type(s)
        if kind is ComputeRows:
            if s.layer == last:
                covered[s.rows] = covered.get(s.rows, 0) + s.cols[1] - s.cols[0]
        elif kind is Load and s.operand == "X" and s.cols is not None:
            # a chunk's channels of whole rows: pixel rows of the NHWC input
            r0, r1 = s.rows
            tr.add(i, pixels(), False, (r0 * group.x_shape[1], r1 * group.x_shape[1]), s.cols)
        elif kind is Load and s.operand == "X":
            tr.add(i, layout.x, False, s.rows)
        elif kind is Load and s.operand in weights:
            tr.add(i, weights[s.operand], False, s.cols)
        elif kind is Load and s.operand == "Y" and layout.psum is not None:
            tr.add(i, layout.psum, False, s.rows)
        elif kind is Store and s.operand == "Y":
            final = covered.get(s.rows, 0) == hidden
            if not final and layout.psum is None:
                raise ValueError(f"step {i}: partial-sum spill of {s.rows} but no Y.psum region")
            tr.add(i, layout.y if final else layout.psum, True, s.rows)
        elif kind is Store and s.operand in taps:
            tr.add(i, taps[s.operand], True, s.rows)
        elif kind in (Load, Store):
            raise ValueError(f"step {i}: no placement for {s}")
    return tr.trace(len(steps), burst_bytes)


def layer_bursts(layer, steps, layout: LayerLayout | None = None, widths=None,
                 burst_bytes: int = 64) -> BurstTrace:
    """Bursts of an unfused depthwise, pooling or dense-conv layer's steps
    (:func:`scanfuse.schedule.layer_steps.layer_steps`): ``X`` image rows ``[r0, r1)`` and
    channels ``[c0, c1)`` are pixel rows ``[r0*W, r1*W)`` of the NHWC input (one contiguous
    range when every channel is loaded), ``W`` channel records, ``Y`` output rows likewise."""
    steps = list(steps)
    layout = layout or LayerLayout.dense(layer, widths)
    tr = _Transfers(list(layout.placements))
    w_in, w_out = layer.w_in, layer.w_out
    for i, s in enumerate(steps):
        kind = type(s)
        if kind is Load and s.operand == "X":
            r0, r1 = s.rows
            tr.add(i, layout.x, False, (r0 * w_in, r1 * w_in), s.cols)
        elif kind is Load and s.operand == "W" and layout.w is not None:
            tr.add(i, layout.w, False, s.cols)
        elif kind is Store and s.operand == "Y":
            r0, r1 = s.rows
            tr.add(i, layout.y, True, (r0 * w_out, r1 * w_out), s.cols)
        elif kind in (Load, Store):
            raise ValueError(f"step {i}: no placement for {s}")
    return tr.trace(len(steps), burst_bytes)
