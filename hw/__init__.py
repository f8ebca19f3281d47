"""The accelerator: an int8 pointwise-conv (GEMM) engine in Amaranth 0.5 (``docs/hardware.md``).

The hardware core imports nothing from the planner or the benches (``docs/architecture.md``);
the program stage (:mod:`scanfuse.program`) bridges plans to its layouts. Modules in data-flow
order, from configuration to the generated Verilog:

``scanfuse.hw.params``     :class:`~scanfuse.hw.params.AccelConfig`, ``DIM_BITS`` and the
                           architecture's geometry (``split_footprints``), the one source of
                           every width; the planner may import it
``scanfuse.hw.axi``        AXI4 and AXI4-Lite signatures
``scanfuse.hw.regs``       the control registers (AXI4-Lite slave) and the register map
``scanfuse.hw.requant``    output stage: int32 accumulators -> int8
``scanfuse.hw.addrgen``    the tile address generator (the hardware tile walk)
``scanfuse.hw.program``    the layer descriptor layout and its legality rules, as Python
                           checks and as gates
``scanfuse.hw.skid``       register slice for valid/ready streams
``scanfuse.hw.axi_slice``  register slice for an AXI4 link (one skid buffer per channel)
``scanfuse.hw.queue``      a valid/ready queue in LUT RAM, for wide payloads
``scanfuse.hw.lane_fifo``  a FIFO cut into lanes, each with its own pointer copies
``scanfuse.hw.dma``        tile DMA between DRAM (AXI4) and the on-chip buffer
``scanfuse.hw.packer``     C rows -> DMA write beats
``scanfuse.hw.buffer``     the A, B and C memories
``scanfuse.hw.multiplier`` the PE multipliers (inferred, or a registered ECP5 DSP block)
``scanfuse.hw.product``    wide unsigned address products on those multipliers
``scanfuse.hw.pe_array``   the systolic int8 PE array
``scanfuse.hw.depthwise``  the depthwise unit: line buffer and 3x3 window
``scanfuse.hw.fetch``      the sequencer's descriptor fetch and check
``scanfuse.hw.loader``     the sequencer's tile loader (A, B and C tiles into the buffer)
``scanfuse.hw.feed``       the sequencer's compute feed (A and B words -> PE array k steps)
``scanfuse.hw.accumulator`` the sequencer's C read-modify-write of result rows
``scanfuse.hw.store``      the sequencer's store path (C -> requantiser/packer -> DMA)
``scanfuse.hw.fused_program`` the fused-block descriptor and its rules, in Python and in gates
``scanfuse.hw.sequencer``  runs a tile program: fetch, check, walk, load, compute, store
``scanfuse.hw.engine``     the top level: registers, sequencer, DMA, buffer and PE array
``scanfuse.hw.block_engine`` the fused-block engine: expand -> depthwise -> project (+ X) on
                           chip, a separate top level
``scanfuse.hw.verilog``    the engine's Verilog, named by configuration, and its lint
``scanfuse.hw.fpga``       FPGA boards, self-test tops and the Yosys/nextpnr flow
"""
