"""On-chip tile buffer: the A, B and C memories of the engine and their word layout.

Three memories built on :class:`amaranth.lib.memory.Memory`, each with one write port and one
synchronous read port (simple dual port: one block RAM per slice on an FPGA). Every memory
word is what the PE array or the DMA moves in one cycle, so no cycle ever needs two words of
one memory (see ``docs/hardware.md``, "On-chip buffer"):

* **A** (int8 activations): a word holds ``rows`` *lanes*, lane ``r`` holding ``axi_bytes``
  consecutive k of A row ``m0 + r``. The DMA writes one beat (one lane) per cycle; the array
  reads one word per k step and takes byte ``k % axi_bytes`` of every lane. Tile element
  ``(m, k)`` of a region lives in word ``(m // rows) * KW + k // axi_bytes``, lane
  ``m % rows``, with ``KW = ceil(tk / axi_bytes)``.
* **B** (int8 weights): a word holds ``b_word_bytes = max(cols, axi_bytes)`` consecutive n of
  one k row. Element ``(k, n)`` lives in word ``k * NW + n // b_word_bytes``, ``NW =
  ceil(tn / b_word_bytes)``; the array reads the ``cols`` bytes of one block per k step.
* **C** (int32 accumulators): a word holds ``cols`` consecutive n of one m row. Element
  ``(m, n)`` lives in word ``m * NC + n // cols``, ``NC = ceil(tn / cols)``. The array
  writes whole words (read-modify-write); partial sums loaded from DRAM are written one beat
  (``axi_bytes / 4`` accumulators) at a time.

Offsets (``a_off`` ...) are in entries and whole words, so a region starts at word
``off // word_entries``. The padded region sizes are :func:`scanfuse.hw.program.tile_footprints`.

Read latency of A and B (``read_latency``, 1, 2 or 3)
------------------------------------------------------
``2`` (the engine's with inferred memories, :func:`ab_read_latency`): a second register stage
follows the read port, enabled by the same ``x_ren`` (so a stalled pipeline still holds its
data): the word read at the first edge with ``x_ren`` high appears after the second such edge.
On an ECP5 the memory's own output comes out of the block RAM 5.57-5.81 ns after the clock
(prjtrellis-db speed-6 DP16KD clock-to-out without output register), which would leave about
1 ns of a 150 MHz cycle for whatever reads it; the stage takes that off every path that starts
at ``x_rdata``. With ``cfg.tile_memory == "inferred"`` (the default) the stage is a fabric
register (Yosys 0.70 does not pack a fabric register into OUTREG).

``3`` with ``"dp16kd"`` (``scanfuse fpga --tile-memory dp16kd``): the A and B memories are
:class:`~scanfuse.hw.ebr.EBRMemory` with ``registered_inputs``: explicit DP16KD blocks whose
output register (``REGMODE_B = OUTREG``, 0.92-0.94 ns clock-to-out, same source) is the second
stage, and a copy of the ports' registers in front of every block (the first); in simulation
its behavioural model. All three stages are enabled by ``x_ren``.

The feed (:class:`~scanfuse.hw.feed.ComputeFeed`) issues each read address that many enabled
cycles ahead; :func:`ab_read_latency` is the one definition both use.

``1`` (``TileBuffer(cfg, read_latency=1)`` with inferred memories, kept for the unit tests
and for comparison): the word appears on ``x_rdata`` after the first clock edge with
``x_ren`` high; ``x_rdata`` is the memory's own output.

Read latency of C (:func:`c_read_latency`: 2, or 3 with ``"dp16kd"``)
----------------------------------------------------------------------
The word at ``c_raddr`` sampled at a clock edge with ``c_ren`` high is on ``c_rdata`` after
the next edge (inferred) or the second next (``dp16kd``), whatever ``c_ren`` is then: the
later stages load at every edge. Its readers, the accumulator and the store, use ``c_rdata``
as the registered word (they used to register the one-cycle read themselves, each its own
256-bit copy). With ``"inferred"`` memories the second stage is a fabric register; with
``"dp16kd"`` the C memory is an :class:`~scanfuse.hw.ebr.EBRMemory` with
``free_running_output`` and ``registered_inputs``, the last stage its blocks' output register,
so no path starts at a block RAM's 5.6 ns clock-to-out and none ends at a block's pin from far
away. The write lands one edge later too, so writes and reads keep their order.

Reads of a word being written
-----------------------------
No reader uses a read of a word that the same edge writes (the feed reads rows the loader
finished cycles before, the accumulator's rows of one job touch distinct words, a store reads
a finished C region). ``dp16kd`` blocks do not define such a read; for inferred memories Yosys
defines it (the old word) with logic of its own, a register per bit that delays the write and
a multiplexer that bypasses it to the read. In every simulation such a read returns the old
word inverted (:func:`~scanfuse.hw.ebr.collision_word`): reads that nobody uses do collide
(the idle feed and the always-enabled C port read whatever their address says), and every
simulation of the engine (the unit tests, ``scanfuse regress``) would fail if a used one did.
Mapping the inferred memories without Yosys's logic (``no_rw_check``) was measured and not
kept (docs/fpga.md, eighteenth round).
"""

from dataclasses import dataclass

from amaranth.hdl import Module
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import bits_for, exact_log2

from .ebr import EBRMemory, collision_word
from .params import AccelConfig

__all__ = ["BufferGeometry", "buffer_signature", "TileBuffer", "ab_read_latency",
           "c_read_latency"]


def _memory_latency(cfg: AccelConfig) -> int:
    if not isinstance(cfg, AccelConfig):
        raise TypeError(f"cfg must be an AccelConfig, not {cfg!r}")
    return EBRMemory.latency_for(registered_inputs=cfg.tile_memory == "dp16kd")


def ab_read_latency(cfg: AccelConfig) -> int:
    """Read latency of the A and B memories of ``cfg``'s engine, in enabled clock edges: 2
    with inferred memories (a fabric register behind the block RAM), 3 with ``dp16kd`` ones
    (input registers, the block, its output register; the module docstring says why)."""
    return _memory_latency(cfg)


def c_read_latency(cfg: AccelConfig) -> int:
    """Clock edges from a C read's address to its word on ``c_rdata`` in ``cfg``'s engine: 2
    with inferred memories, 3 with ``dp16kd`` ones (module docstring)."""
    return _memory_latency(cfg)


@dataclass(frozen=True)
class BufferGeometry:
    """Word sizes, depths and address widths of the three memories for one configuration.

    All sizes in bytes unless named ``*_entries`` (elements) or ``*_depth`` (words).
    """

    cfg: AccelConfig

    def __post_init__(self):
        self.cfg.check_engine()

    # --- A ---
    @property
    def a_lanes(self) -> int:
        """Lanes per A word (= rows)."""
        return self.cfg.rows

    @property
    def a_word_bits(self) -> int:
        return 8 * self.cfg.rows * self.cfg.axi_bytes

    @property
    def a_depth(self) -> int:
        return self.cfg.a_entries // (self.cfg.rows * self.cfg.axi_bytes)

    # --- B ---
    @property
    def b_lanes(self) -> int:
        """AXI beats per B word."""
        return self.cfg.b_word_bytes // self.cfg.axi_bytes

    @property
    def b_word_bits(self) -> int:
        return 8 * self.cfg.b_word_bytes

    @property
    def b_depth(self) -> int:
        return self.cfg.b_entries // self.cfg.b_word_bytes

    @property
    def b_blocks_per_word(self) -> int:
        """Array column blocks (``cols`` bytes) per B word (1 when cols >= axi_bytes)."""
        return self.cfg.b_word_bytes // self.cfg.cols

    # --- C ---
    @property
    def c_lanes(self) -> int:
        """AXI beats per C word (4 * cols bytes)."""
        return 4 * self.cfg.cols // self.cfg.axi_bytes

    @property
    def c_word_bits(self) -> int:
        return self.cfg.acc_bits * self.cfg.cols

    @property
    def c_depth(self) -> int:
        return self.cfg.c_entries // self.cfg.cols

    # --- widths ---
    @property
    def a_addr_bits(self) -> int:
        return max(1, bits_for(self.a_depth - 1))

    @property
    def b_addr_bits(self) -> int:
        return max(1, bits_for(self.b_depth - 1))

    @property
    def c_addr_bits(self) -> int:
        return max(1, bits_for(self.c_depth - 1))

    @property
    def log2_axi_bytes(self) -> int:
        return exact_log2(self.cfg.axi_bytes)


def _port_members(prefix: str, addr_bits: int, word_bits: int, lanes: int) -> dict:
    return {
        f"{prefix}_waddr": In(addr_bits),
        f"{prefix}_wdata": In(word_bits),
        f"{prefix}_wen": In(lanes),
        f"{prefix}_raddr": In(addr_bits),
        f"{prefix}_ren": In(1),
        f"{prefix}_rdata": Out(word_bits),
    }


def buffer_signature(cfg: AccelConfig) -> wiring.Signature:
    """The ports of a :class:`TileBuffer` for ``cfg`` (users take it flipped)."""
    g = BufferGeometry(cfg)
    return wiring.Signature({
        **_port_members("a", g.a_addr_bits, g.a_word_bits, g.a_lanes),
        **_port_members("b", g.b_addr_bits, g.b_word_bits, g.b_lanes),
        **_port_members("c", g.c_addr_bits, g.c_word_bits, g.c_lanes),
    })


class TileBuffer(wiring.Component):
    """The A, B and C memories (see the module docstring for the layout).

    Parameters
    ----------
    cfg : AccelConfig
        Must satisfy :meth:`AccelConfig.check_engine` (powers of two, whole words).

    Members
    -------
    x_waddr, x_wdata, x_wen : ``In`` (for x in a, b, c)
        Write port: word address, word data, one enable per lane (A: ``rows`` lanes of
        ``axi_bytes`` bytes; B: ``b_word_bytes / axi_bytes`` lanes; C: ``4 * cols /
        axi_bytes`` lanes).
    x_raddr, x_ren : ``In``
        Read port: for A and B, the word at ``x_raddr`` appears on ``x_rdata``
        ``read_latency`` enabled cycles later: after that many clock edges with ``x_ren``
        high, counting the one that samples ``x_raddr``; with ``x_ren`` low nothing moves and
        ``x_rdata`` holds (a stalled pipeline keeps its data). For C, after
        :func:`c_read_latency` edges whatever ``c_ren`` is after the first (module
        docstring). Writes land at the clock edge (one edge later with ``dp16kd`` memories).
    x_rdata : ``Out``

    Parameters
    ----------
    read_latency : int or None
        Of the A and B memories: ``None`` (default) :func:`ab_read_latency` of ``cfg``;
        with inferred memories 1 (the memory's output) or 2 (plus a registered output stage);
        see the module docstring. ``dp16kd`` memories have latency 3 only.

    Raises
    ------
    TypeError
        ``cfg`` is not an :class:`AccelConfig`.
    ValueError
        ``read_latency`` is not 1, 2 or None (or not 3 with ``dp16kd``), or ``cfg`` cannot
        build an engine.
    """

    def __init__(self, cfg: AccelConfig, *, read_latency: "int | None" = None):
        if not isinstance(cfg, AccelConfig):
            raise TypeError(f"cfg must be an AccelConfig, not {cfg!r}")
        if read_latency is None:
            read_latency = ab_read_latency(cfg)
        if cfg.tile_memory == "dp16kd":
            if read_latency != ab_read_latency(cfg):
                raise ValueError(f"read_latency of dp16kd tile memories is "
                                 f"{ab_read_latency(cfg)}, not {read_latency!r}")
        elif isinstance(read_latency, bool) or read_latency not in (1, 2):
            raise ValueError(f"read_latency must be 1 or 2, not {read_latency!r}")
        self.geometry = BufferGeometry(cfg)
        self._cfg = cfg
        self._read_latency = read_latency
        super().__init__(buffer_signature(cfg))

    @property
    def read_latency(self) -> int:
        """Read latency of the A and B memories (C: :func:`c_read_latency`)."""
        return self._read_latency

    def elaborate(self, platform):
        m = Module()
        g = self.geometry
        for name, bits, depth, lanes in (("a", g.a_word_bits, g.a_depth, g.a_lanes),
                                         ("b", g.b_word_bits, g.b_depth, g.b_lanes),
                                         ("c", g.c_word_bits, g.c_depth, g.c_lanes)):
            port = {n: getattr(self, f"{name}_{n}")
                    for n in ("waddr", "wdata", "wen", "raddr", "ren", "rdata")}
            if self._cfg.tile_memory == "dp16kd":
                # Explicit DP16KD blocks, input registers per block, output register in the
                # block (the model without a platform).
                m.submodules[f"{name}_mem"] = ebr = EBRMemory(
                    bits, depth, lanes, free_running_output=name == "c", registered_inputs=True)
                m.d.comb += [getattr(ebr, n).eq(port[n])
                             for n in ("waddr", "wdata", "wen", "raddr", "ren")]
                m.d.comb += port["rdata"].eq(ebr.rdata)
                continue
            mem = memory.Memory(shape=bits, depth=depth, init=[])
            wp = mem.write_port(granularity=bits // lanes)
            rp = mem.read_port(transparent_for=())
            m.submodules[f"{name}_mem"] = mem
            m.d.comb += [
                wp.addr.eq(port["waddr"]),
                wp.data.eq(port["wdata"]),
                wp.en.eq(port["wen"]),
                rp.addr.eq(port["raddr"]),
                rp.en.eq(port["ren"]),
            ]
            latch = rp.data
            if platform is None:      # simulation: a collided read gives a wrong word
                latch = collision_word(m, latch, raddr=port["raddr"], read=port["ren"],
                                       waddr=port["waddr"], wen=port["wen"])
            if name == "c":       # the second stage loads at every edge
                m.d.sync += port["rdata"].eq(latch)
            elif self._read_latency == 1:
                m.d.comb += port["rdata"].eq(latch)
            else:
                with m.If(port["ren"]):   # a fabric output register (what OUTREG would be)
                    m.d.sync += port["rdata"].eq(latch)
        return m
