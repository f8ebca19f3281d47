"""Depthwise convolution unit (``DepthwiseUnit``): a line buffer of hidden rows and a 3x3 window
of int8 multiply-accumulates per channel lane (``docs/hardware/depthwise.md``).

Per output pixel and channel of an ``H x W`` image::

    acc[oy, ox, c] = bias[c] + sum_{i, j < 3} W[c, i, j] * x[oy*sh - 1 + i, ox*sw - 1 + j, c]

int8 x int8 products, int32 accumulation wrapping modulo ``2**32``, ``x`` outside the image
reading 0 (padding 1 on every side), strides ``sh, sw`` in {1, 2}: ``Ho = (H - 1) // sh + 1``,
``Wo = (W - 1) // sw + 1``. The kernels 3x1 and 1x3 of a CP chain (padding ``(1, 0)`` and
``(0, 1)``) have the same output geometry as a 3x3 kernel with padding 1 whose other taps are
zero, so they are loaded as the centre column or row of the 3x3 taps (:func:`kernel_offset`);
the datapath knows only 3x3. Requantisation is downstream (``Requantizer``).

Each ``start`` begins a *run*: ``height`` full-width input rows of ``groups`` groups of
``lanes`` channels, which compute a range of output rows ``oy0 .. oy1 - 1``: the whole image,
or a strip of a fused schedule with its halo rows (:func:`run_rows` gives the input rows of a
strip). ``pad_top`` says a padding row precedes the run's first row (it is the image's row 0),
``pad_bottom`` that one follows its last (it is the image's last row); the run's rows plus
these padding rows are the windows' rows ``oy0 * sh - 1 .. (oy1 - 1) * sh + 1``.

Stream formats
--------------
* ``i``: one beat = ``lanes`` channels of one pixel (:class:`DwPixel`). Order: run row by
  row; within a row, channel group ``g = 0 .. groups - 1``; within a group, pixels
  ``x = 0 .. width - 1`` ("row-planar": ``(y, g, x)``). Channel ``g * lanes + l`` is lane
  ``l``; the lanes past the last channel carry whatever the producer sends (0 is tidy).
* ``o``: one beat = ``lanes`` int32 accumulators of one output pixel (:class:`DwAcc`), in the
  order ``(oy, g, ox)``, ``last`` on the run's final beat.

Dataflow::

         i (pixel x of row y, group g)
         |        line buffer: 2 row slots of width*groups words (lanes x int8),
         |        slot y % 2 holds row y - 2 (read, then overwritten by row y, same address),
         |        slot (y+1) % 2 holds row y - 1
         +-------> [ slot 0 ] [ slot 1 ] ----+      address g * width + x
         |                                   |
         v                                   v
      beat reg ----------------------> column (rows y-2, y-1, y; 0 outside the image)
                                             |
                   window:  w0 (x-2)  w1 (x-1)  newest (x)        3 x 3 x lanes int8
                                             |
         weights[g] (9 taps x lanes, bias) ->  9 * lanes products (registered)
                                             |
                                     bias + sum  -> o (registered)

A *segment* is the ``width`` pixels of one row and one group. When pixel ``x`` of run row
``y`` arrives, the window holds columns ``x - 2, x - 1, x`` of run rows ``y - 2 .. y`` (rows
above the run and columns left of 0 read 0). With ``p = y + pad_top`` (the row counted from
the top padding row), it covers the run's output ``(j, ox) = ((p - 2) / sh, (x - 1) / sw)``
(``j`` counted from ``oy0``) whenever both are whole and ``p >= 2, x >= 1``. The output whose
last window column is the right padding (``ox * sw + 1 == width``, which happens when
``(width - 1) % sw == 0``) is computed in the cycle of the *next* segment's first pixel
(which itself completes no output) with a zero newest column, or in one extra *flush* cycle
after the run. The output row whose last window row is the bottom padding
(with ``pad_bottom``, when ``(Hp - 3) % sh == 0``, ``Hp = height + pad_top + pad_bottom``) is
computed in a *drain row* after the last input row: ``width * groups`` cycles in which the
unit reads its line buffer and feeds zero pixels itself.

Timing and throughput
---------------------
Every cycle in which the pipeline moves, the unit takes one *event*: an input beat, a drain-row
pixel or the flush. So it accepts one input beat (``lanes`` channels) per cycle, the rate at
which an expand GEMM of ``lanes`` columns can produce them, and emits at most one output beat
per cycle (``9 * lanes`` MACs per cycle). A run takes ``height * width * groups`` input
cycles, plus ``width * groups`` for the drain row (whole images: when ``(H - 1) % sh == 0``),
plus 1 for the flush when ``(width - 1) % sw == 0``; an output beat leaves
:attr:`DepthwiseUnit.LATENCY` (3) cycles after the event that completes it (measured by
``tests/hw/test_depthwise.py``).

Flow control
------------
All stages move together on ``en = ~o.valid | o.ready``:
``i.ready = en & (the front end expects an input beat)``, so ``i.ready`` depends on
``o.ready`` through that one gate and never on ``i.valid``; ``o.valid`` is a register. A
stalled output freezes the line buffer read ports, the window and the products, so nothing is
lost or repeated.
"""

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, enum, memory, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import bits_for

from .params import DIM_BITS

__all__ = ["WINDOW", "TAPS", "kernel_offset", "run_rows", "continued_rows", "DwPixel", "DwAcc", "DwWeights",
           "DwShape", "DepthwiseUnit"]

#: The datapath's window side: every kernel is embedded in a 3 x 3 window.
WINDOW = 3
#: Taps per channel: tap ``i * WINDOW + j`` multiplies window row ``i`` (input row
#: ``oy * sh - 1 + i``) and column ``j`` (input column ``ox * sw - 1 + j``).
TAPS = WINDOW * WINDOW
_OPERAND_BITS = 8
_ACC_BITS = 32


def kernel_offset(kh: int, kw: int) -> tuple[int, int]:
    """Where a ``kh x kw`` kernel sits in the 3 x 3 window: its tap ``(i, j)`` is window tap
    ``(row0 + i, col0 + j)``; the other window taps are loaded with 0.

    A kernel with padding ``(kh // 2, kw // 2)`` then has the unit's output geometry.

    Raises
    ------
    ValueError
        Unless ``kh`` and ``kw`` are 1 or 3 (3x3, 3x1, 1x3, 1x1).
    """
    for name, k in (("kh", kh), ("kw", kw)):
        if k not in (1, 3):
            raise ValueError(f"{name} must be 1 or 3, not {k!r}")
    return (WINDOW - kh) // 2, (WINDOW - kw) // 2


def run_rows(height: int, stride_h: int, oy0: int, oy1: int) -> tuple[int, int, bool, bool]:
    """The run that computes output rows ``oy0 .. oy1 - 1`` of an image of ``height`` rows.

    Returns ``(first, count, pad_top, pad_bottom)``: input rows ``first .. first + count - 1``
    (the windows' rows ``oy0 * sh - 1 .. (oy1 - 1) * sh + 1`` inside the image) and whether
    the top and bottom window rows are padding. ``(0, height, True, True)`` for the whole
    image.

    Raises
    ------
    ValueError
        If ``height < 1``, ``stride_h`` is not 1 or 2, or not ``0 <= oy0 < oy1 <= Ho``.
    """
    if not isinstance(height, int) or height < 1:
        raise ValueError(f"height must be an integer >= 1, not {height!r}")
    if stride_h not in (1, 2):
        raise ValueError(f"stride_h must be 1 or 2, not {stride_h!r}")
    ho = (height - 1) // stride_h + 1
    if not 0 <= oy0 < oy1 <= ho:
        raise ValueError(f"output rows {oy0}..{oy1 - 1} are not a range inside 0..{ho - 1}")
    lo, hi = oy0 * stride_h - 1, (oy1 - 1) * stride_h + 1
    first, last = max(lo, 0), min(hi, height - 1)
    return first, last - first + 1, lo < 0, hi > height - 1


def continued_rows(height: int, stride_h: int, oy0: int, oy1: int) -> tuple[int, int]:
    """The input rows a strip feeds into a *continued* whole-image run (one run over all
    strips, see ``flush``): the rows of :func:`run_rows` that no earlier strip fed.

    Returns ``(first, count)``: rows ``first .. first + count - 1``, where ``first`` is 0 for
    the first strip and otherwise the row after the previous strip's last window row
    ``(oy0 - 1) * sh + 1``; ``count`` is 0 when the image's last row was already fed (a last
    strip of stride 1: its output row is the unit's drain row).

    Raises
    ------
    ValueError
        As :func:`run_rows`.
    """
    first, count, _, _ = run_rows(height, stride_h, oy0, oy1)
    new = 0 if oy0 == 0 else (oy0 - 1) * stride_h + 2
    return new, max(0, first + count - new)


class DwPixel(data.StructLayout):
    """Payload of :attr:`DepthwiseUnit.i`: ``data`` = ``lanes`` x ``signed(8)``, one pixel's
    channels ``g * lanes .. g * lanes + lanes - 1``."""

    def __init__(self, lanes: int):
        super().__init__({"data": data.ArrayLayout(signed(_OPERAND_BITS), lanes)})


class DwAcc(data.StructLayout):
    """Payload of :attr:`DepthwiseUnit.o`: ``data`` = ``lanes`` x ``signed(32)`` accumulators of
    one output pixel, ``last`` on the image's final beat."""

    def __init__(self, lanes: int):
        super().__init__({
            "data": data.ArrayLayout(signed(_ACC_BITS), lanes),
            "last": unsigned(1),
        })


class DwWeights(data.StructLayout):
    """One channel group's weights (:attr:`DepthwiseUnit.wt_data`).

    Members
    -------
    taps : ``ArrayLayout(ArrayLayout(signed(8), lanes), 9)``
        ``taps[i * 3 + j][l]`` is window tap ``(i, j)`` of lane ``l`` (see :func:`kernel_offset`).
    bias : ``ArrayLayout(signed(32), lanes)``
    """

    def __init__(self, lanes: int):
        super().__init__({
            "taps": data.ArrayLayout(data.ArrayLayout(signed(_OPERAND_BITS), lanes), TAPS),
            "bias": data.ArrayLayout(signed(_ACC_BITS), lanes),
        })


class DwShape(data.StructLayout):
    """The rows of one run (:attr:`DepthwiseUnit.image`), sampled on ``start``.

    Members
    -------
    width : ``1 .. max_width`` pixels.
    height : ``1 .. 2**16 - 1`` input rows of the run.
    groups : ``1 .. ceil(max_channels / lanes)`` channel groups of ``lanes`` channels.
    stride_h, stride_w : ``unsigned(2)``, 1 or 2.
    pad_top, pad_bottom : ``unsigned(1)``
        A zero padding row precedes / follows the run's rows (1 for both: a whole image).
        ``Hp = height + pad_top + pad_bottom`` must be at least 3, and without ``pad_bottom``
        ``(Hp - 3) % stride_h == 0`` (the last input row completes an output row), as
        :func:`run_rows` makes it.
    """

    def __init__(self, max_width: int, max_groups: int):
        super().__init__({
            "width": unsigned(bits_for(max_width)),
            "height": unsigned(DIM_BITS),
            "groups": unsigned(bits_for(max_groups)),
            "stride_h": unsigned(2),
            "stride_w": unsigned(2),
            "pad_top": unsigned(1),
            "pad_bottom": unsigned(1),
        })


class _State(enum.Enum, shape=2):
    IDLE = 0
    ROWS = 1     # input rows: one event per input beat
    DRAIN = 2    # bottom padding row: events without input
    FLUSH = 3    # the last segment's right-padding output


def _positive_int(name: str, value) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, not {value!r}")
    return value


class DepthwiseUnit(wiring.Component):
    """3x3-window depthwise convolution over a stream of hidden pixels, int32 accumulators out.

    See the module docstring for the arithmetic, stream order, dataflow and timing.

    Parameters
    ----------
    lanes : int
        Channels processed in parallel (one input and one output beat each); ``>= 1``.
    max_width : int
        Widest image row, in pixels; ``>= 1``.
    max_channels : int
        Most channels of one run; ``>= 1``. ``max_groups = ceil(max_channels / lanes)``.

    Members
    -------
    image : ``In(DwShape(max_width, max_groups))``
        Sampled on ``start``.
    start : ``In(1)``
        Begin a run. Ignored while ``busy``. An ``image`` breaking a rule of :class:`DwShape`
        (``width`` or ``groups`` outside ``1 .. max``, ``height == 0``, a stride other than 1
        or 2, the padded-height rules) does not start: it sets ``error`` (until the next legal
        start) and the unit stays idle, asking for no input.
    busy : ``Out(1)``
        A run is in progress or still in the pipeline.
    error : ``Out(1)``
        The last ``start`` had an illegal shape.
    wt_addr : ``In(range(max_groups))``, wt_data : ``In(DwWeights(lanes))``, wt_en : ``In(1)``
        Weight memory write port (one word per channel group), written on the clock edge when
        ``wt_en``. Load while not ``busy``: a run reads group ``g``'s word for every output of
        the group.
    i : ``In(stream.Signature(DwPixel(lanes)))``
        ``height * groups * width`` beats per run, in ``(y, g, x)`` order.
    o : ``Out(stream.Signature(DwAcc(lanes)))``
        ``(oy1 - oy0) * groups * Wo`` beats per run, in ``(oy, g, ox)`` order.

    Raises
    ------
    ValueError
        If a parameter is not an integer ``>= 1``.
    """

    #: Cycles from the event completing an output to that output being valid on ``o``.
    LATENCY = 3

    def __init__(self, *, lanes: int, max_width: int, max_channels: int):
        self._lanes = _positive_int("lanes", lanes)
        self._max_width = _positive_int("max_width", max_width)
        self._max_channels = _positive_int("max_channels", max_channels)
        self._max_groups = -(-max_channels // lanes)
        super().__init__({
            "image": In(DwShape(max_width, self._max_groups)),
            "start": In(1),
            "busy": Out(1),
            "error": Out(1),
            "wt_addr": In(range(max(2, self._max_groups))),
            "wt_data": In(DwWeights(lanes)),
            "wt_en": In(1),
            "flush": In(1),
            "i": In(stream.Signature(DwPixel(lanes))),
            "o": Out(stream.Signature(DwAcc(lanes))),
        })

    @property
    def lanes(self) -> int:
        return self._lanes

    @property
    def max_width(self) -> int:
        return self._max_width

    @property
    def max_groups(self) -> int:
        return self._max_groups

    @property
    def line_words(self) -> int:
        """Words (``lanes`` bytes each) in each of the two line-buffer row slots."""
        return self._max_width * self._max_groups

    def elaborate(self, platform):
        m = Module()
        lanes = self._lanes
        word = unsigned(_OPERAND_BITS * lanes)
        col_layout = data.ArrayLayout(data.ArrayLayout(signed(_OPERAND_BITS), lanes), WINDOW)

        # --- memories ------------------------------------------------------------------------
        # Two row slots: non-transparent read ports, so reading and overwriting the same
        # address in one cycle returns row y - 2 while storing row y.
        slots = []
        for s in range(2):
            mem = memory.Memory(shape=word, depth=self.line_words, init=[])
            m.submodules[f"line{s}"] = mem
            slots.append((mem.write_port(), mem.read_port(transparent_for=())))
        m.submodules.weights = wmem = memory.Memory(shape=DwWeights(lanes),
                                                    depth=self._max_groups, init=[])
        wt_w, wt_r = wmem.write_port(), wmem.read_port(transparent_for=())
        m.d.comb += [wt_w.addr.eq(self.wt_addr), wt_w.data.eq(self.wt_data),
                     wt_w.en.eq(self.wt_en)]

        # --- configuration, sampled on start -------------------------------------------------
        wm1 = Signal.like(self.image.width, name="width_m1")      # width - 1
        gm1 = Signal.like(self.image.groups, name="groups_m1")
        hm1 = Signal(DIM_BITS, name="height_m1")
        sh2 = Signal(name="stride_h2")
        sw2 = Signal(name="stride_w2")
        trail_cfg = Signal()   # (width - 1) % sw == 0: each segment has a right-padding output
        drain_cfg = Signal()   # the run ends with a bottom-padding (drain) row
        top_cfg = Signal()     # pad_top: a padding row precedes input row 0

        state = Signal(_State)
        y = Signal(DIM_BITS + 1)                  # input row; == height in the drain row
        g = Signal.like(gm1, name="g")
        g_prev = Signal.like(gm1, name="g_prev")  # group of the segment before this one
        x = Signal.like(wm1, name="x")
        addr = Signal(range(max(2, self.line_words)))
        trail_pending = Signal()                  # the previous segment's padding output is due
        flush_now = Signal()                      # a requested flush (see ``flush``)

        en = Signal()
        v1, v2 = Signal(), Signal()
        m.d.comb += [
            en.eq(~self.o.valid | self.o.ready),
            self.busy.eq((state != _State.IDLE) | v1 | v2 | self.o.valid),
        ]

        shp = self.image
        # Padded height Hp = height + pad_top + pad_bottom: at least one window, and without a
        # bottom padding row the last input row must complete an output row.
        hp = Signal(DIM_BITS + 1)
        m.d.comb += hp.eq(shp.height + shp.pad_top + shp.pad_bottom)

        def at_most(field, limit):
            # Skip the comparison when the field cannot exceed the limit (a constant compare
            # is a lint warning).
            return field <= limit if limit < (1 << len(field)) - 1 else 1

        legal = Signal()
        m.d.comb += legal.eq((shp.width != 0) & at_most(shp.width, self._max_width)
                             & (shp.groups != 0) & at_most(shp.groups, self._max_groups)
                             & (shp.height != 0) & (hp >= WINDOW)
                             & (shp.stride_h != 0) & (shp.stride_h != 3)
                             & (shp.stride_w != 0) & (shp.stride_w != 3)
                             & (shp.pad_bottom | (shp.stride_h == 1) | hp[0]))
        with m.If(self.start & ~self.busy):
            m.d.sync += self.error.eq(~legal)
            with m.If(legal):
                m.d.sync += [
                    wm1.eq(shp.width - 1), gm1.eq(shp.groups - 1), hm1.eq(shp.height - 1),
                    sh2.eq(shp.stride_h == 2), sw2.eq(shp.stride_w == 2),
                    trail_cfg.eq((shp.stride_w == 1) | shp.width[0]),
                    drain_cfg.eq(shp.pad_bottom & ((shp.stride_h == 1) | hp[0])),
                    top_cfg.eq(shp.pad_top),
                    state.eq(_State.ROWS),
                    y.eq(0), g.eq(0), g_prev.eq(0), x.eq(0), addr.eq(0),
                    trail_pending.eq(0),
                ]

        # --- stage 0: the event --------------------------------------------------------------
        rows = state == _State.ROWS
        drain = state == _State.DRAIN
        flush = state == _State.FLUSH
        event = Signal()
        # A requested flush is taken instead of an input beat, at a segment start with the
        # previous segment's right-padding output due; it only clears ``trail_pending``.
        m.d.comb += [
            flush_now.eq(rows & self.flush & (x == 0) & trail_pending),
            self.i.ready.eq(en & rows & ~flush_now),
            event.eq(en & ((rows & (self.i.valid | flush_now)) | drain | flush)),
        ]
        fl = flush | flush_now      # a flush-type event: zero newest column, no pixel
        # Row y is padded row p = y + pad_top; it completes the output row whose window is
        # padded rows p - 2 .. p when p >= 2 and (p - 2) % sh == 0.
        p = Signal(DIM_BITS + 2)
        m.d.comb += p.eq(y + top_cfg)
        row_computes = (p >= 2) & (~sh2 | ~p[0])
        seg_start = (x == 0) | fl
        seg_end = x == wm1
        row_end = seg_end & (g == gm1)
        final = row_end & ((rows & (y == hm1) & ~drain_cfg) | drain)
        emit_main = ~fl & row_computes & (x != 0) & (~sw2 | x[0])
        emit_trail = seg_start & trail_pending

        for s, (wr, rd) in enumerate(slots):
            m.d.comb += [
                wr.addr.eq(addr), wr.data.eq(self.i.payload.data),
                wr.en.eq(event & rows & ~flush_now & (y[0] == s)),
                rd.addr.eq(addr), rd.en.eq(en),
            ]
        m.d.comb += [wt_r.addr.eq(Mux(seg_start, g_prev, g)), wt_r.en.eq(en)]

        with m.If(event):
            with m.If(flush):
                m.d.sync += state.eq(_State.IDLE)
            with m.Elif(flush_now):
                m.d.sync += trail_pending.eq(0)
            with m.Elif(seg_end):
                m.d.sync += [x.eq(0), g_prev.eq(g), trail_pending.eq(row_computes & trail_cfg)]
                with m.If(row_end):
                    m.d.sync += [g.eq(0), addr.eq(0), y.eq(y + 1)]
                    with m.If(final):
                        m.d.sync += state.eq(Mux(trail_cfg, _State.FLUSH, _State.IDLE))
                    with m.Elif(rows & (y == hm1)):
                        m.d.sync += state.eq(_State.DRAIN)
                with m.Else():
                    m.d.sync += [g.eq(g + 1), addr.eq(addr + 1)]
            with m.Else():
                m.d.sync += [x.eq(x + 1), addr.eq(addr + 1)]

        # --- stage 1: column, window, products -----------------------------------------------
        slot1 = Signal()
        top_ok1, mid_ok1 = Signal(), Signal()     # run rows y - 2, y - 1 exist
        start1, emit1, last1 = Signal(), Signal(), Signal()
        beat1 = Signal(word)
        with m.If(en):
            m.d.sync += [
                v1.eq(event), slot1.eq(y[0]),
                top_ok1.eq(~fl & (y >= 2)), mid_ok1.eq(~fl & (y >= 1)),
                start1.eq(seg_start), emit1.eq(emit_main | emit_trail),
                last1.eq((emit_main & final & ~trail_cfg) | flush),
                beat1.eq(Mux(rows & ~flush_now, self.i.payload.data.as_value(), 0)),
            ]

        col = Signal(col_layout)
        top = Mux(slot1, slots[1][1].data, slots[0][1].data)   # row y - 2 is in slot y % 2
        mid = Mux(slot1, slots[0][1].data, slots[1][1].data)
        m.d.comb += [
            col[0].eq(Mux(top_ok1, top, 0)),
            col[1].eq(Mux(mid_ok1, mid, 0)),
            col[2].eq(beat1),
        ]
        w0 = Signal(col_layout, name="win0")     # column x - 2
        w1 = Signal(col_layout, name="win1")     # column x - 1
        newest = Signal(col_layout)              # column x; the right padding at a segment start
        m.d.comb += newest.eq(Mux(start1, 0, col.as_value()))
        with m.If(en & v1):
            m.d.sync += [w0.eq(Mux(start1, 0, w1.as_value())), w1.eq(col)]
        window = (w0, w1, newest)

        taps = wt_r.data.taps
        prods = [[Signal(signed(2 * _OPERAND_BITS), name=f"prod{t}_{l}") for l in range(lanes)]
                 for t in range(TAPS)]
        bias2 = Signal(data.ArrayLayout(signed(_ACC_BITS), lanes))
        last2 = Signal()
        with m.If(en):
            m.d.sync += [v2.eq(v1 & emit1), last2.eq(last1), bias2.eq(wt_r.data.bias)]
            for i in range(WINDOW):
                for j in range(WINDOW):
                    t = i * WINDOW + j
                    for l in range(lanes):
                        m.d.sync += prods[t][l].eq(window[j][i][l] * taps[t][l])

        # --- stage 2: bias + sum -> o --------------------------------------------------------
        with m.If(en):
            m.d.sync += [self.o.valid.eq(v2), self.o.payload.last.eq(last2)]
            for l in range(lanes):
                # A balanced adder tree: four levels for the nine products and the bias.
                terms = [bias2[l]] + [prods[t][l] for t in range(TAPS)]
                while len(terms) > 1:
                    pairs = [a + b for a, b in zip(terms[::2], terms[1::2])]
                    terms = pairs + terms[len(terms) & ~1:]
                total = terms[0]
                # Truncating to 32 bits wraps modulo 2**32 like the golden model.
                m.d.sync += self.o.payload.data[l].eq(total[:_ACC_BITS])
        return m
