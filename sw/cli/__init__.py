"""The ``scanfuse`` command, the last stage of the flow: it may import every stage and
:mod:`scanfuse.sim`.

``scanfuse.cli.main``  the top-level parser, the shared options and the planning commands
``scanfuse.cli.sim``   ``scanfuse sim``: one GEMM on the engine's RTL, checked
``scanfuse.cli.fpga``  ``scanfuse fpga``: the FPGA build and ``--layers`` figures
"""

from .main import build_parser, main

__all__ = ["build_parser", "main"]
