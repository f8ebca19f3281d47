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
        p_valid: float, p_ready: float) -> tuple[list, list]:
    """Pack a random tile under stalls; returns (beats out, reference beats)."""
    rng = random.Random(seed)
    wb = cfg.cols * elem_bytes
    words_per_row = -(-row_elems // cfg.cols)
    rows, words = [], []
    for _ in range(n_rows):
        row_words = [rng.getrandbits(8 * wb).to_bytes(wb, "little") for _ in range(words_per_row)]
        words += [int.from_bytes(w, "little") for w in row_words]
        rows.append(b"".join(row_words)[:row_elems * elem_bytes])     # padding dropped
    want = reference(cfg, elem_bytes, rows)
    dut = RowPacker(cfg, elem_bytes)
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


@pytest.mark.parametrize("elem_bytes", [1, 4])
@pytest.mark.parametrize("name", CFGS)
@pytest.mark.parametrize("seed", [1, 2])
def test_random_tiles_under_stalls(name, elem_bytes, seed):
    cfg = CFGS[name]
    rng = random.Random(seed * 31 + elem_bytes)
    for _ in range(3):
        row_elems, n_rows = rng.randint(1, 3 * cfg.cols + 3), rng.randint(1, 4)
        got, want = run(cfg, elem_bytes, row_elems, n_rows, rng.getrandbits(16),
                        rng.choice([1.0, 0.6, 0.3]), rng.choice([1.0, 0.5, 0.2]))
        assert got == want, (row_elems, n_rows)


def test_refuses_bad_element_sizes():
    with pytest.raises(ValueError, match="elem_bytes"):
        RowPacker(AccelConfig(), 2)
    with pytest.raises(ValueError, match="power of two"):
        RowPacker(AccelConfig(cols=6, rows=6), 1)
