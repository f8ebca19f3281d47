# amaranth: UnusedElaboratable=no
"""RowPacker: rows of C words -> DMA beats, exactly the bytes and framing the DMA write command
expects, under random valid/ready stalls, for int8 and int32 words and several bus widths."""

import random

import pytest
from amaranth.sim import Simulator

from scanfuse.hw.packer import RowPacker
from scanfuse.hw.params import AccelConfig


def reference(cfg: AccelConfig, elem_bytes: int, rows: list[bytes]) -> list[tuple]:
    """``(data, count, row_last, last)`` per beat: each row's bytes packed from lane 0."""
    ab = cfg.axi_bytes
    beats = []
    for r, row in enumerate(rows):
        for at in range(0, len(row), ab):
            chunk = row[at:at + ab]
            end = at + ab >= len(row)
            beats.append((int.from_bytes(chunk, "little"), len(chunk), int(end),
                          int(end and r == len(rows) - 1)))
    return beats


def run(cfg: AccelConfig, elem_bytes: int, row_elems: int, n_rows: int, seed: int,
        p_valid: float, p_ready: float, peek: bool = False) -> tuple[list, list]:
    """Pack a random tile under stalls; returns (beats out, reference beats). The source holds
    each word until it is taken (a FIFO head), as ``peek`` needs."""
    rng = random.Random(seed)
    wb = cfg.cols * elem_bytes
    words_per_row = -(-row_elems // cfg.cols)
    rows, words = [], []
    for _ in range(n_rows):
        row_words = [rng.getrandbits(8 * wb).to_bytes(wb, "little") for _ in range(words_per_row)]
        words += [int.from_bytes(w, "little") for w in row_words]
        rows.append(b"".join(row_words)[:row_elems * elem_bytes])     # padding dropped
    want = reference(cfg, elem_bytes, rows)
    dut = RowPacker(cfg, elem_bytes, peek=peek)
    got = []

    async def bench(ctx):
        ctx.set(dut.row_elems, row_elems)
        ctx.set(dut.rows, n_rows)
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        i, cycle = 0, 0
        while len(got) < len(want):
            assert cycle < 40 * (len(words) + len(want)) + 50, "stalled"
            offer = i < len(words) and rng.random() < p_valid
            ctx.set(dut.i.valid, offer)
            ctx.set(dut.i.payload, words[i] if i < len(words) else 0)
            ctx.set(dut.o.ready, rng.random() < p_ready)
            if offer and ctx.get(dut.i.ready):
                i += 1
            if ctx.get(dut.o.valid) and ctx.get(dut.o.ready):
                p = dut.o.payload
                got.append((ctx.get(p.data) & ((1 << 8 * ctx.get(p.count)) - 1), ctx.get(p.count),
                            ctx.get(p.row_last), ctx.get(p.last)))
            await ctx.tick()
            cycle += 1
        assert i == len(words), "every word consumed"
        for _ in range(5):                      # nothing more comes out
            ctx.set(dut.o.ready, 1)
            assert not ctx.get(dut.o.valid)
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return got, want


CFGS = {"64b": AccelConfig(), "32b": AccelConfig(rows=4, cols=4, axi_data_bits=32),
        "128b-c8": AccelConfig(axi_data_bits=128)}


@pytest.mark.parametrize("peek", [False, True])
@pytest.mark.parametrize("elem_bytes", [1, 4])
@pytest.mark.parametrize("name", CFGS)
@pytest.mark.parametrize("seed", [1, 2])
def test_random_tiles_under_stalls(name, elem_bytes, seed, peek):
    cfg = CFGS[name]
    rng = random.Random(seed * 31 + elem_bytes)
    for _ in range(3):
        row_elems, n_rows = rng.randint(1, 3 * cfg.cols + 3), rng.randint(1, 4)
        got, want = run(cfg, elem_bytes, row_elems, n_rows, rng.getrandbits(16),
                        rng.choice([1.0, 0.6, 0.3]), rng.choice([1.0, 0.5, 0.2]), peek)
        assert got == want, (row_elems, n_rows)


def test_peek_streams_one_unit_per_cycle_without_a_word_register():
    """With ``peek`` and no stalls, an int32 row of 8 elements (one 32-byte word, four 8-byte
    beats) comes out as four beats on consecutive cycles, the first one cycle after the word
    is offered (the word register's cycle saved), and the word is taken with its last unit."""
    cfg = AccelConfig()
    dut = RowPacker(cfg, 4, peek=True)
    word = random.Random(9).getrandbits(256)
    seen = []

    async def bench(ctx):
        ctx.set(dut.row_elems, 8)
        ctx.set(dut.rows, 1)
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        ctx.set(dut.i.payload, word)
        ctx.set(dut.i.valid, 1)
        ctx.set(dut.o.ready, 1)
        for cycle in range(8):
            taken = ctx.get(dut.i.ready)
            if ctx.get(dut.o.valid):
                seen.append((cycle, ctx.get(dut.o.payload.data)))
            await ctx.tick()
            if taken:
                ctx.set(dut.i.valid, 0)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert seen == [(1 + k, (word >> 64 * k) & (2**64 - 1)) for k in range(4)]


def test_peek_must_be_a_bool():
    with pytest.raises(TypeError, match="peek"):
        RowPacker(AccelConfig(), 4, peek=1)


def test_refuses_bad_element_sizes():
    with pytest.raises(ValueError, match="elem_bytes"):
        RowPacker(AccelConfig(), 2)
    with pytest.raises(ValueError, match="power of two"):
        RowPacker(AccelConfig(cols=6, rows=6), 1)
