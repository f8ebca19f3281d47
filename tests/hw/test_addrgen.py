# amaranth: UnusedElaboratable=no
"""TileAddressGenerator against the planner's step list, record for record.

The reference turns :func:`scanfuse.schedule.iter_steps` (single-buffered, unbounded buffer)
into one record per ``compute``: the steps between two computes say what the hardware must flag
for that tile. Many descriptors go through one simulator run, with random gaps between
descriptors and random back pressure on ``steps``; illegal descriptors are mixed in.
"""

import random
import shutil
import subprocess
from dataclasses import dataclass
from functools import partial

import pytest
from amaranth.back import verilog
from amaranth.sim import Simulator

from scanfuse.hw.program import DescriptorError
from scanfuse.hw.addrgen import (GemmDesc, LoopOrder, TileAddressGenerator,
                                 TileStep, Visit)
from scanfuse.hw.params import AccelConfig
from scanfuse.plan import LOOP_ORDERS, BufferModel, Gemm, Tiling, VisitOrder
from scanfuse.program.bridges import gemm_desc as desc_from_plan, loop_order_code, visit_code
from scanfuse.schedule import iter_steps
from scanfuse.schedule.steps import Compute, Evict, Load, Store

FIELDS = TileStep.RANGE_FIELDS + TileStep.FLAG_FIELDS
BIG = BufferModel(1 << 62)
VISITS = list(VisitOrder)
PRIMES = [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37]


# --- Reference: the planner's steps, grouped per compute ---------------------------------

def reference_records(gemm: Gemm, tiling: Tiling) -> list[dict]:
    """One expected :class:`TileStep` record (as a dict) per visited tile."""
    records, group = [], []
    k_done: dict[tuple, int] = {}        # C rectangle -> k elements accumulated so far
    prev = None                          # previous Compute
    steps = list(iter_steps(gemm, tiling, BIG))
    for step in steps:
        if not isinstance(step, Compute):
            group.append(step)
            continue
        c, m_rng, n_rng, k_rng = step, step.m, step.n, step.k
        a_rect, b_rect, c_rect = (m_rng, k_rng), (k_rng, n_rng), (m_rng, n_rng)
        flags = dict.fromkeys(TileStep.FLAG_FIELDS, False)
        for s in group:
            rect = (s.rows, s.cols)
            if isinstance(s, Load):
                flags[f"load_{s.operand.lower()}"] = True
                assert rect == {"A": a_rect, "B": b_rect, "C": c_rect}[s.operand]
            elif isinstance(s, Evict):
                flags[f"evict_{s.operand.lower()}"] = True
                assert rect == {"A": (prev.m, prev.k), "B": (prev.k, prev.n)}[s.operand]
            elif isinstance(s, Store):
                assert rect == (prev.m, prev.n)
                flags["store_prev_c"] = True
                flags["prev_c_final"] = k_done[rect] == gemm.K
        k_done[c_rect] = k_done.get(c_rect, 0) + (k_rng[1] - k_rng[0])
        rec = {
            "m_idx": m_rng[0] // tiling.tm, "n_idx": n_rng[0] // tiling.tn,
            "k_idx": k_rng[0] // tiling.tk,
            "m0": m_rng[0], "m_len": m_rng[1] - m_rng[0],
            "n0": n_rng[0], "n_len": n_rng[1] - n_rng[0],
            "k0": k_rng[0], "k_len": k_rng[1] - k_rng[0],
            "prev_m0": prev.m[0] if prev else 0,
            "prev_m_len": prev.m[1] - prev.m[0] if prev else 0,
            "prev_n0": prev.n[0] if prev else 0,
            "prev_n_len": prev.n[1] - prev.n[0] if prev else 0,
            **flags,
        }
        records.append(rec)
        group, prev = [], c
    # After the last compute: its C tile is stored (final) and A, B are evicted.
    assert [type(s) for s in group] == [Store, Evict, Evict]
    assert (group[0].rows, group[0].cols) == (prev.m, prev.n)
    assert k_done[(prev.m, prev.n)] == gemm.K
    records[-1]["last"] = True
    return records


def test_reference_sanity():
    # 2x2x2 tiles, mnk raster: every C tile is finished in one run; A reloads on k change.
    recs = reference_records(Gemm(M=4, K=4, N=4), Tiling(2, 2, 2, "mnk", "raster"))
    assert len(recs) == 8
    assert [r["load_c"] for r in recs] == [False] * 8
    assert [r["store_prev_c"] for r in recs] == [False, False, True, False, True, False, True, False]
    assert all(r["prev_c_final"] == r["store_prev_c"] for r in recs)
    # kmn Scan: C tiles revisited on the second k pass, read back, spilled partial before.
    recs = reference_records(Gemm(M=4, K=4, N=4), Tiling(2, 2, 2, "kmn", "scan"))
    assert sum(r["load_c"] for r in recs) == 3     # the turn at k keeps one C tile resident
    assert sum(r["store_prev_c"] and not r["prev_c_final"] for r in recs) == 3
    assert sum(r["store_prev_c"] and r["prev_c_final"] for r in recs) == 3   # + the last one


# --- Jobs and testbenches ------------------------------------------------------------------

@dataclass
class Job:
    desc: object                  # GemmDesc const
    error: DescriptorError
    expected: list                # reference records (empty when illegal)
    label: str


def legal_job(gemm: Gemm, tiling: Tiling, dim_bits: int = 16) -> Job:
    return Job(desc_from_plan(gemm, tiling, dim_bits=dim_bits), DescriptorError.NONE,
               reference_records(gemm, tiling), f"{gemm} {tiling.describe()}")


def illegal_job(error: DescriptorError, dim_bits: int = 16, **fields) -> Job:
    base = {"M": 5, "N": 6, "K": 7, "tm": 2, "tn": 3, "tk": 4, "loop_order": 0, "visit": 1}
    base.update(fields)
    return Job(GemmDesc(dim_bits).raw_const(**base), error, [], f"illegal {fields}")


def decode(payload) -> dict:
    return {name: int(getattr(payload, name)) for name in FIELDS}


async def transfer(ctx, stream_port, limit):
    """Wait for the handshake on ``stream_port`` (valid already set), at most ``limit`` ticks."""
    for _ in range(limit):
        _, _, ready = await ctx.tick().sample(stream_port.ready)
        if ready:
            return
    raise AssertionError(f"no handshake within {limit} cycles: the generator hangs")


async def produce(ctx, dut, jobs, rng, p_idle, limit):
    """Offer each descriptor after a random gap; check ``error``/``busy`` around the accept."""
    prev_error = DescriptorError.NONE
    for job in jobs:
        while rng.random() < p_idle:
            await ctx.tick()
        assert ctx.get(dut.error) == prev_error          # held until the next descriptor
        ctx.set(dut.desc.payload, job.desc)
        ctx.set(dut.desc.valid, 1)
        await transfer(ctx, dut.desc, limit)
        ctx.set(dut.desc.valid, 0)
        assert ctx.get(dut.error) == job.error, job.label
        if job.error != DescriptorError.NONE:
            # Nothing started: idle at once, ready for the next descriptor.
            assert not ctx.get(dut.busy) and ctx.get(dut.desc.ready), job.label
            assert not ctx.get(dut.steps.valid), job.label
        prev_error = job.error


async def consume(ctx, dut, n_total, rng, p_stall, out, limit):
    """Take records under random back pressure, checking the stream rules on the way."""
    held = None                   # record offered but not taken: must stay, unchanged
    for _ in range(limit):
        if len(out) == n_total:
            break
        ready = rng.random() >= p_stall
        ctx.set(dut.steps.ready, ready)
        _, _, valid, payload = await ctx.tick().sample(dut.steps.valid, dut.steps.payload)
        if not valid:
            assert held is None, "valid dropped before the transfer"
            continue
        rec = decode(payload)
        if held is not None:
            assert rec == held, "payload changed while waiting for ready"
        held = None if ready else rec
        if ready:
            out.append(rec)
    else:
        raise AssertionError(f"{len(out)} of {n_total} records after {limit} cycles")
    # Nothing beyond the expected records.
    ctx.set(dut.steps.ready, 1)
    for _ in range(8):
        _, _, valid = await ctx.tick().sample(dut.steps.valid)
        assert not valid, "extra record"


def run_jobs(jobs, *, seed, p_idle=0.3, p_stall=0.3, dim_bits=16):
    dut = TileAddressGenerator(AccelConfig(), dim_bits=dim_bits)
    got = []
    n_total = sum(len(j.expected) for j in jobs)
    # Generous bound on the whole run, so a broken walk fails instead of hanging.
    limit = 200 + 20 * (n_total + len(jobs))
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(partial(produce, dut=dut, jobs=jobs, rng=random.Random(seed),
                              p_idle=p_idle, limit=limit))
    sim.add_testbench(partial(consume, dut=dut, n_total=n_total, rng=random.Random(seed + 1),
                              p_stall=p_stall, out=got, limit=limit))
    sim.run()
    # Compare job by job so a failure names the descriptor and the tile.
    pos = 0
    for job in jobs:
        chunk = got[pos:pos + len(job.expected)]
        pos += len(job.expected)
        for i, (hw, ref) in enumerate(zip(chunk, job.expected)):
            ref = {k: int(v) for k, v in ref.items()}
            assert hw == ref, (f"{job.label}: tile {i}: "
                               + ", ".join(f"{k} hw={hw[k]} ref={ref[k]}"
                                           for k in FIELDS if hw[k] != ref[k]))
    assert pos == len(got)


def _cases(shapes):
    return [legal_job(g, Tiling(*t, order, visit))
            for g, t in shapes for order in LOOP_ORDERS for visit in VISITS]


# --- Tests ---------------------------------------------------------------------------------

EDGE_SHAPES = [    # (GEMM, (tm, tn, tk))
    (Gemm(M=1, K=1, N=1), (1, 1, 1)),                  # a single 1x1x1 tile
    (Gemm(M=6, K=7, N=5), (6, 5, 7)),                  # tile == dim: one tile
    (Gemm(M=5, K=3, N=4), (1, 4, 3)),                  # tile 1 along M only
    (Gemm(M=5, K=3, N=4), (5, 1, 3)),                  # ... along N
    (Gemm(M=5, K=3, N=4), (5, 4, 1)),                  # ... along K
    (Gemm(M=2, K=2, N=2), (1, 1, 1)),                  # counts of 2, unit tiles
    (Gemm(M=8, K=8, N=8), (4, 4, 4)),                  # counts of 2, full tiles
    (Gemm(M=7, K=9, N=5), (4, 5, 3)),                  # counts 2, 1, 3 with short edges
    (Gemm(M=9, K=9, N=9), (4, 4, 4)),                  # edge tiles of length 1
    (Gemm(M=13, K=7, N=11), (5, 3, 2)),                # all three fragmented
    (Gemm(M=3, K=17, N=1), (2, 1, 5)),                 # N = 1 (one tile along n)
    (Gemm(M=65535, K=65535, N=65535), (32768, 65535, 40000)),  # full 16-bit range
]


def test_edges():
    jobs = _cases(EDGE_SHAPES)
    run_jobs(jobs, seed=1)


def _random_jobs(rng, count, max_tiles=120, max_dim=40):
    jobs = []
    while len(jobs) < count:
        dims = [rng.choice(PRIMES) if rng.random() < 0.4 else rng.randint(1, max_dim)
                for _ in range(3)]
        tiles = [rng.randint(1, d) for d in dims]
        gemm = Gemm(M=dims[0], N=dims[1], K=dims[2])
        tiling = Tiling(tiles[0], tiles[1], tiles[2], rng.choice(LOOP_ORDERS), rng.choice(VISITS))
        counts = tiling.counts(gemm)
        if counts["m"] * counts["n"] * counts["k"] <= max_tiles:
            jobs.append(legal_job(gemm, tiling))
    return jobs


@pytest.mark.parametrize("seed", [11, 12])
def test_random_sweep(seed):
    rng = random.Random(seed)
    # Every order x visit several times, with mixed gaps and back pressure.
    jobs = _random_jobs(rng, 90)
    run_jobs(jobs, seed=seed, p_idle=0.25, p_stall=0.35)


def test_illegal_descriptors_mixed_in():
    rng = random.Random(5)
    legal = _random_jobs(rng, 8)
    bad = [
        illegal_job(DescriptorError.ZERO_DIM, M=0),
        illegal_job(DescriptorError.ZERO_DIM, K=0, tk=0),      # zero dim outranks zero tile
        illegal_job(DescriptorError.ZERO_TILE, tn=0),
        illegal_job(DescriptorError.TILE_TOO_BIG, tm=6),       # tm > M = 5
        illegal_job(DescriptorError.TILE_TOO_BIG, tk=8, loop_order=7),  # size error first
        illegal_job(DescriptorError.BAD_LOOP_ORDER, loop_order=6),
        illegal_job(DescriptorError.BAD_LOOP_ORDER, loop_order=7, visit=0),
        illegal_job(DescriptorError.ZERO_DIM, M=0, N=0, K=0, tm=0, tn=0, tk=0),
    ]
    # legal, bad, legal, bad, bad, legal, ...: errors must clear and not leak into the walk.
    jobs = [legal[0], bad[0], legal[1], bad[1], bad[2], legal[2], bad[3], legal[3],
            bad[4], bad[5], legal[4], bad[6], legal[5], legal[6], bad[7], legal[7]]
    run_jobs(jobs, seed=5, p_idle=0.5, p_stall=0.2)


def test_narrow_dim_bits():
    # dim_bits is a parameter: a 6-bit generator walks dims up to 63.
    rng = random.Random(9)
    jobs = [legal_job(Gemm(M=63, K=63, N=63), Tiling(32, 63, 21, "nkm", "scan"), dim_bits=6),
            legal_job(Gemm(M=63, K=1, N=62), Tiling(16, 31, 1, "kmn", "raster"), dim_bits=6)]
    for _ in range(10):
        gemm = Gemm(M=rng.randint(1, 63), K=rng.randint(1, 63), N=rng.randint(1, 63))
        tiling = Tiling(max(1, gemm.M // 3), max(1, gemm.N // 2), max(1, gemm.K // 2),
                        rng.choice(LOOP_ORDERS), rng.choice(VISITS))
        jobs.append(legal_job(gemm, tiling, dim_bits=6))
    run_jobs(jobs, seed=9, dim_bits=6)


def test_one_record_per_step_time():
    """Always-ready consumer: the first record FIRST_CYCLES cycles after the accept, then one
    every STEP_CYCLES cycles, each valid for one cycle."""
    jobs = [legal_job(Gemm(M=9, K=7, N=5), Tiling(2, 3, 4, order, visit))
            for order in LOOP_ORDERS for visit in VISITS]
    dut = TileAddressGenerator(AccelConfig())
    FIRST, STEP = TileAddressGenerator.FIRST_CYCLES, TileAddressGenerator.STEP_CYCLES
    stats = {"cycles": 0, "records": 0}

    async def bench(ctx):
        ctx.set(dut.steps.ready, 1)
        for job in jobs:
            ctx.set(dut.desc.payload, job.desc)
            ctx.set(dut.desc.valid, 1)
            await transfer(ctx, dut.desc, 1)                # accepted on the first edge
            ctx.set(dut.desc.valid, 0)
            stats["cycles"] += 1
            got = []
            while len(got) <= len(job.expected):
                for _ in range((STEP if got else FIRST) - 1):
                    assert not ctx.get(dut.steps.valid), f"{job.label}: early record"
                    await ctx.tick()
                    stats["cycles"] += 1
                assert ctx.get(dut.steps.valid), f"{job.label}: late after {len(got)} records"
                got.append(decode(ctx.get(dut.steps.payload)))
                await ctx.tick()
                stats["cycles"] += 1
                if got[-1]["last"]:
                    break
            assert ctx.get(dut.desc.ready) and not ctx.get(dut.busy)
            assert got == [{k: int(v) for k, v in r.items()} for r in job.expected], job.label
            stats["records"] += len(got)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    # Per descriptor: one accept cycle, FIRST_CYCLES for its first tile, STEP_CYCLES for
    # each other.
    assert stats["cycles"] == STEP * stats["records"] + (1 + FIRST - STEP) * len(jobs)


def test_descriptor_packing():
    gemm, tiling = Gemm(M=300, K=20, N=70), Tiling(64, 16, 20, "knm", "raster")
    d = desc_from_plan(gemm, tiling)
    assert (d.M, d.N, d.K, d.tm, d.tn, d.tk) == (300, 70, 20, 64, 16, 20)
    assert d.loop_order == LoopOrder.KNM and d.visit == Visit.RASTER
    assert [o.letters for o in LoopOrder] == list(LOOP_ORDERS)
    assert all(loop_order_code(s).value == i for i, s in enumerate(LOOP_ORDERS))
    assert visit_code("scan") is Visit.SCAN
    assert desc_from_plan(gemm, tiling, dim_bits=16).as_value().value == d.as_value().value
    with pytest.raises(ValueError):
        desc_from_plan(Gemm(M=70000, K=1, N=1), Tiling(1, 1, 1), dim_bits=16)
    with pytest.raises(ValueError):
        TileAddressGenerator(AccelConfig(), dim_bits=1)
    with pytest.raises(TypeError):
        TileAddressGenerator(None)


@pytest.mark.skipif(shutil.which("verilator") is None, reason="verilator not installed")
def test_verilog_lint(tmp_path):
    """The generated Verilog lints clean with -Wall, except Amaranth's unused-signal noise
    (debug aliases of struct fields and the dropped carry bit of widened +/-)."""
    v = tmp_path / "addrgen.v"
    v.write_text(verilog.convert(TileAddressGenerator(AccelConfig()), name="addrgen"))
    result = subprocess.run(["verilator", "--lint-only", "-Wall", "-Wno-UNUSEDSIGNAL", str(v)],
                            capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
