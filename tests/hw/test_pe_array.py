# amaranth: UnusedElaboratable=no
"""PEArray: random blocks with random valid/ready stalls against ``block_ref``, protocol checks,
latency and throughput pinned in cycles, int32 wrap-around, constructor checks.

Interface tests build PEArrays without simulating them; the linter comment on line 1 keeps
Amaranth's "created but never used" warning (an error under this project's pytest config)
quiet for this file only.
"""

import functools
import random

import numpy as np
import pytest
from amaranth.hdl import ClockDomain, Module, signed, unsigned
from amaranth.lib import data
from amaranth.sim import Simulator

from scanfuse.hw.params import AccelConfig
from scanfuse.hw.pe_array import KStep, PEArray, PsumRow
from scanfuse.sim.golden import block_ref

from .streams import send, take

SIZES = [(1, 1), (2, 3), (4, 4), (8, 8)]
#: Both PE multiplier kinds: results are identical, latency is 2 cycles longer for the ECP5
#: DSP (its behavioural model in simulation: registers of the primitive, same enables).
MULTS = ["inferred", "mult18x18d"]
EXTRA = {"inferred": 0, "mult18x18d": 2}
#: Register levels of the collection trees (PEArray.collect_stages), pinned per size.
STAGES = {(1, 1): 1, (2, 3): 1, (4, 4): 2, (8, 8): 2}


# --- stream drivers (style P6: producer and consumer apart) -------------------------------

async def feed(ctx, dut, steps, rng, p_idle, accepted, limit):
    """Offer ``steps`` on ``dut.i``, idling with probability ``p_idle`` between items.

    Appends to ``accepted`` the cycle index of each transfer.
    """
    cycle = 0
    for step in steps:
        at, cycle = await send(ctx, dut.i, step, rng, p_idle, cycle, limit)
        accepted.append(at)


def _row_beat(payload):
    return tuple(int(x) for x in payload.data), int(payload.row), int(payload.last)


async def drain(ctx, dut, n_beats, rng, p_stall, beats, limit):
    """Take ``n_beats`` rows from ``dut.o`` (:func:`streams.take`), appending
    ``(cycle, data, row, last)`` to ``beats``."""
    await take(ctx, dut.o, n_beats, rng, p_stall, _row_beat, beats, limit)


def make_blocks(cfg, ks, rng):
    """Random int8 blocks: list of ``(a_steps[K, rows], b_steps[K, cols])``."""
    return [(rng.integers(-128, 128, (k, cfg.rows)), rng.integers(-128, 128, (k, cfg.cols)))
            for k in ks]


def k_steps(blocks):
    """The KStep payloads (as dicts for ``ctx.set``) of a sequence of blocks."""
    steps = []
    for a, b in blocks:
        for k in range(len(a)):
            steps.append({"a": [int(x) for x in a[k]], "b": [int(x) for x in b[k]],
                          "last": int(k == len(a) - 1)})
    return steps


def run(cfg, blocks, *, seed=0, p_idle=0.0, p_stall=0.0):
    """Simulate ``blocks`` through a fresh PEArray; return (accept cycles, output beats)."""
    dut = PEArray(cfg)
    steps = k_steps(blocks)
    n_beats = len(blocks) * cfg.rows
    # Generous but finite: a deadlock fails the test instead of hanging it.
    limit = 50 + 4 * (len(steps) + n_beats) * (1 + cfg.rows + cfg.cols)
    accepted, beats = [], []
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(functools.partial(feed, dut=dut, steps=steps, rng=random.Random(seed),
                                        p_idle=p_idle, accepted=accepted, limit=limit))
    sim.add_testbench(functools.partial(drain, dut=dut, n_beats=n_beats,
                                        rng=random.Random(seed + 1), p_stall=p_stall,
                                        beats=beats, limit=limit))
    sim.run()
    assert len(accepted) == len(steps)
    return dut, accepted, beats


def check_results(cfg, blocks, beats):
    assert len(beats) == len(blocks) * cfg.rows
    for n, (a, b) in enumerate(blocks):
        want = block_ref(a, b)
        for r in range(cfg.rows):
            _, got, row, last = beats[n * cfg.rows + r]
            assert (row, last) == (r, int(r == cfg.rows - 1)), f"block {n} beat {r}"
            assert list(got) == want[r].tolist(), \
                f"block {n} row {r}: got {list(got)}, want {want[r].tolist()}"


# --- interface ---------------------------------------------------------------------------

def test_layouts():
    cfg = AccelConfig(rows=2, cols=3)
    ks, pr = KStep(cfg), PsumRow(cfg)
    assert ks.size == 2 * 8 + 3 * 8 + 1
    assert ks["a"].shape == data.ArrayLayout(signed(8), 2)
    assert ks["b"].shape == data.ArrayLayout(signed(8), 3)
    assert pr["data"].shape == data.ArrayLayout(signed(32), 3)
    assert pr["row"].shape == unsigned(1)
    assert PsumRow(AccelConfig(rows=8, cols=8))["row"].shape == unsigned(3)
    assert PsumRow(AccelConfig(rows=1, cols=1))["row"].shape == unsigned(1)
    dut = PEArray(cfg)
    assert dut.i.payload.shape() == ks and dut.o.payload.shape() == pr


def test_constructor_rejects_bad_config():
    with pytest.raises(TypeError, match="AccelConfig"):
        PEArray({"rows": 8, "cols": 8})
    narrow = AccelConfig()
    object.__setattr__(narrow, "acc_bits", 12)   # bypass AccelConfig's own check on purpose
    with pytest.raises(ValueError, match="acc_bits"):
        PEArray(narrow)
    with pytest.raises(ValueError, match="rows"):
        AccelConfig(rows=0)   # sizes themselves are validated by AccelConfig


def test_token_gap_stages_and_fifo_depth():
    sizes = [(1, 1), (2, 3), (4, 4), (8, 8), (8, 1), (1, 8), (64, 1), (9, 2)]
    arrays = {size: PEArray(AccelConfig(rows=size[0], cols=size[1])) for size in sizes}
    assert {s: a.token_gap for s, a in arrays.items()} == {
        (1, 1): 1, (2, 3): 3, (4, 4): 4, (8, 8): 8, (8, 1): 8, (1, 8): 8, (64, 1): 64,
        (9, 2): 9}
    assert {s: a.collect_stages for s, a in arrays.items()} == {
        (1, 1): 1, (2, 3): 1, (4, 4): 2, (8, 8): 2, (8, 1): 2, (1, 8): 1, (64, 1): 4,
        (9, 2): 3}
    # rows * ceil((rows + cols + L + D + 6) / G), rounded up to a power of two.
    assert {s: a.out_rows for s, a in arrays.items()} == {
        (1, 1): 16, (2, 3): 16, (4, 4): 32, (8, 8): 32, (8, 1): 32, (1, 8): 4, (64, 1): 128,
        (9, 2): 32}
    dsp = PEArray(AccelConfig(rows=8, cols=8, pe_multiplier="mult18x18d"))
    assert (dsp.mult_latency, dsp.out_rows) == (3, 32)


# --- function under random stalls -------------------------------------------------------

STALLS = {
    "free": (0.0, 0.0),
    "both": (0.3, 0.3),
    "backpressure": (0.05, 0.7),
}


# (7, 2): tall, so the block-end spacing is set by the rows (G = rows > cols) and the
# collection trees have an odd row.
@pytest.mark.parametrize("mult", MULTS)
@pytest.mark.parametrize("stall", list(STALLS))
@pytest.mark.parametrize("rows,cols", SIZES + [(7, 2)])
def test_random_blocks(rows, cols, stall, mult):
    if mult != "inferred" and rows * cols >= 64 and stall != "both":
        pytest.skip("8x8 with the DSP model: the 'both' stall mix only (test time)")
    cfg = AccelConfig(rows=rows, cols=cols, pe_multiplier=mult)
    seed = 1000 * rows + 10 * cols + list(STALLS).index(stall)
    rng = np.random.default_rng(seed)
    # Runs of K=1 blocks back to back, long blocks, and random K in 1..40.
    ks = [1, 1, 1, 40, 2, 1] + rng.integers(1, 41, 6).tolist() + [1, 3]
    if rows * cols >= 64:
        ks = ks[:10]   # keep the 8x8 runs short
    blocks = make_blocks(cfg, ks, rng)
    # One block of extreme operands: the largest products, both signs.
    blocks.insert(4, (np.full((5, rows), -128), np.full((5, cols), -128)))
    blocks.insert(5, (np.full((3, rows), -128), np.full((3, cols), 127)))
    p_idle, p_stall = STALLS[stall]
    _, _, beats = run(cfg, blocks, seed=seed, p_idle=p_idle, p_stall=p_stall)
    check_results(cfg, blocks, beats)


def test_accumulator_wraps_like_int32():
    """2**17 + 3 steps of (-128) * (-128) overflow int32: the sum wraps, as in block_ref. The
    accumulator never restarts, so the next block (4 steps of (-128) * 127) takes it back
    across the wrap, and its sum (end minus previous end) must still be exact."""
    cfg = AccelConfig(rows=1, cols=1)
    dut = PEArray(cfg)
    k = (1 << 17) + 3
    blocks = [(np.full((k, 1), -128), np.full((k, 1), -128)),
              (np.full((4, 1), -128), np.full((4, 1), 127))]
    out = []

    async def bench(ctx):
        ctx.set(dut.o.ready, 1)
        ctx.set(dut.i.payload, {"a": [-128], "b": [-128], "last": 0})
        ctx.set(dut.i.valid, 1)
        # With nothing else in flight, a 1x1 array accepts a non-last step every cycle.
        await ctx.tick().repeat(k - 1)
        # Then block 0's last step and block 1's steps, one per cycle (a 1x1 array admits a
        # block end every cycle while its FIFO has room).
        for step in k_steps(blocks)[k - 1:]:
            ctx.set(dut.i.payload, step)
            assert ctx.get(dut.i.ready)
            await ctx.tick()
        ctx.set(dut.i.valid, 0)
        for _ in range(40):   # bounded: a missing beat fails instead of hanging
            _, _, valid, payload = await ctx.tick().sample(dut.o.valid, dut.o.payload)
            if valid:
                out.append(int(payload.data[0]))
        assert len(out) == 2, f"{len(out)} output beats"

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    want = [int(block_ref(a, b)[0, 0]) for a, b in blocks]
    assert out == want == [-(1 << 31) + 3 * 128 * 128, -4 * 128 * 127]


# --- timing (functional properties in cycles) --------------------------------------------

@pytest.mark.parametrize("mult", MULTS)
@pytest.mark.parametrize("rows,cols", SIZES)
def test_latency(rows, cols, mult):
    """Row r of a block is on `o` cols + L + D + 6 + r cycles after its last k step was
    accepted (L = 1 inferred, 3 for the DSP; D = collect_stages)."""
    cfg = AccelConfig(rows=rows, cols=cols, pe_multiplier=mult)
    blocks = make_blocks(cfg, [3], np.random.default_rng(7))
    dut, accepted, beats = run(cfg, blocks)
    check_results(cfg, blocks, beats)
    assert dut.mult_latency == 1 + EXTRA[mult]
    assert accepted == [0, 1, 2]
    assert dut.collect_stages == STAGES[rows, cols]
    lat = cols + 1 + EXTRA[mult] + STAGES[rows, cols] + 6
    assert [c for c, *_ in beats] == [2 + lat + r for r in range(rows)]


@pytest.mark.parametrize("mult", MULTS)
@pytest.mark.parametrize("rows,cols", SIZES)
def test_throughput_back_to_back(rows, cols, mult):
    """No stalls, K = 2 * (rows + cols): every cycle accepts a k step, blocks overlap, and
    the skew is paid once: N blocks take exactly N * K + rows + cols + L + D + 5 cycles."""
    cfg = AccelConfig(rows=rows, cols=cols, pe_multiplier=mult)
    k, n = 2 * (rows + cols), 4 if rows * cols < 64 else 3
    blocks = make_blocks(cfg, [k] * n, np.random.default_rng(rows * cols))
    _, accepted, beats = run(cfg, blocks)
    check_results(cfg, blocks, beats)
    assert accepted == list(range(n * k))                       # 100 % >= 90 % target
    total = beats[-1][0] + 1
    assert total == n * k + rows + cols + (1 + EXTRA[mult]) + STAGES[rows, cols] + 5
    # Each block's rows leave one per cycle, K cycles after the previous block's.
    starts = [beats[i * rows][0] for i in range(n)]
    assert np.diff(starts).tolist() == [k] * (n - 1)


@pytest.mark.parametrize("mult", MULTS)
@pytest.mark.parametrize("rows,cols,k", [
    (1, 1, 1), (2, 3, 1), (2, 3, 2), (4, 4, 3), (8, 8, 1), (8, 8, 9), (8, 1, 2), (1, 8, 4),
])
def test_short_blocks_steady_state(rows, cols, k, mult):
    """Short blocks settle to one block per max(K, G) cycles (G = token_gap = max(rows,
    cols)), whatever the multiplier's latency: the output FIFO's credits never hold them back."""
    cfg = AccelConfig(rows=rows, cols=cols, pe_multiplier=mult)
    blocks = make_blocks(cfg, [k] * 8, np.random.default_rng(k))
    dut, accepted, beats = run(cfg, blocks)
    check_results(cfg, blocks, beats)
    ends = [accepted[i * k + k - 1] for i in range(len(blocks))]
    assert dut.token_gap == max(rows, cols)
    assert np.diff(ends)[-3:].tolist() == [max(k, dut.token_gap)] * 3


@pytest.mark.parametrize("mult", MULTS)
@pytest.mark.parametrize("rows,cols", [(2, 3), (4, 4)])
def test_reset_mid_stream(rows, cols, mult):
    """A reset while blocks are in flight and rows wait in the FIFO (o refusing): afterwards
    i.ready and o.valid stay low until the delayed internal reset has passed, no stale row
    comes out, the credits are whole again, and new blocks are exact."""
    cfg = AccelConfig(rows=rows, cols=cols, pe_multiplier=mult)
    dut = PEArray(cfg)
    rng = np.random.default_rng(rows * 10 + cols)
    before = make_blocks(cfg, [3, 1, 5, 2], rng)
    after = make_blocks(cfg, [4, 1, 2, 6, 1, 1], rng)
    beats = []

    async def bench(ctx):
        ctx.set(dut.o.ready, 0)
        cycle = 0
        for step in k_steps(before):            # fill the array and the FIFO, never drain
            _, cycle = await send(ctx, dut.i, step, random.Random(0), 0.0, cycle, 10_000)
        await ctx.tick().repeat(2)
        assert ctx.get(dut.o.valid)
        ctx.set(cd.rst, 1)                      # mid-stream: rows pending, tokens in flight
        await ctx.tick()
        ctx.set(cd.rst, 0)
        ctx.set(dut.o.ready, 1)
        for _ in range(40):                     # nothing stale ever comes out
            _, _, valid = await ctx.tick().sample(dut.o.valid)
            assert not valid
        assert ctx.get(dut.i.ready)
        steps = k_steps(after)
        cycle = 0
        while len(beats) < len(after) * rows:
            if steps:
                ctx.set(dut.i.payload, steps[0])
            ctx.set(dut.i.valid, bool(steps))
            _, _, ready, valid, payload = await ctx.tick().sample(dut.i.ready, dut.o.valid,
                                                                  dut.o.payload)
            if steps and ready:
                steps.pop(0)
            if valid:
                beats.append((cycle, *_row_beat(payload)))
            cycle += 1
            assert cycle < 500, "stuck after reset"

    top = Module()
    top.domains.sync = cd = ClockDomain()
    top.submodules.dut = dut
    sim = Simulator(top)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    check_results(cfg, after, beats)


def test_converts_to_verilog():
    from amaranth.back import verilog
    text = verilog.convert(PEArray(AccelConfig(rows=2, cols=3)), name="pe_array")
    assert "module pe_array" in text
    for port in ("i__valid", "i__ready", "i__payload", "o__valid", "o__ready", "o__payload"):
        assert port in text


def test_ready_flags_come_from_registers_and_select_i_ready():
    """``ready_last`` / ``ready_more`` do not follow the offered step between clock edges, and
    ``i.ready`` is the one the step's ``last`` selects; with the output stalled, a last step is
    refused at times (a step without ``last`` is refused only while a reset passes)."""
    cfg = AccelConfig(rows=4, cols=4)
    dut = PEArray(cfg)
    rng = random.Random(7)
    seen = set()

    async def bench(ctx):
        for _ in range(300):
            ctx.set(dut.o.ready, rng.random() < 0.2)
            ctx.set(dut.i.valid, rng.random() < 0.8)
            ctx.set(dut.i.payload.last, rng.random() < 0.4)
            await ctx.delay(1e-8)
            flags = (ctx.get(dut.ready_last), ctx.get(dut.ready_more))
            for last in (0, 1):
                ctx.set(dut.i.payload.last, last)
                ctx.set(dut.i.valid, rng.random() < 0.5)
                await ctx.delay(1e-8)
                assert (ctx.get(dut.ready_last), ctx.get(dut.ready_more)) == flags
                assert ctx.get(dut.i.ready) == flags[1 - last]
                seen.add((last, ctx.get(dut.i.ready)))
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert seen == {(0, 1), (1, 0), (1, 1)}
