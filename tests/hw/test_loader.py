# amaranth: UnusedElaboratable=no
"""TileLoader: A, B and C tiles from a DMA model with random command and beat stalls, written
into memory models; every word, lane and the A block pulses against the buffer's layout."""

import random
from functools import partial

import pytest
from amaranth.sim import Simulator

from scanfuse.hw.buffer import BufferGeometry
from scanfuse.hw.loader import Target, TileLoader
from scanfuse.hw.params import AccelConfig

from .memmodel import WordMemory
from .streams import send, take

CONFIGS = {"r8c8-64b": AccelConfig(a_entries=1024, b_entries=1024, c_entries=512),
           "r4c16-64b": AccelConfig(rows=4, cols=16, a_entries=1024, b_entries=2048,
                                    c_entries=1024),
           # the ECP5 build's registered DSPs: the address product takes 4 cycles
           "r4c4-64b-dsp": AccelConfig(rows=4, cols=4, a_entries=512, b_entries=512,
                                       c_entries=512, pe_multiplier="mult18x18d")}
LIMIT = 20_000


def random_request(rng, cfg, g):
    target = rng.choice(list(Target))
    rows, row_bytes = rng.randint(1, 12), rng.randint(1, 30)
    if target is Target.C:
        row_bytes = 4 * rng.randint(1, 8)
    beats = -(-row_bytes // cfg.axi_bytes)
    lanes = {Target.A: 1, Target.B: g.b_lanes, Target.C: g.c_lanes}[target]
    step = -(-beats // lanes) + rng.randint(0, 2)
    return {"target": target, "org": rng.getrandbits(cfg.addr_bits),
            "col": rng.getrandbits(16), "idx": rng.randint(0, 300), "stride": rng.randint(0, 5000), "row_bytes": row_bytes,
            "rows": rows, "base": rng.randint(0, 20), "step": step}


def beats_of(req, dram, cfg):
    """The beats a DMA returns for ``req``: per row, axi_bytes at a time from lane 0."""
    ab, out = cfg.axi_bytes, []
    addr = (req["org"] + req["col"] + req["idx"] * req["stride"]) % (1 << cfg.addr_bits)
    for r in range(req["rows"]):
        row = bytes(dram[(addr + r * req["stride"] + i) % len(dram)] for i in range(req["row_bytes"]))
        chunks = [row[i:i + ab] for i in range(0, len(row), ab)]
        for j, chunk in enumerate(chunks):
            out.append({"data": int.from_bytes(chunk, "little"), "count": len(chunk),
                        "row_last": int(j == len(chunks) - 1),
                        "last": int(r == req["rows"] - 1 and j == len(chunks) - 1)})
    return out


def expected_writes(req, beats, cfg, g):
    """(memory, word, lane) -> beat data, in write order."""
    R, out, r, j = cfg.rows, [], 0, 0
    for beat in beats:
        if req["target"] is Target.A:
            word = req["base"] + (r // R) * req["step"] + j
            out.append(("a", word % g.a_depth, r % R, beat["data"]))
        else:
            lanes = g.b_lanes if req["target"] is Target.B else g.c_lanes
            name = "b" if req["target"] is Target.B else "c"
            depth = g.b_depth if req["target"] is Target.B else g.c_depth
            word = req["base"] + r * req["step"] + j // lanes
            out.append((name, word % depth, j % lanes, beat["data"]))
        j += 1
        if beat["row_last"]:
            r, j = r + 1, 0
    return out


@pytest.mark.parametrize("name", CONFIGS)
def test_loader_writes_every_beat_where_the_layout_says(name):
    cfg = CONFIGS[name]
    g = BufferGeometry(cfg)
    rng = random.Random(f"loader/{name}")
    dram = bytes(rng.getrandbits(8) for _ in range(4096))
    reqs = [random_request(rng, cfg, g) for _ in range(30)]
    dut = TileLoader(cfg)
    mems = {"a": WordMemory({}, 8 * cfg.axi_bytes, g.a_lanes),
            "b": WordMemory({}, 8 * cfg.axi_bytes, g.b_lanes),
            "c": WordMemory({}, 8 * cfg.axi_bytes, g.c_lanes)}
    cmds, pulses = [], {"block": 0, "done": 0, "c_loading": 0}

    async def requests(ctx):
        cycle = 0
        for req in reqs:
            _, cycle = await send(ctx, dut.req, req, rng, 0.3, cycle, LIMIT)

    async def dma(ctx):
        for req in reqs:
            got = []
            await take(ctx, dut.cmd, 1, rng, 0.4,
                       lambda p: (int(p.write), int(p.addr), int(p.row_bytes), int(p.rows),
                                  int(p.stride)), got, LIMIT)
            cmds.append(got[0][1:])
            cycle = 0
            for beat in beats_of(req, dram, cfg):
                _, cycle = await send(ctx, dut.rd, beat, rng, 0.3, cycle, LIMIT)

    async def pulses_and_idle(ctx):
        was_done = False
        async for _, _, block, done, idle, c_loading, a_wen, b_wen, c_wen in ctx.tick().sample(
                dut.block, dut.done, dut.idle, dut.c_loading, dut.a_wen, dut.b_wen, dut.c_wen):
            pulses["block"] += block
            pulses["done"] += done
            pulses["c_loading"] += c_loading
            if done:
                assert not idle     # idle again only after the last beat's cycle
            # every C write inside the flag; no A or B write, and no idle cycle after a
            # finished load, under it
            assert c_loading or not c_wen
            assert not (c_loading and (a_wen or b_wen or (idle and was_done)))
            was_done = done

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    for n, mem in mems.items():
        sim.add_process(partial(mem.serve, waddr=getattr(dut, f"{n}_waddr"),
                                wen=getattr(dut, f"{n}_wen"), wdata=getattr(dut, f"{n}_wdata")))
    sim.add_process(pulses_and_idle)
    sim.add_testbench(requests)
    sim.add_testbench(dma)
    sim.run()

    want = []
    for req, cmd in zip(reqs, cmds):
        addr = (req["org"] + req["col"] + req["idx"] * req["stride"]) % (1 << cfg.addr_bits)
        assert cmd == (0, addr, req["row_bytes"], req["rows"], req["stride"])
        want += expected_writes(req, beats_of(req, dram, cfg), cfg, g)
    assert len(cmds) == len(reqs)
    got = [(n, addr, wen.bit_length() - 1, data >> (8 * cfg.axi_bytes * (wen.bit_length() - 1))
            & ((1 << 8 * cfg.axi_bytes) - 1))
           for n, mem in mems.items() for _, addr, wen, data in mem.writes]
    assert all(bin(w).count("1") == 1 for mem in mems.values() for _, _, w, _ in mem.writes)
    # Each memory's writes in order; one write per beat.
    for n in mems:
        assert [w for w in got if w[0] == n] == [w for w in want if w[0] == n]
    assert pulses["done"] == len(reqs)
    assert pulses["c_loading"] >= sum(1 for w in got if w[0] == "c") > 0
    assert pulses["block"] == sum(req["rows"] // cfg.rows for req in reqs
                                  if req["target"] is Target.A)


def test_loader_rejects_bad_cfg():
    with pytest.raises(TypeError, match="AccelConfig"):
        TileLoader(8)
