"""The tile address generator against a closed-form reference walk, on bounded sizes.

:class:`AddrGenHarness` feeds :class:`~scanfuse.hw.addrgen.TileAddressGenerator` (4-bit
dimensions) free descriptors, assumed to have at most :attr:`AddrGenHarness.MAX_TILES` tiles per
dimension, and a free ``steps`` consumer. The reference is written independently of the
generator's offset arithmetic, from the definition of :func:`scanfuse.plan.walk.tile_walk`:
three nested loop counters over tile *positions* ``(o, mid, z)``, plain ascending, with the
index of ``mid`` mirrored on odd ``o`` and that of ``z`` on odd runs (global ``(o, mid)``
count) in Scan. From those indices it derives each record field:

* the tile indices and element ranges ``x0 = idx * tx``, ``x_len = min(tx, X - x0)``;
* ``load_a``/``load_b``: first tile, or the A (B) tile indices changed; ``evict_*``;
* ``store_prev_c``, ``prev_*`` ranges: the C tile changed, and which one was left;
* ``load_c``: the new C tile was visited before (a bitmap of visited C tiles);
* ``prev_c_final``: the C tile left has had all its ``n_k`` visits (visit counters);
* ``last`` on the final tile; ``error`` per rule order, no record for an illegal descriptor;
  ``valid``/``busy`` exactly while walking; the record held while stalled.
"""

from amaranth.hdl import Array, Assert, Assume, Cat, Cover, Elaboratable, Mux, Signal

from ...hw.addrgen import TileAddressGenerator
from ...hw.program import DescriptorError, LoopOrder, Visit
from ...hw.params import AccelConfig
from .props import Internals, Past, any_seq, harness_module, stream_rules

__all__ = ["AddrGenHarness"]


class AddrGenHarness(Elaboratable):
    """Reference-walk proof of the address generator (see the module docstring)."""

    DIM_BITS = 4
    #: Tiles per dimension in the proof (so at most MAX_TILES**3 records per descriptor).
    MAX_TILES = 3

    def __init__(self, *, c_flags: bool = False, dut_class=TileAddressGenerator):
        self.c_flags = c_flags
        self.dut_class = dut_class

    def elaborate(self, platform):
        db = self.DIM_BITS
        mt = self.MAX_TILES
        m = harness_module()
        dut = self.dut_class(AccelConfig(), dim_bits=db)
        internal = Internals(m, dut)
        past = Past(m)
        d = dut.desc.payload
        m.d.comb += [
            dut.desc.valid.eq(any_seq(1)),
            dut.desc.payload.eq(any_seq(dut.desc.payload.shape().size)),
            dut.steps.ready.eq(any_seq(1)),
        ]
        stream_rules(m, past, dut.desc, dut_drives=False, name="desc")
        stream_rules(m, past, dut.steps, dut_drives=True, name="steps")
        # Bounded sizes: every dimension at most MAX_TILES tiles (for a legal tile size).
        for x, tx in (("M", "tm"), ("N", "tn"), ("K", "tk")):
            m.d.comb += Assume(d[x] <= mt * d[tx])

        # ---------------------------------------------------------------- descriptor intake
        fire_d = dut.desc.valid & dut.desc.ready
        code = Signal(DescriptorError)
        zero = lambda v: v == 0
        with m.If(zero(d.M) | zero(d.N) | zero(d.K)):
            m.d.comb += code.eq(DescriptorError.ZERO_DIM)
        with m.Elif(zero(d.tm) | zero(d.tn) | zero(d.tk)):
            m.d.comb += code.eq(DescriptorError.ZERO_TILE)
        with m.Elif((d.tm > d.M) | (d.tn > d.N) | (d.tk > d.K)):
            m.d.comb += code.eq(DescriptorError.TILE_TOO_BIG)
        with m.Elif(d.loop_order.as_value() >= len(LoopOrder)):
            m.d.comb += code.eq(DescriptorError.BAD_LOOP_ORDER)

        dims = {x: Signal(db, name=f"ref_{x}") for x in "MNK"}
        tiles = {x: Signal(db, name=f"ref_t{x.lower()}") for x in "MNK"}
        order = Signal(3, name="ref_order")
        scan = Signal(name="ref_scan")
        active = Signal(name="ref_active")
        walked = Signal(5, name="ref_walked")    # records taken but the last (saturating)
        # tile_walk's loop variables: io, the position in the mid range, in the z range, and
        # the parity of the global run number (runs = (o, mid) pairs visited).
        a, b, c = (Signal(2, name=f"ref_loop{j}") for j in range(3))
        run_odd = Signal(name="ref_run_odd")
        first = Signal(name="ref_first")
        prev = {x: Signal(2, name=f"ref_prev_{x}") for x in "mnk"}
        prev_c = [Signal(db, name=f"ref_prev_c{j}") for j in range(4)]
        visited = Signal(mt * mt, name="ref_visited")
        visits = Array(Signal(2, name=f"ref_visits{j}") for j in range(mt * mt))
        with m.If(fire_d):
            m.d.sync += [
                active.eq(code == DescriptorError.NONE), first.eq(1),
                a.eq(0), b.eq(0), c.eq(0), run_odd.eq(0), walked.eq(0),
                order.eq(d.loop_order), scan.eq(d.visit == Visit.SCAN),
                dims["M"].eq(d.M), dims["N"].eq(d.N), dims["K"].eq(d.K),
                tiles["M"].eq(d.tm), tiles["N"].eq(d.tn), tiles["K"].eq(d.tk),
                visited.eq(0), [r.eq(0) for r in prev_c], [v.eq(0) for v in visits],
                Assert(dut.desc.ready, "descriptors only taken while idle"),
            ]
        with m.If(past.valid & past(fire_d)):
            m.d.comb += Assert(dut.error.as_value() == past(code), "error code")

        # ---------------------------------------------------------------- reference walk
        # Tile counts without a divider: at most MAX_TILES tiles, count the thresholds passed.
        count = {x: Signal(2, name=f"ref_n{x.lower()}") for x in "MNK"}
        for x in "MNK":
            m.d.comb += count[x].eq(1 + sum(dims[x] > j * tiles[x] for j in range(1, mt)))
        n_lv = [Signal(2, name=f"ref_nlv{lv}") for lv in range(3)]
        idx = {x: Signal(2, name=f"ref_idx_{x}") for x in "mnk"}
        lv_idx = [Signal(2, name=f"ref_lv{lv}") for lv in range(3)]
        m.d.comb += [
            lv_idx[0].eq(a),
            lv_idx[1].eq(Mux(scan & a[0], n_lv[1] - 1 - b, b)),
            lv_idx[2].eq(Mux(scan & run_odd, n_lv[2] - 1 - c, c)),
        ]
        with m.Switch(order):
            for lo in LoopOrder:
                with m.Case(lo.value):
                    for lv, x in enumerate(lo.letters):
                        m.d.comb += [n_lv[lv].eq(count[x.upper()]), idx[x].eq(lv_idx[lv])]
        last = (a == n_lv[0] - 1) & (b == n_lv[1] - 1) & (c == n_lv[2] - 1)

        p = dut.steps.payload
        ranges = {}
        for x in "mnk":
            X = x.upper()
            x0 = (idx[x] * tiles[X])[:db]
            rest = (dims[X] - x0)[:db]
            ranges[x] = (x0, Mux(rest < tiles[X], rest, tiles[X]))
        c_tile = idx["m"] * mt + idx["n"]
        changed = {x: idx[x] != prev[x] for x in "mnk"}
        load_a = first | changed["m"] | changed["k"]
        load_b = first | changed["k"] | changed["n"]
        store = ~first & (changed["m"] | changed["n"])
        prev_tile = prev["m"] * mt + prev["n"]

        # The generator's step phases (move, settle, decide; then the record is valid): one at
        # a time while walking, none while idle. The walk registers move in the cycle after a
        # record is taken (`move`), so the reference walk steps then too.
        settle, decide = internal["settle"], internal["decide"]
        record, move = internal["record_valid"], internal["move"]
        taken = active & dut.steps.valid & dut.steps.ready
        moved = active & move
        m.d.comb += [
            Assert(~dut.steps.valid | active, "records only while walking"),
            Assert(dut.busy == active, "busy exactly while walking"),
            Assert(dut.steps.valid == record, "valid is the record register"),
            Assert(Mux(active, move + settle + decide + record == 1,
                       ~move & ~settle & ~decide & ~record),
                   "one step phase at a time while walking"),
        ]
        with m.If(active & dut.steps.valid):
            for x in "mnk":
                m.d.comb += [
                    Assert(p[f"{x}_idx"] == idx[x], f"{x} tile index"),
                    Assert(p[f"{x}0"] == ranges[x][0], f"{x} range start"),
                    Assert(p[f"{x}_len"] == ranges[x][1], f"{x} range length"),
                ]
            m.d.comb += [
                Assert(p.load_a == load_a, "load_a"),
                Assert(p.load_b == load_b, "load_b"),
                Assert(p.evict_a == (load_a & ~first), "evict_a"),
                Assert(p.evict_b == (load_b & ~first), "evict_b"),
                Assert(p.store_prev_c == store, "store_prev_c"),
                Assert(p.last == last, "last"),
                Assert((p.prev_m0 == prev_c[0]) & (p.prev_m_len == prev_c[1]) &
                       (p.prev_n0 == prev_c[2]) & (p.prev_n_len == prev_c[3]), "prev C range"),
            ]
            if self.c_flags:
                m.d.comb += [
                    Assert(p.load_c == (store & visited.bit_select(c_tile, 1)), "load_c"),
                    Assert(p.prev_c_final == (store & (visits[prev_tile] == count["K"])),
                           "prev_c_final"),
                ]
            # The registered decision and record are those of the settled walk state.
            step = internal["step"]
            m.d.comb += [
                Assert(internal["step_r"] == step, "registered step decision"),
                Assert(internal["inside_r"] == Cat(0, step[0], step[0] | step[1]),
                       "registered inside levels"),
                Assert(internal["last_r"] == last, "registered last"),
                Assert(internal["k_last_r"] == internal["k_last"], "registered k_last"),
                Assert(p.as_value() == internal["p"], "registered record"),
            ]
            for lv in range(3):
                idx_, off_, tile_ = (internal[f"{n}{lv}"] for n in ("idx", "off", "tile"))
                m.d.comb += [
                    Assert(internal[f"idx_up{lv}"] == (idx_ + 1)[:db], "registered idx + 1"),
                    Assert(internal[f"idx_dn{lv}"] == (idx_ - 1)[:db], "registered idx - 1"),
                    Assert(internal[f"off_up{lv}"] == (off_ + tile_)[:db], "registered off + tile"),
                    Assert(internal[f"off_dn{lv}"] == (off_ - tile_)[:db], "registered off - tile"),
                    Assert(internal[f"rem_dn{lv}"] == (internal[f"rem{lv}"] + tile_)[:db],
                           "registered rem + tile"),
                    Assert(internal[f"rmt_up{lv}"] == (internal[f"rmt{lv}"] - tile_)[:db],
                           "registered rmt - tile"),
                ]
        with m.If(active):
            # Induction invariants: the reference's own state is a legal walk position...
            for x in "MNK":
                m.d.comb += Assert((tiles[x] != 0) & (tiles[x] <= dims[x]) &
                                   (dims[x] <= mt * tiles[x]), "reference descriptor legal")
            m.d.comb += [
                Assert(order < len(LoopOrder), "reference loop order legal"),
                Assert((a < n_lv[0]) & (b < n_lv[1]) & (c < n_lv[2]), "loop counters in range"),
                Assert(run_odd == (a * n_lv[1] + b)[0], "run parity"),
            ]
            # ... and the generator's loop state is the reference's.
            back = [0, scan & a[0], scan & run_odd]
            m.d.comb += [
                Assert(internal["order"] == order, "order register"),
                Assert(internal["scan"] == scan, "scan register"),
                Assert(internal["first"] == first, "first register"),
            ]
            for lv in range(3):
                m.d.comb += [
                    Assert(internal[f"idx{lv}"] == lv_idx[lv], f"level {lv} index"),
                    Assert(internal[f"back{lv}"] == back[lv], f"level {lv} direction"),
                ]
            with m.Switch(order):
                for lo in LoopOrder:
                    with m.Case(lo.value):
                        for lv, x in enumerate(lo.letters):
                            m.d.comb += [
                                Assert(internal[f"dim{lv}"] == dims[x.upper()], "level dim"),
                                Assert(internal[f"tile{lv}"] == tiles[x.upper()], "level tile"),
                                Assert(internal[f"off{lv}"] == ranges[x][0], "level offset"),
                                Assert(internal[f"rem{lv}"]
                                       == (dims[x.upper()] - ranges[x][0])[:db], "level rem"),
                            ]
                            # rmt and dmt: from the settle phase after the intake on.
                            with m.If(~(settle & internal["first"])):
                                m.d.comb += [
                                    Assert(internal[f"rmt{lv}"]
                                           == (dims[x.upper()] - ranges[x][0]
                                               - tiles[x.upper()])[:db], "level rmt"),
                                    Assert(internal[f"dmt{lv}"]
                                           == (dims[x.upper()] - tiles[x.upper()])[:db],
                                           "level dmt"),
                                ]
                            # Settled one cycle after the walk registers move.
                            with m.If(~settle):
                                m.d.comb += [
                                    Assert(internal[f"len{lv}"] == ranges[x][1], "level length"),
                                    Assert(internal[f"at_lo{lv}"] == (ranges[x][0] == 0),
                                           "level at its low end"),
                                    Assert(internal[f"at_hi{lv}"]
                                           == ((dims[x.upper()] - ranges[x][0])[:db]
                                               == ranges[x][1]), "level at its high end"),
                                ]
                            with m.If(~first):
                                m.d.comb += Assert(internal["chg"][lv] == changed[x],
                                                   "level changed flag")
            for j, name in enumerate(("prev_m0_r", "prev_m_len_r", "prev_n0_r", "prev_n_len_r")):
                m.d.comb += Assert(internal[name] == prev_c[j], f"{name}")
            with m.If(first):
                m.d.comb += Assert(internal["chg"] == 0b111, "all changed on the first tile")

        with m.If(taken & last):
            m.d.sync += active.eq(0)
        with m.If(moved):
            with m.If(c != n_lv[2] - 1):
                m.d.sync += c.eq(c + 1)
            with m.Else():
                m.d.sync += [c.eq(0), run_odd.eq(~run_odd)]
                with m.If(b != n_lv[1] - 1):
                    m.d.sync += b.eq(b + 1)
                with m.Else():
                    m.d.sync += [b.eq(0), a.eq(a + 1)]
            with m.If(~walked.all()):
                m.d.sync += walked.eq(walked + 1)
            m.d.sync += [
                first.eq(0),
                [prev[x].eq(idx[x]) for x in "mnk"],
                prev_c[0].eq(ranges["m"][0]), prev_c[1].eq(ranges["m"][1]),
                prev_c[2].eq(ranges["n"][0]), prev_c[3].eq(ranges["n"][1]),
                visited.bit_select(c_tile, 1).eq(1),
                visits[c_tile].eq(visits[c_tile] + 1),
            ]

        m.d.comb += [
            Cover(taken & last & scan & (walked >= 7), "a Scan walk of 8+ tiles ends"),
            Cover(active & dut.steps.valid & p.load_c & ~p.prev_c_final,
                  "a partial-sum spill and a reload"),
            Cover(active & dut.steps.valid & p.store_prev_c & p.prev_c_final & p.load_c,
                  "a final store, then a reload"),
            Cover(past.valid & past(fire_d) & (dut.error == DescriptorError.BAD_LOOP_ORDER),
                  "an illegal loop order refused"),
        ]
        return m
