"""``python -m scanfuse.sim.formal [NAME ...]``: run the formal proofs, print a status table.

Work directories go to ``build/formal/<proof>_<mode>`` (``$SCANFUSE_BUILD`` moves ``build``).
Then every planted bug of :mod:`.planted` must fail. Exit status 1 when a proof or cover fails
or a planted bug is not caught, 2 when the tools are missing.
"""

import argparse
import sys
import time

from ..hdl_sim import build_root
from .planted import PLANTED, caught
from .proofs import PROOFS, proof
from .run import run_sby, tools_missing


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m scanfuse.sim.formal", description=__doc__)
    p.add_argument("names", nargs="*", help="proofs to run (default: all)")
    p.add_argument("--fast", action="store_true", help="only the proofs make test runs")
    p.add_argument("--list", action="store_true", help="list the proofs and exit")
    p.add_argument("--no-planted", action="store_true",
                   help="skip the planted bugs (run by default after the proofs)")
    args = p.parse_args(argv)
    selected = [proof(n) for n in args.names] if args.names else list(PROOFS)
    if args.fast:
        selected = [pr for pr in selected if pr.fast]
    if args.list:
        for pr in selected:
            print(f"{pr.name:16} {pr.block:40} "
                  + ", ".join(f"{mode} {depth}" for mode, depth in pr.tasks.items()))
        return 0
    missing = tools_missing()
    if missing:
        print(f"formal tools missing: {', '.join(missing)} (make formal installs them)",
              file=sys.stderr)
        return 2
    root = build_root() / "formal"
    start = time.monotonic()
    bad = 0
    print(f"{'proof':16} {'mode':6} {'depth':>5} {'status':8} {'steps':>5} {'time':>7}  block")
    for pr in selected:
        for mode, depth in pr.tasks.items():
            r = run_sby(pr.build(), root / f"{pr.name}_{mode}", mode=mode, depth=depth,
                        script=pr.script)
            steps = "" if r.steps is None else str(r.steps)
            print(f"{pr.name:16} {mode:6} {depth:5} {r.status:8} {steps:>5} {r.seconds:6.1f}s  "
                  f"{pr.block}", flush=True)
            for what in r.failed:
                print(f"    {what}")
            bad += not r.passed
    if not args.no_planted:
        print("planted bugs (each must FAIL on the property it breaks):")
        for pl in PLANTED:
            if args.names and pl.proof not in args.names:
                continue
            with pl.context():
                r = run_sby(proof(pl.proof).build(**pl.kwargs), root / f"planted_{pl.proof}",
                            mode=pl.mode, depth=pl.depth)
            ok = caught(pl, r)
            print(f"{pl.proof:16} {pl.mode:6} {pl.depth:5} {r.status:8} {'':>5} "
                  f"{r.seconds:6.1f}s  {'caught' if ok else 'NOT CAUGHT'}: {pl.bug}", flush=True)
            bad += not ok
    print(f"{bad} failed; {time.monotonic() - start:.0f} s in all; logs in {root}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
