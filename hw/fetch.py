"""DescriptorFetch: reads one layer descriptor from DRAM and checks it.

A request carries the descriptor's byte address. The fetch offers one DMA read of
``LayerDescriptor(cfg).size_bytes`` bytes (a single row) in the cycle the request arrives,
collects the ``beats`` beats into its descriptor register, runs the
:class:`~scanfuse.hw.program.DescriptorChecker` on it and offers the verdict on ``result``:
:attr:`DescriptorError.NONE` or the first rule broken. ``desc`` holds the fetched bits from the
verdict until the next request (the sequencer executes the layer from this register).

Cycles: the command is offered with the request; beats are taken as they come, each written
into the descriptor register the cycle after (from a register of its own, so the register's
word enables start at flip-flops beside it, not at the DMA's read handshake: an FPGA timing
path, ``docs/fpga.md``); the verdict is offered the checker's latency (``checker_latency``)
cycles after the second cycle following the last beat (in the checker's ``done`` cycle) and
held until taken.
"""

from amaranth.hdl import Const, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .dma import DmaBeat, DmaCommand
from .params import AccelConfig
from .program import DescriptorChecker, DescriptorError, LayerDescriptor
from .replica import replica

__all__ = ["DescriptorFetch"]


class DescriptorFetch(wiring.Component):
    """Fetch and check one descriptor per request (see the module docstring).

    Parameters
    ----------
    cfg : AccelConfig
        Must pass :meth:`AccelConfig.check_engine`.

    Members
    -------
    req : ``In(stream.Signature(cfg.addr_bits))``
        Byte address of a descriptor; taken together with the DMA command.
    cmd : ``Out(stream.Signature(DmaCommand(cfg)))``
    rd : ``In(stream.Signature(DmaBeat(cfg)))``
        The descriptor's beats; ready only while they are expected.
    reading : ``Out(1)``
        The fetch owns the DMA's read beats (its command was accepted, its last beat not yet in).
    result : ``Out(stream.Signature(DescriptorError))``
        The checker's verdict, one per request.
    desc : ``Out(LayerDescriptor(cfg))``
        The fetched descriptor: valid with ``result`` and held until the next request.
    """

    def __init__(self, cfg: AccelConfig):
        if not isinstance(cfg, AccelConfig):
            raise TypeError(f"cfg must be an AccelConfig, not {cfg!r}")
        cfg.check_engine()
        self._cfg = cfg
        self._layout = LayerDescriptor(cfg)
        #: The descriptor checker's latency (cycles from CHECK to its verdict).
        self.checker_latency = DescriptorChecker.latency_for(cfg)
        super().__init__({
            "req": In(stream.Signature(cfg.addr_bits)),
            "cmd": Out(stream.Signature(DmaCommand(cfg))),
            "rd": In(stream.Signature(DmaBeat(cfg))),
            "reading": Out(1),
            "result": Out(stream.Signature(DescriptorError)),
            "desc": Out(self._layout),
        })

    def elaborate(self, platform):
        m = Module()
        cfg, layout = self._cfg, self._layout
        m.submodules.checker = checker = DescriptorChecker(cfg)
        bits = Signal(layout.size)
        beat_idx = Signal(range(layout.beats + 1))
        verdict = Signal(DescriptorError)
        beat = Signal(8 * cfg.axi_bytes, reset_less=True)   # the beat taken last cycle ...
        # ... if any, for the word whose one-hot flag is set: flip-flops enable the word's
        # bytes, no index decode between them (an FPGA timing path, docs/fpga.md, seventeenth
        # round). Each byte has its own copy of its word's flag (ReplicaRegister, kept apart on
        # ECP5): the descriptor's bits sit beside their readers all over the die, and one
        # flip-flop per word reached its 64 enables over 10.7 ns of routing (the 8x8 build's
        # seed-1 critical path, docs/fpga.md, nineteenth round).
        put_next = Signal(layout.beats)
        m.d.sync += beat.eq(self.rd.payload.data)
        ecp5 = cfg.pe_multiplier == "mult18x18d"
        for i in range(layout.beats):
            for j in range(cfg.axi_bytes):
                with m.If(replica(m, f"put{i}_{j}", put_next[i], ecp5=ecp5)):
                    m.d.sync += bits.word_select(i * cfg.axi_bytes + j, 8).eq(
                        beat.word_select(j, 8))
        m.d.comb += [self.desc.eq(bits), checker.desc.eq(layout(bits))]

        # The command's payload is the request's in every state (only `valid` is gated by
        # IDLE): no state decode in front of the DMA's address registers (docs/fpga.md).
        p = self.cmd.payload
        m.d.comb += [p.write.eq(0), p.addr.eq(self.req.payload),
                     p.row_bytes.eq(layout.size_bytes), p.rows.eq(1), p.stride.eq(0)]
        # In DATA, as a flip-flop of its own: `rd.ready` and `reading` (the engine's read
        # routing) start at one flip-flop, not at the state decode (docs/fpga.md).
        in_data = Signal()
        m.d.comb += [self.rd.ready.eq(in_data), self.reading.eq(in_data)]
        with m.FSM(name="fetch"):
            with m.State("IDLE"):
                m.d.comb += [self.cmd.valid.eq(self.req.valid),
                             self.req.ready.eq(self.cmd.ready)]
                with m.If(self.req.valid & self.cmd.ready):
                    m.d.sync += [beat_idx.eq(0), in_data.eq(1)]
                    m.next = "DATA"
            with m.State("DATA"):
                with m.If(self.rd.valid):
                    m.d.comb += put_next.eq(Const(1, layout.beats) << beat_idx)
                    m.d.sync += beat_idx.eq(beat_idx + 1)
                    with m.If(self.rd.payload.last):
                        m.d.sync += in_data.eq(0)
                        m.next = "PUT"
            with m.State("PUT"):
                # The last beat goes into the descriptor register.
                m.next = "CHECK"
            with m.State("CHECK"):
                m.d.comb += checker.valid.eq(1)
                m.next = "WAIT"
            with m.State("WAIT"):
                # The verdict comes with the checker's done strobe (`checker_latency` cycles)
                # and is offered in that cycle; if it is not taken, it is held in RESULT.
                with m.If(checker.done):
                    m.d.comb += [self.result.valid.eq(1), self.result.payload.eq(checker.error)]
                    m.d.sync += verdict.eq(checker.error)
                    with m.If(self.result.ready):
                        m.next = "IDLE"
                    with m.Else():
                        m.next = "RESULT"
            with m.State("RESULT"):
                m.d.comb += [self.result.valid.eq(1), self.result.payload.eq(verdict)]
                with m.If(self.result.ready):
                    m.next = "IDLE"
        return m
