"""Sequencer: runs a tile program — fetch, check, walk, load, compute, store.

The sequencer is a control FSM over small stream components, one job each::

    DescriptorFetch --result--> FSM --steps-- TileAddressGenerator
          |cmd/rd                 |req          |job            |req
          |                  TileLoader    ComputeFeed --> PEArray --> Accumulator
          |                   |cmd/rd       (A, B reads)             (C read-modify-write)
          +----- DMA cmd mux -+--------------------------------------- StorePath --wr--> DMA
                                                                      (C reads, requantiser,
                                                                       packers)

* :class:`~scanfuse.hw.fetch.DescriptorFetch` reads a descriptor (one DMA read) and checks it;
* :class:`~scanfuse.hw.loader.TileLoader` loads an A, B or C (partial-sum) tile;
* :class:`~scanfuse.hw.feed.ComputeFeed` reads a step's A and B words and feeds the
  :class:`~scanfuse.hw.pe_array.PEArray` one k step per cycle;
* :class:`~scanfuse.hw.accumulator.Accumulator` adds the array's result rows into C;
* :class:`~scanfuse.hw.store.StorePath` writes a C tile back (int8 requantised or int32).

One descriptor at a time (``docs/hardware/engine.md``):

1. **Fetch** the descriptor from ``prog_addr`` and **check** it. An illegal descriptor stops
   the program: ``error`` = its :class:`~scanfuse.hw.program.DescriptorError` code, ``done``
   rises, the engine is idle again. A bus error latched by the DMA by the end of the fetch
   (this fetch's or any earlier transfer's) stops it the same way with
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
     array (blocks back to back); each result row is added to its accumulators, or
     overwrites them when the C tile is fresh;
   * after the ``last`` step, store the current C tile (final).
3. After a descriptor with ``last`` set, wait for the DMA to finish every write, raise ``done``.

Without ``cfg.double_buffer`` the steps' loads, compute and stores take turns (the DMA
pipelines the bursts of one transfer). With it, A, B and C each have two
regions: while a step computes, the next step's A and B tiles are prefetched into the free
halves and the previous C tile is stored from the other C region (the store reads C in the
cycles the accumulation does not; a fresh tile's rows need no read). One store runs at a
time, and any read issued after a store's command waits in the DMA for its writes
(read-after-write safe for partial sums and chained layers). The traffic counters count
tensor bytes on the buffer side of the DMA — exactly what the planner counts; the 64-byte
descriptor fetches are not included.

Error codes (``error``): 1..10 are :class:`~scanfuse.hw.program.DescriptorError`;
:class:`EngineError` adds bus errors and malformed programs.
"""

import enum as py_enum

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import exact_log2

from .accumulator import Accumulator
from .addrgen import TileAddressGenerator, TileStep
from .buffer import BufferGeometry, buffer_signature
from .dma import TILE_DIM_BITS, DmaBeat, DmaCommand
from .feed import ComputeFeed
from .fetch import DescriptorFetch
from .loader import Target, TileLoader
from .pe_array import PEArray
from .params import AccelConfig
from .product import WideProduct
from .program import DescriptorError, LayerDescriptor, OutMode
from .queue import StreamQueue
from .store import StorePath

__all__ = ["EngineError", "COUNTER_NAMES", "Sequencer"]

#: The step fields a load request is built from (``lstep``).
_LOAD_STEP_FIELDS = ("m0", "n0", "k0", "m_len", "n_len", "k_len")

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

#: The sequencer's counters, as named by the register block (``scanfuse.hw.regs.COUNTERS``).
COUNTER_NAMES = ("cycles", "read_bytes", "write_bytes", "macs", "stalls", "compute_cycles")


class StoreSource(enum.Enum, shape=2):
    """Where the sequencer's store request takes its tile from (its ``s_src`` register)."""
    POPPED = 0       # the step on the address generator's output: its previous C tile
    CURRENT = 1      # the step being computed: its own (final) C tile
    PREFETCHED = 2   # the prefetched next step: its previous C tile


class LoadSource(enum.Enum, shape=3):
    """Which tile the sequencer wants loaded (its ``want``), and so what its load request
    register holds: a step's tile (``ST``: the step being executed, into the current halves;
    ``NX``: the prefetched next step, into the other halves) of A, B or the partial sums."""
    NONE = 0
    B_ST = 1
    C_ST = 2
    A_ST = 3
    A_NX = 4
    B_NX = 5


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
        double = cfg.double_buffer

        m.submodules.fetch = fetch = DescriptorFetch(cfg)
        m.submodules.addrgen = addrgen = TileAddressGenerator(cfg)
        # The generator's steps reach the FSM through a two-word queue, so its walk registers
        # advance on the queue's registered `ready`, never on the FSM's state: the step
        # acceptance into the walk was the 8x8 build's critical path at six of nine seeds
        # (docs/fpga.md, fourteenth round). It costs one cycle per descriptor (its first
        # step). The words sit in LUT RAM (StreamQueue, the SkidBuffer's timing): the FSM's
        # step registers load from its read port under their own enables, so no decision
        # enables a 167-bit output register (the step slice's enables were the longest net at
        # 150 MHz, docs/fpga.md, nineteenth round).
        m.submodules.steps_q = steps_q = StreamQueue(TileStep(TILE_DIM_BITS))
        wiring.connect(m, addrgen.steps, steps_q.i)
        steps = steps_q.o
        m.submodules.loader = loader = TileLoader(cfg)
        m.submodules.feed = feed = ComputeFeed(cfg)
        m.submodules.pe = pe = PEArray(cfg)
        m.submodules.accum = accum = Accumulator(cfg)
        m.submodules.store = store = StorePath(cfg)
        wiring.connect(m, feed.pe, pe.i)
        m.d.comb += [feed.pe_ready_last.eq(pe.ready_last), feed.pe_ready_more.eq(pe.ready_more)]
        wiring.connect(m, pe.o, accum.psum)

        desc = fetch.desc
        st = Signal(TileStep(TILE_DIM_BITS))     # the step being executed
        first_step = Signal()
        prog_ptr = Signal(cfg.addr_bits)
        desc_left = Signal(32)

        # --- per-descriptor constants (set while the verdict is awaited) ---
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
        with m.If(loader.rd.valid & loader.rd.ready):
            m.d.sync += cnt["read_bytes"].eq(cnt["read_bytes"] + loader.rd.payload.count)
        with m.If(pe_fire):
            m.d.sync += cnt["macs"].eq(cnt["macs"] + feed.macs)

        # --- regions: with double buffering A, B and C each have two halves; the next
        # step's A and B are prefetched into the free halves while the current step computes,
        # and the previous C tile is stored from one C region while the next accumulates in
        # the other ---
        cur_a, cur_b, cur_c = Signal(), Signal(), Signal()     # halves in use
        a_half = Signal(g.a_addr_bits + 1)      # words per A half (one padded A tile region)
        b_half = Signal(g.b_addr_bits + 1)
        c_half = Signal(g.c_addr_bits + 1)      # words per C region (tm * ceil(tn / cols))
        # Their products run every cycle from registers loaded in CHECK; SETUP reads them. The
        # operands are final one cycle after the descriptor's last beat, and SETUP comes at
        # least the checker's latency + 1 cycles after that beat (the fetch's CHECK state,
        # then the checker), so a product of that latency or less is ready (no wait state).
        halves = {}
        for name, reg, x, y in (("a_half", a_half, tmb, kw), ("b_half", b_half, desc.walk.tk, nw),
                                ("c_half", c_half, desc.walk.tm, nc)):
            m.submodules[f"{name}_product"] = halves[name] = product = WideProduct(
                cfg.pe_multiplier, TILE_DIM_BITS, TILE_DIM_BITS, len(reg))
            assert product.latency <= fetch.checker_latency, product.latency
            m.d.comb += [product.a.eq(x), product.b.eq(y)]
        a_cur_base, a_other_base = Signal(g.a_addr_bits), Signal(g.a_addr_bits)
        b_cur_base, b_other_base = Signal(g.b_addr_bits), Signal(g.b_addr_bits)
        c_cur_base = Signal(g.c_addr_bits)
        # Registered (one cycle behind their inputs), so no adder sits between the state
        # decode and the loader's, feed's and store's request registers (an FPGA timing path,
        # docs/fpga.md). Exact wherever they are used: a_w0 .. c_w0 change only in CHECK, the
        # halves in SETUP, cur_* in SETUP and ADVANCE, and no state that reads a base follows
        # one of those directly (CHECK -> SETUP -> WALK; ADVANCE -> LOAD_B/STORE_CMD, where a
        # prefetched step loads nothing and a store reads no base).
        m.d.sync += [a_cur_base.eq(a_w0 + Mux(cur_a, a_half, 0)),
                     b_cur_base.eq(b_w0 + Mux(cur_b, b_half, 0)),
                     a_other_base.eq(a_w0 + Mux(cur_a, 0, a_half)),
                     b_other_base.eq(b_w0 + Mux(cur_b, 0, b_half)),
                     c_cur_base.eq(c_w0 + Mux(cur_c, c_half, 0))]
        nx = Signal(TileStep(TILE_DIM_BITS))    # the next step, popped while computing
        nx_valid = Signal()
        pf_a = Signal()                  # prefetch of nx's A / B still to start
        pf_b = Signal()
        prefetched = Signal()            # st's A and B tiles are already in their halves
        a_stream = Signal()              # the current A tile is still loading (not prefetched)
        a_blocks = Signal(TILE_DIM_BITS)         # ... and this many of its row blocks are in
        s_is_last = Signal()             # the store running is a descriptor's last
        # The store's last beat taken by the DMA, one cycle late: STORE_DATA waits on a
        # flip-flop, not on the DMA's write acceptance through the store path (the 8x8
        # build's longest path, docs/fpga.md, thirteenth round).
        store_done = Signal()
        m.d.sync += store_done.eq(store.done)
        # COMPUTE pops the next step while this flip-flop is set: set on the way in unless
        # the step is the descriptor's last, cleared by the pop. It equals COMPUTE's
        # ~nx_valid & ~st.last (nx_valid is clear on entry), so the step slice's output
        # enables start at one flip-flop, not at the state decode (an FPGA timing path,
        # docs/fpga.md, thirteenth round). NEXT_STEP's `ready` is below (`st_take`).
        pop = Signal()

        if double:
            # `pop` is set only in COMPUTE (on the way in, with `nx_valid` clear) and cleared
            # by the pop, so the popped step's register follows the slice's output while `pop`
            # is set and holds the popped step from then on: its 166 enables are one
            # flip-flop (an FPGA timing path, docs/fpga.md, sixteenth round).
            with m.If(pop):
                m.d.sync += nx.eq(steps.payload)

        # The step register follows its source in every cycle of NEXT_STEP (the slice's
        # output) and ADVANCE (`nx`), and holds from the cycle those states are left, the
        # cycle it takes the step: its enable is the flip-flop `st_take`, set on the way into
        # them and cleared on the way out, not the state decode and the slice's `valid`
        # (the 8x8 build's critical path at one seed of five, docs/fpga.md, sixteenth round).
        # Nothing reads `st` in those two states.
        st_take = Signal()
        st_from_nx = Signal()
        with m.If(st_take):
            m.d.sync += st.eq(Mux(st_from_nx, nx.as_value(), steps.payload.as_value()))
        # The slice's `ready`: COMPUTE's `pop`, or NEXT_STEP's (that is `st_take` without
        # `st_from_nx`) once the store path is idle; from flip-flops and the store's state,
        # not from this FSM's state decode (the enable of the slice's 166 output flip-flops).
        m.d.comb += steps.ready.eq(pop | (st_take & ~st_from_nx & store.idle))

        # --- loads: B, the partial sums and A through the one loader ---
        # The FSM says which tile it wants (`want`, a few bits); the request is built from
        # that a cycle later into a register (`want_r` selects among registers), and offered
        # once `want` has held for those two cycles (`built` is what the register holds). So
        # the loader's request is registers, and the FSM's state decode reaches only the
        # three-bit `want_r` and the offer: the route from the state through the request
        # multiplexer into the loader's request register was the fifteenth round's first
        # builds' seed-1 critical path (16.2 ns, 13.7 ns through a register slice;
        # docs/fpga.md). A request reaches the loader two cycles after the FSM wants it.
        #
        # The step whose tile is wanted is `nx` in COMPUTE (the prefetch) and `st` elsewhere:
        # its ranges are copied every cycle into `lstep` by a flip-flop that says the FSM is
        # in COMPUTE (`in_compute`), so the request multiplexer chooses among three targets,
        # not five sources, and the step registers reach it through one register near it
        # (`want_r` -> the request was the 8x8 build's seed-1 critical path again in the
        # sixteenth round, 12.5 ns of which 11.3 ns routing). Exact: `lstep` in the cycle
        # after `want` is the wanted step, since `st` and `nx` do not change while a load of
        # theirs is wanted (both are loaded before the states that want their tiles).
        want = Signal(LoadSource)
        want_r = Signal(LoadSource)
        built = Signal(LoadSource)
        load_req = loader.req
        req = load_req.payload
        m.d.sync += [want_r.eq(want), built.eq(want_r)]
        in_compute = Signal()
        lstep = Signal(data.StructLayout({f: TILE_DIM_BITS for f in _LOAD_STEP_FIELDS}))
        m.d.sync += [lstep[f].eq(Mux(in_compute, nx[f], st[f])) for f in _LOAD_STEP_FIELDS]
        m.d.comb += load_req.valid.eq((want != LoadSource.NONE) & (want == built))
        load_fire = Signal()
        m.d.comb += load_fire.eq(load_req.valid & load_req.ready)
        load_idle = loader.idle

        def build(target, org, col, idx, row_bytes, rows, stride, base, step):
            m.d.sync += [req.target.eq(target), req.org.eq(org), req.col.eq(col),
                         req.idx.eq(idx), req.row_bytes.eq(row_bytes), req.rows.eq(rows),
                         req.stride.eq(stride), req.base.eq(base), req.step.eq(step)]

        def build_a(step, base):
            build(Target.A, desc.a_base, step.k0, step.m0, step.k_len, step.m_len,
                  desc.a_stride, base, kw)

        def build_b(step, base):
            build(Target.B, desc.b_base, step.n0, step.k0, step.n_len, step.k_len,
                  desc.b_stride, base, nw)

        # The register is loaded in every cycle, with A's request when nothing is wanted: no
        # clock enable decoded from `want_r` on its ~150 flip-flops (an FPGA timing path,
        # docs/fpga.md, seventeenth round). Nothing reads it while `built` is NONE.
        with m.Switch(want_r):
            with m.Case(LoadSource.B_ST, LoadSource.B_NX):
                build_b(lstep, Mux(want_r == LoadSource.B_NX, b_other_base, b_cur_base))
            with m.Case(LoadSource.C_ST):
                build(Target.C, desc.p_base, lstep.n0 << 2, lstep.m0, lstep.n_len << 2,
                      lstep.m_len, desc.p_stride, c_cur_base, nc)
            with m.Default():       # A_ST, A_NX, NONE
                build_a(lstep, Mux(want_r == LoadSource.A_NX, a_other_base, a_cur_base))

        with m.If(loader.block):
            m.d.sync += a_blocks.eq(a_blocks + 1)
        with m.If(loader.done):
            m.d.sync += a_stream.eq(0)           # every row in, the short block too

        # --- stores ---
        # The request's payload comes from one of three places: the step just popped
        # (NEXT_STEP: the previous C tile), the current step (COMPUTE: a descriptor's last
        # tile) or the prefetched one (ADVANCE: the previous C tile). `s_src` is a flip-flop
        # set on the way into those states, so the payload is a multiplexer of registers
        # with registered selects, not a function of the conditions under which a store is
        # offered (`store.idle`, `accum.idle`, ...): the store path loads it into its request
        # and stride registers in every idle cycle (an FPGA timing path, docs/fpga.md).
        s_src = Signal(StoreSource)
        sp, step_out = store.req.payload, steps.payload
        m.d.comb += sp.c_base.eq(c_cur_base)
        with m.Switch(s_src):
            with m.Case(StoreSource.POPPED):
                m.d.comb += [sp.m0.eq(step_out.prev_m0), sp.m_len.eq(step_out.prev_m_len),
                             sp.n0.eq(step_out.prev_n0), sp.n_len.eq(step_out.prev_n_len),
                             sp.final.eq(step_out.prev_c_final)]
            with m.Case(StoreSource.CURRENT):
                m.d.comb += [sp.m0.eq(st.m0), sp.m_len.eq(st.m_len), sp.n0.eq(st.n0),
                             sp.n_len.eq(st.n_len), sp.final.eq(1)]
            with m.Case(StoreSource.PREFETCHED):
                m.d.comb += [sp.m0.eq(nx.prev_m0), sp.m_len.eq(nx.prev_m_len),
                             sp.n0.eq(nx.prev_n0), sp.n_len.eq(nx.prev_n_len),
                             sp.final.eq(nx.prev_c_final)]

        def store_tile(src, is_last):
            """Offer the C tile in the compute region (``c_cur_base``) to the store path (it
            is idle wherever this is called; ``s_src`` is ``src`` here) and wait for its
            command."""
            m.d.comb += store.req.valid.eq(1)
            m.d.sync += s_is_last.eq(is_last)
            m.next = "STORE_CMD"

        m.d.comb += [
            store.layer.c_base.eq(desc.c_base), store.layer.c_stride.eq(desc.c_stride),
            store.layer.p_base.eq(desc.p_base), store.layer.p_stride.eq(desc.p_stride),
            store.layer.int8.eq(int8_out), store.layer.nc.eq(nc),
            store.layer.requant.eq(desc.requant),
        ]

        # The program pointer and the descriptor count move in the cycle after the fetch takes
        # the pointer (`fetched`, a flip-flop), so their ~60 flip-flops are enabled by it, not
        # by FETCH's decode and the fetch's `ready` (an FPGA timing path, docs/fpga.md,
        # seventeenth round). Neither is read before the descriptor's checks are done.
        fetched = Signal()
        m.d.sync += fetched.eq(0)
        with m.If(fetched):
            m.d.sync += [prog_ptr.eq(prog_ptr + layout.size_bytes), desc_left.eq(desc_left - 1)]
        with m.FSM(name="seq"):
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
                        m.next = "FETCH"

            # ---------------------------------------------------------------- descriptor
            with m.State("FETCH"):
                m.d.comb += fetch.req.valid.eq(1)
                with m.If(fetch.req.ready):
                    m.d.sync += fetched.eq(1)
                    m.next = "CHECK"

            with m.State("CHECK"):
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
                m.d.comb += fetch.result.ready.eq(1)
                with m.If(fetch.result.valid):
                    # A fetch answered with an error (or any earlier one: the DMA's reads wait
                    # for the B responses of earlier writes) stops the program here: the bits
                    # may be anything, and a garbage descriptor could write anywhere.
                    with m.If(self.dma_error):
                        m.d.sync += self.error.eq(EngineError.BUS_ERROR)
                        m.next = "DRAIN"
                    with m.Elif(fetch.result.payload != DescriptorError.NONE):
                        m.d.sync += self.error.eq(fetch.result.payload.as_value())
                        m.next = "DRAIN"
                    with m.Else():
                        m.next = "SETUP"

            with m.State("SETUP"):
                m.d.sync += [a_half.eq(halves["a_half"].p), b_half.eq(halves["b_half"].p),
                             c_half.eq(halves["c_half"].p), cur_a.eq(0), cur_b.eq(0),
                             cur_c.eq(0), nx_valid.eq(0), pf_a.eq(0), pf_b.eq(0)]
                m.next = "WALK"

            with m.State("WALK"):
                m.d.comb += addrgen.desc.valid.eq(1)
                with m.If(addrgen.desc.ready):
                    m.d.sync += [first_step.eq(1), s_src.eq(StoreSource.POPPED),
                                 st_take.eq(1), st_from_nx.eq(0)]
                    m.next = "NEXT_STEP"

            with m.State("NEXT_STEP"):
                with m.If(steps.valid & store.idle):
                    step = steps.payload         # into `st` (`st_take`)
                    m.d.sync += [prefetched.eq(0), st_take.eq(0)]
                    with m.If(step.store_prev_c):
                        store_tile(StoreSource.POPPED, 0)
                    with m.Else():
                        m.next = "LOAD_B"

            # ---------------------------------------------------------------- store a C tile
            with m.State("STORE_CMD"):
                with m.If(store.issued):
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
                with m.If(store_done):
                    with m.If(s_is_last):
                        m.next = "NEXT_DESC"
                    with m.Else():
                        m.next = "LOAD_B"

            # ---------------------------------------------------------------- loads
            # B and the partial sums first, A last: the compute starts while A streams in,
            # each row block of the tile as soon as its rows are in (a_stream, a_blocks).
            with m.State("LOAD_B"):
                with m.If(st.load_b & ~prefetched):
                    m.d.comb += want.eq(LoadSource.B_ST)
                    with m.If(load_fire):
                        m.next = "WAIT_B"
                with m.Else():
                    m.next = "LOAD_C"

            with m.State("WAIT_B"):
                with m.If(load_idle):
                    m.next = "LOAD_C"

            with m.State("LOAD_C"):
                with m.If(st.load_c):
                    m.d.comb += want.eq(LoadSource.C_ST)
                    with m.If(load_fire):
                        m.next = "WAIT_C"
                with m.Else():
                    m.next = "LOAD_A"

            with m.State("WAIT_C"):
                with m.If(load_idle):
                    m.next = "LOAD_A"

            with m.State("LOAD_A"):
                with m.If(st.load_a & ~prefetched):
                    m.d.comb += want.eq(LoadSource.A_ST)
                    with m.If(load_fire):
                        m.d.sync += [a_stream.eq(1), a_blocks.eq(0)]
                        m.next = "COMPUTE_START"
                with m.Else():
                    m.next = "COMPUTE_START"

            # ---------------------------------------------------------------- compute
            with m.State("COMPUTE_START"):
                # Both are idle here: the previous step's rows are all written back. Their
                # jobs' payloads are registers in every state (below the FSM).
                m.d.comb += [feed.job.valid.eq(1), accum.job.valid.eq(1)]
                m.d.sync += [s_src.eq(StoreSource.CURRENT), in_compute.eq(1)]
                if double:
                    m.d.sync += pop.eq(~st.last)
                m.next = "COMPUTE"

            with m.State("COMPUTE"):
                m.d.sync += cnt["compute_cycles"].eq(cnt["compute_cycles"] + 1)
                if double:
                    # Pop the next step and prefetch its A and B into the free halves.
                    with m.If(pop & steps.valid):
                        step = steps.payload     # into `nx` outside the FSM (above)
                        m.d.sync += [nx_valid.eq(1), pf_a.eq(step.load_a),
                                     pf_b.eq(step.load_b), pop.eq(0)]
                    with m.If(pf_a):
                        m.d.comb += want.eq(LoadSource.A_NX)
                        with m.If(load_fire):
                            m.d.sync += pf_a.eq(0)
                    with m.Elif(pf_b):
                        m.d.comb += want.eq(LoadSource.B_NX)
                        with m.If(load_fire):
                            m.d.sync += pf_b.eq(0)
                    # The final store waits for the previous one (one store at a time).
                    ready_next = ((st.last & store.idle)
                                  | (nx_valid & ~pf_a & ~pf_b & load_idle))
                else:
                    ready_next = 1
                with m.If(accum.idle & ready_next):
                    m.d.sync += [first_step.eq(0), in_compute.eq(0)]
                    with m.If(st.last):
                        store_tile(StoreSource.CURRENT, 1)
                    with m.Else():
                        m.d.sync += [s_src.eq(StoreSource.PREFETCHED if double
                                              else StoreSource.POPPED),
                                     st_take.eq(1), st_from_nx.eq(1 if double else 0)]
                        m.next = "ADVANCE" if double else "NEXT_STEP"

            if double:
                with m.State("ADVANCE"):
                    # The prefetched tiles become current; the step's store (in the
                    # background, from the region just computed, once the previous store is
                    # out) and C load follow, and the compute moves to the other C region.
                    with m.If(~nx.store_prev_c | store.idle):
                        # `nx` into `st` (`st_take`)
                        m.d.sync += [st_take.eq(0), nx_valid.eq(0), prefetched.eq(1),
                                     cur_a.eq(cur_a ^ nx.load_a), cur_b.eq(cur_b ^ nx.load_b)]
                        with m.If(nx.store_prev_c):
                            store_tile(StoreSource.PREFETCHED, 0)
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
                    m.next = "FETCH"

            with m.State("DRAIN"):
                with m.If(~self.dma_busy):
                    m.d.sync += [self.busy.eq(0), self.done.eq(1)]
                    with m.If(self.dma_error & (self.error == 0)):
                        m.d.sync += self.error.eq(EngineError.BUS_ERROR)
                    m.next = "IDLE"

        # The feed's and the accumulator's jobs are the current step's, in every state: both
        # load their job registers in each idle cycle and start on `valid` (COMPUTE_START
        # only), so no state decode sits in front of their arithmetic on the job (the
        # sequencer's state through the payload into `feed.k_left` was the 8x8 build's
        # critical path at one seed of five, docs/fpga.md, sixteenth round).
        fj, aj = feed.job.payload, accum.job.payload
        m.d.comb += [
            fj.a_base.eq(a_cur_base), fj.b_base.eq(b_cur_base),
            fj.m_len.eq(st.m_len), fj.n_len.eq(st.n_len), fj.k_len.eq(st.k_len),
            fj.kw.eq(kw), fj.nw.eq(nw),
            aj.c_base.eq(c_cur_base), aj.m_len.eq(st.m_len), aj.n_len.eq(st.n_len),
            aj.nc.eq(nc), aj.fresh.eq((first_step | st.store_prev_c) & ~st.load_c),
        ]

        # The fetch's address is the program pointer in every state (it matters only with
        # `valid`): no state decode in front of the DMA's address registers (docs/fpga.md).
        m.d.comb += fetch.req.payload.eq(prog_ptr)

        # The descriptor's walk struct is the generator's payload layout: taken whole, through a
        # register loaded in every cycle. Exact: the descriptor register changes only while a
        # descriptor is fetched, at least two cycles before WALK offers it (CHECK, SETUP). The
        # register splits the route from the fetch's descriptor register to the generator's
        # loop-order multiplexer in front of its walk registers (docs/fpga.md, sixteenth
        # round).
        walk_r = Signal.like(desc.walk, reset_less=True)
        m.d.sync += walk_r.eq(desc.walk)
        m.d.comb += addrgen.desc.payload.eq(walk_r)

        # --- the DMA: one command source at a time (the store's and the loader's commands
        # are offered only from states the other is idle in, the fetch's only when both are);
        # the read beats go to the fetch while it reads, else to the loader. The store's and
        # the loader's `cmd.valid` are flip-flops (set the cycle before the command), so the
        # multiplexer's select comes straight from registers, not from state decodes ---
        with m.If(store.cmd.valid):
            wiring.connect(m, store.cmd, wiring.flipped(self.dma_cmd))
        with m.Elif(loader.cmd.valid):
            wiring.connect(m, loader.cmd, wiring.flipped(self.dma_cmd))
        with m.Else():
            wiring.connect(m, fetch.cmd, wiring.flipped(self.dma_cmd))
        wiring.connect(m, store.wr, wiring.flipped(self.dma_wr))
        rd = self.dma_rd
        m.d.comb += [fetch.rd.payload.eq(rd.payload), loader.rd.payload.eq(rd.payload)]
        with m.If(fetch.reading):
            m.d.comb += [fetch.rd.valid.eq(rd.valid), rd.ready.eq(fetch.rd.ready)]
        with m.Else():
            m.d.comb += [loader.rd.valid.eq(rd.valid), rd.ready.eq(loader.rd.ready)]

        # --- the tile buffer: A and B written by the loader, read by the feed; C written by
        # partial-sum loads and the accumulation (never in the same phase), read by the
        # accumulation first and by a store in the other cycles ---
        m.d.comb += [
            buf.a_waddr.eq(loader.a_waddr), buf.a_wdata.eq(loader.a_wdata),
            buf.a_wen.eq(loader.a_wen),
            buf.b_waddr.eq(loader.b_waddr), buf.b_wdata.eq(loader.b_wdata),
            buf.b_wen.eq(loader.b_wen),
            buf.a_raddr.eq(feed.a_raddr), buf.a_ren.eq(feed.a_ren),
            feed.a_rdata.eq(buf.a_rdata),
            buf.b_raddr.eq(feed.b_raddr), buf.b_ren.eq(feed.b_ren),
            feed.b_rdata.eq(buf.b_rdata),
            feed.a_streaming.eq(a_stream), feed.a_blocks.eq(a_blocks),
            accum.c_rdata.eq(buf.c_rdata), store.c_rdata.eq(buf.c_rdata),
            store.port_busy.eq(accum.reading),
        ]
        # The port's select is the loader's `c_loading` flip-flop: the accumulation is idle
        # through a C load (LOAD_C follows COMPUTE's end; the prefetch loads only A and B).
        with m.If(loader.c_loading):
            m.d.comb += [buf.c_waddr.eq(loader.c_waddr), buf.c_wdata.eq(loader.c_wdata),
                         buf.c_wen.eq(loader.c_wen)]
        with m.Else():
            m.d.comb += [buf.c_waddr.eq(accum.c_waddr), buf.c_wdata.eq(accum.c_wdata),
                         buf.c_wen.eq(accum.c_wen)]
        # The C memory reads in every cycle; its output stage loads at every edge and both
        # readers take the word from it two edges after they read (ignoring it otherwise), so
        # the port needs no enable (the store's read decision drove 260 flip-flops across the
        # die: docs/fpga.md, fourteenth round). `store.c_ren` and `accum.c_ren` still say
        # which reads are real (the unit tests check them).
        m.d.comb += buf.c_ren.eq(1)
        with m.If(accum.reading):
            m.d.comb += buf.c_raddr.eq(accum.c_raddr)
        with m.Else():
            m.d.comb += buf.c_raddr.eq(store.c_raddr)
        return m
