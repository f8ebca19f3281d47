"""Explicit step lists: the one step vocabulary of every schedule, the contract between
planner, replays, program and RTL.

A schedule is a list of steps (method notes, section 4), typed dataclasses for every kind of
schedule: tiled GEMMs (:func:`build_schedule`), unfused depthwise, pooling and dense-conv
layers (:mod:`scanfuse.schedule.layer_steps`), fused chains and pipelines
(:mod:`scanfuse.schedule.fused`). Ranges are half-open ``(lo, hi)`` tuples in the tensor's own
(row, col) coordinates:

* GEMM operands are matrices: A is M x K, B is K x N, C is M x N;
* image tensors (``X`` the input, ``Y`` the output, ``T1``.. between pipeline segments and
  intermediates named by their producing layer) are image rows x channels: ``rows`` are
  image rows, each the full width, ``cols`` channels (``None``: all of them);
* weights (``W``, ``W1``..) are per-channel records: ``rows`` is ``None``, ``cols`` the
  channels.

``Load``         read the rectangle from DRAM and make it resident (``Load`` of GEMM C or of
                 ``Y`` = partial-sum read-back).
``Compute``      GEMM tile: accumulate ``A[m, k] . B[k, n]`` into ``C[m, n]``; A and B must be
                 resident, C resident or fresh.
``ComputeRows``  layer rows: produce ``layer``'s output ``rows`` for the channel chunk ``cols``
                 (the last layer of a chain or segment accumulates that chunk of its input
                 channels into the output rows instead).
``Store``        write to DRAM (a partial-sum spill unless complete) and free it.
``Evict``        free a resident rectangle without traffic.

:func:`build_schedule` derives the GEMM steps from :func:`scanfuse.plan.walk.tile_walk` by
comparing consecutive tiles; it does not use the closed-form traffic model, so the two can
check each other.
"""

import math
from collections.abc import Iterator
from dataclasses import dataclass, field

from ..errors import BufferTooSmallError, InvalidOptionError, WorkTooLargeError
from ..plan.buffer import BufferModel, ElementWidths
from ..plan.gemm import Gemm
from ..plan.tiling import OPERAND_INDICES, Tiling
from ..plan.walk import tile_walk

Range = tuple[int, int]


def _json(op: str, **fields) -> dict:
    """The JSON form of a step: ``op`` then the fields that are set, ranges as lists."""
    out = {"op": op}
    for name, value in fields.items():
        if value is not None:
            out[name] = list(value) if isinstance(value, tuple) else value
    return out


@dataclass(frozen=True)
class Load:
    """Read ``operand``'s rectangle ``rows`` x ``cols`` from DRAM and keep it resident."""

    operand: str  # GEMM "A", "B" or "C" (partial-sum read-back); "X", "W", "Wi", "Y" in rows
    rows: Range | None = None
    cols: Range | None = None

    def to_json(self) -> dict:
        return _json("load", operand=self.operand, rows=self.rows, cols=self.cols)


@dataclass(frozen=True)
class Compute:
    """One GEMM tile: ``C[m, n] += A[m, k] . B[k, n]``."""

    m: Range
    n: Range
    k: Range

    def to_json(self) -> dict:
        return _json("compute", m=self.m, n=self.n, k=self.k)


@dataclass(frozen=True)
class ComputeRows:
    """Output ``rows`` of ``layer`` for the channel chunk ``cols`` (a row schedule's compute)."""

    layer: str
    rows: Range
    cols: Range

    def to_json(self) -> dict:
        return _json("compute", layer=self.layer, rows=self.rows, cols=self.cols)


@dataclass(frozen=True)
class Store:
    """Write ``operand``'s rectangle to DRAM and free it (GEMM C, or ``Y`` rows)."""

    operand: str
    rows: Range | None = None
    cols: Range | None = None

    def to_json(self) -> dict:
        return _json("store", operand=self.operand, rows=self.rows, cols=self.cols)


@dataclass(frozen=True)
class Evict:
    """Free ``operand``'s rectangle without traffic."""

    operand: str
    rows: Range | None = None
    cols: Range | None = None

    def to_json(self) -> dict:
        return _json("evict", operand=self.operand, rows=self.rows, cols=self.cols)


Step = Load | Compute | ComputeRows | Store | Evict


def _area(step) -> int:
    return (step.rows[1] - step.rows[0]) * (step.cols[1] - step.cols[0])


def iter_steps(gemm: Gemm, tiling: Tiling, model: BufferModel) -> Iterator[Step]:
    """Yield the step list of ``tiling`` on ``gemm``.

    With a single-buffered model a changed A or B tile is evicted before its successor is
    loaded; double-buffered, the successor is loaded first (a prefetch while the current tile
    computes), which the model's footprint reserves room for.
    """
    tiling.check_fits(gemm)
    counts = tiling.counts(gemm)

    def rect(operand: str, at: dict[str, int]) -> tuple[Range, Range]:
        row, col = OPERAND_INDICES[operand]
        return tiling.span(gemm, row, at[row]), tiling.span(gemm, col, at[col])

    def key(operand: str, at: dict[str, int]) -> tuple[int, int]:
        row, col = OPERAND_INDICES[operand]
        return at[row], at[col]

    k_done: dict[tuple[int, int], int] = {}  # C tile -> k chunks accumulated so far
    prev = None
    for at in tile_walk(counts, tiling.loop_order, tiling.visit_order):
        changed = {p for p in "ABC" if prev is None or key(p, at) != key(p, prev)}
        fresh = [p for p in "AB" if p in changed]
        if model.double_buffer:
            yield from (Load(p, *rect(p, at)) for p in fresh)
        if prev is not None and "C" in changed:
            yield Store("C", *rect("C", prev))
        if prev is not None:
            for p in fresh:
                yield Evict(p, *rect(p, prev))
                if not model.double_buffer:
                    yield Load(p, *rect(p, at))
        elif not model.double_buffer:
            yield from (Load(p, *rect(p, at)) for p in fresh)
        c_key = key("C", at)
        if "C" in changed and k_done.get(c_key, 0) > 0:
            yield Load("C", *rect("C", at))
        m_range, n_range = rect("C", at)
        yield Compute(m_range, n_range, tiling.span(gemm, "k", at["k"]))
        k_done[c_key] = k_done.get(c_key, 0) + 1
        prev = at
    yield Store("C", *rect("C", prev))
    yield Evict("A", *rect("A", prev))
    yield Evict("B", *rect("B", prev))


@dataclass
class Schedule:
    """A GEMM's step list with the DRAM traffic it implies.

    ``reads``/``writes`` are in elements, summed over ``load``/``store`` areas;
    ``read_bytes``/``write_bytes`` weigh A, B, final C and partial sums by ``widths``.
    """

    gemm: Gemm
    tiling: Tiling
    model: BufferModel
    widths: ElementWidths
    steps: list[Step] = field(default_factory=list)

    @property
    def reads(self) -> int:
        return sum(_area(s) for s in self.steps if isinstance(s, Load))

    @property
    def writes(self) -> int:
        return sum(_area(s) for s in self.steps if isinstance(s, Store))

    def byte_counts(self) -> tuple[int, int]:
        """(read bytes, write bytes): C loads and non-final C stores count as partial sums."""
        w = self.widths
        per_load = {"A": w.a, "B": w.b, "C": w.psum}
        reads = sum(_area(s) * per_load[s.operand] for s in self.steps if isinstance(s, Load))
        stores = [s for s in self.steps if isinstance(s, Store)]
        spilled = sum(_area(s) for s in stores) - self.gemm.M * self.gemm.N
        return reads, self.gemm.M * self.gemm.N * w.c + spilled * w.psum

    def to_json(self) -> dict:
        read_bytes, write_bytes = self.byte_counts()
        return {
            "gemm": {"M": self.gemm.M, "K": self.gemm.K, "N": self.gemm.N},
            "buffer_entries": self.model.entries,
            "split": list(self.model.split) if self.model.split else None,
            "tile": {"m": self.tiling.tm, "n": self.tiling.tn, "k": self.tiling.tk},
            "loop_order": self.tiling.loop_order,
            "visit_order": self.tiling.visit_order.value,
            "dram": {"reads": self.reads, "writes": self.writes,
                     "read_bytes": read_bytes, "write_bytes": write_bytes},
            "steps": [s.to_json() for s in self.steps],
        }


#: Most steps :func:`build_schedule` builds by default: 2^23 (~8.4 M steps, a few GB of step
#: objects). Pass ``max_steps`` to go further.
MAX_SCHEDULE_STEPS = 1 << 23


def schedule_tiles(gemm: Gemm, tiling: Tiling) -> int:
    """Tiles ``tiling`` visits on ``gemm``: a lower bound of its steps (one compute each)."""
    return math.prod(tiling.counts(gemm).values())


def count_steps(gemm: Gemm, tiling: Tiling, model: BufferModel) -> int:
    """Steps :func:`iter_steps` yields, counted from the tile walk alone (no step objects):
    per tile a compute, per changed A or B tile a load and (after the first) an evict, per
    changed C tile a store of the previous one and a load when it already holds partial sums;
    a final store and two evicts."""
    counts = tiling.counts(gemm)
    keys = {p: OPERAND_INDICES[p] for p in "ABC"}
    seen_c: set[tuple[int, int]] = set()
    prev = None
    steps = 3
    for at in tile_walk(counts, tiling.loop_order, tiling.visit_order):
        for p in "AB":
            row, col = keys[p]
            if prev is None or (at[row], at[col]) != (prev[row], prev[col]):
                steps += 1 if prev is None else 2
        row, col = keys["C"]
        c_key = (at[row], at[col])
        if prev is None or c_key != (prev[row], prev[col]):
            steps += (prev is not None) + (c_key in seen_c)
            seen_c.add(c_key)
        steps += 1
        prev = at
    return steps


def build_schedule(gemm: Gemm, tiling: Tiling, model: BufferModel,
                   widths: ElementWidths | None = None, *,
                   max_steps: int = MAX_SCHEDULE_STEPS) -> Schedule:
    """The full step list of ``tiling`` on ``gemm`` under ``model``.

    Raises :class:`InvalidOptionError` for arguments of the wrong type or tiles that do not
    fit ``gemm`` or the buffer, and :class:`WorkTooLargeError` when the list would be longer
    than ``max_steps`` (checked before the work from the tile count, and while building).
    """
    for name, value, kind in (("gemm", gemm, Gemm), ("tiling", tiling, Tiling),
                              ("model", model, BufferModel)):
        if not isinstance(value, kind):
            raise InvalidOptionError(f"{name} must be a {kind.__name__}, not {value!r}")
    if widths is not None and not isinstance(widths, ElementWidths):
        raise InvalidOptionError(f"widths must be an ElementWidths, not {widths!r}")
    tiling.check_fits(gemm)
    if not model.fits(tiling.tm, tiling.tn, tiling.tk):
        raise BufferTooSmallError(
            f"tiles {tiling.tm}x{tiling.tn}x{tiling.tk} need "
            f"{model.footprint(tiling.tm, tiling.tn, tiling.tk)} entries; the buffer has "
            f"{model.describe()}")
    tiles = schedule_tiles(gemm, tiling)
    if tiles > max_steps:
        raise WorkTooLargeError(
            f"the schedule of {gemm} with tiles {tiling.tm},{tiling.tn},{tiling.tk} has at least "
            f"{tiles:,} steps (one per tile), above the limit of {max_steps:,}")
    total = count_steps(gemm, tiling, model)
    if total > max_steps:
        raise WorkTooLargeError(
            f"the schedule of {gemm} with tiles {tiling.tm},{tiling.tn},{tiling.tk} has "
            f"{total:,} steps ({tiles:,} tiles), above the limit of {max_steps:,}")
    steps = []
    for step in iter_steps(gemm, tiling, model):
        steps.append(step)
        if len(steps) > max_steps:
            raise WorkTooLargeError(
                f"the schedule of {gemm} with tiles {tiling.tm},{tiling.tn},{tiling.tk} has "
                f"more than {max_steps:,} steps ({tiles:,} tiles), above the limit")
    return Schedule(gemm, tiling, model, widths or ElementWidths(), steps)
