"""ComputeFeed: reads a step's A and B tiles from the tile buffer and feeds the PE array.

A :class:`FeedJob` describes the C tile of one step (``m_len x n_len``, ``k_len`` deep) and
where its A and B tiles are. The feed walks its ``rows x cols`` blocks in row-block-major
order (n blocks inner), each block ``k_len`` k steps back to back: one A word and one B word
read per k step, offered to the array ``L`` cycles later as a
:class:`~scanfuse.hw.pe_array.KStep` (A byte ``k % axi_bytes`` of every lane, the block's
``cols`` bytes of the B word), ``L`` the A/B memories' read latency
(:func:`~scanfuse.hw.buffer.ab_read_latency`: 2, the memory and its output register; 3 with
the ``dp16kd`` memories' input registers in front; 1 for a memory read without an output
register). The read pipeline (``L`` stages: the memories' and the
step's bookkeeping beside them) advances only when the array takes a step or its last stage is
empty, and the same enable drives ``a_ren``/``b_ren``, so a stalled array holds every stage;
in steady state one k step per cycle. "Takes" is decided in the feed: it selects between the
array's two readiness flags (``pe_ready_last``, ``pe_ready_more``: ready for a block's last k
step, ready for any other) with its own last stage's ``last``, so the enable of every walk and
pipeline register does not wait for ``pe.ready`` to come back from the array (the feed's
``last`` -> the array's ready multiplexer -> the feed's enables crossed between the two twice
in one cycle: an FPGA timing path, docs/fpga.md, twentieth round).

While ``a_streaming`` is high (the A tile is still arriving), row block ``mb`` starts only
once ``a_blocks > mb`` of its row blocks are in memory.
"""

from amaranth.hdl import Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import exact_log2

from .buffer import BufferGeometry, ab_read_latency
from .dma import TILE_DIM_BITS
from .params import AccelConfig
from .pe_array import KStep

__all__ = ["FeedJob", "ComputeFeed"]


class FeedJob(data.StructLayout):
    """Payload of :attr:`ComputeFeed.job`: one step's compute.

    Members
    -------
    a_base, b_base : word addresses
        First word of the A tile (row block 0) and of the B tile (k row 0).
    m_len, n_len, k_len : 16 each, >= 1
        The C tile's size and the steps' depth.
    kw, nw : 16 each
        Words per A row block (``ceil(tk / axi_bytes)``) and per B k row
        (``ceil(tn / b_word_bytes)``) of the descriptor's tile layout.
    """

    def __init__(self, cfg: AccelConfig):
        g = BufferGeometry(cfg)
        super().__init__({
            "a_base": g.a_addr_bits, "b_base": g.b_addr_bits,
            "m_len": TILE_DIM_BITS, "n_len": TILE_DIM_BITS, "k_len": TILE_DIM_BITS,
            "kw": TILE_DIM_BITS, "nw": TILE_DIM_BITS,
        })


class ComputeFeed(wiring.Component):
    """Feeds one step's k steps to the PE array (see the module docstring).

    Parameters
    ----------
    cfg : AccelConfig
        Must pass :meth:`AccelConfig.check_engine`.
    read_latency : int or None
        Of the A and B memories it reads: ``None`` (default) ``ab_read_latency(cfg)``, or 1-3
        (must match the :class:`~scanfuse.hw.buffer.TileBuffer`).

    Members
    -------
    job : ``In(stream.Signature(FeedJob(cfg)))``
        Taken when the previous job's last k step has been read (``ready`` = ``idle``).
    a_streaming : ``In(1)``, a_blocks : ``In(16)``
        Gate for an A tile still loading (see the module docstring).
    a_raddr, a_ren, a_rdata, b_raddr, b_ren, b_rdata
        The A and B memories' read ports (``read_latency``-cycle reads); ``*_rdata`` in.
    pe : ``Out(stream.Signature(KStep(cfg)))``
        The k steps, to :attr:`PEArray.i`. ``pe.ready`` itself is not read: see below.
    pe_ready_last, pe_ready_more : ``In(1)``
        The consumer's readiness for a k step with ``last`` set and for one without
        (:attr:`PEArray.ready_last`, :attr:`PEArray.ready_more`); the consumer must keep
        ``pe.ready == Mux(pe.payload.last, pe_ready_last, pe_ready_more)``.
    macs : ``Out(15)``
        Useful multiply-accumulates of the k step on ``pe`` (valid rows x valid columns of
        its block).
    idle : ``Out(1)``
        No k step left to read for the current job.
    """

    def __init__(self, cfg: AccelConfig, *, read_latency: "int | None" = None):
        if not isinstance(cfg, AccelConfig):
            raise TypeError(f"cfg must be an AccelConfig, not {cfg!r}")
        cfg.check_engine()
        if read_latency is None:
            read_latency = ab_read_latency(cfg)
        if isinstance(read_latency, bool) or read_latency not in (1, 2, 3):
            raise ValueError(f"read_latency must be 1, 2 or 3, not {read_latency!r}")
        self._cfg = cfg
        self.read_latency = read_latency
        g = self.geometry = BufferGeometry(cfg)
        super().__init__({
            "job": In(stream.Signature(FeedJob(cfg))),
            "a_streaming": In(1),
            "a_blocks": In(TILE_DIM_BITS),
            "a_raddr": Out(g.a_addr_bits), "a_ren": Out(1), "a_rdata": In(g.a_word_bits),
            "b_raddr": Out(g.b_addr_bits), "b_ren": Out(1), "b_rdata": In(g.b_word_bits),
            "pe": Out(stream.Signature(KStep(cfg))),
            "pe_ready_last": In(1), "pe_ready_more": In(1),
            "macs": Out(unsigned(2 * 7 + 1)),
            "idle": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        cfg, g = self._cfg, self.geometry
        R, C, AB = cfg.rows, cfg.cols, cfg.axi_bytes
        lAB = exact_log2(AB)
        job = Signal(FeedJob(cfg))
        active = Signal()
        k = Signal(TILE_DIM_BITS)
        mb = Signal(TILE_DIM_BITS)
        a_addr = Signal(g.a_addr_bits)          # word of k // AB in row block mb
        b_kbase = Signal(g.b_addr_bits)         # word of k row k, n block 0
        nbw = Signal(g.b_addr_bits)             # word of n block nb within the k row
        slc = Signal(range(max(2, g.b_blocks_per_word)))   # block within that word
        mrem = Signal(TILE_DIM_BITS)            # rows of the tile from row block mb on
        nrem = Signal(TILE_DIM_BITS)
        # The walk's decisions come from flip-flops, not from compares on the counters: they
        # are the enables of every walk register (an FPGA timing path, docs/fpga.md). Each
        # flag is loaded with the value it has after the counters' update.
        k_left = Signal(TILE_DIM_BITS)          # k_len - 1 - k
        k_end = Signal()                        # k == k_len - 1
        n_end = Signal()                        # n block nb is the tile's last (nrem <= C)
        m_end = Signal()                        # row block mb is the tile's last (mrem <= R)
        rv = Signal(range(R + 1))               # valid rows of row block mb: min(mrem, R)
        cv = Signal(range(C + 1))               # valid columns of n block nb: min(nrem, C)
        k_one = Signal()                        # the job's k_len == 1
        n_one = Signal()                        # the job's n_len <= C
        cv0 = Signal(range(C + 1))              # cv of n block 0
        # The read pipeline's bookkeeping, one record per stage; stage L-1's k step is the one
        # on a_rdata/b_rdata (stage 0 is the cycle after the address; the last, the output
        # register).
        L = self.read_latency
        step_layout = data.StructLayout({
            "valid": 1, "ksel": range(max(2, AB)), "slice": range(max(2, g.b_blocks_per_word)),
            "last": 1, "macs": unsigned(2 * 7 + 1),
        })
        stage = [Signal(step_layout, name=f"k{i + 1}") for i in range(L)]
        first, out = stage[0], stage[-1]

        m.d.comb += [self.idle.eq(~active), self.job.ready.eq(~active)]
        # pe.ready, selected here from the array's two flags with this stage's own `last`.
        taken = Mux(out.last, self.pe_ready_last, self.pe_ready_more)
        advance = ~out.valid | taken
        with m.If(advance):
            m.d.sync += [stage[i].eq(stage[i - 1]) for i in range(1, L)]
        # Whether row block mb's rows are in, from registers: the compares of the cycle
        # before for mb, mb + 1 (mb has just moved on) and 0 (the job has just started).
        # a_blocks only grows and a_streaming only falls while a job runs, so a compare a
        # cycle old errs only towards waiting one cycle more; the 16-bit compare is then not
        # in front of the feed's enables (an FPGA timing path, docs/fpga.md).
        in_now, in_next, in_first = Signal(), Signal(), Signal()
        mb_moved, job_new = Signal(), Signal()
        streaming = self.a_streaming
        m.d.sync += [in_now.eq(~streaming | (mb < self.a_blocks)),
                     in_next.eq(~streaming | (mb + 1 < self.a_blocks)),
                     in_first.eq(~streaming | (self.a_blocks != 0)),
                     mb_moved.eq(0), job_new.eq(0)]
        go = active & Mux(job_new, in_first, Mux(mb_moved, in_next, in_now))
        m.d.comb += [self.a_ren.eq(advance), self.b_ren.eq(advance),
                     self.a_raddr.eq(a_addr + (k >> lAB)),
                     self.b_raddr.eq(b_kbase + nbw)]
        with m.If(advance):
            m.d.sync += [first.valid.eq(go), first.ksel.eq(k[:lAB] if AB > 1 else 0),
                         first.slice.eq(slc), first.last.eq(k_end),
                         first.macs.eq(_small_product(rv, cv))]
            with m.If(go):
                with m.If(~k_end):
                    m.d.sync += [k.eq(k + 1), k_left.eq(k_left - 1), k_end.eq(k_left == 1),
                                 b_kbase.eq(b_kbase + job.nw)]
                with m.Else():
                    m.d.sync += [k.eq(0), k_left.eq(job.k_len - 1), k_end.eq(k_one),
                                 b_kbase.eq(job.b_base)]
                    with m.If(~n_end):
                        m.d.sync += [nrem.eq(nrem - C), n_end.eq(nrem <= 2 * C),
                                     cv.eq(Mux(nrem < 2 * C, nrem - C, C))]
                        if g.b_blocks_per_word > 1:
                            with m.If(slc == g.b_blocks_per_word - 1):
                                m.d.sync += [slc.eq(0), nbw.eq(nbw + 1)]
                            with m.Else():
                                m.d.sync += slc.eq(slc + 1)
                        else:
                            m.d.sync += nbw.eq(nbw + 1)
                    with m.Else():
                        m.d.sync += [nrem.eq(job.n_len), n_end.eq(n_one), cv.eq(cv0),
                                     nbw.eq(0), slc.eq(0)]
                        with m.If(~m_end):
                            m.d.sync += [mb.eq(mb + 1), mb_moved.eq(1), mrem.eq(mrem - R),
                                         m_end.eq(mrem <= 2 * R),
                                         rv.eq(Mux(mrem < 2 * R, mrem - R, R)),
                                         a_addr.eq(a_addr + job.kw)]
                        with m.Else():
                            m.d.sync += active.eq(0)
        with m.If(~active):
            # Loaded in every idle cycle, not only with `valid`: nothing reads them while
            # idle, so their enable is `active` alone, not the sequencer's state decode behind
            # `job.valid` (an FPGA timing path, docs/fpga.md); only `active` waits on `valid`.
            p = self.job.payload
            m.d.sync += [
                job.eq(p), active.eq(self.job.valid), job_new.eq(self.job.valid), k.eq(0),
                mb.eq(0),
                a_addr.eq(p.a_base), b_kbase.eq(p.b_base), nbw.eq(0), slc.eq(0),
                mrem.eq(p.m_len), nrem.eq(p.n_len),
                k_left.eq(p.k_len - 1), k_end.eq(p.k_len == 1), k_one.eq(p.k_len == 1),
                n_end.eq(p.n_len <= C), n_one.eq(p.n_len <= C), m_end.eq(p.m_len <= R),
                rv.eq(Mux(p.m_len < R, p.m_len, R)), cv.eq(Mux(p.n_len < C, p.n_len, C)),
                cv0.eq(Mux(p.n_len < C, p.n_len, C)),
            ]

        a_word, b_word = self.a_rdata, self.b_rdata
        b_block = b_word.word_select(out.slice, 8 * C) if g.b_blocks_per_word > 1 else b_word
        m.d.comb += [self.pe.valid.eq(out.valid), self.pe.payload.last.eq(out.last),
                     self.macs.eq(out.macs)]
        for r in range(R):
            lane = a_word.word_select(r, 8 * AB)
            m.d.comb += self.pe.payload.a[r].eq(lane.word_select(out.ksel, 8) if AB > 1 else lane)
        for c in range(C):
            m.d.comb += self.pe.payload.b[c].eq(b_block.word_select(c, 8))
        return m


def _small_product(a, b):
    """``a * b`` of two narrow unsigned values (a block's valid rows and columns) as a sum of
    shifted copies of ``a``: Yosys maps a ``*`` to a MULT18X18D block, whose delay and the
    wires to a DSP row made this product the 8x8 engine's critical path (docs/fpga.md)."""
    terms = [Mux(b[i], a << i, 0) for i in range(len(b))]
    total = terms[0]
    for t in terms[1:]:
        total = total + t
    return total
