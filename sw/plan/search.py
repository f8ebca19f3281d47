"""Search for the tiling and order of a GEMM that minimise DRAM bytes under a buffer model.

Candidates per dimension are ``ceil(D/n)`` for every tile count ``n`` (the smallest tile that
gives ``n`` tiles, so it leaves the most room for the others) plus those rounded up to a
multiple of ``align`` (the PE array size). For every pair of dimensions the third tile size is
derived from the footprint: the largest few candidates that still fit, and the largest size
that fits. Every point is evaluated for all six loop orders and the requested visit orders
with the exact closed form of :mod:`scanfuse.plan.traffic`, vectorised with numpy.

Burst-aware planning (``burst_bytes=64``): DRAM moves whole bursts, so a tile row narrower
than a burst costs a whole burst. The objective is then the *bytes moved* by the step list's
burst trace (:func:`scanfuse.dram.bursts.gemm_bursts`, dense :class:`GemmLayout` with
burst-aligned regions), counted exactly in closed form (:func:`burst_moved_bytes`) for the
tilings where every transfer is burst-aligned:

* a tile that spans whole rows of its operand is one contiguous byte range; it is exact when
  the tile's byte size is a multiple of the burst (or the tile is the whole operand), so only
  the last tile ends inside a burst;
* a narrower tile is exact when the operand's rows and the tile's width are whole bursts.

Candidates add tile sizes rounded to the multiples these rules need. The search keeps the
exact tiling that moves the fewest bytes; only if no exact tiling fits does it fall back to an
estimate (each tile row rounded up to whole bursts) and leave ``GemmPlan.moved_bytes`` unset.
"""

from dataclasses import dataclass
from functools import lru_cache
from math import gcd

import math

import numpy as np

from ..errors import BufferTooSmallError, InvalidOptionError
from ..units import MAX_ENTRIES
from .bound import lower_bound
from .buffer import BufferModel, ElementWidths, PlanBytes
from .gemm import Gemm
from .tiling import LOOP_ORDERS, Tiling, VisitOrder
from .traffic import Traffic, _residency_area, gemm_traffic, residency_areas, tile_dims

#: Orders accepted by the search: a visit order, or ``best`` of both.
ORDER_CHOICES = ("scan", "raster", "best")

#: How many of the largest fitting candidates to try for the derived dimension.
DERIVED_CANDIDATES = 3

#: Most tile sizes tried per dimension (dimensions up to ~250,000 elements have fewer, so
#: every network's layers get the full search). Past it the sizes are sampled evenly in log
#: scale, smallest and largest kept: plans stay legal and exact, only the search thins.
MAX_CANDIDATES_PER_DIM = 1024


def candidate_tiles(dim: int, align: int = 8) -> np.ndarray:
    """Sorted distinct tile sizes worth trying along a dimension of ``dim`` elements: every
    ``ceil(dim / n)`` for ``n = 1..dim`` (about ``2*sqrt(dim)`` values), plus those rounded up
    to multiples of ``align``.

    Found in ``O(sqrt(dim))`` memory: the sizes for ``n <= r`` (``r = isqrt(dim)``), and every
    smaller ``v`` that some ``n`` reaches, which is when ``ceil(dim / ceil(dim / v)) == v``.
    """
    r = math.isqrt(dim)
    n = np.arange(1, r + 1, dtype=np.int64)
    large = -(-dim // n)
    v = np.arange(1, int(large[-1]) + 1, dtype=np.int64)
    small = v[-(-dim // (-(-dim // v))) == v]
    sizes = np.unique(np.concatenate([small, large]))
    if align > 1:
        rounded = -(-sizes // align) * align
        sizes = np.unique(np.concatenate([sizes, rounded[rounded <= dim]]))
    return sizes


def _thin(sizes: np.ndarray, limit: int = MAX_CANDIDATES_PER_DIM) -> np.ndarray:
    """At most ``limit`` of the sorted ``sizes``, log-evenly spaced (first and last kept)."""
    if sizes.size <= limit:
        return sizes
    picks = np.unique(np.round(np.geomspace(1, sizes.size, limit)).astype(np.int64) - 1)
    return sizes[picks]


def visit_orders_for(order: str) -> tuple[VisitOrder, ...]:
    if order not in ORDER_CHOICES:
        raise InvalidOptionError(f"order must be one of {', '.join(ORDER_CHOICES)}, not {order!r}")
    if order == "best":
        return (VisitOrder.SCAN, VisitOrder.RASTER)
    return (VisitOrder.parse(order),)


def _derived_max(model: BufferModel, derived: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Largest tile along ``derived`` that fits with the other two tiles ``x``, ``y``.

    ``(x, y)`` are the remaining dims in 'mnk' order without ``derived``. May be < 1.
    """
    c, p, s = model.operand_copies, model.psum_entries, model.entries
    if model.split is not None:
        sa, sb, sc = model.split
        sc //= model.c_copies       # c * x <= sc  <=>  x <= sc // c, for integers
        am, ak, bn, cn = model.align
        up = lambda v, q: -(-v // q) * q        # noqa: E731 (round up to a multiple)
        down = lambda v, q: v // q * q           # noqa: E731 (round down)
        if derived == "k":      # x = tm, y = tn
            top = np.minimum(down(sa // (c * up(x, am)), ak), sb // (c * up(y, bn)))
            ok = x * up(y, cn) <= sc
        elif derived == "n":    # x = tm, y = tk
            top = np.minimum(down(sb // (c * y), bn), down(sc // x, cn))
            ok = c * up(x, am) * up(y, ak) <= sa
        else:                   # x = tn, y = tk
            top = np.minimum(down(sa // (c * up(y, ak)), am), sc // up(x, cn))
            ok = c * y * up(x, bn) <= sb
        return np.where(ok, top, 0)
    if derived == "k":      # x = tm, y = tn
        return (s - p * x * y) // (c * (x + y))
    if derived == "n":      # x = tm, y = tk
        return (s - c * x * y) // (c * y + p * x)
    # derived == "m":        x = tn, y = tk
    return (s - c * x * y) // (c * y + p * x)


def candidate_points(gemm: Gemm, model: BufferModel, align: int = 8,
                     quanta: dict[str, tuple[int, ...]] | None = None,
                     allow: dict | None = None) -> np.ndarray:
    """Fitting ``(tm, tn, tk)`` candidates as an ``(n, 3)`` int64 array (may be empty).

    ``quanta`` (burst-aware search) adds, per dimension letter, the candidates rounded up to
    each listed multiple and, for the derived dimension, the largest fitting multiple.
    ``allow`` maps a letter to a function of a size array giving which sizes to keep.
    """
    quanta, allow = quanta or {}, allow or {}
    cands = {}
    for x in "mnk":
        sizes = [candidate_tiles(gemm.dim(x), align)]
        sizes += [candidate_tiles(gemm.dim(x), q) for q in quanta.get(x, ())]
        cands[x] = _thin(np.unique(np.concatenate(sizes)))
        if x in allow:
            cands[x] = cands[x][allow[x](cands[x])]
    points = []
    for derived in "mnk":
        x_name, y_name = [d for d in "mnk" if d != derived]
        xs, ys = np.meshgrid(cands[x_name], cands[y_name], indexing="ij")
        xs, ys = xs.ravel(), ys.ravel()
        top = np.minimum(_derived_max(model, derived, xs, ys), gemm.dim(derived))
        keep = top >= 1
        xs, ys, top = xs[keep], ys[keep], top[keep]
        if xs.size == 0:
            continue
        d_cands = cands[derived]
        # Index of the largest candidate <= top, and a few below it.
        idx = np.searchsorted(d_cands, top, side="right") - 1
        options = [top] + [d_cands[np.maximum(idx - back, 0)] for back in range(DERIVED_CANDIDATES)]
        options += [np.maximum(top // q * q, 1) for q in quanta.get(derived, ())]
        for value in options:
            cols = {x_name: xs, y_name: ys, derived: value}
            points.append(np.stack([cols["m"], cols["n"], cols["k"]], axis=1))
    if not points:
        return np.empty((0, 3), dtype=np.int64)
    # De-duplicate through one int64 key per point (a row-wise unique sorts far slower).
    stacked = np.concatenate(points)
    keep = model.fits(stacked[:, 0], stacked[:, 1], stacked[:, 2])
    for x, rule in allow.items():
        keep &= rule(stacked[:, "mnk".index(x)])
    stacked = stacked[keep]
    base_n, base_k = gemm.N + 1, gemm.K + 1
    keys = np.unique((stacked[:, 0] * base_n + stacked[:, 1]) * base_k + stacked[:, 2])
    return np.stack([keys // (base_n * base_k), keys // base_k % base_n, keys % base_k], axis=1)


@dataclass(frozen=True)
class GemmPlan(PlanBytes):
    """The chosen tiling of one GEMM with its exact traffic and lower bound (elements)."""

    gemm: Gemm
    tiling: Tiling
    traffic: Traffic
    lower_bound: int
    model: BufferModel
    widths: ElementWidths
    burst_bytes: int | None = None
    """Burst size (bytes) the search counted whole bursts of; None: payload bytes."""
    moved_bytes: int | None = None
    """Bytes the plan's burst trace moves (whole bursts, dense burst-aligned layout), when
    the burst-aware objective counted them exactly; None otherwise."""

    @property
    def ratio(self) -> float:
        """DRAM traffic over the lower bound, both in elements (>= 1)."""
        return self.traffic.total / self.lower_bound


def check_buffer(gemm: Gemm, model: BufferModel) -> None:
    """Raise :class:`BufferTooSmallError` if not even 1x1x1 tiles fit, and
    :class:`InvalidOptionError` for a buffer past :data:`scanfuse.units.MAX_ENTRIES` (per
    memory), where the search's int64 arithmetic would overflow."""
    if not isinstance(gemm, Gemm) or not isinstance(model, BufferModel):
        raise InvalidOptionError(f"plan_gemm takes a Gemm and a BufferModel, not "
                                 f"{type(gemm).__name__} and {type(model).__name__}")
    if max(model.split or (model.entries,)) > MAX_ENTRIES:
        raise InvalidOptionError(f"the planner takes buffers of at most {MAX_ENTRIES:,} entries "
                                 f"(2^40) per memory, not {model.entries:,}")
    if model.split is not None and not model.fits_smallest:
        raise BufferTooSmallError(
            f"separate memories of {model.split} entries cannot hold 1x1x1 tiles of {gemm}"
            f"{' double-buffered' if model.double_buffer else ''} (A and B need "
            f"{model.operand_copies} entries each, C {model.c_copies})")
    if model.smallest_footprint > model.entries:
        raise BufferTooSmallError(
            f"a buffer of {model.entries} entries cannot hold the smallest tiling of {gemm} "
            f"(1x1x1 tiles need {model.smallest_footprint} entries with psum_entries="
            f"{model.psum_entries}{', double-buffered' if model.double_buffer else ''})")


def padding_rules(gemm: Gemm, model: BufferModel) -> dict:
    """For an engine's model (``model.array = (rows, cols)``, set by
    :meth:`BufferModel.for_engine`): keep only ``tm`` that are multiples of ``rows`` or ``M``
    itself, and ``tn`` multiples of ``cols`` or ``N``. Then the tiles of a dimension pad to
    ``ceil(dim / rows)`` array blocks in all, the least any tiling can (a tile of 42 rows on 8
    rows pads every tile to 48), so the engine's cycles are not spent on padding the tiling
    chose. ``{}`` for other models. :func:`plan_gemm` falls back to every tiling when none of
    these fits."""
    if model.array is None:
        return {}
    rows, cols = model.array
    return {"m": lambda t: (t % rows == 0) | (t == gemm.M),
            "n": lambda t: (t % cols == 0) | (t == gemm.N)}


@lru_cache(maxsize=4096)
def plan_gemm(gemm: Gemm, model: BufferModel, widths: ElementWidths = ElementWidths(),
              order: str = "best", align: int = 8, burst_bytes: int | None = None) -> GemmPlan:
    """The tiling and order with the fewest DRAM bytes for ``gemm`` under ``model``.

    ``burst_bytes`` None (default) counts payload bytes; a burst size (64) counts the bytes
    the burst trace moves (module docstring). Ties go to fewer tiles (fewer steps), then to
    Scan, then to the first loop order in :data:`LOOP_ORDERS`. Raises
    :class:`BufferTooSmallError` if nothing fits.
    """
    visits = visit_orders_for(order)
    check_buffer(gemm, model)
    if burst_bytes is not None:
        return _plan_gemm_bursts(gemm, model, widths, visits, align, _check_burst(burst_bytes))
    points = np.empty((0, 3), dtype=np.int64)
    padding = padding_rules(gemm, model)
    if padding:
        points = candidate_points(gemm, model, align, allow=padding)
    if not len(points):
        points = candidate_points(gemm, model, align)
    tm, tn, tk = points[:, 0], points[:, 1], points[:, 2]
    dims = tile_dims(gemm, tm, tn, tk)
    tiles = dims["m"][2] * dims["n"][2] * dims["k"][2]
    mn = gemm.M * gemm.N
    best = None
    for visit in visits:
        for loop_order in LOOP_ORDERS:
            va, vb, vc = residency_areas(gemm, tm, tn, tk, loop_order, visit, dims)
            cost = va * widths.a + vb * widths.b + (vc - mn) * (2 * widths.psum) + mn * widths.c
            low = cost.min()
            i = int(np.flatnonzero(cost == low)[np.argmin(tiles[cost == low])])
            key = (int(low), int(tiles[i]))
            if best is None or key < best[0]:
                best = (key, Tiling(int(tm[i]), int(tn[i]), int(tk[i]), loop_order, visit))
    tiling = best[1]
    return GemmPlan(gemm, tiling, gemm_traffic(gemm, tiling), lower_bound(gemm, model.entries),
                    model, widths)


# --- burst-aware objective ----------------------------------------------------------------

#: The operands as DRAM tensors: (name, row index, column index, ElementWidths field).
_BURST_OPERANDS = (("A", "m", "k", "a"), ("B", "k", "n", "b"), ("C", "m", "n", "c"),
                   ("C.psum", "m", "n", "psum"))


def _check_burst(burst_bytes: int) -> int:
    if (isinstance(burst_bytes, bool) or not isinstance(burst_bytes, int) or burst_bytes < 1
            or burst_bytes & (burst_bytes - 1)):
        raise InvalidOptionError(f"burst_bytes must be a power of two, not {burst_bytes!r}")
    return burst_bytes


def burst_quanta(gemm: Gemm, widths: ElementWidths, burst_bytes: int = 64) -> dict[str, tuple[int, ...]]:
    """Per dimension letter, the tile multiples that make some operand's transfers whole
    bursts: a narrow tile's width in bursts, or a whole-row tile's size in bursts."""
    found: dict[str, set[int]] = {"m": set(), "n": set(), "k": set()}
    for _, row, col, field in _BURST_OPERANDS:
        elem = getattr(widths, field)
        row_bytes = gemm.dim(col) * elem
        found[col].add(burst_bytes // gcd(burst_bytes, elem))
        found[row].add(burst_bytes // gcd(burst_bytes, row_bytes))
    return {x: tuple(sorted(q for q in found[x] if q > 1)) for x in "mnk"}


def _ceil_to(value, multiple: int):
    return -(-value // multiple) * multiple


def _moved_dims(dims: dict, row: str, col: str, elem: int, burst_bytes: int):
    """Per-index ``(D, T, n, e)`` of one operand in byte units such that a tile's bytes moved
    are the product of its row and column sizes, and whether that count is exact."""
    d_r, t_r, n_r, e_r = dims[row]
    d_c, t_c, n_c, e_c = dims[col]
    row_bytes = d_c * elem
    full = n_c == 1                   # whole rows: each tile is one contiguous range
    # contiguous ranges: a tile of t_r rows spans t_r*row_bytes bytes, rounded to bursts
    tf, ef = _ceil_to(t_r * row_bytes, burst_bytes), _ceil_to(e_r * row_bytes, burst_bytes)
    exact_full = full & (((t_r * row_bytes) % burst_bytes == 0) | (n_r == 1))
    # narrow tiles: each row segment rounded to bursts (exact when rows and widths are whole)
    tc, ec = _ceil_to(t_c * elem, burst_bytes), _ceil_to(e_c * elem, burst_bytes)
    exact_cols = (row_bytes % burst_bytes == 0) & ((t_c * elem) % burst_bytes == 0)
    one = np.ones_like(tc)
    rows = (np.where(full, (n_r - 1) * tf + ef, d_r), np.where(full, tf, t_r), n_r,
            np.where(full, ef, e_r))
    cols = (np.where(full, one, (n_c - 1) * tc + ec), np.where(full, one, tc), n_c,
            np.where(full, one, ec))
    return rows, cols, np.where(full, exact_full, exact_cols)


def burst_operands(gemm: Gemm, dims: dict, widths: ElementWidths, burst_bytes: int) -> list:
    """Per operand ``(name, missing index, per-index byte dims, exact mask)`` for
    :func:`burst_moved_bytes`; independent of the loop and visit order, so compute it once."""
    out = []
    for name, row, col, field in _BURST_OPERANDS:
        rows, cols, ok = _moved_dims(dims, row, col, getattr(widths, field), burst_bytes)
        own = dict(dims)
        own[row], own[col] = rows, cols
        out.append((name, ({"m", "n", "k"} - {row, col}).pop(), own, ok, rows[0] * cols[0]))
    return out


def burst_moved_bytes(gemm: Gemm, tm, tn, tk, loop_order: str, visit_order,
                      widths: ElementWidths = ElementWidths(), burst_bytes: int = 64,
                      dims: dict | None = None, operands: list | None = None):
    """Bytes the burst trace of each tiling moves, and whether that figure is exact.

    Returns ``(moved, exact)`` int64/bool arrays over the tilings. ``moved`` sums, over every
    residency of every operand tile (the residency areas of :mod:`scanfuse.plan.traffic`,
    with tile sizes in bytes), the whole bursts the tile's rows occupy: exactly what
    :func:`scanfuse.dram.bursts.gemm_bursts` emits for a dense :class:`GemmLayout` whose
    regions start on burst boundaries, where ``exact`` holds (every tile row whole bursts, or
    whole-row tiles whose byte size is whole bursts). Elsewhere it is an estimate: a
    misaligned row may touch one more burst, or share one with its neighbour. ``dims`` and
    ``operands`` (:func:`burst_operands`) may pass precomputed arrays of the same tiles.
    """
    _check_burst(burst_bytes)
    dims = dims or tile_dims(gemm, tm, tn, tk)
    operands = operands or burst_operands(gemm, dims, widths, burst_bytes)
    scan = VisitOrder.parse(visit_order) is VisitOrder.SCAN
    mn = gemm.M * gemm.N
    moved, exact, spills_none = 0, True, None
    for name, missing, own, ok, once in operands:
        if name == "C":
            moved = moved + once      # final stores: each C tile once
            exact = exact & ok
            spills_none = np.asarray(_residency_area(missing, loop_order, scan, dims)) == mn
            continue
        area = np.asarray(_residency_area(missing, loop_order, scan, own), dtype=np.int64)
        if name == "C.psum":          # spills, each read back once
            moved = moved + 2 * (area - once)
            exact = exact & (ok | spills_none)
        else:
            moved = moved + area
            exact = exact & ok
    return np.asarray(moved, dtype=np.int64), np.asarray(exact, dtype=bool)


def _exact_columns(gemm: Gemm, widths: ElementWidths, burst_bytes: int) -> dict:
    """Per column letter (k, n), the tile sizes whose operand column ranges can be exact:
    the whole row, or whole bursts of a row that is itself whole bursts."""
    rules: dict[str, list] = {"k": [], "n": []}
    for _, row, col, field in _BURST_OPERANDS[:3]:          # psum only counts when spilled
        elem, dim = getattr(widths, field), gemm.dim(col)
        aligned = (dim * elem) % burst_bytes == 0
        rules[col].append(lambda t, d=dim, e=elem, a=aligned: (t == d) | (a & ((t * e) % burst_bytes == 0)))
    return {x: (lambda t, fs=fs: np.logical_and.reduce([f(t) for f in fs])) for x, fs in rules.items()}


@lru_cache(maxsize=256)
def _burst_candidates(gemm: Gemm, model: BufferModel, widths: ElementWidths, align: int,
                      burst_bytes: int, exact_only: bool):
    """Candidate tilings and their per-operand byte geometry, shared by the visit orders.

    A tiling can only be exact when the columns of A, B and C are whole rows or whole bursts,
    so ``exact_only`` tries only such ``tk`` and ``tn``."""
    allow = _exact_columns(gemm, widths, burst_bytes) if exact_only else None
    points = candidate_points(gemm, model, align, burst_quanta(gemm, widths, burst_bytes), allow)
    tm, tn, tk = points[:, 0], points[:, 1], points[:, 2]
    dims = tile_dims(gemm, tm, tn, tk)
    tiles = dims["m"][2] * dims["n"][2] * dims["k"][2]
    return tm, tn, tk, dims, tiles, burst_operands(gemm, dims, widths, burst_bytes)


def _plan_gemm_bursts(gemm: Gemm, model: BufferModel, widths: ElementWidths, visits,
                      align: int, burst_bytes: int) -> GemmPlan:
    """The exact tiling moving the fewest bytes; if none fits, the best estimate over every
    candidate (``moved_bytes`` then unset)."""
    for exact_only in (True, False):
        tm, tn, tk, dims, tiles, operands = _burst_candidates(gemm, model, widths, align,
                                                              burst_bytes, exact_only)
        best = None
        for visit in visits:
            for loop_order in LOOP_ORDERS:
                moved, exact = burst_moved_bytes(gemm, tm, tn, tk, loop_order, visit, widths,
                                                 burst_bytes, dims, operands)
                pick = np.flatnonzero(exact) if exact_only else np.arange(len(moved))
                if pick.size == 0:
                    continue
                low = moved[pick].min()
                tied = pick[moved[pick] == low]
                i = int(tied[np.argmin(tiles[tied])])
                key = (int(low), int(tiles[i]))
                if best is None or key < best[0]:
                    best = (key, Tiling(int(tm[i]), int(tn[i]), int(tk[i]), loop_order, visit))
        if best is not None:
            (moved, _), tiling = best
            return GemmPlan(gemm, tiling, gemm_traffic(gemm, tiling), lower_bound(gemm, model.entries),
                            model, widths, burst_bytes, moved if exact_only else None)
    raise BufferTooSmallError(f"no tiling of {gemm} fits {model.describe()}")
