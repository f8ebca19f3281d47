"""Host-side driver: turns plans into the byte images the accelerator fetches.

``scanfuse.driver.program``  layer descriptors and tile programs (packs with the hardware's
                             :class:`~scanfuse.hw.program.LayerDescriptor` layout)
``scanfuse.driver.image``    DRAM images: program and tensors at their addresses, predicted bytes
``scanfuse.driver.run``      run images on the RTL (Amaranth, Icarus, Verilator) and check them
                             against numpy and the planner (``scanfuse sim``)

The names of :mod:`scanfuse.driver.program` are re-exported lazily, so that
``python -m scanfuse.driver.program`` does not import the module twice.
"""

_PROGRAM_NAMES = ("DescriptorFields", "RequantFields", "LayerSpec", "ProgramImage",
                  "IllegalProgramError", "compile_layer", "compile_program", "build_program",
                  "pack", "unpack", "unpack_program")

__all__ = list(_PROGRAM_NAMES)


def __getattr__(name):
    if name in _PROGRAM_NAMES:
        from . import program
        return getattr(program, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
