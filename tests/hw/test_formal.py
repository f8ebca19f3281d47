"""Formal proofs in make test: the fast ones (seconds each), and planted bugs that must fail.

The whole set runs with ``make formal`` (``python -m scanfuse.sim.formal``); this file runs the
proofs marked ``fast`` in :data:`scanfuse.sim.formal.proofs.PROOFS` and shows that the
harnesses catch bugs: each planted bug is a subclass of the real block that adds one wrong
statement after the real ``elaborate`` (the RTL itself is not edited), or, for the descriptor
checker, a rule width too narrow. Each must make its proof fail, on the property it breaks.
"""

import pytest
from scanfuse.hw.dma import TileDMA
from scanfuse.hw.skid import SkidBuffer
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


def _line_of(path_suffix: str, text: str) -> str:
    """``file:line`` of the line holding ``text`` in the harness source ``path_suffix``."""
    import scanfuse.sim.formal as pkg
    from pathlib import Path
    src = Path(pkg.__file__).parent / path_suffix
    for number, line in enumerate(src.read_text().splitlines(), 1):
        if text in line:
            return f"{src}:{number}"
    raise AssertionError(f"{text!r} not in {src}")


class SkidDroppingValid(SkidBuffer):
    """Planted bug: lets go of o.valid while the consumer stalls (the beat is lost)."""

    def elaborate(self, platform):
        m = super().elaborate(platform)
        with m.If(self.o.valid & ~self.o.ready & ~self.i.valid):
            m.d.sync += self.o.valid.eq(0)
        return m


class DmaDroppingArvalid(TileDMA):
    """Planted bug: drops ARVALID after one cycle without ARREADY."""

    def elaborate(self, platform):
        m = super().elaborate(platform)
        with m.If(self.bus.arvalid & ~self.bus.arready):
            m.d.sync += self.bus.arvalid.eq(0)
        return m


def test_planted_skid_bug_fails(tmp_path):
    result = run_sby(proof("skid").build(dut_class=SkidDroppingValid), tmp_path / "w",
                     mode="prove", depth=4)
    assert result.status == "FAIL"
    valid_held = _line_of("props.py", '_valid_held"')
    assert any(valid_held in f for f in result.failed), result.failed


def test_planted_dma_bug_fails(tmp_path):
    result = run_sby(proof("dma_axi4").build(dut_class=DmaDroppingArvalid), tmp_path / "w",
                     mode="bmc", depth=6)
    assert result.status == "FAIL"
    valid_held = _line_of("props.py", '_valid_held"')
    assert any(valid_held in f for f in result.failed), result.failed


def test_planted_checker_bug_fails(tmp_path, monkeypatch):
    """A rule width of 20 bits lets the footprint products wrap: the gates then differ from
    the rules for some descriptor."""
    import scanfuse.hw.program as program
    monkeypatch.setattr(program, "_rule_width", lambda cfg: 20)
    result = run_sby(proof("checker").build(), tmp_path / "w", mode="prove", depth=4)
    assert result.status == "FAIL"
    assert any(_line_of("checker.py", '"verdict equals the rules"') in f
               for f in result.failed), result.failed
