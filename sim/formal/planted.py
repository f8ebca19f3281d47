"""Planted bugs: each proof must fail on a copy of its block with one known mistake.

Each bug is a subclass of the real block that adds one wrong statement after the real
``elaborate`` (the RTL itself is not edited; later Amaranth statements win), or, for the
descriptor checker, a rule width too narrow patched in for the run. ``make formal`` runs them
after the proofs and requires every one to FAIL on the property it breaks (a harness that
passed them would be vacuous); ``tests/hw/test_formal.py`` runs them in ``make test``.
"""

import contextlib
import dataclasses
from typing import Callable

from ...hw.dma import TileDMA
from ...hw.requant import Requantizer
from ...hw.skid import SkidBuffer

__all__ = ["Planted", "PLANTED"]


class SkidDroppingValid(SkidBuffer):
    """Lets go of ``o.valid`` while the consumer stalls and no new beat comes (a lost beat)."""

    def elaborate(self, platform):
        m = super().elaborate(platform)
        with m.If(self.o.valid & ~self.o.ready & ~self.i.valid):
            m.d.sync += self.o.valid.eq(0)
        return m


class DmaDroppingArvalid(TileDMA):
    """Drops ARVALID after one cycle without ARREADY."""

    def elaborate(self, platform):
        m = super().elaborate(platform)
        with m.If(self.bus.arvalid & ~self.bus.arready):
            m.d.sync += self.bus.arvalid.eq(0)
        return m


class RequantDroppingLast(Requantizer):
    """Clears the ``last`` flag of a vector waiting on a stalled output (it leaves changed)."""

    def elaborate(self, platform):
        m = super().elaborate(platform)
        with m.If(self.o.valid & ~self.o.ready):
            m.d.sync += self.o.payload.last.eq(0)
        return m


@contextlib.contextmanager
def _narrow_rule_width():
    """The checker's rule arithmetic at 20 bits: the footprint products wrap."""
    from ...hw import program
    saved = program._rule_width
    program._rule_width = lambda cfg: 20
    try:
        yield
    finally:
        program._rule_width = saved


@dataclasses.dataclass(frozen=True)
class Planted:
    """A planted bug: the proof, how to plant it, the mode and depth that must fail, and the
    text of the property that must be the one reported (a line of ``harness``)."""

    proof: str
    bug: str
    kwargs: dict
    context: Callable
    mode: str
    depth: int
    harness: str
    property: str


PLANTED: tuple[Planted, ...] = (
    Planted("skid", "o.valid dropped while stalled", {"dut_class": SkidDroppingValid},
            contextlib.nullcontext, "prove", 4, "props.py", '_valid_held"'),
    Planted("dma_axi4", "ARVALID dropped without ARREADY", {"dut_class": DmaDroppingArvalid},
            contextlib.nullcontext, "bmc", 6, "props.py", '_valid_held"'),
    Planted("checker", "rule width 20 bits", {}, _narrow_rule_width, "prove", 6, "checker.py",
            '"verdict equals the rules"'),
    Planted("requant_stream", "last flag dropped", {"dut_class": RequantDroppingLast},
            contextlib.nullcontext, "bmc", 14, "stream.py", '"o carries the oldest vector'),
)


def property_line(harness: str, text: str) -> str:
    """``file:line`` of the first line holding ``text`` in the harness module ``harness``."""
    from pathlib import Path
    src = Path(__file__).parent / harness
    for number, line in enumerate(src.read_text().splitlines(), 1):
        if text in line:
            return f"{src}:{number}"
    raise ValueError(f"{text!r} not in {src}")


def caught(planted: Planted, result) -> bool:
    """The run failed, and on the property the bug breaks."""
    where = property_line(planted.harness, planted.property)
    return result.status == "FAIL" and any(where in f for f in result.failed)
