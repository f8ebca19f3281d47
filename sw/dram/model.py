"""Vectorised DRAM model: row-buffer hits, a bound-based runtime and DRAMSim2-style energy.

:func:`simulate` takes a stream of burst-sized transactions (one per ``bytes_per_burst``
bytes, 64 B for the DDR3 preset) to one rank of one channel and returns a
:class:`DramResult`: counts of reads, writes and activates, the row-hit rate, a runtime in
memory cycles and the energy split the way DRAMSim2 splits it (``MemoryController.cpp``
energy counters; ``/work/shared/method.md`` section 8). Tens of millions of transactions run
in about a second because nothing loops over transactions in Python.

Row buffer (exact for the policy it models)
    Open-page, in arrival order, no reordering (DRAMSim2's default open-page policy with
    in-order per-bank queues): an access is a row hit when the previous access *to the same
    bank* opened the same row; every other access, including a bank's first, activates (and
    later precharges) once. Found with a stable sort by bank.

Runtime (a lower-bound model, in cycles of ``tCK``)
    * Data bus, honouring issue times: a FIFO single-server queue (Lindley recursion,
      vectorised with a running maximum), ``done_k = max(issue_k, done_{k-1}) + d_k`` with
      ``d_k = max(tCCD, BL/2)`` per burst plus ``tWTR`` when a read follows a write.
    * Per bank: ``max(n_b * max(tCCD, BL/2) + act_b * (tRCD + tRP), act_b * tRC)``.
    * Activate rate: ``activates * max(tRRD, tFAW/4)`` (rank-wide tRRD and tFAW).
    * Refresh: the device work (the largest of the three work terms) is stretched by
      ``tREFI / (tREFI - tRFC)``, the rank being blocked ``tRFC`` of every refresh period.
    * ``runtime = max(bus queue end, first issue + stretched work) + CL``.

    Not modelled: read-to-write turnaround, tWR and tRTP before precharge, tCCD/tRRD/tWTR
    bank-group (``_L``) timings of DDR4, command-bus conflicts, the coupling between bank
    busy time and issue gaps (the bank and activate terms are totals over the whole stream,
    so they are exact for steady streams and optimistic for bursty ones), read/write queue
    depths, power-down, multiple ranks or channels.

Energy (joules)
    ``burst`` = reads x read-burst energy + writes x write-burst energy; ``act_pre`` =
    activates x ACT+PRE energy; ``refresh`` = (runtime / refresh period) refreshes, counted
    fractionally, x refresh energy; ``background`` = runtime x (f x IDD3N power + (1 - f) x
    IDD2N power), f the fraction of time some bank is open. With open page a bank stays open
    from the first activate to the end, so by default ``f = (runtime - first issue) /
    runtime`` (precharge windows and the closed time after each refresh are ignored); pass
    ``open_fraction`` to override (e.g. 0 for an idealised close-page rank).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import InvalidOptionError, InvalidShapeError
from .mapping import DEFAULT_SCHEME, decode
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
    preset, scheme : str
        Part name and address-mapping scheme used.
    reads, writes : int
        Read and write bursts.
    activates : int
        Row misses, including each bank's first access (each one is an ACT+PRE pair).
    runtime_cycles : int
        Runtime in memory cycles (``tCK``) from cycle 0.
    limit : str
        Which bound set the runtime: ``"issue"``, ``"bus"``, ``"bank"`` or ``"activate"``
        (``"none"`` for an empty stream).
    refreshes : float
        Refresh periods elapsed, ``runtime_cycles / refresh_period_cycles``.
    open_fraction : float
        Fraction of the runtime charged as bank-open background.
    energy : DramEnergy
        Energy split (J).
    cycle_s : float
        One cycle in seconds.
    """

    preset: str
    scheme: str
    reads: int
    writes: int
    activates: int
    runtime_cycles: int
    limit: str
    refreshes: float
    open_fraction: float
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


def energy_of_counts(preset: DramPreset | str, reads: float, writes: float,
                     activates: float, runtime_cycles: float, open_fraction: float = 1.0,
                     refreshes: float | None = None) -> DramEnergy:
    """Closed-form energy of event counts (J), DRAMSim2's accounting.

    Parameters
    ----------
    preset : DramPreset or str
        The part.
    reads, writes, activates : float
        Read bursts, write bursts, ACT+PRE pairs.
    runtime_cycles : float
        Runtime in memory cycles.
    open_fraction : float
        Fraction of the runtime with some bank open (0..1).
    refreshes : float, optional
        Refresh count; default ``runtime_cycles / refresh_period_cycles``.

    Raises
    ------
    InvalidOptionError
        If a count is negative or ``open_fraction`` is outside 0..1.
    """
    p = get_preset(preset)
    if min(reads, writes, activates, runtime_cycles) < 0:
        raise InvalidOptionError("DRAM event counts and runtime must be non-negative")
    if not 0.0 <= open_fraction <= 1.0:
        raise InvalidOptionError(f"open_fraction must be within 0..1, not {open_fraction}")
    if refreshes is None:
        refreshes = runtime_cycles / p.refresh_period_cycles
    seconds = runtime_cycles * p.cycle_s
    return DramEnergy(
        burst_j=reads * p.read_burst_energy_j + writes * p.write_burst_energy_j,
        act_pre_j=activates * p.act_pre_energy_j,
        refresh_j=refreshes * p.refresh_energy_j,
        background_j=seconds * (open_fraction * p.background_power_open_w
                                + (1.0 - open_fraction) * p.background_power_closed_w),
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
    return a.astype(np.uint64, copy=False), w, t


def simulate(addr: np.ndarray, is_write: np.ndarray | bool,
             issue_cycle: np.ndarray | int | None = None,
             preset: DramPreset | str = "ddr3", scheme: str = DEFAULT_SCHEME,
             open_fraction: float | None = None) -> DramResult:
    """Run a burst stream through the open-page row-buffer, timing and energy model.

    Parameters
    ----------
    addr : numpy.ndarray
        Byte address of each burst, in arrival order (1-D, integer; bits below
        ``bytes_per_burst`` are ignored).
    is_write : numpy.ndarray or bool
        Per burst (or one flag for all): True for a write.
    issue_cycle : numpy.ndarray, int or None
        Earliest memory cycle (``tCK``) each burst may start; None means all at cycle 0
        (as fast as the DRAM allows). Served first-come first-served in array order.
    preset : DramPreset or str
        ``"ddr3"``, ``"ddr4"`` or a :class:`DramPreset`.
    scheme : str
        DRAMSim2 address mapping, ``"scheme1"`` .. ``"scheme7"`` (default ``"scheme2"``).
    open_fraction : float, optional
        Override the bank-open share of background time (0..1); see the module docstring.

    Returns
    -------
    DramResult

    Raises
    ------
    InvalidShapeError
        If the arrays are not 1-D of one length.
    InvalidOptionError
        For an unknown preset or scheme, negative addresses or cycles, or a bad
        ``open_fraction``.
    """
    p = get_preset(preset)
    a, w, t = _as_stream(addr, is_write, issue_cycle)
    bank, row, _ = decode(a, p, scheme)
    scheme_key = str(scheme).strip().lower()
    n = a.size
    writes = int(np.count_nonzero(w))
    if n == 0:
        energy = energy_of_counts(p, 0, 0, 0, 0, open_fraction or 0.0)
        return DramResult(p.name, scheme_key, 0, 0, 0, 0, "none", 0.0,
                          open_fraction or 0.0, energy, p.cycle_s)

    # Row hits: within each bank (stable sort keeps arrival order), compare with the
    # previous access to the same bank.
    order = np.argsort(bank, kind="stable")
    b_s = bank[order]
    r_s = row[order]
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
    start = int(t[0])
    device_end = start + work_refreshed
    runtime = max(bus_end, device_end) + p.CL
    if bus_end > device_end:
        limit = "issue"
    else:
        # precedence when terms tie: bus, then bank, then activate
        limit = "bus" if work == bus_work else "bank" if work == bank_work else "activate"

    if open_fraction is None:
        open_fraction = (runtime - min(start, runtime)) / runtime
    refreshes = runtime / period
    energy = energy_of_counts(p, n - writes, writes, activates, runtime, open_fraction,
                              refreshes)
    return DramResult(p.name, scheme_key, n - writes, writes, activates, runtime, limit,
                      refreshes, float(open_fraction), energy, p.cycle_s)
