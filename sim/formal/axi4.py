"""The tile DMA's AXI4 master against the AXI4 rules, with a legal but otherwise free slave.

:class:`DmaHarness` drives :class:`~scanfuse.hw.dma.TileDMA` (32-bit bus, 16-bit addresses,
bursts of up to 4 beats, 2 outstanding per direction, so that the state space stays small;
every rule below is parametric in those numbers) with free commands, a free ``wr`` producer and
``rd`` consumer, and a free AXI4 slave that is only assumed to be legal: its ready signals are
arbitrary, it returns R beats only for accepted AR bursts with RLAST on each burst's last beat,
and B responses only for AW bursts whose W beats it has received. Assertions, on the DMA:

* AR, AW, W: VALID stays high, payload unchanged, until READY;
* AxLEN + 1 <= max_burst, AxSIZE = log2(bytes per beat), AxBURST = INCR, addresses beat-aligned,
  and no burst crosses a 4 KiB boundary;
* at most ``max_outstanding`` bursts accepted and not completed, per direction;
* WLAST on the last beat of every burst and on no other (against the AWLEN of that burst);
  no W beat without its AW on the bus or accepted before;
* ``beats_read``/``beats_written`` equal the R/W transfers, ``bytes_written`` the strobes set
  in them, ``bytes_read`` the ``count`` of the ``rd`` transfers, each one cycle after the
  transfer (all cleared by ``clear``).

With ``address_only=True`` the harness stops after the AR, AW and W channel rules and the
burst legality checks; with invariants on the burst generator's registers that subset closes by
k-induction (the full set is checked by BMC).

With ``fair=True`` the environment is also *fair* (no ready held low, no owed R beat, B response or
``wr`` beat withheld, for more than :attr:`DmaHarness.FAIR` cycles) and the harness asserts
bounded progress within :attr:`DmaHarness.LIVE` cycles: an owed W burst moves, R beats are
taken, and a busy DMA never sits with every channel idle (so every accepted burst completes).
Covers show each situation is reachable: a burst ending exactly at a 4 KiB boundary, both
outstanding limits reached, a stalled channel, commands completed.
"""

from amaranth.hdl import Assert, Assume, Cover, Elaboratable, Signal
from amaranth.utils import exact_log2

from ...hw.axi import BOUNDARY_BYTES, Burst
from ...hw.dma import TileDMA
from ...hw.params import AccelConfig
from .props import (Internals, Past, RefQueue, any_seq, channel_rules, harness_module, popcount,
                    stream_rules)

__all__ = ["DmaHarness"]

_AX = ("addr", "len", "size", "burst", "id", "lock", "cache", "prot")


class DmaHarness(Elaboratable):
    """AXI4 master properties of the tile DMA (see the module docstring)."""

    FAIR = 2      #: the fair environment answers within this many cycles
    LIVE = 12     #: bound on the progress properties under a fair environment

    def __init__(self, *, max_burst: int = 4, max_outstanding: int = 2, fair: bool = False,
                 address_only: bool = False, dut_class=TileDMA):
        self.cfg = AccelConfig(axi_data_bits=32, addr_bits=16)
        self.max_burst = max_burst
        self.max_outstanding = max_outstanding
        self.fair = fair
        self.address_only = address_only
        self.dut_class = dut_class

    def elaborate(self, platform):
        cfg = self.cfg
        nb = cfg.axi_bytes
        max_out = self.max_outstanding
        m = harness_module()
        dut = self.dut_class(cfg, max_burst=self.max_burst, max_outstanding=max_out,
                             counter_bits=32)
        internal = Internals(m, dut)
        past = Past(m)
        bus = dut.bus

        # ---------------------------------------------------------------- free environment
        m.d.comb += [
            dut.cmd.valid.eq(any_seq(1)), dut.cmd.payload.eq(any_seq(dut.cmd.payload.shape().size)),
            dut.wr.valid.eq(any_seq(1)), dut.wr.payload.eq(any_seq(dut.wr.payload.shape().size)),
            dut.rd.ready.eq(any_seq(1)),
            dut.clear.eq(any_seq(1)),
        ]
        for name in ("awready", "wready", "arready", "bvalid", "bid", "bresp",
                     "rvalid", "rdata", "rresp", "rid", "rlast"):
            sig = getattr(bus, name)
            m.d.comb += sig.eq(any_seq(len(sig)))
        stream_rules(m, past, dut.cmd, dut_drives=False, name="cmd")
        stream_rules(m, past, dut.wr, dut_drives=False, name="wr")
        stream_rules(m, past, dut.rd, dut_drives=True, name="rd")
        channel_rules(m, past, bus.rvalid, bus.rready,
                      [bus.rdata, bus.rresp, bus.rid, bus.rlast], dut_drives=False, name="r")
        channel_rules(m, past, bus.bvalid, bus.bready, [bus.bresp, bus.bid],
                      dut_drives=False, name="b")

        # ---------------------------------------------------------------- master channels
        for ch in ("ar", "aw"):
            valid, ready = getattr(bus, f"{ch}valid"), getattr(bus, f"{ch}ready")
            fields = [getattr(bus, f"{ch}{f}") for f in _AX]
            channel_rules(m, past, valid, ready, fields, dut_drives=True, name=ch)
            addr, alen = getattr(bus, f"{ch}addr"), getattr(bus, f"{ch}len")
            with m.If(valid):
                m.d.comb += [
                    Assert(alen < self.max_burst, f"{ch}len within max_burst"),
                    Assert(getattr(bus, f"{ch}size") == exact_log2(nb), f"{ch}size full width"),
                    Assert(getattr(bus, f"{ch}burst") == Burst.INCR, f"{ch}burst INCR"),
                    Assert(addr[:exact_log2(nb)] == 0, f"{ch}addr beat-aligned"),
                    Assert(addr[:12] + (alen + 1) * nb <= BOUNDARY_BYTES,
                           f"{ch} burst within a 4 KiB page"),
                ]
            m.d.comb += Cover(valid & ready & (addr[:12] + (alen + 1) * nb == BOUNDARY_BYTES)
                              & (alen != 0), f"{ch} multi-beat burst ending on a 4 KiB boundary")
        channel_rules(m, past, bus.wvalid, bus.wready, [bus.wdata, bus.wstrb, bus.wlast],
                      dut_drives=True, name="w")

        # Induction invariants of the burst generator: a command in progress has bytes left in
        # its row and rows left; within a row every burst but the first starts beat-aligned.
        g = {n: internal[f"g_{n}"] for n in ("active", "left", "n", "rows", "first", "addr",
                                             "row", "tb")}
        with m.If(g["active"]):
            m.d.comb += [
                Assert(g["tb"] == BOUNDARY_BYTES - g["addr"][:12],
                       "generator: bytes to the boundary"),
                Assert((g["left"] != 0) & (g["left"] <= g["n"]) & (g["rows"] != 0),
                       "generator: bytes and rows left"),
                Assert(g["first"] | (g["addr"][:exact_log2(nb)] == 0),
                       "generator: later bursts beat-aligned"),
            ]
            with m.If(g["first"]):
                m.d.comb += Assert((g["addr"] == g["row"]) & (g["left"] == g["n"]),
                                   "generator: a row's first burst at its start")
        if self.address_only:
            return m
        # The outstanding-burst counts keep their tests as registers of their own (with a slave
        # that keeps the protocol: the address-only harness leaves R and B free).
        for ch in "rw":
            out = internal[f"{ch}_out"]
            m.d.comb += [
                Assert(internal[f"{ch}_room"] == (out < dut.max_outstanding),
                       f"{ch}_room == ({ch}_out < max_outstanding)"),
                Assert(internal[f"{ch}_none"] == (out == 0), f"{ch}_none == ({ch}_out == 0)"),
            ]
        # The W side keeps w_in_left != 0 as a register of its own.
        m.d.comb += Assert(internal["w_in_more"] == (internal["w_in_left"] != 0),
                           "W side: w_in_more == (w_in_left != 0)")

        # ---------------------------------------------------------------- read side
        ar_fire = bus.arvalid & bus.arready
        r_fire = bus.rvalid & bus.rready
        # AR bursts accepted and not completed, their AxLEN oldest first.
        rq = RefQueue(m, 8, max_out + 1, "rq")
        r_beat = Signal(8)
        rq.connect(ar_fire, bus.arlen, r_fire & bus.rlast)
        with m.If(r_fire):
            m.d.sync += r_beat.eq(r_beat + 1)
            with m.If(bus.rlast):
                m.d.sync += r_beat.eq(0)
        m.d.comb += [
            Assume(~bus.rvalid | (rq.count != 0)),          # no R beat without a burst
            Assume(~bus.rvalid | (bus.rlast == (r_beat == rq.head))),
            Assert(rq.count <= max_out, "outstanding reads within max_outstanding"),
            Cover(rq.count == max_out, "outstanding read limit reached"),
        ]

        # ---------------------------------------------------------------- write side
        aw_fire = bus.awvalid & bus.awready
        w_fire = bus.wvalid & bus.wready
        b_fire = bus.bvalid & bus.bready
        # AW bursts the master has put on the bus (first cycle of each) whose W beats are not
        # all sent; W beats may run ahead of the AW handshake, never ahead of the AW itself.
        aw_new = bus.awvalid & ~(past.valid & past(bus.awvalid) & ~past(bus.awready))
        wq = RefQueue(m, 8, max_out + 3, "wq")
        w_beat = Signal(8)
        wq.connect(aw_new, bus.awlen, w_fire & bus.wlast)
        with m.If(w_fire):
            m.d.sync += w_beat.eq(w_beat + 1)
            with m.If(bus.wlast):
                m.d.sync += w_beat.eq(0)
        with m.If(bus.wvalid):
            m.d.comb += [
                Assert(wq.count != 0, "no W beat before its AW"),
                Assert(bus.wlast == (w_beat == wq.head), "WLAST exactly on a burst's last beat"),
            ]
        m.d.comb += Assert(wq.count < wq.depth, "W bookkeeping does not overflow")
        # B: only for a burst whose AW was accepted and whose W beats all arrived.
        aw_open = Signal(range(max_out + 2))     # AW accepted, B not yet sent
        w_done = Signal(range(max_out + 4))      # W bursts complete, B not yet sent
        m.d.sync += [aw_open.eq(aw_open + aw_fire - b_fire),
                     w_done.eq(w_done + (w_fire & bus.wlast) - b_fire)]
        m.d.comb += [
            Assume(~bus.bvalid | ((aw_open != 0) & (w_done != 0))),
            Assert(aw_open <= max_out, "outstanding writes within max_outstanding"),
            Cover(aw_open == max_out, "outstanding write limit reached"),
        ]

        # ---------------------------------------------------------------- counters
        cw = len(dut.beats_read)
        beats_r, beats_w = Signal(cw), Signal(cw)
        bytes_r, bytes_w = Signal(cw), Signal(cw)
        rd_fire = dut.rd.valid & dut.rd.ready
        with m.If(dut.clear):
            m.d.sync += [beats_r.eq(0), beats_w.eq(0), bytes_r.eq(0), bytes_w.eq(0)]
        with m.Else():
            m.d.sync += [
                beats_r.eq(beats_r + r_fire),
                beats_w.eq(beats_w + w_fire),
                bytes_w.eq(bytes_w + w_fire * popcount(bus.wstrb)),
                bytes_r.eq(bytes_r + rd_fire * dut.rd.payload.count),
            ]
        # The DMA's counters include a transfer one cycle after it: they equal the
        # scoreboard's previous value, and 0 after a clear.
        for got, want, what in ((dut.beats_read, beats_r, "beats_read counts R transfers"),
                                (dut.beats_written, beats_w, "beats_written counts W transfers"),
                                (dut.bytes_written, bytes_w, "bytes_written counts WSTRB bits"),
                                (dut.bytes_read, bytes_r, "bytes_read counts rd bytes")):
            m.d.comb += [
                Assert(~past.valid | past(dut.clear) | (got == past(want)), what),
                Assert(~past.valid | ~past(dut.clear) | (got == 0), what + " (cleared)"),
            ]
        done = past.valid & past(dut.busy) & ~dut.busy
        m.d.comb += [
            Cover(done & (bytes_r > nb), "a read command of more than one beat completed"),
            Cover(done & (bytes_w > nb), "a write command of more than one beat completed"),
        ]

        if self.fair:
            self._fairness(m, past, dut, rq, wq, (aw_open != 0) & (w_done != 0))
        return m

    def _fairness(self, m, past, dut, rq, wq, b_owed):
        """Fair environment (assumed) and bounded progress (asserted)."""
        bus = dut.bus

        def waited(cond, name):
            """Cycles ``cond`` has held without a break (saturating)."""
            n = Signal(range(self.LIVE + 2), name=f"wait_{name}")
            with m.If(cond):
                with m.If(n <= self.LIVE):
                    m.d.sync += n.eq(n + 1)
            with m.Else():
                m.d.sync += n.eq(0)
            return n

        # The environment: every ready comes within FAIR cycles of a valid, an owed R beat
        # or B response within FAIR cycles, a wr beat within FAIR cycles of the DMA wanting one; no clear.
        for name, valid, ready in (("ar", bus.arvalid, bus.arready),
                                   ("aw", bus.awvalid, bus.awready),
                                   ("w", bus.wvalid, bus.wready),
                                   ("rd", dut.rd.valid, dut.rd.ready)):
            m.d.comb += Assume(waited(valid & ~ready, f"{name}_ready") < self.FAIR)
        m.d.comb += [
            Assume(waited((rq.count != 0) & ~bus.rvalid, "r_valid") < self.FAIR),
            Assume(waited(b_owed & ~bus.bvalid, "b_valid") < self.FAIR),
            Assume(waited(~dut.wr.valid, "wr_valid") < self.FAIR),
            Assume(~dut.clear),
        ]
        # Progress: owed W beats flow, R beats are taken, a command's bursts get issued.
        m.d.comb += [
            Assert(waited((wq.count != 0) & ~(bus.wvalid & bus.wready), "w_flow") <= self.LIVE,
                   "an owed W burst makes progress"),
            Assert(waited(bus.rvalid & ~bus.rready, "r_flow") <= self.LIVE,
                   "R beats are taken"),
            Assert(waited(dut.busy & ~bus.arvalid & ~bus.awvalid & ~bus.wvalid & ~bus.rvalid
                          & ~bus.bvalid & ~dut.rd.valid, "idle_busy") <= self.LIVE,
                   "a busy DMA does not sit idle"),
        ]
