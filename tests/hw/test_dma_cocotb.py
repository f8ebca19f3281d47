"""Generated Verilog of TileDMA against cocotbext-axi's AxiRam, on Icarus and on Verilator (the
``sim`` parameter, :mod:`scanfuse.sim.hdl_sim`).

Bench: ``scanfuse.sim.dma_bench`` (read and write of a few tiles, with and without random
stalls on every channel). Ports keep Amaranth's names (``bus__awaddr``...); the bench maps them
with ``AxiBus.from_prefix(dut, "bus", bus_separator="__")``.
"""

import pytest
from amaranth.back import verilog

from scanfuse.hw.dma import TileDMA
from scanfuse.hw.params import AccelConfig
from scanfuse.sim import hdl_sim

SIMS = [pytest.param(sim, marks=pytest.mark.skipif(not hdl_sim.available(sim),
                                                   reason=f"{sim} missing"))
        for sim in hdl_sim.SIMULATORS]


@pytest.mark.parametrize("sim", SIMS)
@pytest.mark.parametrize("data_bits,max_burst", [(64, 16), (32, 4)], ids=["b64-mb16", "b32-mb4"])
def test_dma_against_axiram(tmp_path, data_bits, max_burst, sim):
    cfg = AccelConfig(axi_data_bits=data_bits)
    verilog_text = verilog.convert(TileDMA(cfg, max_burst=max_burst), name="tile_dma")
    # cached by the Verilog's hash (a Verilator build takes ~30 s of g++); build arguments per
    # simulator in hdl_sim.build_args (Icarus needs -g2005 for Yosys's `reg ... = 0`
    # initialisers of `always @*` blocks)
    runner, build_dir = hdl_sim.cached_build(sim, verilog_text, "tile_dma")
    with hdl_sim.environment(sim):
        runner.test(hdl_toplevel="tile_dma", test_module="scanfuse.sim.dma_bench",
                    build_dir=build_dir, test_dir=tmp_path,
                    extra_env={"SEED": str(data_bits + max_burst)})
