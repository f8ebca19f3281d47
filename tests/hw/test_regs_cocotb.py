"""Generated Verilog of ControlRegisters driven by cocotbext-axi's AxiLiteMaster under Icarus.

Bench: ``scanfuse.sim.regs_bench`` (identity and program registers with a strobed write, the
start/clear pulses and sticky DONE, a 64-bit counter snapshot while the counter moves every
cycle, SLVERR responses), each with and without random stalls on all five channels. Ports keep
Amaranth's names (``bus__awaddr``...); the bench maps them with
``AxiLiteBus.from_prefix(dut, "bus", bus_separator="__")``.
"""

import shutil

import pytest
from amaranth.back import verilog

from scanfuse.hw.params import AccelConfig
from scanfuse.hw.regs import ControlRegisters

pytestmark = pytest.mark.skipif(shutil.which("iverilog") is None, reason="Icarus Verilog missing")


@pytest.mark.parametrize("rows,cols,addr_bits,counter_bits",
                         [(8, 8, 32, 64), (16, 4, 48, 40)], ids=["r8c8-a32-c64", "r16c4-a48-c40"])
def test_regs_against_axil_master(tmp_path, rows, cols, addr_bits, counter_bits):
    from cocotb_tools.runner import get_runner

    cfg = AccelConfig(rows=rows, cols=cols, addr_bits=addr_bits)
    src = tmp_path / f"control_registers.{cfg.name}.v"
    src.write_text(verilog.convert(ControlRegisters(cfg, counter_bits), name="control_registers"))
    build_dir = tmp_path / "sim_build"
    runner = get_runner("icarus")
    # -g2005 after the runner's -g2012: see tests/hw/test_dma_cocotb.py (Yosys's `reg ... = 0`
    # initialisers of `always @*` blocks only start them at time 0 under Verilog-2005 rules).
    runner.build(sources=[src], hdl_toplevel="control_registers", build_dir=build_dir,
                 build_args=["-g2005"], timescale=("1ns", "1ps"))
    runner.test(hdl_toplevel="control_registers", test_module="scanfuse.sim.regs_bench",
                build_dir=build_dir, test_dir=tmp_path,
                extra_env={"SEED": str(rows * cols + addr_bits), "ROWS": str(rows),
                           "COLS": str(cols), "ADDR_BITS": str(addr_bits),
                           "COUNTER_BITS": str(counter_bits)})
