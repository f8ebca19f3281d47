"""Output stage: int32 accumulators -> int8 (``Requantizer``), its payloads and parameters.

Per output element, with per-layer parameters (``RequantParams``)::

    p = acc * multiplier                           acc: int32, multiplier: unsigned 31-bit
    s = round(p / 2**shift)                        shift: 0..63, ties away from zero:
      = (p + 2**(shift-1) - (p < 0)) >> shift          arithmetic shift; s = p when shift == 0
    y = s + zero_point                             zero_point: int8
    q = min(max(y, lo), hi)                        int8; (lo, hi) from the activation mode:
          NONE  -> (-128, 127)                     plain saturation
          RELU  -> (zero_point, 127)               real 0.0 is the code zero_point
          RELU6 -> (zero_point, relu6_max)         relu6_max: int8 code of real 6.0
                                                   (hi wins if relu6_max < zero_point)

The real scale is ``multiplier / 2**shift``; a float scale ``x`` maps to e.g.
``multiplier = round(x * 2**shift)`` with the largest ``shift`` that keeps ``multiplier`` below
``2**31`` (31 bits of precision for scales below 1). :func:`scanfuse.sim.golden.requant_ref`
is the bit-exact numpy model.

Raw int32 output ("no requantisation") is not a mode of this component: the sequencer routes
the C accumulator rows around it. A layer's parameters are sampled together with each input
vector (on its transfer) and travel down the pipeline with it, so the sequencer may change
``params`` between any two vectors; holding them stable for a whole layer is enough.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.wiring import In, Out

from .params import AccelConfig

__all__ = ["MULTIPLIER_BITS", "SHIFT_BITS", "Activation", "RequantParams",
           "AccRow", "QuantRow", "Requantizer"]

#: Width of the unsigned fixed-point multiplier.
MULTIPLIER_BITS = 31
#: Width of the right shift amount (0 .. 63).
SHIFT_BITS = 6
#: Output element width; must equal ``AccelConfig.operand_bits`` (checked by the Requantizer),
#: since int8 results feed the next layer as activations.
_OUT_BITS = 8


class Activation(enum.Enum, shape=2):
    """Activation clamp applied after rescaling. Code 3 is reserved and behaves as NONE."""
    NONE = 0
    RELU = 1
    RELU6 = 2


class RequantParams(data.Struct):
    """Per-layer requantisation parameters (see the module docstring for the formula).

    Members
    -------
    multiplier : ``unsigned(31)``
        Fixed-point scale numerator, ``0 .. 2**31 - 1``.
    shift : ``unsigned(6)``
        Right shift with rounding, ``0 .. 63``.
    zero_point : ``signed(8)``
        Output zero point, added after rounding.
    mode : :class:`Activation`
    relu6_max : ``signed(8)``
        Upper clamp in RELU6 mode (the int8 code of 6.0, zero point included).
    """
    multiplier: unsigned(MULTIPLIER_BITS)
    shift: unsigned(SHIFT_BITS)
    zero_point: signed(_OUT_BITS)
    mode: Activation
    relu6_max: signed(_OUT_BITS)


class AccRow(data.StructLayout):
    """Payload of :attr:`Requantizer.i`: ``data`` = cols x ``signed(acc_bits)``, ``last``."""

    def __init__(self, cfg: AccelConfig):
        super().__init__({
            "data": data.ArrayLayout(signed(cfg.acc_bits), cfg.cols),
            "last": unsigned(1),
        })


class QuantRow(data.StructLayout):
    """Payload of :attr:`Requantizer.o`: ``data`` = cols x ``signed(operand_bits)``, ``last``."""

    def __init__(self, cfg: AccelConfig):
        super().__init__({
            "data": data.ArrayLayout(signed(cfg.operand_bits), cfg.cols),
            "last": unsigned(1),
        })


class Requantizer(wiring.Component):
    """Seven-stage pipelined requantiser: one vector of ``cols`` int32 -> int8 per cycle.

    The stages are short enough for an FPGA clock of ~100 MHz (``docs/fpga.md``):

    1. four partial products per element, each at most 17 x 17 bits (one ECP5 MULT18X18D):
       ``acc = ah * 2**16 + al`` (``ah`` signed, ``al`` unsigned 16 bits) times
       ``multiplier = mh * 2**16 + ml``;
    2. ``al*ml`` and ``ah*mh`` side by side (their bits do not overlap), the two middle
       products added;
    3. the 63-bit product ``p``;
    4. the rounding bias added;
    5. the arithmetic right shift ``s``;
    6. ``s`` saturated to 10 bits (``|s| > 511`` clamps to int8 either way, since the zero
       point is in -128..127) plus the zero point;
    7. the activation clamp into the output register.

    All stages move together (``i.ready = ~o.valid | o.ready``), so a vector accepted in
    cycle ``t`` is valid on ``o`` in cycle ``t + 7`` without backpressure (:attr:`LATENCY`);
    ``i.ready`` depends combinationally on ``o.ready`` only through that one gate, ``o.valid``
    never on ``i``. ``last`` is passed through unchanged.

    Parameters
    ----------
    cfg : :class:`~scanfuse.hw.params.AccelConfig`
        Uses ``cols``, ``acc_bits`` (32) and ``operand_bits`` (8).

    Members
    -------
    params : ``In(RequantParams)``
        Sampled with each input vector on its transfer.
    i : ``In(stream.Signature(AccRow(cfg)))``
    o : ``Out(stream.Signature(QuantRow(cfg)))``

    Raises
    ------
    TypeError
        If ``cfg`` is not an :class:`AccelConfig`.
    ValueError
        If ``cfg.operand_bits`` differs from the 8-bit output fields of :class:`RequantParams`.
    """

    LATENCY = 7

    def __init__(self, cfg: AccelConfig):
        if not isinstance(cfg, AccelConfig):
            raise TypeError(f"cfg must be an AccelConfig, not {cfg!r}")
        if cfg.operand_bits != _OUT_BITS:
            raise ValueError(f"Requantizer produces {_OUT_BITS}-bit outputs; "
                             f"operand_bits must be {_OUT_BITS}, not {cfg.operand_bits!r}")
        self._cfg = cfg
        super().__init__({
            "params": In(RequantParams),
            "i": In(stream.Signature(AccRow(cfg))),
            "o": Out(stream.Signature(QuantRow(cfg))),
        })

    @property
    def cfg(self) -> AccelConfig:
        return self._cfg

    def elaborate(self, platform):
        m = Module()
        cols, acc_bits = self._cfg.cols, self._cfg.acc_bits
        p_bits = acc_bits + MULTIPLIER_BITS   # |acc * multiplier| < 2**(p_bits - 1)
        s_bits = p_bits + 1                   # room for the rounding bias
        q_min, q_max = -(1 << (_OUT_BITS - 1)), (1 << (_OUT_BITS - 1)) - 1
        sat = 1 << 9                          # stage 6 saturates s to -sat .. sat - 1
        lo_bits = 16                          # low half of acc and of the multiplier

        en = Signal()
        m.d.comb += [en.eq(~self.o.valid | self.o.ready), self.i.ready.eq(en)]

        n_stages = self.LATENCY
        valid = [Signal(name=f"v{j}") for j in range(1, n_stages)]
        last = [Signal(name=f"last{j}") for j in range(1, n_stages)]
        par = [Signal(RequantParams, name=f"par{j}") for j in range(1, n_stages)]
        with m.If(en):
            m.d.sync += [valid[0].eq(self.i.valid), last[0].eq(self.i.payload.last),
                         par[0].eq(self.params)]
            for j in range(1, n_stages - 1):
                m.d.sync += [valid[j].eq(valid[j - 1]), last[j].eq(last[j - 1]),
                             par[j].eq(par[j - 1])]
            m.d.sync += [self.o.valid.eq(valid[-1]), self.o.payload.last.eq(last[-1])]

        def reg(shape, name, value):
            """A pipeline register loaded with ``value`` when the pipeline moves."""
            r = Signal(shape, name=name)
            with m.If(en):
                m.d.sync += r.eq(value)
            return r

        ml = self.params.multiplier[:lo_bits]
        mh = self.params.multiplier[lo_bits:]
        # hi/lo: the 2**32 and 2**0 terms side by side; mid: the two 2**16 terms.
        hi_lo, mid = [], []
        for c in range(cols):
            acc = self.i.payload.data[c]
            al, ah = acc[:lo_bits], acc[lo_bits:].as_signed()
            # Stage 1: partial products.
            ll = reg(unsigned(2 * lo_bits), f"pp_ll{c}", al * ml)
            lh = reg(unsigned(lo_bits + MULTIPLIER_BITS - lo_bits), f"pp_lh{c}", al * mh)
            hl = reg(signed(acc_bits), f"pp_hl{c}", ah * ml)
            hh = reg(signed(acc_bits + MULTIPLIER_BITS - 2 * lo_bits), f"pp_hh{c}", ah * mh)
            # Stage 2.
            hi_lo.append(reg(signed(p_bits), f"hi_lo{c}", Cat(ll, hh).as_signed()))
            mid.append(reg(signed(acc_bits + 2), f"mid{c}", hl + lh))

        # Stage 4's bias: (1 << shift) >> 1 is 2**(shift - 1), and 0 when shift == 0.
        p3 = par[2]
        half = Signal(unsigned(p_bits))
        m.d.comb += half.eq((Const(1, p_bits + 1) << p3.shift) >> 1)
        # Stage 7's clamp bounds.
        p6 = par[5]
        lo = Signal(signed(_OUT_BITS))
        hi = Signal(signed(_OUT_BITS))
        with m.Switch(p6.mode):
            with m.Case(Activation.RELU):
                m.d.comb += [lo.eq(p6.zero_point), hi.eq(q_max)]
            with m.Case(Activation.RELU6):
                m.d.comb += [lo.eq(p6.zero_point), hi.eq(p6.relu6_max)]
            with m.Default():   # NONE, and the reserved code 3
                m.d.comb += [lo.eq(q_min), hi.eq(q_max)]

        for c in range(cols):
            # Stage 3: the product.
            prod = reg(signed(p_bits), f"prod{c}", hi_lo[c] + (mid[c] << lo_bits))
            # Stage 4: round half away from zero: a negative product gets one less bias, so
            # that floor((p + 2**(s-1) - 1) / 2**s) == -floor((-p + 2**(s-1)) / 2**s).
            neg_tie = prod[-1] & (p3.shift != 0)
            biased = reg(signed(s_bits), f"biased{c}", prod + half - neg_tie)
            # Stage 5: arithmetic shift right.
            scaled = reg(signed(s_bits), f"scaled{c}", biased >> par[3].shift)
            # Stage 6: saturate to 10 bits, add the zero point.
            narrow = Mux(scaled < -sat, -sat, Mux(scaled >= sat, sat - 1, scaled))
            y = reg(signed(12), f"shifted{c}", narrow[:10].as_signed() + par[4].zero_point)
            # Stage 7: activation clamp and int8 saturation into the output register.
            floor = Signal(signed(12), name=f"floored{c}")
            m.d.comb += floor.eq(Mux(y < lo, lo, y))
            with m.If(en):
                m.d.sync += self.o.payload.data[c].eq(Mux(floor > hi, hi, floor))
        return m
