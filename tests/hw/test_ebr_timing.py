# amaranth: UnusedElaboratable=no
"""How nextpnr times a tile-memory read on the ULX3S (regress: Yosys and nextpnr, ~2 min each):
the 4x4 engine's A memory (512 x 256 bits, 4 lanes) read every cycle, one byte of each lane
selected (the feed's ``k % 8``) and XOR-folded into a register. Inferred (Yosys maps it to
``DP16KD`` with ``REGMODE = NOREG``) the worst path starts at the block's output with its
5.5-6 ns clock-to-out; as :class:`~scanfuse.hw.ebr.EBRMemory` (``REGMODE_B = OUTREG``) no
path starts with such a delay and the design is faster. Addresses, data, enables and the byte
select come from an LFSR, so nothing is constant."""

import json
import subprocess

import pytest
from amaranth.hdl import Cat, ClockDomain, ClockSignal, Module, Signal
from amaranth.lib import io, memory, wiring

from scanfuse.hw.ebr import EBRMemory

WIDTH, DEPTH, LANES = 256, 512, 4


class ReadProbe(wiring.Component):
    """The read-and-select probe on the board's 25 MHz clock, its fold on LED 0."""

    def __init__(self, kind: str):
        self.kind = kind
        super().__init__({})

    def elaborate(self, platform):
        m = Module()
        m.domains.sync = ClockDomain()
        m.submodules.clk = clk = io.Buffer("i", platform.request("clk25", 0, dir="-"))
        m.d.comb += ClockSignal("sync").eq(clk.i)
        lfsr = Signal(64, init=1)
        m.d.sync += lfsr.eq(Cat(lfsr[63] ^ lfsr[62] ^ lfsr[60] ^ lfsr[59], lfsr[:63]))
        if self.kind == "dp16kd":
            m.submodules.mem = mem = EBRMemory(WIDTH, DEPTH, LANES)
            ports = (mem.waddr, mem.wdata, mem.wen, mem.raddr, mem.ren)
            rdata = mem.rdata
        else:
            m.submodules.mem = mem = memory.Memory(shape=WIDTH, depth=DEPTH, init=[])
            wp = mem.write_port(granularity=WIDTH // LANES)
            rp = mem.read_port(transparent_for=())
            ports = (wp.addr, wp.data, wp.en, rp.addr, rp.en)
            rdata = rp.data
        waddr, wdata, wen, raddr, ren = ports
        m.d.comb += [waddr.eq(lfsr[:9]), wdata.eq(Cat(*[lfsr] * (WIDTH // 64))),
                     wen.eq(lfsr[9:13]), raddr.eq(lfsr[13:22]), ren.eq(lfsr[22])]
        sel = Signal(3)
        m.d.sync += sel.eq(lfsr[40:43])
        fold = 0
        for r in range(LANES):
            fold = fold ^ rdata.word_select(r, 64).word_select(sel, 8)
        out = Signal(8)
        m.d.sync += out.eq(fold)
        m.submodules.led = led = io.Buffer("o", platform.request("led", 0, dir="-"))
        m.d.comb += led.o.eq(out.xor())
        return m


def _place_and_route(kind, out):
    from scanfuse.hw.fpga.boards import get_board
    from scanfuse.hw.fpga.flow import find_tool
    out.mkdir()
    get_board("ulx3s-85f").make_platform().prepare(ReadProbe(kind), name="probe").extract(out)
    subprocess.run(find_tool("yosys") + ["-q", "-l", "probe.rpt", "probe.ys"], cwd=out,
                   check=True)
    subprocess.run(find_tool("nextpnr-ecp5") + [
        "--85k", "--package", "CABGA381", "--speed", "6", "--json", "probe.json", "--lpf",
        "probe.lpf", "--report", "report.json", "--freq", "300", "--seed", "1", "--router",
        "router2", "--timing-allow-fail", "--log", "probe.tim"], cwd=out, check=True,
        capture_output=True)
    report = json.loads((out / "report.json").read_text())
    fmax = report["fmax"]["$glbnet$clk"]["achieved"]
    # Clock-to-out of block RAM outputs (DOA*/DOB* pins) on the clock's critical path.
    ebr_out = [step["delay"] for cp in report["critical_paths"] if cp["to"] != "<async>"
               for step in cp["path"] if step["type"] == "clk-to-q"
               and step["from"]["port"].startswith(("DOA", "DOB"))]
    return fmax, ebr_out


@pytest.mark.regress
def test_output_register_takes_the_block_clock_to_out_off_the_read_path(tmp_path):
    pytest.importorskip("amaranth_boards", reason="amaranth-boards not installed")
    from scanfuse.hw.fpga.flow import FlowError, find_tool
    try:
        find_tool("nextpnr-ecp5")
    except FlowError as err:
        pytest.skip(str(err))
    fmax_inf, ebr_inf = _place_and_route("inferred", tmp_path / "inferred")
    fmax_ebr, ebr_ebr = _place_and_route("dp16kd", tmp_path / "dp16kd")
    assert ebr_inf and min(ebr_inf) > 5.0            # NOREG: 5.57-5.81 ns (prjtrellis-db)
    assert all(d < 1.5 for d in ebr_ebr)              # OUTREG: 0.92-0.94 ns, if on the path
    assert fmax_ebr > fmax_inf
