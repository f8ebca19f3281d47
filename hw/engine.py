"""The pointwise-conv engine: register block, sequencer, DMA, tile buffer and PE array.

::

    AXI4-Lite ctrl --> ControlRegisters --start/prog--> Sequencer --cmd--> TileDMA --AXI4 bus--> DRAM
                              ^  counters/busy/done/error  |  |   <--rd/wr-->   |
                              +----------------------------+  |                 |
                                               TileBuffer (A, B, C) <-----------+
                                               PEArray, Requantizer, RowPackers (in Sequencer)

Software writes PROG_ADDR / PROG_LEN, pulses CTRL.START, polls STATUS (or waits for ``irq``)
and reads ERROR and the counters (``scanfuse.hw.regs``). See ``docs/hardware.md``.
"""

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .axi import AXI4LiteSignature, AXI4Signature
from .buffer import TileBuffer
from .dma import DmaBeat, TileDMA
from .params import AccelConfig
from .regs import COUNTERS, ControlRegisters
from .sequencer import COUNTER_NAMES, ERROR_BITS, Sequencer
from .skid import SkidBuffer

__all__ = ["Engine", "CTRL_ADDR_BITS"]

#: Address width of the AXI4-Lite control port (a 4 KiB window).
CTRL_ADDR_BITS = 12

assert set(COUNTERS) == set(COUNTER_NAMES)


class Engine(wiring.Component):
    """The whole engine, with an AXI4-Lite slave for control and an AXI4 master to DRAM.

    Parameters
    ----------
    cfg : AccelConfig
        Array size, bus widths, memory capacities; must pass :meth:`AccelConfig.check_engine`
        (rows and cols powers of two, ``4 * cols >= axi_bytes``, capacities whole words).
    counter_bits : int
        Width of the performance counters, 32..64 (default 64).
    max_burst, max_outstanding : int
        DMA burst length (beats, default 16) and bursts in flight per direction (default 4).

    Members
    -------
    ctrl : ``In(AXI4LiteSignature(12, 32))``
        Register block (``scanfuse.hw.regs.Reg``); Verilog ports ``ctrl__awaddr`` ...
    bus : ``Out(AXI4Signature(cfg.addr_bits, cfg.axi_data_bits, 1))``
        DRAM master; Verilog ports ``bus__araddr`` ...
    irq : ``Out(1)``
        High from the end of a program until the next START or CLEAR.
    """

    def __init__(self, cfg: AccelConfig = AccelConfig(), *, counter_bits: int = 64,
                 max_burst: int = 16, max_outstanding: int = 4):
        if not isinstance(cfg, AccelConfig):
            raise TypeError(f"cfg must be an AccelConfig, not {cfg!r}")
        cfg.check_engine()
        if isinstance(counter_bits, bool) or not isinstance(counter_bits, int) \
                or not 32 <= counter_bits <= 64:
            raise ValueError(f"counter_bits must be an integer in 32..64, not {counter_bits!r}")
        self._cfg = cfg
        self._counter_bits = counter_bits
        self._max_burst = max_burst
        self._max_outstanding = max_outstanding
        super().__init__({
            "ctrl": In(AXI4LiteSignature(CTRL_ADDR_BITS, 32)),
            "bus": Out(AXI4Signature(cfg.addr_bits, cfg.axi_data_bits, 1)),
            "irq": Out(1),
        })

    @property
    def cfg(self) -> AccelConfig:
        return self._cfg

    @property
    def counter_bits(self) -> int:
        return self._counter_bits

    def elaborate(self, platform):
        m = Module()
        cfg = self._cfg
        m.submodules.regs = regs = ControlRegisters(cfg, self._counter_bits, error_bits=ERROR_BITS,
                                                    addr_width=CTRL_ADDR_BITS)
        m.submodules.seq = seq = Sequencer(cfg, self._counter_bits)
        m.submodules.dma = dma = TileDMA(cfg, max_burst=self._max_burst,
                                         max_outstanding=self._max_outstanding,
                                         counter_bits=max(32, min(48, self._counter_bits)))
        m.submodules.buf = buf = TileBuffer(cfg)

        wiring.connect(m, wiring.flipped(self.ctrl), regs.bus)
        wiring.connect(m, wiring.flipped(self.bus), dma.bus)
        wiring.connect(m, seq.dma_cmd, dma.cmd)
        # A register slice on the read beats: the DMA's realignment logic and the
        # sequencer's buffer writes are then in different clock cycles.
        m.submodules.rd_skid = rd_skid = SkidBuffer(DmaBeat(cfg))
        wiring.connect(m, dma.rd, rd_skid.i)
        wiring.connect(m, rd_skid.o, seq.dma_rd)
        wiring.connect(m, seq.dma_wr, dma.wr)
        wiring.connect(m, seq.buf, buf)
        m.d.comb += [
            seq.start.eq(regs.start),
            seq.clear.eq(regs.clear),
            seq.prog_addr.eq(regs.prog_addr),
            seq.prog_len.eq(regs.prog_len),
            seq.dma_busy.eq(dma.busy),
            seq.dma_error.eq(dma.error),
            dma.clear.eq(regs.start | regs.clear),
            regs.busy.eq(seq.busy),
            regs.done.eq(seq.done),
            regs.error_code.eq(seq.error),
            self.irq.eq(seq.done),
        ]
        m.d.comb += [getattr(regs, name).eq(getattr(seq, name)) for name in COUNTER_NAMES]
        return m
