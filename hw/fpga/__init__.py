"""FPGA implementation flow: boards, self-test tops, the on-chip AXI4 memory and the
synthesis / place-and-route / bitstream runner behind ``scanfuse fpga`` (``docs/fpga.md``).

Importing this package is cheap; the tools and ``amaranth-boards`` (the ``fpga`` extra) are
only needed when a build runs.
"""
