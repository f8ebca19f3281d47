"""The planner's traffic equals an independent replay of its step list, which must be legal."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from replays.gemm import IllegalSchedule, replay
from scanfuse.plan import (LOOP_ORDERS, BufferModel, ElementWidths, Gemm, Tiling, VisitOrder,
                           gemm_traffic, plan_gemm)
from scanfuse.schedule import build_schedule
from scanfuse.schedule.steps import count_steps, iter_steps

WIDTHS = ElementWidths()


def _check(gemm, tiling, model, widths=WIDTHS):
    schedule = build_schedule(gemm, tiling, model, widths)
    doc = json.loads(json.dumps(schedule.to_json()))      # through the JSON contract
    result = replay(doc["steps"], gemm.M, gemm.K, gemm.N, model.entries, model.psum_entries,
                    (widths.a, widths.b, widths.c, widths.psum))
    traffic = gemm_traffic(gemm, tiling)
    assert (result.reads, result.writes) == (traffic.reads, traffic.writes)
    assert (result.read_bytes, result.write_bytes) == (traffic.read_bytes(widths), traffic.write_bytes(widths))
    assert doc["dram"] == {"reads": result.reads, "writes": result.writes,
                           "read_bytes": result.read_bytes, "write_bytes": result.write_bytes}
    assert result.peak_entries <= model.footprint(tiling.tm, tiling.tn, tiling.tk)
    return result


dims = st.one_of(st.integers(1, 13), st.sampled_from([17, 19, 23, 29, 31]))


@st.composite
def tiled_problems(draw):
    """A GEMM, a tiling of it, and a buffer barely large enough for that tiling."""
    gemm = Gemm(draw(dims), draw(dims), draw(dims))
    tiling = Tiling(draw(st.integers(1, gemm.M)), draw(st.integers(1, gemm.N)),
                    draw(st.integers(1, gemm.K)), draw(st.sampled_from(LOOP_ORDERS)),
                    draw(st.sampled_from(list(VisitOrder))))
    psum_entries = draw(st.sampled_from([1, 1, 4]))
    double = draw(st.booleans())
    probe = BufferModel(10**9, psum_entries, double)
    need = int(probe.footprint(tiling.tm, tiling.tn, tiling.tk))
    return gemm, tiling, BufferModel(need + draw(st.integers(0, 2)), psum_entries, double)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tiled_problems())
def test_closed_form_equals_replay_of_any_tiling(problem):
    gemm, tiling, model = problem
    _check(gemm, tiling, model)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tiled_problems())
def test_step_count_without_building_equals_the_step_list(problem):
    gemm, tiling, model = problem
    assert count_steps(gemm, tiling, model) == len(list(iter_steps(gemm, tiling, model)))


@settings(max_examples=80, deadline=None)
@given(dims, dims, dims, st.integers(3, 400), st.sampled_from(["scan", "raster", "best"]),
       st.sampled_from([1, 4]), st.booleans())
def test_searched_plan_replays_legally(M, K, N, entries, order, psum_entries, double):
    model = BufferModel(entries, psum_entries, double)
    if model.smallest_footprint > entries:
        return
    plan = plan_gemm(Gemm(M, K, N), model, ElementWidths(), order)
    assert model.fits(plan.tiling.tm, plan.tiling.tn, plan.tiling.tk)
    result = _check(plan.gemm, plan.tiling, model)
    assert result.peak_entries <= entries


def test_psum_widths_are_counted_in_bytes():
    gemm = Gemm(6, 10, 4)
    model = BufferModel(10**6)
    widths = ElementWidths(a=1, b=2, c=1, psum=4)
    # k outermost with 4 chunks: raster stores each of the 24 C elements 4 times, 3 partial.
    raster = _check(gemm, Tiling(3, 2, 3, "kmn", "raster"), model, widths)
    assert raster.write_bytes == 24 * 1 + 72 * 4 and raster.read_bytes == 60 + 80 * 2 + 72 * 4  # B lacks m: read once per m tile
    # Scan keeps the C tile (3x2) across each of the 3 k turns: 18 fewer spills and reloads.
    scan = _check(gemm, Tiling(3, 2, 3, "kmn", "scan"), model, widths)
    assert scan.write_bytes == 24 * 1 + 54 * 4


def test_replay_rejects_illegal_lists():
    steps = build_schedule(Gemm(4, 4, 4), Tiling(2, 2, 2, "mnk", "scan"), BufferModel(100)).to_json()["steps"]
    with pytest.raises(IllegalSchedule, match="capacity"):
        replay(steps, 4, 4, 4, capacity=11)
    with pytest.raises(IllegalSchedule, match="misses"):
        replay([s for s in steps if not (s["op"] == "compute" and s["k"] == [0, 2])], 4, 4, 4, 100)
    dropped_load = [s for s in steps if not (s["op"] == "load" and s["operand"] == "B")]
    with pytest.raises(IllegalSchedule, match="resident"):
        replay(dropped_load, 4, 4, 4, 100)


def test_double_buffering_prefetches_before_evicting():
    schedule = build_schedule(Gemm(8, 2, 2), Tiling(2, 2, 2, "mnk", "scan"),
                              BufferModel(20, double_buffer=True))   # the footprint: 2*(4+4)+4
    ops = [(type(s).__name__, getattr(s, "operand", "")) for s in schedule.steps[:8]]
    assert ops[:4] == [("Load", "A"), ("Load", "B"), ("Compute", ""), ("Load", "A")]
    result = _check(schedule.gemm, schedule.tiling, schedule.model)
    assert result.peak_entries == 2 * 4 + 4 + 4        # two A tiles, one B, one C


@settings(max_examples=60, deadline=None)
@given(dims, dims, dims, st.integers(1, 120), st.integers(1, 120), st.integers(1, 60), st.booleans())
def test_split_memories_plan_and_replay(M, K, N, a, b, c, double):
    """Separate A/B/C capacities (the engine's organisation): each memory holds its tiles."""
    from scanfuse.errors import BufferTooSmallError
    model = BufferModel.separate(a, b, c, double)
    try:
        plan = plan_gemm(Gemm(M, K, N), model)
    except BufferTooSmallError:
        assert not model.fits_smallest
        return
    t = plan.tiling
    copies = 2 if double else 1
    assert copies * t.tm * t.tk <= a and copies * t.tk * t.tn <= b and t.tm * t.tn <= c
    doc = build_schedule(plan.gemm, t, model).to_json()
    # Double buffering holds up to two A and two B tiles at once: the replay gets their room.
    split = (a, b, c)
    result = replay(doc["steps"], M, K, N, model.entries, 1, split=split)
    assert (result.reads, result.writes) == (plan.traffic.reads, plan.traffic.writes)


def test_split_search_is_exhaustive_on_small_shapes():
    import numpy as np
    from scanfuse.plan.traffic import traffic_bytes
    rng = __import__("random").Random(2)
    for _ in range(60):
        gemm = Gemm(rng.randint(1, 20), rng.randint(1, 20), rng.randint(1, 20))
        # Unpadded, and padded to engine words (array rows/cols, beat bytes) as AccelConfig does.
        model = BufferModel.separate(rng.randint(1, 200), rng.randint(1, 200), rng.randint(1, 100),
                                     rng.random() < 0.3,
                                     rng.choice([(1, 1, 1, 1), (2, 4, 4, 2), (4, 8, 8, 4)]))
        if not model.fits_smallest:
            continue
        grids = np.meshgrid(*(np.arange(1, gemm.dim(x) + 1) for x in "mnk"), indexing="ij")
        tm, tn, tk = (g.ravel() for g in grids)
        ok = model.fits(tm, tn, tk)
        best = min(int(traffic_bytes(gemm, tm[ok], tn[ok], tk[ok], o, v, WIDTHS).min())
                   for o in LOOP_ORDERS for v in VisitOrder)
        assert plan_gemm(gemm, model, WIDTHS, "best", align=1).total_bytes == best
