"""Search for the tiling and order of a GEMM that minimise DRAM bytes under a buffer model.

Candidates per dimension are ``ceil(D/n)`` for every tile count ``n`` (the smallest tile that
gives ``n`` tiles, so it leaves the most room for the others) plus those rounded up to a
multiple of ``align`` (the PE array size). For every pair of dimensions the third tile size is
derived from the footprint: the largest few candidates that still fit, and the largest size
that fits. Every point is evaluated for all six loop orders and the requested visit orders
with the exact closed form of :mod:`scanfuse.plan.traffic`, vectorised with numpy.
"""

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..errors import BufferTooSmallError, InvalidOptionError
from .bound import lower_bound
from .buffer import BufferModel, ElementWidths, PlanBytes
from .gemm import Gemm
from .tiling import LOOP_ORDERS, Tiling, VisitOrder
from .traffic import Traffic, gemm_traffic, residency_areas, tile_dims

#: Orders accepted by the search: a visit order, or ``best`` of both.
ORDER_CHOICES = ("scan", "raster", "best")

#: How many of the largest fitting candidates to try for the derived dimension.
DERIVED_CANDIDATES = 3


def candidate_tiles(dim: int, align: int = 8) -> np.ndarray:
    """Sorted distinct tile sizes worth trying along a dimension of ``dim`` elements."""
    n = np.arange(1, dim + 1, dtype=np.int64)
    sizes = np.unique(-(-dim // n))
    if align > 1:
        rounded = -(-sizes // align) * align
        sizes = np.unique(np.concatenate([sizes, rounded[rounded <= dim]]))
    return sizes


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
        if derived == "k":      # x = tm, y = tn
            top, ok = np.minimum(sa // (c * x), sb // (c * y)), x * y <= sc
        elif derived == "n":    # x = tm, y = tk
            top, ok = np.minimum(sb // (c * y), sc // x), c * x * y <= sa
        else:                   # x = tn, y = tk
            top, ok = np.minimum(sa // (c * y), sc // x), c * x * y <= sb
        return np.where(ok, top, 0)
    if derived == "k":      # x = tm, y = tn
        return (s - p * x * y) // (c * (x + y))
    if derived == "n":      # x = tm, y = tk
        return (s - c * x * y) // (c * y + p * x)
    # derived == "m":        x = tn, y = tk
    return (s - c * x * y) // (c * y + p * x)


def candidate_points(gemm: Gemm, model: BufferModel, align: int = 8) -> np.ndarray:
    """Fitting ``(tm, tn, tk)`` candidates as an ``(n, 3)`` int64 array (may be empty)."""
    cands = {x: candidate_tiles(gemm.dim(x), align) for x in "mnk"}
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
        for value in options:
            cols = {x_name: xs, y_name: ys, derived: value}
            points.append(np.stack([cols["m"], cols["n"], cols["k"]], axis=1))
    if not points:
        return np.empty((0, 3), dtype=np.int64)
    # De-duplicate through one int64 key per point (a row-wise unique sorts far slower).
    stacked = np.concatenate(points)
    stacked = stacked[model.fits(stacked[:, 0], stacked[:, 1], stacked[:, 2])]
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

    @property
    def ratio(self) -> float:
        """DRAM traffic over the lower bound, both in elements (>= 1)."""
        return self.traffic.total / self.lower_bound


def check_buffer(gemm: Gemm, model: BufferModel) -> None:
    """Raise :class:`BufferTooSmallError` if not even 1x1x1 tiles fit."""
    if model.split is not None and not model.fits_smallest:
        raise BufferTooSmallError(
            f"separate memories of {model.split} entries cannot hold 1x1x1 tiles of {gemm}"
            f"{' double-buffered' if model.double_buffer else ''} (A and B need "
            f"{model.operand_copies} entries each, C 1)")
    if model.smallest_footprint > model.entries:
        raise BufferTooSmallError(
            f"a buffer of {model.entries} entries cannot hold the smallest tiling of {gemm} "
            f"(1x1x1 tiles need {model.smallest_footprint} entries with psum_entries="
            f"{model.psum_entries}{', double-buffered' if model.double_buffer else ''})")


@lru_cache(maxsize=4096)
def plan_gemm(gemm: Gemm, model: BufferModel, widths: ElementWidths = ElementWidths(),
              order: str = "best", align: int = 8) -> GemmPlan:
    """The tiling and order with the fewest DRAM bytes for ``gemm`` under ``model``.

    Ties go to fewer tiles (fewer steps), then to Scan, then to the first loop order in
    :data:`LOOP_ORDERS`. Raises :class:`BufferTooSmallError` if nothing fits.
    """
    visits = visit_orders_for(order)
    check_buffer(gemm, model)
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

