# amaranth: UnusedElaboratable=no
"""DepthwiseUnit against ``depthwise_acc`` (the depthwise stage of the fused-block reference,
before requantisation): every kernel (3x3, 3x1, 1x3) and stride, image edges (W = 1, H = 1,
channels not a multiple of the lanes, one channel), random valid/ready stalls on both streams,
back-to-back images, illegal shapes, cycles pinned, and the Verilog conversion.

(The linter comment on line 1 silences Amaranth's "created but never used" warning for the
interface tests, which build components without simulating them.)
"""

import functools
import random
import shutil

import numpy as np
import pytest
from amaranth.back import verilog
from amaranth.sim import Simulator
from hypothesis import given, settings
from hypothesis import strategies as st

from scanfuse.hw.depthwise import (TAPS, WINDOW, DepthwiseUnit, continued_rows, kernel_offset,
                                   run_rows)
from scanfuse.hw.verilog import lint
from scanfuse.sim.fused_golden import depthwise_acc, depthwise_out_shape

from .streams import send, take


# --- packing (what a loader does) ----------------------------------------------------------

def weight_words(wd, bd, lanes):
    """(C, kh, kw) int8 kernels and (C,) biases -> one DwWeights value per channel group, the
    kernel embedded in the 3x3 window by ``kernel_offset`` and absent lanes zero."""
    c, kh, kw = wd.shape
    r0, c0 = kernel_offset(kh, kw)
    groups = -(-c // lanes)
    grid = np.zeros((groups * lanes, WINDOW, WINDOW), dtype=np.int64)
    grid[:c, r0:r0 + kh, c0:c0 + kw] = wd
    bias = np.zeros(groups * lanes, dtype=np.int64)
    bias[:c] = bd
    words = []
    for g in range(groups):
        lanes_of = slice(g * lanes, (g + 1) * lanes)
        taps = grid[lanes_of].reshape(lanes, TAPS).T        # taps[t][l]
        words.append({"taps": taps.tolist(), "bias": bias[lanes_of].tolist()})
    return words


def input_beats(x, lanes):
    """(H, W, C) int8 -> beat payloads in the unit's (y, g, x) order, padding lanes zero."""
    h, w, c = x.shape
    groups = -(-c // lanes)
    xp = np.zeros((h, w, groups * lanes), dtype=np.int64)
    xp[..., :c] = x
    return [{"data": xp[r, q, g * lanes:(g + 1) * lanes].tolist()}
            for r in range(h) for g in range(groups) for q in range(w)]


def unpack_outputs(beats, ho, wo, c, lanes):
    """Output beats in (oy, g, ox) order -> (Ho, Wo, C) int32."""
    groups = -(-c // lanes)
    assert len(beats) == ho * groups * wo
    out = np.zeros((ho, wo, groups * lanes), dtype=np.int64)
    n = 0
    for oy in range(ho):
        for g in range(groups):
            for ox in range(wo):
                out[oy, ox, g * lanes:(g + 1) * lanes] = beats[n]
                n += 1
    return out[..., :c]


# --- testbenches (style P6: producer and consumer apart) -----------------------------------

async def produce(ctx, dut, jobs, rng, p_idle, accepted, limit):
    """For each job (weights, image, beats): load the weights, start, offer the beats.

    Appends to ``accepted`` the index of the clock edge at which each beat transferred
    (``consume`` numbers its edges the same way)."""
    cycle = 0
    for words, image, beats in jobs:
        while ctx.get(dut.busy):
            await ctx.tick()
            cycle += 1
            assert cycle < limit, "previous image never finished"
        for g, word in enumerate(words):
            ctx.set(dut.wt_addr, g)
            ctx.set(dut.wt_data, word)
            ctx.set(dut.wt_en, 1)
            await ctx.tick()
            cycle += 1
        ctx.set(dut.wt_en, 0)
        ctx.set(dut.image, image)
        ctx.set(dut.start, 1)
        await ctx.tick()
        cycle += 1
        ctx.set(dut.start, 0)
        for beat in beats:
            at, cycle = await send(ctx, dut.i, beat, rng, p_idle, cycle, limit)
            accepted.append(at)


async def consume(ctx, dut, n_beats, rng, p_stall, beats, limit):
    """Take ``n_beats`` beats from ``dut.o``, refusing with probability ``p_stall``; a beat
    offered and refused must stay offered, unchanged. Appends ``(cycle, data, last)``."""
    await take(ctx, dut.o, n_beats, rng, p_stall,
               lambda p: (tuple(int(v) for v in p.data), int(p.last)), beats, limit)
    # Nothing more may come out.
    ctx.set(dut.o.ready, 1)
    for _ in range(8):
        _, _, valid = await ctx.tick().sample(dut.o.valid)
        assert not valid, "more output beats than outputs"


def make_case(rng, h, w, c, kernel, stride):
    x = rng.integers(-128, 128, (h, w, c))
    wd = rng.integers(-128, 128, (c, *kernel))
    bd = rng.integers(-(1 << 31), 1 << 31, c)
    return x, wd, bd, stride


def simulate(cases, *, lanes, max_width=None, max_channels=None, seed=0, p_idle=0.0,
             p_stall=0.0, strips=None):
    """Run ``cases`` [(x, wd, bd, stride)] back to back through one unit; return, per case,
    its (Ho, Wo, C) accumulators, and the accept cycles and output beats of the whole run.

    ``strips``: per case, the output-row ranges [(oy0, oy1), ...] to run one after the other
    (each with its halo rows, by ``run_rows``); default one run of the whole image."""
    max_width = max_width or max(x.shape[1] for x, *_ in cases)
    max_channels = max_channels or max(x.shape[2] for x, *_ in cases)
    dut = DepthwiseUnit(lanes=lanes, max_width=max_width, max_channels=max_channels)
    jobs, n_out, shapes = [], 0, []
    for n, (x, wd, bd, (sh, sw)) in enumerate(cases):
        h, w, c = x.shape
        ho, wo = depthwise_out_shape(h, w, (3, 3), (sh, sw))
        groups = -(-c // lanes)
        for oy0, oy1 in (strips[n] if strips else [(0, ho)]):
            first, count, pad_top, pad_bottom = run_rows(h, sh, oy0, oy1)
            jobs.append((weight_words(wd, bd, lanes),
                         {"width": w, "height": count, "groups": groups, "stride_h": sh,
                          "stride_w": sw, "pad_top": pad_top, "pad_bottom": pad_bottom},
                         input_beats(x[first:first + count], lanes)))
            shapes.append((oy1 - oy0, wo, c, (oy1 - oy0) * groups * wo))
            n_out += (oy1 - oy0) * groups * wo
    n_in = sum(len(j[2]) for j in jobs)
    limit = 200 + 10 * (n_in + n_out + sum(len(j[0]) for j in jobs))
    accepted, beats = [], []
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(functools.partial(produce, dut=dut, jobs=jobs, rng=random.Random(seed),
                                        p_idle=p_idle, accepted=accepted, limit=limit))
    sim.add_testbench(functools.partial(consume, dut=dut, n_beats=n_out,
                                        rng=random.Random(seed + 1), p_stall=p_stall,
                                        beats=beats, limit=limit))
    sim.run()
    assert len(accepted) == n_in
    runs, n = [], 0
    for ho, wo, c, count in shapes:
        mine = beats[n:n + count]
        assert [b[2] for b in mine] == [0] * (count - 1) + [1], "last only on the final beat"
        runs.append(unpack_outputs([b[1] for b in mine], ho, wo, c, lanes))
        n += count
    results = []
    for n in range(len(cases)):     # a case's runs, stacked by output rows
        k = len(strips[n]) if strips else 1
        results.append(np.concatenate(runs[:k], axis=0))
        runs = runs[k:]
    return results, accepted, beats


def check(cases, results):
    for (x, wd, bd, stride), got in zip(cases, results):
        want = depthwise_acc(x, wd, bd, stride)
        assert got.shape == want.shape
        assert np.array_equal(got, want), (
            f"shape {x.shape} kernel {wd.shape[1:]} stride {stride}: "
            f"first mismatch at {np.argwhere(got != want)[0].tolist()}")


# --- every kernel and stride, with stalls --------------------------------------------------

KERNEL_STRIDES = [((3, 3), (1, 1)), ((3, 3), (2, 2)), ((3, 3), (1, 2)), ((3, 3), (2, 1)),
                  ((3, 1), (1, 1)), ((3, 1), (2, 1)), ((1, 3), (1, 1)), ((1, 3), (1, 2))]


@pytest.mark.parametrize("kernel,stride", KERNEL_STRIDES,
                         ids=[f"{k[0]}x{k[1]}-s{s[0]}{s[1]}" for k, s in KERNEL_STRIDES])
def test_kernels_and_strides_with_stalls(kernel, stride):
    """An odd and an even image back to back (right/bottom padding outputs present and
    absent for stride 2), random idle input and refused output."""
    rng = np.random.default_rng(sum(kernel) * 10 + stride[0] * 3 + stride[1])
    cases = [make_case(rng, 5, 5, 6, kernel, stride), make_case(rng, 4, 6, 6, kernel, stride)]
    results, _, _ = simulate(cases, lanes=4, seed=7, p_idle=0.3, p_stall=0.3)
    check(cases, results)


@pytest.mark.parametrize("h,w,c,lanes,stride", [
    (1, 1, 1, 1, (1, 1)),      # one pixel, one channel
    (1, 1, 3, 2, (2, 2)),
    (1, 7, 2, 2, (1, 1)),      # H = 1: the drain row is the only computing row
    (1, 6, 2, 2, (2, 2)),
    (6, 1, 2, 2, (1, 1)),      # W = 1: every output is a right-padding output
    (5, 1, 3, 2, (2, 2)),
    (3, 4, 5, 4, (1, 1)),      # channels not a multiple of the lanes
    (4, 3, 7, 3, (2, 1)),
    (3, 3, 1, 1, (1, 2)),      # single channel, single lane
], ids=lambda v: str(v).replace(" ", ""))
def test_edges(h, w, c, lanes, stride):
    rng = np.random.default_rng(h * 1000 + w * 100 + c * 10 + lanes)
    cases = [make_case(rng, h, w, c, (3, 3), stride)]
    results, _, _ = simulate(cases, lanes=lanes, seed=h + w, p_idle=0.25, p_stall=0.25)
    check(cases, results)


def test_extreme_values_wrap():
    """All -128 activations and weights with the largest bias: 9 * 2**14 + 2**31 - 1 wraps."""
    x = np.full((3, 3, 2), -128)
    wd = np.full((2, 3, 3), -128)
    bd = np.array([(1 << 31) - 1, -(1 << 31)])
    cases = [(x, wd, bd, (1, 1))]
    results, _, _ = simulate(cases, lanes=2)
    check(cases, results)
    assert results[0][1, 1, 0] == (1 << 31) - 1 + 9 * (1 << 14) - (1 << 32)


@settings(max_examples=6, deadline=None)
@given(h=st.integers(1, 5), w=st.integers(1, 5), c=st.integers(1, 5),
       lanes=st.integers(1, 3), kernel=st.sampled_from([(3, 3), (3, 1), (1, 3)]),
       sh=st.integers(1, 2), sw=st.integers(1, 2), seed=st.integers(0, 2**16))
def test_random_shapes(h, w, c, lanes, kernel, sh, sw, seed):
    """Random shapes, each image cut into random strips of output rows."""
    rng = np.random.default_rng(seed)
    cases = [make_case(rng, h, w, c, kernel, (sh, sw))]
    ho = (h - 1) // sh + 1
    cuts = sorted(set(rng.integers(1, ho, 2).tolist())) if ho > 1 else []
    bounds = [0, *cuts, ho]
    results, _, _ = simulate(cases, lanes=lanes, max_width=5, max_channels=5, seed=seed,
                             p_idle=0.2, p_stall=0.2, strips=[list(zip(bounds, bounds[1:]))])
    check(cases, results)


@pytest.mark.parametrize("h,sh,bounds", [
    (7, 1, [0, 1, 3, 4, 7]),       # strips of 1, 2, 1 and 3 output rows
    (8, 2, [0, 1, 3, 4]),          # Ho = 4: first strip padded on top, last without bottom
    (9, 2, [0, 2, 3, 5]),          # Ho = 5: last strip has the bottom padding row
    (3, 1, [0, 1, 2, 3]),          # one output row per run, both halos
])
def test_strips_with_halo_rows(h, sh, bounds):
    """A fused schedule's strips: each run gets the rows ``run_rows`` names (halo rows read
    again, no padding in the middle of the image); the strips' outputs stacked equal the
    whole image's, under stalls."""
    rng = np.random.default_rng(h * 10 + sh)
    kernel = (3, 3) if h % 2 else (3, 1)
    cases = [make_case(rng, h, 5, 3, kernel, (sh, 1))]
    strips = [list(zip(bounds, bounds[1:]))]
    results, _, _ = simulate(cases, lanes=2, seed=h, p_idle=0.2, p_stall=0.2, strips=strips)
    check(cases, results)


def test_run_rows():
    assert run_rows(7, 1, 0, 4) == (0, 5, True, False)       # rows -1(pad) .. 4
    assert run_rows(7, 1, 4, 7) == (3, 4, False, True)       # rows 3 .. 7(pad)
    assert run_rows(8, 2, 1, 3) == (1, 5, False, False)      # rows 1 .. 5
    assert run_rows(8, 2, 3, 4) == (5, 3, False, False)      # rows 5 .. 7, Ho = 4
    assert run_rows(9, 2, 0, 5) == (0, 9, True, True)        # the whole image
    for args in ((0, 1, 0, 1), (4, 3, 0, 1), (4, 1, 2, 2), (4, 1, 0, 5)):
        with pytest.raises(ValueError):
            run_rows(*args)


# --- cycles --------------------------------------------------------------------------------

@pytest.mark.parametrize("h,w,c,stride", [(4, 5, 8, (1, 1)), (4, 6, 8, (2, 2)), (5, 5, 4, (2, 2))])
def test_one_beat_per_cycle(h, w, c, stride):
    """Without stalls an image's input beats are accepted in consecutive cycles, the outputs
    leave at most one per cycle, and the last one ``LATENCY`` cycles after the last event
    (drain row: width * groups cycles when (h - 1) % sh == 0; flush: 1 when (w - 1) % sw == 0)."""
    lanes = 4
    rng = np.random.default_rng(h * w)
    cases = [make_case(rng, h, w, c, (3, 3), stride)]
    results, accepted, beats = simulate(cases, lanes=lanes)
    check(cases, results)
    groups = c // lanes
    assert accepted == list(range(accepted[0], accepted[0] + h * w * groups))
    out_cycles = [b[0] for b in beats]
    assert len(set(out_cycles)) == len(out_cycles)
    sh, sw = stride
    events = h * w * groups + (w * groups if (h - 1) % sh == 0 else 0) \
        + (1 if (w - 1) % sw == 0 else 0)
    last_event = accepted[0] + events - 1
    assert out_cycles[-1] == last_event + DepthwiseUnit.LATENCY
    # Output (0, 0) is completed by pixel (y, g, x) = (1, 0, 1): event w * groups + 1.
    assert out_cycles[0] == accepted[0] + w * groups + 1 + DepthwiseUnit.LATENCY


# --- control -------------------------------------------------------------------------------

async def _illegal_bench(ctx, dut, image, seen):
    ctx.set(dut.image, image)
    ctx.set(dut.start, 1)
    await ctx.tick()
    ctx.set(dut.start, 0)
    ctx.set(dut.i.valid, 1)
    for _ in range(10):
        _, _, ready, busy, error = await ctx.tick().sample(dut.i.ready, dut.busy, dut.error)
        seen.append((int(ready), int(busy), int(error)))


@pytest.mark.parametrize("field", [
    {"width": 0}, {"width": 5}, {"groups": 0}, {"groups": 3}, {"height": 0},
    {"stride_h": 0}, {"stride_w": 3},
    {"pad_bottom": 0, "height": 1},                       # Hp = 2 < 3: no window
    {"pad_top": 0, "pad_bottom": 0, "height": 2},
    {"pad_bottom": 0, "height": 3, "stride_h": 2},        # Hp = 4: last row completes nothing
], ids=lambda f: ",".join(f"{k}={v}" for k, v in f.items()))
def test_illegal_shape_sets_error_and_stays_idle(field):
    dut = DepthwiseUnit(lanes=2, max_width=4, max_channels=4)   # max_groups = 2
    image = {"width": 4, "height": 2, "groups": 2, "stride_h": 1, "stride_w": 1,
             "pad_top": 1, "pad_bottom": 1}
    image.update(field)
    seen = []
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(functools.partial(_illegal_bench, dut=dut, image=image, seen=seen))
    sim.run()
    assert seen == [(0, 0, 1)] * 10


def test_constructor_checks():
    for kwargs in ({"lanes": 0, "max_width": 4, "max_channels": 4},
                   {"lanes": 2, "max_width": 0, "max_channels": 4},
                   {"lanes": 2, "max_width": 4, "max_channels": 2.5},
                   {"lanes": True, "max_width": 4, "max_channels": 4}):
        with pytest.raises(ValueError, match="must be an integer >= 1"):
            DepthwiseUnit(**kwargs)
    dut = DepthwiseUnit(lanes=4, max_width=10, max_channels=10)
    assert (dut.max_groups, dut.line_words) == (3, 30)


@pytest.mark.parametrize("kh,kw,want", [(3, 3, (0, 0)), (3, 1, (0, 1)), (1, 3, (1, 0)),
                                        (1, 1, (1, 1))])
def test_kernel_offset(kh, kw, want):
    assert kernel_offset(kh, kw) == want


def test_kernel_offset_rejects():
    with pytest.raises(ValueError, match="kw must be 1 or 3"):
        kernel_offset(3, 5)


def test_converts_to_verilog():
    text = verilog.convert(DepthwiseUnit(lanes=2, max_width=8, max_channels=4),
                           name="depthwise")
    assert "module depthwise" in text
    for port in ("i__valid", "i__ready", "o__valid", "o__ready", "start", "busy", "wt_en"):
        assert port in text


@pytest.mark.skipif(shutil.which("verilator") is None, reason="verilator not installed")
def test_verilator_lint_clean(tmp_path):
    """``verilator --lint-only -Wall`` with the engine's waivers (``LINT_WAIVERS``) passes."""
    path = tmp_path / "depthwise.v"
    path.write_text(verilog.convert(DepthwiseUnit(lanes=4, max_width=16, max_channels=12),
                                    name="depthwise"))
    result = lint(path)
    assert result.returncode == 0, result.stderr


# --- continued runs: one whole-image run fed strip by strip --------------------------------

async def _continued_bench(ctx, dut, words, image, strips, rng, p_idle, p_stall, p_flush,
                           beats, marks, limit):
    """One whole-image run fed a strip at a time: each strip's new rows (random idle input,
    ``flush`` raised at random while feeding), then ``flush`` held until the consumer has the
    strip's outputs; the consumer never takes more than the strip's outputs (as the engine's
    D sink) and refuses at random. ``marks``: the edge at which each strip's outputs were all
    out."""
    for g, word in enumerate(words):
        ctx.set(dut.wt_addr, g)
        ctx.set(dut.wt_data, word)
        ctx.set(dut.wt_en, 1)
        await ctx.tick()
    ctx.set(dut.wt_en, 0)
    ctx.set(dut.image, image)
    ctx.set(dut.start, 1)
    await ctx.tick()
    ctx.set(dut.start, 0)
    cycle, held = 0, None
    for strip_beats, n_out in strips:
        queue = list(strip_beats)
        target = len(beats) + n_out
        while queue or len(beats) < target:
            offer = bool(queue) and rng.random() >= p_idle
            flush = not queue or rng.random() < p_flush
            ready = len(beats) < target and rng.random() >= p_stall
            ctx.set(dut.i.valid, offer)
            if offer:
                ctx.set(dut.i.payload, queue[0])
            ctx.set(dut.flush, flush)
            ctx.set(dut.o.ready, ready)
            _, _, i_ready, o_valid, o_pay = await ctx.tick().sample(dut.i.ready, dut.o.valid,
                                                                     dut.o.payload)
            beat = (tuple(int(v) for v in o_pay.data), int(o_pay.last))
            if held is not None:
                assert o_valid and beat == held, "a refused output beat was withdrawn"
            held = beat if o_valid and not ready else None
            if o_valid and ready:
                beats.append(beat)
            if offer and i_ready:
                queue.pop(0)
            cycle += 1
            assert cycle < limit, f"stuck: {len(beats)}/{target} outputs, {len(queue)} inputs left"
        marks.append(cycle)
    ctx.set(dut.i.valid, 0)
    ctx.set(dut.flush, 0)
    ctx.set(dut.o.ready, 1)
    for _ in range(8):
        _, _, valid, busy = await ctx.tick().sample(dut.o.valid, dut.busy)
        assert not valid, "more output beats than outputs"
    assert not busy, "the run did not end"


def simulate_continued(case, bounds, *, lanes, seed, p_idle=0.0, p_stall=0.0, p_flush=0.0):
    """Run ``case`` as one whole-image run fed strip by strip (strip ``[oy0, oy1)`` feeds the
    rows ``continued_rows`` names); return the (Ho, Wo, C) accumulators and the strip marks."""
    x, wd, bd, (sh, sw) = case
    h, w, c = x.shape
    ho, wo = depthwise_out_shape(h, w, (3, 3), (sh, sw))
    groups = -(-c // lanes)
    dut = DepthwiseUnit(lanes=lanes, max_width=w, max_channels=c)
    strips, fed = [], 0
    for oy0, oy1 in zip(bounds, bounds[1:]):
        first, count = continued_rows(h, sh, oy0, oy1)
        assert first == fed                   # every row fed once, in order
        fed += count
        strips.append((input_beats(x[first:first + count], lanes), (oy1 - oy0) * groups * wo))
    assert fed == h
    image = {"width": w, "height": h, "groups": groups, "stride_h": sh, "stride_w": sw,
             "pad_top": 1, "pad_bottom": 1}
    beats, marks = [], []
    limit = 200 + 20 * (h + ho) * w * groups
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(functools.partial(
        _continued_bench, dut=dut, words=weight_words(wd, bd, lanes), image=image,
        strips=strips, rng=random.Random(seed), p_idle=p_idle, p_stall=p_stall,
        p_flush=p_flush, beats=beats, marks=marks, limit=limit))
    sim.run()
    n = ho * groups * wo
    assert [b[1] for b in beats] == [0] * (n - 1) + [1], "last only on the run's final beat"
    return unpack_outputs([b[0] for b in beats], ho, wo, c, lanes), marks


@pytest.mark.parametrize("h,w,c,lanes,stride,bounds", [
    (7, 5, 3, 2, (1, 1), [0, 1, 3, 4, 6, 7]),   # one-row strips; the last feeds no row
    (8, 5, 3, 2, (2, 2), [0, 1, 2, 3, 4]),      # H even, s2: no drain row, right padding
    (9, 6, 4, 2, (2, 1), [0, 1, 3, 4, 5]),      # H odd, s2: the last strip has the drain row
    (5, 3, 5, 4, (1, 2), [0, 2, 3, 5]),         # channels not a multiple of the lanes
    (4, 1, 2, 2, (1, 1), [0, 1, 2, 3, 4]),      # W = 1: every output is a right padding one
    (3, 4, 2, 1, (2, 2), [0, 1, 2]),
], ids=lambda v: str(v).replace(" ", ""))
def test_continued_run_in_strips(h, w, c, lanes, stride, bounds):
    """A continued run (pauses between strips, flush requests at random and at each strip's
    end, output refused at random and past the strip's count) computes the whole image; each
    strip's outputs all come out before the next strip's first row is offered."""
    rng = np.random.default_rng(h * 100 + w * 10 + c)
    case = make_case(rng, h, w, c, (3, 3), stride)
    got, marks = simulate_continued(case, bounds, lanes=lanes, seed=h + w, p_idle=0.3,
                                    p_stall=0.3, p_flush=0.2)
    check([case], [got])
    assert len(marks) == len(bounds) - 1


@settings(max_examples=6, deadline=None)
@given(h=st.integers(1, 6), w=st.integers(1, 5), c=st.integers(1, 4), lanes=st.integers(1, 3),
       sh=st.integers(1, 2), sw=st.integers(1, 2), seed=st.integers(0, 2**16))
def test_continued_random(h, w, c, lanes, sh, sw, seed):
    """Random shapes, one-row strips (the schedule that gains most), random stalls."""
    rng = np.random.default_rng(seed)
    case = make_case(rng, h, w, c, (3, 3), (sh, sw))
    ho = (h - 1) // sh + 1
    got, _ = simulate_continued(case, list(range(ho + 1)), lanes=lanes, seed=seed,
                                p_idle=0.2, p_stall=0.2, p_flush=0.1)
    check([case], [got])


def test_continued_run_costs_no_restreaming():
    """Without stalls a continued run in one-row strips takes each input beat once: it ends
    as early as a whole-image run plus, per strip boundary, one flush event and the
    pipeline's ``LATENCY`` (the strip's last output leaves before the next row enters), far
    below the ``3 * w * groups`` beats per strip of runs with halo rows."""
    lanes, h, w, c = 2, 6, 5, 4
    case = make_case(np.random.default_rng(3), h, w, c, (3, 3), (1, 1))
    got, marks = simulate_continued(case, list(range(h + 1)), lanes=lanes, seed=0)
    check([case], [got])
    groups = c // lanes
    # whole image: h*w*g input events, a drain row, a flush; per strip boundary a flush and
    # the pipeline latency; LATENCY to the last output and the take cycle.
    events = h * w * groups + w * groups + 1
    assert marks[-1] <= events + h * (1 + DepthwiseUnit.LATENCY) + 1
    assert marks[-1] < h * 3 * w * groups
