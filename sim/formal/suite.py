"""The whole formal suite as one status table: every selected proof, then the planted bugs.

:func:`run_all` is what ``scanfuse formal`` (``make formal``) runs; work directories go to
``build/formal/<proof>_<mode>`` (``$SCANFUSE_BUILD`` moves ``build``).
"""

import sys
import time

from ..hdl_sim import build_root
from . import DEFAULT_TIMEOUT_S
from .planted import PLANTED, caught
from .proofs import Proof, proof
from .run import run_sby

__all__ = ["run_all"]


def run_all(selected: "list[Proof]", *, planted: bool = True,
            planted_for: "list[str] | None" = None, out=None,
            timeout: float = DEFAULT_TIMEOUT_S) -> int:
    """Run every task of ``selected``, then (``planted``) every planted bug (only those of the
    proofs named in ``planted_for`` when given); print one line per run to ``out``. Each run
    may take ``timeout`` seconds of wall clock (then it is TIMEOUT, a failure). Returns how
    many proofs failed plus how many planted bugs were not caught. ``out`` defaults to the
    ``sys.stdout`` of the call (not of the import: a redirected stream may be closed since)."""
    out = sys.stdout if out is None else out
    root = build_root() / "formal"
    start = time.monotonic()
    bad = 0
    print(f"{'proof':16} {'mode':6} {'depth':>5} {'status':8} {'steps':>5} {'time':>7}  block",
          file=out)
    for pr in selected:
        for mode, depth in pr.tasks.items():
            r = run_sby(pr.build(), root / f"{pr.name}_{mode}", mode=mode, depth=depth,
                        script=pr.script, timeout=timeout)
            steps = "" if r.steps is None else str(r.steps)
            print(f"{pr.name:16} {mode:6} {depth:5} {r.status:8} {steps:>5} {r.seconds:6.1f}s  "
                  f"{pr.block}", file=out, flush=True)
            for what in r.failed:
                print(f"    {what}", file=out)
            bad += not r.passed
    if planted:
        print("planted bugs (each must FAIL on the property it breaks):", file=out)
        for pl in PLANTED:
            if planted_for and pl.proof not in planted_for:
                continue
            with pl.context():
                r = run_sby(proof(pl.proof).build(**pl.kwargs), root / f"planted_{pl.proof}",
                            mode=pl.mode, depth=pl.depth, timeout=timeout)
            ok = caught(pl, r)
            print(f"{pl.proof:16} {pl.mode:6} {pl.depth:5} {r.status:8} {'':>5} "
                  f"{r.seconds:6.1f}s  {'caught' if ok else 'NOT CAUGHT'}: {pl.bug}",
                  file=out, flush=True)
            bad += not ok
    print(f"{bad} failed; {time.monotonic() - start:.0f} s in all; logs in {root}", file=out)
    return bad
