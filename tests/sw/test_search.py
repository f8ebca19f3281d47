"""The tiling search: optimal over all tilings on small shapes, and the pinned network results."""

import random

import numpy as np
import pytest

from scanfuse.errors import BufferTooSmallError, InvalidOptionError
from scanfuse.network import get_network
from scanfuse.plan import (LOOP_ORDERS, BufferModel, ElementWidths, Gemm, VisitOrder,
                           lower_bound, plan_gemm, plan_network)
from scanfuse.plan.traffic import traffic_bytes


def _brute_force_bytes(gemm, model, widths, visits):
    grids = np.meshgrid(*(np.arange(1, gemm.dim(x) + 1) for x in "mnk"), indexing="ij")
    tm, tn, tk = (g.ravel() for g in grids)
    fit = model.fits(tm, tn, tk)
    tm, tn, tk = tm[fit], tn[fit], tk[fit]
    return min(int(traffic_bytes(gemm, tm, tn, tk, order, visit, widths).min())
               for order in LOOP_ORDERS for visit in visits)


def test_search_finds_the_exhaustive_optimum_on_small_shapes():
    rng = random.Random(11)
    checked = 0
    while checked < 60:
        gemm = Gemm(rng.randint(1, 24), rng.randint(1, 24), rng.randint(1, 24))
        model = BufferModel(rng.randint(3, 500), rng.choice([1, 4]), rng.random() < 0.3)
        if model.smallest_footprint > model.entries:
            continue
        widths = ElementWidths(psum=rng.choice([1, 4]))
        for order, visits in (("best", list(VisitOrder)), ("raster", [VisitOrder.RASTER])):
            plan = plan_gemm(gemm, model, widths, order, align=1)
            assert plan.total_bytes == _brute_force_bytes(gemm, model, widths, visits)
        checked += 1


def test_lower_bound_keeps_the_minus_2s_term():
    # Method notes: at 64K this layer reaches compulsory traffic, above 2MNK/sqrt(S) alone.
    gemm = Gemm(3136, 24, 144)
    assert lower_bound(gemm, 65536) == gemm.compulsory
    plan = plan_gemm(gemm, BufferModel(65536))
    assert plan.traffic.total == gemm.compulsory and plan.ratio == 1.0
    assert lower_bound(Gemm(1024, 1024, 1024), 4096) == 2 * 1024**3 // 64 - 2 * 4096


def test_mobilenetv2_reaches_its_lower_bound_at_64k():
    plan = plan_network(get_network("mobilenetv2"), BufferModel(65536))
    assert len(plan.layers) == 34
    assert all(item.plan.traffic.total == item.plan.lower_bound for item in plan.layers)
    assert plan.traffic.total == plan.lower_bound == 8_973_696


def test_resnet50_pointwise_traffic_at_64k():
    plan = plan_network(get_network("resnet50"), BufferModel(65536))
    assert plan.lower_bound == 28_611_072
    assert plan.traffic.total == 30_260_480            # 1.0576 x LB
    assert plan.traffic.c_psum_writes == 0             # int32 spills cost 4 B: avoided


def test_scan_plans_never_lose_to_raster_plans():
    for name in ("mobilenetv2", "resnet50"):
        net = get_network(name)
        for entries in (16384, 65536):
            model = BufferModel(entries)
            scan = plan_network(net, model, order="scan")
            raster = plan_network(net, model, order="raster")
            assert scan.read_bytes + scan.write_bytes <= raster.read_bytes + raster.write_bytes
            for s, r in zip(scan.layers, raster.layers):
                assert s.plan.total_bytes <= r.plan.total_bytes


def test_bad_inputs_raise_typed_errors():
    with pytest.raises(BufferTooSmallError, match="cannot hold"):
        plan_gemm(Gemm(4, 4, 4), BufferModel(5, psum_entries=4))
    with pytest.raises(InvalidOptionError, match="order"):
        plan_gemm(Gemm(4, 4, 4), BufferModel(64), order="zigzag")
    with pytest.raises(InvalidOptionError, match="psum_entries"):
        BufferModel(64, psum_entries=0)
    with pytest.raises(InvalidOptionError, match="positive"):
        BufferModel(0)


def test_candidate_tiles_equal_the_full_enumeration_in_sqrt_memory():
    from scanfuse.plan.search import candidate_tiles

    def full(d, align):
        sizes = np.unique(-(-d // np.arange(1, d + 1)))
        rounded = -(-sizes // align) * align
        return np.unique(np.concatenate([sizes, rounded[rounded <= d]]))

    rng = np.random.default_rng(11)
    for d in [*range(1, 600), *rng.integers(600, 2_000_000, 60).tolist()]:
        for align in (1, 8, 64):
            assert np.array_equal(candidate_tiles(int(d), align), full(int(d), align)), (d, align)


def test_huge_gemms_plan_in_bounded_memory_or_are_refused():
    from scanfuse.errors import InvalidShapeError
    from scanfuse.plan.gemm import MAX_GEMM_DIM
    plan = plan_gemm(Gemm(MAX_GEMM_DIM, MAX_GEMM_DIM, 1), BufferModel(65536))
    assert plan.traffic.total >= Gemm(MAX_GEMM_DIM, MAX_GEMM_DIM, 1).compulsory
    with pytest.raises(InvalidShapeError, match="MAX_GEMM_DIM"):
        Gemm(MAX_GEMM_DIM + 1, 64, 64)
    with pytest.raises(InvalidShapeError, match="MAX_GEMM_MACS"):
        Gemm(MAX_GEMM_DIM, MAX_GEMM_DIM, MAX_GEMM_DIM)


def test_engine_models_tile_without_extra_padding():
    """for_engine models plan padding-aware: tm a multiple of the rows or M, tn of the cols
    or N, so the tiles pad to ceil(dim / rows) blocks; plain split models stay byte-optimal."""
    from scanfuse.hw.params import AccelConfig
    from scanfuse.plan.search import padding_rules
    for cfg in (AccelConfig(), AccelConfig(double_buffer=True), AccelConfig(rows=4, cols=4)):
        model = BufferModel.for_engine(cfg)
        assert model.array == (cfg.rows, cfg.cols)
        for gemm in (Gemm(12544, 16, 96), Gemm(196, 192, 64), Gemm(49, 960, 160)):
            t = plan_gemm(gemm, model).tiling
            assert t.tm % cfg.rows == 0 or t.tm == gemm.M, (cfg, gemm, t)
            assert t.tn % cfg.cols == 0 or t.tn == gemm.N, (cfg, gemm, t)
    assert padding_rules(Gemm(9, 9, 9), BufferModel.separate(100, 100, 100)) == {}
