# amaranth: UnusedElaboratable=no
"""ComputeFeed: random jobs over A and B memory models, k steps taken with random stalls;
every step's operands, ``last`` and MAC count against the buffer layout (the array's two
readiness flags drawn independently, ``pe.ready`` the one ``last`` selects), with one- and
two-cycle memories (the ECP5 ``dp16kd`` output register); the gate that holds a row block
until the loader has written it; one k step per cycle when nothing stalls."""

import random
from functools import partial

import pytest
from amaranth.sim import Simulator

from scanfuse.hw.buffer import BufferGeometry
from scanfuse.hw.feed import ComputeFeed
from scanfuse.hw.params import AccelConfig

from .memmodel import WordMemory
from .streams import send, take

CONFIGS = {"r8c8-64b": AccelConfig(a_entries=2048, b_entries=1024, c_entries=512),
           "r4c16-64b": AccelConfig(rows=4, cols=16, a_entries=1024, b_entries=2048,
                                    c_entries=1024)}
LIMIT = 50_000


def signed8(x: int) -> int:
    return x - 256 if x >= 128 else x


def random_job(rng, cfg, g):
    m_len, n_len, k_len = rng.randint(1, 20), rng.randint(1, 40), rng.randint(1, 20)
    kw = -(-(k_len + rng.randint(0, 8)) // cfg.axi_bytes)
    nw = -(-(n_len + rng.randint(0, 8)) // cfg.b_word_bytes)
    return {"a_base": rng.randrange(g.a_depth), "b_base": rng.randrange(g.b_depth),
            "m_len": m_len, "n_len": n_len, "k_len": k_len, "kw": kw, "nw": nw}


def expected_steps(job, amem, bmem, cfg, g):
    """(a operands, b operands, last) per k step, and the MACs of each, in feed order."""
    R, C, AB = cfg.rows, cfg.cols, cfg.axi_bytes
    steps, macs = [], []
    for mb in range(-(-job["m_len"] // R)):
        for nb in range(-(-job["n_len"] // C)):
            for k in range(job["k_len"]):
                aw = amem[(job["a_base"] + mb * job["kw"] + k // AB) % g.a_depth]
                a = tuple(signed8(aw >> (8 * (r * AB + k % AB)) & 0xFF) for r in range(R))
                bpw = g.b_blocks_per_word
                bw = bmem[(job["b_base"] + k * job["nw"] + nb // bpw) % g.b_depth]
                b = tuple(signed8(bw >> (8 * ((nb % bpw) * C + c)) & 0xFF) for c in range(C))
                steps.append((a, b, int(k == job["k_len"] - 1)))
                macs.append(min(R, job["m_len"] - mb * R) * min(C, job["n_len"] - nb * C))
    return steps, macs


async def serve_enabled(ctx, words, raddr, ren, rdata, latency):
    """A memory read of ``latency`` stages all enabled by ``ren`` (TileBuffer(read_latency=2),
    or 3 for dp16kd memories): the word of the address sampled at an edge with ``ren`` reaches
    ``rdata`` at the ``latency - 1``-th such edge after it."""
    pipe = [0] * (latency - 1)
    async for _, _, addr, en in ctx.tick().sample(raddr, ren):
        if en:
            ctx.set(rdata, pipe[-1])
            pipe = [words.get(addr, 0)] + pipe[:-1]


def pe_side(dut, rng, p_stall):
    """The PE array's side of ``dut.pe`` for :func:`streams.take`: each cycle a random
    ``pe_ready_last`` and ``pe_ready_more`` (each refusing with probability ``p_stall``), and
    ``pe.ready`` the one the offered step's ``last`` selects, as :class:`PEArray` drives them."""
    def choose(ctx):
        ready_last, ready_more = rng.random() >= p_stall, rng.random() >= p_stall
        ctx.set(dut.pe_ready_last, ready_last)
        ctx.set(dut.pe_ready_more, ready_more)
        return ready_last if ctx.get(dut.pe.payload.last) else ready_more
    return choose


def run_feed(cfg, jobs, rng, gate_blocks: bool, latency: int = 1, p_stall: float = 0.3):
    g = BufferGeometry(cfg)
    amem = {w: rng.getrandbits(g.a_word_bits) for w in range(g.a_depth)}
    bmem = {w: rng.getrandbits(g.b_word_bits) for w in range(g.b_depth)}
    dut = ComputeFeed(cfg, read_latency=latency)
    taken, macs, rises = [], [], []

    async def jobs_in(ctx):
        cycle = 0
        for job in jobs:
            _, cycle = await send(ctx, dut.job, job, rng, 0.3, cycle, LIMIT)

    async def gate(ctx):
        # One job: its row blocks "arrive" one by one at random cycles, then the gate opens.
        ctx.set(dut.a_streaming, 1)
        cycle = 0
        for n in range(1, -(-jobs[0]["m_len"] // cfg.rows) + 1):
            for _ in range(rng.randint(0, 40)):
                await ctx.tick()
                cycle += 1
            ctx.set(dut.a_blocks, n)
            rises.append(cycle)
        ctx.set(dut.a_streaming, 0)

    async def count_macs(ctx):
        async for _, _, valid, ready, n in ctx.tick().sample(dut.pe.valid, dut.pe.ready,
                                                              dut.macs):
            if valid and ready:
                macs.append(n)

    want, want_macs = [], []
    for job in jobs:
        s, n = expected_steps(job, amem, bmem, cfg, g)
        want += s
        want_macs += n
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    if latency == 1:
        sim.add_process(partial(WordMemory(amem, g.a_word_bits, 1).serve, raddr=dut.a_raddr,
                                ren=dut.a_ren, rdata=dut.a_rdata))
        sim.add_process(partial(WordMemory(bmem, g.b_word_bits, 1).serve, raddr=dut.b_raddr,
                                ren=dut.b_ren, rdata=dut.b_rdata))
    else:
        sim.add_process(partial(serve_enabled, words=amem, raddr=dut.a_raddr, ren=dut.a_ren,
                                rdata=dut.a_rdata, latency=latency))
        sim.add_process(partial(serve_enabled, words=bmem, raddr=dut.b_raddr, ren=dut.b_ren,
                                rdata=dut.b_rdata, latency=latency))
    sim.add_process(count_macs)
    sim.add_testbench(jobs_in)
    if gate_blocks:
        sim.add_testbench(gate)
    sim.add_testbench(partial(take, stream=dut.pe, n_beats=len(want), rng=rng, p_stall=p_stall,
                              decode=lambda p: (tuple(int(x) for x in p.a),
                                                tuple(int(x) for x in p.b), int(p.last)),
                              beats=taken, limit=LIMIT, choose_ready=pe_side(dut, rng, p_stall)))
    sim.run()
    assert [t[1:] for t in taken] == want
    assert macs == want_macs
    return taken, rises


@pytest.mark.parametrize("latency", [1, 2, 3])
@pytest.mark.parametrize("name", CONFIGS)
def test_feed_offers_every_k_step_of_every_block(name, latency):
    cfg = CONFIGS[name]
    rng = random.Random(f"feed/{name}" + ("" if latency == 1 else f"/{latency}"))
    g = BufferGeometry(cfg)
    run_feed(cfg, [random_job(rng, cfg, g) for _ in range(8)], rng, gate_blocks=False,
             latency=latency)


@pytest.mark.parametrize("latency", [1, 2, 3])
def test_feed_issues_one_k_step_per_cycle_without_stalls(latency):
    """Back-to-back jobs, array always ready: the steps leave on consecutive cycles from the
    first one on (the extra read stage costs one cycle of latency, no throughput)."""
    cfg = CONFIGS["r8c8-64b"]
    rng = random.Random(f"feed/steady/{latency}")
    job = {**random_job(rng, cfg, BufferGeometry(cfg)), "m_len": 16, "n_len": 16, "k_len": 9}
    taken, _ = run_feed(cfg, [job], rng, gate_blocks=False, latency=latency, p_stall=0.0)
    cycles = [t[0] for t in taken]
    assert cycles == list(range(cycles[0], cycles[0] + len(cycles)))


@pytest.mark.parametrize("latency", [1, 2, 3])
def test_feed_waits_for_each_row_block_of_a_streaming_tile(latency):
    cfg = CONFIGS["r8c8-64b"]
    rng = random.Random("feed/gate" + ("" if latency == 1 else f"/{latency}"))
    job = {**random_job(rng, cfg, BufferGeometry(cfg)), "m_len": 29, "n_len": 12, "k_len": 5}
    taken, rises = run_feed(cfg, [job], rng, gate_blocks=True, latency=latency)
    per_block = 2 * job["k_len"]            # two n blocks of k_len steps per row block
    for mb, rise in enumerate(rises):
        first = taken[mb * per_block][0]
        assert first > rise, (mb, first, rise)


def test_feed_rejects_bad_cfg():
    with pytest.raises(TypeError, match="AccelConfig"):
        ComputeFeed("8x8")
    with pytest.raises(ValueError, match="read_latency must be 1, 2 or 3"):
        ComputeFeed(CONFIGS["r8c8-64b"], read_latency=4)
    dp = AccelConfig(a_entries=2048, b_entries=1024, c_entries=512, tile_memory="dp16kd")
    assert ComputeFeed(dp).read_latency == 3 and ComputeFeed(CONFIGS["r8c8-64b"]).read_latency == 2
