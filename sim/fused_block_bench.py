"""cocotb bench: the fused-block engine's Verilog against cocotbext-axi's AxiRam.

Run through :func:`scanfuse.sim.fused_rtl.run_block_cocotb` (Icarus or Verilator). The top
level is ``verilog.convert(BlockEngine(bcfg), name="block_engine")``: ports ``clk``, ``rst``,
``desc`` (the packed :class:`~scanfuse.hw.fused_program.FusedDescriptor`), ``start``,
``busy``, ``done``, ``error``, ``bytes_read``, ``bytes_written``, ``cycles``, ``bus_error``
and the AXI4 master ``bus__*``.

``run_block`` reads ``RUN_DIR/image.bin`` and ``RUN_DIR/image.json`` (``desc`` as a hex
string, ``seed``, ``p_stall``: the probability of a pause on each AXI channel in a cycle,
``max_cycles``), runs the block, and leaves ``mem_out.bin`` and ``run.json`` (``error``,
``bytes_read``, ``bytes_written``, ``cycles``, ``bus_read_bytes``/``bus_write_bytes`` as the
RAM saw them) beside it; the caller compares.
"""

import json
import os
import random
from pathlib import Path

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge
from cocotbext.axi import AxiBus, AxiRam

from scanfuse.sim.cocotb_util import random_pause, reset_dut


@cocotb.test()
async def run_block(dut):
    run_dir = Path(os.environ["RUN_DIR"])
    meta = json.loads((run_dir / "image.json").read_text())
    mem = (run_dir / "image.bin").read_bytes()
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    size = max(4096, -(-len(mem) // 4096) * 4096)
    ram = AxiRam(AxiBus.from_prefix(dut, "bus", bus_separator="__"), dut.clk, dut.rst, size=size)
    rng = random.Random(int(meta.get("seed", 0)))
    p = float(meta.get("p_stall", 0.0))
    if p > 0:
        for ch in (ram.write_if.aw_channel, ram.write_if.w_channel, ram.write_if.b_channel,
                   ram.read_if.ar_channel, ram.read_if.r_channel):
            ch.set_pause_generator(random_pause(random.Random(rng.random()), p))
    ram.write(0, mem)
    dut.start.value = 0
    dut.desc.value = int(meta["desc"], 16)
    await reset_dut(dut)
    dut.start.value = 1
    await RisingEdge(dut.clk)
    dut.start.value = 0
    limit = int(meta.get("max_cycles", 10_000_000))
    for _ in range(0, limit, 100):
        await ClockCycles(dut.clk, 100)
        if int(dut.done.value):
            break
    else:
        raise TimeoutError("the block engine did not finish")
    (run_dir / "mem_out.bin").write_bytes(ram.read(0, len(mem)))
    (run_dir / "run.json").write_text(json.dumps({
        "error": int(dut.error.value), "bytes_read": int(dut.bytes_read.value),
        "bytes_written": int(dut.bytes_written.value), "cycles": int(dut.cycles.value),
    }) + "\n")
