"""The ``scanfuse`` command.

Units: buffer sizes are in entries (elements of the on-chip buffer; ``64K`` = ``64Ki`` =
65,536); GEMM dimensions and traffic in elements unless a column or key says bytes.
Bad input prints one line ``scanfuse: error: ...`` and exits with code 2.
"""

import argparse
import errno
import os
import signal
import sys

from rich.console import Console

from ..errors import ScanFuseError
from . import (bench, campaign, coverage, decompose, evaluate, formal, fpga, layers, plan, program,
               regress, schedule, sim, trace, verilog)

#: Every ``scanfuse`` subcommand and the module holding its parser (``add_parser``) and
#: handler (``command``), in the order of ``scanfuse --help``.
SUBCOMMANDS = {"layers": layers, "plan": plan, "schedule": schedule, "trace": trace,
               "evaluate": evaluate, "decompose": decompose, "fpga": fpga, "sim": sim,
               "bench": bench, "verilog": verilog, "regress": regress, "campaign": campaign,
               "coverage": coverage, "formal": formal, "program": program}

EXIT_BAD_INPUT = 2
#: Exit codes after Ctrl-C (SIGINT) and SIGTERM: 128 + the signal number, as shells report.
EXIT_INTERRUPTED = 128 + signal.SIGINT
EXIT_TERMINATED = 128 + signal.SIGTERM


class _Terminated(BaseException):
    """Raised in the main thread by SIGTERM, so that ``finally`` blocks and context managers
    (temporary folders, atomic writes) clean up as they do for Ctrl-C."""


def _on_sigterm(signum, frame):
    # One termination is enough: a second SIGTERM (``timeout`` forwarding it, a supervisor
    # signalling the whole group) must not abort the clean-up the first one started.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise _Terminated()


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
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        args = build_parser().parse_args(argv)
        # Pipes and CI logs get wide tables instead of rich's 80-column default.
        console = Console() if sys.stdout.isatty() else Console(width=200)
        code = SUBCOMMANDS[args.command].command(args, console)
        sys.stdout.flush()
        return code
    except (_UsageError, ScanFuseError) as err:
        print(f"scanfuse: error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        _quiet_exit("interrupted")
        return EXIT_INTERRUPTED
    except _Terminated:
        _quiet_exit("terminated")
        return EXIT_TERMINATED
    except OSError as err:
        if err.errno != errno.ENOSPC:
            raise
        # stdout redirected to a full disk (or /dev/full): one line, and no second complaint
        # when Python flushes stdout at exit.
        sys.stdout = open(os.devnull, "w")
        _quiet_exit(f"error: cannot write the output: {err.strerror}")
        return EXIT_BAD_INPUT


def _quiet_exit(message: str) -> None:
    """One line on stderr; later signals are ignored so the line is the last word."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        print(f"scanfuse: {message}", file=sys.stderr, flush=True)
    except OSError:
        pass

