"""FPGA tops: the self-test build and the engine with its ports for users' own designs.

:func:`engine_class` is the one place that chooses which engine the FPGA tops instantiate.

``selftest`` (:class:`SelfTestTop`)
    Engine + :class:`~..axi_slice.AXI4RegisterSlice` + :class:`~.axi_ram.AXI4SRAM` as its
    DRAM (preloaded with a tile program and operands) + :class:`~.selftest.SelfTestController`
    on its AXI4-Lite port. On a board, an ECP5 PLL makes the engine clock from the board
    oscillator and LEDs show the result.

``axi`` (:func:`axi_top`)
    The engine alone, every port at the top level: ``ctrl__*`` (AXI4-Lite slave, 12-bit
    addresses, 32-bit data), ``bus__*`` (AXI4 master to DRAM), ``irq``, ``clk``, ``rst``.
    For instantiating in a user's SoC next to a DRAM controller; documented in ``docs/fpga.md``.
"""

from amaranth.hdl import ClockDomain, Const, Instance, Module, Mux, ResetSignal, Signal
from amaranth.lib import io, wiring
from amaranth.lib.cdc import AsyncFFSynchronizer, ResetSynchronizer

from ..axi_slice import AXI4RegisterSlice
from ..params import AccelConfig
from .axi_ram import AXI4SRAM
from .selftest import SelfTestController, SelfTestImage

__all__ = ["engine_class", "make_engine", "ecp5_pll_params", "board_clock", "global_reset",
           "SelfTestTop", "PEArrayTop", "axi_top"]


def engine_class():
    """The engine component the FPGA tops build (``ctrl``, ``bus``, ``irq`` members)."""
    from ..engine import Engine
    return Engine


def make_engine(cfg: AccelConfig):
    return engine_class()(cfg)


def ecp5_pll_params(fin_hz: float, fout_hz: float) -> dict:
    """EHXPLLL dividers for ``fout_hz`` from ``fin_hz``, searched like prjtrellis ``ecppll``:
    the output closest to the request, ties broken by a VCO nearest 600 MHz.

    Limits (ECP5 family data sheet, sysCLOCK PLL timing): PFD 3.125..400 MHz, VCO 400..800 MHz.
    Returns ``{"CLKI_DIV", "CLKFB_DIV", "CLKOP_DIV", "CLKOP_CPHASE", "fout_hz", "fvco_hz"}``.
    """
    best = None
    for clki in range(1, 129):
        fpfd = fin_hz / clki
        if not 3.125e6 <= fpfd <= 400e6:
            continue
        for clkfb in range(1, 81):
            fout = fpfd * clkfb
            for clkop in range(1, 129):
                fvco = fout * clkop
                if not 400e6 <= fvco <= 800e6:
                    continue
                key = (abs(fout - fout_hz), abs(fvco - 600e6))
                if best is None or key < best[0]:
                    best = (key, clki, clkfb, clkop, fout, fvco)
    if best is None:
        raise ValueError(f"no ECP5 PLL setting makes {fout_hz / 1e6:g} MHz "
                         f"from {fin_hz / 1e6:g} MHz")
    _, clki, clkfb, clkop, fout, fvco = best
    # CLKOP shifted by half a period, as ecppll does; nothing is timed against the input clock.
    return {"CLKI_DIV": clki, "CLKFB_DIV": clkfb, "CLKOP_DIV": clkop,
            "CLKOP_CPHASE": clkop // 2, "fout_hz": fout, "fvco_hz": fvco}


def _connect_memory(m, sel, engine_bus, checker_bus, slave):
    """Route ``slave`` (the memory) to the engine, or its read channel to the checker while
    ``sel`` is high. ``sel`` only rises once the engine has finished, so no burst is split."""
    for name in ("arid", "araddr", "arlen", "arsize", "arburst", "arlock", "arcache",
                 "arprot", "arvalid", "rready"):
        m.d.comb += getattr(slave, name).eq(Mux(sel, getattr(checker_bus, name),
                                                getattr(engine_bus, name)))
    for name in ("rid", "rdata", "rresp", "rlast"):
        m.d.comb += [getattr(engine_bus, name).eq(getattr(slave, name)),
                     getattr(checker_bus, name).eq(getattr(slave, name))]
    m.d.comb += [
        engine_bus.arready.eq(slave.arready & ~sel),
        engine_bus.rvalid.eq(slave.rvalid & ~sel),
        checker_bus.arready.eq(slave.arready & sel),
        checker_bus.rvalid.eq(slave.rvalid & sel),
    ]
    for name in ("awid", "awaddr", "awlen", "awsize", "awburst", "awlock", "awcache", "awprot",
                 "awvalid", "wdata", "wstrb", "wlast", "wvalid", "bready"):
        m.d.comb += getattr(slave, name).eq(getattr(engine_bus, name))
    for name in ("awready", "wready", "bid", "bresp", "bvalid"):
        m.d.comb += getattr(engine_bus, name).eq(getattr(slave, name))
    # The checker never writes: its AW/W/B inputs stay at their reset value 0.


def board_clock(m, platform, freq_hz: float):
    """The ``sync`` domain at ``freq_hz`` from the board oscillator (an EHXPLLL unless equal);
    returns the PLL's LOCK (constant 1 without a PLL)."""
    m.submodules.clk_buf = clk_in = io.Buffer("i", platform.request(platform.default_clk,
                                                                     dir="-"))
    fin = platform.default_clk_frequency
    m.domains.sync = cd_sync = ClockDomain("sync")
    locked = Signal()
    if abs(fin - freq_hz) < 1:
        m.d.comb += [cd_sync.clk.eq(clk_in.i), locked.eq(1)]
    else:
        p = ecp5_pll_params(fin, freq_hz)
        m.submodules.pll = Instance(
            "EHXPLLL",
            a_FREQUENCY_PIN_CLKI=f"{fin / 1e6:g}",
            a_FREQUENCY_PIN_CLKOP=f"{p['fout_hz'] / 1e6:g}",
            # Loop filter settings ecppll emits for every configuration.
            a_ICP_CURRENT="12", a_LPF_RESISTOR="8", a_MFG_ENABLE_FILTEROPAMP="1",
            a_MFG_GMCREF_SEL="2",
            p_PLLRST_ENA="DISABLED", p_INTFB_WAKE="DISABLED", p_STDBY_ENABLE="DISABLED",
            p_DPHASE_SOURCE="DISABLED", p_OUTDIVIDER_MUXA="DIVA",
            p_CLKOP_ENABLE="ENABLED", p_CLKOP_FPHASE=0, p_FEEDBK_PATH="CLKOP",
            p_CLKI_DIV=p["CLKI_DIV"], p_CLKFB_DIV=p["CLKFB_DIV"],
            p_CLKOP_DIV=p["CLKOP_DIV"], p_CLKOP_CPHASE=p["CLKOP_CPHASE"],
            i_RST=0, i_STDBY=0, i_CLKI=clk_in.i, i_CLKFB=cd_sync.clk,
            i_PHASESEL0=0, i_PHASESEL1=0, i_PHASEDIR=1, i_PHASESTEP=1, i_PHASELOADREG=1,
            i_PLLWAKESYNC=0, i_ENCLKOP=0,
            o_CLKOP=cd_sync.clk, o_LOCK=locked,
        )
    # No clock constraint on the PLL output: Amaranth would name the net by a hierarchy
    # nextpnr does not see after flattening. nextpnr derives the EHXPLLL output frequency
    # from the 25 MHz input constraint and the dividers (and the flow passes --freq).
    return locked


def global_reset(m, arst):
    """The ``sync`` domain's reset from ``arst`` (asynchronous, active high), released in step
    with the clock and carried by an ECP5 global network (a ``DCCA``), not by fabric routing.

    The engine's synchronous resets reach several thousand flip-flops (5,323 ``LSR`` pins in
    the twelfth timing round's 8x8 self-test build); through fabric routing that one net took
    9.0-11.2 ns to the far pins at seeds 1-3 (docs/fpga.md, "Twelfth round"). nextpnr promotes only clocks
    to global networks on its own, so the buffer is instantiated here; the ECP5's eight
    fabric-capable global networks reach every slice's ``LSR`` input. nextpnr gives the global
    network itself no delay, as for the clock, so its timing report understates this net by
    the global's insertion delay (docs/fpga.md, "Fourteenth round")."""
    local = Signal()
    m.submodules.reset_sync = AsyncFFSynchronizer(arst, local, o_domain="sync")
    m.submodules.reset_global = Instance("DCCA", i_CLKI=local, i_CE=Const(1),
                                         o_CLKO=ResetSignal("sync"))


class SelfTestTop(wiring.Component):
    """Engine + on-chip AXI4 memory + self-test sequencer; a PLL and LEDs on a board.

    Parameters
    ----------
    cfg : AccelConfig
    mem_bytes : int
        Size of the on-chip "DRAM", a power of two holding the self-test image.
    freq_hz : float
        Engine clock on a board (the PLL output; the board clock itself if equal).
    board : Board or None
        LED count and re-run button (:mod:`.boards`); only used when elaborated for a platform.
    image : SelfTestImage
        The self-test program, DRAM contents and expected results (built by the verification
        side, :func:`scanfuse.sim.fpga_image.engine_image`, from a planned layer).

    Members
    -------
    passed, failed, running : Out(1)
        The controller's outcome (also on LEDs 2, 3, 1 on a board). In simulation, the only
        ports; the ``sync`` domain is the engine clock.
    """

    def __init__(self, cfg: AccelConfig, *, mem_bytes: int = 1 << 16, freq_hz: float = 100e6,
                 board=None, image: SelfTestImage):
        self._cfg = cfg
        self._image = image
        if len(self._image.memory) > mem_bytes:
            raise ValueError(f"the self-test image needs {len(self._image.memory)} bytes, "
                             f"more than mem_bytes={mem_bytes}")
        self._mem_bytes = mem_bytes
        self._freq_hz = freq_hz
        self._board = board
        super().__init__({"passed": wiring.Out(1), "failed": wiring.Out(1),
                          "running": wiring.Out(1)})

    @property
    def image(self) -> SelfTestImage:
        return self._image

    def elaborate(self, platform):
        m = Module()
        cfg = self._cfg
        m.submodules.engine = engine = make_engine(cfg)
        m.submodules.dram = dram = AXI4SRAM(cfg.addr_bits, cfg.axi_data_bits, self._mem_bytes,
                                            init=self._image.memory)
        m.submodules.selftest = ctl = SelfTestController(self._image, cfg.addr_bits,
                                                         cfg.axi_data_bits)
        # A register slice between the engine and its memory, as an AXI interconnect would
        # put between them: the DMA's read decisions and the memory's R registers had been
        # one same-cycle path across the die (two of three 8x8 critical paths, docs/fpga.md,
        # nineteenth round).
        m.submodules.bus_slice = bus_slice = AXI4RegisterSlice(cfg.addr_bits, cfg.axi_data_bits)
        wiring.connect(m, engine.bus, bus_slice.s_axi)
        wiring.connect(m, ctl.lite, engine.ctrl)
        _connect_memory(m, ctl.mem_select, bus_slice.m_axi, ctl.mem, dram.bus)
        m.d.comb += [self.passed.eq(ctl.passed), self.failed.eq(ctl.failed),
                     self.running.eq(ctl.running)]
        if platform is not None:
            self._board_io(m, platform, ctl)
        return m

    def _board_io(self, m, platform, ctl):
        board = self._board
        locked = board_clock(m, platform, self._freq_hz)
        rerun = Signal()
        if board is not None:
            name, number = board.rerun_button
            m.submodules.rerun_buf = button = io.Buffer("i", platform.request(name, number,
                                                                              dir="-"))
            m.d.comb += rerun.eq(button.i)
        global_reset(m, ~locked | rerun)

        # LEDs: 0 heartbeat (~1.5 Hz at 100 MHz), 1 running, 2 passed, 3 failed, 4 timed out,
        # 5.. the step index (the failing step when failed).
        heartbeat = Signal(26)
        m.d.sync += heartbeat.eq(heartbeat + 1)
        leds = [heartbeat[-1], ctl.running, ctl.passed, ctl.failed, ctl.timed_out]
        n_leds = board.leds if board is not None else 5
        leds += [ctl.step[i] if i < len(ctl.step) else 0 for i in range(n_leds - len(leds))]
        # Each LED from a register of its own: wired to the controller's flip-flops, synthesis
        # named them after the pads, nextpnr pulled them to the pins and the register bus
        # checks behind them crossed the die (the 8x8 build's seed-1 critical path,
        # docs/fpga.md, nineteenth round).
        for i, value in enumerate(leds[:n_leds]):
            m.submodules[f"led_buf{i}"] = led = io.Buffer("o", platform.request("led", i, dir="-"))
            led_r = Signal(name=f"led{i}_r")
            m.d.sync += led_r.eq(value)
            m.d.comb += led.o.eq(led_r)


def axi_top(cfg: AccelConfig):
    """The engine with ``ctrl``, ``bus`` and ``irq`` as top-level ports (``axi`` top)."""
    return make_engine(cfg)


class PEArrayTop(wiring.Component):
    """The PE array alone for timing (``--top pe``): pseudo-random k steps, valid and ready
    in, an XOR fold of every output bit out, so nothing is optimised away and every register
    of the array is timed as in the engine (its ports registered on both sides).

    A 31-bit LFSR (x^31 + x^28 + 1) shifts one new bit per cycle into a register chain as wide
    as the k-step payload plus valid and ready; the output payload and ``o.valid`` are XOR-folded
    every cycle (not only on transfers, so no enable spans the array) in registered 4:1 stages
    down to one bit, shown on LED 0 on a board (``fold``, in simulation).

    Parameters
    ----------
    cfg : AccelConfig
    freq_hz : float
        The array clock on a board (the PLL output).

    Members
    -------
    fold : Out(1)
    """

    def __init__(self, cfg: AccelConfig, *, freq_hz: float = 100e6):
        self._cfg = cfg
        self._freq_hz = freq_hz
        super().__init__({"fold": wiring.Out(1)})

    def elaborate(self, platform):
        from amaranth.hdl import Cat

        from ..pe_array import PEArray

        m = Module()
        m.submodules.pe = pe = PEArray(self._cfg)
        width = len(pe.i.payload.as_value()) + 2
        # No register of the stimulus or the fold is reset (the LFSR starts from its init
        # value): the domain reset would otherwise be a net across the whole array.
        lfsr = Signal(31, init=1, reset_less=True)
        m.d.sync += lfsr.eq(Cat(lfsr[1:], lfsr[0] ^ lfsr[3]))
        chain = Signal(width + 1, reset_less=True)
        m.d.sync += chain.eq(Cat(chain[1:], lfsr[0]))
        # Each port bit is the XOR of two neighbouring chain bits, not a chain bit itself:
        # the array's operand lanes are shift registers too, and a lane register loading a
        # chain bit loads the same value as the next chain register, so Yosys merged whole
        # operand pipelines into the stimulus chain (a DSP fed straight from a chain bit
        # across the die: 8.2 ns of routing).
        mixed = chain[:-1] ^ chain[1:]
        m.d.comb += [pe.i.payload.eq(mixed[2:]), pe.i.valid.eq(mixed[0]),
                     pe.o.ready.eq(mixed[1])]
        # Every output bit (and o.valid) is folded in every cycle, transfer or not: an enable
        # from o.valid & o.ready on all 260 fold bits would be a net across the whole array
        # that the engine does not have (its accumulator registers the row under o.valid).
        level = Signal(len(pe.o.payload.as_value()) + 1, reset_less=True)
        m.d.sync += level.eq(level ^ Cat(pe.o.payload.as_value(), pe.o.valid))
        n = 0
        while len(level) > 1:
            nxt = Signal((len(level) + 3) // 4, name=f"fold{n}", reset_less=True)
            m.d.sync += [nxt[j].eq(level[4 * j:4 * j + 4].xor()) for j in range(len(nxt))]
            level, n = nxt, n + 1
        m.d.comb += self.fold.eq(level[0])
        if platform is not None:
            # Reset until the PLL locks, as in the self-test top (without it, Yosys 0.70's
            # abc9 fails an assertion on this top with MULT18X18D instances). A fabric reset,
            # not global_reset: the array's domain reset reaches only its input registers (its
            # local copies take the rest), and the PE-alone figures were measured this way.
            locked = board_clock(m, platform, self._freq_hz)
            m.submodules.reset_sync = ResetSynchronizer(~locked, domain="sync")
            m.submodules.led_buf0 = led = io.Buffer("o", platform.request("led", 0, dir="-"))
            m.d.comb += led.o.eq(level[0])
        return m
