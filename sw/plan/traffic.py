"""Exact DRAM traffic of a tiled GEMM in closed form, vectorised over candidate tilings.

The rules (method notes, section 2): moving from tile (m, n, k) to the next tile of the walk,
A is loaded iff its tile (m, k) changed, B iff (k, n) changed; when the C tile (m, n) changes
the old one is stored (a partial-sum spill unless all of K is accumulated) and a C tile seen
before is read back. Edge tiles count at their true size.

For an operand P with tile indices I_P and loop order (o, mid, z) outer to inner, let
``V_P`` be the summed area of the P tiles made resident over the whole walk. ``V_P`` depends
only on which index P lacks (see :func:`_residency_area`). Then

* A reads = V_A, B reads = V_B;
* C stores = V_C (every residency ends in a store), of which M*N are final outputs and
  V_C - M*N partial-sum spills; C reads (partial-sum read-back) = V_C - M*N.

:func:`scanfuse.schedule.build_schedule` emits the same decisions step by step from
:func:`scanfuse.plan.walk.tile_walk`; the tests replay that step list and require equality.
"""

from dataclasses import dataclass

import numpy as np

from ..errors import check_type
from .buffer import ElementWidths
from .gemm import Gemm
from .tiling import OPERAND_INDICES, Tiling, VisitOrder


def _dim_arrays(dim: int, tile):
    """Per-index arrays: size D, full tile T (clipped to D), count n, edge tile e."""
    t = np.minimum(np.asarray(tile, dtype=np.int64), dim)
    n = -(-dim // t)
    e = dim - (n - 1) * t
    return dim, t, n, e


def _residency_area(missing: str, order: str, scan: bool, dims: dict):
    """Summed area of all residencies of an operand lacking index ``missing``.

    ``dims[x] = (D, T, n, e)`` per index. ``order = (o, mid, z)`` outer to inner.
    """
    o, mid, z = order
    Do, To, no, eo = dims[o]
    Dm, Tm, nm, em = dims[mid]
    Dz, Tz, nz, ez = dims[z]
    if missing == z:
        # P = {o, mid}: each (o, mid) pair is one contiguous run of the walk.
        return np.broadcast_to(np.int64(Do * Dm), np.broadcast_shapes(To.shape, Tm.shape, Tz.shape))
    if missing == mid:
        # P = {o, z}: reloaded on z steps and o steps, kept across mid steps.
        if not scan:
            # A raster carry over mid resets z, which reloads P unless there is one z tile.
            return np.where(nz > 1, Do * Dz * nm, Do * Dz)
        # Run r of the walk goes forward on even r. Each run after the first of an o
        # iteration keeps the tile it starts on: z = 0 (size Tz) for an even run,
        # z = nz-1 (size ez) for an odd one. Per o iteration there are nm-1 such runs;
        # their parity split does not depend on o.
        odd_runs = np.where(nm % 2 == 0, nm // 2, (nm - 1) // 2)
        even_runs = (nm - 1) - odd_runs
        return Do * (Dz * nm - even_runs * Tz - odd_runs * ez)
    # missing == o, P = {mid, z}: reloaded on every mid and z step.
    if not scan:
        # A raster carry over o resets (mid, z) to (0, 0): a reload unless the grid is 1x1.
        return np.where(nm * nz > 1, no * Dm * Dz, Dm * Dz)
    # Scan: the o step keeps the last (mid, z) tile. Iteration o starts where o-1 ended:
    # for odd o at mid = nm-1 (edge, em) and z = nz-1 (ez) if nm is odd else z = 0 (Tz);
    # for even o >= 2 at mid = 0, z = 0 (Tm * Tz).
    odd_o = no // 2
    even_o = (no - 1) - odd_o
    kept = odd_o * em * np.where(nm % 2 == 1, ez, Tz) + even_o * Tm * Tz
    return no * Dm * Dz - kept


@dataclass(frozen=True)
class Traffic:
    """DRAM traffic of one schedule, in elements (bytes via :meth:`bytes`).

    Attributes
    ----------
    a_reads, b_reads:
        A and B elements loaded.
    c_psum_reads:
        Partial-sum elements read back.
    c_final_writes:
        Final C elements stored (always M*N).
    c_psum_writes:
        Partial-sum elements spilled.
    """

    a_reads: int
    b_reads: int
    c_psum_reads: int
    c_final_writes: int
    c_psum_writes: int

    @property
    def reads(self) -> int:
        return self.a_reads + self.b_reads + self.c_psum_reads

    @property
    def writes(self) -> int:
        return self.c_final_writes + self.c_psum_writes

    @property
    def total(self) -> int:
        return self.reads + self.writes

    def read_bytes(self, widths: ElementWidths) -> int:
        return self.a_reads * widths.a + self.b_reads * widths.b + self.c_psum_reads * widths.psum

    def write_bytes(self, widths: ElementWidths) -> int:
        return self.c_final_writes * widths.c + self.c_psum_writes * widths.psum

    def total_bytes(self, widths: ElementWidths) -> int:
        return self.read_bytes(widths) + self.write_bytes(widths)

    def __add__(self, other: "Traffic") -> "Traffic":
        return Traffic(*(getattr(self, f) + getattr(other, f) for f in
                         ("a_reads", "b_reads", "c_psum_reads", "c_final_writes", "c_psum_writes")))


def tile_dims(gemm: Gemm, tm, tn, tk) -> dict:
    """Per-index ``(D, T, n, e)`` arrays for :func:`residency_areas` (compute once, reuse)."""
    return {"m": _dim_arrays(gemm.M, tm), "n": _dim_arrays(gemm.N, tn), "k": _dim_arrays(gemm.K, tk)}


def residency_areas(gemm: Gemm, tm, tn, tk, loop_order: str, visit_order: VisitOrder,
                    dims: dict | None = None):
    """``(V_A, V_B, V_C)`` as int64 arrays broadcast over the tile-size arrays.

    ``dims`` may pass a precomputed :func:`tile_dims` of the same tiles.
    """
    dims = dims or tile_dims(gemm, tm, tn, tk)
    scan = VisitOrder.parse(visit_order) is VisitOrder.SCAN
    areas = []
    for operand in "ABC":
        missing = ({"m", "n", "k"} - set(OPERAND_INDICES[operand])).pop()
        areas.append(np.asarray(_residency_area(missing, loop_order, scan, dims), dtype=np.int64))
    return tuple(areas)


def traffic_bytes(gemm: Gemm, tm, tn, tk, loop_order: str, visit_order: VisitOrder,
                  widths: ElementWidths):
    """Total DRAM bytes (reads + writes) for arrays of tilings: the search objective."""
    va, vb, vc = residency_areas(gemm, tm, tn, tk, loop_order, visit_order)
    mn = gemm.M * gemm.N
    return va * widths.a + vb * widths.b + (vc - mn) * (2 * widths.psum) + mn * widths.c


def gemm_traffic(gemm: Gemm, tiling: Tiling) -> Traffic:
    """Exact DRAM traffic of ``tiling`` on ``gemm`` (fragmented edge tiles included)."""
    check_type("gemm", gemm, Gemm)
    check_type("tiling", tiling, Tiling)
    tiling.check_fits(gemm)
    va, vb, vc = residency_areas(gemm, tiling.tm, tiling.tn, tiling.tk,
                                 tiling.loop_order, tiling.visit_order)
    mn = gemm.M * gemm.N
    spills = int(vc) - mn
    return Traffic(a_reads=int(va), b_reads=int(vb), c_psum_reads=spills,
                   c_final_writes=mn, c_psum_writes=spills)
