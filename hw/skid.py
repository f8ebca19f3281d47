"""Register slice (skid buffer) for valid/ready streams.

Placed between two components, it cuts every combinational path between them: the payload
and ``valid`` leave from registers, and ``ready`` to the producer is a register too. It is
how the engine keeps the long ready chains of its store path (DMA write side, row packers,
requantiser, C reads) out of a single clock cycle on the FPGA (``docs/fpga.md``).
"""

from amaranth.hdl import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["SkidBuffer"]


class SkidBuffer(wiring.Component):
    """Two-entry register slice: full throughput, 1 cycle of latency, no combinational path
    from ``i`` to ``o`` or from ``o.ready`` to ``i.ready``.

    The output register holds the beat on ``o``; the skid register catches the one beat the
    producer may send in the cycle the consumer stalls (the producer sees ``ready`` one cycle
    late). ``i.ready`` is low exactly while the skid register is full. Beats leave in order,
    none is lost or duplicated.

    Parameters
    ----------
    shape : shape-castable
        Payload shape (an int width or a layout).

    Members
    -------
    i : ``In(stream.Signature(shape))``
    o : ``Out(stream.Signature(shape))``
    """

    def __init__(self, shape):
        self._shape = shape
        super().__init__({
            "i": In(stream.Signature(shape)),
            "o": Out(stream.Signature(shape)),
        })

    def elaborate(self, platform):
        m = Module()
        # The skid register follows the input while it is empty and holds from the cycle it
        # parks a beat: its enable is the flip-flop `skid_valid`, not the consumer's `ready`
        # (behind which sit the consumer's decisions: on the FPGA the step slice's 166 skid
        # enables were among the latest endpoints at every seed, docs/fpga.md, sixteenth
        # round). It is read only while full, so neither a reset nor the enable is needed.
        skid = Signal(self._shape, reset_less=True)
        skid_valid = Signal()
        m.d.comb += self.i.ready.eq(~skid_valid)
        with m.If(~skid_valid):
            m.d.sync += skid.eq(self.i.payload)
        with m.If(~self.o.valid | self.o.ready):
            # The output register is free (or being emptied): refill it, from the skid first.
            with m.If(skid_valid):
                m.d.sync += [self.o.payload.eq(skid), self.o.valid.eq(1), skid_valid.eq(0)]
            with m.Else():
                m.d.sync += [self.o.payload.eq(self.i.payload), self.o.valid.eq(self.i.valid)]
        with m.Elif(self.i.valid & ~skid_valid):
            # The consumer stalls but the producer had seen ready: park the beat (the skid
            # register takes it above).
            m.d.sync += skid_valid.eq(1)
        return m
