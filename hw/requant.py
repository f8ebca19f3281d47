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

from amaranth.hdl import Const, Module, Mux, Signal, signed, unsigned
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
    """Three-stage pipelined requantiser: one vector of ``cols`` int32 -> int8 per cycle.

    Stage 1 multiplies, stage 2 rounds and shifts, stage 3 adds the zero point and clamps into
    the output register. Latency is 3 cycles (a vector accepted in cycle ``t`` is valid on
    ``o`` in cycle ``t + 3`` without backpressure). Each stage moves on when the stage after
    it is empty or moving, so bubbles are squeezed out; ``i.ready`` depends combinationally
    on ``o.ready``, ``o.valid`` never does. ``last`` is passed through unchanged.

    Parameters
    ----------
    cfg : :class:`~scanfuse.hw.params.AccelConfig`
        Uses ``cols``, ``acc_bits`` and ``operand_bits``.

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

    LATENCY = 3

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
        cols = self._cfg.cols
        p_bits = self._cfg.acc_bits + MULTIPLIER_BITS   # |acc * multiplier| < 2**(p_bits - 1)
        s_bits = p_bits + 1                             # room for the rounding bias
        q_min, q_max = -(1 << (_OUT_BITS - 1)), (1 << (_OUT_BITS - 1)) - 1

        v1, v2 = Signal(), Signal()
        en1, en2, en3 = Signal(), Signal(), Signal()
        m.d.comb += [
            en3.eq(~self.o.valid | self.o.ready),
            en2.eq(~v2 | en3),
            en1.eq(~v1 | en2),
            self.i.ready.eq(en1),
        ]

        # The parameters travel with their vector, each field only as far as it is needed.
        clamp_fields = {"zero_point": signed(_OUT_BITS), "mode": Activation,
                        "relu6_max": signed(_OUT_BITS)}
        par1 = Signal(data.StructLayout({"shift": unsigned(SHIFT_BITS), **clamp_fields}))
        par2 = Signal(data.StructLayout(clamp_fields))

        # Stage 1: products.
        last1 = Signal()
        prod = [Signal(signed(p_bits), name=f"prod{c}") for c in range(cols)]
        with m.If(en1):
            m.d.sync += [v1.eq(self.i.valid), last1.eq(self.i.payload.last)]
            m.d.sync += [par1[name].eq(self.params[name]) for name in par1.shape().members]
            for c in range(cols):
                m.d.sync += prod[c].eq(self.i.payload.data[c] * self.params.multiplier)

        # Stage 2: round half away from zero, then arithmetic shift right.
        last2 = Signal()
        scaled = [Signal(signed(s_bits), name=f"scaled{c}") for c in range(cols)]
        # (1 << shift) >> 1 is 2**(shift - 1), and 0 when shift == 0 (no rounding needed).
        half = Signal(unsigned(p_bits))
        m.d.comb += half.eq((Const(1, p_bits + 1) << par1.shift) >> 1)
        with m.If(en2):
            m.d.sync += [v2.eq(v1), last2.eq(last1)]
            m.d.sync += [par2[name].eq(par1[name]) for name in clamp_fields]
            for c in range(cols):
                # Ties away from zero: a negative product gets one less bias, so that
                # floor((p + 2**(s-1) - 1) / 2**s) == -floor((-p + 2**(s-1)) / 2**s).
                neg_tie = prod[c][-1] & (par1.shift != 0)
                biased = Signal(signed(s_bits), name=f"biased{c}")
                m.d.comb += biased.eq(prod[c] + half - neg_tie)
                m.d.sync += scaled[c].eq(biased >> par1.shift)

        # Stage 3: zero point, activation clamp, saturation to int8 (the output register).
        lo = Signal(signed(_OUT_BITS))
        hi = Signal(signed(_OUT_BITS))
        with m.Switch(par2.mode):
            with m.Case(Activation.RELU):
                m.d.comb += [lo.eq(par2.zero_point), hi.eq(q_max)]
            with m.Case(Activation.RELU6):
                m.d.comb += [lo.eq(par2.zero_point), hi.eq(par2.relu6_max)]
            with m.Default():   # NONE, and the reserved code 3
                m.d.comb += [lo.eq(q_min), hi.eq(q_max)]
        with m.If(en3):
            m.d.sync += [self.o.valid.eq(v2), self.o.payload.last.eq(last2)]
            for c in range(cols):
                y = Signal(signed(s_bits + 1), name=f"shifted{c}")
                floor = Signal(signed(s_bits + 1), name=f"floored{c}")
                m.d.comb += [
                    y.eq(scaled[c] + par2.zero_point),
                    floor.eq(Mux(y < lo, lo, y)),
                ]
                m.d.sync += self.o.payload.data[c].eq(Mux(floor > hi, hi, floor))
        return m
