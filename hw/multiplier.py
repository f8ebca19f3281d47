"""The PE array's multipliers: one pipelined signed multiplier per PE, chosen by
:attr:`AccelConfig.pe_multiplier <scanfuse.hw.params.AccelConfig.pe_multiplier>`.

Every kind has the same ports and a fixed :attr:`latency`; the PE array delays its control
pipeline by that many cycles, so the kinds are interchangeable bit for bit (only the cycle
at which results appear moves, by ``latency - 1``).

``"inferred"`` (:class:`InferredMultiplier`, the default; simulation, Verilog export)
    ``p`` is a register loaded with ``a * b`` (latency 1). Synthesis tools infer whatever
    multiplier they like; Yosys on ECP5 maps it to a bare ``MULT18X18D`` with every ``REG_*``
    parameter ``"NONE"`` plus a fabric register (Yosys ``techlibs/ecp5/dsp_map_18x18.v``), so
    the DSP's multiply delay and the route out of it fall into one cycle.

``"mult18x18d"`` (:class:`ECP5Mult18x18D`, the ECP5 FPGA build)
    An explicit Lattice ECP5 ``MULT18X18D`` with its input registers (``REG_INPUTA_CLK``,
    ``REG_INPUTB_CLK``) and output register (``REG_OUTPUT_CLK``) in use, followed by one fabric
    register on the product (latency 3). nextpnr times the DSP's internal registers when the
    ``REG_*`` parameters are set, so every path into, through and out of the block is one
    register stage. Elaborated with a platform it is the primitive; without one (Amaranth
    simulation, ``verilog.convert`` without a platform) it is a behavioural model with the same
    registers, enables and latency.

All registers of a multiplier load only in cycles with ``en`` high (the PE array, which never
freezes, ties it high), and none is reset (a product is only used ``latency`` enabled cycles
after valid operands; the PE array's control pipeline says which).
"""

from amaranth.hdl import Cat, ClockSignal, Const, Instance, Module, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .params import PE_MULTIPLIER_KINDS

__all__ = ["InferredMultiplier", "ECP5Mult18x18D", "make_multiplier", "multiplier_latency",
           "dsp_operand_shift"]

#: The ``MULT18X18D`` parameters of :class:`ECP5Mult18x18D` (all on clock CLK0, enable CE0,
#: reset RST0 tied low). Checked against the synthesised netlist by the FPGA tests.
MULT18X18D_PARAMS = {
    "REG_INPUTA_CLK": "CLK0", "REG_INPUTA_CE": "CE0", "REG_INPUTA_RST": "RST0",
    "REG_INPUTB_CLK": "CLK0", "REG_INPUTB_CE": "CE0", "REG_INPUTB_RST": "RST0",
    "REG_INPUTC_CLK": "NONE", "REG_PIPELINE_CLK": "NONE",
    "REG_OUTPUT_CLK": "CLK0", "REG_OUTPUT_CE": "CE0", "REG_OUTPUT_RST": "RST0",
    "CLK0_DIV": "ENABLED", "HIGHSPEED_CLK": "NONE", "GSR": "DISABLED",
    "CAS_MATCH_REG": "FALSE", "SOURCEB_MODE": "B_SHIFT", "MULT_BYPASS": "DISABLED",
    "RESETMODE": "SYNC",
}


def dsp_operand_shift(operand_bits: int) -> int:
    """Bits an ``operand_bits``-bit operand is shifted left on a ``MULT18X18D`` 18-bit port
    (``18 - operand_bits``): the operand sits in the port's top bits, the low bits are the
    constant 0, and the product is bits ``2 * shift .. 2 * shift + 2 * operand_bits - 1`` of P."""
    return 18 - operand_bits


def _signature(operand_bits: int) -> dict:
    return {
        "a": In(signed(operand_bits)),
        "b": In(signed(operand_bits)),
        "en": In(1),
        "p": Out(signed(2 * operand_bits)),
    }


class _Multiplier(wiring.Component):
    """Common constructor: ``operand_bits`` in 1..18 (a ``MULT18X18D`` operand)."""

    #: Cycles from ``a``/``b`` (sampled at a clock edge with ``en`` high) to ``p``, counting
    #: only cycles with ``en`` high.
    latency: int

    def __init__(self, operand_bits: int):
        if not isinstance(operand_bits, int) or not 1 <= operand_bits <= 18:
            raise ValueError(f"operand_bits must be an integer in 1..18, not {operand_bits!r}")
        self._operand_bits = operand_bits
        super().__init__(_signature(operand_bits))


class InferredMultiplier(_Multiplier):
    """``p`` <= ``a * b`` when ``en`` (latency 1); the tools choose the multiplier.

    Members
    -------
    a, b : ``In(signed(operand_bits))``
    en : ``In(1)``
    p : ``Out(signed(2 * operand_bits))``
    """

    latency = 1

    def elaborate(self, platform):
        m = Module()
        p = Signal.like(self.p, name="p_q", reset_less=True)   # datapath: no reset fan-out
        m.d.comb += self.p.eq(p)
        with m.If(self.en):
            m.d.sync += p.eq(self.a * self.b)
        return m


class ECP5Mult18x18D(_Multiplier):
    """Registered ECP5 ``MULT18X18D`` (input and output registers) + a fabric product register
    (latency 3). Same members as :class:`InferredMultiplier`.

    Each operand enters its 18-bit port shifted to the top bits (:func:`dsp_operand_shift`),
    so the low port bits are constants (no routes) and the sign needs no extension wires; the
    product is read from the matching P bits. With ``platform is None`` the behavioural model
    on the same port bits: registers ``a_q``, ``b_q`` (the DSP's input registers), ``p36`` (its
    output register) and ``p`` (the fabric register), all enabled by ``en``, exactly the
    primitive's pipeline with the parameters :data:`MULT18X18D_PARAMS`.
    """

    latency = 3

    def elaborate(self, platform):
        m = Module()
        n = self._operand_bits
        pw = 2 * n
        shift = dsp_operand_shift(n)
        # Operands placed in the TOP bits of the 18-bit ports (`a << shift`, low bits 0), signed
        # multiply: the product is `a * b << 2 * shift`, so P(2*shift) .. P(2*shift+pw-1) is it.
        # Sign-extending into A(n)..A17 instead would make the two sign bits drive 2*(18-n)
        # more DSP pins through the fabric (1,280 routes into the DSP rows at 8x8); constant
        # A/B pins cost no route (nextpnr's ECP5 packer sets a constant on a MULT18X18D data
        # input in the bitstream, ecp5/pack.cc set_net_constant), and unused P pins none.
        a18 = Signal(signed(18))
        b18 = Signal(signed(18))
        p36 = Signal(signed(36), reset_less=True)   # the DSP's output register
        m.d.comb += [a18.eq(Cat(Const(0, shift), self.a)), b18.eq(Cat(Const(0, shift), self.b))]
        # No register of the pipeline is reset (the primitive's RST0 is tied low): the
        # datapath stays off the reset net, whose fan-out congested the 8x8 engine's routing.
        if platform is None:
            # The primitive's pipeline on the same port bits: input registers, 18 x 18 signed
            # multiply into the output register.
            a_q = Signal(signed(18), reset_less=True)
            b_q = Signal(signed(18), reset_less=True)
            with m.If(self.en):
                m.d.sync += [a_q.eq(a18), b_q.eq(b18), p36.eq(a_q * b_q)]
        else:
            p_raw = Signal(36)
            m.d.comb += p36.eq(p_raw)
            ports = {}
            for i in range(18):
                ports[f"i_A{i}"] = a18[i]
                ports[f"i_B{i}"] = b18[i]
                ports[f"i_C{i}"] = 0
            for i in range(2 * shift, 2 * shift + pw):
                ports[f"o_P{i}"] = p_raw[i]
            # Only the clock, enable and reset the registers use are connected. nextpnr routes
            # a constant on a MULT18X18D clock/enable/reset/sign/source pin through the fabric
            # from one constant driver (ecp5/pack.cc, set_net_constant), so tying the unused
            # CLK1-3, CE1-3 and RST1-3 low (as this did) gave that net 9 sinks per PE: 576
            # fabric routes into the DSP rows at 8x8. Unconnected, they keep the bitstream's
            # default, as in Yosys's own mapping (dsp_map_18x18.v connects none of them).
            ports.update({
                "i_SIGNEDA": 1, "i_SIGNEDB": 1, "i_SOURCEA": 0, "i_SOURCEB": 0,
                "i_CLK0": ClockSignal("sync"), "i_CE0": self.en, "i_RST0": 0,
            })
            m.submodules.dsp = Instance("MULT18X18D",
                                        **{f"p_{k}": v for k, v in MULT18X18D_PARAMS.items()},
                                        **ports)
        p_dsp = Signal(signed(pw))
        m.d.comb += p_dsp.eq(p36[2 * shift:2 * shift + pw])
        p = Signal.like(self.p, name="p_q", reset_less=True)
        m.d.comb += self.p.eq(p)
        with m.If(self.en):
            m.d.sync += p.eq(p_dsp)
        return m


_KINDS = {"inferred": InferredMultiplier, "mult18x18d": ECP5Mult18x18D}
assert tuple(_KINDS) == PE_MULTIPLIER_KINDS


def make_multiplier(kind: str, operand_bits: int) -> _Multiplier:
    """A multiplier of ``kind`` (one of :data:`scanfuse.hw.params.PE_MULTIPLIER_KINDS`)."""
    try:
        return _KINDS[kind](operand_bits)
    except KeyError:
        raise ValueError(f"pe_multiplier must be one of {', '.join(PE_MULTIPLIER_KINDS)}, "
                         f"not {kind!r}") from None


def multiplier_latency(kind: str) -> int:
    """:attr:`latency` of the multipliers of ``kind``."""
    return _KINDS[kind].latency
