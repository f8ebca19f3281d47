"""On-chip self-test sequencer: drives the engine's AXI4-Lite port from a fixed script.

The self-test bitstream has no CPU. :class:`SelfTestController` plays the driver's part from a
short script of register accesses baked into the gateware (:class:`SelfTestImage`): program the
tile-program address and length, start, wait for STATUS.DONE, check the error code and the DRAM
traffic counters. Then it reads the result region of the on-chip "DRAM" back through an AXI4
read master and compares a checksum of it (:func:`checksum`) with the value computed in Python
from the golden model. The outcome drives LEDs (see ``docs/fpga.md``).
"""

from dataclasses import dataclass

from amaranth.hdl import Array, Cat, Module, Mux, Signal
from amaranth.lib import data, enum, wiring
from amaranth.lib.wiring import Out
from amaranth.utils import exact_log2

from ..axi import AXI4LiteSignature, AXI4Signature, BOUNDARY_BYTES, Burst, Resp

__all__ = ["ScriptOp", "Step", "SelfTestImage", "checksum", "SelfTestController"]

#: AXI4-Lite address width of the engine's register block (``Engine.ctrl``).
LITE_ADDR_BITS = 12
#: Beats per checksum read burst.
CHECK_BURST = 16


class ScriptOp(enum.Enum, shape=2):
    """What one script step does on the AXI4-Lite port."""
    WRITE = 0   #: write ``value`` to ``addr`` (all four strobes)
    WAIT = 1    #: read ``addr`` until ``data & mask == value``; fails only by timeout
    CHECK = 2   #: read ``addr`` once; fail unless ``data & mask == value``


@dataclass(frozen=True)
class Step:
    """One script step. ``note`` is for people (reports, docs), not for the hardware."""
    op: ScriptOp
    addr: int
    value: int
    mask: int = 0xFFFF_FFFF
    note: str = ""


@dataclass(frozen=True)
class SelfTestImage:
    """Everything a self-test bitstream carries.

    Attributes
    ----------
    memory : bytes
        Initial "DRAM" contents from address 0 (tile program, operands, zeroed outputs).
    steps : tuple of Step
        The register script, run in order after reset.
    check_addr, check_bytes : int
        Result region compared after the script: beat-aligned start, whole beats.
    checksum : int
        Expected :func:`checksum` of that region after a correct run.
    description : str
        One line for reports: what the engine computes in this test.
    """
    memory: bytes
    steps: tuple[Step, ...]
    check_addr: int
    check_bytes: int
    checksum: int
    description: str


def checksum(region: bytes, data_bits: int) -> int:
    """Rotate-and-xor checksum of ``region`` read as little-endian ``data_bits``-bit words:
    ``c = rotl(c, 1) ^ word`` from ``c = 0``. Order-sensitive, so swapped words are caught."""
    nb = data_bits // 8
    if len(region) % nb:
        raise ValueError(f"region of {len(region)} bytes is not whole {nb}-byte beats")
    mask = (1 << data_bits) - 1
    c = 0
    for i in range(0, len(region), nb):
        c = ((c << 1) | (c >> (data_bits - 1))) & mask
        c ^= int.from_bytes(region[i:i + nb], "little")
    return c


class _StepLayout(data.StructLayout):
    def __init__(self):
        super().__init__({"op": ScriptOp, "addr": LITE_ADDR_BITS, "mask": 32, "value": 32})


class SelfTestController(wiring.Component):
    """Runs a :class:`SelfTestImage` script on an AXI4-Lite master, then checks a memory region.

    Starts on its own after reset and runs once. A step that waits longer than
    ``timeout_cycles`` (a hung engine or bus) fails the test.

    Parameters
    ----------
    image : SelfTestImage
    addr_width, data_width : int
        Width of the AXI4 read master (the memory's bus).
    timeout_cycles : int
        Cycles one step (or the whole checksum phase) may take, >= 16.

    Members
    -------
    lite : Out(AXI4LiteSignature(12, 32))
        Register master, to the engine's ``ctrl``.
    mem : Out(AXI4Signature(addr_width, data_width, 1))
        Read master for the checksum phase (the write channel is never used).
    mem_select : Out(1)
        High from the start of the checksum phase on: route the memory to ``mem``. The engine is
        done by then, so it has no burst outstanding.
    running, passed, failed : Out(1)
        Exactly one is high: the test runs, or ended well, or ended badly.
    step : Out(range(len(steps) + 1))
        Index of the step running, or the one that failed; ``len(steps)`` for the checksum phase.
    timed_out : Out(1)
        The failure was a timeout.
    """

    def __init__(self, image: SelfTestImage, addr_width: int, data_width: int, *,
                 timeout_cycles: int = 1 << 27):
        if not image.steps:
            raise ValueError("a self-test needs at least one script step")
        nb = data_width // 8
        if image.check_addr % nb or image.check_bytes % nb or image.check_bytes <= 0:
            raise ValueError(f"the checked region ({image.check_addr:#x}, {image.check_bytes} "
                             f"bytes) must be whole, aligned {nb}-byte beats")
        if not isinstance(timeout_cycles, int) or timeout_cycles < 16:
            raise ValueError(f"timeout_cycles must be an integer >= 16, not {timeout_cycles!r}")
        for s in image.steps:
            if not 0 <= s.addr < 1 << LITE_ADDR_BITS or s.addr % 4:
                raise ValueError(f"step address {s.addr:#x} is not a register word address")
        self._image = image
        self._timeout = timeout_cycles
        super().__init__({
            "lite": Out(AXI4LiteSignature(LITE_ADDR_BITS, 32)),
            "mem": Out(AXI4Signature(addr_width, data_width, 1)),
            "mem_select": Out(1),
            "running": Out(1, init=1),
            "passed": Out(1),
            "failed": Out(1),
            "step": Out(range(len(image.steps) + 1)),
            "timed_out": Out(1),
        })

    @property
    def image(self) -> SelfTestImage:
        return self._image

    def elaborate(self, platform):
        m = Module()
        image = self._image
        lite, mem = self.lite, self.mem
        # The checksum read takes every R beat as it comes: `rready` is a constant, so the
        # memory's R register enables do not wait on this FSM's state (an FPGA timing path,
        # docs/fpga.md, sixteenth round). Beats come only from this controller's own reads
        # (CHECK_AR); one still in flight when a failure ends the run is dropped, harmlessly.
        m.d.comb += mem.rready.eq(1)
        n_steps = len(image.steps)
        data_width = mem.signature.data_width
        nb = data_width // 8
        lane_bits = exact_log2(nb)

        layout = _StepLayout()
        rom = Array(layout.const({"op": s.op, "addr": s.addr, "mask": s.mask,
                                  "value": s.value}).as_value() for s in image.steps)
        cur = Signal(layout)
        m.d.comb += cur.as_value().eq(rom[self.step])

        timer = Signal(range(self._timeout + 1))
        tick_timer = Signal()
        with m.If(tick_timer):
            m.d.sync += timer.eq(timer + 1)
        # The timeout is seen a cycle after the timer reaches it (a register, not the wide
        # compare in front of the state decisions: an FPGA timing path, docs/fpga.md).
        expired = Signal()
        m.d.sync += expired.eq(timer == self._timeout)
        # A response is judged in the cycle after it arrives (WROTE, GOT), from registers.
        resp_ok = Signal()
        poll = Signal()

        def fail(timeout=False):
            m.d.sync += [self.running.eq(0), self.failed.eq(1), self.timed_out.eq(timeout)]

        def next_step():
            m.d.sync += [self.step.eq(self.step + 1), timer.eq(0)]

        # Fixed Lite attributes: unprivileged data access, whole-word writes.
        m.d.comb += [lite.awprot.eq(0), lite.arprot.eq(0), lite.wstrb.eq(0b1111),
                     lite.awaddr.eq(cur.addr), lite.araddr.eq(cur.addr), lite.wdata.eq(cur.value)]

        # Checksum read master: INCR bursts of full beats, never across 4 KiB (region and
        # bursts are beat-aligned and a burst stops at the boundary).
        total_beats = image.check_bytes // nb
        c_addr = Signal(mem.signature.addr_width, init=image.check_addr)
        c_left = Signal(range(total_beats + 1), init=total_beats)   # beats not yet requested
        c_recv = Signal(range(total_beats + 1), init=total_beats)   # beats not yet received
        c_sum = Signal(data_width)
        c_len = Signal(range(CHECK_BURST + 1))
        to_boundary = Signal(range(BOUNDARY_BYTES // nb + 1))
        m.d.comb += [
            mem.arid.eq(0), mem.arsize.eq(lane_bits), mem.arburst.eq(Burst.INCR),
            mem.arlock.eq(0), mem.arcache.eq(0b0011), mem.arprot.eq(0),
            mem.awid.eq(0), mem.awsize.eq(lane_bits), mem.awburst.eq(Burst.INCR),
            mem.awlock.eq(0), mem.awcache.eq(0), mem.awprot.eq(0),
            mem.awvalid.eq(0), mem.wvalid.eq(0), mem.bready.eq(1),
            to_boundary.eq((BOUNDARY_BYTES - c_addr[:12]) >> lane_bits),
        ]
        c_len_left = Signal.like(c_len)
        m.d.comb += c_len_left.eq(Mux(c_left < CHECK_BURST, c_left, CHECK_BURST))
        m.d.comb += c_len.eq(Mux(to_boundary < c_len_left, to_boundary, c_len_left))
        # A burst is planned in one cycle (its length and whether any is left, into
        # registers) and issued in the next: the boundary subtraction, the two minimums and
        # the address addition are not one path (it was one of the 8x8 build's longest,
        # docs/fpga.md, thirteenth round). The check reads a few KiB once, so the extra
        # cycle per burst costs nothing that matters.
        c_len_r = Signal.like(c_len)
        c_more = Signal()            # c_left != 0, as planned
        c_planned = Signal()

        with m.FSM():
            with m.State("ISSUE"):
                m.d.comb += tick_timer.eq(1)
                with m.If(self.step == n_steps):
                    m.d.sync += [self.mem_select.eq(1), timer.eq(0)]
                    m.next = "CHECK_AR"
                with m.Elif(cur.op == ScriptOp.WRITE):
                    m.d.sync += [lite.awvalid.eq(1), lite.wvalid.eq(1)]
                    m.next = "WRITE"
                with m.Else():
                    m.d.sync += lite.arvalid.eq(1)
                    m.next = "READ"

            with m.State("WRITE"):
                m.d.comb += [tick_timer.eq(1), lite.bready.eq(~lite.awvalid & ~lite.wvalid)]
                with m.If(lite.awready):
                    m.d.sync += lite.awvalid.eq(0)
                with m.If(lite.wready):
                    m.d.sync += lite.wvalid.eq(0)
                with m.If(expired):
                    fail(timeout=True)
                    m.next = "END"
                with m.Elif(lite.bvalid & lite.bready):
                    m.d.sync += resp_ok.eq(lite.bresp == Resp.OKAY)
                    m.next = "WROTE"

            with m.State("WROTE"):
                with m.If(resp_ok):
                    next_step()
                    m.next = "ISSUE"
                with m.Else():
                    fail()
                    m.next = "END"

            with m.State("READ"):
                m.d.comb += [tick_timer.eq(1), lite.rready.eq(~lite.arvalid)]
                with m.If(lite.arready):
                    m.d.sync += lite.arvalid.eq(0)
                match = Signal()
                m.d.comb += match.eq((lite.rresp == Resp.OKAY) &
                                     ((lite.rdata & cur.mask) == cur.value))
                with m.If(expired):
                    fail(timeout=True)
                    m.next = "END"
                with m.Elif(lite.rvalid & lite.rready):
                    m.d.sync += [resp_ok.eq(match), poll.eq(cur.op == ScriptOp.WAIT)]
                    m.next = "GOT"

            with m.State("GOT"):
                m.d.comb += tick_timer.eq(1)
                with m.If(resp_ok):
                    next_step()
                    m.next = "ISSUE"
                with m.Elif(poll):
                    m.next = "ISSUE"              # poll again; the timer keeps running
                with m.Else():
                    fail()
                    m.next = "END"

            with m.State("CHECK_AR"):
                m.d.comb += tick_timer.eq(1)
                with m.If(mem.arready):
                    m.d.sync += mem.arvalid.eq(0)
                with m.If(~c_planned):
                    m.d.sync += [c_len_r.eq(c_len), c_more.eq(c_left != 0), c_planned.eq(1)]
                with m.Elif(c_more & (~mem.arvalid | mem.arready)):
                    m.d.sync += [
                        mem.arvalid.eq(1), mem.araddr.eq(c_addr), mem.arlen.eq(c_len_r - 1),
                        c_addr.eq(c_addr + (c_len_r << lane_bits)), c_left.eq(c_left - c_len_r),
                        c_planned.eq(0),
                    ]
                with m.If(mem.rvalid):
                    rotated = Cat(c_sum[-1], c_sum[:-1])
                    m.d.sync += [c_sum.eq(rotated ^ mem.rdata), c_recv.eq(c_recv - 1)]
                    with m.If(mem.rresp != Resp.OKAY):
                        fail()
                        m.next = "END"
                    with m.Elif(c_recv == 1):
                        m.next = "COMPARE"
                with m.If(expired):
                    fail(timeout=True)
                    m.next = "END"

            with m.State("COMPARE"):
                with m.If(c_sum == image.checksum):
                    m.d.sync += [self.running.eq(0), self.passed.eq(1)]
                with m.Else():
                    fail()
                m.next = "END"

            with m.State("END"):
                m.d.sync += [lite.awvalid.eq(0), lite.wvalid.eq(0), lite.arvalid.eq(0),
                             mem.arvalid.eq(0)]

        return m
