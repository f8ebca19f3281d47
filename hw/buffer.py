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
"""

from dataclasses import dataclass

from amaranth.hdl import Module
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import bits_for, exact_log2

from .params import AccelConfig

__all__ = ["BufferGeometry", "buffer_signature", "TileBuffer"]


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
        axi_bytes`` lanes). Written at the clock edge.
    x_raddr, x_ren : ``In``
        Read port: the word at ``x_raddr`` appears on ``x_rdata`` one cycle after a cycle with
        ``x_ren`` high; with ``x_ren`` low ``x_rdata`` holds (a stalled pipeline keeps its data).
    x_rdata : ``Out``
    """

    def __init__(self, cfg: AccelConfig):
        if not isinstance(cfg, AccelConfig):
            raise TypeError(f"cfg must be an AccelConfig, not {cfg!r}")
        self.geometry = BufferGeometry(cfg)
        super().__init__(buffer_signature(cfg))

    def elaborate(self, platform):
        m = Module()
        g = self.geometry
        for name, bits, depth, lanes in (("a", g.a_word_bits, g.a_depth, g.a_lanes),
                                         ("b", g.b_word_bits, g.b_depth, g.b_lanes),
                                         ("c", g.c_word_bits, g.c_depth, g.c_lanes)):
            mem = memory.Memory(shape=bits, depth=depth, init=[])
            wp = mem.write_port(granularity=bits // lanes)
            rp = mem.read_port(transparent_for=())
            m.submodules[f"{name}_mem"] = mem
            m.d.comb += [
                wp.addr.eq(getattr(self, f"{name}_waddr")),
                wp.data.eq(getattr(self, f"{name}_wdata")),
                wp.en.eq(getattr(self, f"{name}_wen")),
                rp.addr.eq(getattr(self, f"{name}_raddr")),
                rp.en.eq(getattr(self, f"{name}_ren")),
                getattr(self, f"{name}_rdata").eq(rp.data),
            ]
        return m
