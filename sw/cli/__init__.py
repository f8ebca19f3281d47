"""The ``scanfuse`` command, the last stage of the flow: it may import every stage and
:mod:`scanfuse.sim`.

``scanfuse.cli.main``     the top-level parser and :func:`main`; one module per subcommand,
                          each with its ``add_parser`` and ``command``:
``scanfuse.cli.layers``, ``.plan``, ``.schedule``, ``.trace``, ``.evaluate``, ``.decompose``
                          (planning and DRAM), ``.sim``, ``.fpga``, ``.bench``, ``.verilog``,
                          ``.regress``, ``.program`` (hardware and verification)
``scanfuse.cli.options``  the options several commands share, each parsed once
"""

from .main import build_parser, main

__all__ = ["build_parser", "main"]
