"""LaneFIFO: a first-word-fall-through FIFO cut into lanes, each with its own pointers.

The store path's C FIFO is 256 bits wide (eight 32-bit accumulators) and sits between the C
memory's block RAMs and the requantiser's eight lanes, both spread along rows of the die. As
one memory its write enable, write address and read address are single nets that reach all
64 LUT RAM cells over some 70 tiles: on the 8x8 ECP5 build they were among the latest
endpoints at 150 MHz (docs/fpga.md, nineteenth round). Here each lane is a memory of its own,
and each gets its own copies of the write flag and of both pointers
(:class:`~scanfuse.hw.replica.ReplicaRegister`), so each lane's cells can sit beside that
lane's block RAMs and requantiser lane, driven from registers beside them.

Writes are announced a cycle ahead: ``w_next`` high in cycle ``t`` means ``w_data`` holds a
word in cycle ``t + 1``, which is written at the end of that cycle (each lane's copy of the
flag is its write enable). The caller guarantees that no write arrives while the FIFO holds
``depth`` words (there is no ``w_rdy``): the store path counts the words it has asked for.
A word written at the end of cycle ``t + 1`` can be read (``r_rdy``, ``r_data``) from cycle
``t + 2``: the timing of :class:`amaranth.lib.fifo.SyncFIFO` with ``w_en`` in cycle ``t + 1``.
"""

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out
from amaranth.utils import exact_log2

from .replica import replica

__all__ = ["LaneFIFO"]


class LaneFIFO(wiring.Component):
    """A FIFO of ``lanes`` x ``lane_bits`` words, ``depth`` deep, one memory and one set of
    pointer copies per lane (see the module docstring).

    Parameters
    ----------
    lane_bits : int
        Bits per lane, 1 or more.
    lanes : int
        Lanes, 1 or more; lane ``l`` is bits ``l * lane_bits ..`` of the word.
    depth : int
        Words, a power of two, 2 or more (the pointers wrap without a compare).
    ecp5 : bool
        Build the pointer copies from ECP5 flip-flop primitives on a platform, so synthesis
        keeps them apart (:class:`~scanfuse.hw.replica.ReplicaRegister`).

    Members
    -------
    w_next : ``In(1)``
        A word is on ``w_data`` next cycle.
    w_data : ``In(lanes * lane_bits)``
    r_rdy : ``Out(1)``
        The FIFO holds a word (a flip-flop); ``r_data`` is the oldest.
    r_en : ``In(1)``
        Take the word on ``r_data`` (ignored while ``r_rdy`` is low).
    r_data : ``Out(lanes * lane_bits)``
        Straight from the lanes' LUT RAMs (no output register).
    level : ``Out(range(depth + 1))``
        Words held.

    Raises
    ------
    ValueError
        On a parameter out of range.
    """

    def __init__(self, lane_bits: int, lanes: int, depth: int, *, ecp5: bool = False):
        for name, value, low in (("lane_bits", lane_bits, 1), ("lanes", lanes, 1),
                                 ("depth", depth, 2)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, not {value!r}")
        if depth & (depth - 1):
            raise ValueError(f"depth must be a power of two, not {depth!r}")
        self._lane_bits, self._lanes, self._depth = lane_bits, lanes, depth
        self._ecp5 = bool(ecp5)
        super().__init__({
            "w_next": In(1), "w_data": In(lanes * lane_bits),
            "r_rdy": Out(1), "r_en": In(1), "r_data": Out(lanes * lane_bits),
            "level": Out(range(depth + 1)),
        })

    @property
    def depth(self) -> int:
        return self._depth

    def elaborate(self, platform):
        m = Module()
        lb, depth = self._lane_bits, self._depth
        ptr_bits = exact_log2(depth)
        w_cur = Signal()               # a word is on w_data this cycle (written at the edge)
        wptr, rptr = Signal(ptr_bits), Signal(ptr_bits)
        take = self.r_rdy & self.r_en
        wptr_next = Signal(ptr_bits)
        rptr_next = Signal(ptr_bits)
        level_next = Signal(range(depth + 1))
        m.d.comb += [wptr_next.eq(wptr + w_cur), rptr_next.eq(rptr + take),
                     level_next.eq(self.level + w_cur - take)]
        m.d.sync += [w_cur.eq(self.w_next), wptr.eq(wptr_next), rptr.eq(rptr_next),
                     self.level.eq(level_next), self.r_rdy.eq(level_next != 0)]

        for lane in range(self._lanes):
            # The lane's copies equal w_cur, wptr and rptr in every cycle.
            w_l = replica(m, f"w{lane}", self.w_next, ecp5=self._ecp5)
            wptr_l = replica(m, f"wptr{lane}", wptr_next, ecp5=self._ecp5)
            rptr_l = replica(m, f"rptr{lane}", rptr_next, ecp5=self._ecp5)
            m.submodules[f"mem{lane}"] = mem = Memory(shape=lb, depth=depth, init=[])
            wp = mem.write_port()
            rp = mem.read_port(domain="comb")
            bits = slice(lane * lb, (lane + 1) * lb)
            m.d.comb += [wp.en.eq(w_l), wp.addr.eq(wptr_l), wp.data.eq(self.w_data[bits]),
                         rp.addr.eq(rptr_l), self.r_data[bits].eq(rp.data)]
        return m
