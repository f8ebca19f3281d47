"""Stream components against a scoreboard FIFO: the skid buffer, and the requantiser's
pipeline (:class:`RequantStreamHarness`).

The harness feeds :class:`~scanfuse.hw.skid.SkidBuffer` from a free producer that obeys the
valid/ready rule and drains it into a free consumer. A reference FIFO in the harness pushes
every beat accepted on ``i`` and pops one on every transfer on ``o``; the properties say that
the buffer holds exactly the beats of the reference (``o.valid`` iff the reference is not
empty), that the beat on ``o`` is the reference's oldest, and that the buffer never takes
more than it can hold. Together: no beat is lost, none is duplicated, order is kept. The
output obeys the valid/ready rule, and ``i.ready`` never waits on ``i.valid``.
"""

from amaranth.hdl import Assert, Cover, Elaboratable

from ...hw.skid import SkidBuffer
from .props import Internals, Past, RefQueue, any_seq, harness_module, stream_rules

__all__ = ["SkidHarness", "RequantStreamHarness"]


class SkidHarness(Elaboratable):
    """Scoreboard proof of a skid buffer of ``width``-bit beats.

    ``dut_class`` is the design under test (a subclass with a planted bug, in the tests).
    """

    #: Entries of the reference FIFO: the buffer's two registers and one more, so that an
    #: over-full buffer shows as a reference count of 3 instead of wrapping.
    DEPTH = 3

    def __init__(self, width: int = 4, dut_class=SkidBuffer):
        self.width = width
        self.dut_class = dut_class
        # The induction invariant reads the SkidBuffer's park register; other two-beat
        # buffers (StreamQueue) are checked by bounded model checking instead.
        self.invariant = issubclass(dut_class, SkidBuffer)

    def elaborate(self, platform):
        m = harness_module()
        dut = self.dut_class(self.width)
        internal = Internals(m, dut)
        past = Past(m)
        m.d.comb += [
            dut.i.valid.eq(any_seq(1)),
            dut.i.payload.eq(any_seq(self.width)),
            dut.o.ready.eq(any_seq(1)),
        ]
        stream_rules(m, past, dut.i, dut_drives=False, name="i")
        stream_rules(m, past, dut.o, dut_drives=True, name="o")

        # Reference FIFO: ref.head is the oldest beat.
        ref = RefQueue(m, self.width, self.DEPTH, "ref")
        count = ref.count
        push = dut.i.valid & dut.i.ready
        pop = dut.o.valid & dut.o.ready
        ref.connect(push, dut.i.payload, pop)

        m.d.comb += [
            Assert(count <= 2, "never holds more than two beats"),
            Assert(dut.o.valid == (count != 0), "o.valid iff a beat is held"),
            Assert(dut.i.ready == (count < 2), "i.ready iff there is room"),
        ]
        with m.If(dut.o.valid):
            m.d.comb += Assert(dut.o.payload == ref.head, "o carries the oldest beat")
        # Induction invariant: the skid register holds the second oldest beat.
        if self.invariant:
            with m.If(count == 2):
                m.d.comb += Assert(internal["skid"] == ref.entries[1],
                                   "skid holds the next beat")
        # i.ready equals a function of the held beats alone (count < 2 above), so it never
        # waits on this cycle's i.valid.
        m.d.comb += [
            Cover((count == 1) & pop & push, "a beat in and a beat out in one cycle"),
            Cover(past.valid & (past(count) == 2) & (count == 2), "full for two cycles"),
        ]
        return m


class RequantStreamHarness(Elaboratable):
    """Stream proof of the :class:`~scanfuse.hw.requant.Requantizer` pipeline (one lane).

    The parameters are held at the identity (multiplier 1, shift 0, zero point 0, no
    activation) and the accumulators kept inside the int8 range, so each output must equal its
    input; a reference FIFO then checks the stream as for the skid buffer: ``o.valid`` iff a
    vector is in flight, ``o`` carries the oldest one (data and ``last``), never more than
    ``LATENCY + 1`` in flight — no loss, no duplication, order kept. The arithmetic itself is
    checked bit-exactly against ``requant_ref`` by tests/hw/test_requant.py.
    """

    def __init__(self, dut_class=None):
        from ...hw.requant import Requantizer
        self.dut_class = dut_class or Requantizer

    def elaborate(self, platform):
        from amaranth.hdl import Assume, Cat

        from ...hw.params import AccelConfig
        from ...hw.requant import Activation
        m = harness_module()
        cfg = AccelConfig(rows=2, cols=1, axi_data_bits=32)
        dut = m.submodules.dut = self.dut_class(cfg)
        past = Past(m)
        depth = dut.LATENCY + 2
        m.d.comb += [
            dut.params.multiplier.eq(1), dut.params.shift.eq(0), dut.params.zero_point.eq(0),
            dut.params.mode.eq(Activation.NONE), dut.params.relu6_max.eq(0),
            dut.i.valid.eq(any_seq(1)),
            dut.i.payload.data[0].eq(any_seq(cfg.acc_bits)),
            dut.i.payload.last.eq(any_seq(1)),
            dut.o.ready.eq(any_seq(1)),
        ]
        acc = dut.i.payload.data[0]
        m.d.comb += Assume((acc >= -128) & (acc <= 127))
        stream_rules(m, past, dut.i, dut_drives=False, name="i")
        stream_rules(m, past, dut.o, dut_drives=True, name="o")
        ref = RefQueue(m, 9, depth, "ref")
        push = dut.i.valid & dut.i.ready
        pop = dut.o.valid & dut.o.ready
        ref.connect(push, Cat(acc[:8], dut.i.payload.last), pop)
        m.d.comb += [
            Assert(ref.count < depth, "never more than LATENCY + 1 vectors in flight"),
            Assert(~dut.o.valid | (ref.count != 0), "no vector out that did not come in"),
        ]
        out = Cat(dut.o.payload.data[0], dut.o.payload.last)
        with m.If(dut.o.valid):
            m.d.comb += Assert(out == ref.head, "o carries the oldest vector, unchanged")
        # Liveness, bounded: with the consumer ready, a vector in flight leaves within LATENCY.
        m.d.comb += [
            Cover(pop & (ref.count >= 3), "three vectors in flight, one leaving"),
            Cover(past.valid & past(dut.o.valid) & ~past(dut.o.ready) & pop,
                  "a stalled output then taken"),
        ]
        return m
