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

from amaranth.hdl import (Array, Cat, ClockSignal, Const, Instance, Module, Mux, Signal, signed,
                          unsigned)
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .multiplier import MULT18X18D_PARAMS
from .params import AccelConfig
from .replica import replica

__all__ = ["MULTIPLIER_BITS", "SHIFT_BITS", "Activation", "RequantParams",
           "AccRow", "QuantRow", "PartialProduct", "Requantizer"]

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


#: ``MULT18X18D`` parameters of :class:`PartialProduct` on ECP5: the PE multipliers' set
#: (:data:`~scanfuse.hw.multiplier.MULT18X18D_PARAMS`) without the input registers, so the
#: output register (CLK0, enable CE0, reset RST0 tied low) is the stage-1 register.
PP_MULT18X18D_PARAMS = {
    key: value for key, value in MULT18X18D_PARAMS.items()
    if not key.startswith(("REG_INPUTA_", "REG_INPUTB_"))
} | {"REG_INPUTA_CLK": "NONE", "REG_INPUTB_CLK": "NONE"}


def _lowest_one(value):
    """``value`` with every bit but its lowest 1 cleared, ``value & -value`` (one carry
    chain): the first half of a trailing-zero count (:func:`_encode_one_hot`)."""
    v = value.as_unsigned()
    return (v & (~v + 1))[:len(value)]


def _encode_one_hot(low):
    """The position of the single 1 in ``low``, ``0 .. len(low) - 1`` (any value in that range
    when ``low`` is 0): bit ``j`` of the count an OR over the positions that have bit ``j``
    set. With :func:`_lowest_one` in front, the trailing zeros of a value."""
    bits = len(low)
    return Cat(*(_or([low[i] for i in range(bits) if (i >> j) & 1])
                 for j in range(max(1, (bits - 1).bit_length()))))


def _or(values):
    out = Const(0, 1)
    for x in values:
        out = out | x
    return out


class PartialProduct(wiring.Component):
    """One of the :class:`Requantizer`'s stage-1 products: ``p`` is a register loaded with
    ``a * b`` in every cycle (signed 18 x 18 bits, no enable, no reset; latency 1).

    ``dsp`` chooses the implementation on a platform: ``False`` (the tools infer it; Yosys on
    ECP5 maps a bare ``MULT18X18D`` plus a fabric register) or ``True`` (an explicit ECP5
    ``MULT18X18D`` with its output register in use, :data:`PP_MULT18X18D_PARAMS`, which
    nextpnr times: no fabric register and no route between the DSP and the register). Without
    a platform both are the same register (simulation, Verilog export). The caller puts
    narrower operands in the 18-bit ports so that the spare bits are constants (no routes).

    Members
    -------
    a, b : ``In(signed(18))``
    p : ``Out(signed(36))``
    """

    def __init__(self, dsp: bool = False):
        self._dsp = bool(dsp)
        super().__init__({"a": In(signed(18)), "b": In(signed(18)), "p": Out(signed(36))})

    def elaborate(self, platform):
        m = Module()
        if platform is None or not self._dsp:
            p = Signal(signed(36), name="p_q", reset_less=True)
            m.d.sync += p.eq(self.a * self.b)
            m.d.comb += self.p.eq(p)
            return m
        ports = {f"i_A{i}": self.a[i] for i in range(18)}
        ports.update({f"i_B{i}": self.b[i] for i in range(18)})
        ports.update({f"i_C{i}": 0 for i in range(18)})
        ports.update({f"o_P{i}": self.p[i] for i in range(36)})
        ports.update({"i_SIGNEDA": 1, "i_SIGNEDB": 1, "i_SOURCEA": 0, "i_SOURCEB": 0,
                      "i_CLK0": ClockSignal("sync"), "i_CE0": 1, "i_RST0": 0})
        m.submodules.dsp = Instance(
            "MULT18X18D", **{f"p_{k}": v for k, v in PP_MULT18X18D_PARAMS.items()}, **ports)
        return m


class Requantizer(wiring.Component):
    """Ten-stage pipelined requantiser: one vector of ``cols`` int32 -> int8 per cycle.

    The datapath runs free (its registers have no clock enable, so no enable net fans out to
    every stage) and is cut for an ECP5 clock of 150 MHz (``docs/fpga.md``): no stage holds
    more than one carry chain, or a compare and a select, or a wide select and a saturation.

    Rounding needs no bias adder: with ``q = floor(2p / 2**shift)``, ``round(p / 2**shift)``
    (ties away from zero) is ``floor(q / 2) + inc``, ``inc`` = ``q`` odd and (``p >= 0`` or
    ``p`` has a 1 below bit ``shift - 1``); ``p``'s lowest 1 is at ``ctz(acc) +
    ctz(multiplier)``, so that last test is ``ctz(acc) < shift - 1 - ctz(multiplier)``, a
    5-bit compare per lane against one per-layer threshold. (``p == 0`` gives ``q == 0``
    whatever the test says; since ``multiplier >= 0``, ``p < 0`` only if ``acc < 0``.)

    0. the vector and the parameters registered (the caller may offer a word straight from
       a memory's asynchronous read, as the store path's C FIFO does);
    1. four partial products per element, each at most 17 x 17 bits (one ECP5 MULT18X18D):
       ``acc = ah * 2**16 + al`` (``ah`` signed, ``al`` unsigned 16 bits) times
       ``multiplier = mh * 2**16 + ml`` (:class:`PartialProduct`: with
       ``cfg.pe_multiplier == "mult18x18d"``, the ECP5 build, the DSP's own output register);
       the element's sign, the lowest 1 of each of its bytes and which bytes are not zero;
       once for all lanes, the multiplier's lowest 1 and the clamp bounds ``lo``, ``hi``;
    2. ``al*ml`` and ``ah*mh`` side by side (their bits do not overlap); the two middle
       products added; the lowest 1s encoded: ``ctz(acc)`` per lane (the first non-zero
       byte's), ``ctz(multiplier)``;
    3. the 63-bit product ``p`` (the low 16 bits need no adder); once for all lanes, the
       threshold ``shift - 1 - ctz(multiplier)``;
    4. ``2p`` shifted right by the multiple of 8 in ``shift``, with one flag per byte of
       ``2p`` (all its bits equal the sign); the sticky test;
    5. that value saturated to 17 bits when a byte above its top is not all sign (an operand
       outside -2**16 .. 2**16 - 1 saturates stage 7 whatever the rest of the shift is);
    6. the right shift by ``shift % 8``, and whether the result fits 10 bits (bits ``9 + k``
       .. 16 all equal the sign);
    7. ``q`` saturated to 10 bits (then ``|s| >= 256``, which clamps to int8 either way,
       since the zero point is in -128..127);
    8. ``floor(q / 2) + inc`` plus the zero point in one adder, and beside it the clamp
       decisions ``y < lo``, ``y > hi`` (as ``s < lo - zero_point``, ``s > hi - zero_point``,
       each from two compares of ``floor(q / 2)`` that ``inc`` selects between);
    9. the activation clamp (two selects) into the output queue.

    Admission is by credit: a vector is taken only if the output queue will have room for it
    whatever ``o.ready`` does meanwhile, so no stage ever has to hold. ``i.ready`` is a
    flip-flop: high while fewer than ``LATENCY + 1`` vectors are in flight (taken, not yet
    out of ``o``), counting the transfers of the current cycle. ``o`` is the head of an
    eleven-entry queue (``o.valid`` and ``o.payload`` are flip-flops); ``o.ready`` reaches only
    the queue and the credit count. A vector accepted in cycle ``t`` is valid on ``o`` in
    cycle ``t + 10`` when ``o.ready`` stays high (:attr:`LATENCY`), one vector per cycle;
    under backpressure up to ``LATENCY + 1`` vectors are in flight, none lost, duplicated or
    reordered. ``o.valid`` never depends on ``i``. ``last`` is passed through unchanged.

    Parameters
    ----------
    cfg : :class:`~scanfuse.hw.params.AccelConfig`
        Uses ``cols``, ``acc_bits`` (32), ``operand_bits`` (8) and ``pe_multiplier``
        (``"mult18x18d"``: explicit ECP5 DSP blocks for the partial products).

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

    LATENCY = 10
    #: Vectors in flight at most (pipeline and output queue): the credits.
    CREDITS = LATENCY + 1

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
        q_min, q_max = -(1 << (_OUT_BITS - 1)), (1 << (_OUT_BITS - 1)) - 1
        sat = 1 << 9                          # stage 7 saturates s to -sat .. sat - 1
        t_bits = 17                           # stage 5 saturates to -2**16 .. 2**16 - 1
        lo_bits = 16                          # low half of acc and of the multiplier

        def reg(shape, name, value):
            """A free-running pipeline register (no enable, no reset) loaded with ``value``."""
            r = Signal(shape, name=name, reset_less=True)
            m.d.sync += r.eq(value)
            return r

        # --- stage 0: the vector and its parameters, registered without an enable -----------
        # The input needs no register of its own upstream (the store's C FIFO hands over its
        # LUT RAM's word): loaded in every cycle, they hold the vector taken in the cycle
        # before, and `v0` says whether there was one.
        take = self.i.valid & self.i.ready
        row_in = Signal(AccRow(self._cfg), name="acc0", reset_less=True)
        par = Signal(RequantParams, name="params0", reset_less=True)
        v0 = Signal(name="v0")
        m.d.sync += [row_in.eq(self.i.payload), par.eq(self.params), v0.eq(take)]

        # --- control: valid and last per stage, reset only on valid -----------------------
        core = self.LATENCY - 1         # stages 1 .. 9, behind stage 0
        valid, last = [v0], [row_in.last]
        for j in range(1, core):
            valid.append(Signal(name=f"v{j}"))
            m.d.sync += valid[j].eq(valid[j - 1])
            last.append(reg(1, f"last{j}", last[j - 1]))

        # --- stage 1: partial products; derived parameters -----------------------------------
        shift = par.shift
        last_reg = core - 1             # the stage whose registers feed the output queue (8)
        # Rounding without a bias adder (see the class docstring): the per-layer threshold
        # shift - 1 - ctz(multiplier), once for all lanes, over three stages (the lowest 1,
        # its position, then the difference), so no path runs from the parameters through a
        # carry chain, an encoder and a subtractor to one register (an FPGA timing path,
        # docs/fpga.md).
        low_m = reg(MULTIPLIER_BITS, "low_m1", _lowest_one(par.multiplier))
        ctz_m = reg(range(MULTIPLIER_BITS), "ctz_m2", _encode_one_hot(low_m))
        lo_v, hi_v = Signal(signed(_OUT_BITS)), Signal(signed(_OUT_BITS))
        with m.Switch(par.mode):
            with m.Case(Activation.RELU):
                m.d.comb += [lo_v.eq(par.zero_point), hi_v.eq(q_max)]
            with m.Case(Activation.RELU6):
                m.d.comb += [lo_v.eq(par.zero_point), hi_v.eq(par.relu6_max)]
            with m.Default():   # NONE, and the reserved code 3
                m.d.comb += [lo_v.eq(q_min), hi_v.eq(q_max)]
        # The parameters travel with the vector, each as far as it is used: the shift to
        # stage 4 (each lane copies the parts it selects with into stages 3, 4 and 5), the
        # zero point and the bounds minus it to 6 (each lane copies them into 7), the bounds
        # to 8.
        sh = [shift]
        for j in range(1, 5):
            sh.append(reg(SHIFT_BITS, f"shift{j}", sh[j - 1]))
        thr = reg(signed(SHIFT_BITS + 2), "thr3", sh[2] - 1 - ctz_m)
        # Stage 8 compares s with the bounds minus the zero point (beside its adder), stage 9
        # only selects: y < lo iff s < lo - zero_point, y > hi iff s > hi - zero_point, and
        # hi < lo means every output is hi.
        zp, lo, hi = [par.zero_point], [lo_v], [hi_v]
        lo_zp, hi_zp, hi_wins = [lo_v - par.zero_point], [hi_v - par.zero_point], [hi_v < lo_v]
        for j in range(1, last_reg + 1):
            if j < last_reg - 1:      # to stage 6; each lane copies them into stage 7
                zp.append(reg(signed(_OUT_BITS), f"zp{j}", zp[j - 1]))
                lo_zp.append(reg(signed(_OUT_BITS + 1), f"lo_zp{j}", lo_zp[j - 1]))
                hi_zp.append(reg(signed(_OUT_BITS + 1), f"hi_zp{j}", hi_zp[j - 1]))
            lo.append(reg(signed(_OUT_BITS), f"lo{j}", lo[j - 1]))
            hi.append(reg(signed(_OUT_BITS), f"hi{j}", hi[j - 1]))
            hi_wins.append(reg(1, f"hi_wins{j}", hi_wins[j - 1]))

        dsp = self._cfg.pe_multiplier == "mult18x18d"   # the ECP5 build's explicit DSPs

        def lane_copy(name, value):
            """``value`` registered in a copy of the lane's own (:class:`ReplicaRegister`):
            the shift amounts select in every bit of a lane and the bounds feed its adder
            and compares, so one register per lane, beside it, rather than one for all
            eight lanes spread along a DSP row (an FPGA timing path, docs/fpga.md)."""
            return replica(m, name, value, ecp5=dsp)

        def pp(name, x, y):
            """Registered ``x * y`` (stage 1) on a :class:`PartialProduct`; the operands are
            at most 17 bits as signed values (``al``, ``ml`` unsigned 16, ``ah`` signed 16,
            ``mh`` unsigned 15), so they extend into the 18-bit ports without loss."""
            m.submodules[name] = unit = PartialProduct(dsp)
            m.d.comb += [unit.a.eq(x), unit.b.eq(y)]
            return unit.p

        def travel(name, bit, first, last_stage):
            """The 1-bit ``bit`` registered in stages ``first .. last_stage``; the last one."""
            for j in range(first, last_stage + 1):
                bit = reg(1, f"{name}_{j}", bit)
            return bit
        outs = []
        for c in range(cols):
            acc = row_in.data[c]
            # The lane's own copy of the multiplier, loaded beside `par` (stage 0): one
            # register for all eight lanes fed 32 DSP blocks along a row (an FPGA timing
            # path, docs/fpga.md, nineteenth round).
            mult = lane_copy(f"mult0_{c}", self.params.multiplier)
            ml, mh = mult[:lo_bits], mult[lo_bits:]
            al, ah = acc[:lo_bits], acc[lo_bits:].as_signed()
            ll = pp(f"pp_ll{c}", al, ml)[:2 * lo_bits]
            lh = pp(f"pp_lh{c}", al, mh)[:MULTIPLIER_BITS]
            hl = pp(f"pp_hl{c}", ah, ml)[:acc_bits].as_signed()
            hh = pp(f"pp_hh{c}", ah, mh)[:acc_bits + MULTIPLIER_BITS - 2 * lo_bits].as_signed()
            neg = reg(1, f"neg{c}", acc[-1])
            # ctz(acc) in two stages, byte by byte: here each byte's lowest 1 (an 8-bit
            # chain) and whether the byte is zero; stage 2 encodes the first non-zero byte's.
            # (One 32-bit chain from the stage-0 register was the 8x8 build's largest late
            # group in the requantiser, docs/fpga.md, nineteenth round.)
            n_bytes_acc = acc_bits // 8
            low = reg(acc_bits, f"low{c}",
                      Cat(*(_lowest_one(acc[8 * b:8 * b + 8]) for b in range(n_bytes_acc))))
            nzb = reg(n_bytes_acc, f"nzb{c}",
                      Cat(*(acc[8 * b:8 * b + 8].any() for b in range(n_bytes_acc))))
            # Stage 2: ll and hh side by side (their bits do not overlap); the two middle
            # products added; ctz(acc).
            tz_v = Cat(_encode_one_hot(low[8 * (n_bytes_acc - 1):]), Const(n_bytes_acc - 1, 2))
            for b in reversed(range(n_bytes_acc - 1)):
                tz_v = Mux(nzb[b], Cat(_encode_one_hot(low[8 * b:8 * b + 8]), Const(b, 2)), tz_v)
            tz = reg(range(acc_bits), f"ctz{c}_2", tz_v)
            lo_hi = reg(signed(p_bits), f"lo_hi{c}", Cat(ll, hh).as_signed())
            mid = reg(signed(acc_bits + 2), f"mid{c}", hl + lh)
            # Stage 3: p (the low 16 bits need no adder).
            tz = reg(range(acc_bits), f"ctz{c}_3", tz)
            prod = reg(signed(p_bits), f"prod{c}",
                       Cat(lo_hi[:lo_bits], lo_hi[lo_bits:] + mid))
            # Stage 4: the sticky test (p has a 1 below bit shift - 1); 2p shifted right by
            # 8 * (shift // 8), and per byte of 2p whether all its bits equal the sign.
            sticky = reg(1, f"sticky{c}", tz < thr)
            twice = Cat(Const(0, 1), prod).as_signed()
            n_bytes = len(twice) // 8
            sign = reg(1, f"sign{c}", twice[-1])
            byte_ok = reg(n_bytes, f"byte_ok{c}",
                          Cat(*(twice[8 * b:8 * b + 8] == twice[-1].replicate(8)
                                for b in range(n_bytes))))
            ext = Cat(twice, twice[-1].replicate(t_bits))   # sign-extended past the top byte
            coarse3 = lane_copy(f"coarse3_{c}", sh[2][3:])
            coarse4 = lane_copy(f"coarse4_{c}", sh[3][3:])
            fine5 = lane_copy(f"fine5_{c}", sh[4][:3])
            moved = reg(t_bits, f"moved{c}", Array([ext[8 * q:8 * q + t_bits]
                                                     for q in range(8)])[coarse3])
            # Stage 5: saturated to t_bits. The shifted value fits iff the bytes of 2p from
            # bit t_bits - 1 + 8 * (shift // 8) up are all sign: a byte's flag and an AND of
            # the flags above.
            first = (t_bits - 1) // 8          # 2: bits 16 .. 63 must equal the sign
            fits = Array([byte_ok[first + q:].all() if first + q < n_bytes else Const(1)
                          for q in range(8)])[coarse4]
            t_max = (1 << (t_bits - 1)) - 1
            t = reg(signed(t_bits), f"coarse{c}",
                    Mux(fits, moved, Mux(sign, -t_max - 1, t_max)))
            # Stage 6: t >> (shift % 8); it fits 10 bits iff bits 9 + k .. 16 of t all equal
            # its sign (no comparator behind the shift).
            k, t_sign = fine5, t[-1]
            same = [t[j] == t_sign for j in range(t_bits - 1)]
            fits10 = reg(1, f"fits10_{c}",
                         Array([Cat(*same[9 + q:]).all() if 9 + q < t_bits - 1 else Const(1)
                                for q in range(8)])[k])
            t_ext = Cat(t, t_sign.replicate(7))
            s10 = reg(10, f"s10_{c}", Array([t_ext[q:q + 10] for q in range(8)])[k])
            t_neg = reg(1, f"t_neg{c}", t_sign)
            # Stage 7: q saturated to 10 bits.
            q = reg(signed(10), f"narrow{c}", Mux(fits10, s10, Mux(t_neg, -sat, sat - 1)))
            # Stage 8: s = floor(q / 2) + inc plus the zero point in one adder, and beside it
            # the clamp decisions, each from two compares that inc selects between. When y
            # is kept, lo <= y <= hi, so its low 8 bits are y.
            z = last_reg - 1                 # the stage q, zp and the flags are read from (7)
            inc = q[0] & (~travel(f"neg{c}", neg, 2, z) | travel(f"sticky{c}", sticky, 5, z))
            half_q = q[1:].as_signed()
            zp_c = lane_copy(f"zp{z}_{c}", zp[z - 1]).as_signed()
            lo_zp_c = lane_copy(f"lo_zp{z}_{c}", lo_zp[z - 1]).as_signed()
            hi_zp_c = lane_copy(f"hi_zp{z}_{c}", hi_zp[z - 1]).as_signed()
            y = reg(signed(_OUT_BITS), f"shifted{c}", half_q + zp_c + inc)
            below = reg(1, f"below{c}", Mux(inc, half_q < lo_zp_c - 1, half_q < lo_zp_c))
            above = reg(1, f"above{c}", Mux(inc, half_q >= hi_zp_c, half_q > hi_zp_c))
            # Stage 9's value: activation clamp and int8 saturation, two selects.
            outs.append(Mux(hi_wins[last_reg] | above, hi[last_reg],
                            Mux(below, lo[last_reg], y)))

        # --- stage 9: the output queue, its head on `o` --------------------------------------
        # Not amaranth.lib.fifo.SyncFIFOBuffered (as the store's C FIFO): its registered output
        # would add a cycle, and LATENCY needs an arriving vector to bypass an empty queue.
        row = Signal(QuantRow(self._cfg))
        m.d.comb += [row.data[c].eq(outs[c]) for c in range(cols)]
        m.d.comb += row.last.eq(last[-1])
        arriving = valid[-1]
        depth = self.CREDITS   # the head holds one; the memory never more than CREDITS - 1
        m.submodules.queue = queue = Memory(shape=QuantRow(self._cfg), depth=depth, init=[])
        wp, rp = queue.write_port(), queue.read_port(domain="comb")
        wptr, rptr = Signal(range(depth)), Signal(range(depth))
        queued = Signal(range(depth + 1))      # vectors in the memory
        head = self.o.payload
        m.d.comb += [rp.addr.eq(rptr), wp.addr.eq(wptr), wp.data.eq(row)]
        refill = ~self.o.valid | self.o.ready   # the head is free after this cycle
        from_mem = refill & (queued != 0)
        bypass = refill & (queued == 0)          # the arriving vector goes straight to `o`
        m.d.comb += wp.en.eq(arriving & ~bypass)
        with m.If(refill):
            m.d.sync += self.o.valid.eq(from_mem | arriving)
            with m.If(from_mem):
                m.d.sync += head.eq(rp.data)
            with m.Else():
                m.d.sync += head.eq(row)
        with m.If(wp.en):
            m.d.sync += wptr.eq(Mux(wptr == depth - 1, 0, wptr + 1))
        with m.If(from_mem):
            m.d.sync += rptr.eq(Mux(rptr == depth - 1, 0, rptr + 1))
        m.d.sync += queued.eq(queued + wp.en - from_mem)

        # --- credits: vectors taken and not yet out of `o` -----------------------------------
        in_flight = Signal(range(self.CREDITS + 1))
        flight_next = Signal(range(self.CREDITS + 2))
        ready = Signal(init=1)
        m.d.comb += [flight_next.eq(in_flight + take - (self.o.valid & self.o.ready)),
                     self.i.ready.eq(ready)]
        m.d.sync += [in_flight.eq(flight_next), ready.eq(flight_next < self.CREDITS)]
        return m
