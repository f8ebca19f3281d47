# amaranth: UnusedElaboratable=no
"""Accumulator: random jobs and result rows (with random gaps) into a C memory model; every
word accumulated or overwritten as the layout says, rows past the tile's edge dropped, and the
C read port used once per accumulated row and never for a fresh tile."""

import random
from functools import partial

import pytest
from amaranth.sim import Simulator

from scanfuse.hw.accumulator import Accumulator
from scanfuse.hw.buffer import BufferGeometry, c_read_latency
from scanfuse.hw.params import AccelConfig

from .memmodel import WordMemory
from .streams import send

CONFIGS = {"r8c8-64b": AccelConfig(a_entries=1024, b_entries=1024, c_entries=2048),
           "r4c4-32b": AccelConfig(rows=4, cols=4, axi_data_bits=32, a_entries=512,
                                   b_entries=256, c_entries=512),
           # dp16kd tile memories: three-cycle C reads, writes one edge late
           "r8c8-64b-dp16kd": AccelConfig(a_entries=1024, b_entries=1024, c_entries=2048,
                                          tile_memory="dp16kd")}
LIMIT = 50_000
MASK = (1 << 32) - 1


@pytest.mark.parametrize("name", CONFIGS)
def test_accumulator_adds_or_overwrites_each_row(name):
    cfg = CONFIGS[name]
    g = BufferGeometry(cfg)
    R, C = cfg.rows, cfg.cols
    rng = random.Random(f"accum/{name}")
    words = {w: rng.getrandbits(g.c_word_bits) for w in range(g.c_depth)}
    model = dict(words)
    jobs = []
    for _ in range(10):
        m_len, n_len = rng.randint(1, 19), rng.randint(1, 3 * C)
        job = {"c_base": rng.randrange(g.c_depth), "m_len": m_len, "n_len": n_len,
               "nc": -(-n_len // C) + rng.randint(0, 2), "fresh": rng.randint(0, 1)}
        rows = []
        for mb in range(-(-m_len // R)):
            for nb in range(-(-n_len // C)):
                for r in range(R):
                    vals = [rng.randint(-(1 << 31), (1 << 31) - 1) for _ in range(C)]
                    rows.append({"data": vals, "row": r, "last": int(r == R - 1)})
                    if mb * R + r >= m_len:
                        continue
                    w = (job["c_base"] + (mb * R + r) * job["nc"] + nb) % g.c_depth
                    old = model[w]
                    new = 0
                    for c in range(C):
                        lane = (vals[c] if job["fresh"] else (old >> 32 * c) + vals[c]) & MASK
                        new |= lane << 32 * c
                    model[w] = new
        jobs.append((job, rows))
    dut = Accumulator(cfg)
    mem = WordMemory(words, g.c_word_bits // g.c_lanes, g.c_lanes, latency=c_read_latency(cfg))
    reads = []

    async def driver(ctx):
        cycle = 0
        assert ctx.get(dut.idle)
        for job, rows in jobs:
            _, cycle = await send(ctx, dut.job, job, rng, 0.2, cycle, LIMIT)
            for row in rows:
                _, cycle = await send(ctx, dut.psum, row, rng, 0.3, cycle, LIMIT)
        while not ctx.get(dut.idle):
            await ctx.tick()
        await ctx.tick()

    async def port_use(ctx):
        async for _, _, ren, reading, valid in ctx.tick().sample(dut.c_ren, dut.reading,
                                                                 dut.psum.valid):
            assert ren == reading and (not reading or valid)
            reads.append(ren)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_process(partial(mem.serve, raddr=dut.c_raddr, ren=dut.c_ren, rdata=dut.c_rdata,
                            waddr=dut.c_waddr, wen=dut.c_wen, wdata=dut.c_wdata))
    sim.add_process(port_use)
    sim.add_testbench(driver)
    sim.run()
    assert mem.words == model
    assert sum(reads) == sum(len(rows) for job, rows in jobs if not job["fresh"])
    assert any(job["fresh"] for job, _ in jobs) and not all(job["fresh"] for job, _ in jobs)


def test_accumulator_rejects_bad_cfg():
    with pytest.raises(TypeError, match="AccelConfig"):
        Accumulator({})
