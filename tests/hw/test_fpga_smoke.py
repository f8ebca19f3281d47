# amaranth: UnusedElaboratable=no
"""FPGA flow: the on-chip AXI memory, the self-test top in simulation, PLL settings, report
parsing, CLI errors, and a Yosys-only synthesis smoke test of a 2x2 build for the ULX3S.

The full build (nextpnr, ecppack) is not run here: it takes minutes (``make fpga``).
"""

import json
import random
import subprocess
from dataclasses import replace

import pytest

from scanfuse.hw.buffer import BufferGeometry
from scanfuse.hw.ebr import ebr_layout
from amaranth.sim import Simulator

from scanfuse.cli import main
from scanfuse.hw.axi import Burst
from scanfuse.hw.fpga.axi_ram import AXI4SRAM
from scanfuse.hw.fpga.flow import (PE_MULTIPLIERS, PLACER_TIMING_OPTIONS, FlowError,
                                   critical_path_summary, dsp_registers, ebr_registers,
                                   engine_array, find_tool, nextpnr_summary,
                                   nextpnr_timing_options, pe_dsp_cells, run_flow,
                                   seed_statistics)
from scanfuse.hw.fpga.selftest import ScriptOp, checksum
from scanfuse.hw.params import parse_array
from scanfuse.hw.fpga.top import SelfTestTop, ecp5_pll_params
from scanfuse.sim.fpga_image import default_gemm, engine_image as selftest_image
from scanfuse.hw.verilog import source_hash
from scanfuse.hw.params import AccelConfig
from scanfuse.errors import InvalidOptionError
from scanfuse.plan import Gemm


# --------------------------------------------------------------------------- AXI4SRAM
async def _axi_master(ctx, bus, ops, rng, log):
    """Run bursts one after another with random valid gaps and RREADY/BREADY stalls."""
    nb = len(bus.wstrb)
    for op in ops:
        kind, addr, beats = op[0], op[1], op[2]
        while rng.random() < 0.3:
            await ctx.tick()
        if kind == "w":
            words, strobes = op[3], op[4]
            ctx.set(bus.awaddr, addr)
            ctx.set(bus.awlen, beats - 1)
            ctx.set(bus.awburst, Burst.INCR)
            ctx.set(bus.awid, 1)
            ctx.set(bus.awvalid, 1)
            await ctx.tick().until(bus.awready)
            ctx.set(bus.awvalid, 0)
            for i in range(beats):
                while rng.random() < 0.3:
                    await ctx.tick()
                ctx.set(bus.wdata, words[i])
                ctx.set(bus.wstrb, strobes[i])
                ctx.set(bus.wlast, i == beats - 1)
                ctx.set(bus.wvalid, 1)
                await ctx.tick().until(bus.wready)
                ctx.set(bus.wvalid, 0)
            while rng.random() < 0.5:
                await ctx.tick()
            ctx.set(bus.bready, 1)
            *_, bid = await ctx.tick().sample(bus.bid).until(bus.bvalid)
            ctx.set(bus.bready, 0)
            assert bid == 1
        else:
            ctx.set(bus.araddr, addr)
            ctx.set(bus.arlen, beats - 1)
            ctx.set(bus.arburst, Burst.INCR)
            ctx.set(bus.arid, 1)
            ctx.set(bus.arvalid, 1)
            await ctx.tick().until(bus.arready)
            ctx.set(bus.arvalid, 0)
            got = []
            while len(got) < beats:
                ready = rng.random() < 0.6
                ctx.set(bus.rready, ready)
                *_, data, last, valid, rid = await ctx.tick().sample(
                    bus.rdata, bus.rlast, bus.rvalid, bus.rid)
                if valid and ready:
                    got.append(data)
                    assert last == (len(got) == beats) and rid == 1
            ctx.set(bus.rready, 0)
            log.append((addr, got))
    del nb


def test_axi_sram_bursts_and_strobes():
    rng = random.Random(5)
    size, nb = 1024, 8
    init = bytes(rng.getrandbits(8) for _ in range(size // 2))
    dut = AXI4SRAM(16, 64, size, init=init)
    model = bytearray(init + bytes(size - len(init)))
    ops, expect = [], []
    for _ in range(40):
        beats = rng.randint(1, 8)
        addr = rng.randrange(0, size // nb - beats + 1) * nb
        if rng.random() < 0.5:
            words = [rng.getrandbits(64) for _ in range(beats)]
            strobes = [rng.getrandbits(8) for _ in range(beats)]
            ops.append(("w", addr, beats, words, strobes))
            for i, (w, s) in enumerate(zip(words, strobes)):
                for lane in range(nb):
                    if s >> lane & 1:
                        model[addr + i * nb + lane] = w >> (8 * lane) & 0xFF
        else:
            ops.append(("r", addr, beats))
            expect.append((addr, [int.from_bytes(model[addr + i * nb:addr + (i + 1) * nb],
                                                 "little") for i in range(beats)]))
    log = []

    async def bench(ctx):
        await _axi_master(ctx, dut.bus, ops, rng, log)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert log == expect


def test_axi_sram_read_latency_and_rate():
    """RVALID four cycles after the AR handshake (memory read, a register, the FIFO, then the
    R registers), then one beat per cycle with RREADY high; a stalled beat is held, nothing is
    lost or repeated, and the FIFO's credits let the burst run on at full rate after the
    stall."""
    init = bytes(range(64))
    dut = AXI4SRAM(16, 64, 1024, init=init)
    words = [int.from_bytes(init[8 * i:8 * i + 8], "little") for i in range(8)]

    async def bench(ctx):
        bus = dut.bus
        ctx.set(bus.araddr, 8)
        ctx.set(bus.arlen, 5)
        ctx.set(bus.arburst, Burst.INCR)
        ctx.set(bus.arvalid, 1)
        ctx.set(bus.rready, 1)
        assert ctx.get(bus.arready)
        await ctx.tick()                         # the AR handshake
        ctx.set(bus.arvalid, 0)
        trace = []
        for cycle in range(1, 15):             # cycle c: c clock edges after the handshake's
            ctx.set(bus.rready, cycle not in (6, 7))
            valid, data, last = ctx.get(bus.rvalid), ctx.get(bus.rdata), ctx.get(bus.rlast)
            trace.append((cycle, data, last) if valid else (cycle, None, 0))
            await ctx.tick()
        taken = [(c, d, l) for c, d, l in trace if d is not None and c not in (6, 7)]
        assert trace[:4] == [(c, None, 0) for c in range(1, 5)]
        assert [c for c, _, _ in taken] == [5, 8, 9, 10, 11, 12]
        assert [d for _, d, _ in taken] == words[1:7]
        assert [l for _, _, l in taken] == [0, 0, 0, 0, 0, 1]
        assert trace[5][1] == trace[6][1] == words[2]   # held through the stall
        assert trace[12][1] is None and trace[13][1] is None   # no seventh beat

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()


def test_axi_sram_rejects_bad_size():
    with pytest.raises(ValueError, match="power of two"):
        AXI4SRAM(16, 64, 1000)
    with pytest.raises(ValueError, match="init holds"):
        AXI4SRAM(16, 64, 16, init=bytes(17))


# --------------------------------------------------------------------------- self-test top
def _run_selftest(top, max_cycles=200_000):
    out = {}

    async def bench(ctx):
        for cycle in range(max_cycles):
            await ctx.tick()
            if not ctx.get(top.running):
                out["cycles"] = cycle
                break
        out["passed"], out["failed"] = ctx.get(top.passed), ctx.get(top.failed)

    sim = Simulator(top)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return out


#: A small engine and a GEMM that needs several tiles and reloads of A under its memories.
SMALL = AccelConfig(rows=2, cols=2, a_entries=256, b_entries=256, c_entries=128)
SMALL_GEMM = Gemm(19, 32, 19)


@pytest.mark.regress
def test_selftest_passes_in_simulation():
    """The real engine runs the self-test program: C matches the golden model and the DRAM
    counters equal the planner's bytes."""
    image = selftest_image(SMALL, SMALL_GEMM)
    out = _run_selftest(SelfTestTop(SMALL, mem_bytes=1 << 14, image=image))
    assert out["passed"] == 1 and out["failed"] == 0, out


@pytest.mark.regress
@pytest.mark.parametrize("break_it", ["checksum", "counter"])
def test_selftest_detects_a_wrong_result(break_it):
    good = selftest_image(SMALL, SMALL_GEMM)
    if break_it == "checksum":
        bad = replace(good, checksum=good.checksum ^ 1)
    else:
        # Expect one byte more DRAM traffic than the planner (and the engine) move.
        bad = replace(good, steps=tuple(
            replace(s, value=s.value + 1) if s.op == ScriptOp.CHECK and "read" in s.note else s
            for s in good.steps))
    out = _run_selftest(SelfTestTop(SMALL, mem_bytes=1 << 14, image=bad))
    assert out["passed"] == 0 and out["failed"] == 1, out


def test_default_image_needs_several_tiles():
    """The image a board build carries: A larger than the A memory, so the plan tiles M."""
    cfg = AccelConfig()
    image = selftest_image(cfg)
    gemm = default_gemm(cfg)
    assert gemm.M * gemm.K > cfg.a_entries and len(image.memory) <= 1 << 16
    assert [s.op for s in image.steps].count(ScriptOp.CHECK) == 5


def test_checksum_is_order_sensitive():
    a = bytes(range(16))
    b = a[8:] + a[:8]
    assert checksum(a, 64) != checksum(b, 64)
    assert checksum(bytes(8), 64) == 0


# --------------------------------------------------------------------------- PLL, parsing
@pytest.mark.parametrize("mhz, dividers", [
    # CLKI_DIV, CLKFB_DIV, CLKOP_DIV as printed by yowasp-ecppll -i 25 -o MHZ.
    (100, (1, 4, 6)), (75, (1, 3, 8)), (62.5, (2, 5, 10)), (50, (1, 2, 12)), (40, (5, 8, 15)),
])
def test_pll_dividers_match_ecppll(mhz, dividers):
    p = ecp5_pll_params(25e6, mhz * 1e6)
    assert (p["CLKI_DIV"], p["CLKFB_DIV"], p["CLKOP_DIV"]) == dividers
    assert p["fout_hz"] == pytest.approx(mhz * 1e6)
    assert 400e6 <= p["fvco_hz"] <= 800e6


def test_parse_array():
    """One parser for every PE-array option (--array, --pe): R,C or RxC; the FPGA flow then
    requires an engine that can be built."""
    assert parse_array("8,8") == parse_array("8x8") == (8, 8)
    assert parse_array("4,16") == (4, 16)
    for bad in ("8", "0,8", "8,x", "8by8", "1,2,3"):
        with pytest.raises(ValueError):
            parse_array(bad)
    assert engine_array(8, 8) == (8, 8)
    for bad in ((3, 4), (128, 128)):
        with pytest.raises(InvalidOptionError):
            engine_array(*bad)


def _segment(kind, cell_from, cell_to, delay):
    return {"type": kind, "delay": delay, "from": {"cell": cell_from, "port": "Q"},
            "to": {"cell": cell_to, "port": "D"}}


def test_nextpnr_summary_picks_engine_clock_path():
    path = [
        _segment("clk-to-q", "pe.acc_0_0_TRELLIS_FF_Q_3", "pe.acc_0_0_TRELLIS_FF_Q_3", 0.5),
        _segment("routing", "pe.acc_0_0_TRELLIS_FF_Q_3", "pe.mac_0_0_CCU2C_S0", 1.5),
        _segment("logic", "pe.mac_0_0_CCU2C_S0", "pe.mac_0_0_CCU2C_S0", 0.45),
        _segment("routing", "pe.mac_0_0_CCU2C_S0", "pe.acc_0_0_TRELLIS_FF_Q_9", 1.0),
        _segment("setup", "pe.acc_0_0_TRELLIS_FF_Q_9", "pe.acc_0_0_TRELLIS_FF_Q_9", 0.05),
    ]
    report = {
        "fmax": {"$glbnet$clk": {"achieved": 87.5, "constraint": 100.0}},
        "utilization": {"MULT18X18D": {"used": 64, "available": 156},
                        "TRELLIS_COMB": {"used": 9000, "available": 83640}},
        "critical_paths": [
            {"from": "<async>", "to": "posedge $glbnet$clk", "path": path[:2]},
            {"from": "posedge $glbnet$clk", "to": "posedge $glbnet$clk", "path": path},
        ],
    }
    s = nextpnr_summary(report)
    assert s["clock"] == "$glbnet$clk"
    assert s["clocks"]["$glbnet$clk"] == {"fmax_mhz": 87.5, "target_mhz": 100.0}
    assert s["utilisation"]["MULT18X18D"]["used"] == 64
    cp = s["critical_path"]
    assert (cp["start"], cp["end"]) == ("pe.acc_0_0", "pe.acc_0_0")
    assert cp["delay_ns"] == pytest.approx(3.5) and cp["routing_ns"] == pytest.approx(2.5)
    assert cp["logic_levels"] == 1 and cp["through"] == ["pe.acc_0_0", "pe.mac_0_0", "pe.acc_0_0"]
    assert critical_path_summary(report["critical_paths"][1]) == cp


def test_seed_statistics_and_dsp_registers():
    assert seed_statistics([150.2, 141.0, 160.7]) == {"min": 141.0, "median": 150.2,
                                                      "max": 160.7}
    assert seed_statistics([1.0, 2.0]) == {"min": 1.0, "median": 1.5, "max": 2.0}
    cell = {"type": "MULT18X18D", "parameters": {
        "REG_INPUTA_CLK": "CLK0", "REG_INPUTB_CLK": "CLK0", "REG_OUTPUT_CLK": "CLK0",
        "REG_PIPELINE_CLK": "NONE"}}
    bare = {"type": "MULT18X18D", "parameters": {"REG_INPUTA_CLK": "NONE"}}
    netlist = {"modules": {"top": {"cells": {"a": cell, "b": cell, "c": bare,
                                             "d": {"type": "LUT4"}}}}}
    assert dsp_registers(netlist) == {"A,B,OUT": 2, "none": 1}
    outreg = {"type": "DP16KD", "parameters": {"REGMODE_A": "NOREG", "REGMODE_B": "OUTREG "}}
    noreg = {"type": "DP16KD", "parameters": {"REGMODE_A": "NOREG", "REGMODE_B": "NOREG"}}
    netlist = {"modules": {"top": {"cells": {"a": outreg, "b": noreg, "c": cell}},
                           "sub": {"cells": {"d": outreg}}}}
    assert ebr_registers(netlist) == {"B": 2, "none": 1}


def test_pe_dsp_cells_counts_only_the_pe_arrays_multipliers():
    """The ECP5 build's address products come from multiplier.py too: only the cells under the
    PE array's ``mul_R_C`` are PE multipliers."""
    def dsp(src):
        return {"type": "MULT18X18D", "attributes": {"src": f"/x/hw/{src}:120|/x/hw/pe.py:3"}}
    netlist = {"modules": {"top": {"cells": {
        "engine.seq.pe.mul_0_0.dsp": dsp("multiplier.py"),
        "engine.seq.pe.mul_7_12.dsp": dsp("multiplier.py"),
        "engine.seq.loader.product.mul0.dsp": dsp("multiplier.py"),
        "engine.seq.pe.mul_1_0.p_q_MULT18X18D": dsp("pe_array.py"),
        "engine.seq.store.requant.pp_ll0.dsp": dsp("requant.py"),
        "engine.seq.pe.mul_1_1.lut": {"type": "LUT4", "attributes": {}},
    }}}}
    assert pe_dsp_cells(netlist) == 2


def test_run_flow_checks_seeds_and_multiplier_before_building(tmp_path):
    with pytest.raises(InvalidOptionError, match="--seed"):
        run_flow("ulx3s-85f", 2, 2, tmp_path, seed=(), top="axi")
    with pytest.raises(InvalidOptionError, match="--pe-multiplier"):
        run_flow("ulx3s-85f", 2, 2, tmp_path, pe_multiplier="lut", top="axi")
    with pytest.raises(InvalidOptionError, match="tile_memory"):
        run_flow("ulx3s-85f", 2, 2, tmp_path, tile_memory="bram", top="axi")
    for density in (0.2, 1.5, "0.6"):
        with pytest.raises(InvalidOptionError, match="--placer-density"):
            run_flow("ulx3s-85f", 2, 2, tmp_path, placer_density=density, top="axi")


# --------------------------------------------------------------------------- CLI
@pytest.mark.parametrize("argv, message", [
    (["fpga", "--board", "de10-nano"], "invalid choice"),
    (["fpga", "--board", "ulx3s-85f", "--array", "3,3"], "power of two"),
    (["fpga", "--board", "ulx3s-85f", "--array", "8by8"], "--array"),
    (["fpga", "--board", "ulx3s-85f", "--array", "0,8"], "positive integers"),
    (["fpga", "--board", "ulx3s-85f", "--array", "128,128"], "rows must be"),
    (["fpga", "--board", "ulx3s-85f", "--seed", "1,x"], "a seed is a whole number"),
    (["fpga", "--board", "ulx3s-85f", "--seed", "1,,2"], "a seed is a whole number"),
    (["fpga", "--board", "ulx3s-85f", "--pe-multiplier", "lut"], "invalid choice"),
    (["fpga", "--board", "ulx3s-85f", "--tile-memory", "bram"], "invalid choice"),
    (["fpga", "--board", "ulx3s-85f", "--engine", "block", "--tile-memory", "dp16kd"],
     "--tile-memory applies to --engine gemm only"),
    (["fpga", "--board", "ulx3s-85f", "--layers", "--tile-memory", "dp16kd"],
     "--tile-memory applies to builds"),
])
def test_cli_bad_input_is_one_line_exit_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and err.startswith("scanfuse: error:")


def _flow_arguments(argv, tmp_path, monkeypatch) -> dict:
    """The keyword arguments ``scanfuse fpga ... ARGV`` passes to ``run_flow`` (stopped there)."""
    import scanfuse.hw.fpga.flow as flow
    seen = {}

    def fake_run_flow(*args, **kwargs):
        seen.update(kwargs)
        raise flow.FlowError("stopped by the test")
    monkeypatch.setattr(flow, "run_flow", fake_run_flow)
    main(["fpga", "--board", "ulx3s-85f", "--array", "2,2", "--synth-only",
          "--out", str(tmp_path / "b")] + argv)
    return seen


@pytest.mark.parametrize("argv, kind", [([], None), (["--tile-memory", "dp16kd"], "dp16kd"),
                                         (["--tile-memory", "inferred"], "inferred")])
def test_cli_passes_tile_memory_to_the_flow(argv, kind, tmp_path, monkeypatch):
    """--tile-memory reaches run_flow unchanged (None: the flow's default, inferred)."""
    assert _flow_arguments(argv, tmp_path, monkeypatch)["tile_memory"] == kind


@pytest.mark.parametrize("argv, wanted", [([], True), (["--no-floorplan"], False)])
def test_cli_passes_floorplan_to_the_flow(argv, wanted, tmp_path, monkeypatch):
    """--floorplan is on by default; --no-floorplan reaches run_flow as floorplan=False."""
    assert _flow_arguments(argv, tmp_path, monkeypatch)["floorplan"] is wanted


# --------------------------------------------------------------------------- Yosys smoke test
def _yosys_or_skip():
    pytest.importorskip("amaranth_boards", reason="amaranth-boards not installed")
    try:
        find_tool("yosys")
    except FlowError as err:
        pytest.skip(str(err))


def test_pe_multiplier_selection(tmp_path):
    """--dsp except-pe: the Yosys selection finds exactly the PE array's rows x cols
    multipliers (and Booth-encodes them), not the requantiser's or the address arithmetic's."""
    _yosys_or_skip()
    from amaranth.back import rtlil

    from scanfuse.hw.engine import Engine
    (tmp_path / "e.il").write_text(rtlil.convert(Engine(SMALL), name="e"))
    script = (f"read_rtlil e.il; tee -q -o pe.txt select -count {PE_MULTIPLIERS}; "
              f"tee -q -o all.txt select -count t:$mul; proc; booth {PE_MULTIPLIERS}; "
              f"tee -q -o left.txt select -count t:$mul")
    subprocess.run(find_tool("yosys") + ["-q", "-p", script], cwd=tmp_path, check=True)
    count = {n: int((tmp_path / f"{n}.txt").read_text().split()[0]) for n in ("pe", "all", "left")}
    assert count["pe"] == SMALL.rows * SMALL.cols
    assert count["left"] == count["all"] - count["pe"] > 0


def test_yosys_maps_a_2x2_selftest_build(tmp_path):
    """synth_ecp5 on the ULX3S self-test top with a 2x2 array (small memories, to stay near
    30 s): everything maps to ECP5 cells, the PE multipliers land on MULT18X18D, and the report
    files carry the resources."""
    _yosys_or_skip()
    report = run_flow("ulx3s-85f", 2, 2, tmp_path, synth_only=True, cfg=SMALL,
                      image=selftest_image(SMALL, SMALL_GEMM), tile_memory="dp16kd")
    res = report["resources"]
    assert res["LUT4"] > 100 and res["TRELLIS_FF"] > 100 and res["DP16KD"] >= 1
    assert res["EHXPLLL"] == 1 and res["TRELLIS_IO"] == 10   # clock, button, 8 LEDs
    # The PE multipliers are the explicit registered MULT18X18D instances (not Yosys's bare
    # mapping): input A and B and output registers set in the synthesised netlist. So are the
    # address products' (hw/product.py): the loader's and the store path's two chunks each,
    # the sequencer's three region sizes one each; and the descriptor checker's three
    # footprints, one each.
    address_products = 2 + 2 + 3 + 3
    assert report["dsp"]["pe_multiplier"] == "mult18x18d"
    assert report["dsp"]["by_source"]["multiplier.py"] == 4 + address_products
    assert report["dsp"]["pe_macs_on_dsp"]
    assert report["dsp"]["registers"].get("A,B,OUT") == 4 + address_products
    assert report["config"]["pe_multiplier"] == "mult18x18d"
    # The A, B and C tile memories are the explicit DP16KD blocks with port B's output
    # register (hw/ebr.py): exactly their layouts' block count has REGMODE_B OUTREG in the
    # netlist.
    g = BufferGeometry(SMALL)
    want = (ebr_layout(g.a_word_bits, g.a_depth, g.a_lanes).blocks
            + ebr_layout(g.b_word_bits, g.b_depth, g.b_lanes).blocks
            + ebr_layout(g.c_word_bits, g.c_depth, g.c_lanes).blocks)
    assert report["ebr"]["tile_memory"] == "dp16kd"
    assert report["ebr"]["output_registers"].get("B") == want
    assert report["summary"] == {"lut4": res["LUT4"] + 2 * res["CCU2C"],
                                 "ff": res["TRELLIS_FF"], "dsp": res["MULT18X18D"],
                                 "ebr": res["DP16KD"]}
    assert report["engine_sources"] == source_hash()      # what it was built from
    # The DSP floorplan: the 4 PE multipliers and the 8 requantiser partial products carry
    # their BEL in the netlist nextpnr reads.
    assert report["floorplan"] == {"applied": True, "cells": 12, "pe_dsp_rows": [34],
                                   "requant_dsp_row": 10}
    cells = json.loads((tmp_path / "scanfuse_r2c2.json").read_text())[
        "modules"]["scanfuse_r2c2"]["cells"]
    placed = {n: c["attributes"]["BEL"] for n, c in cells.items() if "BEL" in c["attributes"]}
    assert len(placed) == 12 and len(set(placed.values())) == 12
    # The domain reset rides a global network: one DCCA, fed by the reset synchroniser's last
    # flip-flop, drives the LSR pins of the engine's flip-flops (hw/fpga/top.py, global_reset).
    dcca = [c for c in cells.values() if c["type"] == "DCCA"]
    assert len(dcca) == 1
    (rst_in,), (rst_out,) = dcca[0]["connections"]["CLKI"], dcca[0]["connections"]["CLKO"]
    assert [c["type"] for c in cells.values()
            if c["connections"].get("Q") == [rst_in]] == ["TRELLIS_FF"]
    lsr = [c for c in cells.values()
           if c["type"] == "TRELLIS_FF" and c["connections"].get("LSR") == [rst_out]]
    assert len(lsr) > 100
    stat = json.loads((tmp_path / "scanfuse_r2c2.stat.json").read_text())
    generic = {c for c in stat["design"]["num_cells_by_type"]
               if c.startswith("$") and c != "$scopeinfo"}
    assert not generic, f"cells left unmapped: {sorted(generic)}"
    on_disk = json.loads((tmp_path / "report.json").read_text())
    assert on_disk["resources"] == res and "fmax_mhz" not in on_disk
    assert "| MULT18X18D |" in (tmp_path / "report.md").read_text()
    assert ("DSP floorplan: 12 MULT18X18D on fixed sites (PE multipliers in DSP rows Y 34, the "
            "requantiser in Y 10)") in (tmp_path / "report.md").read_text()


def test_nextpnr_timing_options_with_and_without_a_placement_density():
    base = ["--freq", "100", "--router", "router2", *PLACER_TIMING_OPTIONS]
    assert nextpnr_timing_options(100) == base + ["--timing-allow-fail"]
    assert nextpnr_timing_options(62.5, 0.7) == (
        ["--freq", "62.5"] + base[2:] + ["--placer-heap-beta", "0.7", "--timing-allow-fail"])


@pytest.mark.parametrize("kind, shown", [(None, False), ("dp16kd", True), ("inferred", True)])
def test_report_command_reruns_the_tile_memory(kind, shown):
    """The report's rerun command names --tile-memory when it was given (the dp16kd builds'
    reports had printed the default build's command)."""
    from scanfuse.hw.fpga.boards import get_board
    from scanfuse.hw.fpga.flow import _command_line
    line = _command_line(get_board("ulx3s-85f"), AccelConfig(), "selftest", 100.0, "auto", False,
                         (1, 2, 3), None, tile_memory=kind)
    assert line.startswith("scanfuse fpga --board ulx3s-85f --array 8,8")
    assert (f"--tile-memory {kind}" in line) is shown
    assert line.endswith("--seed 1,2,3")
