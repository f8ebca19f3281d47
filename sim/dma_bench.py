"""cocotb bench: the Verilog of TileDMA against cocotbext-axi's AxiRam.

Run through ``tests/hw/test_dma_cocotb.py`` (cocotb runner, Icarus or Verilator). The top level is
``amaranth.back.verilog.convert(TileDMA(cfg), name="tile_dma")`` with Amaranth's port names:
``clk``, ``rst``, ``cmd__valid``/``cmd__ready``/``cmd__payload``, ``rd__*``, ``wr__*`` and
``bus__awaddr`` ... ``bus__rready``. cocotbext-axi's bus objects take a prefix and pass extra keyword
arguments on to ``cocotb_bus.Bus``, so ``AxiBus.from_prefix(dut, "bus", bus_separator="__")``
finds the AXI signals without any renaming wrapper; the three buffer-side streams are driven by
stream classes made with cocotbext-axi's ``define_stream`` over ``payload``/``valid``/``ready``,
found the same way.

Tests: ``read_tiles``, ``write_tiles`` (corner tiles), ``edge_matrix`` (every row length 1..2
beats at every offset around a 4 KiB boundary), each with and without stalls.

Environment: ``SEED`` seeds the random stalls and data.
"""

import logging
import os
import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import RisingEdge
from cocotbext.axi import AxiBus, AxiRam
from cocotbext.axi.stream import define_stream

from scanfuse.hw.dma import DmaBeat, DmaCommand
from scanfuse.hw.params import AccelConfig
from scanfuse.sim.cocotb_util import random_pause, reset_dut

DmaStreamBus, DmaStreamTransaction, DmaStreamSource, DmaStreamSink, _ = define_stream(
    "DmaStream", signals=["payload", "valid", "ready"])

RAM_SIZE = 1 << 16
GUARD = 0xAA


class TB:
    """One TileDMA, an AxiRam behind its bus, and the three buffer-side streams."""

    def __init__(self, dut):
        self.dut = dut
        self.cfg = AccelConfig(axi_data_bits=len(dut.bus__wdata), addr_bits=len(dut.bus__awaddr))
        self.nb = self.cfg.axi_bytes
        self.seed = int(os.environ.get("SEED", "1"))
        self.rng = random.Random(self.seed)
        self.beat = DmaBeat(self.cfg)
        self.cmd_layout = DmaCommand(self.cfg)
        cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
        self.ram = AxiRam(AxiBus.from_prefix(dut, "bus", bus_separator="__"), dut.clk, dut.rst,
                          size=RAM_SIZE)
        # AxiRam logs every burst at INFO; keep the log readable
        logging.getLogger(f"cocotb.{dut._name}.bus").setLevel(logging.WARNING)
        self.cmd = DmaStreamSource(DmaStreamBus.from_prefix(dut, "cmd", bus_separator="__"),
                                   dut.clk, dut.rst)
        self.wr = DmaStreamSource(DmaStreamBus.from_prefix(dut, "wr", bus_separator="__"),
                                  dut.clk, dut.rst)
        self.rd = DmaStreamSink(DmaStreamBus.from_prefix(dut, "rd", bus_separator="__"),
                                dut.clk, dut.rst)

    def backpressure(self, p_stall: float):
        """Random stalls on every AXI channel of the RAM and on all three streams."""
        if p_stall == 0:
            return
        ram = self.ram
        channels = [ram.write_if.aw_channel, ram.write_if.w_channel, ram.write_if.b_channel,
                    ram.read_if.ar_channel, ram.read_if.r_channel, self.cmd, self.wr, self.rd]
        for ch in channels:
            ch.set_pause_generator(random_pause(random.Random(self.rng.random()), p_stall))

    async def reset(self):
        self.dut.clear.value = 0
        await reset_dut(self.dut)

    def command(self, write, addr, row_bytes, rows, stride):
        bits = self.cmd_layout.const({"write": write, "addr": addr, "row_bytes": row_bytes,
                                      "rows": rows, "stride": stride}).as_bits()
        return DmaStreamTransaction(payload=bits)

    def wr_beats(self, rows):
        nb = self.nb
        for r, row in enumerate(rows):
            for i in range(0, len(row), nb):
                chunk = row[i:i + nb]
                row_last = i + nb >= len(row)
                bits = self.beat.const({
                    "data": int.from_bytes(chunk, "little"), "count": len(chunk),
                    "row_last": row_last, "last": row_last and r == len(rows) - 1,
                }).as_bits()
                yield DmaStreamTransaction(payload=bits)

    def decode(self, payload):
        bits = int(payload)
        fields = self.beat.from_bits(bits)
        count = int(fields.count)
        data = int(fields.data).to_bytes(self.nb, "little")[:count]
        return data, bool(fields.row_last), bool(fields.last)

    def beats_of(self, addr, row_bytes, rows, stride):
        """Bus beats of a tile: every beat-aligned word that holds one of its bytes."""
        nb = self.nb
        return sum((a + row_bytes - 1) // nb - a // nb + 1
                   for a in (addr + r * stride for r in range(rows)))

    async def wait_idle(self):
        while True:
            await RisingEdge(self.dut.clk)
            if not int(self.dut.busy.value):
                return


# A few tiles covering the corners: unaligned starts, a 1-byte row, rows across a 4 KiB
# boundary, a row longer than one burst, a 1-row tile. (addr, row_bytes, rows, stride)
TILES = [
    (0x0103, 37, 5, 100),
    (0x0FF5, 40, 3, 4096),
    (0x2001, 1, 7, 3),
    (0x3FFA, 300, 2, 517),
    (0x5000, 64, 4, 64),
]


def edge_tiles(nb: int) -> list:
    """One-row tiles of every length 1..2*nb bytes, starting at every offset from one byte
    before the row would end at a 4 KiB boundary to one byte past the boundary (so each
    length ends before, on and across it), one 4 KiB page per length."""
    tiles = []
    for n in range(1, 2 * nb + 1):
        boundary = 4096 * (1 + (n - 1) % 15)
        for start in range(boundary - n - 1, boundary + 2):
            tiles.append((start, n, 1, 0))
    return tiles


async def check_reads(tb, tiles):
    """Read ``tiles`` (DRAM holds random bytes); every row must come back packed from lane 0,
    the counters must equal the bytes and bus beats."""
    dut = tb.dut
    contents = bytes(tb.rng.getrandbits(8) for _ in range(RAM_SIZE))
    tb.ram.write(0, contents)

    async def send():
        for addr, n, rows, stride in tiles:
            await tb.cmd.send(tb.command(0, addr, n, rows, stride))

    cocotb.start_soon(send())
    for addr, n, rows, stride in tiles:
        got_rows, row = [], b""
        while True:
            data, row_last, last = tb.decode((await tb.rd.recv()).payload)
            row += data
            if row_last:
                got_rows.append(row)
                row = b""
            if last:
                break
        want = [contents[a:a + n] for a in (addr + r * stride for r in range(rows))]
        assert got_rows == want, f"tile at {addr:#x}, {n} bytes x {rows}: rows differ"
    await tb.wait_idle()
    assert int(dut.bytes_read.value) == sum(n * rows for _, n, rows, _ in tiles)
    assert int(dut.beats_read.value) == sum(tb.beats_of(*t) for t in tiles)
    assert int(dut.error.value) == 0
    assert tb.rd.empty()


async def check_writes(tb, tiles):
    """Write ``tiles`` in order over 0xaa guard bytes; the RAM must hold exactly the tiles
    (later ones over earlier ones) and the guards, the counters the bytes and bus beats."""
    dut = tb.dut
    tb.ram.write(0, bytes([GUARD]) * RAM_SIZE)
    expected = bytearray([GUARD]) * RAM_SIZE
    for addr, n, rows, stride in tiles:
        tile_rows = [bytes(tb.rng.getrandbits(8) for _ in range(n)) for _ in range(rows)]
        for r, row in enumerate(tile_rows):
            a = addr + r * stride
            expected[a:a + n] = row
        await tb.cmd.send(tb.command(1, addr, n, rows, stride))
        for beat in tb.wr_beats(tile_rows):
            await tb.wr.send(beat)
    await tb.wr.wait()
    await tb.wait_idle()
    got = tb.ram.read(0, RAM_SIZE)
    if got != expected:
        first = next(i for i in range(RAM_SIZE) if got[i] != expected[i])
        raise AssertionError(f"RAM differs first at {first:#x}: got {got[first]:#04x}, "
                             f"expected {expected[first]:#04x}")
    assert int(dut.bytes_written.value) == sum(n * rows for _, n, rows, _ in tiles)
    assert int(dut.beats_written.value) == sum(tb.beats_of(*t) for t in tiles)
    assert int(dut.error.value) == 0


@cocotb.test()
@cocotb.parametrize(p_stall=[0.0, 0.4])
async def read_tiles(dut, p_stall):
    """DRAM -> buffer: every tile comes back row by row, packed from lane 0."""
    tb = TB(dut)
    tb.backpressure(p_stall)
    await tb.reset()
    await check_reads(tb, TILES)


@cocotb.test()
@cocotb.parametrize(p_stall=[0.0, 0.4])
async def write_tiles(dut, p_stall):
    """Buffer -> DRAM: the tiles land at their addresses, 0xaa guard bytes stay untouched."""
    tb = TB(dut)
    tb.backpressure(p_stall)
    await tb.reset()
    await check_writes(tb, TILES)


@cocotb.test()
@cocotb.parametrize(p_stall=[0.0, 0.4], write=[False, True])
async def edge_matrix(dut, p_stall, write):
    """Every row length 1..2 beats at every offset around a 4 KiB boundary, read and write."""
    tb = TB(dut)
    tb.backpressure(p_stall)
    await tb.reset()
    tiles = edge_tiles(tb.nb)
    await (check_writes(tb, tiles) if write else check_reads(tb, tiles))
