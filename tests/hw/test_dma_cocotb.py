"""Generated Verilog of TileDMA against cocotbext-axi's AxiRam under Icarus (cocotb runner).

Bench: ``scanfuse.sim.dma_bench`` (read and write of a few tiles, with and without random
stalls on every channel). Ports keep Amaranth's names (``bus__awaddr``...); the bench maps them
with ``AxiBus.from_prefix(dut, "bus", bus_separator="__")``.
"""

import shutil

import pytest
from amaranth.back import verilog

from scanfuse.hw.dma import TileDMA
from scanfuse.hw.params import AccelConfig

pytestmark = pytest.mark.skipif(shutil.which("iverilog") is None, reason="Icarus Verilog missing")


@pytest.mark.parametrize("data_bits,max_burst", [(64, 16), (32, 4)], ids=["b64-mb16", "b32-mb4"])
def test_dma_against_axiram(tmp_path, data_bits, max_burst):
    from cocotb_tools.runner import get_runner

    cfg = AccelConfig(axi_data_bits=data_bits)
    src = tmp_path / f"tile_dma.b{data_bits}.v"
    src.write_text(verilog.convert(TileDMA(cfg, max_burst=max_burst), name="tile_dma"))
    build_dir = tmp_path / "sim_build"
    runner = get_runner("icarus")
    # -g2005 (after the runner's own -g2012): Yosys starts every `always @*` block at time 0
    # through a `reg ... = 0` initialiser, which is an event only under Verilog-2005 rules;
    # under -g2012 Icarus leaves those combinational outputs X until an input changes.
    runner.build(sources=[src], hdl_toplevel="tile_dma", build_dir=build_dir,
                 build_args=["-g2005"], timescale=("1ns", "1ps"))
    runner.test(hdl_toplevel="tile_dma", test_module="scanfuse.sim.dma_bench",
                build_dir=build_dir, test_dir=tmp_path,
                extra_env={"SEED": str(data_bits + max_burst)})
