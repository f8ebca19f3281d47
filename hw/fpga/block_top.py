"""A pin-light FPGA top for the fused-block engine (``scanfuse fpga --engine block``).

:class:`BlockEngineTop` is for an out-of-context place and route: it measures the
:class:`~scanfuse.hw.block_engine.BlockEngine`'s area and Fmax with everything it drives kept
(nothing Yosys could prune), on five pins::

    din, shift --> descriptor shift register (len(FusedDescriptor) bits) --> engine.desc
    go         --> engine.start (registered)
    engine.bus <--> AXI4SRAM (on-chip block RAM "DRAM", mem_bytes)
    engine.{busy, done, error, bus_error, bytes_read, bytes_written, cycles}
      + XOR folds of every accepted AW address and W beat (data and strobes)
        --> result register, loaded on ``capture``, shifted out one bit per ``shift`` --> dout

Every value the engine writes to its memory reaches ``dout`` through the W-beat fold, so the
whole datapath (PE array, depthwise units, requantisers, on-chip buffers) is observable; the
engine's reads of the on-chip RAM close the loop. The pins are registered twice
(:class:`~amaranth.lib.cdc.FFSynchronizer`) on a board, where they are buttons and LED 0 of
the board (:data:`PINS`); ``sync`` is the engine clock from the board's PLL.
"""

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import io, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out

from ..block_engine import BlockEngine
from ..fused_program import BlockConfig, FusedDescriptor, FusedError
from .axi_ram import AXI4SRAM

__all__ = ["BlockEngineTop", "PINS"]

#: Board resources of the five pins (ULX3S names): input pins are buttons, ``dout`` LED 0.
PINS = {"din": ("button_fire", 0), "shift": ("button_fire", 1), "go": ("button_up", 0),
        "capture": ("button_down", 0), "dout": ("led", 0)}


class BlockEngineTop(wiring.Component):
    """Block engine + on-chip AXI4 memory + serial descriptor in, serial results out.

    Parameters
    ----------
    bcfg : BlockConfig
    mem_bytes : int
        On-chip "DRAM" size, a power of two (default 32 KiB; :class:`~.axi_ram.AXI4SRAM`).
    init : bytes
        Initial memory contents (default none: zeros), e.g. a block's tensors in simulation.
    freq_hz : float
        Engine clock on a board (the PLL output).

    Members
    -------
    din, shift : In(1)
        On ``shift``, the descriptor register takes ``din`` into its top bit and moves down
        one (so after ``len(desc)`` shifts its bit ``i`` is the ``i``-th bit shifted in,
        least significant first), and the result register shifts down one.
    go : In(1)
        Starts the engine with the descriptor register (one cycle later).
    capture : In(1)
        Loads the result register (:attr:`result_layout`); takes precedence over ``shift``.
    dout : Out(1)
        Bit 0 of the result register.

    Attributes
    ----------
    engine : BlockEngine
        The engine instance (a testbench may watch its ports, e.g. the AXI write channel).
    """

    def __init__(self, bcfg: BlockConfig, *, mem_bytes: int = 1 << 15, init: bytes = b"",
                 freq_hz: float = 100e6):
        if not isinstance(bcfg, BlockConfig):
            raise TypeError(f"bcfg must be a BlockConfig, not {bcfg!r}")
        self._bcfg = bcfg
        self._mem_bytes = mem_bytes
        self._init = bytes(init)
        self._freq_hz = freq_hz
        super().__init__({"din": In(1), "shift": In(1), "go": In(1), "capture": In(1),
                          "dout": Out(1)})
        self.engine = BlockEngine(bcfg)

    @property
    def desc_bits(self) -> int:
        """Bits of the descriptor shift register (``len(FusedDescriptor(bcfg))``)."""
        return FusedDescriptor(self._bcfg).size

    @property
    def result_layout(self) -> list[tuple[str, int]]:
        """``(field, bits)`` of the result register, least significant first."""
        cfg = self._bcfg.accel
        counter = len(self.engine.cycles)
        return [("busy", 1), ("done", 1), ("error", FusedError.as_shape().width), ("bus_error", 1),
                ("bytes_read", counter), ("bytes_written", counter), ("cycles", counter),
                ("aw_fold", cfg.addr_bits), ("w_fold", cfg.axi_data_bits + cfg.axi_bytes)]

    def elaborate(self, platform):
        m = Module()
        bc = self._bcfg
        cfg = bc.accel
        m.submodules.engine = eng = self.engine
        m.submodules.dram = dram = AXI4SRAM(cfg.addr_bits, cfg.axi_data_bits, self._mem_bytes,
                                            init=self._init)
        wiring.connect(m, eng.bus, dram.bus)

        # The four inputs: the ports in simulation; on a board, buttons (two registers each).
        din, shift, go, capture = (Signal(name=n) for n in ("din_s", "shift_s", "go_s",
                                                            "capture_s"))
        if platform is None:
            m.d.comb += [din.eq(self.din), shift.eq(self.shift), go.eq(self.go),
                         capture.eq(self.capture)]
        else:
            pins = self._board_io(m, platform)
            for name, sig in (("din", din), ("shift", shift), ("go", go), ("capture", capture)):
                m.submodules[f"sync_{name}"] = FFSynchronizer(pins[name], sig)

        desc = Signal(self.desc_bits)
        with m.If(shift):
            m.d.sync += desc.eq(Cat(desc[1:], din))
        m.d.comb += eng.desc.eq(desc)
        m.d.sync += eng.start.eq(go)

        bus = eng.bus
        aw_fold = Signal(cfg.addr_bits)
        w_fold = Signal(cfg.axi_data_bits + cfg.axi_bytes)
        with m.If(bus.awvalid & bus.awready):
            m.d.sync += aw_fold.eq(Cat(aw_fold[1:], aw_fold[0]) ^ bus.awaddr)
        with m.If(bus.wvalid & bus.wready):
            m.d.sync += w_fold.eq(Cat(w_fold[1:], w_fold[0]) ^ Cat(bus.wdata, bus.wstrb))

        fields = {"busy": eng.busy, "done": eng.done, "error": eng.error.as_value(),
                  "bus_error": eng.bus_error, "bytes_read": eng.bytes_read,
                  "bytes_written": eng.bytes_written, "cycles": eng.cycles,
                  "aw_fold": aw_fold, "w_fold": w_fold}
        status = Cat(*(fields[name][:bits] for name, bits in self.result_layout))
        result = Signal(len(status))
        with m.If(capture):
            m.d.sync += result.eq(status)
        with m.Elif(shift):
            m.d.sync += result.eq(result >> 1)
        m.d.comb += self.dout.eq(result[0])
        if platform is not None:
            m.d.comb += pins["dout"].eq(result[0])
        return m

    def _board_io(self, m, platform) -> dict:
        """The PLL clock, a reset until it locks, and the pins' buffers: ``{name: signal}``
        (the buffer's input, or for ``dout`` its output)."""
        from .top import board_clock, global_reset
        locked = board_clock(m, platform, self._freq_hz)
        global_reset(m, ~locked)
        pins = {}
        for name, (resource, number) in PINS.items():
            direction = "o" if name == "dout" else "i"
            buf = io.Buffer(direction, platform.request(resource, number, dir="-"))
            m.submodules[f"{name}_buf"] = buf
            pins[name] = buf.o if direction == "o" else buf.i
        return pins
