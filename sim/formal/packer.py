"""Stream components: the row packer against a byte scoreboard.

:class:`~scanfuse.hw.packer.RowPacker` turns rows of C words into DMA beats. The harness
starts one tile of ``rows`` rows of ``row_elems`` elements (chosen by the solver, small),
feeds exactly the words the tile needs from a free producer obeying the valid/ready rule, and
drains the beats into a free consumer. It numbers the tile's payload bytes (the first
``row_elems * elem_bytes`` bytes of each row; the rest of a row's last word is padding) in
the order they enter, picks one byte number ``t`` at random (``AnyConst``), remembers the
byte that entered as number ``t`` and checks the byte that leaves as number ``t`` is the same.
With ``t`` free, that is every byte: none lost, none duplicated, order kept. Also: no beat
carries bytes that have not entered, ``row_last`` closes each row exactly at its length,
``last`` closes the tile with every byte out, and the output obeys the valid/ready rule.
"""

from amaranth.hdl import Assert, Assume, Cover, Elaboratable, Mux, Signal

from ...hw.packer import RowPacker
from ...hw.params import AccelConfig
from .props import Past, any_const, any_seq, harness_module, stream_rules

__all__ = ["PackerHarness"]


class PackerHarness(Elaboratable):
    """Byte-scoreboard proof of a :class:`RowPacker` for ``cols`` elements of ``elem_bytes``
    bytes per word and ``axi_data_bits``-bit beats; tiles of at most ``max_rows`` rows of at
    most ``max_elems`` elements."""

    def __init__(self, cols: int = 2, elem_bytes: int = 1, axi_data_bits: int = 32,
                 max_rows: int = 2, max_elems: int = 5, dut_class=RowPacker,
                 peek: bool = False):
        self.cfg = AccelConfig(rows=2, cols=cols, axi_data_bits=axi_data_bits)
        # A peeking packer (``RowPacker(peek=True)``) sends a word's bytes while the word is
        # offered, before it is taken: the bytes of the offered word count as in.
        self.peek = peek
        self.eb = elem_bytes
        self.max_rows, self.max_elems = max_rows, max_elems
        self.dut_class = dut_class

    def elaborate(self, platform):
        m = harness_module()
        cfg, eb = self.cfg, self.eb
        dut = m.submodules.dut = self.dut_class(cfg, eb)
        past = Past(m)
        wb, cols = cfg.cols * eb, cfg.cols

        rows = any_const(4)
        row_elems = any_const(8)
        m.d.comb += [Assume((rows >= 1) & (rows <= self.max_rows)),
                     Assume((row_elems >= 1) & (row_elems <= self.max_elems))]
        first = ~past.valid
        m.d.comb += [dut.start.eq(first), dut.rows.eq(rows), dut.row_elems.eq(row_elems)]
        row_bytes = row_elems * eb
        total = Signal(8)
        m.d.comb += total.eq(rows * row_bytes)

        # --- producer: exactly the tile's words, valid/ready rule assumed -------------------
        in_col = Signal(8)           # elements of the current row already sent
        in_rows = Signal(4)          # rows completely sent
        in_bytes = Signal(8)         # payload bytes sent
        m.d.comb += [dut.i.valid.eq(any_seq(1) & ~first & (in_rows < rows)),
                     dut.i.payload.eq(any_seq(8 * wb)),
                     dut.o.ready.eq(any_seq(1))]
        stream_rules(m, past, dut.i, dut_drives=False, name="i")
        stream_rules(m, past, dut.o, dut_drives=True, name="o")
        left = row_elems - in_col
        pay = Signal(8)              # payload bytes in the word on i
        with m.If(left >= cols):
            m.d.comb += pay.eq(wb)
        with m.Else():
            m.d.comb += pay.eq(left * eb)

        t = any_const(8)
        m.d.comb += Assume(t < total)
        seen = Signal(8)
        have = Signal()
        take_in = dut.i.valid & dut.i.ready
        with m.If(take_in):
            with m.If((in_bytes <= t) & (t < in_bytes + pay)):
                m.d.sync += [seen.eq(dut.i.payload.word_select((t - in_bytes).as_unsigned()[:4], 8)), have.eq(1)]
            m.d.sync += in_bytes.eq(in_bytes + pay)
            with m.If(in_col + cols >= row_elems):
                m.d.sync += [in_col.eq(0), in_rows.eq(in_rows + 1)]
            with m.Else():
                m.d.sync += in_col.eq(in_col + cols)

        # --- consumer: the scoreboard ---------------------------------------------------------
        avail = Signal(8)            # bytes that may have left: taken, or offered (peek)
        byte_t = Signal(8)           # byte number t, once it is in
        have_t = Signal()
        if self.peek:
            offered_t = dut.i.valid & (in_bytes <= t) & (t < in_bytes + pay)
            m.d.comb += [avail.eq(in_bytes + Mux(dut.i.valid, pay, 0)),
                         have_t.eq(have | offered_t),
                         byte_t.eq(Mux(have, seen, dut.i.payload.word_select(
                             (t - in_bytes).as_unsigned()[:4], 8)))]
        else:
            m.d.comb += [avail.eq(in_bytes), have_t.eq(have), byte_t.eq(seen)]
        out_bytes = Signal(8)
        out_col = Signal(8)          # payload bytes of the current row already out
        done = Signal()
        beat = dut.o.payload
        take_out = dut.o.valid & dut.o.ready
        with m.If(take_out & ~first):
            m.d.comb += [
                Assert(beat.count >= 1, "every beat carries a byte"),
                Assert(out_bytes + beat.count <= avail, "no byte out before it came in"),
                Assert(~done, "nothing after the last beat"),
            ]
            with m.If((out_bytes <= t) & (t < out_bytes + beat.count)):
                m.d.comb += [Assert(have_t, "byte t came in before it goes out"),
                             Assert(beat.data.word_select((t - out_bytes).as_unsigned()[:4], 8)
                                    == byte_t, "byte t goes out as it came in")]
            with m.If(beat.row_last):
                m.d.comb += Assert(out_col + beat.count == row_bytes, "row_last ends the row")
                m.d.sync += out_col.eq(0)
            with m.Else():
                m.d.comb += Assert(out_col + beat.count < row_bytes, "a row ends with row_last")
                m.d.sync += out_col.eq(out_col + beat.count)
            with m.If(beat.last):
                m.d.comb += [Assert(beat.row_last, "last is a row's last beat"),
                             Assert(out_bytes + beat.count == total, "last: every byte out")]
                m.d.sync += done.eq(1)
            m.d.sync += out_bytes.eq(out_bytes + beat.count)
        m.d.comb += [
            Cover(take_out & beat.last & (rows == 2) & (row_elems == self.max_elems),
                  "a two-row tile of full size packed"),
            Cover(take_out & beat.row_last & ~beat.last, "a row ends inside a tile"),
        ]
        return m
