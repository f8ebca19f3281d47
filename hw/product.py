"""WideProduct: an unsigned address product over pipelined multipliers.

The control path's products (a tile's row index times a DRAM row stride, a tile's rows times
its words per row) are computed once per transfer or per descriptor, in a cycle of their own.
Left to Yosys on ECP5 each becomes a bare ``MULT18X18D`` with no register inside, so the
path from the operand registers through the block's multiply to the product register holds
the multiply (about 4 ns) and two long routes to and from a DSP row: the 8x8 engine's
critical path in some builds (``docs/fpga.md``, tenth round). Here the operand is split into
17-bit chunks, each multiplied on a registered ``MULT18X18D``
(:class:`~scanfuse.hw.multiplier.ECP5Mult18x18D`, the ECP5 build's multiplier kind), and the
chunks' products are summed in a register of their own when there is more than one. With the
``"inferred"`` kind (simulation, Verilog export) it is one register loaded with ``a * b``
(latency 1), as before.

The pipeline runs every cycle (no enable): ``p`` is the product of the ``a`` and ``b`` that were
on the inputs :attr:`WideProduct.latency` cycles before, so a user holds its operands for that
many cycles and then reads ``p``.
"""

from amaranth.hdl import Module, Signal, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .multiplier import make_multiplier, multiplier_latency
from .params import PE_MULTIPLIER_KINDS

__all__ = ["WideProduct", "CHUNK_BITS"]

#: Bits of ``b`` per multiplier (an unsigned 17-bit value fits a signed 18-bit port).
CHUNK_BITS = 17


class WideProduct(wiring.Component):
    """``p = (a * b) mod 2**p_bits``, unsigned, ``latency`` cycles after ``a`` and ``b``.

    Parameters
    ----------
    kind : str
        Multiplier kind (:data:`scanfuse.hw.params.PE_MULTIPLIER_KINDS`).
    a_bits : int, 1..17
        Width of ``a`` (one multiplier port).
    b_bits, p_bits : int, >= 1
        Widths of ``b`` and of the product kept. Chunks of ``b`` at or above bit ``p_bits``
        are not multiplied (they cannot reach ``p``).

    Members
    -------
    a : ``In(a_bits)``, b : ``In(b_bits)``
    p : ``Out(p_bits)``

    Attributes
    ----------
    latency : int
        1 with the ``"inferred"`` kind; else the multiplier's latency, plus 1 when the chunks'
        products are summed.
    chunks : int
        Multipliers used (0 with the ``"inferred"`` kind: one ``*``).
    """

    def __init__(self, kind: str, a_bits: int, b_bits: int, p_bits: int):
        for name, value in (("a_bits", a_bits), ("b_bits", b_bits), ("p_bits", p_bits)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, not {value!r}")
        if a_bits > CHUNK_BITS:
            raise ValueError(f"a_bits must be at most {CHUNK_BITS}, not {a_bits}")
        if kind not in PE_MULTIPLIER_KINDS:
            raise ValueError(f"kind must be one of {', '.join(PE_MULTIPLIER_KINDS)}, "
                             f"not {kind!r}")
        self._kind = kind
        if kind == "inferred":
            self.chunks, self.latency = 0, 1
        else:
            self.chunks = -(-min(b_bits, p_bits) // CHUNK_BITS)
            self.latency = multiplier_latency(kind) + (1 if self.chunks > 1 else 0)
        self._a_bits, self._b_bits, self._p_bits = a_bits, b_bits, p_bits
        super().__init__({
            "a": In(unsigned(a_bits)),
            "b": In(unsigned(b_bits)),
            "p": Out(unsigned(p_bits)),
        })

    def elaborate(self, platform):
        m = Module()
        if self.chunks == 0:
            p = Signal(self._p_bits, reset_less=True)
            m.d.sync += p.eq(self.a * self.b)
            m.d.comb += self.p.eq(p)
            return m
        parts = []
        for i in range(self.chunks):
            m.submodules[f"mul{i}"] = mul = make_multiplier(self._kind, CHUNK_BITS + 1)
            chunk = self.b[i * CHUNK_BITS:(i + 1) * CHUNK_BITS]
            m.d.comb += [mul.a.eq(self.a), mul.b.eq(chunk), mul.en.eq(1)]
            # Both operands are non-negative as signed 18-bit values, so is the product.
            parts.append(mul.p.as_unsigned() << (i * CHUNK_BITS))
        if self.chunks == 1:
            m.d.comb += self.p.eq(parts[0])
        else:
            total = Signal(self._p_bits, reset_less=True)
            acc = parts[0]
            for part in parts[1:]:
                acc = acc + part
            m.d.sync += total.eq(acc)
            m.d.comb += self.p.eq(total)
        return m
