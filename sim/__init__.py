"""Verification of the accelerator (``docs/verification.md``): golden models, cases,
simulator runs and the scoreboard.

Only the CLI and the tests import this package (``docs/architecture.md``); it imports the
hardware and the stages up to :mod:`scanfuse.program`. Modules in data-flow order:

``scanfuse.sim.golden``         numpy models of the datapath, bit-exact with the RTL
``scanfuse.sim.fused_golden``   numpy reference of a fused block ([1x1] -> depthwise+ -> 1x1)
``scanfuse.sim.cases``          engine sizing and cases: planned layers as DRAM images with
                                their golden outputs
``scanfuse.sim.host``           the host register protocol (start a program, wait, read
                                results), once, for every bench and the FPGA image
``scanfuse.sim.amaranth_axi``   AXI memory models for the Amaranth simulator
``scanfuse.sim.engine_sim``     the whole engine under the Amaranth simulator
``scanfuse.sim.engine_rtl``     the engine's Verilog, cached, under Icarus
``scanfuse.sim.cocotb_util``    helpers of the cocotb benches
``scanfuse.sim.engine_bench``   cocotb bench of the whole engine
``scanfuse.sim.dma_bench``      cocotb bench of the tile DMA
``scanfuse.sim.regs_bench``     cocotb bench of the control registers
``scanfuse.sim.verilator_run``  the engine under Verilator (regression of MobileNetV2's layers)
``scanfuse.sim.scoreboard``     a run against its case: outputs bit-exact, counters = planner
``scanfuse.sim.run``            simulator dispatch and ``scanfuse sim``
``scanfuse.sim.fused_rtl``      the fused-block engine: random blocks, Amaranth and cocotb runs
``scanfuse.sim.fused_block_bench`` cocotb bench of the fused-block engine (AxiRam)
``scanfuse.sim.fused_run``      ``scanfuse sim --network NET --fuse --layers B``
``scanfuse.sim.engine_perf``    cycles per tile against the ideal (``scanfuse bench``)
``scanfuse.sim.fpga_image``     the FPGA self-test image of one planned layer
``scanfuse.sim.fpga_layers``    MobileNetV2's layers at the FPGA clock (``scanfuse fpga --layers``)
"""
