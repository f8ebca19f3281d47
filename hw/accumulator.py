"""Accumulator: adds the PE array's result rows into the C tile (read-modify-write).

An :class:`AccumJob` names the C region of one step and its size. The array's result rows
arrive in the feed's order (row blocks, n blocks inner, ``rows`` rows per block); row ``r`` of
block ``(mb, nb)`` belongs to C word ``c_base + (mb * rows + r) * nc + nb``. Each row is
added to that word, or overwrites it when the job is ``fresh`` (the tile's first k range):

* cycle 0: the row arrives; the C word is read (not when fresh);
* cycles 1 .. L - 1: the read moves through the memory's stages (``L``, the C memory's read
  latency :func:`~scanfuse.hw.buffer.c_read_latency`, 2 or 3: nothing starts at the memory's
  clock-to-output), the row beside it;
* cycle L: the word is on ``c_rdata``; the sum is written back.

Rows of one job touch distinct words, so no read sees a write still in flight. Rows below
the tile's edge (``m_len`` not a multiple of ``rows``) are dropped. ``reading`` says which
cycles take the C read port, so a store can use the others.
"""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import exact_log2

from .buffer import BufferGeometry, c_read_latency
from .dma import TILE_DIM_BITS
from .params import AccelConfig
from .pe_array import PsumRow

__all__ = ["AccumJob", "Accumulator"]


class AccumJob(data.StructLayout):
    """Payload of :attr:`Accumulator.job`.

    Members
    -------
    c_base : word address
        C word of the tile's element (0, 0).
    m_len, n_len : 16 each, >= 1
        The C tile's size.
    nc : 16
        C words per tile row (``ceil(tn / cols)`` of the descriptor's layout).
    fresh : 1
        Overwrite instead of accumulating.
    """

    def __init__(self, cfg: AccelConfig):
        g = BufferGeometry(cfg)
        super().__init__({"c_base": g.c_addr_bits, "m_len": TILE_DIM_BITS,
                          "n_len": TILE_DIM_BITS, "nc": TILE_DIM_BITS, "fresh": 1})


class Accumulator(wiring.Component):
    """Result rows into the C memory (see the module docstring).

    Parameters
    ----------
    cfg : AccelConfig
        Must pass :meth:`AccelConfig.check_engine`.

    Members
    -------
    job : ``In(stream.Signature(AccumJob(cfg)))``
        Taken when ``idle``.
    psum : ``In(stream.Signature(PsumRow(cfg)))``
        From :attr:`PEArray.o`; always ready.
    idle : ``Out(1)``
        Every row of the current job is written back (high before the first job).
    reading : ``Out(1)``
        This cycle's C read is the accumulator's (``c_raddr``, ``c_ren``).
    c_raddr, c_ren : ``Out``; c_rdata : ``In``
        The C memory's read port (reads of :func:`~scanfuse.hw.buffer.c_read_latency` cycles,
        the stages after the first loading at every edge: :class:`~scanfuse.hw.buffer.
        TileBuffer`).
    c_waddr, c_wdata, c_wen : ``Out``
        Its write port (whole words).
    """

    def __init__(self, cfg: AccelConfig):
        if not isinstance(cfg, AccelConfig):
            raise TypeError(f"cfg must be an AccelConfig, not {cfg!r}")
        cfg.check_engine()
        self._cfg = cfg
        g = self.geometry = BufferGeometry(cfg)
        super().__init__({
            "job": In(stream.Signature(AccumJob(cfg))),
            "psum": In(stream.Signature(PsumRow(cfg))),
            "idle": Out(1),
            "reading": Out(1),
            "c_raddr": Out(g.c_addr_bits), "c_ren": Out(1), "c_rdata": In(g.c_word_bits),
            "c_waddr": Out(g.c_addr_bits), "c_wdata": Out(g.c_word_bits),
            "c_wen": Out(g.c_lanes),
        })

    def elaborate(self, platform):
        m = Module()
        cfg, g = self._cfg, self.geometry
        R, C = cfg.rows, cfg.cols
        lR, lC = exact_log2(R), exact_log2(C)
        busy = Signal()
        fresh = Signal()
        nc = Signal(TILE_DIM_BITS)
        mblocks = Signal(TILE_DIM_BITS)
        nblocks = Signal(TILE_DIM_BITS)
        mb = Signal(TILE_DIM_BITS)
        nb = Signal(TILE_DIM_BITS)
        row_base = Signal(g.c_addr_bits)        # word of row 0 of the block row mb
        ptr = Signal(g.c_addr_bits)             # word of the next result row
        mrem = Signal(TILE_DIM_BITS)
        last_in = Signal()                      # the job's last row has arrived
        # The row beside its C read, one record per cycle of the read; the last one's old C
        # word is on c_rdata.
        row_layout = data.StructLayout({"valid": 1, "we": 1, "addr": g.c_addr_bits,
                                        "data": g.c_word_bits})
        rows = [Signal(row_layout, name=f"r{i + 1}") for i in range(c_read_latency(cfg))]
        r1, last = rows[0], rows[-1]

        finished = last_in
        for r in rows:
            finished &= ~r.valid
        m.d.comb += [self.idle.eq(~busy | finished), self.job.ready.eq(self.idle)]
        with m.If(busy & finished):
            m.d.sync += busy.eq(0)

        row = self.psum.payload.row
        m.d.comb += self.psum.ready.eq(1)
        # The row's registers are loaded in every cycle and only r1.valid says whether they
        # hold a row: no enable from the array's output valid fans out to the 256-bit word
        # (an FPGA timing path, docs/fpga.md).
        m.d.sync += [r1.valid.eq(self.psum.valid), r1.we.eq(row < mrem), r1.addr.eq(ptr),
                     r1.data.eq(self.psum.payload.data.as_value())]
        with m.If(self.psum.valid):
            with m.If(self.psum.payload.last):
                with m.If(nb != nblocks - 1):
                    m.d.sync += [nb.eq(nb + 1), ptr.eq(row_base + nb + 1)]
                with m.Else():
                    m.d.sync += [nb.eq(0), mb.eq(mb + 1), mrem.eq(mrem - R),
                                 row_base.eq(row_base + (nc << lR)),
                                 ptr.eq(row_base + (nc << lR))]
                    with m.If(mb == mblocks - 1):
                        m.d.sync += last_in.eq(1)
            with m.Else():
                m.d.sync += ptr.eq(ptr + nc)
        with m.If(self.idle):
            # Loaded in every idle cycle (no row is in flight then, none arrives before the
            # job), so their enable is `idle` alone, not the sequencer's state decode behind
            # `job.valid` (an FPGA timing path, docs/fpga.md); only `busy` waits on `valid`.
            p = self.job.payload
            m.d.sync += [busy.eq(self.job.valid), fresh.eq(p.fresh), nc.eq(p.nc),
                         mblocks.eq((p.m_len + (R - 1)) >> lR),
                         nblocks.eq((p.n_len + (C - 1)) >> lC),
                         mb.eq(0), nb.eq(0), row_base.eq(p.c_base), ptr.eq(p.c_base),
                         mrem.eq(p.m_len), last_in.eq(0)]

        m.d.comb += [self.reading.eq(self.psum.valid & ~fresh),
                     self.c_raddr.eq(ptr), self.c_ren.eq(self.reading)]
        m.d.sync += [rows[i].eq(rows[i - 1]) for i in range(1, len(rows))]
        summed = Signal(g.c_word_bits)
        for c in range(C):
            a32 = self.c_rdata.word_select(c, 32).as_signed()   # the old C word
            b32 = last.data.word_select(c, 32).as_signed()
            m.d.comb += summed.word_select(c, 32).eq(Mux(fresh, b32, a32 + b32))
        m.d.comb += [self.c_waddr.eq(last.addr), self.c_wdata.eq(summed)]
        with m.If(last.valid & last.we):
            m.d.comb += self.c_wen.eq((1 << g.c_lanes) - 1)
        return m
