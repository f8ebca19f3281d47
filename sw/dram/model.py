"""Vectorised DRAM model: a controller policy, a bound-based runtime and DRAMSim2-style energy.

:func:`simulate` takes a stream of burst-sized transactions (one per ``bytes_per_burst``
bytes, 64 B for the DDR3 preset) to one rank of one channel and returns a
:class:`DramResult`: counts of reads, writes, activates and refreshes, the cycles the rank
spends with some bank open, awake with every bank precharged, and powered down, a runtime in
memory cycles and the energy split the way DRAMSim2 splits it (``MemoryController.cpp``
energy counters; ``/work/shared/method.md`` section 8). Millions of transactions run in well
under a second because nothing loops over transactions in Python.

Controller policy (:mod:`scanfuse.dram.policy`, counted by :mod:`scanfuse.dram.controller`)
    The default, ``dramsim2``, is DRAMSim2 as shipped: a row closes as soon as no queued
    request wants it, and an idle rank enters precharge power-down at once. ``close-on-idle``
    keeps the rows but never powers down, ``powerdown-after N`` powers down after ``N`` idle
    cycles, ``open-page`` keeps rows open until a conflict or refresh (DRAMsim3), and
    ``always-on`` is ScanFuse's earlier accounting (rows open until a conflict, some bank
    counted open from the first burst to the end, fractional refreshes).

Runtime (a lower-bound model, in cycles of ``tCK``)
    * Data bus, honouring issue times: a FIFO single-server queue (Lindley recursion,
      vectorised with a running maximum), ``done_k = max(issue_k, done_{k-1}) + d_k`` with
      ``d_k = max(tCCD, BL/2)`` per burst plus ``tWTR`` when a read follows a write.
    * Per bank: ``max(n_b * max(tCCD, BL/2) + act_b * (tRCD + tRP), act_b * tRC)``.
    * Activate rate: ``activates * max(tRRD, tFAW/4)`` (rank-wide tRRD and tFAW).
    * Refresh: the device work (the largest of the three work terms) is stretched by
      ``tREFI / (tREFI - tRFC)``, the rank being blocked ``tRFC`` of every refresh period.
    * ``runtime = max(bus queue end, first issue + stretched work) + CL``, or the run length
      the caller gives when that is longer (the engine computes after its last burst).

    The bank and activate terms count row misses as an open-page controller would (rows open
    until a conflict), so they are exact for steady streams and optimistic for bursty ones.
    Not modelled: read-to-write turnaround, tWR and tRTP before precharge, DDR4 bank-group
    (``_L``) timings, command-bus conflicts, queue depths, multiple ranks or channels.

Energy (joules)
    ``burst`` = reads x read-burst energy + writes x write-burst energy; ``act_pre`` =
    activates x ACT+PRE energy; ``refresh`` = refreshes x refresh energy; ``background`` =
    open cycles x IDD3N power + precharged cycles x IDD2N power + powered-down cycles x IDD2P
    power (:func:`energy_of_counts`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import InvalidOptionError, InvalidShapeError
from .mapping import DEFAULT_SCHEME, decode
from .controller import bank_activity
from .policy import DEFAULT_POLICY, DramPolicy, parse_policy
from .presets import DramPreset, get_preset

__all__ = ["DramEnergy", "DramResult", "energy_of_counts", "simulate"]


@dataclass(frozen=True)
class DramEnergy:
    """Energy of a run split as DRAMSim2 splits it (all in joules)."""

    burst_j: float
    """Read and write bursts (above the active-standby current)."""
    act_pre_j: float
    """Activate + precharge pairs."""
    refresh_j: float
    """Refreshes over the runtime."""
    background_j: float
    """Standby current over the runtime (IDD3N with a bank open, IDD2N all closed)."""

    @property
    def total_j(self) -> float:
        """Sum of the four parts (J)."""
        return self.burst_j + self.act_pre_j + self.refresh_j + self.background_j


@dataclass(frozen=True)
class DramResult:
    """Outcome of :func:`simulate`.

    Members
    -------
    preset, scheme, policy : str
        Part name, address-mapping scheme and controller policy used.
    reads, writes : int
        Read and write bursts.
    activates : int
        ACTIVATE commands (each paired with one PRECHARGE).
    runtime_cycles : int
        Runtime in memory cycles (``tCK``) from cycle 0.
    limit : str
        Which bound set the runtime: ``"issue"``, ``"bus"``, ``"bank"``, ``"activate"`` or
        ``"engine"`` (the run was given a longer length); ``"none"`` for an empty stream.
    refreshes : float
        REFRESH commands (whole; the ``always-on`` policy counts them fractionally).
    open_cycles, closed_cycles, powerdown_cycles : int
        Cycles with some bank open or refreshing, awake with all banks precharged, and in
        precharge power-down; they add up to ``runtime_cycles``.
    powerdown_exits : int
        Times the rank left power-down.
    energy : DramEnergy
        Energy split (J).
    cycle_s : float
        One cycle in seconds.
    """

    preset: str
    scheme: str
    policy: str
    reads: int
    writes: int
    activates: int
    runtime_cycles: int
    limit: str
    refreshes: float
    open_cycles: int
    closed_cycles: int
    powerdown_cycles: int
    powerdown_exits: int
    energy: DramEnergy
    cycle_s: float

    @property
    def accesses(self) -> int:
        """Bursts in the stream."""
        return self.reads + self.writes

    @property
    def row_hits(self) -> int:
        """Accesses that found their row open."""
        return self.accesses - self.activates

    @property
    def row_hit_rate(self) -> float:
        """``row_hits / accesses`` (0 for an empty stream)."""
        return self.row_hits / self.accesses if self.accesses else 0.0

    @property
    def open_fraction(self) -> float:
        """Share of the runtime with some bank open (0 for a zero runtime)."""
        return self.open_cycles / self.runtime_cycles if self.runtime_cycles else 0.0

    @property
    def powerdown_fraction(self) -> float:
        """Share of the runtime in power-down (0 for a zero runtime)."""
        return self.powerdown_cycles / self.runtime_cycles if self.runtime_cycles else 0.0

    @property
    def runtime_s(self) -> float:
        """Runtime in seconds."""
        return self.runtime_cycles * self.cycle_s

    @property
    def energy_per_access_j(self) -> float:
        """Total energy per burst (J; 0 for an empty stream)."""
        return self.energy.total_j / self.accesses if self.accesses else 0.0

    @property
    def average_power_w(self) -> float:
        """Total energy over the runtime (W; 0 for a zero runtime)."""
        return self.energy.total_j / self.runtime_s if self.runtime_cycles else 0.0

    def counts_json(self) -> dict:
        """Event and state counts for ``--json`` output."""
        return {"policy": self.policy, "reads": self.reads, "writes": self.writes,
                "activates": self.activates, "row_hit_rate": self.row_hit_rate,
                "refreshes": self.refreshes, "runtime_cycles": self.runtime_cycles,
                "open_cycles": self.open_cycles, "closed_cycles": self.closed_cycles,
                "powerdown_cycles": self.powerdown_cycles,
                "powerdown_exits": self.powerdown_exits, "limit": self.limit}


def energy_of_counts(preset: DramPreset | str, reads: float, writes: float,
                     activates: float, refreshes: float, open_cycles: float,
                     closed_cycles: float = 0.0, powerdown_cycles: float = 0.0) -> DramEnergy:
    """Closed-form energy of event and state counts (J), DRAMSim2's accounting.

    Parameters
    ----------
    preset : DramPreset or str
        The part.
    reads, writes, activates, refreshes : float
        Read bursts, write bursts, ACT+PRE pairs, REFRESH commands.
    open_cycles, closed_cycles, powerdown_cycles : float
        Cycles with some bank open (IDD3N), awake with every bank precharged (IDD2N) and in
        precharge power-down (IDD2P); their sum is the runtime.

    Raises
    ------
    InvalidOptionError
        If a count is negative.
    """
    p = get_preset(preset)
    if min(reads, writes, activates, refreshes, open_cycles, closed_cycles, powerdown_cycles) < 0:
        raise InvalidOptionError("DRAM event counts and state cycles must be non-negative")
    return DramEnergy(
        burst_j=reads * p.read_burst_energy_j + writes * p.write_burst_energy_j,
        act_pre_j=activates * p.act_pre_energy_j,
        refresh_j=refreshes * p.refresh_energy_j,
        background_j=p.cycle_s * (open_cycles * p.background_power_open_w
                                  + closed_cycles * p.background_power_closed_w
                                  + powerdown_cycles * p.powerdown_power_w),
    )


def _as_stream(addr: np.ndarray, is_write: np.ndarray | bool,
               issue_cycle: np.ndarray | int | None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    a = np.asarray(addr)
    if a.ndim != 1:
        raise InvalidShapeError(f"addr must be a 1-D array of byte addresses, not {a.ndim}-D")
    if a.size and not np.issubdtype(a.dtype, np.integer):
        raise InvalidOptionError(f"addr must hold integers, not {a.dtype}")
    if a.size and np.issubdtype(a.dtype, np.signedinteger) and a.min() < 0:
        raise InvalidOptionError("addr must not hold negative addresses")
    n = a.size
    w = np.broadcast_to(np.asarray(is_write, dtype=bool), (n,)) if np.ndim(is_write) == 0 \
        else np.asarray(is_write, dtype=bool)
    if issue_cycle is None:
        t = np.zeros(n, dtype=np.int64)
    elif np.ndim(issue_cycle) == 0:
        t = np.full(n, int(issue_cycle), dtype=np.int64)  # type: ignore[arg-type]
    else:
        t = np.asarray(issue_cycle).astype(np.int64, copy=False)
    if w.shape != (n,) or t.shape != (n,):
        raise InvalidShapeError(
            f"addr, is_write and issue_cycle must have the same length, not {n}, "
            f"{w.shape[0] if w.ndim else 1} and {t.shape[0] if t.ndim else 1}")
    if n and t.min() < 0:
        raise InvalidOptionError("issue_cycle must not be negative")
    if n > 1 and np.any(t[1:] < t[:-1]):
        raise InvalidOptionError("issue_cycle must not decrease: give the stream in issue order")
    return a.astype(np.uint64, copy=False), w, t


def simulate(addr: np.ndarray, is_write: np.ndarray | bool,
             issue_cycle: np.ndarray | int | None = None,
             preset: DramPreset | str = "ddr3", scheme: str = DEFAULT_SCHEME,
             policy: DramPolicy | str = DEFAULT_POLICY,
             runtime_cycles: int | None = None) -> DramResult:
    """Run a burst stream through the controller, timing and energy model.

    Parameters
    ----------
    addr : numpy.ndarray
        Byte address of each burst, in arrival order (1-D, integer; bits below
        ``bytes_per_burst`` are ignored).
    is_write : numpy.ndarray or bool
        Per burst (or one flag for all): True for a write.
    issue_cycle : numpy.ndarray, int or None
        Earliest memory cycle (``tCK``) each burst may start, non-decreasing; None means all
        at cycle 0 (as fast as the DRAM allows).
    preset : DramPreset or str
        ``"ddr3"``, ``"ddr4"`` or a :class:`DramPreset`.
    scheme : str
        DRAMSim2 address mapping, ``"scheme1"`` .. ``"scheme7"`` (default ``"scheme2"``).
    policy : DramPolicy or str
        Controller policy (:mod:`scanfuse.dram.policy`; default ``dramsim2``).
    runtime_cycles : int, optional
        Make the run at least this long (e.g. the engine computes after its last burst): the
        DRAM stays powered, refreshes and idles until then, and ``limit`` is ``"engine"``.

    Returns
    -------
    DramResult

    Raises
    ------
    InvalidShapeError
        If the arrays are not 1-D of one length.
    InvalidOptionError
        For an unknown preset, scheme or policy, negative or decreasing issue cycles, or a
        negative ``runtime_cycles``.
    """
    p = get_preset(preset)
    pol = parse_policy(policy)
    a, w, t = _as_stream(addr, is_write, issue_cycle)
    if runtime_cycles is not None and (isinstance(runtime_cycles, bool) or runtime_cycles < 0):
        raise InvalidOptionError(f"runtime_cycles must be a non-negative number of cycles, "
                                 f"not {runtime_cycles!r}")
    bank, row, _ = decode(a, p, scheme)
    scheme_key = str(scheme).strip().lower()
    n = a.size
    writes = int(np.count_nonzero(w))
    runtime, limit = (0, "none") if n == 0 else _runtime(bank, row, w, t, p)
    if runtime_cycles is not None and runtime_cycles > runtime:
        runtime, limit = int(runtime_cycles), "engine"

    if pol.rows == "legacy":
        activates = _legacy_activates(bank, row) if n else 0
        first = int(t[0]) if n else runtime
        open_cycles = runtime - min(first, runtime)
        closed, pd, exits = runtime - open_cycles, 0, 0
        refreshes: float = runtime / p.refresh_period_cycles
    else:
        act = bank_activity(bank, row, w, t, p, pol, runtime)
        activates, open_cycles, closed = act.activates, act.open_cycles, act.closed_cycles
        pd, exits, refreshes = act.powerdown_cycles, act.powerdown_exits, act.refreshes
    energy = energy_of_counts(p, n - writes, writes, activates, refreshes, open_cycles,
                              closed, pd)
    return DramResult(p.name, scheme_key, pol.name, n - writes, writes, activates, runtime,
                      limit, refreshes, open_cycles, closed, pd, exits, energy, p.cycle_s)


def _legacy_activates(bank: np.ndarray, row: np.ndarray) -> int:
    """Row misses when a row stays open until another row of its bank is needed."""
    order = np.argsort(bank, kind="stable")
    b_s, r_s = bank[order], row[order]
    miss = np.ones(bank.size, dtype=bool)
    miss[1:] = (b_s[1:] != b_s[:-1]) | (r_s[1:] != r_s[:-1])
    return int(np.count_nonzero(miss))


def _runtime(bank: np.ndarray, row: np.ndarray, w: np.ndarray, t: np.ndarray,
             p: DramPreset) -> tuple[int, str]:
    """The bound-based runtime of the module docstring and which bound set it."""
    n = bank.size
    order = np.argsort(bank, kind="stable")
    b_s, r_s = bank[order], row[order]
    miss = np.ones(n, dtype=bool)
    miss[1:] = (b_s[1:] != b_s[:-1]) | (r_s[1:] != r_s[:-1])
    activates = int(np.count_nonzero(miss))
    per_bank = np.bincount(b_s, minlength=p.banks).astype(np.int64)
    acts_bank = np.bincount(b_s[miss], minlength=p.banks).astype(np.int64)

    # Data bus as a FIFO queue honouring issue cycles (Lindley recursion, vectorised).
    tb = p.burst_cycles
    d = np.full(n, tb, dtype=np.int64)
    if p.tWTR:
        d[1:] += p.tWTR * (w[:-1] & ~w[1:])
    s = np.cumsum(d)
    bus_end = int(s[-1] + np.max(t - (s - d)))
    bus_work = int(s[-1])

    bank_work = int(np.max(np.maximum(per_bank * tb + acts_bank * (p.tRCD + p.tRP),
                                      acts_bank * p.tRC)))
    act_work = int(math.ceil(activates * max(p.tRRD, p.tFAW / 4)))
    work = max(bus_work, bank_work, act_work)
    period = p.refresh_period_cycles
    work_refreshed = int(math.ceil(work * period / (period - p.tRFC)))
    device_end = int(t[0]) + work_refreshed
    runtime = max(bus_end, device_end) + p.CL
    if bus_end > device_end:
        return runtime, "issue"
    # precedence when terms tie: bus, then bank, then activate
    return runtime, "bus" if work == bus_work else "bank" if work == bank_work else "activate"
