"""Control registers: the engine's AXI4-Lite slave register block.

Software starts a tile program, polls for completion and reads the performance counters through
this block. The register map is the :class:`Reg` table below; the driver, the benches and the
documentation (``docs/hardware/regs.md``) take their offsets from it, so no offset is typed twice.

Data words are 32 bits, addresses are byte addresses. The low two address bits are ignored
(AXI4-Lite accesses are word-sized; the strobes select bytes). Responses:

* reads of a mapped register, writes to a writable register (RW or CTRL): ``OKAY``;
* writes to a read-only register: ``SLVERR``, the register is unchanged;
* reads or writes of any other address in the ``addr_width`` window: ``SLVERR`` (reads return 0).

64-bit counters are read as LO/HI word pairs. Reading LO returns the live low word and latches
the high word of *the same value* into a per-counter shadow; reading HI returns that shadow. So a
LO-then-HI read pair is a consistent snapshot even when the counter moves every cycle.
"""

import enum
from dataclasses import dataclass

from amaranth import *
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .axi import AXI4LiteSignature, Resp
from .params import AccelConfig

__all__ = ["Reg", "Access", "RegInfo", "REGISTERS", "COUNTERS", "Ctrl", "Status", "ConfigWord",
           "ID_MAGIC", "VERSION", "config_word", "ControlRegisters"]


class Reg(enum.IntEnum):
    """Byte offsets of the registers (32-bit words)."""
    ID = 0x00
    VERSION = 0x04
    CONFIG = 0x08
    CTRL = 0x10
    STATUS = 0x14
    ERROR = 0x18
    PROG_ADDR_LO = 0x20
    PROG_ADDR_HI = 0x24
    PROG_LEN = 0x28
    CYCLES_LO = 0x40
    CYCLES_HI = 0x44
    DRAM_READ_BYTES_LO = 0x48
    DRAM_READ_BYTES_HI = 0x4C
    DRAM_WRITE_BYTES_LO = 0x50
    DRAM_WRITE_BYTES_HI = 0x54
    MACS_LO = 0x58
    MACS_HI = 0x5C
    STALL_CYCLES_LO = 0x60
    STALL_CYCLES_HI = 0x64
    COMPUTE_CYCLES_LO = 0x68
    COMPUTE_CYCLES_HI = 0x6C


class Access(enum.Enum):
    """Software access class of a register."""
    RO = "RO"   # read-only; writes get SLVERR and change nothing
    RW = "RW"   # read/write, WSTRB honoured
    WO = "WO"   # write-only command bits (pulse on write of 1); reads return 0


@dataclass(frozen=True)
class RegInfo:
    """One row of the register map (see ``docs/hardware/regs.md``)."""
    reg: Reg
    access: Access
    doc: str


#: The register map, in offset order.
REGISTERS: tuple[RegInfo, ...] = (
    RegInfo(Reg.ID, Access.RO, "magic number ID_MAGIC"),
    RegInfo(Reg.VERSION, Access.RO, "register map version, major << 16 | minor"),
    RegInfo(Reg.CONFIG, Access.RO, "configuration: ConfigWord (rows, cols, addr_bits, counter_bits)"),
    RegInfo(Reg.CTRL, Access.WO, "command bits Ctrl.START, Ctrl.CLEAR"),
    RegInfo(Reg.STATUS, Access.RO, "status bits Status.BUSY, Status.DONE, Status.ERROR"),
    RegInfo(Reg.ERROR, Access.RO, "engine error code, 0 = no error"),
    RegInfo(Reg.PROG_ADDR_LO, Access.RW, "tile program DRAM byte address, bits 31..0"),
    RegInfo(Reg.PROG_ADDR_HI, Access.RW, "tile program DRAM byte address, bits 63..32"),
    RegInfo(Reg.PROG_LEN, Access.RW, "number of descriptors in the tile program"),
    RegInfo(Reg.CYCLES_LO, Access.RO, "cycle counter, low word (latches HI)"),
    RegInfo(Reg.CYCLES_HI, Access.RO, "cycle counter, high word latched by the LO read"),
    RegInfo(Reg.DRAM_READ_BYTES_LO, Access.RO, "DRAM bytes read, low word (latches HI)"),
    RegInfo(Reg.DRAM_READ_BYTES_HI, Access.RO, "DRAM bytes read, high word latched by the LO read"),
    RegInfo(Reg.DRAM_WRITE_BYTES_LO, Access.RO, "DRAM bytes written, low word (latches HI)"),
    RegInfo(Reg.DRAM_WRITE_BYTES_HI, Access.RO,
            "DRAM bytes written, high word latched by the LO read"),
    RegInfo(Reg.MACS_LO, Access.RO, "MAC operations, low word (latches HI)"),
    RegInfo(Reg.MACS_HI, Access.RO, "MAC operations, high word latched by the LO read"),
    RegInfo(Reg.STALL_CYCLES_LO, Access.RO, "stall cycles, low word (latches HI)"),
    RegInfo(Reg.STALL_CYCLES_HI, Access.RO, "stall cycles, high word latched by the LO read"),
    RegInfo(Reg.COMPUTE_CYCLES_LO, Access.RO, "compute-phase cycles, low word (latches HI)"),
    RegInfo(Reg.COMPUTE_CYCLES_HI, Access.RO,
            "compute-phase cycles, high word latched by the LO read"),
)

#: Counter input port of :class:`ControlRegisters` -> offset of its LO word (HI is LO + 4).
COUNTERS: dict[str, Reg] = {
    "cycles": Reg.CYCLES_LO,
    "read_bytes": Reg.DRAM_READ_BYTES_LO,
    "write_bytes": Reg.DRAM_WRITE_BYTES_LO,
    "macs": Reg.MACS_LO,
    "stalls": Reg.STALL_CYCLES_LO,
    "compute_cycles": Reg.COMPUTE_CYCLES_LO,
}


class Ctrl(enum.IntFlag):
    """CTRL bits (byte 0; the write must strobe byte 0). Writing 1 pulses, writing 0 does nothing."""
    START = 1 << 0   # one-cycle ``start`` pulse; clears STATUS.DONE
    CLEAR = 1 << 1   # one-cycle ``clear`` pulse: engine counters and error, STATUS.DONE, shadows.
                     # Wins over START in the same write (START is then ignored).


class Status(enum.IntFlag):
    """STATUS bits."""
    BUSY = 1 << 0    # live ``busy`` input
    DONE = 1 << 1    # sticky: set on a rising edge of ``done``, cleared by START or CLEAR
    ERROR = 1 << 2   # live: ``error_code != 0``


class ConfigWord(data.StructLayout):
    """Layout of the CONFIG register (bit 0 up); drivers decode it with ``from_bits``."""

    def __init__(self):
        super().__init__({"rows": 8, "cols": 8, "addr_bits": 8, "counter_bits": 8})


#: ID register value: ASCII "SCNF" read as a big-endian word.
ID_MAGIC = 0x53434E46
#: VERSION register value: register map version 2.0 (major << 16 | minor); 1.1 added
#: COMPUTE_CYCLES; 2.0 is tile-program format 2 (the descriptor's walk fields are one nested
#: ``GemmDesc``, which moved them: docs/tile-program.md), incompatible with 1.x programs.
VERSION = 0x0002_0000


def config_word(cfg: AccelConfig, counter_bits: int = 64) -> int:
    """The CONFIG register value of a block built with ``cfg`` and ``counter_bits``."""
    return ConfigWord().const({"rows": cfg.rows, "cols": cfg.cols, "addr_bits": cfg.addr_bits,
                               "counter_bits": counter_bits}).as_value().value


class ControlRegisters(wiring.Component):
    """AXI4-Lite register block between software and the engine.

    AXI4-Lite behaviour: AW and W are accepted independently, in either order, into one holding
    register each (``awready``/``wready`` are high while that holding register is empty and never
    depend on ``awvalid``/``wvalid``). The write takes effect in the first cycle both are held and
    no earlier B response is still waiting (B may complete in that same cycle); BVALID rises on the
    next cycle and is held with its BRESP until BREADY. ``arready`` is high while no read response
    is pending; the register is sampled at the AR handshake and RVALID/RDATA/RRESP are held until
    RREADY. One write and one read may be in progress at the same time. AWPROT/ARPROT are ignored.

    Parameters
    ----------
    cfg : AccelConfig
        ``addr_bits`` sets the width of ``prog_addr``; ``rows``/``cols``/``addr_bits`` appear in
        CONFIG.
    counter_bits : int
        Width of the five counter inputs, 1..64 (default 64). Counters are zero-extended to 64
        bits; with 32 or fewer the HI words read 0.
    error_bits : int
        Width of ``error_code``, 1..32 (default 8).
    prog_len_bits : int
        Width of ``prog_len`` and of the PROG_LEN register, 16..32 (default 32).
    addr_width : int
        AXI4-Lite address width, 12..64 (default 12: a 4 KiB window). The whole window is decoded;
        addresses beyond the map get SLVERR.

    Members
    -------
    bus : In(AXI4LiteSignature(addr_width, 32))
        AXI4-Lite slave port (Verilog ports ``bus__awaddr`` ...).
    start : Out(1)
        One-cycle pulse, one cycle after the write of CTRL.START takes effect.
    clear : Out(1)
        One-cycle pulse on CTRL.CLEAR: the engine clears its counters and error code.
    prog_addr : Out(cfg.addr_bits)
        PROG_ADDR_HI:PROG_ADDR_LO, bits above ``addr_bits`` are read-as-zero.
    prog_len : Out(prog_len_bits)
        PROG_LEN.
    busy : In(1)
        The engine is running (STATUS.BUSY, live).
    done : In(1)
        The engine finished; taken on its rising edge, so a one-cycle pulse or a level held until
        the next ``start`` both work. Sets the sticky STATUS.DONE.
    error_code : In(error_bits)
        The engine's error code, 0 = no error (ERROR register; STATUS.ERROR = code != 0).
    cycles, read_bytes, write_bytes, macs, stalls, compute_cycles : In(counter_bits)
        The engine's counters (see :data:`COUNTERS` for their registers).

    Raises
    ------
    TypeError
        If ``cfg`` is not an :class:`AccelConfig`.
    ValueError
        If a width parameter is out of range.
    """

    DATA_BITS = 32

    def __init__(self, cfg: AccelConfig, counter_bits: int = 64, *, error_bits: int = 8,
                 prog_len_bits: int = 32, addr_width: int = 12):
        if not isinstance(cfg, AccelConfig):
            raise TypeError(f"cfg must be an AccelConfig, not {cfg!r}")
        for name, value, lo, hi in (("counter_bits", counter_bits, 1, 64),
                                    ("error_bits", error_bits, 1, 32),
                                    ("prog_len_bits", prog_len_bits, 16, 32),
                                    ("addr_width", addr_width, 12, 64)):
            if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
                raise ValueError(f"{name} must be an integer in {lo}..{hi}, not {value!r}")
        self._cfg = cfg
        self._counter_bits = counter_bits
        self._error_bits = error_bits
        self._prog_len_bits = prog_len_bits
        self._addr_width = addr_width
        members = {
            "bus": In(AXI4LiteSignature(addr_width, self.DATA_BITS)),
            "start": Out(1),
            "clear": Out(1),
            "prog_addr": Out(cfg.addr_bits),
            "prog_len": Out(prog_len_bits),
            "busy": In(1),
            "done": In(1),
            "error_code": In(error_bits),
        }
        members.update({name: In(counter_bits) for name in COUNTERS})
        super().__init__(members)

    @property
    def cfg(self) -> AccelConfig:
        return self._cfg

    @property
    def counter_bits(self) -> int:
        return self._counter_bits

    @property
    def error_bits(self) -> int:
        return self._error_bits

    @property
    def prog_len_bits(self) -> int:
        return self._prog_len_bits

    @property
    def addr_width(self) -> int:
        return self._addr_width

    @property
    def config_word(self) -> int:
        """Value of the CONFIG register."""
        return config_word(self._cfg, self._counter_bits)

    def elaborate(self, platform):
        m = Module()
        bus = self.bus
        cb = self._counter_bits

        def word(reg):
            return reg >> 2

        rw = {r.reg for r in REGISTERS if r.access is Access.RW}
        ro = {r.reg for r in REGISTERS if r.access is Access.RO}

        # ---------------------------------------------------------------- write channel
        aw_full = Signal()
        aw_word = Signal(self._addr_width - 2)
        w_full = Signal()
        w_data = Signal(self.DATA_BITS)
        w_strb = Signal(self.DATA_BITS // 8)

        m.d.comb += [bus.awready.eq(~aw_full), bus.wready.eq(~w_full)]
        with m.If(bus.awvalid & bus.awready):
            m.d.sync += [aw_full.eq(1), aw_word.eq(bus.awaddr[2:])]
        with m.If(bus.wvalid & bus.wready):
            m.d.sync += [w_full.eq(1), w_data.eq(bus.wdata), w_strb.eq(bus.wstrb)]
        with m.If(bus.bvalid & bus.bready):
            m.d.sync += bus.bvalid.eq(0)

        def write_bytes(sig, base):
            """Strobed write of ``w_data`` into bits ``base..base+31`` of ``sig`` (clipped)."""
            for i in range(self.DATA_BITS // 8):
                lo, hi = base + 8 * i, min(base + 8 * i + 8, len(sig))
                if lo < hi:
                    with m.If(w_strb[i]):
                        m.d.sync += sig[lo:hi].eq(w_data[8 * i:8 * i + hi - lo])

        # Pulses last one cycle: a second write cannot take effect in the next cycle, because
        # its AW and W are only accepted once both holding registers have emptied.
        m.d.sync += [self.start.eq(0), self.clear.eq(0)]
        issue_start = Signal()
        issue_clear = Signal()
        with m.If(aw_full & w_full & (~bus.bvalid | bus.bready)):
            m.d.sync += [aw_full.eq(0), w_full.eq(0), bus.bvalid.eq(1), bus.bresp.eq(Resp.OKAY)]
            with m.Switch(aw_word):
                with m.Case(word(Reg.CTRL)):
                    with m.If(w_strb[0]):
                        with m.If(w_data[Ctrl.CLEAR.bit_length() - 1]):
                            m.d.comb += issue_clear.eq(1)
                        with m.Elif(w_data[Ctrl.START.bit_length() - 1]):
                            m.d.comb += issue_start.eq(1)
                with m.Case(word(Reg.PROG_ADDR_LO)):
                    write_bytes(self.prog_addr, 0)
                with m.Case(word(Reg.PROG_ADDR_HI)):
                    write_bytes(self.prog_addr, 32)   # no bits above 32: read-as-zero, ignored
                with m.Case(word(Reg.PROG_LEN)):
                    write_bytes(self.prog_len, 0)
                with m.Default():
                    m.d.sync += bus.bresp.eq(Resp.SLVERR)
        assert rw == {Reg.PROG_ADDR_LO, Reg.PROG_ADDR_HI, Reg.PROG_LEN}
        m.d.sync += [self.start.eq(issue_start), self.clear.eq(issue_clear)]

        # ---------------------------------------------------------------- STATUS.DONE
        done_prev = Signal()
        done_flag = Signal()
        m.d.sync += done_prev.eq(self.done)
        with m.If(self.done & ~done_prev):
            m.d.sync += done_flag.eq(1)
        # START/CLEAR win over a same-cycle rising edge: that edge belongs to the previous run.
        with m.If(issue_start | issue_clear):
            m.d.sync += done_flag.eq(0)

        # ---------------------------------------------------------------- read channel
        shadows = {}
        if cb > 32:
            for name in COUNTERS:
                shadows[name] = Signal(cb - 32, name=f"{name}_hi_shadow")
                # Cleared with the engine's counters (the cycle ``clear`` is high); a LO read in
                # that same cycle still sees the old counter and wins, so its pair stays consistent.
                with m.If(self.clear):
                    m.d.sync += shadows[name].eq(0)

        m.d.comb += bus.arready.eq(~bus.rvalid)
        with m.If(bus.rvalid & bus.rready):
            m.d.sync += bus.rvalid.eq(0)
        with m.If(bus.arvalid & bus.arready):
            m.d.sync += [bus.rvalid.eq(1), bus.rresp.eq(Resp.OKAY), bus.rdata.eq(0)]
            rdata = bus.rdata
            with m.Switch(bus.araddr[2:]):
                with m.Case(word(Reg.ID)):
                    m.d.sync += rdata.eq(ID_MAGIC)
                with m.Case(word(Reg.VERSION)):
                    m.d.sync += rdata.eq(VERSION)
                with m.Case(word(Reg.CONFIG)):
                    m.d.sync += rdata.eq(self.config_word)
                with m.Case(word(Reg.CTRL)):
                    pass                                  # command bits read as 0
                with m.Case(word(Reg.STATUS)):
                    m.d.sync += rdata.eq(Cat(self.busy, done_flag, self.error_code.any()))
                with m.Case(word(Reg.ERROR)):
                    m.d.sync += rdata.eq(self.error_code)
                with m.Case(word(Reg.PROG_ADDR_LO)):
                    m.d.sync += rdata.eq(self.prog_addr[:32])
                with m.Case(word(Reg.PROG_ADDR_HI)):
                    if len(self.prog_addr) > 32:
                        m.d.sync += rdata.eq(self.prog_addr[32:])
                with m.Case(word(Reg.PROG_LEN)):
                    m.d.sync += rdata.eq(self.prog_len)
                for name, lo in COUNTERS.items():
                    counter = getattr(self, name)
                    with m.Case(word(lo)):
                        m.d.sync += rdata.eq(counter[:32])
                        if name in shadows:
                            m.d.sync += shadows[name].eq(counter[32:])
                    with m.Case(word(lo + 4)):
                        if name in shadows:
                            m.d.sync += rdata.eq(shadows[name])
                with m.Default():
                    m.d.sync += bus.rresp.eq(Resp.SLVERR)
        assert ro | rw | {Reg.CTRL} == set(Reg)

        return m
