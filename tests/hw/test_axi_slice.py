# amaranth: UnusedElaboratable=no
"""AXI4RegisterSlice: all five channels at once under random valid/ready stalls on both sides
pass every beat once, in order, a cycle late at the earliest; one beat per cycle without
stalls; nothing crosses between clock edges."""

import random

import pytest
from amaranth.lib.wiring import Out
from amaranth.sim import Simulator

from scanfuse.hw.axi import AXI4Signature
from scanfuse.hw.axi_slice import CHANNELS, AXI4RegisterSlice, channel_fields

ADDR, DATA, ID = 32, 64, 2


def ports(dut, prefix):
    """(sending side, receiving side) of a channel: the master sends it if the master view
    of the bus has its valid as an output."""
    forward = AXI4Signature(ADDR, DATA, ID).members[f"{prefix}valid"].flow == Out
    return (dut.s_axi, dut.m_axi) if forward else (dut.m_axi, dut.s_axi)


def run(n_beats: int, p_valid: float, p_ready: float, seed: int):
    """Send ``n_beats`` random beats on every channel; returns, per channel, the beats sent,
    the beats received, and the (send cycle, receive cycle) of each."""
    dut = AXI4RegisterSlice(ADDR, DATA, ID)
    sig = AXI4Signature(ADDR, DATA, ID)
    rng = random.Random(seed)
    fields = {p: channel_fields(sig, p) for p in CHANNELS}
    sent = {p: [{f: rng.getrandbits(w) for f, w in fields[p].items()} for _ in range(n_beats)]
            for p in CHANNELS}
    got = {p: [] for p in CHANNELS}
    t_in = {p: [] for p in CHANNELS}
    t_out = {p: [] for p in CHANNELS}

    async def bench(ctx):
        nxt = {p: 0 for p in CHANNELS}
        offered = {p: False for p in CHANNELS}
        cycle = 0
        while any(len(got[p]) < n_beats for p in CHANNELS):
            assert cycle < 20 * n_beats + 50, "stalled"
            for p in CHANNELS:
                src, dst = ports(dut, p)
                # A beat once offered stays offered until taken (AXI's rule for the sender).
                if not offered[p]:
                    offered[p] = nxt[p] < n_beats and rng.random() < p_valid
                ctx.set(getattr(src, f"{p}valid"), offered[p])
                if nxt[p] < n_beats:
                    for f, v in sent[p][nxt[p]].items():
                        ctx.set(getattr(src, f), v)
                ctx.set(getattr(dst, f"{p}ready"), rng.random() < p_ready)
            for p in CHANNELS:
                src, dst = ports(dut, p)
                if offered[p] and ctx.get(getattr(src, f"{p}ready")):
                    t_in[p].append(cycle)
                    nxt[p] += 1
                    offered[p] = False
                if ctx.get(getattr(dst, f"{p}valid")) and ctx.get(getattr(dst, f"{p}ready")):
                    got[p].append({f: ctx.get(getattr(dst, f)) for f in fields[p]})
                    t_out[p].append(cycle)
            await ctx.tick()
            cycle += 1

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return sent, got, t_in, t_out


@pytest.mark.parametrize("p_valid,p_ready", [(1.0, 0.5), (0.5, 1.0), (0.7, 0.6)])
@pytest.mark.parametrize("seed", [1, 2])
def test_random_stalls_every_channel(p_valid, p_ready, seed):
    sent, got, t_in, t_out = run(60, p_valid, p_ready, seed)
    for p in CHANNELS:
        assert got[p] == sent[p], p
        assert all(o >= i + 1 for i, o in zip(t_in[p], t_out[p])), p


def test_one_beat_per_cycle_one_cycle_late():
    sent, got, t_in, t_out = run(40, 1.0, 1.0, 3)
    for p in CHANNELS:
        assert got[p] == sent[p]
        assert t_in[p] == list(range(40))
        assert t_out[p] == [t + 1 for t in t_in[p]]


def test_no_combinational_path_either_way():
    """Between clock edges, flipping every input of both ports changes no output."""
    dut = AXI4RegisterSlice(ADDR, DATA, ID)
    sig = AXI4Signature(ADDR, DATA, ID)
    outs_s = [n for n, mem in sig.flip().members.items() if mem.flow.name == "Out"]
    outs_m = [n for n, mem in sig.members.items() if mem.flow.name == "Out"]

    async def bench(ctx):
        rng = random.Random(5)
        for _ in range(6):
            for port, names in ((dut.s_axi, outs_m), (dut.m_axi, outs_s)):
                for n in names:         # the port's inputs: what the other side drives
                    ctx.set(getattr(port, n), rng.getrandbits(len(getattr(port, n))))
            await ctx.tick()
            snap = [ctx.get(getattr(dut.s_axi, n)) for n in outs_s] + \
                   [ctx.get(getattr(dut.m_axi, n)) for n in outs_m]
            for port, names in ((dut.s_axi, outs_m), (dut.m_axi, outs_s)):
                for n in names:
                    ctx.set(getattr(port, n), rng.getrandbits(len(getattr(port, n))))
            await ctx.delay(1e-8)
            assert [ctx.get(getattr(dut.s_axi, n)) for n in outs_s] + \
                   [ctx.get(getattr(dut.m_axi, n)) for n in outs_m] == snap

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()


def test_fields_derived_from_the_signature():
    sig = AXI4Signature(40, 128, 4)
    names = set()
    for p in CHANNELS:
        names |= set(channel_fields(sig, p)) | {f"{p}valid", f"{p}ready"}
    assert names == set(sig.members)
    assert channel_fields(sig, "r") == {"rid": 4, "rdata": 128, "rresp": 2, "rlast": 1}


def test_bad_widths_raise():
    with pytest.raises(ValueError, match="data_width"):
        AXI4RegisterSlice(32, 48)
