# amaranth: UnusedElaboratable=no
"""StorePath: C tiles from a memory model to a DMA model with random command and write stalls
and a randomly busy C read port (never read while busy); every command and every byte (requantised int8, raw int32
to C, int32 partial sums to P) against the golden model."""

import random
from functools import partial

import numpy as np
import pytest
from amaranth.sim import Simulator

from scanfuse.hw.buffer import BufferGeometry, c_read_latency
from scanfuse.hw.params import AccelConfig
from scanfuse.hw.requant import Activation
from scanfuse.hw.store import StorePath, store_fifo_depth
from scanfuse.sim.golden import requant_ref

from .memmodel import WordMemory
from .streams import send, take

# The second configuration stores its final tiles raw (int32).
CONFIGS = {"r8c8-64b": AccelConfig(a_entries=1024, b_entries=1024, c_entries=2048),
           "r4c4-32b-raw": AccelConfig(rows=4, cols=4, axi_data_bits=32, a_entries=512,
                                   b_entries=256, c_entries=512),
           # the ECP5 build's registered DSPs: the address product takes 4 cycles
           "r4c4-64b-dsp": AccelConfig(rows=4, cols=4, a_entries=512, b_entries=512,
                                       c_entries=512, pe_multiplier="mult18x18d"),
           # dp16kd tile memories: three-cycle C reads
           "r8c8-64b-dp16kd": AccelConfig(a_entries=1024, b_entries=1024, c_entries=2048,
                                          tile_memory="dp16kd")}
LIMIT = 100_000


def expected_tile(req, layer, words, cfg, g):
    """(command fields, row byte strings) of one store."""
    C = cfg.cols
    acc = np.array([[(words[(req["c_base"] + m * layer["nc"] + n // C) % g.c_depth]
                      >> 32 * (n % C)) & 0xFFFFFFFF for n in range(req["n_len"])]
                    for m in range(req["m_len"])], dtype=np.uint32).view(np.int32)
    int8 = req["final"] and layer["int8"]
    if int8:
        rq = layer["requant"]
        out = requant_ref(acc, rq["multiplier"], rq["shift"], rq["zero_point"], rq["mode"],
                          rq["relu6_max"]).astype(np.int8)
    else:
        out = acc.astype("<i4")
    base, stride = ((layer["c_base"], layer["c_stride"]) if req["final"]
                    else (layer["p_base"], layer["p_stride"]))
    addr = (base + req["n0"] * (1 if int8 else 4) + req["m0"] * stride) % (1 << cfg.addr_bits)
    cmd = (1, addr, req["n_len"] * (1 if int8 else 4), req["m_len"], stride)
    return cmd, [row.tobytes() for row in out]


@pytest.mark.parametrize("name", CONFIGS)
def test_store_writes_every_tile_byte_exact(name):
    cfg = CONFIGS[name]
    g = BufferGeometry(cfg)
    rng = random.Random(f"store/{name}")
    words = {w: rng.getrandbits(g.c_word_bits) for w in range(g.c_depth)}
    layer = {"c_base": rng.getrandbits(cfg.addr_bits), "c_stride": rng.randint(0, 4000),
             "p_base": rng.getrandbits(cfg.addr_bits), "p_stride": rng.randint(0, 4000),
             "int8": int(not name.endswith("raw")), "nc": 5,
             "requant": {"multiplier": rng.randint(1 << 20, (1 << 31) - 1),
                         "shift": rng.randint(24, 40), "zero_point": rng.randint(-20, 20),
                         "mode": Activation.RELU6, "relu6_max": 100}}
    reqs = [{"m0": rng.randint(0, 500), "m_len": rng.randint(1, 9), "n0": rng.randint(0, 500),
             "n_len": rng.randint(1, layer["nc"] * cfg.cols), "final": rng.randint(0, 1),
             "c_base": rng.randrange(g.c_depth)} for _ in range(10)]
    dut = StorePath(cfg)
    cmds, beats, pulses = [], [], {"issued": 0, "done": 0}
    want = [expected_tile(req, layer, words, cfg, g) for req in reqs]
    n_beats = sum(-(-len(row) // cfg.axi_bytes) for _, rows in want for row in rows)

    async def requests(ctx):
        ctx.set(dut.layer, layer)
        cycle = 0
        for req in reqs:
            _, cycle = await send(ctx, dut.req, req, rng, 0.3, cycle, LIMIT)

    async def busy_port(ctx):
        while True:
            ctx.set(dut.port_busy, rng.random() < 0.3)
            await ctx.tick()

    async def pulses_seen(ctx):
        async for _, _, issued, done, busy, ren in ctx.tick().sample(dut.issued, dut.done,
                                                                     dut.port_busy, dut.c_ren):
            pulses["issued"] += issued
            pulses["done"] += done
            assert not (busy and ren), "a C read while the port is taken"

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_process(partial(WordMemory(words, g.c_word_bits, 1, c_read_latency(cfg)).serve, raddr=dut.c_raddr,
                            ren=dut.c_ren, rdata=dut.c_rdata))
    sim.add_process(busy_port)
    sim.add_process(pulses_seen)
    sim.add_testbench(requests)
    sim.add_testbench(partial(take, stream=dut.cmd, n_beats=len(reqs), rng=rng, p_stall=0.4,
                              decode=lambda p: (int(p.write), int(p.addr), int(p.row_bytes),
                                                int(p.rows), int(p.stride)),
                              beats=cmds, limit=LIMIT))
    sim.add_testbench(partial(take, stream=dut.wr, n_beats=n_beats, rng=rng, p_stall=0.3,
                              decode=lambda p: (int(p.data), int(p.count), int(p.row_last),
                                                int(p.last)),
                              beats=beats, limit=LIMIT))
    sim.run()
    assert [c[1:] for c in cmds] == [cmd for cmd, _ in want]
    rows, row, lasts = [], b"", 0
    for _, data, count, row_last, last in beats:
        row += data.to_bytes(cfg.axi_bytes, "little")[:count]
        if row_last:
            rows.append(row)
            row = b""
        lasts += last
    assert rows == [r for _, tile in want for r in tile]
    assert lasts == pulses["issued"] == pulses["done"] == len(reqs)
    assert {req["final"] for req in reqs} == {0, 1}


def test_store_rejects_bad_cfg():
    with pytest.raises(TypeError, match="AccelConfig"):
        StorePath(1)


@pytest.mark.parametrize("name", ["r8c8-64b", "r8c8-64b-dp16kd"])
def test_store_streams_one_word_per_cycle_without_stalls(name):
    """An int8 tile (one C word makes one 8-byte beat), the DMA always ready and the C read
    port free: the C reads of a tile are issued in consecutive cycles (the FIFO,
    store_fifo_depth words, covers the read's latency and its own), and the write beats leave
    back to back."""
    cfg = CONFIGS[name]
    assert store_fifo_depth(cfg) == {2: 4, 3: 8}[c_read_latency(cfg)]
    g = BufferGeometry(cfg)
    rng = random.Random(f"store/steady/{name}")
    words = {w: rng.getrandbits(g.c_word_bits) for w in range(g.c_depth)}
    layer = {"c_base": 0, "c_stride": 4096, "p_base": 1 << 20, "p_stride": 4096, "int8": 1,
             "nc": 4, "requant": {"multiplier": 1 << 30, "shift": 31, "zero_point": 0,
                                  "mode": Activation.NONE, "relu6_max": 0}}
    req = {"m0": 0, "m_len": 6, "n0": 0, "n_len": 4 * cfg.cols, "final": 1, "c_base": 0}
    dut = StorePath(cfg)
    reads, beats = [], []
    n_beats = req["m_len"] * req["n_len"] // cfg.axi_bytes

    async def requests(ctx):
        ctx.set(dut.layer, layer)
        await send(ctx, dut.req, req, rng, 0.0, 0, LIMIT)

    async def read_cycles(ctx):
        cycle = 0
        async for _, _, ren in ctx.tick().sample(dut.c_ren):
            if ren:
                reads.append(cycle)
            cycle += 1

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_process(partial(WordMemory(words, g.c_word_bits, 1, c_read_latency(cfg)).serve,
                            raddr=dut.c_raddr, ren=dut.c_ren, rdata=dut.c_rdata))
    sim.add_process(read_cycles)
    sim.add_testbench(requests)
    sim.add_testbench(partial(take, stream=dut.cmd, n_beats=1, rng=rng, p_stall=0.0,
                              decode=lambda p: (int(p.addr),), beats=[], limit=LIMIT))
    sim.add_testbench(partial(take, stream=dut.wr, n_beats=n_beats, rng=rng, p_stall=0.0,
                              decode=lambda p: (int(p.data),), beats=beats, limit=LIMIT))
    sim.run()
    n_words = req["m_len"] * 4
    assert reads == list(range(reads[0], reads[0] + n_words))
    cycles = [b[0] for b in beats]
    assert cycles == list(range(cycles[0], cycles[0] + n_beats))
