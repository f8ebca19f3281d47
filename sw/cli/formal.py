"""``scanfuse formal`` (``make formal``): the SymbiYosys proofs of :mod:`scanfuse.sim.formal`
and its planted bugs, as one status table.

Work directories go to ``build/formal/<proof>_<mode>`` (``$SCANFUSE_BUILD`` moves ``build``).
Exit status 1 when a proof or cover fails or a planted bug is not caught, 2 when the tools are
missing or a proof name is unknown.
"""

import sys

from ..sim.formal import DEFAULT_TIMEOUT_S
from .options import positive_real

__all__ = ["add_parser", "command"]


def add_parser(sub, parser_class) -> None:
    """Register ``scanfuse formal`` on the top-level subparsers."""
    p = sub.add_parser("formal", help="formal proofs of the engine's blocks (SymbiYosys)",
                       description="Run the formal proofs (bounded model checks, k-induction "
                                   "and covers, depths in clock cycles), then every planted "
                                   "bug, each of which must fail.")
    p.add_argument("names", nargs="*", metavar="PROOF", help="proofs to run (default: all)")
    p.add_argument("--fast", action="store_true", help="only the proofs make test runs")
    p.add_argument("--list", action="store_true", help="list the proofs and their depths")
    p.add_argument("--no-planted", action="store_true",
                   help="skip the planted bugs (run by default after the proofs)")
    p.add_argument("--timeout", type=positive_real, default=DEFAULT_TIMEOUT_S, metavar="S",
                   help=f"wall-clock limit per proof task or planted bug, in seconds (default "
                        f"{DEFAULT_TIMEOUT_S:.0f}); a task that hits it is reported TIMEOUT "
                        f"and counts as failed")


def command(args, console) -> int:
    """Run the selected proofs; exit 1 on a failed proof or an uncaught planted bug."""
    from ..errors import InvalidOptionError
    from ..sim.formal.run import tools_missing
    from ..sim.formal.suite import run_all
    from ..sim.formal.proofs import PROOFS

    known = {pr.name for pr in PROOFS}
    unknown = [n for n in args.names if n not in known]
    if unknown:
        raise InvalidOptionError(f"unknown proof {unknown[0]!r}; `scanfuse formal --list` "
                                 f"lists them ({', '.join(sorted(known))})")
    selected = [pr for pr in PROOFS if not args.names or pr.name in args.names]
    if args.fast:
        selected = [pr for pr in selected if pr.fast]
    if args.list:
        for pr in selected:
            print(f"{pr.name:16} {pr.block:40} "
                  + ", ".join(f"{mode} {depth}" for mode, depth in pr.tasks.items()))
        return 0
    missing = tools_missing()
    if missing:
        print(f"scanfuse: error: formal tools missing: {', '.join(missing)} (make formal "
              f"installs them)", file=sys.stderr)
        return 2
    bad = run_all(selected, planted=not args.no_planted, planted_for=args.names or None,
                  timeout=args.timeout)
    return 1 if bad else 0
