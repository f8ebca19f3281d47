"""Formal proofs in make test: the fast ones (seconds each), and planted bugs that must fail.

The whole set runs with ``make formal`` (``python -m scanfuse.sim.formal``); this file runs the
proofs marked ``fast`` in :data:`scanfuse.sim.formal.proofs.PROOFS` and every planted bug of
:mod:`scanfuse.sim.formal.planted` (a copy of a block with one mistake), each of which must make
its proof fail on the property it breaks.
"""

import pytest

from scanfuse.sim.formal.planted import PLANTED, caught
from scanfuse.sim.formal.proofs import PROOFS, proof
from scanfuse.sim.formal.run import run_sby, tools_missing

pytestmark = pytest.mark.skipif(bool(tools_missing()),
                                reason=f"formal tools missing: {tools_missing()} (make venv)")

FAST = [(p.name, mode) for p in PROOFS if p.fast for mode in p.tasks]


@pytest.mark.parametrize("name,mode", FAST, ids=[f"{n}-{m}" for n, m in FAST])
def test_fast_proof(tmp_path, name, mode):
    p = proof(name)
    result = run_sby(p.build(), tmp_path / "work", mode=mode, depth=p.tasks[mode],
                     script=p.script)
    assert result.status == "PASS", result


@pytest.mark.parametrize("planted", PLANTED, ids=[p.proof for p in PLANTED])
def test_planted_bug_fails(tmp_path, planted):
    with planted.context():
        harness = proof(planted.proof).build(**planted.kwargs)
        result = run_sby(harness, tmp_path / "work", mode=planted.mode, depth=planted.depth)
    assert result.status == "FAIL", result
    assert caught(planted, result), result.failed


def test_a_planted_bug_on_the_real_block_is_not_caught(tmp_path):
    """The check itself can fail: the real skid buffer passes where the planted one fails."""
    planted = PLANTED[0]
    result = run_sby(proof(planted.proof).build(), tmp_path / "work", mode=planted.mode,
                     depth=planted.depth)
    assert result.status == "PASS"
    assert not caught(planted, result)
