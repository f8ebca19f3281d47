"""DRAM controller policies: when rows close and when the rank powers down.

A :class:`DramPolicy` is the part of the memory controller that sets how much standby
(background) and activate energy a slow, paced stream costs: the energy of bursts and
refreshes does not depend on it. The names users pass to ``--dram-policy``:

``dramsim2`` (default)
    DRAMSim2 as shipped (``system.ini.example``: ``ROW_BUFFER_POLICY=open_page``,
    ``USE_LOW_POWER=true``): a bank is precharged as soon as no queued request targets its
    open row (``CommandQueue.cpp``), at most ``TOTAL_ROW_ACCESSES = 4`` row hits follow one
    activate, and a rank whose queue is empty with every bank idle enters precharge
    power-down at once (IDD2P; leaving it takes ``tXP``, and it stays down at least ``tCKE``).
``close-on-idle``
    The same row policy with power-down off (DRAMSim2 with ``USE_LOW_POWER=false``).
``powerdown-after N``
    The same row policy; the rank powers down after ``N`` idle cycles (a timeout
    controller; ``powerdown-after 0`` is ``dramsim2``).
``open-page``
    Rows stay open until another row of the bank is needed or a refresh closes every bank;
    no power-down (DRAMsim3's default behaviour).
``always-on``
    The accounting of ScanFuse before this model: rows close only on a conflict, some bank
    counts as open from the first burst to the end of the run (IDD3N), fractional refreshes.
    Kept for comparison with older figures.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import InvalidOptionError

__all__ = ["DramPolicy", "POLICY_NAMES", "DEFAULT_POLICY", "parse_policy"]

#: Row policies: ``close-on-idle`` (DRAMSim2's open_page), ``open`` (close on conflict or
#: refresh) and ``legacy`` (close on conflict only, background as before).
ROW_POLICIES = ("close-on-idle", "open", "legacy")


@dataclass(frozen=True)
class DramPolicy:
    """A controller policy (see the module docstring).

    Parameters
    ----------
    rows : str
        ``"close-on-idle"``, ``"open"`` or ``"legacy"``.
    powerdown_after : int or None
        Idle controller cycles (``tCK``) before the rank enters precharge power-down, 0 for
        at once; ``None`` never powers down.
    max_row_hits : int
        Row hits allowed after one activate before the row is closed anyway (DRAMSim2's
        ``TOTAL_ROW_ACCESSES``); close-on-idle only.

    Raises
    ------
    InvalidOptionError
        For an unknown row policy, a negative ``powerdown_after`` or ``max_row_hits``, or
        power-down with a row policy that never closes rows.
    """

    rows: str = "close-on-idle"
    powerdown_after: int | None = 0
    max_row_hits: int = 4

    def __post_init__(self):
        if self.rows not in ROW_POLICIES:
            raise InvalidOptionError(f"row policy must be one of {', '.join(ROW_POLICIES)}, "
                                     f"not {self.rows!r}")
        n = self.powerdown_after
        if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 0):
            raise InvalidOptionError(f"power-down delay must be a non-negative integer number "
                                     f"of cycles, not {n!r}")
        if n is not None and self.rows != "close-on-idle":
            raise InvalidOptionError("power-down needs the close-on-idle row policy "
                                     "(a rank powers down only with every bank precharged)")
        if isinstance(self.max_row_hits, bool) or not isinstance(self.max_row_hits, int) \
                or self.max_row_hits < 0:
            raise InvalidOptionError(f"max_row_hits must be a non-negative integer, "
                                     f"not {self.max_row_hits!r}")

    @property
    def name(self) -> str:
        """The spelling ``--dram-policy`` takes for this policy."""
        if self.rows == "legacy":
            return "always-on"
        if self.rows == "open":
            return "open-page"
        if self.powerdown_after is None:
            return "close-on-idle"
        if self.powerdown_after == 0:
            return "dramsim2"
        return f"powerdown-after {self.powerdown_after}"

    def describe(self) -> str:
        """One line for report titles."""
        rows = {"close-on-idle": "rows close when idle", "open": "rows close on conflict or "
                "refresh", "legacy": "banks charged open all run"}[self.rows]
        if self.rows == "legacy":
            return f"{self.name} ({rows})"
        pd = ("no power-down" if self.powerdown_after is None else
              "power-down when idle" if self.powerdown_after == 0 else
              f"power-down after {self.powerdown_after} idle cycles")
        return f"{self.name} ({rows}, {pd})"


DEFAULT_POLICY = DramPolicy()
"""``dramsim2``: DRAMSim2 as shipped."""

_FIXED = {"dramsim2": DEFAULT_POLICY,
          "close-on-idle": DramPolicy("close-on-idle", None),
          "open-page": DramPolicy("open", None),
          "always-on": DramPolicy("legacy", None)}

POLICY_NAMES = (*_FIXED, "powerdown-after N")
"""Every spelling :func:`parse_policy` takes (``N`` a cycle count)."""

_AFTER = re.compile(r"powerdown-after[ =:]?(.*)")


def parse_policy(text: str | DramPolicy) -> DramPolicy:
    """The policy named ``text`` (see :data:`POLICY_NAMES`; case and surrounding blanks
    ignored). A :class:`DramPolicy` is returned unchanged.

    Raises
    ------
    InvalidOptionError
        For an unknown name or a bad ``N``.
    """
    if isinstance(text, DramPolicy):
        return text
    key = " ".join(str(text).strip().lower().split())
    if key in _FIXED:
        return _FIXED[key]
    match = _AFTER.fullmatch(key)
    if match:
        count = match.group(1).strip()
        if not (count.isascii() and count.isdigit()):
            raise InvalidOptionError(f"powerdown-after needs a non-negative whole number of "
                                     f"DRAM cycles, not {count!r}")
        return DramPolicy("close-on-idle", int(count))
    raise InvalidOptionError(f"unknown DRAM policy {text!r}; choose one of: "
                             f"{', '.join(POLICY_NAMES)}")
