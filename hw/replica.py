"""ReplicaRegister: a register that synthesis keeps apart from its identical twins.

A value that fans out to many places far apart (a per-layer shift amount read by every lane of
the requantiser, say) reaches the farthest of them late on an FPGA: one flip-flop drives a net
spread over the die. Copies of the register, one per group of loads, each placed beside its
group, shorten that net; but Yosys merges flip-flops with the same inputs (``opt_merge``) and
keeps no copies, a ``keep`` attribute on the signal notwithstanding. On ECP5 this component
builds the register from ``TRELLIS_FF`` primitives, which ``opt_merge`` leaves alone, so each
instance stays a register of its own; elsewhere (simulation, Verilog export, other targets) it
is a plain register.
"""

from amaranth.hdl import ClockSignal, Instance, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["ReplicaRegister", "replica"]


class ReplicaRegister(wiring.Component):
    """``q`` is ``d`` one cycle late (or, with ``enable``, ``d`` of the latest edge with ``en``
    high): no reset (initial value 0), ``width`` bits.

    Parameters
    ----------
    width : int
        1..64 bits.
    ecp5 : bool
        Build it from ECP5 ``TRELLIS_FF`` primitives when elaborated for a platform (the
        caller's "this is the ECP5 build" flag, as the DSP instances use); otherwise, and
        always without a platform, a plain register.
    enable : bool
        Give the register a clock enable ``en`` (on ECP5 the flip-flops' ``CE`` pin).

    Members
    -------
    d : ``In(width)``
    en : ``In(1)``, only with ``enable``
    q : ``Out(width)``

    Raises
    ------
    ValueError
        If ``width`` is not an integer in 1..64.
    """

    def __init__(self, width: int, ecp5: bool = False, *, enable: bool = False):
        if isinstance(width, bool) or not isinstance(width, int) or not 1 <= width <= 64:
            raise ValueError(f"width must be an integer in 1..64, not {width!r}")
        if not isinstance(enable, bool):
            raise TypeError(f"enable must be a bool, not {enable!r}")
        self._ecp5 = bool(ecp5)
        self._enable = enable
        super().__init__({"d": In(width), "q": Out(width),
                          **({"en": In(1)} if enable else {})})

    def elaborate(self, platform):
        m = Module()
        if platform is None or not self._ecp5:
            q = Signal.like(self.q, name="q_r", reset_less=True)
            with m.If(self.en if self._enable else 1):
                m.d.sync += q.eq(self.d)
            m.d.comb += self.q.eq(q)
            return m
        for i in range(len(self.d)):
            m.submodules[f"ff{i}"] = Instance(
                "TRELLIS_FF", p_GSR="DISABLED", p_CEMUX="CE" if self._enable else "1",
                p_CLKMUX="CLK", p_LSRMUX="LSR", p_REGSET="RESET", p_SRMODE="LSR_OVER_CE",
                i_CLK=ClockSignal("sync"), i_LSR=0, i_CE=self.en if self._enable else 1,
                i_DI=self.d[i], o_Q=self.q[i])
        return m


def replica(m: Module, name: str, value, *, ecp5: bool, enable=None):
    """``value`` registered in a :class:`ReplicaRegister` added to ``m`` as submodule ``name``
    (loading at edges with ``enable`` high, every edge when ``None``); returns its ``q``. The
    one way the engine makes a copy of a register beside the loads it serves."""
    m.submodules[name] = reg = ReplicaRegister(len(value), ecp5=ecp5,
                                               enable=enable is not None)
    m.d.comb += reg.d.eq(value)
    if enable is not None:
        m.d.comb += reg.en.eq(enable)
    return reg.q
