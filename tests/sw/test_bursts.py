"""DRAM layout, 64-byte burst traces and the compute-aware timing model (scanfuse.dram)."""

import random

import numpy as np
import pytest

from scanfuse.dram.bursts import fused_bursts, gemm_bursts
from scanfuse.dram.layout import FusedLayout, GemmLayout, TensorPlacement
from scanfuse.dram.timing import fused_macs, issue_cycles, to_dram_cycles
from scanfuse.plan.fusion import thesis_groups
from scanfuse.plan.chain import FusedChain, FusedSchedule, chain_traffic
from scanfuse.schedule.fused import fused_steps
from scanfuse.network import NetworkBuilder
from scanfuse.plan import LOOP_ORDERS, BufferModel, ElementWidths, Gemm, Tiling, VisitOrder
from scanfuse.schedule import build_schedule
from scanfuse.schedule.steps import ComputeRows, Evict, Load, Store


def _random_case(rng: random.Random):
    gemm = Gemm(rng.randint(1, 90), rng.randint(1, 70), rng.randint(1, 70))
    tiling = Tiling(rng.randint(1, gemm.M), rng.randint(1, gemm.N), rng.randint(1, gemm.K),
                    rng.choice(LOOP_ORDERS), rng.choice(list(VisitOrder)))
    model = BufferModel(1 << 20, double_buffer=rng.random() < 0.5)
    widths = rng.choice([ElementWidths(), ElementWidths(1, 1, 1, 4), ElementWidths(2, 1, 2, 4),
                         ElementWidths(1, 2, 1, 3)])
    return build_schedule(gemm, tiling, model, widths)


def _check_trace(trace, placements):
    bb = trace.burst_bytes
    assert trace.addr.dtype == np.uint64 and trace.is_write.dtype == bool and trace.step.dtype == np.int32
    assert np.all(trace.addr % bb == 0)
    # every burst overlaps its tensor's placement
    for code, name in enumerate(trace.tensor_names):
        sel = trace.tensor == code
        if sel.any():
            p = placements[name]
            a = trace.addr[sel].astype(np.int64)
            assert a.min() + bb > p.base and a.max() < p.end, name
    # strictly ascending addresses within each step; steps in order
    same = trace.step[1:] == trace.step[:-1]
    assert np.all(np.diff(trace.step) >= 0)
    assert np.all(np.diff(trace.addr.astype(np.int64))[same] > 0)
    assert trace.bytes_moved >= trace.bytes_requested
    assert trace.bytes_moved == bb * len(trace)


def test_bytes_requested_equal_the_schedule_bytes_for_random_gemms():
    rng = random.Random(1234)
    for _ in range(150):
        schedule = _random_case(rng)
        layout = GemmLayout.dense(schedule.gemm, schedule.widths,
                                  base=rng.choice([0, 4096, 100]), align=rng.choice([1, 64, 4096]))
        trace = gemm_bursts(schedule, layout)
        assert (trace.read_bytes_requested, trace.write_bytes_requested) == schedule.byte_counts()
        assert int(trace.step_requested.sum()) == sum(schedule.byte_counts())
        _check_trace(trace, {p.name: p for p in layout.placements})
        # loads read, stores write, nothing else moves
        kinds = np.array([type(s).__name__ for s in schedule.steps])[trace.step]
        assert np.all(trace.is_write == (kinds == "Store"))
        assert set(kinds) <= {"Load", "Store"}


def test_psum_spills_go_to_the_psum_region():
    gemm = Gemm(16, 32, 16)
    schedule = build_schedule(gemm, Tiling(8, 8, 8, "kmn", VisitOrder.RASTER), BufferModel(4096))
    layout = GemmLayout.dense(gemm, schedule.widths)
    trace = gemm_bursts(schedule, layout)
    names = np.array(trace.tensor_names)[trace.tensor]
    assert (names == "C.psum").any() and (names == "C").any()
    # final C writes cover the C region (8-byte tile rows: neighbouring tiles share bursts)
    c = trace.addr[names == "C"]
    assert len(np.unique(c)) == layout.c.size // 64 and len(c) == 2 * len(np.unique(c))


def test_aligned_contiguous_tiles_move_exactly_their_payload():
    # rows of 40 bytes: an A tile of 32 whole rows is 1280 contiguous bytes = 20 bursts, even
    # though rows straddle burst boundaries (consecutive rows share bursts and coalesce)
    gemm = Gemm(64, 40, 64)
    schedule = build_schedule(gemm, Tiling(32, 64, 40), BufferModel(1 << 16))
    trace = gemm_bursts(schedule, GemmLayout.dense(gemm, schedule.widths))
    assert trace.bytes_moved == trace.bytes_requested == sum(schedule.byte_counts())
    first_a = [i for i, s in enumerate(schedule.steps) if isinstance(s, Load) and s.operand == "A"][0]
    assert np.count_nonzero(trace.step == first_a) == 32 * 40 // 64


def test_misaligned_tiles_move_more():
    gemm = Gemm(64, 40, 64)
    # k split in 20-byte halves: each row's half is inside one or two bursts
    schedule = build_schedule(gemm, Tiling(32, 64, 20), BufferModel(1 << 16))
    trace = gemm_bursts(schedule, GemmLayout.dense(gemm, schedule.widths))
    assert trace.bytes_requested == sum(schedule.byte_counts())
    assert trace.bytes_moved > trace.bytes_requested
    # the same aligned schedule, shifted by 8 bytes, moves more as well
    aligned = build_schedule(gemm, Tiling(32, 64, 40), BufferModel(1 << 16))
    shifted = gemm_bursts(aligned, GemmLayout.dense(gemm, aligned.widths, base=8, align=1))
    assert shifted.bytes_requested == sum(aligned.byte_counts())
    assert shifted.bytes_moved > shifted.bytes_requested


def test_a_single_row_byte_range_by_hand():
    p = TensorPlacement("A", 0, 4, 100, 128)
    assert p.addr(2, 10) == 266 and p.end == 3 * 128 + 100
    gemm = Gemm(4, 100, 1)
    # row 1 bytes [60, 100) of a 128-byte-stride tensor: addresses 188..227 -> bursts 128, 192
    layout = GemmLayout(gemm, ElementWidths(), p, TensorPlacement("B", 4096, 100, 1, 1),
                        TensorPlacement("C", 8192, 4, 1, 1), TensorPlacement("C.psum", 8256, 4, 4, 4, 4))

    class S:
        steps = [Load("A", (1, 2), (60, 100)), Store("C", (0, 1), (0, 1))]
    S.gemm = gemm
    trace = gemm_bursts(S, layout)
    assert trace.addr.tolist() == [128, 192, 8256]     # the store is a spill (no compute yet)
    assert trace.is_write.tolist() == [False, False, True]
    assert trace.read_bytes_requested == 40 and trace.write_bytes_requested == 4


def test_large_gemm_is_vectorised():
    gemm = Gemm(12544, 16, 96)            # MobileNetV2 b1.expand
    schedule = build_schedule(gemm, Tiling(571, 96, 16), BufferModel(65536))
    trace = gemm_bursts(schedule)
    assert (trace.read_bytes_requested, trace.write_bytes_requested) == schedule.byte_counts()
    assert len(trace) == trace.bytes_moved // 64 > 20000


# --- timing ---------------------------------------------------------------------------------

def test_single_tile_runtime_by_hand():
    gemm = Gemm(8, 64, 64)
    schedule = build_schedule(gemm, Tiling(8, 64, 64), BufferModel(1 << 16))
    trace = gemm_bursts(schedule)
    # loads 512 + 4096 B = 576 cycles at 8 B/cycle; 32768 MACs / 64 = 512; store 512 B = 64
    for db in (True, False):
        t = issue_cycles(trace, schedule, macs_per_cycle=64, bytes_per_cycle=8, double_buffer=db)
        assert t.runtime_cycles == 576 + 512 + 64
        assert t.compute_cycles == 512 and t.tiles == 1
    assert t.issue[:3].tolist() == [0, 8, 16]            # 64-B bursts, 8 cycles apart
    assert t.issue[-8:].tolist() == [1088 + 8 * i for i in range(8)]   # store after compute
    assert t.runtime_s == pytest.approx(1152 / 100e6)
    assert t.dram_runtime(1.5) == 7680                    # 11.52 us / 1.5 ns
    assert to_dram_cycles([3], 100, 2.5).tolist() == [12]


def test_double_buffering_overlaps_loads_with_compute():
    gemm = Gemm(64, 64, 64)
    schedule = build_schedule(gemm, Tiling(8, 64, 64, "mnk"), BufferModel(1 << 16, double_buffer=True))
    trace = gemm_bursts(schedule)
    # 8 tiles of 512 compute cycles; A tile 64 cycles, C tile 64 cycles, B 512 cycles once
    t = issue_cycles(trace, schedule, macs_per_cycle=64, bytes_per_cycle=8)
    assert t.runtime_cycles == (64 + 512) + 8 * 512 + 64
    serial = issue_cycles(trace, schedule, macs_per_cycle=64, bytes_per_cycle=8, double_buffer=False)
    assert serial.runtime_cycles == 8 * 64 + 512 + 8 * 64 + 8 * 512
    # transfer-bound: 1 byte per cycle makes every window a transfer window
    slow = issue_cycles(trace, schedule, macs_per_cycle=1 << 20, bytes_per_cycle=1)
    # every window carries at least one A or C tile, so compute (1 cycle) always hides
    assert slow.runtime_cycles == trace.bytes_moved


def test_runtime_is_at_least_both_bounds():
    rng = random.Random(7)
    for _ in range(40):
        schedule = _random_case(rng)
        trace = gemm_bursts(schedule)
        p, bw = rng.choice([1, 4, 64, 256]), rng.choice([1, 4, 8, 32])
        for moved in (True, False):
            t = issue_cycles(trace, schedule, macs_per_cycle=p, bytes_per_cycle=bw, moved=moved)
            nbytes = trace.bytes_moved if moved else trace.bytes_requested
            assert t.runtime_cycles >= max(schedule.gemm.macs / p, nbytes / bw) - 1e-6
            assert t.compute_cycles >= schedule.gemm.macs / p
            assert np.all(t.issue >= 0) and np.all(t.issue < max(t.runtime_cycles, 1))
            if moved:   # windows do not overlap and a window's bursts are 64/bw >= 2 cycles apart
                assert len(np.unique(t.issue)) == len(t.issue)
            serial = issue_cycles(trace, schedule, p, bw, double_buffer=False, moved=moved)
            assert serial.runtime_cycles == pytest.approx(t.compute_cycles + nbytes / bw)
            assert serial.runtime_cycles >= t.runtime_cycles


# --- fused chains ---------------------------------------------------------------------------

def _chain(h, w, cin, hidden, cout, stride, cp=False):
    net = NetworkBuilder("t", h, w, cin)
    net.begin_block("blk")
    net.pointwise("blk.expand", hidden)
    if cp:
        net.depthwise("blk.dwv", (3, 1), (stride, 1), (1, 0))
        net.depthwise("blk.dwh", (1, 3), (1, stride), (0, 1))
    else:
        net.depthwise("blk.dw", 3, stride, 1)
    net.pointwise("blk.project", cout)
    return FusedChain("blk", net.build().layers, stride == 1 and cin == cout)


SCHEDULES = [FusedSchedule(2, 4), FusedSchedule(3, 5, "strips", False), FusedSchedule(1, 3, w_resident=True),
             FusedSchedule(2, 4, "chunks"), FusedSchedule(2, 3, "chunks", False),
             FusedSchedule(3, 4, "chunks", True, x_resident=True, y_resident=True),
             FusedSchedule(2, 3, keep=2), FusedSchedule(1, 2, keep=4)]


@pytest.mark.parametrize("cp", [False, True])
@pytest.mark.parametrize("stride", [1, 2])
def test_chain_bytes_requested_equal_the_chain_traffic(stride, cp):
    chain = _chain(9, 7, 5, 10, 5, stride, cp)
    widths = ElementWidths()
    for sched in SCHEDULES:
        steps = list(fused_steps(chain, sched))
        layout = FusedLayout.dense(chain, widths)
        trace = fused_bursts(chain, steps, layout)
        traffic = chain_traffic(chain, sched)[0]
        assert trace.read_bytes_requested == traffic.read_bytes(widths), sched
        assert trace.write_bytes_requested == traffic.write_bytes(widths), sched
        _check_trace(trace, {p.name: p for p in layout.placements})
        t = issue_cycles(trace, steps, macs_per_cycle=16, bytes_per_cycle=4, macs=fused_macs(chain))
        macs = sum(layer.macs for layer in chain.layers)
        assert t.compute_cycles >= macs / 16
        assert t.runtime_cycles >= max(t.compute_cycles, trace.bytes_moved / 4)


def test_mobilenetv2_fused_blocks_match_the_planner_bytes():
    from scanfuse.plan.chain import plan_chain
    from scanfuse.network import get_network
    net = get_network("mobilenetv2")
    for chain in thesis_groups(net):
        plan = plan_chain(chain, BufferModel(65536))
        steps = list(fused_steps(chain, plan.schedule))
        trace = fused_bursts(chain, steps)
        assert (trace.read_bytes_requested, trace.write_bytes_requested) == (plan.read_bytes, plan.write_bytes)
        t = issue_cycles(trace, steps, macs=fused_macs(chain))
        assert t.runtime_cycles >= max(chain_macs_total(chain) / 64, trace.bytes_moved / 8)


def chain_macs_total(chain):
    return sum(layer.macs for layer in chain.layers)


def test_pipeline_bytes_requested_equal_the_pipeline_traffic():
    from scanfuse.dram.bursts import fused_bursts
    from scanfuse.dram.layout import FusedLayout
    from scanfuse.plan.pipeline import FusedPipeline, PipelineSchedule, Segment, pipeline_traffic
    from scanfuse.schedule.fused import pipeline_steps
    rng = random.Random(3)
    widths = ElementWidths()
    for _ in range(12):
        net = NetworkBuilder("p", rng.randint(3, 10), rng.randint(2, 7), rng.randint(1, 6))
        segments = []
        for index in range(2):
            start = len(net.build().layers) if index else 0
            net.pointwise(f"s{index}.expand", rng.randint(1, 9))
            net.depthwise(f"s{index}.dw", 3, rng.choice([1, 2]) if index == 0 else 1, 1)
            net.pointwise(f"s{index}.project", rng.randint(1, 6))
            segments.append(Segment(tuple(net.build().layers[start:])))
        p = FusedPipeline("p", tuple(segments))
        ho = p.tensor_shape(2)[0]
        sched = PipelineSchedule(rng.randint(1, ho), tuple(rng.randint(1, u.hidden) for u in p.weight_units),
                                 tuple(rng.random() < 0.5 for _ in p.weight_units))
        steps = list(pipeline_steps(p, sched))
        layout = FusedLayout.dense(p, widths)
        trace = fused_bursts(p, steps, layout)
        traffic = pipeline_traffic(p, sched)
        assert trace.read_bytes_requested == traffic.read_bytes(widths)
        assert trace.write_bytes_requested == traffic.write_bytes(widths)
        _check_trace(trace, {q.name: q for q in layout.placements})
        t = issue_cycles(trace, steps, macs_per_cycle=16, bytes_per_cycle=4, macs=fused_macs(p))
        assert t.compute_cycles >= sum(layer.macs for layer in p.layers) / 16
        assert t.runtime_cycles >= max(t.compute_cycles, trace.bytes_moved / 4)


@pytest.mark.parametrize("cp", [False, True])
def test_chain_macs_of_one_strip_equal_the_layer_macs(cp):
    chain = _chain(9, 7, 5, 10, 6, 2, cp)
    macs = fused_macs(chain)
    for tc in (10, 3):
        steps = fused_steps(chain, FusedSchedule(chain.y_shape[0], tc))
        assert sum(macs(s) for s in steps if isinstance(s, ComputeRows)) == sum(l.macs for l in chain.layers)


# --- burst-aware planning -------------------------------------------------------------------

def _channels(rng: random.Random) -> int:
    """A dimension like a network's: channel counts, pixel counts, or anything."""
    return rng.choice([8 * rng.randint(1, 40), 16 * rng.randint(1, 20), 49 * rng.randint(1, 4),
                       rng.randint(1, 300)])


def test_burst_objective_is_exact_where_it_says_so():
    from scanfuse.plan.search import burst_moved_bytes
    rng = random.Random(11)
    exact_cases = 0
    for _ in range(400):
        gemm = Gemm(_channels(rng), _channels(rng), _channels(rng))

        def tile(d):
            return rng.choice([d, min(d, rng.choice([8, 16, 32, 64, 128, 192])), rng.randint(1, d)])
        tiling = Tiling(tile(gemm.M), tile(gemm.N), tile(gemm.K), rng.choice(LOOP_ORDERS),
                        rng.choice(list(VisitOrder)))
        widths = rng.choice([ElementWidths(), ElementWidths(2, 1, 2, 4), ElementWidths(1, 1, 1, 3)])
        moved, exact = burst_moved_bytes(gemm, np.array([tiling.tm]), np.array([tiling.tn]),
                                         np.array([tiling.tk]), tiling.loop_order,
                                         tiling.visit_order, widths, 64)
        trace = gemm_bursts(build_schedule(gemm, tiling, BufferModel(1 << 30), widths))
        if exact[0]:
            exact_cases += 1
            assert int(moved[0]) == trace.bytes_moved, (gemm, tiling, widths)
    assert exact_cases > 60


def test_burst_aware_plans_move_what_they_claim():
    from scanfuse.plan.search import plan_gemm
    rng = random.Random(12)
    claimed = 0
    for _ in range(120):
        gemm = Gemm(_channels(rng), _channels(rng), _channels(rng))
        widths = rng.choice([ElementWidths(), ElementWidths(2, 1, 2, 4)])
        model = BufferModel(rng.randint(300, 40000), rng.choice([1, 4]), rng.random() < 0.3)
        try:
            plan = plan_gemm(gemm, model, widths, rng.choice(["best", "scan", "raster"]), burst_bytes=64)
        except Exception as err:          # buffer too small for this draw
            assert type(err).__name__ == "BufferTooSmallError"
            continue
        schedule = build_schedule(gemm, plan.tiling, model, widths)
        trace = gemm_bursts(schedule)
        assert (trace.read_bytes_requested, trace.write_bytes_requested) == (plan.read_bytes, plan.write_bytes)
        if plan.moved_bytes is not None:
            claimed += 1
            assert plan.moved_bytes == trace.bytes_moved, (gemm, model, plan.tiling)
    assert claimed > 40


def test_the_narrow_tile_finding_is_fixed():
    """At 64K the payload planner gives 3136x256x1024 6-byte B rows: 10x the bytes moved."""
    from scanfuse.plan.search import plan_gemm
    gemm, model = Gemm(3136, 256, 1024), BufferModel(65536)
    payload = plan_gemm(gemm, model)
    aware = plan_gemm(gemm, model, burst_bytes=64)
    assert payload.burst_bytes is None and payload.moved_bytes is None      # default unchanged
    moved_payload = gemm_bursts(build_schedule(gemm, payload.tiling, model)).bytes_moved
    moved_aware = gemm_bursts(build_schedule(gemm, aware.tiling, model)).bytes_moved
    assert moved_payload > 10 * payload.total_bytes
    assert moved_aware == aware.moved_bytes == aware.total_bytes
    assert moved_aware < moved_payload / 9


def test_burst_aware_networks_never_move_more():
    from scanfuse.network import get_network
    from scanfuse.plan.layer_models import layer_gemm
    from scanfuse.plan.search import plan_gemm
    net = get_network("mobilenetv2")
    for entries in (16384, 65536):
        model = BufferModel(entries)
        moved = {None: 0, 64: 0}
        for layer in net.layers:
            if layer.kind.value not in ("pointwise", "fc"):
                continue
            for bb in moved:
                plan = plan_gemm(layer_gemm(layer), model, order="raster", burst_bytes=bb)
                moved[bb] += gemm_bursts(build_schedule(plan.gemm, plan.tiling, model)).bytes_moved
        assert moved[64] < moved[None]


# --- unfused depthwise, pooling and dense-conv layers --------------------------------------

def _replay_layer(layer, steps, entries):
    """Element-level check of a layer step list: inputs on chip at each compute, each output
    element stored once after its compute, on-chip footprint within ``entries``."""
    from scanfuse.plan.geometry import VerticalStage
    from scanfuse.network.layers import LayerKind
    stage = VerticalStage(layer.kernel[0], layer.stride[0], layer.padding[0], layer.h_in, layer.h_out)
    x = np.zeros((layer.h_in, layer.cin), dtype=bool)
    w = np.zeros(layer.cout, dtype=bool)
    computed = np.zeros((layer.h_out, layer.cout), dtype=bool)
    stored = np.zeros((layer.h_out, layer.cout), dtype=np.int64)
    kh, kw = layer.kernel
    per_channel = 0 if layer.kind is LayerKind.POOL else (
        kh * kw if layer.kind is LayerKind.DEPTHWISE else layer.cin * kh * kw)
    peak = 0
    for s in steps:
        kind, t = type(s), getattr(s, "operand", None)
        r0, r1 = s.rows or (0, 0)
        c0, c1 = s.cols
        if kind is Load and t == "X":
            assert not x[r0:r1, c0:c1].any()
            x[r0:r1, c0:c1] = True
        elif kind is Evict and t == "X":
            x[r0:r1, c0:c1] = False
        elif kind is Load and t == "W":
            w[c0:c1] = True
        elif kind is Evict:
            w[c0:c1] = False
        elif kind is ComputeRows:
            lo, hi = stage.input_range(r0, r1)
            inputs = slice(c0, c1) if layer.kind is not LayerKind.CONV else slice(0, layer.cin)
            assert x[int(lo):int(hi), inputs].all(), s
            assert per_channel == 0 or w[c0:c1].all()
            computed[r0:r1, c0:c1] = True
        elif kind is Store:
            assert computed[r0:r1, c0:c1].all()
            stored[r0:r1, c0:c1] += 1
            computed[r0:r1, c0:c1] = False
        onchip = x.sum() * layer.w_in + w.sum() * per_channel + computed.sum() * layer.w_out
        peak = max(peak, onchip)
    assert (stored == 1).all()
    assert peak <= entries


def test_layer_steps_move_the_modelled_traffic_and_replay():
    from scanfuse.dram.bursts import layer_bursts
    from scanfuse.dram.layout import LayerLayout
    from scanfuse.dram.timing import layer_macs
    from scanfuse.network.zoo import mobilenetv2, resnet50
    from scanfuse.plan.layer_models import layer_traffic
    from scanfuse.schedule.layer_steps import layer_steps
    nets = [mobilenetv2(resolution=96), resnet50("v1.5", resolution=64, cp_rank_rule="channels")]
    checked = 0
    for net in nets:
        for entries in (8192, 65536):
            for bb in (None, 64):
                for layer in net.layers:
                    if layer.kind.value in ("pointwise", "fc"):
                        continue
                    t = layer_traffic(layer, BufferModel(entries), order="scan", burst_bytes=bb)
                    steps = layer_steps(t)
                    layout = LayerLayout.dense(layer, base=4096)
                    trace = layer_bursts(layer, steps, layout)
                    assert (trace.read_bytes_requested, trace.write_bytes_requested) == \
                        (t.read_bytes, t.write_bytes), (layer.name, t.schedule)
                    _check_trace(trace, {p.name: p for p in layout.placements})
                    _replay_layer(layer, steps, entries)
                    timing = issue_cycles(trace, steps, macs=layer_macs(layer))
                    assert timing.compute_cycles >= layer.macs / 64
                    checked += 1
    assert checked > 100


@pytest.mark.parametrize("channels, elem", [(144, 1), (96, 1), (24, 1), (960, 1), (40, 4)])
def test_pixel_burst_bytes_is_the_long_run_mean(channels, elem):
    from math import gcd

    from scanfuse.dram.bursts import _Transfers
    from scanfuse.plan.layer_models import pixel_burst_bytes
    period = 64 // gcd(64, channels * elem)
    pixels = 3 * period + 1
    p = TensorPlacement.dense("X", 0, pixels, channels, elem)
    for tc in (1, 7, 32, 64, channels // 2 or 1, channels):
        tr = _Transfers([p])
        for c0 in range(0, channels, tc):
            tr.add(0, p, False, (0, pixels), (c0, min(c0 + tc, channels)))
        moved = tr.trace(1, 64).bytes_moved
        first = _Transfers([p])
        for c0 in range(0, channels, tc):
            first.add(0, p, False, (0, 1), (c0, min(c0 + tc, channels)))
        mean = pixel_burst_bytes(channels, [tc], elem, 64)[0]
        assert moved == first.trace(1, 64).bytes_moved + 3 * period * mean, tc
