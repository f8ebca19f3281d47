"""Sequencer: runs a tile program — fetch, check, walk, load, compute, store.

One descriptor at a time (``docs/hardware.md``, "Sequencer"):

1. **Fetch** the descriptor (``LayerDescriptor(cfg).beats`` beats) from ``prog_addr`` with one
   DMA read, and **check** it (:class:`~scanfuse.hw.program.DescriptorChecker`). An illegal
   descriptor stops the program: ``error`` = its :class:`~scanfuse.hw.program.DescriptorError`
   code, ``done`` rises, the engine is idle again. A bus error latched by the DMA by the end
   of the fetch (this fetch's or any earlier transfer's) stops it the same way with
   ``EngineError.BUS_ERROR``: the descriptor is not executed.
2. **Walk** its tile grid with the :class:`~scanfuse.hw.addrgen.TileAddressGenerator`; for each
   :class:`~scanfuse.hw.addrgen.TileStep`, in the planner's order and with the planner's
   decisions:

   * ``store_prev_c``: write the previous C tile back — requantised int8 or raw int32 to C
     when ``prev_c_final``, else int32 partial sums to the scratch area P;
   * ``load_b`` / ``load_c`` / ``load_a``: read the B tile, the partial sums of the C tile
     (from P) and the A tile into the tile buffer, A last: the compute starts as soon as A's
     first row block is in and takes each further block when its rows have arrived;
   * compute: for every ``rows x cols`` block of the C tile, ``k_len`` k steps through the
     :class:`~scanfuse.hw.pe_array.PEArray` (blocks back to back); each result row is added to
     its accumulators (read-modify-write), or overwrites them when the C tile is fresh;
   * after the ``last`` step, store the current C tile (final).
3. After a descriptor with ``last`` set, wait for the DMA to finish every write, raise ``done``.

Without ``cfg.double_buffer`` the steps' loads, compute and stores take turns (the DMA
pipelines the bursts of one transfer). With it, A, B and C each have two regions: while a
step computes, the next step's A and B tiles are prefetched into the free halves and the
previous C tile is stored from the other C region (the store reads C in the cycles the
accumulation does not; a fresh tile's rows need no read). One store runs at a time, and any
read issued after a store's command waits in the DMA for its writes (read-after-write safe
for partial sums and chained layers). The traffic counters count tensor bytes on the buffer
side of the DMA — exactly what the planner counts; the 64-byte descriptor fetches are not
included.

Error codes (``error``): 1..10 are :class:`~scanfuse.hw.program.DescriptorError`;
:class:`EngineError` adds bus errors and malformed programs.
"""

import enum as py_enum

from amaranth.hdl import Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out
from amaranth.utils import exact_log2

from .addrgen import TileAddressGenerator, TileStep
from .buffer import BufferGeometry, buffer_signature
from .dma import TILE_DIM_BITS, DmaBeat, DmaCommand
from .packer import RowPacker
from .pe_array import PEArray
from .params import AccelConfig
from .program import DescriptorChecker, DescriptorError, LayerDescriptor, OutMode
from .requant import Requantizer
from .skid import SkidBuffer

__all__ = ["EngineError", "COUNTER_NAMES", "Sequencer"]

#: Width of the error code (the ERROR register).
ERROR_BITS = 8


class EngineError(py_enum.IntEnum):
    """Error codes beyond the descriptor rules (which keep their DescriptorError codes)."""
    NONE = 0
    BUS_ERROR = 0x10       #: an AXI read or write response was SLVERR/DECERR
    EMPTY_PROGRAM = 0x11   #: started with PROG_LEN = 0
    NO_LAST = 0x12         #: PROG_LEN descriptors ran and none had ``last`` set


# Descriptor rule codes must not collide with the engine's own.
assert max(e.value for e in DescriptorError) < min(e for e in EngineError if e)

#: Depth of the FIFO between the C memory and the store path, in C words. Reads are issued
#: ahead while fewer than this many words are in flight or waiting; 4 covers the two-cycle
#: C read and the FIFO's own latency, so a store streams one word per cycle.
_STORE_FIFO_DEPTH = 4

#: The sequencer's counters, as named by the register block (``scanfuse.hw.regs.COUNTERS``).
COUNTER_NAMES = ("cycles", "read_bytes", "write_bytes", "macs", "stalls", "compute_cycles")


class _Target(enum.Enum):
    A = 0
    B = 1
    C = 2


class Sequencer(wiring.Component):
    """Runs tile programs over a :class:`~scanfuse.hw.dma.TileDMA` and a
    :class:`~scanfuse.hw.buffer.TileBuffer` (see the module docstring).

    Parameters
    ----------
    cfg : AccelConfig
        Must pass :meth:`AccelConfig.check_engine`.
    counter_bits : int
        Width of the counters (default 64).

    Members
    -------
    start : ``In(1)``
        Pulse: run the program at ``prog_addr`` (``prog_len`` descriptors at most). Ignored
        while busy. Clears ``done``, ``error`` and the counters.
    clear : ``In(1)``
        Pulse: clear ``done``, ``error`` and the counters (when idle).
    prog_addr : ``In(cfg.addr_bits)``, prog_len : ``In(32)``
    busy, done : ``Out(1)``
        ``done`` rises when a program ends (normally or with an error) and stays high until
        the next ``start`` or ``clear``.
    error : ``Out(8)``
        0, a :class:`DescriptorError` code or an :class:`EngineError` code.
    cycles, read_bytes, write_bytes, macs, stalls, compute_cycles : ``Out(counter_bits)``
        Busy cycles; tensor bytes read and written (buffer side of the DMA, descriptor
        fetches excluded); useful multiply-accumulates (``M*N*K`` per layer); busy cycles in
        which the PE array took no k step; cycles in the compute phase of a step (from its
        first k step to its last result row written). ``(cycles - stalls) / compute_cycles``
        is the array's utilisation while computing.
    dma_cmd, dma_rd, dma_wr, dma_busy, dma_error
        To the :class:`TileDMA` (``dma_rd`` in, the others out; ``dma_busy``/``dma_error`` in).
    buf : the :class:`TileBuffer` ports, flipped (the sequencer drives addresses and data).
    """

    def __init__(self, cfg: AccelConfig, counter_bits: int = 64):
        if not isinstance(cfg, AccelConfig):
            raise TypeError(f"cfg must be an AccelConfig, not {cfg!r}")
        cfg.check_engine()
        self._cfg = cfg
        self._counter_bits = counter_bits
        self.geometry = BufferGeometry(cfg)
        super().__init__({
            "start": In(1),
            "clear": In(1),
            "prog_addr": In(cfg.addr_bits),
            "prog_len": In(32),
            "busy": Out(1),
            "done": Out(1),
            "error": Out(ERROR_BITS),
            **{name: Out(counter_bits) for name in COUNTER_NAMES},
            "dma_cmd": Out(stream.Signature(DmaCommand(cfg))),
            "dma_rd": In(stream.Signature(DmaBeat(cfg))),
            "dma_wr": Out(stream.Signature(DmaBeat(cfg))),
            "dma_busy": In(1),
            "dma_error": In(1),
            "buf": In(buffer_signature(cfg)),
        })

    @property
    def cfg(self) -> AccelConfig:
        return self._cfg

    def elaborate(self, platform):
        m = Module()
        cfg, g = self._cfg, self.geometry
        R, C, AB, WB = cfg.rows, cfg.cols, cfg.axi_bytes, cfg.b_word_bytes
        lR, lC, lAB, lWB = (exact_log2(x) for x in (R, C, AB, WB))
        layout = LayerDescriptor(cfg)
        buf = self.buf

        m.submodules.checker = checker = DescriptorChecker(cfg)
        m.submodules.addrgen = addrgen = TileAddressGenerator(cfg)
        m.submodules.pe = pe = PEArray(cfg)
        m.submodules.requant = requant = Requantizer(cfg)
        m.submodules.pack8 = pack8 = RowPacker(cfg, 1)
        m.submodules.pack32 = pack32 = RowPacker(cfg, 4)
        # Register slices cut the store path's ready chain (DMA write side -> packers ->
        # requantiser -> C reads) into single-cycle hops for the FPGA clock.
        m.submodules.q_skid = q_skid = SkidBuffer(8 * C)
        m.submodules.wr_skid = wr_skid = SkidBuffer(DmaBeat(cfg))
        # C words read for a store wait here; reads are issued only with room reserved.
        m.submodules.c_fifo = c_fifo = SyncFIFOBuffered(width=g.c_word_bits,
                                                        depth=_STORE_FIFO_DEPTH)

        desc_bits = Signal(layout.size)
        desc = layout(desc_bits)
        st = Signal(TileStep(TILE_DIM_BITS))
        first_step = Signal()
        beat_idx = Signal(range(layout.beats + 1))
        prog_ptr = Signal(cfg.addr_bits)
        desc_left = Signal(32)

        # --- per-descriptor constants (set in CHECK_WAIT) ---
        kw = Signal(TILE_DIM_BITS)       # A words per row block (ceil(tk / AB))
        nw = Signal(TILE_DIM_BITS)       # B words per k row (ceil(tn / WB))
        nc = Signal(TILE_DIM_BITS)       # C words per m row (ceil(tn / C))
        tmb = Signal(TILE_DIM_BITS)      # row blocks per A tile (ceil(tm / R))
        a_w0 = Signal(g.a_addr_bits)
        b_w0 = Signal(g.b_addr_bits)
        c_w0 = Signal(g.c_addr_bits)
        int8_out = Signal()

        # --- counters ---
        cnt = {name: getattr(self, name) for name in COUNTER_NAMES}
        pe_fire = pe.i.valid & pe.i.ready
        with m.If(self.busy):
            m.d.sync += cnt["cycles"].eq(cnt["cycles"] + 1)
            with m.If(~pe_fire):
                m.d.sync += cnt["stalls"].eq(cnt["stalls"] + 1)
        with m.If(self.dma_wr.valid & self.dma_wr.ready):
            m.d.sync += cnt["write_bytes"].eq(cnt["write_bytes"] + self.dma_wr.payload.count)

        # ===================================================================== loads
        ld_tgt = Signal(_Target)
        ld_addr = Signal(cfg.addr_bits)
        ld_row_bytes = Signal(TILE_DIM_BITS)
        ld_rows = Signal(TILE_DIM_BITS)
        ld_stride = Signal(cfg.addr_bits)
        ld_j = Signal(TILE_DIM_BITS)                 # beat within the row
        ld_lane = Signal(range(max(2, R)))           # A: row within the block
        ld_base = Signal(max(g.a_addr_bits, g.b_addr_bits, g.c_addr_bits))   # word of row start
        ld_idx = Signal(TILE_DIM_BITS)               # first row's index (row or k) in DRAM
        ld_prod = Signal(cfg.addr_bits)              # ld_idx * ld_stride, then added to ld_addr
        rd = self.dma_rd
        # The loader is its own FSM: the main FSM starts it with ``ld_go`` and these values.
        ld_go = Signal()
        go_tgt = Signal(_Target)
        go_org = Signal(cfg.addr_bits)               # address = org + idx * stride
        go_idx = Signal(TILE_DIM_BITS)
        go_row_bytes = Signal(TILE_DIM_BITS)
        go_rows = Signal(TILE_DIM_BITS)
        go_stride = Signal(cfg.addr_bits)
        go_base = Signal.like(ld_base)
        ld_idle = Signal()

        # --- double buffering: A and B regions have two halves; the next step's tiles are
        # prefetched into the halves not in use while the current step computes ---
        double = cfg.double_buffer
        cur_a = Signal()                 # half holding the current A tile
        cur_b = Signal()
        a_half = Signal(g.a_addr_bits + 1)      # words per A half (one padded A tile region)
        b_half = Signal(g.b_addr_bits + 1)
        a_cur_base = Signal(g.a_addr_bits)
        b_cur_base = Signal(g.b_addr_bits)
        a_other_base = Signal(g.a_addr_bits)
        b_other_base = Signal(g.b_addr_bits)
        m.d.comb += [a_cur_base.eq(a_w0 + Mux(cur_a, a_half, 0)),
                     b_cur_base.eq(b_w0 + Mux(cur_b, b_half, 0)),
                     a_other_base.eq(a_w0 + Mux(cur_a, 0, a_half)),
                     b_other_base.eq(b_w0 + Mux(cur_b, 0, b_half))]
        # C has two regions too when double-buffered: the previous C tile is stored from one
        # while the next one accumulates in the other (the planner's C footprint is doubled).
        cur_c = Signal()                 # region the compute accumulates into
        c_half = Signal(g.c_addr_bits + 1)      # words per C region (tm * ceil(tn / cols))
        c_cur_base = Signal(g.c_addr_bits)
        m.d.comb += c_cur_base.eq(c_w0 + Mux(cur_c, c_half, 0))
        nx = Signal(TileStep(TILE_DIM_BITS))    # the next step, popped while computing
        nx_valid = Signal()
        pf_a = Signal()                  # prefetch of nx's A / B still to start
        pf_b = Signal()
        prefetched = Signal()            # st's A and B tiles are already in their halves

        # ===================================================================== stores
        s_m0 = Signal(TILE_DIM_BITS)
        s_mlen = Signal(TILE_DIM_BITS)
        s_n0 = Signal(TILE_DIM_BITS)
        s_nlen = Signal(TILE_DIM_BITS)
        s_final = Signal()
        s_is_last = Signal()           # the store after a descriptor's last step
        s_active = Signal()            # a store's DMA command is accepted, its last beat not out
        s_base = Signal(g.c_addr_bits)         # first C word of the region being stored
        s_int8 = Signal()
        s_addr = Signal(cfg.addr_bits)
        s_prod = Signal(cfg.addr_bits)         # s_m0 * (C or P stride)
        s_row_bytes = Signal(TILE_DIM_BITS)
        s_stride = Signal(cfg.addr_bits)
        s_row = Signal(TILE_DIM_BITS)          # reader: row, word within row, row start word
        s_w = Signal(TILE_DIM_BITS)
        s_nwords = Signal(TILE_DIM_BITS)
        s_ptr = Signal(g.c_addr_bits)
        s_reading = Signal()
        s_pending = Signal(range(_STORE_FIFO_DEPTH + 1))   # C words read, not yet out of c_fifo
        s1_valid = Signal()                     # a C word read for the store is on buf.c_rdata
        s2_valid = Signal()                     # ... and on c_old

        # ===================================================================== compute
        f_active = Signal()
        a_stream = Signal()              # the current A tile is still loading (not prefetched)
        a_blocks = Signal(TILE_DIM_BITS)         # ... and this many of its row blocks are in
        f_go = Signal()                  # f_active and the A row block f_mb is in memory
        f_k = Signal(TILE_DIM_BITS)
        f_mb = Signal(TILE_DIM_BITS)
        f_nb = Signal(TILE_DIM_BITS)
        f_mblocks = Signal(TILE_DIM_BITS)
        f_nblocks = Signal(TILE_DIM_BITS)
        f_a_base = Signal(g.a_addr_bits)
        f_b_kbase = Signal(g.b_addr_bits)
        f_nbw = Signal(g.b_addr_bits)
        f_slice = Signal(range(max(2, g.b_blocks_per_word)))
        f_mrem = Signal(TILE_DIM_BITS)
        f_nrem = Signal(TILE_DIM_BITS)
        k1_valid = Signal()
        k1_ksel = Signal(range(max(2, AB)))
        k1_slice = Signal.like(f_slice)
        k1_last = Signal()
        k1_macs = Signal(unsigned(2 * 7 + 1))
        fresh = Signal()
        o_mb = Signal(TILE_DIM_BITS)
        o_nb = Signal(TILE_DIM_BITS)
        o_row_base = Signal(g.c_addr_bits)      # word of row 0 of the block row o_mb
        o_ptr = Signal(g.c_addr_bits)           # word of the next result row
        o_mrem = Signal(TILE_DIM_BITS)
        o_done = Signal()
        r1_valid = Signal()
        r1_we = Signal()
        r1_addr = Signal(g.c_addr_bits)
        r1_data = Signal(g.c_word_bits)
        r2_valid = Signal()                     # r1 one cycle later, with the old C word
        r2_we = Signal()
        r2_addr = Signal(g.c_addr_bits)
        r2_data = Signal(g.c_word_bits)
        c_old = Signal(g.c_word_bits)           # buf.c_rdata registered: C reads take 2 cycles

        def dispatch_after_store():
            with m.If(s_is_last):
                m.next = "NEXT_DESC"
            with m.Else():
                m.next = "LOAD_B"

        def begin_store(m0, mlen, n0, nlen, final, is_last):
            """Store the C tile in the compute region (``c_cur_base``); callers make sure no
            store is active."""
            m.d.sync += [s_m0.eq(m0), s_mlen.eq(mlen), s_n0.eq(n0), s_nlen.eq(nlen),
                         s_final.eq(final), s_is_last.eq(is_last), s_base.eq(c_cur_base)]
            m.next = "STORE_MUL"

        def issue_cmd(write, addr, row_bytes, rows, stride):
            """Offer one DMA command this cycle (FETCH_CMD, STORE_CMD, the loader's L_CMD;
            never two in one cycle); the caller moves on when ``dma_cmd.ready``."""
            p = self.dma_cmd.payload
            m.d.comb += [self.dma_cmd.valid.eq(1), p.write.eq(write), p.addr.eq(addr),
                         p.row_bytes.eq(row_bytes), p.rows.eq(rows), p.stride.eq(stride)]

        def go_load(target, org, idx, row_bytes, rows, stride, base):
            """Start the loader (it is idle whenever this is called) on the tile at DRAM
            address ``org + idx * stride`` (the loader multiplies in its own cycle)."""
            m.d.comb += [ld_go.eq(1), go_tgt.eq(target), go_org.eq(org), go_idx.eq(idx),
                         go_row_bytes.eq(row_bytes), go_rows.eq(rows), go_stride.eq(stride),
                         go_base.eq(base)]

        def load_a(step, base):
            go_load(_Target.A, desc.a_base + step.k0, step.m0, step.k_len, step.m_len,
                    desc.a_stride, base)

        def load_b(step, base):
            go_load(_Target.B, desc.b_base + step.n0, step.k0, step.n_len, step.k_len,
                    desc.b_stride, base)

        store_end = self.dma_wr.valid & self.dma_wr.ready & self.dma_wr.payload.last
        with m.If(store_end):
            m.d.sync += s_active.eq(0)

        with m.FSM(name="seq") as fsm:
            with m.State("IDLE"):
                with m.If(self.clear):
                    m.d.sync += [self.done.eq(0), self.error.eq(0)]
                    m.d.sync += [c.eq(0) for c in cnt.values()]
                with m.If(self.start):
                    m.d.sync += [self.done.eq(0), self.error.eq(0), self.busy.eq(1),
                                 prog_ptr.eq(self.prog_addr), desc_left.eq(self.prog_len)]
                    m.d.sync += [c.eq(0) for c in cnt.values()]
                    with m.If(self.prog_len == 0):
                        m.d.sync += self.error.eq(EngineError.EMPTY_PROGRAM)
                        m.next = "DRAIN"
                    with m.Else():
                        m.next = "FETCH_CMD"

            with m.State("FETCH_CMD"):
                issue_cmd(0, prog_ptr, layout.size_bytes, 1, 0)
                with m.If(self.dma_cmd.ready):
                    m.d.sync += [beat_idx.eq(0), prog_ptr.eq(prog_ptr + layout.size_bytes),
                                 desc_left.eq(desc_left - 1)]
                    m.next = "FETCH_DATA"

            with m.State("FETCH_DATA"):
                m.d.comb += rd.ready.eq(1)
                with m.If(rd.valid):
                    m.d.sync += [desc_bits.word_select(beat_idx, 8 * AB).eq(rd.payload.data),
                                 beat_idx.eq(beat_idx + 1)]
                    with m.If(rd.payload.last):
                        m.next = "CHECK"

            with m.State("CHECK"):
                m.d.comb += checker.valid.eq(1)
                m.next = "CHECK_WAIT"

            with m.State("CHECK_WAIT"):
                m.d.sync += [
                    kw.eq((desc.walk.tk + (AB - 1)) >> lAB),
                    nw.eq((desc.walk.tn + (WB - 1)) >> lWB),
                    nc.eq((desc.walk.tn + (C - 1)) >> lC),
                    tmb.eq((desc.walk.tm + (R - 1)) >> lR),
                    a_w0.eq(desc.a_off >> exact_log2(R * AB)),
                    b_w0.eq(desc.b_off >> lWB),
                    c_w0.eq(desc.c_off >> lC),
                    int8_out.eq(desc.out_mode == OutMode.INT8),
                ]
                # The checker's verdict comes with its done strobe (LATENCY cycles).
                with m.If(checker.done):
                    # A fetch answered with an error (or any earlier one: the DMA's reads wait
                    # for the B responses of earlier writes) stops the program here: the bits
                    # may be anything, and a garbage descriptor could write anywhere.
                    with m.If(self.dma_error):
                        m.d.sync += self.error.eq(EngineError.BUS_ERROR)
                        m.next = "DRAIN"
                    with m.Elif(checker.error != DescriptorError.NONE):
                        m.d.sync += self.error.eq(checker.error.as_value())
                        m.next = "DRAIN"
                    with m.Else():
                        m.next = "SETUP"

            with m.State("SETUP"):
                m.d.sync += [a_half.eq(tmb * kw),
                             b_half.eq(desc.walk.tk * nw), cur_a.eq(0), cur_b.eq(0),
                             c_half.eq(desc.walk.tm * nc), cur_c.eq(0),
                             nx_valid.eq(0), pf_a.eq(0), pf_b.eq(0)]
                m.next = "WALK"

            with m.State("WALK"):
                m.d.comb += addrgen.desc.valid.eq(1)
                with m.If(addrgen.desc.ready):
                    m.d.sync += first_step.eq(1)
                    m.next = "NEXT_STEP"

            with m.State("NEXT_STEP"):
                m.d.comb += addrgen.steps.ready.eq(1)
                with m.If(addrgen.steps.valid):
                    step = addrgen.steps.payload
                    m.d.sync += [st.eq(step), prefetched.eq(0)]
                    with m.If(step.store_prev_c):
                        begin_store(step.prev_m0, step.prev_m_len, step.prev_n0, step.prev_n_len,
                                    step.prev_c_final, 0)
                    with m.Else():
                        m.next = "LOAD_B"

            # ---------------------------------------------------------------- store a C tile
            with m.State("STORE_MUL"):
                m.d.sync += s_prod.eq(s_m0 * Mux(s_final, desc.c_stride, desc.p_stride))
                m.next = "STORE_ADDR"

            with m.State("STORE_ADDR"):
                final_int8 = s_final & int8_out
                m.d.sync += [
                    s_int8.eq(final_int8),
                    s_addr.eq(s_prod + Mux(s_final,
                                           desc.c_base + Mux(int8_out, s_n0, s_n0 << 2),
                                           desc.p_base + (s_n0 << 2))),
                    s_row_bytes.eq(Mux(final_int8, s_nlen, s_nlen << 2)),
                    s_stride.eq(Mux(s_final, desc.c_stride, desc.p_stride)),
                    s_row.eq(0), s_w.eq(0), s_ptr.eq(s_base),
                    s_nwords.eq((s_nlen + (C - 1)) >> lC),
                    s_reading.eq(1),
                ]
                m.d.comb += [pack8.start.eq(1), pack32.start.eq(1),
                             pack8.row_elems.eq(s_nlen), pack32.row_elems.eq(s_nlen),
                             pack8.rows.eq(s_mlen), pack32.rows.eq(s_mlen)]
                m.next = "STORE_CMD"

            with m.State("STORE_CMD"):
                issue_cmd(1, s_addr, s_row_bytes, s_mlen, s_stride)
                with m.If(self.dma_cmd.ready):
                    m.d.sync += s_active.eq(1)
                    if double:
                        # The store streams in the background while the next step loads and
                        # computes (its C region is the other one); reads issued from now on
                        # queue behind its writes in the DMA, so nothing reads stale DRAM.
                        with m.If(s_is_last):
                            m.next = "STORE_DATA"
                        with m.Else():
                            m.next = "LOAD_B"
                    else:
                        m.next = "STORE_DATA"

            with m.State("STORE_DATA"):
                with m.If(store_end):
                    dispatch_after_store()

            # ---------------------------------------------------------------- loads
            # B and the partial sums first, A last: the compute starts while A streams in,
            # each row block of the tile as soon as its rows are in (a_stream, a_blocks).
            with m.State("LOAD_B"):
                with m.If(st.load_b & ~prefetched):
                    load_b(st, b_cur_base)
                    m.next = "WAIT_B"
                with m.Else():
                    m.next = "LOAD_C"

            with m.State("WAIT_B"):
                with m.If(ld_idle):
                    m.next = "LOAD_C"

            with m.State("LOAD_C"):
                with m.If(st.load_c):
                    go_load(_Target.C, desc.p_base + (st.n0 << 2), st.m0, st.n_len << 2,
                            st.m_len, desc.p_stride, c_cur_base)
                    m.next = "WAIT_C"
                with m.Else():
                    m.next = "LOAD_A"

            with m.State("WAIT_C"):
                with m.If(ld_idle):
                    m.next = "LOAD_A"

            with m.State("LOAD_A"):
                with m.If(st.load_a & ~prefetched):
                    load_a(st, a_cur_base)
                    m.d.sync += [a_stream.eq(1), a_blocks.eq(0)]
                m.next = "COMPUTE_START"

            # ---------------------------------------------------------------- compute
            with m.State("COMPUTE_START"):
                mblocks = (st.m_len + (R - 1)) >> lR
                nblocks = (st.n_len + (C - 1)) >> lC
                m.d.sync += [
                    f_active.eq(1), f_k.eq(0), f_mb.eq(0), f_nb.eq(0),
                    f_mblocks.eq(mblocks), f_nblocks.eq(nblocks),
                    f_a_base.eq(a_cur_base), f_b_kbase.eq(b_cur_base), f_nbw.eq(0),
                    f_slice.eq(0),
                    f_mrem.eq(st.m_len), f_nrem.eq(st.n_len),
                    fresh.eq((first_step | st.store_prev_c) & ~st.load_c),
                    o_mb.eq(0), o_nb.eq(0), o_row_base.eq(c_cur_base), o_ptr.eq(c_cur_base),
                    o_mrem.eq(st.m_len), o_done.eq(0),
                ]
                m.next = "COMPUTE"

            with m.State("COMPUTE"):
                m.d.sync += cnt["compute_cycles"].eq(cnt["compute_cycles"] + 1)
                computed = o_done & ~r1_valid & ~r2_valid
                if double:
                    # Pop the next step and prefetch its A and B into the free halves.
                    with m.If(~nx_valid & ~st.last):
                        m.d.comb += addrgen.steps.ready.eq(1)
                        with m.If(addrgen.steps.valid):
                            step = addrgen.steps.payload
                            m.d.sync += [nx.eq(step), nx_valid.eq(1), pf_a.eq(step.load_a),
                                         pf_b.eq(step.load_b)]
                    with m.If(ld_idle & pf_a):
                        load_a(nx, a_other_base)
                        m.d.sync += pf_a.eq(0)
                    with m.Elif(ld_idle & pf_b):
                        load_b(nx, b_other_base)
                        m.d.sync += pf_b.eq(0)
                    # The final store waits for the previous one (one store at a time).
                    ready_next = ((st.last & ~s_active)
                                  | (nx_valid & ~pf_a & ~pf_b & ld_idle & ~ld_go))
                else:
                    ready_next = 1
                with m.If(computed & ready_next):
                    m.d.sync += first_step.eq(0)
                    with m.If(st.last):
                        begin_store(st.m0, st.m_len, st.n0, st.n_len, 1, 1)
                    with m.Else():
                        m.next = "ADVANCE" if double else "NEXT_STEP"

            if double:
                with m.State("ADVANCE"):
                    # The prefetched tiles become current; the step's store (in the
                    # background, from the region just computed, once the previous store is
                    # out) and C load follow, and the compute moves to the other C region.
                    with m.If(~nx.store_prev_c | ~s_active):
                        m.d.sync += [st.eq(nx), nx_valid.eq(0), prefetched.eq(1),
                                     cur_a.eq(cur_a ^ nx.load_a), cur_b.eq(cur_b ^ nx.load_b)]
                        with m.If(nx.store_prev_c):
                            begin_store(nx.prev_m0, nx.prev_m_len, nx.prev_n0, nx.prev_n_len,
                                        nx.prev_c_final, 0)
                            m.d.sync += cur_c.eq(~cur_c)
                        with m.Else():
                            m.next = "LOAD_B"

            with m.State("NEXT_DESC"):
                with m.If(desc.last):
                    m.next = "DRAIN"
                with m.Elif(desc_left == 0):
                    m.d.sync += self.error.eq(EngineError.NO_LAST)
                    m.next = "DRAIN"
                with m.Else():
                    m.next = "FETCH_CMD"

            with m.State("DRAIN"):
                with m.If(~self.dma_busy):
                    m.d.sync += [self.busy.eq(0), self.done.eq(1)]
                    with m.If(self.dma_error & (self.error == 0)):
                        m.d.sync += self.error.eq(EngineError.BUS_ERROR)
                    m.next = "IDLE"

        # --- checker and address generator inputs ---
        m.d.comb += [
            checker.desc.eq(desc),
            # The descriptor's walk struct is the generator's payload layout: taken whole.
            addrgen.desc.payload.eq(desc.walk),
        ]

        # --- load data path: one beat per cycle into the target memory ---
        beat = rd.payload.data
        with m.FSM(name="loader") as loader:
            with m.State("L_IDLE"):
                m.d.comb += ld_idle.eq(1)
                with m.If(ld_go):
                    m.d.sync += [ld_tgt.eq(go_tgt), ld_addr.eq(go_org), ld_idx.eq(go_idx),
                                 ld_row_bytes.eq(go_row_bytes), ld_rows.eq(go_rows),
                                 ld_stride.eq(go_stride), ld_base.eq(go_base),
                                 ld_j.eq(0), ld_lane.eq(0)]
                    m.next = "L_MUL"
            # The tile's DRAM address in two registered steps (a 16 x 32-bit product, then a
            # 32-bit sum), off the FPGA's critical path; two cycles per tile load.
            with m.State("L_MUL"):
                m.d.sync += ld_prod.eq(ld_idx * ld_stride)
                m.next = "L_ADD"
            with m.State("L_ADD"):
                m.d.sync += ld_addr.eq(ld_addr + ld_prod)
                m.next = "L_CMD"
            with m.State("L_CMD"):
                issue_cmd(0, ld_addr, ld_row_bytes, ld_rows, ld_stride)
                with m.If(self.dma_cmd.ready):
                    m.next = "L_DATA"
            with m.State("L_DATA"):
                m.d.comb += rd.ready.eq(1)
                with m.If(rd.valid):
                    m.d.sync += [cnt["read_bytes"].eq(cnt["read_bytes"] + rd.payload.count),
                                 ld_j.eq(ld_j + 1)]
                    with m.If(rd.payload.row_last):
                        m.d.sync += ld_j.eq(0)
                        with m.Switch(ld_tgt):
                            with m.Case(_Target.A):
                                with m.If(ld_lane == R - 1):
                                    m.d.sync += [ld_lane.eq(0), ld_base.eq(ld_base + kw),
                                                 a_blocks.eq(a_blocks + 1)]
                                with m.Else():
                                    m.d.sync += ld_lane.eq(ld_lane + 1)
                            with m.Case(_Target.B):
                                m.d.sync += ld_base.eq(ld_base + nw)
                            with m.Default():
                                m.d.sync += ld_base.eq(ld_base + nc)
                    with m.If(rd.payload.last):
                        m.d.sync += a_stream.eq(0)     # every row in, the short block too
                        m.next = "L_IDLE"
        load_fire = loader.ongoing("L_DATA") & rd.valid
        b_shift, c_shift = exact_log2(g.b_lanes), exact_log2(g.c_lanes)
        m.d.comb += [
            buf.a_wdata.eq(Cat(*([beat] * g.a_lanes))),
            buf.b_wdata.eq(Cat(*([beat] * g.b_lanes))),
            buf.a_waddr.eq(ld_base + ld_j),
            buf.b_waddr.eq(ld_base + (ld_j >> b_shift)),
        ]
        with m.If(load_fire & (ld_tgt == _Target.A)):
            m.d.comb += buf.a_wen.eq(1 << ld_lane)
        with m.If(load_fire & (ld_tgt == _Target.B)):
            m.d.comb += buf.b_wen.eq(1 << ld_j[:b_shift] if g.b_lanes > 1 else 1)

        # --- compute: feed k steps from the A and B memories ---
        advance = ~k1_valid | pe.i.ready
        m.d.comb += [buf.a_ren.eq(advance), buf.b_ren.eq(advance),
                     buf.a_raddr.eq(f_a_base + (f_k >> lAB)),
                     buf.b_raddr.eq(f_b_kbase + f_nbw)]
        rv = Mux(f_mrem < R, f_mrem, R)
        cv = Mux(f_nrem < C, f_nrem, C)
        k_end = f_k == st.k_len - 1
        m.d.comb += f_go.eq(f_active & (~a_stream | (f_mb < a_blocks)))
        with m.If(advance):
            m.d.sync += [k1_valid.eq(f_go), k1_ksel.eq(f_k[:lAB] if AB > 1 else 0),
                         k1_slice.eq(f_slice), k1_last.eq(k_end), k1_macs.eq(rv * cv)]
            with m.If(f_go):
                with m.If(~k_end):
                    m.d.sync += [f_k.eq(f_k + 1), f_b_kbase.eq(f_b_kbase + nw)]
                with m.Else():
                    m.d.sync += [f_k.eq(0), f_b_kbase.eq(b_cur_base)]
                    with m.If(f_nb != f_nblocks - 1):
                        m.d.sync += [f_nb.eq(f_nb + 1), f_nrem.eq(f_nrem - C)]
                        if g.b_blocks_per_word > 1:
                            with m.If(f_slice == g.b_blocks_per_word - 1):
                                m.d.sync += [f_slice.eq(0), f_nbw.eq(f_nbw + 1)]
                            with m.Else():
                                m.d.sync += f_slice.eq(f_slice + 1)
                        else:
                            m.d.sync += f_nbw.eq(f_nbw + 1)
                    with m.Else():
                        m.d.sync += [f_nb.eq(0), f_nrem.eq(st.n_len), f_nbw.eq(0), f_slice.eq(0)]
                        with m.If(f_mb != f_mblocks - 1):
                            m.d.sync += [f_mb.eq(f_mb + 1), f_mrem.eq(f_mrem - R),
                                         f_a_base.eq(f_a_base + kw)]
                        with m.Else():
                            m.d.sync += f_active.eq(0)
        with m.If(pe_fire):
            m.d.sync += cnt["macs"].eq(cnt["macs"] + k1_macs)
        a_word, b_word = buf.a_rdata, buf.b_rdata
        b_block = b_word.word_select(k1_slice, 8 * C) if g.b_blocks_per_word > 1 else b_word
        m.d.comb += [pe.i.valid.eq(k1_valid), pe.i.payload.last.eq(k1_last)]
        for r in range(R):
            lane = a_word.word_select(r, 8 * AB)
            m.d.comb += pe.i.payload.a[r].eq(lane.word_select(k1_ksel, 8) if AB > 1 else lane)
        for c in range(C):
            m.d.comb += pe.i.payload.b[c].eq(b_block.word_select(c, 8))

        # --- compute: accumulate result rows into C (read-modify-write) ---
        row = pe.o.payload.row
        m.d.comb += pe.o.ready.eq(1)
        m.d.sync += r1_valid.eq(0)
        with m.If(pe.o.valid):
            m.d.sync += [r1_valid.eq(1), r1_we.eq(row < o_mrem), r1_addr.eq(o_ptr),
                         r1_data.eq(pe.o.payload.data.as_value())]
            with m.If(pe.o.payload.last):
                with m.If(o_nb != f_nblocks - 1):
                    m.d.sync += [o_nb.eq(o_nb + 1), o_ptr.eq(o_row_base + o_nb + 1)]
                with m.Else():
                    m.d.sync += [o_nb.eq(0), o_mb.eq(o_mb + 1), o_mrem.eq(o_mrem - R),
                                 o_row_base.eq(o_row_base + (nc << lR)),
                                 o_ptr.eq(o_row_base + (nc << lR))]
                    with m.If(o_mb == f_mblocks - 1):
                        m.d.sync += o_done.eq(1)
            with m.Else():
                m.d.sync += o_ptr.eq(o_ptr + nc)
        # The C word read with a result row arrives on buf.c_rdata one cycle later and is
        # registered into c_old (off the memory's clock-to-output path); the sum is written
        # back two cycles after the read. Rows of one compute phase touch distinct words.
        m.d.sync += [c_old.eq(buf.c_rdata), r2_valid.eq(r1_valid), r2_we.eq(r1_we),
                     r2_addr.eq(r1_addr), r2_data.eq(r1_data)]
        summed = Signal(g.c_word_bits)
        for c in range(C):
            a32 = c_old.word_select(c, 32).as_signed()
            b32 = r2_data.word_select(c, 32).as_signed()
            m.d.comb += summed.word_select(c, 32).eq(Mux(fresh, b32, a32 + b32))

        # --- C memory: written by loads (partial sums) and by the accumulation; read by the
        # accumulation and by stores. The phases never overlap. ---
        c_fire = load_fire & (ld_tgt == _Target.C)
        with m.If(c_fire):
            m.d.comb += [buf.c_waddr.eq(ld_base + (ld_j >> c_shift)),
                         buf.c_wdata.eq(Cat(*([beat] * g.c_lanes))),
                         buf.c_wen.eq(1 << ld_j[:c_shift] if g.c_lanes > 1 else 1)]
        with m.Elif(r2_valid & r2_we):
            m.d.comb += [buf.c_waddr.eq(r2_addr), buf.c_wdata.eq(summed),
                         buf.c_wen.eq((1 << g.c_lanes) - 1)]

        # --- store: read C words row by row into c_fifo, then through the requantiser (int8)
        # or straight (int32) into a row packer, then a register slice to the DMA. A read is
        # issued only while fewer than _STORE_FIFO_DEPTH words are in flight or queued, so the
        # FIFO never overflows and the reads never wait on the DMA combinationally. ---
        # The accumulation's C reads (one per result row, none while the C tile is fresh: a
        # fresh row overwrites) take the read port first; a store running beside a compute
        # reads in the other cycles.
        acc_read = pe.o.valid & ~fresh
        s_issue = s_active & s_reading & (s_pending != _STORE_FIFO_DEPTH) & ~acc_read
        fifo_take = c_fifo.r_rdy & c_fifo.r_en
        m.d.sync += [s1_valid.eq(s_issue), s2_valid.eq(s1_valid),
                     s_pending.eq(s_pending + s_issue - fifo_take)]
        with m.If(acc_read):
            m.d.comb += [buf.c_raddr.eq(o_ptr),
                         buf.c_ren.eq(1)]
        with m.Else():
            m.d.comb += [buf.c_raddr.eq(s_ptr + s_w), buf.c_ren.eq(s_issue)]
        with m.If(s_issue):
            with m.If(s_w != s_nwords - 1):
                m.d.sync += s_w.eq(s_w + 1)
            with m.Else():
                m.d.sync += [s_w.eq(0), s_ptr.eq(s_ptr + nc), s_row.eq(s_row + 1)]
                with m.If(s_row == s_mlen - 1):
                    m.d.sync += s_reading.eq(0)
        m.d.comb += [
            c_fifo.w_en.eq(s2_valid),
            c_fifo.w_data.eq(c_old),
            c_fifo.r_en.eq(Mux(s_int8, requant.i.ready, pack32.i.ready)),
            requant.params.eq(desc.requant),
            requant.i.valid.eq(c_fifo.r_rdy & s_int8),
            requant.i.payload.data.eq(c_fifo.r_data),
            pack32.i.valid.eq(c_fifo.r_rdy & ~s_int8),
            pack32.i.payload.eq(c_fifo.r_data),
            q_skid.i.valid.eq(requant.o.valid),
            q_skid.i.payload.eq(requant.o.payload.data.as_value()),
            requant.o.ready.eq(q_skid.i.ready),
        ]
        wiring.connect(m, q_skid.o, pack8.i)
        with m.If(s_int8):
            m.d.comb += [wr_skid.i.valid.eq(pack8.o.valid),
                         wr_skid.i.payload.eq(pack8.o.payload),
                         pack8.o.ready.eq(wr_skid.i.ready)]
        with m.Else():
            m.d.comb += [wr_skid.i.valid.eq(pack32.o.valid),
                         wr_skid.i.payload.eq(pack32.o.payload),
                         pack32.o.ready.eq(wr_skid.i.ready)]
        m.d.comb += [self.dma_wr.valid.eq(wr_skid.o.valid),
                     self.dma_wr.payload.eq(wr_skid.o.payload),
                     wr_skid.o.ready.eq(self.dma_wr.ready)]
        return m
