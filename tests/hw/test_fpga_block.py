# amaranth: UnusedElaboratable=no
"""The block engine's FPGA top (``scanfuse fpga --engine block``): it elaborates for the
board, a small block runs bit-exact through it against its on-chip AXI memory (descriptor
shifted in, results shifted out; marked ``regress``, run by ``make regress``), and bad options
are one-line errors with exit 2.

No place and route here (minutes; docs/fpga.md gives the command)."""

import numpy as np
import pytest
from amaranth.back import rtlil
from amaranth.sim import Simulator

from scanfuse.cli import main
from scanfuse.cli.fpga import block_fpga_config
from scanfuse.errors import InvalidOptionError
from scanfuse.hw.fpga.block_top import BlockEngineTop
from scanfuse.hw.fpga.boards import get_board
from scanfuse.hw.fpga.flow import run_flow
from scanfuse.hw.fused_program import BlockConfig, FusedDescriptor, FusedError
from scanfuse.hw.params import AccelConfig
from scanfuse.program.fused_block import BlockSchedule, BlockShape
from scanfuse.sim.fused_golden import fused_block_ref
from scanfuse.sim.fused_rtl import compile_fused, random_block

#: A small 4x4 engine on a 32-bit bus (as tests/hw/test_block_engine.py's), no CP unit, with
#: the PE multiplier the FPGA build uses (MULT18X18D; its behavioural model here).
SMALL = BlockConfig(accel=AccelConfig(rows=4, cols=4, axi_data_bits=32,
                                      pe_multiplier="mult18x18d"), x_entries=2048,
                    d_entries=1024, p_entries=512, w1_entries=512, w2_entries=512,
                    max_chunk=16, max_cout=16, max_width=12, cp=False)


def test_fpga_config_is_the_16k_partition_without_cp():
    bcfg = block_fpga_config(4, 4)
    assert (bcfg.accel.rows, bcfg.accel.cols, bcfg.accel.axi_data_bits, bcfg.cp) == (
        4, 4, 32, False)
    assert bcfg.x_entries + bcfg.d_entries + 4 * bcfg.p_entries + bcfg.w1_entries \
        + bcfg.w2_entries <= 16384


def test_top_elaborates_for_the_board():
    pytest.importorskip("amaranth_boards")
    top = BlockEngineTop(block_fpga_config(4, 4))
    assert top.desc_bits == FusedDescriptor(block_fpga_config(4, 4)).size
    text = rtlil.convert(top, platform=get_board("ulx3s-85f").make_platform())
    assert "EHXPLLL" in text and "\\engine" in text and "\\dram" in text
    assert text.count("DCCA") == 1        # the reset on a global network (top.global_reset)


def _run_top(image, expected_len, bcfg, mem_bytes):
    """Shift ``image.desc_bits`` in, start, shift the results out while the engine runs and
    after its ``done``; Y rebuilt from the engine's AXI write beats."""
    top = BlockEngineTop(bcfg, mem_bytes=mem_bytes, init=bytes(image.mem))
    sim = Simulator(top)
    sim.add_clock(1e-8)
    eng = top.engine
    nb = bcfg.accel.axi_bytes
    shadow = bytearray(image.mem) + bytearray(mem_bytes - len(image.mem))
    out = {}

    async def watch_writes(ctx):
        addr = None
        async for clk_edge, rst, awv, awr, awaddr, wv, wr, wdata, wstrb in ctx.tick().sample(
                eng.bus.awvalid, eng.bus.awready, eng.bus.awaddr, eng.bus.wvalid,
                eng.bus.wready, eng.bus.wdata, eng.bus.wstrb):
            # One write burst at a time in the on-chip memory: W beats follow their AW.
            if awv and awr:
                addr = awaddr
            if wv and wr:
                for i in range(nb):
                    if wstrb >> i & 1:
                        shadow[(addr + i) % mem_bytes] = wdata >> (8 * i) & 0xFF
                addr += nb

    async def bench(ctx):
        layout = top.result_layout
        total = sum(b for _, b in layout)

        async def read_results():
            ctx.set(top.capture, 1)
            await ctx.tick()
            ctx.set(top.capture, 0)
            value = 0
            for i in range(total):
                value |= ctx.get(top.dout) << i
                ctx.set(top.shift, 1)
                await ctx.tick()
                ctx.set(top.shift, 0)
            fields, pos = {}, 0
            for name, bits in layout:
                fields[name] = value >> pos & ((1 << bits) - 1)
                pos += bits
            return fields

        ctx.set(top.shift, 1)
        for i in range(top.desc_bits):
            ctx.set(top.din, image.desc_bits >> i & 1)
            await ctx.tick()
        ctx.set(top.shift, 0)
        ctx.set(top.go, 1)
        await ctx.tick()
        ctx.set(top.go, 0)
        await ctx.tick().repeat(3)              # go -> start register -> busy
        before = await read_results()
        out["before"] = before
        await ctx.tick().until(eng.done)
        out.update(await read_results())

    sim.add_process(watch_writes)
    sim.add_testbench(bench)
    sim.run_until(1e-8 * 400_000)
    return out, image.read_y(shadow)


@pytest.mark.regress        # about 2.5 min of CPU: the whole engine in the simulator
def test_small_block_bit_exact_through_the_top():
    """A 7x6 block (stride (1, 2), cout 12) through the top's descriptor register, the engine
    and the on-chip AXI memory: Y bit-exact, the serial result register's byte counters equal
    to the driver's prediction and no error."""
    shape = BlockShape(7, 6, 8, 16, 12, stride=(1, 2))
    x, block = random_block(np.random.default_rng(9), shape)
    image = compile_fused(x, block, SMALL, BlockSchedule(3, 8))
    expected = fused_block_ref(x, block)
    mem_bytes = 1 << (len(image.mem) - 1).bit_length()
    res, y = _run_top(image, expected.size, SMALL, mem_bytes)
    assert res["before"]["busy"] == 1 and res["before"]["done"] == 0
    assert res["done"] == 1 and FusedError(res["error"]) is FusedError.NONE
    assert res["bus_error"] == 0 and res["busy"] == 0
    assert (res["bytes_read"], res["bytes_written"]) == (image.traffic.read_bytes,
                                                         image.traffic.write_bytes)
    assert np.array_equal(y, expected)
    assert res["w_fold"] != 0 and res["cycles"] > 0


# ----------------------------------------------------------------------------- bad options
@pytest.mark.parametrize("argv, words", [
    (["--engine", "block", "--array", "2,2"], "--engine block --array 2,2"),
    (["--engine", "block", "--array", "4,4", "--top", "axi"], "--top and --layers"),
    (["--engine", "block", "--array", "4,4", "--layers"], "--top and --layers"),
    (["--engine", "block", "--array", "4,4", "--top", "selftest"], "--top and --layers"),
    (["--engine", "conv", "--array", "4,4"], "argument --engine: invalid choice"),
])
def test_bad_block_options_exit_2(argv, words, tmp_path, capsys):
    code = main(["fpga", "--board", "ulx3s-85f", *argv, "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and words in err
    assert not (tmp_path / "o").exists()


def test_run_flow_refuses_a_block_top_without_its_config(tmp_path):
    with pytest.raises(InvalidOptionError, match="BlockConfig"):
        run_flow("ulx3s-85f", 4, 4, tmp_path, top="block", synth_only=True)
    with pytest.raises(InvalidOptionError, match="not the 8x8 array"):
        run_flow("ulx3s-85f", 8, 8, tmp_path, top="block", synth_only=True,
                 bcfg=block_fpga_config(4, 4))
    with pytest.raises(InvalidOptionError, match="block top"):
        run_flow("ulx3s-85f", 4, 4, tmp_path, top="selftest", synth_only=True,
                 bcfg=block_fpga_config(4, 4))
