"""Generated Verilog of ControlRegisters driven by cocotbext-axi's AxiLiteMaster, on Icarus and
on Verilator (the ``sim`` parameter, :mod:`scanfuse.sim.hdl_sim`; ``-k verilator`` picks one).

Bench: ``scanfuse.sim.regs_bench`` (identity and program registers with a strobed write, the
start/clear pulses and sticky DONE, a 64-bit counter snapshot while the counter moves every
cycle, SLVERR responses), each with and without random stalls on all five channels. Ports keep
Amaranth's names (``bus__awaddr``...); the bench maps them with
``AxiLiteBus.from_prefix(dut, "bus", bus_separator="__")``.
"""

import pytest
from amaranth.back import verilog

from scanfuse.hw.params import AccelConfig
from scanfuse.hw.regs import ControlRegisters
from scanfuse.sim import hdl_sim

SIMS = [pytest.param(sim, marks=pytest.mark.skipif(not hdl_sim.available(sim),
                                                   reason=f"{sim} missing"))
        for sim in hdl_sim.SIMULATORS]


@pytest.mark.parametrize("sim", SIMS)
@pytest.mark.parametrize("rows,cols,addr_bits,counter_bits",
                         [(8, 8, 32, 64), (16, 4, 48, 40)], ids=["r8c8-a32-c64", "r16c4-a48-c40"])
def test_regs_against_axil_master(tmp_path, rows, cols, addr_bits, counter_bits, sim):
    cfg = AccelConfig(rows=rows, cols=cols, addr_bits=addr_bits)
    verilog_text = verilog.convert(ControlRegisters(cfg, counter_bits), name="control_registers")
    # cached by the Verilog's hash (a Verilator build takes ~30 s of g++)
    runner, build_dir = hdl_sim.cached_build(sim, verilog_text, "control_registers")
    with hdl_sim.environment(sim):
        runner.test(hdl_toplevel="control_registers", test_module="scanfuse.sim.regs_bench",
                    build_dir=build_dir, test_dir=tmp_path,
                    extra_env={"SEED": str(rows * cols + addr_bits), "ROWS": str(rows),
                               "COLS": str(cols), "ADDR_BITS": str(addr_bits),
                               "COUNTER_BITS": str(counter_bits)})
