"""The ``scanfuse`` command, the last stage of the flow: it may import every stage and
:mod:`scanfuse.sim`.

``scanfuse.cli.main``     the top-level parser and :func:`main`; one module per subcommand,
                          each with its ``add_parser`` and ``command``:
``scanfuse.cli.layers``, ``.plan``, ``.schedule``, ``.trace``, ``.evaluate``, ``.decompose``
                          (planning and DRAM), ``.sim``, ``.fpga``, ``.bench``, ``.verilog``,
                          ``.regress``, ``.program`` (hardware and verification)
``scanfuse.cli.options``  the options several commands share, each parsed once

Ctrl-C from the very start: loading the command's modules (numpy, rich, Amaranth; about a
second) happens here, and an interrupt while they load makes :func:`main` (the console
script's entry point) print one line and return 130, as an interrupt of the work itself does,
instead of a traceback out of the imports.
"""

try:
    from .main import build_parser, main
except KeyboardInterrupt:
    def main(argv=None) -> int:
        """Ctrl-C arrived while the command's modules were loading: one line, exit 130."""
        import signal
        import sys
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        print("scanfuse: interrupted", file=sys.stderr, flush=True)
        return 128 + signal.SIGINT

    def build_parser():
        raise KeyboardInterrupt("interrupted while scanfuse.cli was loading")

__all__ = ["build_parser", "main"]
