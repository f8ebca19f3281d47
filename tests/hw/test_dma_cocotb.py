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
    src = tmp_path / f"tile_dma.b{data_bits}.v"
    src.write_text(verilog.convert(TileDMA(cfg, max_burst=max_burst), name="tile_dma"))
    build_dir = tmp_path / "sim_build"
    # Build arguments per simulator: hdl_sim.build_args (Icarus needs -g2005 for Yosys's
    # `reg ... = 0` initialisers of `always @*` blocks).
    with hdl_sim.environment(sim):
        runner = hdl_sim.get_runner(sim)
        runner.build(sources=[src], hdl_toplevel="tile_dma", build_dir=build_dir,
                     build_args=hdl_sim.build_args(sim), timescale=("1ns", "1ps"))
        runner.test(hdl_toplevel="tile_dma", test_module="scanfuse.sim.dma_bench",
                    build_dir=build_dir, test_dir=tmp_path,
                    extra_env={"SEED": str(data_bits + max_burst)})
