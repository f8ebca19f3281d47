"""Tile DMA: moves rectangular tiles between DRAM (an AXI4 slave) and the on-chip buffer.

A *tile* is ``rows`` runs of ``row_bytes`` contiguous bytes whose starts are ``stride`` bytes
apart. The engine splits every row into AXI4 INCR bursts of full-width beats that never cross a
4 KiB boundary and never exceed ``max_burst`` beats, realigns the bytes between the DRAM address
and byte lane 0 of the buffer-side streams, and counts payload bytes and bus beats separately
(see ``docs/hardware/dma.md``).
"""

from amaranth import *
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out
from amaranth.utils import bits_for, exact_log2

from .axi import AXI4Signature, BOUNDARY_BYTES, Burst, MAX_BURST_BEATS
from .params import DIM_BITS, AccelConfig

__all__ = ["DmaCommand", "DmaBeat", "TileDMA"]


#: Width of ``row_bytes`` and ``rows`` in a command (each 1..65535).
TILE_DIM_BITS = DIM_BITS   # one width for every dimension (scanfuse.hw.params)


class DmaCommand(data.StructLayout):
    """One tile transfer.

    Members
    -------
    write : 1
        1 = buffer -> DRAM (bytes come in on ``wr``), 0 = DRAM -> buffer (bytes go out on ``rd``).
    addr : cfg.addr_bits
        Byte address of the first byte of the first row; any alignment.
    row_bytes : 16
        Bytes per row, 1..65535.
    rows : 16
        Number of rows, 1..65535.
    stride : cfg.addr_bits
        Bytes from one row start to the next (added modulo 2**addr_bits).
    """

    def __init__(self, cfg: AccelConfig):
        super().__init__({
            "write": 1,
            "addr": cfg.addr_bits,
            "row_bytes": TILE_DIM_BITS,
            "rows": TILE_DIM_BITS,
            "stride": cfg.addr_bits,
        })


class DmaBeat(data.StructLayout):
    """One buffer-side beat of tile bytes, packed from byte lane 0.

    Members
    -------
    data : 8 * cfg.axi_bytes
        Byte ``i`` of the beat in bits ``8*i .. 8*i+7``; lanes at and above ``count`` are don't-care.
    count : bits_for(cfg.axi_bytes)
        Valid bytes in the beat, 1..axi_bytes. Only the last beat of a row may be short.
    row_last : 1
        Last beat of a row (a beat never holds bytes of two rows).
    last : 1
        Last beat of the command (implies ``row_last``).
    """

    def __init__(self, cfg: AccelConfig):
        super().__init__({
            "data": 8 * cfg.axi_bytes,
            "count": bits_for(cfg.axi_bytes),
            "row_last": 1,
            "last": 1,
        })


class _RemFlags(data.StructLayout):
    """Read realigner: what the head row's next output beat does, for ``x`` bytes of the row
    left and the row's start lane ``off`` (see :func:`_rem_flags`)."""

    def __init__(self, lane_bits):
        nb = 1 << lane_bits
        super().__init__({"gt": 1, "cnt": range(nb + 1), "after": TILE_DIM_BITS,
                          "cross_now": 1, "cross_after": 1})


def _rem_flags(x, off, nb: int, skip: int) -> dict:
    """Members of :class:`_RemFlags` for ``x - skip * nb`` bytes left (``skip`` 0 or 1),
    each from one comparison or one subtraction of ``x`` (never in series).

    gt : more than one output beat is left (``x' > nb``)
    cnt : bytes of the next output beat (``min(x', nb)``)
    after : bytes left after it (``x' - nb``, 0 if none)
    cross_now : a beat starting at lane ``off`` with ``x'`` bytes spills into the next R beat
    cross_after : the same after this beat (``x' - nb`` bytes)
    """
    gt = x > (skip + 1) * nb
    return {
        "gt": gt,
        "cnt": Mux(gt, nb, x - skip * nb),
        "after": Mux(gt, x - (skip + 1) * nb, 0),
        "cross_now": (off != 0) & (x + off > (skip + 1) * nb),
        "cross_after": (off != 0) & gt & (x + off > (skip + 2) * nb),
    }


class _RowDesc(data.StructLayout):
    """Read side: one entry per row with bursts in flight; ``flags`` those of its first
    output beat (all ``n`` bytes left)."""

    def __init__(self, lane_bits):
        super().__init__({"off": lane_bits, "n": TILE_DIM_BITS, "last_row": 1,
                          "flags": _RemFlags(lane_bits)})


class _BurstDesc(data.StructLayout):
    """Write side: one entry per issued AW burst, consumed by the W beat generator."""

    def __init__(self, lane_bits):
        super().__init__({"len": 8, "first": 1, "off": lane_bits, "n": TILE_DIM_BITS,
                          "last_row": 1})


class _BurstPlan(data.StructLayout):
    """The burst generator's next burst, registered from its state: which case ends it
    (``at_tb``: the 4 KiB boundary, ``at_max``: the longest burst, else the row's end, the
    last when ``last_row``), its ``len`` (beats - 1) and beat-aligned ``addr``, and the
    generator's next address, bytes left and bytes to the boundary in the first two cases;
    in the third, its rows left, the next row's start and that row's bytes to the
    boundary."""

    def __init__(self, abits, left_bits, boundary):
        super().__init__({"at_tb": 1, "at_max": 1, "last_row": 1, "len": 8, "addr": abits,
                          "addr_tb": abits, "left_tb": left_bits, "addr_max": abits,
                          "left_max": left_bits, "tb_max": range(boundary + 1),
                          "rows_next": left_bits, "next_row": abits,
                          "tb_row": range(boundary + 1)})


class TileDMA(wiring.Component):
    """Strided tile mover between an AXI4 slave and the buffer-side byte streams.

    Commands are executed in order. Commands of the same direction are pipelined (the next one is
    accepted as soon as all bursts of the previous one are issued). When the direction changes,
    bursts of the new command are held back until the other direction has drained: a write waits
    for the last R beat of earlier reads, a read waits for the B response of every earlier write,
    so a read never returns stale data from a write issued before it.

    Parameters
    ----------
    cfg : AccelConfig
        ``axi_data_bits`` sets the bus width (B = axi_bytes bytes per beat), ``addr_bits`` the
        address width.
    max_burst : int
        Largest burst in beats, 1..256 (default 16).
    max_outstanding : int
        Largest number of bursts in flight per direction (AR issued and last R beat not yet
        received; AW issued and B not yet received), 1..64 (default 4).
    id_width : int
        Width of the AXI ID signals; the DMA always uses ID 0 (default 1).
    counter_bits : int
        Width of the traffic counters, 32..64 (default 48).

    Members
    -------
    cmd : In(stream.Signature(DmaCommand(cfg)))
        Tile commands. Commands with ``rows == 0`` or ``row_bytes == 0`` are accepted and dropped.
    rd : Out(stream.Signature(DmaBeat(cfg)))
        Bytes read from DRAM, row by row, packed from lane 0.
    wr : In(stream.Signature(DmaBeat(cfg)))
        Bytes to write to DRAM, same format. The command decides the framing; a beat whose
        ``count``/``row_last``/``last`` disagree with it latches ``error``.
    bus : Out(AXI4Signature(cfg.addr_bits, cfg.axi_data_bits, id_width))
        AXI4 master.
    busy : Out(1)
        A command is being issued, or bursts, responses or output beats are still pending.
    error : Out(1)
        Latched: RRESP/BRESP of SLVERR or DECERR, a response with a non-zero ID, or a ``wr``
        framing mismatch. Cleared by ``clear``.
    clear : In(1)
        Synchronous clear of ``error`` and of the four counters (wins over a same-cycle increment).
    bytes_read : Out(counter_bits)
        Payload bytes delivered on ``rd`` (sum of ``count`` over ``rd`` transfers). Each of the
        four counters includes a transfer one cycle after it (``busy`` covers that cycle).
    bytes_written : Out(counter_bits)
        Bytes written with their strobe set (sum of popcount(WSTRB) over W transfers).
    beats_read : Out(counter_bits)
        R channel transfers.
    beats_written : Out(counter_bits)
        W channel transfers.
    """

    def __init__(self, cfg: AccelConfig, *, max_burst: int = 16, max_outstanding: int = 4,
                 id_width: int = 1, counter_bits: int = 48):
        if not isinstance(cfg, AccelConfig):
            raise TypeError(f"cfg must be an AccelConfig, not {cfg!r}")
        if not isinstance(max_burst, int) or not 1 <= max_burst <= MAX_BURST_BEATS:
            raise ValueError(f"max_burst must be an integer in 1..{MAX_BURST_BEATS}, "
                             f"not {max_burst!r}")
        if not isinstance(max_outstanding, int) or not 1 <= max_outstanding <= 64:
            raise ValueError(f"max_outstanding must be an integer in 1..64, "
                             f"not {max_outstanding!r}")
        if not isinstance(counter_bits, int) or not 32 <= counter_bits <= 64:
            raise ValueError(f"counter_bits must be an integer in 32..64, not {counter_bits!r}")
        self._cfg = cfg
        self._max_burst = max_burst
        self._max_outstanding = max_outstanding
        super().__init__({
            "cmd": In(stream.Signature(DmaCommand(cfg))),
            "rd": Out(stream.Signature(DmaBeat(cfg))),
            "wr": In(stream.Signature(DmaBeat(cfg))),
            "bus": Out(AXI4Signature(cfg.addr_bits, cfg.axi_data_bits, id_width)),
            "busy": Out(1),
            "error": Out(1),
            "clear": In(1),
            "bytes_read": Out(counter_bits),
            "bytes_written": Out(counter_bits),
            "beats_read": Out(counter_bits),
            "beats_written": Out(counter_bits),
        })

    @property
    def cfg(self) -> AccelConfig:
        return self._cfg

    @property
    def max_burst(self) -> int:
        return self._max_burst

    @property
    def max_outstanding(self) -> int:
        return self._max_outstanding

    def elaborate(self, platform):
        m = Module()
        cfg = self._cfg
        nb = cfg.axi_bytes                  # bytes per beat
        lane_bits = exact_log2(nb)
        abits = cfg.addr_bits
        max_out = self._max_outstanding
        bus = self.bus

        # Fixed AXI attributes: ID 0, INCR, full-width beats, normal non-cacheable bufferable
        # memory (AxCACHE 0b0011), unprivileged secure data access, no exclusive access.
        for ch in ("ar", "aw"):
            m.d.comb += [
                getattr(bus, f"{ch}id").eq(0),
                getattr(bus, f"{ch}size").eq(lane_bits),
                getattr(bus, f"{ch}burst").eq(Burst.INCR),
                getattr(bus, f"{ch}lock").eq(0),
                getattr(bus, f"{ch}cache").eq(0b0011),
                getattr(bus, f"{ch}prot").eq(0b000),
            ]

        error_set = Signal()

        # ------------------------------------------------------------------ outstanding bursts
        ar_load = Signal()      # a burst is loaded into the AR register this cycle
        aw_load = Signal()
        r_fire = Signal()
        w_fire = Signal()
        b_fire = Signal()
        m.d.comb += [
            r_fire.eq(bus.rvalid & bus.rready),
            w_fire.eq(bus.wvalid & bus.wready),
            b_fire.eq(bus.bvalid & bus.bready),
        ]
        r_out = Signal(range(max_out + 1))     # AR loaded, last R beat not yet received
        w_out = Signal(range(max_out + 1))     # AW loaded, B not yet received
        # Their tests as flip-flops, loaded with the test of the next count (the compares on
        # the count run beside the issue decision, which only selects among them): `r_room`
        # == (r_out < max_out), `r_none` == (r_out == 0), and so for w. The issue decision
        # (`ar_load`, `aw_load`) then starts at flip-flops, not at a compare on a counter:
        # it selects the burst generator's next state, and r_out -> its compare -> ar_load
        # -> g_rows was the 8x8 build's seed-1 critical path (docs/fpga.md, sixteenth round).
        r_room = Signal(init=1, name="r_room")
        w_room = Signal(init=1, name="w_room")
        r_none = Signal(init=1, name="r_none")
        w_none = Signal(init=1, name="w_none")

        def count(out, room, none, up, down):
            inc, dec = Signal(), Signal()
            m.d.comb += [inc.eq(up & ~down), dec.eq(down & ~up)]
            m.d.sync += [
                out.eq(out + up - down),
                room.eq(Mux(inc, out < max_out - 1, Mux(dec, 1, out < max_out))),
                none.eq(Mux(inc, 0, Mux(dec, out == 1, out == 0))),
            ]

        count(r_out, r_room, r_none, ar_load, r_fire & bus.rlast)
        count(w_out, w_room, w_none, aw_load, b_fire)
        reads_idle = Signal()
        writes_idle = Signal()
        m.d.comb += [
            reads_idle.eq(~bus.arvalid & r_none),
            writes_idle.eq(~bus.awvalid & w_none),
        ]

        # ------------------------------------------------------------------ burst generator
        g_active = Signal()
        g_write = Signal()
        g_addr = Signal(abits)             # next byte to request
        g_row = Signal(abits)              # start of the current row
        g_left = Signal(TILE_DIM_BITS)     # bytes of the current row not yet requested
        g_n = Signal(TILE_DIM_BITS)
        g_rows = Signal(TILE_DIM_BITS)     # rows left, current one included
        g_stride = Signal(abits)
        g_first = Signal()                 # next burst is the first of its row
        # Kept as registers so the burst decision starts from flip-flops, not from an adder
        # (an FPGA timing path): g_tb == BOUNDARY_BYTES - g_addr % BOUNDARY_BYTES (bytes to
        # the next 4 KiB boundary). The next row's start is the plan's (`next_row`), so no
        # adder sits behind the command multiplexer (docs/fpga.md, sixteenth round).
        g_tb = Signal(range(BOUNDARY_BYTES + 1))

        cmd = self.cmd.payload
        m.d.comb += self.cmd.ready.eq(~g_active)
        # The generator's registers follow the command port in every idle cycle (nothing reads
        # them while idle); only `g_active` depends on `valid` and the size checks. So the
        # enable of these ~170 flip-flops is `~g_active` alone, not the command source's valid
        # through the size compares (an FPGA timing path, docs/fpga.md).
        planned = Signal()      # the plan registers below are for the generator's state
        m.d.sync += planned.eq(g_active)   # cleared below when a burst is issued
        with m.If(~g_active):
            m.d.sync += [
                g_active.eq(self.cmd.valid & (cmd.rows != 0) & (cmd.row_bytes != 0)),
                g_write.eq(cmd.write),
                g_addr.eq(cmd.addr),
                g_row.eq(cmd.addr),
                g_left.eq(cmd.row_bytes),
                g_n.eq(cmd.row_bytes),
                g_rows.eq(cmd.rows),
                g_stride.eq(cmd.stride),
                g_first.eq(1),
                g_tb.eq(BOUNDARY_BYTES - cmd.addr[:12]),
            ]

        # Burst size: up to the end of the row, the next 4 KiB boundary, or max_burst beats
        # counted from the beat-aligned start, whichever comes first. Every burst but a row's
        # first therefore starts beat-aligned, and every beat holds at least one wanted byte.
        # The three cases' lengths, the comparisons that choose among them and the next
        # generator states are computed from the generator's registers into plan registers
        # (`planned` says they are current), and a burst is issued from the plan: the
        # compares, the adders and the issue decision never share a cycle (FPGA timing paths,
        # docs/fpga.md). The generator issues a burst every other cycle at most.
        lane = Signal(lane_bits)
        to_max = Signal(range(self._max_burst * nb + 1))
        burst_len = Signal(8)
        row_off = Signal(lane_bits)
        last_row = Signal()
        at_tb = Signal()        # the burst ends on the 4 KiB boundary (before the row's end)
        at_max = Signal()       # it is a longest burst (before the boundary and the row's end)
        row_ends = Signal()     # it ends the row (burst bytes == g_left)
        len_row = Signal(8)
        len_tb = Signal(8)
        m.d.comb += [
            lane.eq(g_addr[:lane_bits]),
            row_off.eq(g_row[:lane_bits]),
            last_row.eq(g_rows == 1),
            to_max.eq(self._max_burst * nb - lane),
            at_tb.eq((g_tb < g_left) & (g_tb <= to_max)),
            at_max.eq(~at_tb & (to_max < g_left) & (to_max < g_tb)),
            row_ends.eq(~at_tb & ~at_max),
            # beats - 1 of a burst of x bytes from lane `lane`: (lane + x - 1) >> lane_bits
            len_row.eq((lane + g_left - 1) >> lane_bits),
            len_tb.eq((lane + g_tb - 1) >> lane_bits),
            burst_len.eq(Mux(at_tb, len_tb, Mux(at_max, self._max_burst - 1, len_row))),
        ]
        aligned = Cat(C(0, lane_bits), g_addr[lane_bits:])
        next_row = Signal(abits)
        m.d.comb += next_row.eq(g_row + g_stride)
        plan = Signal(_BurstPlan(abits, TILE_DIM_BITS, BOUNDARY_BYTES))
        # Loaded in every cycle (no enable): the plan is always that of the previous cycle's
        # generator state, which is the current one when `planned` is set (the state moves
        # only when idle or when a burst is issued, and both clear `planned`).
        m.d.sync += [plan.at_tb.eq(at_tb), plan.at_max.eq(at_max),
                     plan.last_row.eq(last_row), plan.len.eq(burst_len),
                     plan.addr.eq(aligned),
                     plan.addr_tb.eq(g_addr + g_tb), plan.left_tb.eq(g_left - g_tb),
                     plan.addr_max.eq(aligned + self._max_burst * nb),
                     plan.left_max.eq(g_left - to_max), plan.tb_max.eq(g_tb - to_max),
                     plan.rows_next.eq(g_rows - 1), plan.next_row.eq(next_row),
                     plan.tb_row.eq(BOUNDARY_BYTES - next_row[:12])]

        row_q = SyncFIFOBuffered(width=_RowDesc(lane_bits).size, depth=max_out + 2)
        burst_q = SyncFIFOBuffered(width=_BurstDesc(lane_bits).size, depth=max(2, max_out))
        m.submodules.row_q = row_q
        m.submodules.burst_q = burst_q
        row_in = data.View(_RowDesc(lane_bits), row_q.w_data)
        burst_in = data.View(_BurstDesc(lane_bits), burst_q.w_data)
        m.d.comb += [
            row_in.off.eq(row_off),
            row_in.n.eq(g_n),
            row_in.last_row.eq(plan.last_row),
            *[getattr(row_in.flags, k).eq(v) for k, v in _rem_flags(g_n, row_off, nb, 0).items()],
            burst_in.len.eq(plan.len),
            burst_in.first.eq(g_first),
            burst_in.off.eq(row_off),
            burst_in.n.eq(g_n),
            burst_in.last_row.eq(plan.last_row),
        ]

        # A burst is loaded into the AR (AW) register only when that register is empty, not in
        # the cycle the slave takes the previous one: the slave's ready (through the self-test
        # top's bus multiplexer, say) is then not in front of the generator's next state,
        # where it was the 8x8 build's worst path at two seeds (docs/fpga.md, sixteenth round).
        # Bursts leave at most every other cycle anyway; with random AXI stalls MobileNetV2
        # takes 65 cycles more (4,494,566 against 4,494,501), without them the same.
        m.d.comb += [
            ar_load.eq(planned & ~g_write & writes_idle & ~bus.arvalid &
                       r_room & (~g_first | row_q.w_rdy)),
            aw_load.eq(planned & g_write & reads_idle & ~bus.awvalid &
                       w_room & burst_q.w_rdy),
            row_q.w_en.eq(ar_load & g_first),
            burst_q.w_en.eq(aw_load),
        ]
        with m.If(bus.arready):
            m.d.sync += bus.arvalid.eq(0)
        with m.If(bus.awready):
            m.d.sync += bus.awvalid.eq(0)
        with m.If(ar_load):
            m.d.sync += [bus.arvalid.eq(1), bus.araddr.eq(plan.addr), bus.arlen.eq(plan.len)]
        with m.If(aw_load):
            m.d.sync += [bus.awvalid.eq(1), bus.awaddr.eq(plan.addr), bus.awlen.eq(plan.len)]
        with m.If(ar_load | aw_load):
            # A burst never crosses the boundary: it ends before it or exactly on it.
            m.d.sync += [g_first.eq(0), planned.eq(0)]
            with m.If(plan.at_tb):
                m.d.sync += [g_addr.eq(plan.addr_tb), g_left.eq(plan.left_tb),
                             g_tb.eq(BOUNDARY_BYTES)]
            with m.Elif(plan.at_max):
                # to_max < g_tb: the boundary is not reached
                m.d.sync += [g_addr.eq(plan.addr_max),
                             g_left.eq(plan.left_max), g_tb.eq(plan.tb_max)]
            with m.Elif(plan.last_row):
                m.d.sync += g_active.eq(0)
            with m.Else():
                m.d.sync += [
                    g_rows.eq(plan.rows_next),
                    g_row.eq(plan.next_row),
                    g_addr.eq(plan.next_row),
                    g_tb.eq(plan.tb_row),
                    g_left.eq(g_n),
                    g_first.eq(1),
                ]

        # ------------------------------------------------------------------ read realigner
        # Output beat j of a row holds row bytes [j*B, j*B+B), i.e. lanes off.. of R beat j and
        # lanes ..off-1 of R beat j+1 (off = row start address mod B). It is emitted on the R
        # beat holding its last byte; when that beat also completes the row's final (short)
        # output beat, one extra "flush" cycle emits it from the hold register.
        rd = self.rd
        row = data.View(_RowDesc(lane_bits), row_q.r_data)
        r_started = Signal()               # the head row has consumed R beats
        r_rem = Signal(TILE_DIM_BITS)      # bytes of the head row not yet emitted (if started)
        r_flags = Signal(_RemFlags(lane_bits))   # their flags, loaded with r_rem
        r_pend = Signal()                  # r_hold holds the start of the next output beat
        r_flush = Signal()
        r_hold = Signal(8 * nb)
        rem = Signal(TILE_DIM_BITS)
        cur = Signal(_RemFlags(lane_bits))
        can_emit = Signal()
        use_hold = Signal()
        r_shifted = Signal(8 * nb)
        # The beat's decisions come from flags kept beside each remaining byte count (in the
        # row FIFO and in r_flags), each computed a cycle ahead by one comparison: only a
        # multiplexer between them and the output registers (an FPGA timing path, docs/fpga.md).
        m.d.comb += [
            rem.eq(Mux(r_started, r_rem, row.n)),
            cur.eq(Mux(r_started, r_flags.as_value(), row.flags.as_value())),
            can_emit.eq(~rd.valid | rd.ready),
            r_shifted.eq(Cat(Mux(use_hold, r_hold, bus.rdata), bus.rdata)
                         .bit_select(row.off * 8, 8 * nb)),
        ]
        rem_gt, r_cnt, rem_after = cur.gt, cur.cnt, cur.after
        crosses_now, crosses_after = cur.cross_now, cur.cross_after
        # The next flags for both sources of `rem`, selected after the comparisons: the select
        # (r_started, fanning out to every bit) is not in front of the carry chains (an FPGA
        # timing path, docs/fpga.md, fifteenth round).
        from_started = _rem_flags(r_rem, row.off, nb, 1)
        from_row = _rem_flags(row.n, row.off, nb, 1)
        next_flags = [getattr(r_flags, k).eq(Mux(r_started, from_started[k], from_row[k]))
                      for k in from_started]

        def emit(count, row_end):
            m.d.sync += [
                rd.valid.eq(1),
                rd.payload.count.eq(count),
                rd.payload.row_last.eq(row_end),
                rd.payload.last.eq(row_end & row.last_row),
            ]

        def row_done():
            m.d.comb += row_q.r_en.eq(1)
            m.d.sync += [r_started.eq(0), r_pend.eq(0), r_flush.eq(0)]

        # The output beat's data loads in every cycle the output register is free, whether a
        # beat is emitted or not (without `valid` nobody reads it), and the hold register is
        # its source exactly while `r_pend` or `r_flush` is set (every beat emitted then
        # starts in it): so the 64-bit register's enable is `can_emit` and its multiplexer's
        # select two flip-flops, not the emit decision behind the R handshake (the 8x8
        # build's critical path at two of three seeds with the self-test's register slice,
        # rd_skid -> rd.valid -> rvalid -> r_pend -> rd.payload.data; docs/fpga.md,
        # twentieth round).
        m.d.comb += use_hold.eq(r_pend | r_flush)
        with m.If(can_emit):
            m.d.sync += rd.payload.data.eq(r_shifted)
        with m.If(rd.ready):
            m.d.sync += rd.valid.eq(0)
        with m.If(r_flush):
            with m.If(can_emit):
                emit(r_rem, 1)
                row_done()
        with m.Elif(row_q.r_rdy & can_emit):
            m.d.comb += bus.rready.eq(1)
            with m.If(bus.rvalid):
                with m.If(r_pend):
                    emit(r_cnt, ~rem_gt)
                    with m.If(~rem_gt):
                        row_done()
                    with m.Else():
                        m.d.sync += [r_rem.eq(rem_after), r_started.eq(1), *next_flags]
                        with m.If(crosses_after):
                            m.d.sync += r_pend.eq(1)
                        with m.Else():
                            m.d.sync += [r_pend.eq(0), r_flush.eq(1)]
                with m.Elif(crosses_now):
                    m.d.sync += [r_rem.eq(rem), r_started.eq(1), r_pend.eq(1),
                                 r_flags.eq(cur)]
                with m.Else():
                    emit(r_cnt, ~rem_gt)
                    with m.If(~rem_gt):
                        row_done()
                    with m.Else():
                        m.d.sync += [r_rem.eq(rem_after), r_started.eq(1), *next_flags]
        # The hold register takes every R beat accepted: it is read only while `r_pend` or
        # `r_flush` is set, and both are set by the beat that must be held and cleared before
        # another beat is taken otherwise. So its 64-bit enable is the R handshake, not the
        # realigner's decision tree (an FPGA timing path, docs/fpga.md, seventeenth round).
        with m.If(r_fire):
            m.d.sync += r_hold.eq(bus.rdata)
        with m.If(r_fire & (bus.rresp[1] | (bus.rid != 0))):
            m.d.comb += error_set.eq(1)

        # ------------------------------------------------------------------ write realigner
        # W beat k of a row (k = 0 is the beat holding the row's first byte) carries row bytes
        # [k*B-off, k*B-off+B): lanes off.. from input beat k, lanes ..off-1 from input beat k-1
        # (the hold register). The row's final W beat needs no new input when off + n spills
        # past the last input beat.
        wr = self.wr
        wb = data.View(_BurstDesc(lane_bits), burst_q.r_data)
        w_beat = Signal(8)                 # beat index inside the head burst
        w_beat0 = Signal(init=1)           # w_beat == 0, as a register
        w_left = Signal(TILE_DIM_BITS)     # row bytes not yet put on W
        w_in_left = Signal(TILE_DIM_BITS)  # row bytes not yet taken from wr
        # w_in_left != 0, as a register: `need_in` (and through it wr.ready and go, the enable
        # of every W register) starts at flip-flops, not at the row-start mux and a 16-bit zero
        # test (the 4x4 engine's critical path ran burst_q data -> w_in_left -> wdata).
        w_in_more = Signal()
        w_hold = Signal(8 * nb)
        w_cnt = Signal(range(nb + 1))      # strobes set in the W register
        row_init = Signal()
        left = Signal(TILE_DIM_BITS)
        in_left = Signal(TILE_DIM_BITS)
        start = Signal(lane_bits)
        avail = Signal(range(nb + 1))
        cnt = Signal(range(nb + 1))
        in_cnt = Signal(range(nb + 1))
        need_in = Signal()
        # left - avail and in_left - nb: their signs give the two min()s and the bytes left
        # after this beat, from one adder each instead of a compare, a mux and a subtract.
        over = Signal(signed(TILE_DIM_BITS + 2))
        in_over = Signal(signed(TILE_DIM_BITS + 2))
        slot = Signal()
        go = Signal()
        shift = Signal(range(nb + 1))
        cur = Signal(8 * nb)
        strb = Signal(nb)
        m.d.comb += [
            row_init.eq(wb.first & w_beat0),
            left.eq(Mux(row_init, wb.n, w_left)),
            in_left.eq(Mux(row_init, wb.n, w_in_left)),
            start.eq(Mux(row_init, wb.off, 0)),
            avail.eq(nb - start),
            over.eq(left + start - nb),                     # left - avail
            in_over.eq(in_left - nb),
            cnt.eq(Mux(over[-1], left, avail)),
            in_cnt.eq(Mux(in_over[-1], in_left, nb)),
            # a row's first beat always takes input (wb.n >= 1: empty commands are dropped)
            need_in.eq(row_init | w_in_more),
            slot.eq(burst_q.r_rdy & (~bus.wvalid | bus.wready)),
            wr.ready.eq(slot & need_in),
            go.eq(slot & (~need_in | wr.valid)),
            shift.eq(nb - wb.off),
            cur.eq(Mux(need_in, wr.payload.data, 0)),
            # lanes [start, start + cnt) = lanes i >= start with i - start < left (cnt is left
            # or all lanes from start); lane nb-1 is never below `start`.
            strb.eq(Cat(((start <= i) if i < nb - 1 else C(1))
                        & ((left[lane_bits:] != 0) | (left[:lane_bits] > (i - start)[:lane_bits]))
                        for i in range(nb))),
        ]
        with m.If(bus.wready):
            m.d.sync += bus.wvalid.eq(0)
        # W data loads in every cycle the W register is free, a beat or not (AXI asks nothing
        # of WDATA without WVALID, and a beat offered is held while WREADY is low): its 64
        # enables are the W handshake's two flip-flops, not `go` behind the burst queue and
        # the input handshake (docs/fpga.md, twentieth round).
        with m.If(~bus.wvalid | bus.wready):
            m.d.sync += bus.wdata.eq(Cat(w_hold, cur).bit_select(shift * 8, 8 * nb))
        with m.If(go):
            m.d.sync += [
                bus.wvalid.eq(1),
                bus.wstrb.eq(strb),
                bus.wlast.eq(w_beat == wb.len),
                w_cnt.eq(cnt),
                w_left.eq(Mux(over[-1], 0, over)),
                w_in_left.eq(in_left),
                w_in_more.eq(0),
                w_beat.eq(w_beat + 1),
                w_beat0.eq(0),
            ]
            with m.If(w_beat == wb.len):
                m.d.comb += burst_q.r_en.eq(1)
                m.d.sync += [w_beat.eq(0), w_beat0.eq(1)]
            with m.If(need_in):
                m.d.sync += [w_hold.eq(cur), w_in_left.eq(Mux(in_over[-1], 0, in_over)),
                             w_in_more.eq(in_left > nb)]
                row_end = in_left <= nb
                with m.If((wr.payload.count != in_cnt) | (wr.payload.row_last != row_end) |
                          (wr.payload.last != (row_end & wb.last_row))):
                    m.d.comb += error_set.eq(1)

        m.d.comb += bus.bready.eq(1)
        with m.If(b_fire & (bus.bresp[1] | (bus.bid != 0))):
            m.d.comb += error_set.eq(1)

        # ------------------------------------------------------------------ status, counters
        # The counters add a registered increment (each transfer's count, 0 without one) in
        # every cycle, one cycle after the transfer: the handshakes (the slave's `wready`,
        # the consumer's `rd.ready`) reach a few increment flip-flops, not the enables of the
        # 64-bit counters and their carry chains (an FPGA timing path, docs/fpga.md,
        # seventeenth round). `busy` stays high while an increment is pending, and `clear`
        # zeroes the pending ones too, so it still wins over a same-cycle transfer.
        inc_rd_bytes = Signal.like(rd.payload.count)
        inc_wr_bytes = Signal.like(w_cnt)
        inc_r_beat = Signal()
        inc_w_beat = Signal()
        m.d.sync += [inc_rd_bytes.eq(Mux(rd.valid & rd.ready, rd.payload.count, 0)),
                     inc_wr_bytes.eq(Mux(w_fire, w_cnt, 0)),
                     inc_r_beat.eq(r_fire), inc_w_beat.eq(w_fire),
                     self.bytes_read.eq(self.bytes_read + inc_rd_bytes),
                     self.beats_read.eq(self.beats_read + inc_r_beat),
                     self.bytes_written.eq(self.bytes_written + inc_wr_bytes),
                     self.beats_written.eq(self.beats_written + inc_w_beat)]
        m.d.comb += self.busy.eq(g_active | ~reads_idle | ~writes_idle | row_q.r_rdy | r_flush |
                                 rd.valid | burst_q.r_rdy | bus.wvalid |
                                 # an increment pending (an rd beat carries >= 1 byte)
                                 (inc_rd_bytes != 0) | inc_r_beat | inc_w_beat)
        with m.If(error_set):
            m.d.sync += self.error.eq(1)
        with m.If(self.clear):
            m.d.sync += [self.error.eq(0), self.bytes_read.eq(0), self.bytes_written.eq(0),
                         self.beats_read.eq(0), self.beats_written.eq(0),
                         inc_rd_bytes.eq(0), inc_wr_bytes.eq(0), inc_r_beat.eq(0),
                         inc_w_beat.eq(0)]
        return m
