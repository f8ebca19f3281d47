"""TileLoader: one DMA read of a tile, written beat by beat into the A, B or C memory.

The sequencer's one loader for all three operands (``docs/hardware/engine.md``, "Loads"): a
:class:`LoadRequest` names the target memory, the tile's DRAM rows and the memory word its
first row goes to; the loader computes the DRAM address in two registered steps (a 16 x
``addr_bits`` product beside the sum of the origin and the column, then their sum: off the
FPGA's critical path), issues one
:class:`~scanfuse.hw.dma.DmaCommand` and writes every beat the DMA returns in the cycle it
arrives. Where a beat goes depends on the target's word layout (``scanfuse.hw.buffer``):

* **A**: row ``r`` of the tile is lane ``r % rows`` of the words of row block ``r // rows``;
  beat ``j`` of a row is word ``base + block * step + j``. ``block`` pulses as each row block
  is complete (the compute may start on it).
* **B** and **C**: row ``r`` starts at word ``base + r * step``; a memory word holds
  ``lanes`` beats, so beat ``j`` is lane ``j % lanes`` of word ``j // lanes`` of the row.

Cycles: request accepted -> 2 address cycles -> command offered -> one beat per cycle as the
DMA delivers them; the loader is ready for the next request in the cycle after the last beat.
"""

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import exact_log2

from .buffer import BufferGeometry
from .dma import TILE_DIM_BITS, DmaBeat, DmaCommand
from .params import AccelConfig
from .product import WideProduct

__all__ = ["Target", "LoadRequest", "TileLoader"]


class Target(enum.Enum, shape=2):
    """The memory a load writes."""
    A = 0
    B = 1
    C = 2


class LoadRequest(data.StructLayout):
    """Payload of :attr:`TileLoader.req`: one tile.

    Members
    -------
    target : :class:`Target`
    org, col, idx, stride : ``addr_bits``, 16, 16, ``addr_bits``
        The first row's DRAM byte address is ``org + col + idx * stride`` (modulo
        ``2**addr_bits``); rows are ``stride`` bytes apart. ``col`` is the tile's byte offset
        in the row: the loader adds it, so that the requester's payload needs no adder.
    row_bytes, rows : 16, 16
        Bytes per row and rows (each 1..65535).
    base : word address
        Memory word of the tile's first row (first row block for A).
    step : 16
        Words from one row (B, C) or row block (A) to the next.
    """

    def __init__(self, cfg: AccelConfig):
        g = BufferGeometry(cfg)
        super().__init__({
            "target": Target,
            "org": cfg.addr_bits,
            "col": TILE_DIM_BITS,
            "idx": TILE_DIM_BITS,
            "stride": cfg.addr_bits,
            "row_bytes": TILE_DIM_BITS,
            "rows": TILE_DIM_BITS,
            "base": max(g.a_addr_bits, g.b_addr_bits, g.c_addr_bits),
            "step": TILE_DIM_BITS,
        })


class TileLoader(wiring.Component):
    """Loads one tile per request into the A, B or C memory (see the module docstring).

    Parameters
    ----------
    cfg : AccelConfig
        Must pass :meth:`AccelConfig.check_engine`.

    Members
    -------
    req : ``In(stream.Signature(LoadRequest(cfg)))``
        Taken when the loader is idle (``ready`` = ``idle``).
    cmd : ``Out(stream.Signature(DmaCommand(cfg)))``
        The tile's DMA read.
    rd : ``In(stream.Signature(DmaBeat(cfg)))``
        Its beats; always ready while the tile is loading (a memory write never waits).
    idle : ``Out(1)``
        No request in progress.
    block : ``Out(1)``
        Pulse with the write of the last row of an A row block.
    done : ``Out(1)``
        Pulse with the write of the tile's last beat.
    c_loading : ``Out(1)``
        A flip-flop, high from the cycle after a C request is taken through the cycle that
        writes its last beat: every C write falls inside it, so a C memory write port shared
        with another writer can select on it (no decode of the loader's state and the beat's
        arrival in front of the port's data, an FPGA timing path, ``docs/fpga.md``).
    a_waddr, a_wdata, a_wen, b_..., c_... : ``Out``
        The write ports of the three memories (:func:`scanfuse.hw.buffer.buffer_signature`
        widths); an enable is high only in a cycle that writes a beat.
    """

    def __init__(self, cfg: AccelConfig):
        if not isinstance(cfg, AccelConfig):
            raise TypeError(f"cfg must be an AccelConfig, not {cfg!r}")
        cfg.check_engine()
        self._cfg = cfg
        g = self.geometry = BufferGeometry(cfg)
        ports = {}
        for name, addr_bits, word_bits, lanes in (("a", g.a_addr_bits, g.a_word_bits, g.a_lanes),
                                                  ("b", g.b_addr_bits, g.b_word_bits, g.b_lanes),
                                                  ("c", g.c_addr_bits, g.c_word_bits, g.c_lanes)):
            ports[f"{name}_waddr"] = Out(addr_bits)
            ports[f"{name}_wdata"] = Out(word_bits)
            ports[f"{name}_wen"] = Out(lanes)
        super().__init__({
            "req": In(stream.Signature(LoadRequest(cfg))),
            "cmd": Out(stream.Signature(DmaCommand(cfg))),
            "rd": In(stream.Signature(DmaBeat(cfg))),
            "idle": Out(1),
            "block": Out(1),
            "done": Out(1),
            "c_loading": Out(1),
            **ports,
        })

    def elaborate(self, platform):
        m = Module()
        cfg, g = self._cfg, self.geometry
        R = cfg.rows
        cur = Signal(LoadRequest(cfg))           # the request being served; base advances
        j = Signal(TILE_DIM_BITS)                # beat within the row
        lane = Signal(range(max(2, R)))          # A: row within the block
        # idx * stride, from `cur` (held from MUL on), then added to org
        m.submodules.product = product = WideProduct(cfg.pe_multiplier, TILE_DIM_BITS,
                                                     cfg.addr_bits, cfg.addr_bits)
        m.d.comb += [product.a.eq(cur.idx), product.b.eq(cur.stride)]
        wait = Signal(range(product.latency + 1))
        org_col = Signal(cfg.addr_bits)
        rd = self.rd

        cmd_v = Signal()                         # in CMD (a flip-flop: the DMA mux's select)
        # The payload comes from registers in every state (only `valid` says CMD): no state
        # decode in front of the DMA's address registers (an FPGA timing path, docs/fpga.md).
        p = self.cmd.payload
        m.d.comb += [self.cmd.valid.eq(cmd_v), p.write.eq(0), p.addr.eq(cur.org),
                     p.row_bytes.eq(cur.row_bytes), p.rows.eq(cur.rows),
                     p.stride.eq(cur.stride)]
        # In DATA, as a flip-flop of its own: `rd.ready` (and through the engine's read slice
        # its output enable) starts at one flip-flop, not at the state decode (an FPGA timing
        # path, docs/fpga.md).
        in_data = Signal()
        with m.FSM(name="loader") as fsm:
            with m.State("IDLE"):
                m.d.comb += [self.idle.eq(1), self.req.ready.eq(1)]
                # Loaded in every idle cycle, not only with `valid`: nothing reads them while
                # idle, and the request registers' enable is then the state alone, not the
                # sequencer's decode of its own state (an FPGA timing path, docs/fpga.md).
                m.d.sync += [cur.eq(self.req.payload), j.eq(0), lane.eq(0),
                             wait.eq(product.latency - 1)]
                with m.If(self.req.valid):
                    m.d.sync += self.c_loading.eq(self.req.payload.target == Target.C)
                    m.next = "MUL"
            with m.State("MUL"):
                # `product.latency` cycles from `cur` (loaded in IDLE) to `product.p`; beside
                # it, org + col.
                m.d.sync += [wait.eq(wait - 1), org_col.eq(cur.org + cur.col)]
                with m.If(wait == 0):
                    m.next = "ADD"
            with m.State("ADD"):
                m.d.sync += [cur.org.eq(org_col + product.p), cmd_v.eq(1)]
                m.next = "CMD"
            with m.State("CMD"):
                with m.If(self.cmd.ready):
                    m.d.sync += [cmd_v.eq(0), in_data.eq(1)]
                    m.next = "DATA"
            with m.State("DATA"):
                m.d.comb += rd.ready.eq(in_data)
                with m.If(rd.valid):
                    m.d.sync += j.eq(j + 1)
                    with m.If(rd.payload.row_last):
                        m.d.sync += j.eq(0)
                        with m.If(cur.target != Target.A):
                            m.d.sync += cur.base.eq(cur.base + cur.step)
                        with m.Elif(lane == R - 1):
                            m.d.sync += [lane.eq(0), cur.base.eq(cur.base + cur.step)]
                            m.d.comb += self.block.eq(1)
                        with m.Else():
                            m.d.sync += lane.eq(lane + 1)
                    with m.If(rd.payload.last):
                        m.d.comb += self.done.eq(1)
                        m.d.sync += [self.c_loading.eq(0), in_data.eq(0)]
                        m.next = "IDLE"

        fire = in_data & rd.valid
        beat = rd.payload.data
        b_shift, c_shift = exact_log2(g.b_lanes), exact_log2(g.c_lanes)
        # Every lane of a word gets the beat; the lane enables pick the one written.
        m.d.comb += [
            self.a_waddr.eq(cur.base + j),
            self.a_wdata.eq(Cat(*([beat] * g.a_lanes))),
            self.b_waddr.eq(cur.base + (j >> b_shift)),
            self.b_wdata.eq(Cat(*([beat] * g.b_lanes))),
            self.c_waddr.eq(cur.base + (j >> c_shift)),
            self.c_wdata.eq(Cat(*([beat] * g.c_lanes))),
        ]
        with m.If(fire):
            with m.Switch(cur.target):
                with m.Case(Target.A):
                    m.d.comb += self.a_wen.eq(1 << lane)
                with m.Case(Target.B):
                    m.d.comb += self.b_wen.eq(1 << j[:b_shift] if g.b_lanes > 1 else 1)
                with m.Case(Target.C):
                    m.d.comb += self.c_wen.eq(1 << j[:c_shift] if g.c_lanes > 1 else 1)
        return m
