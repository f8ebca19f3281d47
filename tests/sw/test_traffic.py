"""The tile walk and the closed-form traffic model."""

import itertools
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scanfuse.plan import LOOP_ORDERS, Gemm, Tiling, VisitOrder, gemm_traffic
from scanfuse.plan.walk import tile_walk


@pytest.mark.parametrize("order", LOOP_ORDERS)
@pytest.mark.parametrize("counts", [(1, 1, 1), (3, 1, 2), (2, 3, 4), (4, 4, 1), (1, 5, 3)])
def test_walks_visit_every_tile_once(order, counts):
    counts = dict(zip("mnk", counts))
    for visit in VisitOrder:
        walk = [tuple(t[x] for x in "mnk") for t in tile_walk(counts, order, visit)]
        assert sorted(walk) == list(itertools.product(*(range(counts[x]) for x in "mnk")))
    raster = [tuple(t[x] for x in order) for t in tile_walk(counts, order, VisitOrder.RASTER)]
    assert raster == sorted(raster)
    scan = [tuple(t[x] for x in "mnk") for t in tile_walk(counts, order, VisitOrder.SCAN)]
    for a, b in zip(scan, scan[1:]):
        # Scan: every step moves one index by one.
        assert sorted(abs(x - y) for x, y in zip(a, b)) == [0, 0, 1]


def _method_notes_traffic(gemm, tiling):
    """Closed form for divisible shapes, as written in the method notes (section 2)."""
    n = {x: gemm.dim(x) // tiling.tile(x) for x in "mnk"}
    o, m, z = tiling.loop_order
    if tiling.visit_order is VisitOrder.SCAN:
        transitions = {z: n[o] * n[m] * (n[z] - 1), m: n[o] * (n[m] - 1), o: n[o] - 1}
        changed = {x: {x} for x in "mnk"}
    else:
        # A raster step at level l also resets every inner index that was not already 0.
        transitions = {z: n[o] * n[m] * (n[z] - 1), m: n[o] * (n[m] - 1), o: n[o] - 1}
        changed = {z: {z}, m: {m} | ({z} if n[z] > 1 else set()),
                   o: {o} | ({m} if n[m] > 1 else set()) | ({z} if n[z] > 1 else set())}
    loads = {}
    for operand, idx in (("A", "mk"), ("B", "kn"), ("C", "mn")):
        loads[operand] = 1 + sum(t for level, t in transitions.items() if changed[level] & set(idx))
    tm, tn, tk = tiling.tm, tiling.tn, tiling.tk
    c_writes = loads["C"] * tm * tn
    return (loads["A"] * tm * tk, loads["B"] * tk * tn, c_writes - gemm.M * gemm.N, c_writes)


def test_closed_form_matches_method_notes_on_divisible_shapes():
    rng = random.Random(7)
    for _ in range(400):
        tiles = [rng.randint(1, 6) for _ in range(3)]
        counts = [rng.randint(1, 5) for _ in range(3)]
        gemm = Gemm(tiles[0] * counts[0], tiles[2] * counts[2], tiles[1] * counts[1])
        tiling = Tiling(*tiles, rng.choice(LOOP_ORDERS), rng.choice(list(VisitOrder)))
        t = gemm_traffic(gemm, tiling)
        assert (t.a_reads, t.b_reads, t.c_psum_reads, t.writes) == _method_notes_traffic(gemm, tiling)


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 60), st.integers(1, 60), st.integers(1, 60), st.data())
def test_scan_never_worse_than_raster(M, K, N, data):
    gemm = Gemm(M, K, N)
    tm, tn, tk = (data.draw(st.integers(1, d)) for d in (M, N, K))
    order = data.draw(st.sampled_from(LOOP_ORDERS))
    scan = gemm_traffic(gemm, Tiling(tm, tn, tk, order, "scan"))
    raster = gemm_traffic(gemm, Tiling(tm, tn, tk, order, "raster"))
    for field in ("a_reads", "b_reads", "c_psum_reads", "c_psum_writes"):
        assert getattr(scan, field) <= getattr(raster, field)


def test_scan_saving_for_order_mnk():
    # Method notes: with loops (i, j, k) Scan saves Tm*Tk*nI*(nJ-1) + Tk*Tn*(nI-1).
    tm, tn, tk, ni, nj, nk = 8, 16, 4, 5, 3, 7
    gemm = Gemm(tm * ni, tk * nk, tn * nj)
    raster = gemm_traffic(gemm, Tiling(tm, tn, tk, "mnk", "raster"))
    scan = gemm_traffic(gemm, Tiling(tm, tn, tk, "mnk", "scan"))
    assert raster.total - scan.total == tm * tk * ni * (nj - 1) + tk * tn * (ni - 1)


def test_fragmented_edges_are_counted_at_true_size():
    # One m tile of 5 then an edge of 2; K and N fit in one tile: A, B, C each move once.
    t = gemm_traffic(Gemm(7, 3, 4), Tiling(5, 4, 3, "mnk", "raster"))
    assert (t.a_reads, t.b_reads, t.writes, t.c_psum_reads) == (21, 12, 28, 0)
    # Scan over n with an edge: A (m, k) is kept across the n steps, B reloaded per m tile
    # except the one kept at the m turn (the 4x1 edge tile, width 1 = 9 - 2*4).
    t = gemm_traffic(Gemm(6, 4, 9), Tiling(3, 4, 4, "mnk", "scan"))
    assert t.a_reads == 24
    assert t.b_reads == 2 * 36 - 4 * 1


def test_tile_larger_than_dimension_is_rejected():
    from scanfuse.errors import InvalidShapeError
    with pytest.raises(InvalidShapeError, match="exceeds"):
        gemm_traffic(Gemm(4, 4, 4), Tiling(5, 1, 1))
