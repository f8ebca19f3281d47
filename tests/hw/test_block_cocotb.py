# amaranth: UnusedElaboratable=no
"""The fused-block engine's Verilog under Icarus (cocotb) against cocotbext-axi's AxiRam with
random stalls on every AXI channel: bit-exact against ``fused_block_ref``, DMA byte counters
equal to the driver's prediction."""

import numpy as np
import pytest

from scanfuse.hw.fused_program import BlockConfig, FusedError
from scanfuse.program.fused_block import BlockSchedule, BlockShape
from scanfuse.sim import hdl_sim
from scanfuse.sim.fused_golden import fused_block_ref
from scanfuse.sim.fused_rtl import compile_fused, random_block, run_block_cocotb

SMALL = BlockConfig(x_entries=4096, d_entries=2048, p_entries=1024, w1_entries=1024,
                    w2_entries=1024, max_chunk=32, max_cout=32, max_width=16)


@pytest.mark.skipif(not hdl_sim.available("icarus"), reason="needs iverilog")
def test_residual_block_on_icarus(tmp_path):
    shape = BlockShape(8, 8, 16, 32, 16, residual=True)
    x, block = random_block(np.random.default_rng(0), shape)
    image = compile_fused(x, block, SMALL, BlockSchedule(3, 16))    # 3 strips, 2 chunks
    expected = fused_block_ref(x, block)
    run = run_block_cocotb(image, expected, SMALL, sim="icarus", seed=1, p_stall=0.3,
                           work_dir=tmp_path)
    assert run.error is FusedError.NONE
    assert np.array_equal(run.y, expected)
    assert (run.read_bytes, run.write_bytes) == (image.traffic.read_bytes,
                                                 image.traffic.write_bytes)
