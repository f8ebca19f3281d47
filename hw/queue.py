"""StreamQueue: a valid/ready queue whose words sit in LUT RAM, for wide payloads.

A :class:`~scanfuse.hw.skid.SkidBuffer` holds the beat on ``o`` in an output register whose
clock enable is the consumer's ``ready``: for a wide payload that is one decision fanning out
to every bit, and on the 8x8 ECP5 build two of them (the sequencer's 167-bit step slice, the
store path's write-beat slice, whose ``ready`` is the DMA's) were among the latest nets
(docs/fpga.md, nineteenth round). Here the words sit in a small memory (LUT RAM on an FPGA)
read asynchronously: the consumer loads ``o.payload`` into registers of its own under its own
enables, and the only wide enable is the memory's write enable, the producer's transfer.

``i.ready`` and ``o.valid`` are flip-flops (loaded with the next level's tests), so neither
side's decisions reach the other in the same cycle. With ``depth`` 2 it behaves exactly as a
:class:`~scanfuse.hw.skid.SkidBuffer`: a beat taken at an edge is on ``o`` after it, ``i.ready``
is low exactly while two beats are held, full throughput.
"""

from amaranth.hdl import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out
from amaranth.utils import exact_log2

__all__ = ["StreamQueue"]


class StreamQueue(wiring.Component):
    """First-word-fall-through queue of ``depth`` beats (see the module docstring).

    Parameters
    ----------
    shape : shape-castable
        Payload shape (an int width or a layout).
    depth : int
        Beats held at most: a power of two, 2 or more.

    Members
    -------
    i : ``In(stream.Signature(shape))``
    o : ``Out(stream.Signature(shape))``
        ``o.payload`` comes straight from the memory's read port (no output register).
    level : ``Out(range(depth + 1))``
        Beats held.

    Raises
    ------
    ValueError
        If ``depth`` is not a power of two of at least 2.
    """

    def __init__(self, shape, depth: int = 2):
        if isinstance(depth, bool) or not isinstance(depth, int) or depth < 2 \
                or depth & (depth - 1):
            raise ValueError(f"depth must be a power of two >= 2, not {depth!r}")
        self._shape, self._depth = shape, depth
        super().__init__({
            "i": In(stream.Signature(shape)),
            "o": Out(stream.Signature(shape)),
            "level": Out(range(depth + 1)),
        })

    def elaborate(self, platform):
        m = Module()
        depth = self._depth
        bits = exact_log2(depth)
        m.submodules.mem = mem = Memory(shape=self._shape, depth=depth, init=[])
        wp, rp = mem.write_port(), mem.read_port(domain="comb")
        wptr, rptr = Signal(bits), Signal(bits)
        room = Signal(init=1)
        put = self.i.valid & room
        get = self.o.valid & self.o.ready
        level_next = Signal(range(depth + 1))
        m.d.comb += [
            self.i.ready.eq(room),
            wp.en.eq(put), wp.addr.eq(wptr), wp.data.eq(self.i.payload),
            rp.addr.eq(rptr), self.o.payload.eq(rp.data),
            level_next.eq(self.level + put - get),
        ]
        m.d.sync += [wptr.eq(wptr + put), rptr.eq(rptr + get), self.level.eq(level_next),
                     room.eq(level_next != depth), self.o.valid.eq(level_next != 0)]
        return m
