"""Program stage: plans -> layer descriptors -> the DRAM image the accelerator fetches.

Modules in data-flow order:

``scanfuse.program.bridges``      planner values -> hardware codes (loop order, visit order,
                                  the address generator's GEMM descriptor)
``scanfuse.program.descriptors``  layer descriptors and tile programs, packed with the
                                  hardware's own :class:`~scanfuse.hw.program.LayerDescriptor`
                                  layout and checked with its rules
``scanfuse.program.image``        DRAM images: program and tensors at their addresses, with
                                  the planner's predicted bytes
``scanfuse.program.fused_block``  fused blocks for the block engine: schedule for its memories,
                                  descriptor, DRAM image and predicted bytes

Running images on the RTL and checking them is verification, in :mod:`scanfuse.sim`.
"""

from .descriptors import (DescriptorFields, IllegalProgramError, LayerSpec, ProgramImage,
                          RequantFields, build_program, compile_layer, compile_program, pack,
                          unpack, unpack_program)

__all__ = ["DescriptorFields", "RequantFields", "LayerSpec", "ProgramImage",
           "IllegalProgramError", "compile_layer", "compile_program", "build_program",
           "pack", "unpack", "unpack_program"]
