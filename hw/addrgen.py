"""Tile address generator: the hardware tile walk of one GEMM and its per-tile decisions.

:class:`TileAddressGenerator` takes a :class:`GemmDesc` (dimensions, tile sizes, loop order,
visit order) and emits one :class:`TileStep` record per visited tile, in the order of
:func:`scanfuse.plan.walk.tile_walk`. Each record says which operand tiles come from DRAM and
which stay resident, with exactly the decisions of :func:`scanfuse.schedule.iter_steps`
(single-buffered model; a double-buffered sequencer only reorders the same loads and evicts).
Byte addresses are left to the sequencer, which derives them from the element ranges in the
record and the tensors' base addresses and strides.

The walk
--------
The three loop levels are kept outermost first as *levels* 0, 1, 2 (``o``, ``mid``, ``z`` of
the planner). Each level holds a tile index, the element offset and length of its current
tile, and (Scan only) a direction bit. No divider and no tile count is needed:

* forward step: ``offset += tile``, ``length = min(tile, dim - offset)``;
* backward step (Scan): ``offset -= tile``, ``length = tile`` (only the last tile of a
  dimension is short, and a backward step never lands on it);
* a level is at its high end when ``offset + length == dim`` and at its low end when
  ``offset == 0``; its *end* is the high end going forward and the low end going backward.

One step of the walk moves the innermost level that is not at its end. The levels inside it
then either restart at 0 (raster) or keep their tile and reverse direction (Scan: a
boustrophedon, so every step changes exactly one tile index). This is ``tile_walk``: in Scan
the ``z`` direction flips once per ``(o, mid)`` run and the ``mid`` direction once per ``o``
iteration, which are the global run parity and the ``o`` parity of the planner.

Why ``load_c`` and ``prev_c_final`` need no memory of visited tiles
-------------------------------------------------------------------
Let ``L`` be the level that walks k. A C tile is named by the indices of the two other levels:
the *outer* ones (above ``L``) and the *inner* ones (below ``L``). Because the walk is a
nested loop (whatever the directions), every assignment of the outer indices is visited as one
contiguous *block* and never again, and inside a block level ``L`` keeps one direction and
visits each of the ``n_k`` k tiles once, the inner levels sweeping all their combinations at
each k tile. So a C tile is visited exactly once per k position of its block, i.e. ``n_k``
times in all, and its ``j``-th visit happens at the ``j``-th k position of the block. Hence:

* the planner reads a partial sum back (``Load C``) when C changed and the tile has been
  accumulated before, which is exactly when C changed and k is *not* at the start of its
  current pass (index 0 going forward, the last index going backward);
* a stored C tile holds all of K exactly when the tile just left was at the *end* of its k
  pass (its ``n_k``-th visit). The last tile of the walk always is, so the final store after
  ``last`` is always a final one.

Error handling
--------------
A descriptor with a zero dimension or tile, a tile larger than its dimension, or a loop-order
code of 6 or 7 emits no steps; :attr:`TileAddressGenerator.error` holds the reason until the
next descriptor is accepted, and the generator stays idle (``desc.ready`` high).
"""

from amaranth.hdl import Cat, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .params import DIM_BITS, AccelConfig
# The descriptor's enums, its walk struct (GemmDesc, one definition: the generator's payload
# is the descriptor's ``walk`` field) and its one error code list (scanfuse.hw.program); the
# generator re-checks the walk's four rules under the same codes as the descriptor checker.
from .program import DescriptorError, GemmDesc, LoopOrder, Visit

__all__ = ["LoopOrder", "Visit", "GemmDesc", "TileStep", "TileAddressGenerator"]


class TileStep(data.StructLayout):
    """Payload of :attr:`TileAddressGenerator.steps`: one visited tile, in walk order.

    Members
    -------
    m_idx, n_idx, k_idx : ``unsigned(dim_bits)``
        Tile indices of this tile (the planner's ``im``, ``in``, ``ik``).
    m0, m_len, n0, n_len, k0, k_len : ``unsigned(dim_bits)``
        Element ranges ``[x0, x0 + x_len)`` of the tile; edge tiles are shorter.
    prev_m0, prev_m_len, prev_n0, prev_n_len : ``unsigned(dim_bits)``
        The C range of the previous tile (all 0 on the first tile): what ``store_prev_c``
        writes back.
    load_a, load_b : ``unsigned(1)``
        The A (B) tile differs from the previous tile's, or this is the first tile: read it.
    evict_a, evict_b : ``unsigned(1)``
        ``load_x`` and not the first tile: the previous A (B) tile is freed before this
        compute (before the new tile's load when single-buffered, after it when
        double-buffered, as in ``iter_steps``).
    store_prev_c : ``unsigned(1)``
        The C tile changed: write the previous C tile back before this compute.
    prev_c_final : ``unsigned(1)``
        With ``store_prev_c``: that tile has all of K in (a final store, not a partial-sum
        spill). 0 when ``store_prev_c`` is 0.
    load_c : ``unsigned(1)``
        The C tile changed and has been accumulated before: read its partial sums back.
    last : ``unsigned(1)``
        Last tile of the GEMM: after its compute, store its C tile (always final) and free A
        and B.
    """

    RANGE_FIELDS = ("m_idx", "n_idx", "k_idx", "m0", "m_len", "n0", "n_len", "k0", "k_len",
                    "prev_m0", "prev_m_len", "prev_n0", "prev_n_len")
    FLAG_FIELDS = ("load_a", "load_b", "evict_a", "evict_b", "store_prev_c", "prev_c_final",
                   "load_c", "last")

    def __init__(self, dim_bits: int = DIM_BITS):
        self.dim_bits = dim_bits
        super().__init__({**{name: unsigned(dim_bits) for name in self.RANGE_FIELDS},
                          **{name: unsigned(1) for name in self.FLAG_FIELDS}})


def _level_mask(order: str, letters: str) -> int:
    """Bit ``l`` set when level ``l`` of ``order`` walks one of ``letters``."""
    return sum(1 << level for level, x in enumerate(order) if x in letters)


def _order_case(m: Module, order: LoopOrder):
    """``m.Case(order)``, with the last order standing in for the default.

    Codes 6 and 7 never reach the walk (refused at intake), so the choice is free; a full
    case keeps the generated Verilog free of incomplete-case latches and lint warnings.
    """
    return m.Default() if order is LoopOrder.KNM else m.Case(order)


class TileAddressGenerator(wiring.Component):
    """Walks the tile grid of one GEMM per descriptor and emits one :class:`TileStep` per tile.

    Parameters
    ----------
    cfg : AccelConfig
        Accelerator configuration (kept for uniformity; the walk needs none of its widths).
    dim_bits : int
        Width of dimensions, tile sizes, indices and ranges (2..32). Default 16.

    Members
    -------
    desc : ``In(stream.Signature(GemmDesc(dim_bits)))``
        Accepted only while idle (``ready`` is ``~busy``).
    steps : ``Out(stream.Signature(TileStep(dim_bits)))``
        One record per visited tile, in walk order: the first is valid :attr:`FIRST_CYCLES`
        cycles after the descriptor is accepted, each next one :attr:`STEP_CYCLES` cycles
        after the previous one is taken. ``valid`` and the payload are flip-flops, held while
        ``valid & ~ready``.
    error : ``Out(DescriptorError)``
        Result of the last accepted descriptor, held until the next one is accepted: ``NONE``,
        ``ZERO_DIM``, ``ZERO_TILE``, ``TILE_TOO_BIG`` or ``BAD_LOOP_ORDER`` (the walk's rules,
        with the descriptor checker's codes).
    busy : ``Out(1)``
        A GEMM is being walked (its last record has not been taken yet).

    Raises
    ------
    TypeError, ValueError
        On a bad ``cfg`` or ``dim_bits``.

    Timing. A step of the walk takes :attr:`STEP_CYCLES` cycles, so that every register of
    the walk is loaded from flip-flops through one adder or one compare, never through the
    step decision or the consumer's ``ready`` as well (FPGA timing paths, ``docs/fpga.md``):
    the cycle after a record is taken the walk registers move, using a step decision
    registered before; the next cycle the tile's length and position flags follow from them;
    the cycle after, the next step decision and the record itself are registered. A tile of the engine takes more cycles
    than that, and the sequencer takes the records through a two-word queue, so the walk
    runs ahead of it.
    """

    #: Cycles from the descriptor's transfer to the first record's ``valid``.
    FIRST_CYCLES = 3
    #: Cycles from a record's transfer to the next record's ``valid``.
    STEP_CYCLES = 4

    def __init__(self, cfg: AccelConfig, dim_bits: int = DIM_BITS):
        if not isinstance(cfg, AccelConfig):
            raise TypeError(f"cfg must be an AccelConfig, not {cfg!r}")
        if isinstance(dim_bits, bool) or not isinstance(dim_bits, int) or not 2 <= dim_bits <= 32:
            raise ValueError(f"dim_bits must be an integer in 2..32, not {dim_bits!r}")
        self._cfg = cfg
        self._dim_bits = dim_bits
        super().__init__({
            "desc": In(stream.Signature(GemmDesc(dim_bits))),
            "steps": Out(stream.Signature(TileStep(dim_bits))),
            "error": Out(DescriptorError),
            "busy": Out(1),
        })

    @property
    def dim_bits(self) -> int:
        return self._dim_bits

    def elaborate(self, platform):
        m = Module()
        db = self._dim_bits
        levels = range(3)

        # --- Walk state, per level (0 = outermost) -------------------------------------
        dim = [Signal(db, name=f"dim{lv}") for lv in levels]
        tile = [Signal(db, name=f"tile{lv}") for lv in levels]
        idx = [Signal(db, name=f"idx{lv}") for lv in levels]
        off = [Signal(db, name=f"off{lv}") for lv in levels]
        length = [Signal(db, name=f"len{lv}") for lv in levels]
        back = [Signal(name=f"back{lv}") for lv in levels]       # Scan: walking backwards
        # Strength-reduced remainders, kept equal to dim - off, dim - off - tile and
        # dim - tile (modulo 2**dim_bits): the position tests and the next tile's length then
        # need no subtraction in series with the step decision (an FPGA timing path).
        rem = [Signal(db, name=f"rem{lv}") for lv in levels]
        rmt = [Signal(db, name=f"rmt{lv}") for lv in levels]
        dmt = [Signal(db, name=f"dmt{lv}") for lv in levels]
        order = Signal(LoopOrder)
        scan = Signal()
        running = Signal()
        first = Signal()             # the current tile is the GEMM's first
        chg = Signal(3)              # levels whose index changed on the way to this tile
        prev_k_last = Signal()       # the previous tile was at the end of its k pass
        prev_c = [Signal(db, name=n) for n in ("prev_m0_r", "prev_m_len_r",
                                               "prev_n0_r", "prev_n_len_r")]

        # --- The three phases of a step (the class docstring's "Timing") ----------------
        settle = Signal()            # the walk registers moved: length and flags follow
        decide = Signal()            # flags settled: the step decision and record registered
        record_valid = Signal()      # the record is on `steps`
        step_r = Signal(3)           # the registered decision: levels that step ...
        inside_r = Signal(3)         # ... and those inside a stepping level
        last_r = Signal()            # the record is the GEMM's last
        k_last_r = Signal()          # ... and at the end of its k pass
        m.d.sync += settle.eq(0)     # one cycle (loaded below by the intake and the take)

        # --- Per-level position: low/high end, pass start/end --------------------------
        # at_lo = (off == 0), at_hi = (rem == length, i.e. off + length == dim) and the length
        # (the edge tile is short) are registers, loaded in the settle phase from the walk
        # registers alone: rem < tile gives an edge tile of rem, and rem <= tile ends the
        # dimension (rem = dim - off >= 1).
        at_lo = [Signal(name=f"at_lo{lv}") for lv in levels]
        at_hi = [Signal(name=f"at_hi{lv}") for lv in levels]
        with m.If(settle):
            for lv in levels:
                m.d.sync += [length[lv].eq(Mux(rem[lv] < tile[lv], rem[lv], tile[lv])),
                             at_lo[lv].eq(~off[lv].any()),
                             at_hi[lv].eq(rem[lv] <= tile[lv])]
        # dim - tile, for rmt and dmt, from the registered dim and tile in the settle phase
        # after the intake (`first`; nothing reads them before the decide phase): the
        # subtraction is not behind the intake's loop-order multiplexer (an FPGA timing path,
        # docs/fpga.md, sixteenth round).
        with m.If(settle & first):
            for lv in levels:
                m.d.sync += [rmt[lv].eq(dim[lv] - tile[lv]), dmt[lv].eq(dim[lv] - tile[lv])]
        at_start = Signal(3)
        at_end = Signal(3)
        for lv in levels:
            m.d.comb += [
                at_start[lv].eq(Mux(back[lv], at_hi[lv], at_lo[lv])),
                at_end[lv].eq(Mux(back[lv], at_lo[lv], at_hi[lv])),
            ]

        # --- Loop order: level masks per operand and the level -> (m, n, k) unmapping ---
        mask_a, mask_b, mask_c, mask_k = Signal(3), Signal(3), Signal(3), Signal(3)
        p = Signal(TileStep(db))     # the record formed in the decide phase
        with m.Switch(order):
            for code in LoopOrder:
                letters = code.letters
                with _order_case(m, code):
                    m.d.comb += [
                        mask_a.eq(_level_mask(letters, "mk")),
                        mask_b.eq(_level_mask(letters, "kn")),
                        mask_c.eq(_level_mask(letters, "mn")),
                        mask_k.eq(_level_mask(letters, "k")),
                    ]
                    for x in "mnk":
                        lv = letters.index(x)
                        m.d.comb += [
                            p[f"{x}_idx"].eq(idx[lv]),
                            p[f"{x}0"].eq(off[lv]),
                            p[f"{x}_len"].eq(length[lv]),
                        ]

        # --- The record of the current tile --------------------------------------------
        k_first = (at_start & mask_k).any()
        k_last = Signal()
        m.d.comb += k_last.eq((at_end & mask_k).any())
        c_changed = (chg & mask_c).any() & ~first
        last = at_end.all()
        load_a = (chg & mask_a).any()
        load_b = (chg & mask_b).any()
        m.d.comb += [
            p.load_a.eq(load_a),
            p.load_b.eq(load_b),
            p.evict_a.eq(load_a & ~first),
            p.evict_b.eq(load_b & ~first),
            p.store_prev_c.eq(c_changed),
            p.prev_c_final.eq(c_changed & prev_k_last),
            # Exact by the block argument in the module docstring: a changed C tile has been
            # accumulated before iff k is past the start of its current pass.
            p.load_c.eq(c_changed & ~k_first),
            p.last.eq(last),
            p.prev_m0.eq(prev_c[0]), p.prev_m_len.eq(prev_c[1]),
            p.prev_n0.eq(prev_c[2]), p.prev_n_len.eq(prev_c[3]),
            self.steps.valid.eq(record_valid),
            self.desc.ready.eq(~running),
            self.busy.eq(running),
        ]

        # --- Descriptor intake and checks ------------------------------------------------
        d = self.desc.payload
        code = Signal(DescriptorError)
        legal = Signal()
        with m.If(~d.M.any() | ~d.N.any() | ~d.K.any()):
            m.d.comb += code.eq(DescriptorError.ZERO_DIM)
        with m.Elif(~d.tm.any() | ~d.tn.any() | ~d.tk.any()):
            m.d.comb += code.eq(DescriptorError.ZERO_TILE)
        with m.Elif((d.tm > d.M) | (d.tn > d.N) | (d.tk > d.K)):
            m.d.comb += code.eq(DescriptorError.TILE_TOO_BIG)
        with m.Elif(d.loop_order.as_value() >= len(LoopOrder)):
            m.d.comb += code.eq(DescriptorError.BAD_LOOP_ORDER)
        with m.Else():
            m.d.comb += [code.eq(DescriptorError.NONE), legal.eq(1)]

        with m.If(self.desc.valid & self.desc.ready):
            m.d.sync += [self.error.eq(code), running.eq(legal), settle.eq(legal)]
        with m.If(~running):
            # The walk state is loaded in every idle cycle, whatever the verdict and whether
            # a descriptor is offered or not (nothing reads it while idle): only `running`,
            # `settle` and `error` wait on the intake, so neither the checks' compare chains
            # nor the sequencer's state behind `desc.valid` reach the enables of every walk
            # register (FPGA timing paths, docs/fpga.md, fourth and sixteenth rounds).
            m.d.sync += [
                first.eq(1), chg.eq(0b111), prev_k_last.eq(0),
                order.eq(d.loop_order), scan.eq(d.visit == Visit.SCAN),
                [r.eq(0) for r in prev_c],
            ]
            by_letter = {"m": (d.M, d.tm), "n": (d.N, d.tn), "k": (d.K, d.tk)}
            with m.Switch(d.loop_order):
                for lo in LoopOrder:
                    with _order_case(m, lo):
                        for lv, x in enumerate(lo.letters):
                            # A legal tile is <= its dim, so the first tile is a full one.
                            d_x, t_x = by_letter[x]
                            m.d.sync += [dim[lv].eq(d_x), tile[lv].eq(t_x),
                                         rem[lv].eq(d_x)]
            for lv in levels:
                m.d.sync += [idx[lv].eq(0), off[lv].eq(0), back[lv].eq(0)]

        # --- Decide phase: the next step and the record, registered ---------------------
        # The innermost level not at its end steps; the levels inside it restart (raster)
        # or turn round in place (Scan).
        step = Signal(3)
        m.d.comb += [
            step[2].eq(~at_end[2]),
            step[1].eq(at_end[2] & ~at_end[1]),
            step[0].eq(at_end[2] & at_end[1] & ~at_end[0]),
        ]
        m.d.sync += decide.eq(settle)
        with m.If(decide):
            m.d.sync += [step_r.eq(step), inside_r.eq(Cat(0, step[0], step[0] | step[1])),
                         last_r.eq(last), k_last_r.eq(k_last),
                         self.steps.payload.eq(p), record_valid.eq(1)]

        # The next values of the walk registers, forward and backward, registered in the
        # decide phase too (the walk registers do not move between then and the move), so
        # the move only selects among registers: no adder behind the step decision and the
        # move's enable (an FPGA timing path, docs/fpga.md).
        idx_up = [Signal(db, name=f"idx_up{lv}") for lv in levels]
        idx_dn = [Signal(db, name=f"idx_dn{lv}") for lv in levels]
        off_up = [Signal(db, name=f"off_up{lv}") for lv in levels]
        off_dn = [Signal(db, name=f"off_dn{lv}") for lv in levels]
        rem_dn = [Signal(db, name=f"rem_dn{lv}") for lv in levels]
        rmt_up = [Signal(db, name=f"rmt_up{lv}") for lv in levels]
        with m.If(decide):
            for lv in levels:
                m.d.sync += [idx_up[lv].eq(idx[lv] + 1), idx_dn[lv].eq(idx[lv] - 1),
                             off_up[lv].eq(off[lv] + tile[lv]),
                             off_dn[lv].eq(off[lv] - tile[lv]),
                             rem_dn[lv].eq(rem[lv] + tile[lv]),
                             rmt_up[lv].eq(rmt[lv] - tile[lv])]

        # --- Take phase: the record leaves; the walk registers move in the cycle after ----
        # Their enable is then `move`, a flip-flop of this component, not the consumer's
        # `ready` (which crossed into the sequencer and back in front of the mux into every
        # walk register: an FPGA timing path, docs/fpga.md, twentieth round). Nothing they
        # are loaded from changes in between: the record and the registered decision hold
        # until the next decide phase.
        rec = self.steps.payload
        move = Signal()
        m.d.sync += move.eq(0)
        with m.If(record_valid & self.steps.ready):
            m.d.sync += record_valid.eq(0)
            with m.If(last_r):
                m.d.sync += running.eq(0)
            with m.Else():
                m.d.sync += move.eq(1)
        with m.If(move):
            m.d.sync += [
                settle.eq(1),
                first.eq(0),
                prev_k_last.eq(k_last_r),
                prev_c[0].eq(rec.m0), prev_c[1].eq(rec.m_len),
                prev_c[2].eq(rec.n0), prev_c[3].eq(rec.n_len),
            ]
            m.d.sync += chg[0].eq(step_r[0])
            for lv in levels[1:]:
                # A raster restart changes the index unless it already was 0 (count 1).
                m.d.sync += chg[lv].eq(step_r[lv] |
                                       (inside_r[lv] & ~scan & idx[lv].any()))
            for lv in levels:
                with m.If(step_r[lv]):
                    with m.If(back[lv]):
                        # The new tile ends where the old one began (off > 0).
                        m.d.sync += [idx[lv].eq(idx_dn[lv]),
                                     off[lv].eq(off_dn[lv]),
                                     rem[lv].eq(rem_dn[lv]),
                                     rmt[lv].eq(rem[lv])]
                    with m.Else():
                        # off + tile < dim because this level is not at its end, so
                        # rmt = dim - (off + tile) is the rest of the dimension.
                        m.d.sync += [idx[lv].eq(idx_up[lv]),
                                     off[lv].eq(off_up[lv]),
                                     rem[lv].eq(rmt[lv]),
                                     rmt[lv].eq(rmt_up[lv])]
                if lv == 0:
                    continue
                with m.Elif(inside_r[lv]):
                    with m.If(scan):
                        m.d.sync += back[lv].eq(~back[lv])
                    with m.Else():
                        m.d.sync += [idx[lv].eq(0), off[lv].eq(0),
                                     rem[lv].eq(dim[lv]), rmt[lv].eq(dmt[lv])]

        return m
