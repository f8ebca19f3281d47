"""A simple dual-port memory built from Lattice ECP5 ``DP16KD`` block RAMs with their output
registers in use (read latency 2; 3 with a register stage in front of every block), and its
behavioural model for simulation.

Why explicit blocks: prjtrellis-db's speed-6 timing gives a ``DP16KD`` read a clock-to-out of
5.57-5.81 ns without its output register and 0.92-0.94 ns with it (``REGMODE = OUTREG``);
Yosys 0.70's ``synth_ecp5`` maps a synchronous read port to ``REGMODE = NOREG`` and leaves a
following register in the fabric (Yosys ``techlibs/lattice/brams_map_16kd.v``), so a
150 MHz (6.67 ns) path that starts at the memory cannot close. :class:`EBRMemory` places the
blocks itself, the way :class:`scanfuse.hw.multiplier.ECP5Mult18x18D` places its DSPs.

Ports (all on the ``sync`` clock)
---------------------------------
``waddr``, ``wdata``, ``wen`` (one bit per *lane* of ``width // lanes`` bits): written at the
clock edge. ``raddr``, ``ren``, ``rdata``: the word at ``raddr`` appears on ``rdata`` after the
second clock edge with ``ren`` high, counting the one that samples ``raddr``; with ``ren`` low
nothing moves and ``rdata`` holds. That is the block's two read stages, both enabled by ``ren``:
the address (and the array's read) at the first edge (``CEB``), the output register at the
second (``OCEB``). With ``free_running_output`` the output register loads at every edge
(``OCEB`` = 1): the word read at an edge with ``ren`` high is on ``rdata`` after the next edge,
whatever ``ren`` is then (the C memory's readers count on that, :mod:`scanfuse.hw.buffer`).
A read of the word being written in the same cycle is not defined (the ``DP16KD`` gives no
guarantee across its two ports); the model returns the old word inverted
(:func:`collision_word`), so that a design which uses such a read fails its simulation
instead of passing on a value the hardware need not give.

With ``registered_inputs`` every block has its own copy of its input pins' registers, one
stage in front of the block (:class:`~scanfuse.hw.replica.ReplicaRegister`, kept apart by
synthesis), so the only wire into a block pin is from a flip-flop the placer can put beside
it, and whatever drives the ports has a whole cycle to reach that flip-flop (the blocks'
inputs were the late endpoints once the outputs were registered: ``docs/fpga.md``,
seventeenth round). The write lands one edge later; the read takes one more stage (latency
3): the address register loads at edges with ``ren`` high (so the three stages stay enabled
by ``ren``), or, with ``free_running_output``, at every edge together with ``ren`` (the word
whose address is sampled at an edge with ``ren`` high is on ``rdata`` after the second edge
after it). Writes and reads move by the same one edge, so their order at the block is the
order the ports saw.

Block layout (:func:`ebr_layout`)
---------------------------------
Each block is used as a true dual-port ``DP16KD`` with port A writing and port B reading, both
ports ``w`` bits wide, ``w`` one of 18, 9, 4, 2, 1 (1,024 .. 16,384 words deep). Every lane is
split into ``ceil(lane_bits / w)`` columns of blocks, so a lane write is one block ``WEA`` and
no byte enables are needed; when the memory is deeper than one block, ``ceil(depth / block
depth)`` rows of blocks are stacked, written by a decoded ``WEA`` and read through a
multiplexer on the address bits that passed both stages. The width taken is the one with the
fewest blocks, then the fewest rows (no read multiplexer when possible). The 36-bit
pseudo-dual-port mode (512 x 36) would halve the blocks of the 512-deep A memory, but which of
its two halves' ``OCE``/``CE`` pins govern the output register in that mode is not stated in
Yosys's or nextpnr's sources, so it is not used.
"""

from dataclasses import dataclass

from amaranth.hdl import ClockSignal, Const, Instance, Module, Mux, Signal
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import bits_for, ceil_log2, exact_log2

from .replica import replica

__all__ = ["DP16KD_WIDTHS", "DP16KD_PARAMS", "EBRLayout", "ebr_layout", "EBRMemory",
           "dp16kd_address_shift", "collision_word"]

#: Port widths of a ``DP16KD`` in true dual-port mode, with their depth (16 Kbit + parity).
DP16KD_WIDTHS = {18: 1024, 9: 2048, 4: 4096, 2: 8192, 1: 16384}

#: The ``DP16KD`` parameters of every block but ``DATA_WIDTH_A``/``DATA_WIDTH_B``: port B's
#: output register in use (port A only writes). Checked against the netlist by the tests.
DP16KD_PARAMS = {
    "REGMODE_A": "NOREG", "REGMODE_B": "OUTREG",
    "RESETMODE": "SYNC", "ASYNC_RESET_RELEASE": "SYNC",
    "CSDECODE_A": "0b000", "CSDECODE_B": "0b000",
    "WRITEMODE_A": "NORMAL", "WRITEMODE_B": "NORMAL",
    "CLKAMUX": "CLKA", "CLKBMUX": "CLKB", "GSR": "DISABLED",
}


def collision_word(m: Module, word, *, raddr, read, waddr, wen):
    """What a simulation model's synchronous read returns: ``word`` (the read port's output,
    the old word of the address read at the last edge with ``read`` high), or its bitwise
    inverse when that edge also wrote the word (any lane of ``wen`` set, ``waddr == raddr``;
    the flag is registered beside the read, loaded with ``read``). A ``DP16KD`` gives no
    defined word then across its two ports, so the models give a wrong one: a design that uses
    such a read fails its simulation (the engine's tile memories, inferred or not, are held to
    the same rule, :mod:`scanfuse.hw.buffer`). Only for models (elaborated without a
    platform)."""
    hit = Signal(name="rw_collision")
    with m.If(read):
        m.d.sync += hit.eq((wen != 0) & (raddr == waddr))
    return Mux(hit, ~word, word)


def dp16kd_address_shift(width: int) -> int:
    """Lowest ``AD*`` pin of the word address at port width ``width`` (18: ``AD4``, 9: ``AD3``,
    4: ``AD2``, 2: ``AD1``, 1: ``AD0``); the address is 14 - shift bits wide. At width 18 pins
    ``AD0``/``AD1`` are the write's byte enables. The 14 address pins cover 16,384 bits, so the
    shift is what the port's depth (:data:`DP16KD_WIDTHS`) leaves of them."""
    return 14 - exact_log2(DP16KD_WIDTHS[width])


@dataclass(frozen=True)
class EBRLayout:
    """How a ``depth x width`` memory with ``lanes`` write lanes is tiled from ``DP16KD``\\ s.

    Attributes
    ----------
    block_width : bits per block port (a key of :data:`DP16KD_WIDTHS`).
    columns : blocks side by side per lane (``ceil(lane_bits / block_width)``).
    rows : blocks stacked in depth (``ceil(depth / block depth)``).
    """

    width: int
    depth: int
    lanes: int
    block_width: int
    columns: int
    rows: int

    @property
    def lane_bits(self) -> int:
        return self.width // self.lanes

    @property
    def block_depth(self) -> int:
        return DP16KD_WIDTHS[self.block_width]

    @property
    def blocks(self) -> int:
        """``DP16KD`` count: ``lanes * columns * rows``."""
        return self.lanes * self.columns * self.rows


def ebr_layout(width: int, depth: int, lanes: int = 1) -> EBRLayout:
    """The block layout of a ``depth x width`` memory with ``lanes`` equal write lanes: fewest
    blocks, then fewest rows of blocks. ``ValueError`` on sizes that are not positive or a
    ``width`` that ``lanes`` does not divide."""
    for name, value in (("width", width), ("depth", depth), ("lanes", lanes)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, not {value!r}")
    if width % lanes:
        raise ValueError(f"width ({width}) must be a multiple of lanes ({lanes})")
    lane_bits = width // lanes
    best = None
    for w, d in DP16KD_WIDTHS.items():
        cols, rows = -(-lane_bits // w), -(-depth // d)
        key = (lanes * cols * rows, rows, -w)
        if best is None or key < best[0]:
            best = (key, EBRLayout(width, depth, lanes, w, cols, rows))
    return best[1]


class EBRMemory(wiring.Component):
    """``depth x width`` simple dual-port memory with ``lanes`` write lanes and read latency 2,
    or 3 with ``registered_inputs`` (see the module docstring).

    Parameters
    ----------
    width, depth, lanes : int
        Word bits, words, write lanes (``lanes`` divides ``width``).

    Members
    -------
    waddr : ``In(addr_bits)``; wdata : ``In(width)``; wen : ``In(lanes)``
    raddr : ``In(addr_bits)``; ren : ``In(1)``; rdata : ``Out(width)``

    Elaborated with a platform, the ``DP16KD`` blocks of :func:`ebr_layout` (``Instance``);
    without one (Amaranth simulation, ``verilog.convert``), a behavioural model with the same
    two enabled read stages. ``primitive`` replaces the ``Instance`` factory (tests: a model of
    the block's pins, so the wiring of the tiling is simulated too). ``free_running_output``:
    the output register loads at every clock edge, not only with ``ren`` (module docstring).
    ``registered_inputs``: a register stage per block in front of its pins (module
    docstring); :attr:`latency` is then 3.
    """

    def __init__(self, width: int, depth: int, lanes: int = 1, *, primitive=None,
                 free_running_output: bool = False, registered_inputs: bool = False):
        for name, flag in (("free_running_output", free_running_output),
                           ("registered_inputs", registered_inputs)):
            if not isinstance(flag, bool):
                raise TypeError(f"{name} must be a bool, not {flag!r}")
        self.layout = ebr_layout(width, depth, lanes)
        self.addr_bits = max(1, bits_for(depth - 1))
        self._primitive = primitive
        self.free_running_output = free_running_output
        self.registered_inputs = registered_inputs
        super().__init__({
            "waddr": In(self.addr_bits), "wdata": In(width), "wen": In(lanes),
            "raddr": In(self.addr_bits), "ren": In(1), "rdata": Out(width),
        })

    @staticmethod
    def latency_for(registered_inputs: bool) -> int:
        """Read latency in (enabled) clock edges: 2, or 3 with ``registered_inputs``."""
        return 3 if registered_inputs else 2

    @property
    def latency(self) -> int:
        """Read latency of this memory (:meth:`latency_for`)."""
        return self.latency_for(self.registered_inputs)

    def elaborate(self, platform):
        if platform is None and self._primitive is None:
            return self._model()
        return self._blocks(self._primitive or _instance, ecp5=platform is not None)

    def _output_enable(self):
        """The output register's enable (``OCEB``): ``ren``, or 1 with ``free_running_output``."""
        return Const(1) if self.free_running_output else self.ren

    def _input_register(self, m, name, value, enable=None, ecp5=False):
        """``value`` through the input register stage (with ``registered_inputs``; else
        ``value`` itself), loading at edges with ``enable`` high (every edge when ``None``).
        With ``ecp5`` a :class:`~scanfuse.hw.replica.ReplicaRegister` (ECP5 flip-flops, so
        each block keeps its own copy; at most 64 bits, a block's pins), else a plain
        register."""
        if not self.registered_inputs:
            return value
        if ecp5:
            return replica(m, name, value, ecp5=True, enable=enable)
        reg = Signal.like(value, name=f"{name}_q", reset_less=True)
        with m.If(1 if enable is None else enable):
            m.d.sync += reg.eq(value)
        return reg

    def _read_stage_enables(self, m):
        """The read address stage's enable (None: every edge) and the block read's (``CEB``):
        ``ren`` for both, or, with free-running output and registered inputs, every edge and
        ``ren`` one edge late."""
        if not self.registered_inputs:
            return None, self.ren
        if not self.free_running_output:
            return self.ren, self.ren
        ren_q = Signal(name="ren_q", reset_less=True)
        m.d.sync += ren_q.eq(self.ren)
        return None, ren_q

    def _model(self) -> Module:
        m = Module()
        lay = self.layout
        mem = memory.Memory(shape=lay.width, depth=lay.depth, init=[])
        wp = mem.write_port(granularity=lay.lane_bits)
        rp = mem.read_port(transparent_for=())   # the array's read (CEB)
        m.submodules.mem = mem
        addr_en, read_en = self._read_stage_enables(m)
        waddr = self._input_register(m, "waddr", self.waddr)
        wen = self._input_register(m, "wen", self.wen)
        raddr = self._input_register(m, "raddr", self.raddr, addr_en)
        m.d.comb += [wp.addr.eq(waddr), wp.data.eq(self._input_register(m, "wdata", self.wdata)),
                     wp.en.eq(wen), rp.addr.eq(raddr), rp.en.eq(read_en)]
        latch = collision_word(m, rp.data, raddr=raddr, read=read_en, waddr=waddr, wen=wen)
        outreg = Signal(lay.width, reset_less=True)  # the output register (OCEB)
        with m.If(self._output_enable()):
            m.d.sync += outreg.eq(latch)
        m.d.comb += self.rdata.eq(outreg)
        return m

    def _blocks(self, primitive, ecp5: bool) -> Module:
        m = Module()
        lay = self.layout
        w, shift = lay.block_width, dp16kd_address_shift(lay.block_width)
        block_abits = 14 - shift
        row_bits = ceil_log2(lay.rows) if lay.rows > 1 else 0
        addr_en, read_en = self._read_stage_enables(m)
        out_en = self._output_enable()
        # The row a read came from, through the same stages as the data.
        raddr_row = self._input_register(m, "raddr_row", self.raddr[block_abits:], addr_en) \
            if row_bits else None
        row1 = Signal(max(1, row_bits), reset_less=True)
        row2 = Signal(max(1, row_bits), reset_less=True)
        if row_bits:
            with m.If(read_en):
                m.d.sync += row1.eq(raddr_row)
            with m.If(out_en):
                m.d.sync += row2.eq(row1)
        waddr_lo = self.waddr[:min(block_abits, self.addr_bits)]
        raddr_lo = self.raddr[:min(block_abits, self.addr_bits)]

        params = {**DP16KD_PARAMS, "DATA_WIDTH_A": w, "DATA_WIDTH_B": w}
        row_data = [Signal(lay.width, name=f"row{r}_data") for r in range(lay.rows)]
        for r in range(lay.rows):
            in_row = (self.waddr[block_abits:] == r) if row_bits else Const(1)
            for lane in range(lay.lanes):
                for c in range(lay.columns):
                    lo = lane * lay.lane_bits + c * w
                    n = min(w, (lane + 1) * lay.lane_bits - lo)   # data bits in this block
                    name = f"ebr_r{r}_l{lane}_c{c}"
                    # each block's own copy of its pins' registers (registered_inputs)
                    wea = self._input_register(m, f"{name}_wea", self.wen[lane] & in_row,
                                               ecp5=ecp5)
                    ada = self._input_register(m, f"{name}_ada", waddr_lo, ecp5=ecp5)
                    dia = self._input_register(m, f"{name}_dia", self.wdata[lo:lo + n],
                                               ecp5=ecp5)
                    adb = self._input_register(m, f"{name}_adb", raddr_lo, addr_en, ecp5=ecp5)
                    pins = {
                        "i_CLKA": ClockSignal("sync"), "i_CEA": 1, "i_OCEA": 0, "i_RSTA": 0,
                        "i_WEA": wea,
                        "i_CLKB": ClockSignal("sync"), "i_CEB": read_en, "i_OCEB": out_en,
                        "i_RSTB": 0, "i_WEB": 0,
                    }
                    for i in range(3):
                        pins[f"i_CSA{i}"] = 0
                        pins[f"i_CSB{i}"] = 0
                    for i in range(14):
                        if i < shift:      # byte enables at width 18, unused bits otherwise
                            pins[f"i_ADA{i}"] = 1 if w == 18 else 0
                            pins[f"i_ADB{i}"] = 0
                        elif i - shift < len(waddr_lo):
                            pins[f"i_ADA{i}"] = ada[i - shift]
                            pins[f"i_ADB{i}"] = adb[i - shift]
                        else:
                            pins[f"i_ADA{i}"] = 0
                            pins[f"i_ADB{i}"] = 0
                    for i in range(18):
                        pins[f"i_DIA{i}"] = dia[i] if i < n else 0
                        pins[f"i_DIB{i}"] = 0
                    for i in range(n):
                        pins[f"o_DOB{i}"] = row_data[r][lo + i]
                    m.submodules[name] = primitive(params, pins)
        if row_bits:
            with m.Switch(row2):
                for r in range(lay.rows):
                    with m.Case(r):
                        m.d.comb += self.rdata.eq(row_data[r])
        else:
            m.d.comb += self.rdata.eq(row_data[0])
        return m


def _instance(params: dict, pins: dict) -> Instance:
    return Instance("DP16KD", **{f"p_{k}": v for k, v in params.items()}, **pins)
