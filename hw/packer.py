"""Row packer: C words (one row segment of ``cols`` elements each) -> DMA write beats.

A C tile is stored row by row. Each row of ``row_elems`` elements arrives as
``ceil(row_elems / cols)`` *words* of ``word_bytes`` bytes (``cols`` elements of
``elem_bytes`` each; the last word of a row may be partly padding). The DMA wants the same
bytes as beats of ``axi_bytes`` packed from lane 0, only the last beat of a row short
(:class:`~scanfuse.hw.dma.DmaBeat`). Because rows start at byte 0 of both a word and a beat and
both sizes are powers of two, the packer moves one *unit* of ``min(word_bytes, axi_bytes)``
bytes per cycle: a word splits into beats, or several words gather into one beat. So it
streams at the faster of one word or one beat per cycle.
"""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import bits_for

from .dma import TILE_DIM_BITS, DmaBeat
from .params import AccelConfig

__all__ = ["RowPacker"]


class RowPacker(wiring.Component):
    """Packs rows of fixed-size element words into DMA beats.

    Parameters
    ----------
    cfg : AccelConfig
        ``axi_bytes`` is the beat size; ``cols`` elements per word.
    elem_bytes : int
        1 (int8 outputs) or 4 (int32 accumulators); ``cols * elem_bytes`` and ``axi_bytes``
        are powers of two.
    peek : bool
        ``False`` (default): a word is taken into a register of the packer's (``i.ready`` is
        high while that register is free or being emptied). ``True``: no word register; the
        units are read from ``i.payload`` while ``i.valid`` holds, and the word is taken
        (``i.ready``) with its last unit, one cycle earlier. For a source whose head is held
        until taken (a FIFO's read port): no wide register whose enable is the packer's
        decision (an FPGA timing path, docs/fpga.md, nineteenth round).

    Members
    -------
    row_elems : ``In(16)``, rows : ``In(16)``
        Shape of the tile to pack, sampled on ``start``; both >= 1.
    start : ``In(1)``
        Begin a tile (resets the counters). The previous tile must have been packed.
    i : ``In(stream.Signature(word_bytes * 8))``
        Words, element ``j`` in bytes ``j*elem_bytes ..``, little-endian.
    o : ``Out(stream.Signature(DmaBeat(cfg)))``
        Beats with ``count``, ``row_last`` and ``last`` exactly as the DMA write command
        ``row_bytes = row_elems * elem_bytes``, ``rows`` expects.
    """

    def __init__(self, cfg: AccelConfig, elem_bytes: int, *, peek: bool = False):
        if not isinstance(peek, bool):
            raise TypeError(f"peek must be a bool, not {peek!r}")
        self._peek = peek
        if elem_bytes not in (1, 4):
            raise ValueError(f"elem_bytes must be 1 or 4, not {elem_bytes!r}")
        word_bytes = cfg.cols * elem_bytes
        if word_bytes & (word_bytes - 1):
            raise ValueError(f"cols * elem_bytes must be a power of two, not {word_bytes}")
        self._cfg = cfg
        self._elem_bytes = elem_bytes
        self._word_bytes = word_bytes
        super().__init__({
            "row_elems": In(TILE_DIM_BITS),
            "rows": In(TILE_DIM_BITS),
            "start": In(1),
            "i": In(stream.Signature(8 * word_bytes)),
            "o": Out(stream.Signature(DmaBeat(cfg))),
        })

    def elaborate(self, platform):
        m = Module()
        ab, wb, eb = self._cfg.axi_bytes, self._word_bytes, self._elem_bytes
        unit = min(ab, wb)
        units_per_word, units_per_beat = wb // unit, ab // unit
        elems_per_unit = unit // eb

        if self._peek:
            word, word_valid = self.i.payload, self.i.valid
        else:
            word, word_valid = Signal(8 * wb), Signal()
        ui = Signal(range(max(2, units_per_word)))
        beat = Signal(8 * ab)
        pos = Signal(range(max(2, units_per_beat)))
        count = Signal(bits_for(ab))
        row_elems = Signal(TILE_DIM_BITS)
        rows_left = Signal(TILE_DIM_BITS)
        # The elements of the current row not yet packed (rem) and whether they fit in this
        # unit (row_end) are registers, updated alongside the unit they describe, so the
        # emit/consume decision starts at flip-flops instead of a subtract and a compare
        # (the 4x4 engine's critical path ran row_elems/col -> rem -> row_end -> o.valid).
        rem = Signal(TILE_DIM_BITS)
        row_end = Signal()
        row_short = Signal()            # row_elems <= elems_per_unit: every unit ends a row

        out_free = ~self.o.valid | self.o.ready
        work = word_valid & out_free
        take = Mux(row_end, rem, elems_per_unit)
        beat_full = pos == units_per_beat - 1
        emit = work & (row_end | beat_full)
        consumed = work & (row_end | (ui == units_per_word - 1))

        unit_bits = Signal(8 * unit)
        m.d.comb += unit_bits.eq(word.word_select(ui, 8 * unit) if units_per_word > 1 else word)
        merged = Signal(8 * ab)
        m.d.comb += merged.eq(beat)
        if units_per_beat > 1:
            m.d.comb += merged.word_select(pos, 8 * unit).eq(unit_bits)
        else:
            m.d.comb += merged.eq(unit_bits)

        with m.If(self.o.valid & self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        with m.If(work):
            with m.If(emit):
                m.d.sync += [
                    self.o.valid.eq(1),
                    self.o.payload.data.eq(merged),
                    self.o.payload.count.eq(count + take * eb),
                    self.o.payload.row_last.eq(row_end),
                    self.o.payload.last.eq(row_end & (rows_left == 1)),
                    pos.eq(0), count.eq(0), beat.eq(0),
                ]
            with m.Else():
                m.d.sync += [pos.eq(pos + 1), count.eq(count + take * eb), beat.eq(merged)]
            with m.If(row_end):
                m.d.sync += [rem.eq(row_elems), row_end.eq(row_short),
                             rows_left.eq(rows_left - 1)]
            with m.Else():
                m.d.sync += [rem.eq(rem - elems_per_unit),
                             row_end.eq(rem <= 2 * elems_per_unit)]
            with m.If(consumed):
                m.d.sync += ui.eq(0)
            with m.Else():
                m.d.sync += ui.eq(ui + 1)

        if self._peek:
            m.d.comb += self.i.ready.eq(consumed)
        else:
            m.d.comb += self.i.ready.eq(~word_valid | consumed)
            # `word` follows the input whenever the packer is ready for one, offered or not
            # (`word_valid` says whether it holds one): the offer's `valid`, from the
            # requantiser or the C FIFO, is then not in the enable of the word's flip-flops
            # (an FPGA timing path, docs/fpga.md, seventeenth round).
            with m.If(self.i.ready):
                m.d.sync += [word.eq(self.i.payload), word_valid.eq(self.i.valid)]

        with m.If(self.start):
            m.d.sync += [row_elems.eq(self.row_elems), rows_left.eq(self.rows),
                         rem.eq(self.row_elems), row_end.eq(self.row_elems <= elems_per_unit),
                         row_short.eq(self.row_elems <= elems_per_unit),
                         ui.eq(0), pos.eq(0), count.eq(0), beat.eq(0)]
        return m
