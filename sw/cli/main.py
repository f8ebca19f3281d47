"""The ``scanfuse`` command.

Units: buffer sizes are in entries (elements of the on-chip buffer; ``64K`` = ``64Ki`` =
65,536); GEMM dimensions and traffic in elements unless a column or key says bytes.
Bad input prints one line ``scanfuse: error: ...`` and exits with code 2.
"""

import argparse
import sys

from rich.console import Console

from ..errors import ScanFuseError
from . import (bench, decompose, evaluate, fpga, layers, plan, program, regress, schedule, sim,
               trace, verilog)

#: Every ``scanfuse`` subcommand and the module holding its parser (``add_parser``) and
#: handler (``command``), in the order of ``scanfuse --help``.
SUBCOMMANDS = {"layers": layers, "plan": plan, "schedule": schedule, "trace": trace,
               "evaluate": evaluate, "decompose": decompose, "fpga": fpga, "sim": sim,
               "bench": bench, "verilog": verilog, "regress": regress, "program": program}

EXIT_BAD_INPUT = 2


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors and exit code 2."""

    def error(self, message: str):
        raise _UsageError(message)


class _UsageError(Exception):
    pass


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="scanfuse", description=__doc__,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for module in SUBCOMMANDS.values():
        module.add_parser(sub, _Parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        # Pipes and CI logs get wide tables instead of rich's 80-column default.
        console = Console() if sys.stdout.isatty() else Console(width=200)
        return SUBCOMMANDS[args.command].command(args, console)
    except (_UsageError, ScanFuseError) as err:
        print(f"scanfuse: error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:
        sys.stderr.close()
        return 0

