"""StorePath: writes a C tile from the C memory back to DRAM.

A :class:`StoreRequest` names the tile (element ranges ``m0 .. m0+m_len``, ``n0 .. n0+n_len``)
and the C region holding it; ``final`` tiles go to the layer's output C (requantised int8 or
raw int32, as ``layer.int8`` says), the others to the partial-sum area P (int32). The path:

1. two registered cycles for the DRAM address (``m0 * stride``, then the sum), then one
   :class:`~scanfuse.hw.dma.DmaCommand` (a write of ``m_len`` rows);
2. C words read row by row into a small FIFO; a read is issued only in a cycle the C read port
   is free (``port_busy`` low: the accumulation reads first) and while fewer than
   :func:`store_fifo_depth` words are in flight or queued, so the FIFO never overflows and no
   read waits on the DMA combinationally;
3. the words through the :class:`~scanfuse.hw.requant.Requantizer` (int8) or straight (int32)
   into a :class:`~scanfuse.hw.packer.RowPacker`, then a register slice to ``wr``.

Register slices cut the ready chain (DMA write side -> packers -> requantiser -> C reads) into
single-cycle hops for the FPGA clock. With no stalls the path streams one C word per cycle.
"""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2, exact_log2

from .buffer import BufferGeometry, c_read_latency
from .dma import TILE_DIM_BITS, DmaBeat, DmaCommand
from .lane_fifo import LaneFIFO
from .packer import RowPacker
from .params import AccelConfig
from .product import WideProduct
from .requant import Requantizer, RequantParams
from .skid import SkidBuffer

__all__ = ["store_fifo_depth", "StoreLayer", "StoreRequest", "StorePath"]


def store_fifo_depth(cfg: AccelConfig) -> int:
    """Depth of the FIFO between the C memory and the packers, in C words: at least the C
    read's latency (:func:`~scanfuse.hw.buffer.c_read_latency`, 2 or 3) plus the FIFO's own
    two cycles, so a store streams one word per cycle; rounded up to a power of two (4 or 8),
    so the FIFO's pointers wrap without a compare (its LUT RAM holds 16 words either way)."""
    return 1 << ceil_log2(c_read_latency(cfg) + 2)


class StoreLayer(data.StructLayout):
    """Per-layer inputs of :class:`StorePath` (from the layer descriptor), held while storing.

    Members
    -------
    c_base, c_stride, p_base, p_stride : ``addr_bits`` each
        Byte address of element (0, 0) and row stride of the output C and of P.
    int8 : 1
        Final tiles are requantised to int8 (else raw int32).
    nc : 16
        C words per tile row of the C memory.
    requant : :class:`~scanfuse.hw.requant.RequantParams`
    """

    def __init__(self, cfg: AccelConfig):
        super().__init__({"c_base": cfg.addr_bits, "c_stride": cfg.addr_bits,
                          "p_base": cfg.addr_bits, "p_stride": cfg.addr_bits,
                          "int8": 1, "nc": TILE_DIM_BITS, "requant": RequantParams})


class StoreRequest(data.StructLayout):
    """Payload of :attr:`StorePath.req`: one C tile.

    Members
    -------
    m0, m_len, n0, n_len : 16 each
        Element ranges of the tile in the layer's C (``m_len``, ``n_len`` >= 1).
    final : 1
        To the output C (else int32 partial sums to P).
    c_base : C word address
        First word of the C region holding the tile.
    """

    def __init__(self, cfg: AccelConfig):
        super().__init__({"m0": TILE_DIM_BITS, "m_len": TILE_DIM_BITS, "n0": TILE_DIM_BITS,
                          "n_len": TILE_DIM_BITS, "final": 1,
                          "c_base": BufferGeometry(cfg).c_addr_bits})


class StorePath(wiring.Component):
    """Stores one C tile per request (see the module docstring).

    Parameters
    ----------
    cfg : AccelConfig
        Must pass :meth:`AccelConfig.check_engine`.

    Members
    -------
    layer : ``In(StoreLayer(cfg))``
    req : ``In(stream.Signature(StoreRequest(cfg)))``
        Taken when ``idle`` (the previous tile's last beat is out).
    cmd : ``Out(stream.Signature(DmaCommand(cfg)))``
        The tile's DMA write.
    wr : ``Out(stream.Signature(DmaBeat(cfg)))``
        Its bytes.
    idle : ``Out(1)``
    issued : ``Out(1)``
        Pulse: the DMA took the command (reads issued after it queue behind its writes).
    done : ``Out(1)``
        Pulse with the transfer of the tile's last beat.
    port_busy : ``In(1)``
        The C read port is taken this cycle (by the accumulation).
    c_raddr, c_ren : ``Out``; c_rdata : ``In``
        The C memory's read port (reads of :func:`~scanfuse.hw.buffer.c_read_latency` cycles,
        the stages after the first loading at every edge: :class:`~scanfuse.hw.buffer.
        TileBuffer`).
    """

    def __init__(self, cfg: AccelConfig):
        if not isinstance(cfg, AccelConfig):
            raise TypeError(f"cfg must be an AccelConfig, not {cfg!r}")
        cfg.check_engine()
        self._cfg = cfg
        g = self.geometry = BufferGeometry(cfg)
        super().__init__({
            "layer": In(StoreLayer(cfg)),
            "req": In(stream.Signature(StoreRequest(cfg))),
            "cmd": Out(stream.Signature(DmaCommand(cfg))),
            "wr": Out(stream.Signature(DmaBeat(cfg))),
            "idle": Out(1),
            "issued": Out(1),
            "done": Out(1),
            "port_busy": In(1),
            "c_raddr": Out(g.c_addr_bits), "c_ren": Out(1), "c_rdata": In(g.c_word_bits),
        })

    def elaborate(self, platform):
        m = Module()
        cfg, g = self._cfg, self.geometry
        C, lC = cfg.cols, exact_log2(cfg.cols)
        layer = self.layer
        m.submodules.requant = requant = Requantizer(cfg)
        m.submodules.pack8 = pack8 = RowPacker(cfg, 1)
        # The 32-bit packer reads its units straight from the C FIFO's head (`peek`): no
        # 256-bit word register whose enable is the packer's decision (the dp16kd build's
        # largest late group at 150 MHz, docs/fpga.md, nineteenth round).
        m.submodules.pack32 = pack32 = RowPacker(cfg, 4, peek=True)
        m.submodules.q_skid = q_skid = SkidBuffer(8 * C)
        m.submodules.wr_skid = wr_skid = SkidBuffer(DmaBeat(cfg))
        # A first-word-fall-through FIFO without an output register: its head comes straight
        # out of its LUT RAM into the requantiser's stage 0 (a register without an enable) or,
        # a unit at a time, the 32-bit packer's beat register, so no 256-bit register with a
        # clock enable (the pop decision) sits between them (an FPGA timing path,
        # docs/fpga.md). One memory per accumulator lane, each with
        # its own copies of the write flag and the pointers (LaneFIFO): one shared set reached
        # all 64 LUT RAM cells over the width of the die (docs/fpga.md, nineteenth round).
        depth = store_fifo_depth(cfg)
        m.submodules.c_fifo = c_fifo = LaneFIFO(cfg.acc_bits, C, depth,
                                                ecp5=cfg.pe_multiplier == "mult18x18d")

        tile = Signal(StoreRequest(cfg))
        int8 = Signal()                # this tile goes out requantised
        addr = Signal(cfg.addr_bits)
        # m0 * (C or P stride), from `tile` and `stride` (held from MUL on)
        m.submodules.product = product = WideProduct(cfg.pe_multiplier, TILE_DIM_BITS,
                                                     cfg.addr_bits, cfg.addr_bits)
        wait = Signal(range(product.latency + 1))
        prod = product.p
        row_bytes = Signal(TILE_DIM_BITS)
        stride = Signal(cfg.addr_bits)
        m.d.comb += [product.a.eq(tile.m0), product.b.eq(stride)]
        # The reader's position as flags and down counters loaded with their next values, and
        # its read address as a register: the issue's enables and the C address start at
        # flip-flops, not at compares with `nwords - 1` and `m_len - 1` and an adder `ptr + w`
        # (the nwords -> reading -> ptr chain, 7 levels, was the 8x8 build's seed-1 critical
        # path, docs/fpga.md, twentieth round).
        ptr = Signal(g.c_addr_bits)    # the current row's first word
        raddr = Signal(g.c_addr_bits)  # the next word to read: ptr + its index in the row
        w_rem = Signal(TILE_DIM_BITS)  # words of the row after the next one
        w_rem0 = Signal(TILE_DIM_BITS)  # ... at a row's start: words per row - 1
        w_end = Signal()               # the next word is the row's last (w_rem == 0)
        w_one = Signal()               # one word per row (w_rem0 == 0)
        row_rem = Signal(TILE_DIM_BITS)  # rows after the current one
        row_end = Signal()             # the current row is the tile's last (row_rem == 0)
        reading = Signal()
        active = Signal()              # the command is accepted, the last beat not yet out
        pending = Signal(range(depth + 1))   # words read, not yet out of the FIFO
        # in_read[i]: a word read i + 1 edges ago is in the C memory's stages; the last is on
        # c_rdata
        in_read = [Signal(name=f"s{i + 1}_valid") for i in range(c_read_latency(cfg))]

        m.d.comb += self.done.eq(self.wr.valid & self.wr.ready & self.wr.payload.last)
        # The tile's first column in C or P, registered in every cycle: final from MUL on, so
        # ADDR adds it to the product with one adder (the two adders and the selects in series
        # were among the 8x8 build's late paths, docs/fpga.md, sixteenth round).
        base_off = Signal(cfg.addr_bits)
        m.d.sync += base_off.eq(Mux(tile.final,
                                    layer.c_base + Mux(layer.int8, tile.n0, tile.n0 << 2),
                                    layer.p_base + (tile.n0 << 2)))
        cmd_v = Signal()               # in CMD (a flip-flop: the DMA mux's select)
        # The payload comes from registers in every state (only `valid` says CMD): no state
        # decode in front of the DMA's address registers (an FPGA timing path, docs/fpga.md).
        p = self.cmd.payload
        m.d.comb += [self.cmd.valid.eq(cmd_v), p.write.eq(1), p.addr.eq(addr),
                     p.row_bytes.eq(row_bytes), p.rows.eq(tile.m_len), p.stride.eq(stride)]
        # `idle` is a flip-flop that is set exactly in IDLE (set on the way in, cleared on the
        # way out), not the state's decode: the sequencer's step acceptance and the step
        # slice's 167 output enables sit behind it (an FPGA timing path, docs/fpga.md,
        # seventeenth round).
        idle = Signal(init=1)
        m.d.comb += [self.idle.eq(idle), self.req.ready.eq(idle)]
        with m.If(idle):
            # The stride is chosen here, so the product's multiplier inputs are both
            # flip-flops (not `final`'s route and a multiplexer before a DSP: an FPGA
            # timing path, docs/fpga.md). Both are loaded in every idle cycle, not only
            # with `valid` (nothing reads them while idle), so their enable is `idle`.
            m.d.sync += [tile.eq(self.req.payload),
                         stride.eq(Mux(self.req.payload.final, layer.c_stride,
                                       layer.p_stride)),
                         wait.eq(product.latency - 1)]
        with m.FSM(name="store"):
            with m.State("IDLE"):
                with m.If(self.req.valid):
                    m.d.sync += idle.eq(0)
                    m.next = "MUL"
            with m.State("MUL"):
                # `product.latency` cycles from `tile` and `stride` (loaded in IDLE) to `prod`.
                m.d.sync += wait.eq(wait - 1)
                with m.If(wait == 0):
                    m.next = "ADDR"
            with m.State("ADDR"):
                final_int8 = tile.final & layer.int8
                words_m1 = ((tile.n_len + (C - 1)) >> lC) - 1     # C words per row - 1
                n_one = tile.n_len <= C
                m.d.sync += [
                    int8.eq(final_int8),
                    addr.eq(prod + base_off),
                    row_bytes.eq(Mux(final_int8, tile.n_len, tile.n_len << 2)),
                    ptr.eq(tile.c_base), raddr.eq(tile.c_base),
                    w_rem.eq(words_m1), w_rem0.eq(words_m1), w_end.eq(n_one), w_one.eq(n_one),
                    row_rem.eq(tile.m_len - 1), row_end.eq(tile.m_len == 1),
                    reading.eq(1),
                ]
                m.d.comb += [pack8.start.eq(1), pack32.start.eq(1),
                             pack8.row_elems.eq(tile.n_len), pack32.row_elems.eq(tile.n_len),
                             pack8.rows.eq(tile.m_len), pack32.rows.eq(tile.m_len)]
                m.d.sync += cmd_v.eq(1)
                m.next = "CMD"
            with m.State("CMD"):
                with m.If(self.cmd.ready):
                    m.d.comb += self.issued.eq(1)
                    m.d.sync += [active.eq(1), cmd_v.eq(0)]
                    m.next = "DATA"
            with m.State("DATA"):
                with m.If(self.done):
                    m.d.sync += [active.eq(0), idle.eq(1)]
                    m.next = "IDLE"

        # --- C reads, c_read_latency cycles to c_rdata, into the FIFO ---
        issue = active & reading & (pending != depth) & ~self.port_busy
        take = c_fifo.r_rdy & c_fifo.r_en
        m.d.sync += [in_read[0].eq(issue), pending.eq(pending + issue - take)]
        m.d.sync += [in_read[i].eq(in_read[i - 1]) for i in range(1, len(in_read))]
        m.d.comb += [self.c_raddr.eq(raddr), self.c_ren.eq(issue)]
        with m.If(issue):
            with m.If(~w_end):
                m.d.sync += [raddr.eq(raddr + 1), w_rem.eq(w_rem - 1), w_end.eq(w_rem == 1)]
            with m.Else():
                m.d.sync += [ptr.eq(ptr + layer.nc), raddr.eq(ptr + layer.nc),
                             w_rem.eq(w_rem0), w_end.eq(w_one),
                             row_rem.eq(row_rem - 1), row_end.eq(row_rem == 1)]
                with m.If(row_end):
                    m.d.sync += reading.eq(0)

        # --- FIFO -> requantiser (int8) or straight (int32) -> packer -> register slice ---
        # The requantiser's parameters from a register of their own, loaded every cycle: the
        # layer's are held while storing, and the first vector reaches the requantiser cycles
        # after the request. It cuts the route from the descriptor register to the
        # requantiser's multipliers and threshold (an FPGA timing path, docs/fpga.md).
        params = Signal(RequantParams, reset_less=True)
        m.d.sync += params.eq(layer.requant)
        m.d.comb += [
            # The word on c_rdata next cycle (LaneFIFO registers the flag in each lane).
            c_fifo.w_next.eq(in_read[-2] if len(in_read) > 1 else issue),
            c_fifo.w_data.eq(self.c_rdata),
            c_fifo.r_en.eq(Mux(int8, requant.i.ready, pack32.i.ready)),
            requant.params.eq(params),
            requant.i.valid.eq(c_fifo.r_rdy & int8),
            requant.i.payload.data.eq(c_fifo.r_data),
            pack32.i.valid.eq(c_fifo.r_rdy & ~int8),
            pack32.i.payload.eq(c_fifo.r_data),
            q_skid.i.valid.eq(requant.o.valid),
            q_skid.i.payload.eq(requant.o.payload.data.as_value()),
            requant.o.ready.eq(q_skid.i.ready),
        ]
        wiring.connect(m, q_skid.o, pack8.i)
        with m.If(int8):
            m.d.comb += [wr_skid.i.valid.eq(pack8.o.valid), wr_skid.i.payload.eq(pack8.o.payload),
                         pack8.o.ready.eq(wr_skid.i.ready)]
        with m.Else():
            m.d.comb += [wr_skid.i.valid.eq(pack32.o.valid),
                         wr_skid.i.payload.eq(pack32.o.payload),
                         pack32.o.ready.eq(wr_skid.i.ready)]
        wiring.connect(m, wr_skid.o, wiring.flipped(self.wr))
        return m
