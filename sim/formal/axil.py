"""The AXI4-Lite register slave against the AXI4-Lite rules and its register map.

:class:`RegsHarness` drives :class:`~scanfuse.hw.regs.ControlRegisters` from a free master
that is only assumed to obey the valid/ready rule on AW, W and AR (BREADY and RREADY are
free), with free engine inputs. Assertions:

* B and R: VALID stays high, the response and data unchanged, until READY;
* one B per write (an AW and a W both accepted), one R per accepted AR, none without its
  request; at most one write waiting besides a pending B, one read in progress;
* writes to PROG_ADDR_LO/HI and PROG_LEN change exactly the strobed bytes (a reference copy
  in the harness), other writes leave them alone; BRESP is OKAY for writable registers and
  CTRL, SLVERR for read-only and unmapped words; RRESP OKAY exactly on mapped words;
* reads return ID_MAGIC, VERSION, CONFIG, the PROG registers' reference values, ERROR;
* a CYCLES_LO then CYCLES_HI read pair returns one 64-bit value, however the counter moves.
"""

from amaranth.hdl import Assert, Cover, Elaboratable, Mux, Signal

from ...hw.axi import Resp
from ...hw.params import AccelConfig
from ...hw.regs import (COUNTERS, ID_MAGIC, REGISTERS, VERSION, Access, ControlRegisters,
                        Reg)
from .props import Internals, Past, any_seq, channel_rules, harness_module

__all__ = ["RegsHarness"]


class RegsHarness(Elaboratable):
    """AXI4-Lite slave properties of the register block (see the module docstring)."""

    def __init__(self, dut_class=ControlRegisters):
        self.cfg = AccelConfig(addr_bits=40)    # PROG_ADDR spans both words
        self.dut_class = dut_class

    def elaborate(self, platform):
        m = harness_module()
        dut = self.dut_class(self.cfg, counter_bits=64)
        internal = Internals(m, dut)
        past = Past(m)
        bus = dut.bus
        inputs = ["awaddr", "awprot", "awvalid", "wdata", "wstrb", "wvalid", "bready",
                  "araddr", "arprot", "arvalid", "rready"]
        for name in inputs:
            sig = getattr(bus, name)
            m.d.comb += sig.eq(any_seq(len(sig)))
        for name in ("busy", "done", "error_code", *COUNTERS):
            sig = getattr(dut, name)
            m.d.comb += sig.eq(any_seq(len(sig)))
        channel_rules(m, past, bus.awvalid, bus.awready, [bus.awaddr, bus.awprot],
                      dut_drives=False, name="aw")
        channel_rules(m, past, bus.wvalid, bus.wready, [bus.wdata, bus.wstrb],
                      dut_drives=False, name="w")
        channel_rules(m, past, bus.arvalid, bus.arready, [bus.araddr, bus.arprot],
                      dut_drives=False, name="ar")
        channel_rules(m, past, bus.bvalid, bus.bready, bus.bresp, dut_drives=True, name="b")
        channel_rules(m, past, bus.rvalid, bus.rready, [bus.rdata, bus.rresp],
                      dut_drives=True, name="r")

        aw_fire = bus.awvalid & bus.awready
        w_fire = bus.wvalid & bus.wready
        b_fire = bus.bvalid & bus.bready
        ar_fire = bus.arvalid & bus.arready
        r_fire = bus.rvalid & bus.rready
        b_new = bus.bvalid & ~(past.valid & past(bus.bvalid) & ~past(bus.bready))
        r_new = bus.rvalid & ~(past.valid & past(bus.rvalid) & ~past(bus.rready))

        # ---------------------------------------------------------------- write path
        # Requests accepted and not yet answered; the request a new B answers.
        aw_open, w_open = Signal(3), Signal(3)
        aw_word = Signal(len(bus.awaddr) - 2)
        w_data, w_strb = Signal(32), Signal(4)
        m.d.sync += [aw_open.eq(aw_open + aw_fire - b_fire), w_open.eq(w_open + w_fire - b_fire)]
        with m.If(aw_fire):
            m.d.sync += aw_word.eq(bus.awaddr[2:])
        with m.If(w_fire):
            m.d.sync += [w_data.eq(bus.wdata), w_strb.eq(bus.wstrb)]
        # Accepted requests whose write has not taken effect yet (B not yet raised).
        aw_wait = Signal(3)
        w_wait = Signal(3)
        m.d.comb += [aw_wait.eq(aw_open - bus.bvalid), w_wait.eq(w_open - bus.bvalid)]
        m.d.comb += [
            Assert(aw_wait <= 1, "at most one write address beside a pending B"),
            Assert(w_wait <= 1, "at most one write data beside a pending B"),
            Assert(~bus.bvalid | (aw_open != 0) & (w_open != 0), "no B without its write"),
            # Induction invariants: the holding registers hold exactly the waiting requests.
            Assert(internal["aw_full"] == (aw_wait == 1), "AW holding register"),
            Assert(internal["w_full"] == (w_wait == 1), "W holding register"),
        ]
        with m.If(internal["aw_full"]):
            m.d.comb += Assert(internal["aw_word"] == aw_word, "held AW is the last accepted")
        with m.If(internal["w_full"]):
            m.d.comb += Assert((internal["w_data"] == w_data) & (internal["w_strb"] == w_strb),
                               "held W is the last accepted")
        writable = {r.reg for r in REGISTERS if r.access in (Access.RW, Access.WO)}
        with m.If(b_new):
            ok = 0
            for reg in writable:
                ok = ok | (aw_word == reg >> 2)
            m.d.comb += Assert(bus.bresp == Mux(ok, Resp.OKAY.value, Resp.SLVERR.value),
                               "BRESP OKAY exactly for writable registers")

        # Reference copies of the RW registers, written when their B is issued.
        ref = {}
        for reg, sig, base in ((Reg.PROG_ADDR_LO, dut.prog_addr, 0),
                               (Reg.PROG_ADDR_HI, dut.prog_addr, 32),
                               (Reg.PROG_LEN, dut.prog_len, 0)):
            ref.setdefault(id(sig), (sig, Signal(len(sig), name=f"ref_{sig.name}")))
            _, shadow = ref[id(sig)]
            with m.If(b_new & (aw_word == reg >> 2)):
                for i in range(4):
                    lo, hi = base + 8 * i, min(base + 8 * i + 8, len(sig))
                    if lo < hi:
                        with m.If(w_strb[i]):
                            m.d.sync += shadow[lo:hi].eq(w_data[8 * i:8 * i + hi - lo])
        # The register changes in the cycle its B rises, the reference one cycle later.
        for sig, shadow in ref.values():
            with m.If(past.valid):
                m.d.comb += Assert(past(sig) == shadow, f"{sig.name} equals its reference")
        m.d.comb += Cover(past.valid & past(b_new) & (past(aw_word) == Reg.PROG_LEN >> 2) &
                          (past(w_strb) == 0b0101) & (dut.prog_len != 0),
                          "a strobed PROG_LEN write")

        # ---------------------------------------------------------------- read path
        ar_open = Signal(3)
        ar_word = Signal(len(bus.araddr) - 2)
        expect = Signal(32)
        m.d.sync += ar_open.eq(ar_open + ar_fire - r_fire)
        mapped = {int(r) >> 2 for r in Reg}
        fixed = {Reg.ID: ID_MAGIC, Reg.VERSION: VERSION, Reg.CONFIG: dut.config_word,
                 Reg.CTRL: 0}
        with m.If(ar_fire):
            m.d.sync += [ar_word.eq(bus.araddr[2:]), expect.eq(0)]
            for reg, value in fixed.items():
                with m.If(bus.araddr[2:] == reg >> 2):
                    m.d.sync += expect.eq(value)
            for reg, value in ((Reg.PROG_ADDR_LO, dut.prog_addr[:32]),
                               (Reg.PROG_ADDR_HI, dut.prog_addr[32:]),
                               (Reg.PROG_LEN, dut.prog_len), (Reg.ERROR, dut.error_code)):
                with m.If(bus.araddr[2:] == reg >> 2):
                    m.d.sync += expect.eq(value)
        m.d.comb += [
            Assert(ar_open <= 1, "one read at a time"),
            Assert(bus.rvalid == (ar_open == 1), "R exactly for an accepted AR"),
        ]
        checked = set(fixed) | {Reg.PROG_ADDR_LO, Reg.PROG_ADDR_HI, Reg.PROG_LEN, Reg.ERROR}
        is_mapped = 0
        for w in mapped:
            is_mapped = is_mapped | (ar_word == w)
        is_checked = 0
        for reg in checked:
            is_checked = is_checked | (ar_word == reg >> 2)
        with m.If(r_new):
            m.d.comb += Assert(bus.rresp == Mux(is_mapped, Resp.OKAY.value, Resp.SLVERR.value),
                               "RRESP OKAY exactly on the map")
            with m.If(is_checked):
                m.d.comb += Assert(bus.rdata == expect, "read value")

        # CYCLES_LO then CYCLES_HI: one 64-bit snapshot.
        snap = Signal(32)
        snap_ok = Signal()
        with m.If(ar_fire & (bus.araddr[2:] == Reg.CYCLES_LO >> 2)):
            m.d.sync += [snap.eq(dut.cycles[32:]), snap_ok.eq(1)]
        with m.If(dut.clear):
            m.d.sync += snap_ok.eq(0)
        with m.If(snap_ok):
            m.d.comb += Assert(internal["cycles_hi_shadow"] == snap, "shadow holds the snapshot")
        hi_read = r_new & (ar_word == Reg.CYCLES_HI >> 2) & snap_ok
        with m.If(hi_read):
            m.d.comb += Assert(bus.rdata == snap, "CYCLES_HI is the high word of the LO read")
        m.d.comb += Cover(hi_read & (snap != 0), "a LO/HI pair of a counter above 2**32")
        m.d.comb += Cover(past.valid & past(bus.bvalid) & ~past(bus.bready) & bus.rvalid &
                          ~bus.rready & aw_fire, "B and R both stalled, next AW taken")
        return m
