"""The fused-block engine (``BlockEngine``): one inverted-residual block
``[1x1 expand] -> 3x3 depthwise -> 1x1 project (+ X)`` on chip, hidden tensors never in DRAM
(``docs/hardware/block-engine.md``).

It runs one :class:`~scanfuse.hw.fused_program.FusedDescriptor` (strips outer, hidden chunks
inner) with existing components: the :class:`~scanfuse.hw.dma.TileDMA` (AXI4 master), the
:class:`~scanfuse.hw.pe_array.PEArray` (shared by the expand and project GEMMs), three
:class:`~scanfuse.hw.requant.Requantizer` s (one per stage) and the
:class:`~scanfuse.hw.depthwise.DepthwiseUnit`::

                          +--------- X strip buffer (rows banks) <------ DMA rd (X rows)
                          |                 |  residual read
     W1 chunk --> expand feeder --> PEArray --> +b1 --> Requantizer(ReLU6) --> DepthwiseUnit
                          (phase E)     |  (phase P)                                 |
     W2 chunk --> project feeder -------+--> +b2 / +P --> P (int32, chunks 0..n-2)   v
                          ^                      |                    Requantizer(ReLU6)
                          |                      v (last chunk)                      |
                          +--- D buffer <--------|-----------------------------------+
                                          Requantizer --> +X, clamp --> DMA wr (Y)

Per strip (``strip_rows`` output rows, full width) the DMA reads the strip's X rows
(``run_rows``) that the previous strip did not into the X buffer, a ring of
``x_rows_bound(strip_rows, stride_h)`` row slots (image row ``r`` in slot ``r % ring``): the
halo rows two strips share stay on chip and every X row is read once. Per hidden chunk
(``chunk`` channels) the weights of the chunk are read (once for the whole block when
``chunks == 1``; with several chunks the next chunk's W1 and W2 are prefetched into the other
half of their memories during phase E), then

* **phase E**: the expand feeder walks input row ``y``, channel group ``g``, pixel block
  ``xb`` (``rows`` pixels) and ``k < cin``, so the array's output rows arrive as pixels of
  ``cols`` hidden channels in the depthwise unit's ``(y, g, x)`` order; each gets its bias and
  ReLU6 requantisation and enters the depthwise unit (without an expand stage, X pixels go
  straight in). The depthwise outputs (``(oy, g, ox)``), requantised, are written to the D
  buffer, banked by strip pixel modulo ``rows``. With one hidden chunk (not a CP chain) the
  depthwise unit runs one *continued* whole-image run over all strips: each strip's phase E
  feeds only the X rows the strip loaded (``continued_rows``), the unit's line buffer holding
  the two hidden rows before them, and raises the unit's ``flush`` once they are sent; phase
  E ends on the count of the strip's depthwise outputs (the D sink takes no more, nor any
  outside phase E), so no hidden halo row is computed twice. Otherwise the unit runs once per
  strip and chunk on the strip's rows with their halo rows (``run_rows``);
* **phase P**: the project feeder walks pixel block, output channel group and ``k < chunk``;
  each array output row gets ``b2`` (first chunk) or its partial sum ``P`` added. Before the
  last chunk the sums go back to ``P``; on the last chunk they are requantised, the residual
  X (from the X buffer) added with int8 saturation, and written to Y by one DMA command per
  pixel block and channel group (``rows`` beats of ``cols`` bytes, ``cout`` bytes apart).

**CP chains** (descriptor ``dw2``, a :class:`BlockConfig` with ``cp``): a second
:class:`~scanfuse.hw.depthwise.DepthwiseUnit` and its requantiser sit in series after the
first, so the chain ``1x1 -> 3x1 (stride (sh, 1)) -> 1x3 (stride (1, sw)) -> 1x1`` runs the same
way: the first unit's requantised ``(oy, g, x)`` output rows of the strip are the second unit's
input rows (a run of ``strip rows`` rows with padding rows on both sides; its taps outside the
centre row are 0), and the second unit's requantised outputs go to the D buffer. Its weight
words are read right after the first unit's (``LD_WD2``).

Phases E and P do not overlap, and the X rows (but the next strip's one new row of a continued
run in one-row strips of stride 1, loaded during phase E into the ring's free third slot), chunk
biases and depthwise words load between phases (``docs/hardware/block-engine.md`` gives the cycle figures against the roofline). The bias,
``P`` and residual reads use combinational memory read ports (distributed RAM on an FPGA).
"""

from amaranth.hdl import Array, Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, memory, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import exact_log2

from .axi import AXI4Signature
from .depthwise import DepthwiseUnit
from .dma import TileDMA
from .fused_program import DW_WORD_BEATS, BlockConfig, FusedChecker, FusedDescriptor, FusedError
from .pe_array import PEArray
from .requant import Requantizer

__all__ = ["BlockEngine"]

_ACC = 32


def _count_step(m: Module, digits) -> None:
    """One step of a nest of loop counters, innermost first: ``digits`` is a list of
    ``(counter, last)``; a counter at its ``last`` value wraps to 0 and carries into the next;
    the outermost (``last`` None) only counts up (with a ``last``, it wraps too: a ring)."""
    if not digits:
        return
    counter, last = digits[0]
    if last is None:
        m.d.sync += counter.eq(counter + 1)
        return
    with m.If(counter == last):
        m.d.sync += counter.eq(0)
        _count_step(m, digits[1:])
    with m.Else():
        m.d.sync += counter.eq(counter + 1)


class BlockEngine(wiring.Component):
    """Runs one fused block per ``start`` (see the module docstring).

    Parameters
    ----------
    bcfg : BlockConfig
    counter_bits : int
        Width of the byte and cycle counters, 32..64 (default 48).
    max_burst, max_outstanding : int
        The DMA's burst length and bursts in flight (defaults 16 and 4).

    Members
    -------
    desc : ``In(FusedDescriptor(bcfg))``
        Sampled on ``start``.
    start : ``In(1)``
        Begin a block (ignored while ``busy``); clears the counters, ``done`` and ``error``.
    busy : ``Out(1)``
    done : ``Out(1)``
        High from the end of a block (or its rejection) until the next ``start``.
    error : ``Out(FusedError)``
        Verdict on the last descriptor; an illegal one ends the block at once (no DRAM access).
    bus : ``Out(AXI4Signature(addr_bits, axi_data_bits, 1))``
        DRAM master.
    bytes_read, bytes_written : ``Out(counter_bits)``
        DRAM payload bytes moved by the DMA since ``start``.
    cycles : ``Out(counter_bits)``
        Clock cycles from ``start`` to ``done``.
    bus_error : ``Out(1)``
        The DMA latched an AXI error response (the block still runs to its end).
    """

    def __init__(self, bcfg: BlockConfig = BlockConfig(), *, counter_bits: int = 48,
                 max_burst: int = 16, max_outstanding: int = 4):
        if not isinstance(bcfg, BlockConfig):
            raise TypeError(f"bcfg must be a BlockConfig, not {bcfg!r}")
        if isinstance(counter_bits, bool) or not isinstance(counter_bits, int) \
                or not 32 <= counter_bits <= 64:
            raise ValueError(f"counter_bits must be an integer in 32..64, not {counter_bits!r}")
        self._bcfg = bcfg
        self._counter_bits = counter_bits
        self._max_burst = max_burst
        self._max_outstanding = max_outstanding
        cfg = bcfg.accel
        super().__init__({
            "desc": In(FusedDescriptor(bcfg)),
            "start": In(1),
            "busy": Out(1),
            "done": Out(1),
            "error": Out(FusedError),
            "bus": Out(AXI4Signature(cfg.addr_bits, cfg.axi_data_bits, 1)),
            "bytes_read": Out(counter_bits),
            "bytes_written": Out(counter_bits),
            "cycles": Out(counter_bits),
            "bus_error": Out(1),
        })

    @property
    def bcfg(self) -> BlockConfig:
        return self._bcfg

    def elaborate(self, platform):  # noqa: C901 (one controller; see the module docstring)
        m = Module()
        bc = self._bcfg
        cfg = bc.accel
        rows, lane, nb = cfg.rows, bc.lane, cfg.axi_bytes
        lr, ll = exact_log2(rows), exact_log2(lane)

        m.submodules.checker = chk = FusedChecker(bc)
        m.submodules.dma = dma = TileDMA(cfg, max_burst=self._max_burst,
                                         max_outstanding=self._max_outstanding,
                                         counter_bits=self._counter_bits)
        m.submodules.pe = pe = PEArray(cfg)
        m.submodules.rq_e = rq_e = Requantizer(cfg)
        m.submodules.rq_d = rq_d = Requantizer(cfg)
        m.submodules.rq_p = rq_p = Requantizer(cfg)
        m.submodules.dw = dw = DepthwiseUnit(lanes=lane, max_width=bc.max_width,
                                             max_channels=bc.max_chunk)
        if bc.cp:       # the CP chain's 1x3 stage, in series after ``dw``
            m.submodules.rq_d2 = rq_d2 = Requantizer(cfg)
            m.submodules.dw2 = dw2 = DepthwiseUnit(lanes=lane, max_width=bc.max_width,
                                                   max_channels=bc.max_chunk)
        wiring.connect(m, wiring.flipped(self.bus), dma.bus)
        m.d.comb += [self.bytes_read.eq(dma.bytes_read), self.bytes_written.eq(dma.bytes_written),
                     self.bus_error.eq(dma.error)]

        d = Signal(FusedDescriptor(bc), name="d")          # the running block's descriptor
        m.d.comb += [rq_e.params.eq(d.rq_expand), rq_d.params.eq(d.rq_dw),
                     rq_p.params.eq(d.rq_project)]
        if bc.cp:
            m.d.comb += rq_d2.params.eq(d.rq_dw2)

        # --- memories ------------------------------------------------------------------------
        word = unsigned(8 * lane)
        accw = data.ArrayLayout(signed(_ACC), lane)

        def mem(name, shape, depth):
            mm = memory.Memory(shape=shape, depth=max(2, depth), init=[])
            m.submodules[name] = mm
            return mm

        xbanks = [mem(f"xbuf{r}", word, bc.x_entries // (rows * lane)) for r in range(rows)]
        x_w = [b.write_port() for b in xbanks]
        x_rs = [b.read_port(transparent_for=()) for b in xbanks]   # expand / direct feeder
        x_rc = [b.read_port(domain="comb") for b in xbanks]        # residual
        dbanks = [mem(f"dbuf{r}", word, bc.d_entries // (rows * lane)) for r in range(rows)]
        d_w = [b.write_port() for b in dbanks]
        d_rs = [b.read_port(transparent_for=()) for b in dbanks]
        # W1 and W2 hold two halves when a block has several chunks: the running chunk's
        # weights in half ``wh``, the next chunk's prefetched into the other during phase E.
        w1m = mem("w1", word, bc.w1_entries // lane)
        w1_half = (bc.w1_entries // lane) // 2
        w2_half = (bc.w2_entries // lane) // 2
        wh = Signal()               # half of the running chunk
        w_wr_half = Signal()        # half the loader writes
        m.d.comb += w_wr_half.eq(wh)
        w1_w, w1_r = w1m.write_port(), w1m.read_port(transparent_for=())
        w2m = mem("w2", word, bc.w2_entries // lane)
        w2_w, w2_r = w2m.write_port(), w2m.read_port(transparent_for=())
        b1m = mem("b1", accw, bc.max_chunk // lane)
        b1_w, b1_r = b1m.write_port(), b1m.read_port(domain="comb")
        b2m = mem("b2", accw, bc.max_cout // lane)
        b2_w, b2_r = b2m.write_port(), b2m.read_port(domain="comb")
        pm = mem("psum", accw, bc.p_entries // lane)
        p_w, p_r = pm.write_port(), pm.read_port(domain="comb")

        # --- derived block quantities (from the latched descriptor) -------------------------
        cin_w = Signal(16 - ll)
        tc_w = Signal(16 - ll)
        cout_w = Signal(16 - ll)
        xw = Signal(16)
        m.d.comb += [cin_w.eq(d.cin >> ll), tc_w.eq(d.chunk >> ll), cout_w.eq(d.cout >> ll),
                     xw.eq((d.W + (rows - 1)) >> lr)]

        # Strip registers (set in STRIP from oy0) and chunk registers.
        oy0 = Signal(16)
        strip = Signal(16)
        s_rows_out = Signal(16)
        s_first = Signal(16)
        s_nin = Signal(16)
        s_slot0 = Signal(16)        # X ring slot of the strip's first input row
        s_ld_first = Signal(16)     # first input row the strip loads (rows not yet on chip)
        s_ld_n = Signal(16)         # rows it loads
        s_ld_slot = Signal(16)      # their first slot
        s_pad_top = Signal()
        s_pad_bot = Signal()
        s_pix = Signal(32)          # strip output pixels
        s_pbn = Signal(32)          # pixel blocks of `rows`
        s_pix0 = Signal(32)         # image pixel index of the strip's first output pixel
        chunk = Signal(16)
        hc0 = Signal(16)            # first hidden channel of the chunk
        # A continued depthwise run (one hidden chunk, no CP chain): one whole-image run of
        # the unit over all strips, each strip feeding only the X rows it loads (those no
        # earlier strip fed; the unit's line buffer holds the previous two hidden rows).
        cont = Signal()
        f_slot0 = Signal(16)        # ring slot of the first row the feeder sends
        f_n = Signal(16)            # rows it sends
        m.d.comb += [f_slot0.eq(Mux(cont, s_ld_slot, s_slot0)), f_n.eq(Mux(cont, s_ld_n, s_nin))]
        first_chunk = chunk == 0
        last_chunk = chunk == d.chunks - 1

        def times_stride(v, s):
            return Mux(s == 2, v << 1, v)

        oy_end = Signal(17)
        oy1 = Signal(16)
        hi = Signal(18)
        m.d.comb += [oy_end.eq(oy0 + d.strip_rows),
                     oy1.eq(Mux(oy_end > d.Ho, d.Ho, oy_end)),
                     hi.eq(times_stride(oy1 - 1, d.stride_h) + 1)]

        # The X buffer is a ring of ``ring`` row slots (``x_rows_bound``: the most input rows
        # a strip needs, so the X_OVERFLOW rule sizes it), image row r in slot r % ring: the
        # rows two consecutive strips share stay on chip and each strip loads only its new
        # rows. ``wrap`` maps a slot sum below 2 * ring into the ring.
        ring = Signal(18)
        m.d.comb += ring.eq(times_stride(d.strip_rows - 1, d.stride_h) + 3)

        def wrap(v):
            return Mux(v >= ring, v - ring, v)[:16]

        # The next strip's first new X row and its ring slot (the X row prefetch, below).
        nxt_first = Signal(16)
        nxt_slot = Signal(16)
        m.d.comb += [nxt_first.eq(s_ld_first + s_ld_n), nxt_slot.eq(wrap(s_ld_slot + s_ld_n))]

        # --- DMA command mux and the load path ----------------------------------------------
        ld_cmd = Signal(dma.cmd.payload.shape())
        ld_valid = Signal()
        y_cmd = Signal(dma.cmd.payload.shape())
        y_valid = Signal()
        y_sel = Signal()
        # Field by field: ``write`` is the selector itself (a constant in a combinational
        # process would never be evaluated by Icarus: the Verilog's ``always @*`` has no
        # sensitivity).
        m.d.comb += [dma.cmd.payload.write.eq(y_sel),
                     dma.cmd.valid.eq(Mux(y_sel, y_valid, ld_valid))]
        m.d.comb += [dma.cmd.payload[f].eq(Mux(y_sel, y_cmd[f], ld_cmd[f]))
                     for f in ("addr", "row_bytes", "rows", "stride")]

        # Load target (decoded from the controller state) and the beat loader.
        T_X, T_W1, T_B1, T_WD, T_W2, T_B2, T_WD2 = range(7)
        tgt = Signal(range(7))
        ld_reset = Signal()      # a load command is accepted: restart the loader's counters
        x_pf_load = Signal()     # it is the X row prefetch (rows from ``nxt_slot``)
        ld_done = Signal()       # the load's last beat is written
        lw = Signal(16)          # word counter
        lb = Signal(range(DW_WORD_BEATS))
        sr = Signal(DW_WORD_BEATS * 8 * nb)
        lkw = Signal(16)
        lx = Signal(16)
        ly = Signal(16)
        beat = dma.rd.payload
        fire = dma.rd.valid
        m.d.comb += dma.rd.ready.eq(1)
        sr_next = Cat(sr[8 * nb:], beat.data)
        bias_beats = 4 * lane // nb
        m.d.comb += ld_done.eq(fire & beat.last)
        with m.If(ld_reset):
            m.d.sync += [lw.eq(0), lb.eq(0), lkw.eq(0), lx.eq(0),
                         ly.eq(Mux(x_pf_load, nxt_slot, s_ld_slot))]
        with m.Elif(fire):
            m.d.sync += sr.eq(sr_next)
            n_beats = Mux((tgt == T_WD) | (tgt == T_WD2), DW_WORD_BEATS, Mux((tgt == T_B1) | (tgt == T_B2),
                                                          bias_beats, 1))
            _count_step(m, [(lb, n_beats - 1), (lw, None)])
            _count_step(m, [(lkw, cin_w - 1), (lx, d.W - 1), (ly, ring - 1)])
        x_addr_ld = (ly * xw + (lx >> lr)) * cin_w + lkw
        for r in range(rows):
            m.d.comb += [x_w[r].data.eq(beat.data), x_w[r].addr.eq(x_addr_ld),
                         x_w[r].en.eq(fire & (tgt == T_X) & (lx[:lr] == r if lr else 1))]
        bias_word = sr_next[-(bias_beats * 8 * nb):]
        word_end = lambda n: fire & (lb == n - 1)   # noqa: E731
        m.d.comb += [
            w1_w.addr.eq(lw + Mux(w_wr_half, w1_half, 0)), w1_w.data.eq(beat.data),
            w1_w.en.eq(fire & (tgt == T_W1)),
            w2_w.addr.eq(lw + Mux(w_wr_half, w2_half, 0)), w2_w.data.eq(beat.data),
            w2_w.en.eq(fire & (tgt == T_W2)),
            b1_w.addr.eq(lw), b1_w.data.eq(bias_word),
            b1_w.en.eq(word_end(bias_beats) & (tgt == T_B1)),
            b2_w.addr.eq(lw), b2_w.data.eq(bias_word),
            b2_w.en.eq(word_end(bias_beats) & (tgt == T_B2)),
            dw.wt_addr.eq(lw), dw.wt_data.eq(sr_next),
            dw.wt_en.eq(word_end(DW_WORD_BEATS) & (tgt == T_WD)),
        ]
        if bc.cp:
            m.d.comb += [dw2.wt_addr.eq(lw), dw2.wt_data.eq(sr_next),
                         dw2.wt_en.eq(word_end(DW_WORD_BEATS) & (tgt == T_WD2))]

        # --- phase E: expand feeder (or the direct X feeder) -> PE / depthwise ------------
        exp_started = Signal()      # in phase E, after its first cycle
        ph_proj = Signal()          # the PE array serves the project GEMM
        e_run = Signal()
        ey, eg, exb, ek = Signal(16), Signal(16), Signal(16), Signal(16)
        e1_valid, e1_last = Signal(), Signal()
        e1_sel = Signal(max(1, ll))
        en_e = Signal()
        m.d.comb += en_e.eq(~e1_valid | (pe.i.ready & ~ph_proj))
        e_final = (ek == d.cin - 1) & (exb == xw - 1) & (eg == tc_w - 1) & (ey == f_n - 1)
        with m.If(en_e):
            m.d.sync += [e1_valid.eq(e_run), e1_sel.eq(ek[:max(1, ll)]),
                         e1_last.eq(ek == d.cin - 1)]
            with m.If(e_run):
                _count_step(m, [(ek, d.cin - 1), (exb, xw - 1), (eg, tc_w - 1), (ey, None)])
                with m.If(e_final):
                    m.d.sync += e_run.eq(0)

        # Direct feeder (no expand stage): X pixels of the chunk's channels to the depthwise unit.
        q_run = Signal()
        qy, qg, qx = Signal(16), Signal(16), Signal(16)
        q1_valid = Signal()
        q1_bank = Signal(max(1, lr))
        en_q = Signal()
        m.d.comb += en_q.eq(~q1_valid | dw.i.ready)
        q_final = (qx == d.W - 1) & (qg == tc_w - 1) & (qy == f_n - 1)
        with m.If(en_q):
            m.d.sync += [q1_valid.eq(q_run), q1_bank.eq(qx[:max(1, lr)] if lr else 0)]
            with m.If(q_run):
                _count_step(m, [(qx, d.W - 1), (qg, tc_w - 1), (qy, None)])
                with m.If(q_final):
                    m.d.sync += q_run.eq(0)

        e_addr = (wrap(f_slot0 + ey) * xw + exb) * cin_w + (ek >> ll)
        q_addr = (wrap(f_slot0 + qy) * xw + (qx >> lr)) * cin_w + (hc0 >> ll) + qg
        for r in range(rows):
            m.d.comb += [x_rs[r].addr.eq(Mux(d.expand, e_addr, q_addr)),
                         x_rs[r].en.eq(Mux(d.expand, en_e, en_q))]
        m.d.comb += [w1_r.addr.eq(ek * tc_w + eg + Mux(wh, w1_half, 0)), w1_r.en.eq(en_e)]

        # --- phase P: project feeder ---------------------------------------------------------
        p_run = Signal()
        pp, pj, pk = Signal(32), Signal(16), Signal(16)
        p1_valid, p1_last = Signal(), Signal()
        p1_sel = Signal(max(1, ll))
        en_p = Signal()
        m.d.comb += en_p.eq(~p1_valid | (pe.i.ready & ph_proj))
        p_final = (pk == d.chunk - 1) & (pj == cout_w - 1) & (pp == s_pbn - 1)
        with m.If(en_p):
            m.d.sync += [p1_valid.eq(p_run), p1_sel.eq(pk[:max(1, ll)]),
                         p1_last.eq(pk == d.chunk - 1)]
            with m.If(p_run):
                _count_step(m, [(pk, d.chunk - 1), (pj, cout_w - 1), (pp, None)])
                with m.If(p_final):
                    m.d.sync += p_run.eq(0)
        for r in range(rows):
            m.d.comb += [d_rs[r].addr.eq(pp * tc_w + (pk >> ll)), d_rs[r].en.eq(en_p)]
        m.d.comb += [w2_r.addr.eq(pk * cout_w + pj + Mux(wh, w2_half, 0)), w2_r.en.eq(en_p)]

        # The PE array's k steps: expand or project.
        def byte(v, sel):
            return v.word_select(sel, 8) if ll else v[:8]

        with m.If(ph_proj):
            m.d.comb += [pe.i.valid.eq(p1_valid), pe.i.payload.last.eq(p1_last),
                         pe.i.payload.b.eq(w2_r.data)]
            m.d.comb += [pe.i.payload.a[r].eq(byte(d_rs[r].data, p1_sel)) for r in range(rows)]
        with m.Else():
            m.d.comb += [pe.i.valid.eq(e1_valid), pe.i.payload.last.eq(e1_last),
                         pe.i.payload.b.eq(w1_r.data)]
            m.d.comb += [pe.i.payload.a[r].eq(byte(x_rs[r].data, e1_sel)) for r in range(rows)]

        # --- expand sink: +b1, drop padding pixels -> rq_e -> depthwise ---------------------
        sy, sg, sxb = Signal(16), Signal(16), Signal(16)
        s_reset = Signal()
        e_ov = Signal()
        e_out = Signal(accw)
        psum = pe.o.payload
        e_take = Signal()
        m.d.comb += e_take.eq(~ph_proj & pe.o.valid & (~e_ov | rq_e.i.ready))
        m.d.comb += b1_r.addr.eq(sg)
        keep_e = ((sxb << lr) + psum.row) < d.W
        with m.If(s_reset):
            m.d.sync += [sy.eq(0), sg.eq(0), sxb.eq(0)]
        with m.Elif(e_take & psum.last):
            _count_step(m, [(sxb, xw - 1), (sg, tc_w - 1), (sy, None)])
        with m.If(e_take):
            m.d.sync += e_ov.eq(keep_e)
            m.d.sync += [e_out[c].eq(psum.data[c] + b1_r.data[c]) for c in range(lane)]
        with m.Elif(rq_e.i.ready):
            m.d.sync += e_ov.eq(0)
        m.d.comb += [rq_e.i.valid.eq(e_ov), rq_e.i.payload.data.eq(e_out),
                     rq_e.i.payload.last.eq(0)]

        # Depthwise input: the expand requantiser or the direct feeder.
        x_bank_data = Array(x_rs[r].data for r in range(rows))
        with m.If(d.expand):
            m.d.comb += [dw.i.valid.eq(rq_e.o.valid), dw.i.payload.data.eq(rq_e.o.payload.data),
                         rq_e.o.ready.eq(dw.i.ready)]
        with m.Else():
            m.d.comb += [dw.i.valid.eq(q1_valid), dw.i.payload.data.eq(x_bank_data[q1_bank])]
        m.d.comb += [rq_d.i.valid.eq(dw.o.valid), rq_d.i.payload.data.eq(dw.o.payload.data),
                     rq_d.i.payload.last.eq(dw.o.payload.last), dw.o.ready.eq(rq_d.i.ready)]

        # The depthwise chain's end: rq_d, or (CP chain) rq_d -> dw2 -> rq_d2.
        # The D sink takes outputs only in phase E and only the strip's own (``d_open``): a
        # continued run may compute the next strip's first output row without new input (the
        # drain row); it waits in the pipeline until the next strip's phase E.
        dox, dg, doy = Signal(16), Signal(16), Signal(16)
        d_open = Signal()
        m.d.comb += d_open.eq(exp_started & (doy != s_rows_out))
        dfire = Signal()
        d_data = Signal.like(rq_d.o.payload.data)
        if bc.cp:
            m.d.comb += [dw2.i.valid.eq(rq_d.o.valid & d.dw2),
                         dw2.i.payload.data.eq(rq_d.o.payload.data),
                         rq_d2.i.valid.eq(dw2.o.valid),
                         rq_d2.i.payload.data.eq(dw2.o.payload.data),
                         rq_d2.i.payload.last.eq(dw2.o.payload.last),
                         dw2.o.ready.eq(rq_d2.i.ready), rq_d2.o.ready.eq(d_open)]
            with m.If(d.dw2):
                m.d.comb += [rq_d.o.ready.eq(dw2.i.ready), dfire.eq(rq_d2.o.valid & d_open),
                             d_data.eq(rq_d2.o.payload.data)]
            with m.Else():
                m.d.comb += [rq_d.o.ready.eq(d_open), dfire.eq(rq_d.o.valid & d_open),
                             d_data.eq(rq_d.o.payload.data)]
        else:
            m.d.comb += [rq_d.o.ready.eq(d_open), dfire.eq(rq_d.o.valid & d_open),
                         d_data.eq(rq_d.o.payload.data)]

        # --- depthwise sink: the chain's end -> D buffer -------------------------------------
        dprow = Signal(32)
        dpix = Signal(32)
        m.d.comb += dpix.eq(dprow + dox)
        with m.If(s_reset):
            m.d.sync += [dox.eq(0), dg.eq(0), doy.eq(0), dprow.eq(0)]
        with m.Elif(dfire):
            with m.If(dox == d.Wo - 1):
                m.d.sync += dox.eq(0)
                with m.If(dg == tc_w - 1):
                    m.d.sync += [dg.eq(0), doy.eq(doy + 1), dprow.eq(dprow + d.Wo)]
                with m.Else():
                    m.d.sync += dg.eq(dg + 1)
            with m.Else():
                m.d.sync += dox.eq(dox + 1)
        for r in range(rows):
            m.d.comb += [d_w[r].addr.eq((dpix >> lr) * tc_w + dg),
                         d_w[r].data.eq(d_data),
                         d_w[r].en.eq(dfire & ((dpix[:lr] == r) if lr else 1))]
        # the strip's last depthwise output (counted: a continued run's ``last`` is the block's)
        exp_done = dfire & (dox == d.Wo - 1) & (dg == tc_w - 1) & (doy == s_rows_out - 1)

        # --- project sink: + b2 / P -> P, or -> rq_p ----------------------------------------
        qp, qj = Signal(32), Signal(16)
        ppix = Signal(32)
        m.d.comb += ppix.eq((qp << lr) + psum.row)
        keep_p = ppix < s_pix
        paddr = ppix * cout_w + qj
        m.d.comb += [p_r.addr.eq(paddr), b2_r.addr.eq(qj)]
        base = Mux(first_chunk, b2_r.data.as_value(), p_r.data.as_value())
        base_v = data.View(accw, base)
        psum_sum = Signal(accw)
        m.d.comb += [psum_sum[c].eq(psum.data[c] + base_v[c]) for c in range(lane)]
        p_ov = Signal()
        p_out = Signal(accw)
        to_rq = last_chunk
        p_take = Signal()
        m.d.comb += p_take.eq(ph_proj & pe.o.valid & (~to_rq | ~p_ov | rq_p.i.ready))
        proj_rows_done = p_take & psum.last & (qp == s_pbn - 1) & (qj == cout_w - 1)
        with m.If(s_reset):
            m.d.sync += [qp.eq(0), qj.eq(0)]
        with m.Elif(p_take & psum.last):
            with m.If(qj == cout_w - 1):
                m.d.sync += [qj.eq(0), qp.eq(qp + 1)]
            with m.Else():
                m.d.sync += qj.eq(qj + 1)
        m.d.comb += [p_w.addr.eq(paddr), p_w.data.eq(psum_sum),
                     p_w.en.eq(p_take & keep_p & ~to_rq)]
        with m.If(p_take & to_rq):
            m.d.sync += [p_ov.eq(keep_p), p_out.eq(psum_sum)]
        with m.Elif(rq_p.i.ready):
            m.d.sync += p_ov.eq(0)
        m.d.comb += [rq_p.i.valid.eq(p_ov), rq_p.i.payload.data.eq(p_out),
                     rq_p.i.payload.last.eq(0)]
        m.d.comb += pe.o.ready.eq(Mux(ph_proj, ~to_rq | ~p_ov | rq_p.i.ready,
                                      ~e_ov | rq_e.i.ready))

        # --- store: rq_p -> + X (residual) -> DMA wr (Y) ------------------------------------
        tr, tj, tpb = Signal(16), Signal(16), Signal(32)
        toy, tox, boy, box = Signal(16), Signal(16), Signal(16), Signal(16)

        def nvalid(pb):
            left = s_pix - (pb << lr)
            return Mux(left >= rows, rows, left)

        t_last = tr == nvalid(tpb) - 1
        w_ov = Signal()
        w_data = Signal(8 * nb)
        w_last = Signal()
        t_take = Signal()
        m.d.comb += [t_take.eq(rq_p.o.valid & (~w_ov | dma.wr.ready)),
                     rq_p.o.ready.eq(~w_ov | dma.wr.ready)]
        xr_addr = (wrap(s_slot0 + toy + ~s_pad_top) * xw + (tox >> lr)) * cin_w + tj
        for r in range(rows):
            m.d.comb += x_rc[r].addr.eq(xr_addr)
        xres = Signal(8 * lane)
        m.d.comb += xres.eq(Array(x_rc[r].data for r in range(rows))[tox[:max(1, lr)] if lr
                                                                     else 0])
        q = rq_p.o.payload.data
        ys = []
        for c in range(lane):
            s = Signal(signed(10), name=f"res{c}")
            m.d.comb += s.eq(q[c] + Mux(d.residual, xres.word_select(c, 8).as_signed(), 0))
            ys.append(Mux(s > 127, 127, Mux(s < -128, -128, s))[:8])
        store_done = Signal()
        m.d.comb += store_done.eq(t_take & t_last & (tj == cout_w - 1) & (tpb == s_pbn - 1))

        def step(oy, ox):
            return Mux(ox == d.Wo - 1, oy + 1, oy), Mux(ox == d.Wo - 1, 0, ox + 1)

        noy, nox = step(toy, tox)
        with m.If(s_reset):
            m.d.sync += [tr.eq(0), tj.eq(0), tpb.eq(0), toy.eq(0), tox.eq(0), boy.eq(0),
                         box.eq(0)]
        with m.Elif(t_take):
            with m.If(t_last):
                m.d.sync += tr.eq(0)
                with m.If(tj == cout_w - 1):
                    m.d.sync += [tj.eq(0), tpb.eq(tpb + 1), toy.eq(noy), tox.eq(nox),
                                 boy.eq(noy), box.eq(nox)]
                with m.Else():
                    m.d.sync += [tj.eq(tj + 1), toy.eq(boy), tox.eq(box)]
            with m.Else():
                m.d.sync += [tr.eq(tr + 1), toy.eq(noy), tox.eq(nox)]
        with m.If(t_take):
            m.d.sync += [w_ov.eq(1), w_data.eq(Cat(*ys)), w_last.eq(t_last)]
        with m.Elif(dma.wr.ready):
            m.d.sync += w_ov.eq(0)
        m.d.comb += [dma.wr.valid.eq(w_ov), dma.wr.payload.data.eq(w_data),
                     dma.wr.payload.count.eq(nb), dma.wr.payload.row_last.eq(1),
                     dma.wr.payload.last.eq(w_last)]

        # --- Y write commands: one per pixel block and output channel group -----------------
        i_run = Signal()
        ipb, ij = Signal(32), Signal(16)
        m.d.comb += [
            y_valid.eq(i_run),
            y_cmd.addr.eq(d.y_base + (s_pix0 + (ipb << lr)) * d.cout + (ij << ll)),
            y_cmd.row_bytes.eq(nb),
            y_cmd.rows.eq(nvalid(ipb)),
            y_cmd.stride.eq(d.cout),
        ]
        with m.If(s_reset):
            m.d.sync += [ipb.eq(0), ij.eq(0)]
        with m.Elif(i_run & dma.cmd.ready & y_sel):
            with m.If(ij == cout_w - 1):
                m.d.sync += [ij.eq(0), ipb.eq(ipb + 1)]
                with m.If(ipb == s_pbn - 1):
                    m.d.sync += i_run.eq(0)
            with m.Else():
                m.d.sync += ij.eq(ij + 1)

        # --- controller ----------------------------------------------------------------------
        issued = Signal()
        store_seen = Signal()
        m.d.comb += [chk.desc.eq(d), self.busy.eq(0)]
        wx = d.W * d.cin

        def load(cmd_fields, target, next_state):
            m.d.comb += [tgt.eq(target), ld_valid.eq(~issued)]
            m.d.comb += [getattr(ld_cmd, k).eq(v) for k, v in cmd_fields.items()]
            with m.If(ld_valid & dma.cmd.ready):
                m.d.sync += issued.eq(1)
                m.d.comb += ld_reset.eq(1)
            with m.If(issued & ld_done):
                m.d.sync += issued.eq(0)
                m.next = next_state

        reload = (d.chunks != 1) | (strip == 0)
        # Weight prefetch (blocks of several chunks): during phase E of a chunk the next
        # chunk's W1 and W2 (the next strip's first chunk after a strip's last) are loaded
        # into the halves the running chunk does not read; ``pfd``: the running chunk's were.
        pfd = Signal()
        e_fin = Signal()            # phase E's last depthwise output is in D
        PF_W1, PF_W1_WAIT, PF_W2, PF_W2_WAIT, PF_X, PF_X_WAIT, PF_DONE = range(7)
        pf_st = Signal(range(7))
        # X row prefetch (a continued run in one-row strips of stride 1): during phase E the
        # next strip's one new X row loads into the ring slot after this strip's rows (the
        # third of ``ring = 3``: neither the row being fed nor the residual row).
        x_pfd = Signal()            # the strip's new X row was prefetched
        x_pf_need = (cont & (d.stride_h == 1) & (d.strip_rows == 1) & (strip != d.strips - 1)
                     & (nxt_first < d.H))
        pf_need = (d.chunks != 1) & ~(last_chunk & (strip == d.strips - 1))
        pf_hc0 = Mux(last_chunk, 0, hc0 + d.chunk)
        # the chunk's depthwise weight words (both depthwise units have the same layout)
        dw_off = hc0 * DW_WORD_BEATS * (nb // lane)
        dw_bytes = d.chunk * DW_WORD_BEATS * (nb // lane)
        with m.FSM(name="ctl"):
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.sync += [d.eq(self.desc), self.done.eq(0),
                                 self.error.eq(FusedError.NONE), self.cycles.eq(0)]
                    m.d.comb += dma.clear.eq(1)
                    m.next = "CHECK"
            with m.State("CHECK"):
                m.d.comb += [self.busy.eq(1), chk.valid.eq(1)]
                m.next = "VERDICT"
            with m.State("VERDICT"):
                m.d.comb += self.busy.eq(1)
                with m.If(chk.error != FusedError.NONE):
                    m.d.sync += [self.error.eq(chk.error), self.done.eq(1)]
                    m.next = "IDLE"
                with m.Else():
                    m.d.sync += [oy0.eq(0), strip.eq(0), s_pix0.eq(0), pfd.eq(0), wh.eq(0),
                                 cont.eq((d.chunks == 1) & ~d.dw2 if bc.cp else d.chunks == 1)]
                    m.next = "LD_B2"
            with m.State("LD_B2"):
                m.d.comb += self.busy.eq(1)
                load({"addr": d.b2_base, "row_bytes": d.cout << 2, "rows": 1, "stride": 0},
                     T_B2, "STRIP")
            with m.State("STRIP"):
                m.d.comb += self.busy.eq(1)
                lo1 = times_stride(oy0, d.stride_h)
                first = Mux(oy0 == 0, 0, lo1 - 1)
                pad_bot = hi >= d.H
                last_row = Mux(pad_bot, d.H - 1, hi)
                pix = (oy1 - oy0) * d.Wo
                # Ring bookkeeping: the first strip loads all its rows into slots from 0; a
                # later one starts after the previous strip's last row (its rows before that,
                # 3 - stride_h of them, are on chip), the slots advancing with the rows.
                is0 = strip == 0
                slot0 = Signal(16)
                ld_first = Signal(16)
                m.d.comb += [slot0.eq(Mux(is0, 0, wrap(s_slot0 + (first - s_first)))),
                             ld_first.eq(Mux(is0, 0, s_first + s_nin))]
                m.d.sync += [s_slot0.eq(slot0), s_ld_first.eq(ld_first),
                             s_ld_n.eq(last_row - ld_first + 1),
                             s_ld_slot.eq(wrap(slot0 + (ld_first - first)))]
                m.d.sync += [s_rows_out.eq(oy1 - oy0), s_first.eq(first),
                             s_nin.eq(last_row - first + 1), s_pad_top.eq(oy0 == 0),
                             s_pad_bot.eq(pad_bot), s_pix.eq(pix),
                             s_pbn.eq((pix + (rows - 1)) >> lr),
                             chunk.eq(0), hc0.eq(0)]
                m.next = "LD_X"
            with m.State("LD_X"):
                m.d.comb += self.busy.eq(1)
                m.d.sync += x_pfd.eq(0)
                # its rows are all on chip (a last strip whose window rows past the image are
                # padding), or its one new row was prefetched during the last phase E
                with m.If((s_ld_n == 0) | x_pfd):
                    m.next = "CHUNK"
                with m.Else():
                    load({"addr": d.x_base + s_ld_first * wx, "row_bytes": wx,
                          "rows": s_ld_n, "stride": wx}, T_X, "CHUNK")
            with m.State("CHUNK"):
                m.d.comb += self.busy.eq(1)
                with m.If(~reload):
                    m.next = "EXPAND"
                with m.Elif(d.expand):
                    m.next = "LD_W1"
                    with m.If(pfd):         # W1 and W2 prefetched
                        m.next = "LD_B1"
                with m.Else():
                    m.next = "LD_WD"
            with m.State("LD_W1"):
                m.d.comb += self.busy.eq(1)
                load({"addr": d.w1_base + hc0, "row_bytes": d.chunk, "rows": d.cin,
                      "stride": d.hidden}, T_W1, "LD_B1")
            with m.State("LD_B1"):
                m.d.comb += self.busy.eq(1)
                load({"addr": d.b1_base + (hc0 << 2), "row_bytes": d.chunk << 2, "rows": 1,
                      "stride": 0}, T_B1, "LD_WD")
            with m.State("LD_WD"):
                m.d.comb += self.busy.eq(1)
                load({"addr": d.wd_base + dw_off, "row_bytes": dw_bytes, "rows": 1,
                      "stride": 0}, T_WD, "LD_W2")
                with m.If(issued & ld_done & pfd):
                    m.next = "EXPAND"
                if bc.cp:       # a CP chain loads the 1x3 stage's words next (no extra cycle
                    with m.If(issued & ld_done & d.dw2):    # for the other blocks)
                        m.next = "LD_WD2"
            if bc.cp:
                with m.State("LD_WD2"):
                    m.d.comb += self.busy.eq(1)
                    load({"addr": d.wd2_base + dw_off, "row_bytes": dw_bytes, "rows": 1,
                          "stride": 0}, T_WD2, "LD_W2")
                    with m.If(issued & ld_done & pfd):
                        m.next = "EXPAND"
            with m.State("LD_W2"):
                m.d.comb += self.busy.eq(1)
                load({"addr": d.w2_base + hc0 * d.cout, "row_bytes": d.cout, "rows": d.chunk,
                      "stride": d.cout}, T_W2, "EXPAND")
            with m.State("EXPAND"):
                m.d.comb += [self.busy.eq(1),
                             dw.image.width.eq(d.W), dw.image.height.eq(Mux(cont, d.H, s_nin)),
                             dw.image.groups.eq(tc_w), dw.image.stride_h.eq(d.stride_h),
                             dw.image.stride_w.eq(d.stride_w),
                             dw.image.pad_top.eq(cont | s_pad_top),
                             dw.image.pad_bottom.eq(cont | s_pad_bot),
                             # the strip's rows are all sent: its last right-padding output
                             # may not wait for the next strip's first pixel
                             dw.flush.eq(exp_started & cont & ~e_run & ~q_run)]
                if bc.cp:
                    # The 3x1 keeps the width; the 1x3 runs on the strip's output rows, padding
                    # rows on both sides (multiplied by its zero taps), stride (1, stride_w).
                    with m.If(d.dw2):
                        m.d.comb += dw.image.stride_w.eq(1)
                    m.d.comb += [dw2.image.width.eq(d.W), dw2.image.height.eq(s_rows_out),
                                 dw2.image.groups.eq(tc_w), dw2.image.stride_h.eq(1),
                                 dw2.image.stride_w.eq(d.stride_w), dw2.image.pad_top.eq(1),
                                 dw2.image.pad_bottom.eq(1)]
                with m.If(~exp_started):
                    m.d.comb += [dw.start.eq(~cont | (strip == 0)), s_reset.eq(1)]
                    if bc.cp:
                        m.d.comb += dw2.start.eq(d.dw2)
                    m.d.sync += [exp_started.eq(1), ey.eq(0), eg.eq(0), exb.eq(0), ek.eq(0),
                                 qy.eq(0), qg.eq(0), qx.eq(0),
                                 e_run.eq(d.expand & (f_n != 0)),
                                 q_run.eq(~d.expand & (f_n != 0)), e_fin.eq(0),
                                 pf_st.eq(Mux(pf_need, Mux(d.expand, PF_W1, PF_W2),
                                              Mux(x_pf_need, PF_X, PF_DONE)))]
                # The prefetch: W1 then W2 of the next chunk into the other halves.
                m.d.comb += w_wr_half.eq(~wh)
                with m.If(exp_started):
                    with m.Switch(pf_st):
                        with m.Case(PF_W1, PF_W1_WAIT):
                            m.d.comb += [tgt.eq(T_W1), ld_valid.eq(pf_st == PF_W1),
                                         ld_cmd.addr.eq(d.w1_base + pf_hc0),
                                         ld_cmd.row_bytes.eq(d.chunk), ld_cmd.rows.eq(d.cin),
                                         ld_cmd.stride.eq(d.hidden)]
                        with m.Case(PF_W2, PF_W2_WAIT):
                            m.d.comb += [tgt.eq(T_W2), ld_valid.eq(pf_st == PF_W2),
                                         ld_cmd.addr.eq(d.w2_base + pf_hc0 * d.cout),
                                         ld_cmd.row_bytes.eq(d.cout), ld_cmd.rows.eq(d.chunk),
                                         ld_cmd.stride.eq(d.cout)]
                        with m.Case(PF_X, PF_X_WAIT):
                            m.d.comb += [tgt.eq(T_X), ld_valid.eq(pf_st == PF_X),
                                         x_pf_load.eq(1),
                                         ld_cmd.addr.eq(d.x_base + nxt_first * wx),
                                         ld_cmd.row_bytes.eq(wx), ld_cmd.rows.eq(1),
                                         ld_cmd.stride.eq(wx)]
                    with m.If(ld_valid & dma.cmd.ready):
                        m.d.comb += ld_reset.eq(1)
                        m.d.sync += pf_st.eq(pf_st + 1)
                    with m.If(((pf_st == PF_W1_WAIT) | (pf_st == PF_W2_WAIT)
                               | (pf_st == PF_X_WAIT)) & ld_done):
                        m.d.sync += pf_st.eq(Mux(pf_st == PF_W2_WAIT, PF_DONE, pf_st + 1))
                        with m.If(pf_st == PF_X_WAIT):
                            m.d.sync += x_pfd.eq(1)
                with m.If(exp_started & exp_done):
                    m.d.sync += e_fin.eq(1)
                with m.If(exp_started & (exp_done | e_fin) & (pf_st == PF_DONE)):
                    m.d.sync += [exp_started.eq(0), ph_proj.eq(1), pp.eq(0), pj.eq(0),
                                 pk.eq(0), p_run.eq(1), i_run.eq(last_chunk),
                                 store_seen.eq(0)]
                    m.d.comb += s_reset.eq(1)
                    m.next = "PROJECT"
            with m.State("PROJECT"):
                m.d.comb += [self.busy.eq(1), y_sel.eq(last_chunk)]
                with m.If(store_done):
                    m.d.sync += store_seen.eq(1)
                with m.If(Mux(last_chunk, (store_seen | store_done) & ~i_run, proj_rows_done)):
                    m.d.sync += ph_proj.eq(0)
                    m.next = "NEXT"
            with m.State("NEXT"):
                m.d.comb += self.busy.eq(1)
                # The next chunk's W1 and W2 were prefetched (several chunks): swap halves.
                m.d.sync += [pfd.eq(d.chunks != 1), wh.eq(wh ^ (d.chunks != 1))]
                with m.If(~last_chunk):
                    m.d.sync += [chunk.eq(chunk + 1), hc0.eq(hc0 + d.chunk)]
                    m.next = "CHUNK"
                with m.Elif(strip == d.strips - 1):
                    m.next = "FLUSH"
                with m.Else():
                    m.d.sync += [strip.eq(strip + 1), oy0.eq(oy0 + d.strip_rows),
                                 s_pix0.eq(s_pix0 + s_pix)]
                    m.next = "STRIP"
            with m.State("FLUSH"):
                m.d.comb += self.busy.eq(1)
                with m.If(~dma.busy & ~w_ov):
                    m.d.sync += self.done.eq(1)
                    m.next = "IDLE"
        with m.If(self.busy):
            m.d.sync += self.cycles.eq(self.cycles + 1)
        return m
