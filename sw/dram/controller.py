"""Bank and rank state over a burst stream, for a controller policy: the cycles some bank is
open, the cycles the rank is awake with every bank precharged, the cycles it is powered down,
and the activates — all counted from the stream with numpy, no loop over bursts.

The model follows DRAMSim2's controller (``MemoryController.cpp``, ``CommandQueue.cpp``) for
one rank, in DRAM cycles (``tCK``), for a request arriving at cycle ``a``:

* The request reaches the command queue at ``a``; its ACTIVATE leaves at ``a + 1`` at the
  earliest, or, when the rank was powered down, at ``w + tXP`` with ``w = max(a, entry +
  tCKE)`` the power-up cycle (``entry``: when the rank went down). A row miss issues its
  column command ``tRCD`` after the ACTIVATE; a row hit at ``a + 1``.
* A bank's row *episode* runs from its ACTIVATE to its PRECHARGE. With the close-on-idle
  policy (DRAMSim2's ``open_page``) the precharge leaves as soon as no queued request targets
  the row and the timings allow: ``max(ACT + tRAS, CAS + X)`` for the episode's last column
  command, ``X = AL + BL/2 + max(tRTP, tCCD) - tCCD`` after a read and ``WL + BL/2 + tWR``
  after a write (DRAMSim2's ``READ_TO_PRE_DELAY``/``WRITE_TO_PRE_DELAY``). A request to the
  same bank and row that arrives before that cycle is a row hit; at most
  ``policy.max_row_hits`` hits follow one activate (``TOTAL_ROW_ACCESSES``). The bank is idle
  ``tRP`` after the precharge; the next activate of the bank also waits ``tRC`` after the last.
* With the open policy (DRAMsim3) a row stays open until a request to another row of the bank
  precharges it (at the request's arrival + 1) or a refresh closes every bank.
* Refresh: every ``refresh_period_cycles`` (``REFRESH_PERIOD / tCK``, first at that cycle);
  the banks count as open (``Refreshing``) for ``tRFC``; a powered-down rank wakes ``tXP``
  before. Refreshes are whole: ``runtime // period`` of them.
* The rank is awake from a request's arrival until its episode's precharge has completed
  (``close + tRP``), plus ``powerdown_after`` idle cycles; it is powered down (IDD2P) the
  rest of the time. Some bank open (or refreshing): IDD3N; awake and all precharged: IDD2N.

Cycle counts are unions of intervals (sort by start, running maximum of ends), so two banks
open at once count once, as DRAMSim2's per-cycle accounting does. Queueing: a request's column
command waits for its slot on the data bus (a FIFO queue at ``max(tCCD, BL/2)`` cycles per
burst) and the rank's activates are at least ``tRRD`` apart; ``tFAW``, the command bus and
queue depths are not modelled. Queued requests to an open row are hits, so a stream issued
faster than the DRAM serves it keeps its rows and its rank busy. See docs/dram.md for the
check against DRAMSim2.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .policy import DramPolicy
from .presets import DramPreset

__all__ = ["BankActivity", "bank_activity", "read_to_precharge", "write_to_precharge"]

_NEVER = -(1 << 20)    # "no constraint": below every cycle a constraint is compared with


@dataclass(frozen=True)
class BankActivity:
    """What the controller did over ``runtime_cycles`` (all counts in ``tCK`` cycles).

    ``open_cycles + closed_cycles + powerdown_cycles == runtime_cycles``.
    """

    activates: int
    """ACTIVATE commands (each followed by one PRECHARGE)."""
    open_cycles: int
    """Cycles with some bank open or refreshing (IDD3N)."""
    closed_cycles: int
    """Cycles awake with every bank precharged (IDD2N)."""
    powerdown_cycles: int
    """Cycles in precharge power-down (IDD2P)."""
    powerdown_exits: int
    """Times the rank left power-down (each costs ``tXP`` of latency)."""
    refreshes: int
    """REFRESH commands."""
    runtime_cycles: int


def read_to_precharge(p: DramPreset) -> int:
    """Cycles from a read's column command to the earliest precharge of its bank (AL = 0)."""
    return p.burst_length // 2 + max(p.tRTP, p.tCCD) - p.tCCD


def write_to_precharge(p: DramPreset) -> int:
    """Cycles from a write's column command to the earliest precharge (WL = CL - 1, AL = 0)."""
    return p.CL - 1 + p.burst_length // 2 + p.tWR


def _union_cycles(start: np.ndarray, end: np.ndarray, lo: int, hi: int
                  ) -> tuple[int, np.ndarray]:
    """Length of the union of ``[start, end)`` clipped to ``[lo, hi)``, and the start of each
    connected component of the union (sorted)."""
    s = np.clip(start, lo, hi)
    e = np.clip(end, lo, hi)
    keep = e > s
    s, e = s[keep], e[keep]
    if s.size == 0:
        return 0, s
    order = np.argsort(s, kind="stable")
    s, e = s[order], e[order]
    reach = np.maximum.accumulate(e)
    before = np.concatenate([[lo], reach[:-1]])
    length = int(np.sum(np.maximum(e - np.maximum(s, before), 0)))
    new = np.ones(s.size, dtype=bool)
    new[1:] = s[1:] > reach[:-1]
    return length, s[new]


def _segment_cummax(values: np.ndarray, segment: np.ndarray) -> np.ndarray:
    """Running maximum of ``values`` restarting at each new ``segment`` id (ids ascending)."""
    if values.size == 0:
        return values
    span = int(values.max()) - int(values.min()) + 1
    lifted = values - int(values.min()) + segment.astype(np.int64) * span
    return np.maximum.accumulate(lifted) - segment.astype(np.int64) * span + int(values.min())


def _lindley(u: np.ndarray, g: np.ndarray, segment: np.ndarray) -> np.ndarray:
    """``x[i] = max(u[i], x[i-1] + g[i-1])`` within each segment (``x = u`` at its start)."""
    if u.size == 0:
        return u
    first = np.ones(u.size, dtype=bool)
    first[1:] = segment[1:] != segment[:-1]
    step = np.concatenate([[0], g[:-1]])
    step[first] = 0
    G = np.cumsum(step)
    G -= G[np.flatnonzero(first)][np.cumsum(first) - 1]     # restart per segment
    return G + _segment_cummax(u - G, np.cumsum(first))


def bank_activity(bank: np.ndarray, row: np.ndarray, is_write: np.ndarray,
                  issue: np.ndarray, preset: DramPreset, policy: DramPolicy,
                  runtime_cycles: int) -> BankActivity:
    """Activates and bank/rank state cycles of a burst stream under ``policy``.

    Parameters
    ----------
    bank, row : numpy.ndarray
        Each burst's bank and row (from :func:`scanfuse.dram.mapping.decode`).
    is_write : numpy.ndarray
        Bool per burst.
    issue : numpy.ndarray
        Arrival cycle of each burst (int64, non-decreasing: the stream in issue order).
    preset : DramPreset
        The part (timings in ``tCK``).
    policy : DramPolicy
        ``close-on-idle`` or ``open`` rows (the ``legacy`` accounting lives in
        :mod:`scanfuse.dram.model`).
    runtime_cycles : int
        Length of the run; counts cover ``[0, runtime_cycles)``.
    """
    p = preset
    runtime = int(runtime_cycles)
    period = p.refresh_period_cycles
    refreshes = runtime // period
    ref_t = period * np.arange(1, refreshes + 1, dtype=np.int64)
    n = int(issue.size)
    a = issue.astype(np.int64, copy=False)
    x = np.where(is_write, write_to_precharge(p), read_to_precharge(p)).astype(np.int64)

    # When the data bus can serve each request (a FIFO queue at one burst per burst_cycles):
    # a request queued behind others has its column command no earlier than its slot.
    d = np.full(n, p.burst_cycles, dtype=np.int64)
    slot = np.cumsum(d) - d
    slot = slot + np.maximum.accumulate(a - slot) if n else slot

    # Bank order: a stable sort keeps each bank's requests in arrival order.
    order = np.argsort(bank, kind="stable")
    A, B, R, X, S = a[order], bank[order], row[order], x[order], slot[order]
    bank_first = np.ones(n, dtype=bool)
    bank_first[1:] = B[1:] != B[:-1]
    same_row = np.zeros(n, dtype=bool)
    same_row[1:] = ~bank_first[1:] & (R[1:] == R[:-1])
    bank_id = np.cumsum(bank_first)

    if n == 0:                              # only refreshes happen
        act = close = first_arrival = np.zeros(0, dtype=np.int64)
        return _state_cycles(act, close, first_arrival, ref_t, p, policy, runtime, 0)
    if policy.rows == "open":
        return _open_rows(A, X, same_row, bank_id, ref_t, p, policy, runtime, refreshes)

    pd_after = policy.powerdown_after
    hit = np.zeros(n, dtype=bool)
    for _ in range(4):       # hits <-> episode timing: settles in two or three passes
        miss = ~hit
        ep = np.cumsum(miss) - 1                         # episode of each request
        first = np.flatnonzero(miss)                     # its first request
        e_bank = bank_id[first]
        lat = _wake_latency(A, first, X, p, pd_after, order)
        H = np.maximum.reduceat(X, first) + p.tRCD
        H = np.maximum(H, p.tRAS)                        # ACT -> PRE, issued by the rank
        hit_done = np.where(hit, np.maximum(A + 1, S) + X, _NEVER)   # hits' column cmd + X
        C2 = np.maximum.reduceat(hit_done, first)
        # per bank: ACT_e = max(a_first + lat, ACT_{e-1} + max(H + tRP, tRC), C2_{e-1} + tRP)
        u = np.maximum(A[first] + lat, S[first] - p.tRCD)
        u[1:] = np.where(e_bank[1:] == e_bank[:-1], np.maximum(u[1:], C2[:-1] + p.tRP), u[1:])
        act = _lindley(u, np.maximum(H + p.tRP, p.tRC), e_bank)
        act = _rank_act_rate(act, p)
        close = np.maximum(act + H, C2)
        # a request hits if it finds its row still open (queued before the precharge)
        running = np.maximum(act[ep] + np.maximum(p.tRAS, p.tRCD + _segment_cummax(X, ep)),
                             _segment_cummax(hit_done, ep))
        new_hit = np.zeros(n, dtype=bool)
        new_hit[1:] = same_row[1:] & (A[1:] < running[:-1])
        new_hit = _limit_hits(new_hit, policy.max_row_hits)
        if np.array_equal(new_hit, hit):
            break
        hit = new_hit

    return _state_cycles(act, close, A[first], ref_t, p, policy, runtime, int(first.size))


def _state_cycles(act: np.ndarray, close: np.ndarray, first_arrival: np.ndarray,
                  ref_t: np.ndarray, p: DramPreset, policy: DramPolicy, runtime: int,
                  activates: int) -> BankActivity:
    """Open, precharged and powered-down cycles from the row episodes ``[act, close)``
    (first request of each at ``first_arrival``) and the refreshes at ``ref_t``."""
    open_len, _ = _union_cycles(np.concatenate([act, ref_t]),
                                np.concatenate([close, ref_t + p.tRFC]), 0, runtime)
    pd_after = policy.powerdown_after
    if pd_after is None:
        return BankActivity(activates, open_len, runtime - open_len, 0, 0, ref_t.size, runtime)
    wake_start = np.concatenate([first_arrival, ref_t - p.tXP])
    wake_end = np.concatenate([close + p.tRP, ref_t + p.tRFC]) + pd_after
    awake, starts = _union_cycles(wake_start, wake_end, 0, runtime)
    exits = int(np.count_nonzero(starts > pd_after))
    return BankActivity(activates, open_len, awake - open_len, runtime - awake, exits,
                        ref_t.size, runtime)


def _rank_act_rate(act: np.ndarray, p: DramPreset) -> np.ndarray:
    """Delay activates, in time order, so consecutive ones of the rank are ``tRRD`` apart.

    The four-activate window ``tFAW`` is not modelled: on DRAMSim2's traces of a fast engine
    (32x32 at 500 MHz), spacing ``tRRD`` matched its activate counts within 5%, the fluid
    ``tFAW/4`` over-delayed them (too many row hits, -25% activates on one GEMM)."""
    gap = p.tRRD
    order = np.argsort(act, kind="stable")
    out = np.empty_like(act)
    out[order] = _lindley(act[order], np.full(act.size, gap, dtype=np.int64),
                          np.zeros(act.size, dtype=np.int64))
    return out


def _limit_hits(hit: np.ndarray, max_hits: int) -> np.ndarray:
    """Every ``max_hits + 1``-th request of a run of row hits must re-activate."""
    run = np.cumsum(~hit)
    start = np.flatnonzero(~hit)
    pos = np.arange(hit.size) - (start[run - 1] if start.size else 0)
    return hit & (pos % (max_hits + 1) != 0)


def _wake_latency(A: np.ndarray, first: np.ndarray, X: np.ndarray, p: DramPreset,
                  pd_after: int | None, order: np.ndarray) -> np.ndarray:
    """Cycles from each episode's first request to its ACTIVATE, as far as power-down sets
    them: 1 when the rank is awake, ``tXP`` (plus any rest of ``tCKE``) after power-down.

    Whether the rank is awake is judged in arrival order from every earlier request's
    isolated busy time (arrival + tXP + its row open time + tRP + ``pd_after``).
    """
    n_ep = first.size
    if pd_after is None:
        return np.ones(n_ep, dtype=np.int64)
    # arrival order over all requests; each is busy until (roughly) its own precharge ends
    t_order = np.empty_like(order)                      # arrival order -> bank order
    t_order[order] = np.arange(order.size)
    a_t = A[t_order]
    busy_end = a_t + p.tXP + np.maximum(p.tRAS, p.tRCD + X[t_order]) + p.tRP + pd_after
    reach = np.maximum.accumulate(busy_end)
    prev_reach = np.concatenate([[pd_after], reach[:-1]])   # the rank starts idle at 0
    awake_t = a_t < prev_reach
    awake_t[0] = a_t[0] <= pd_after
    entry = prev_reach                                   # when the rank went down
    up = np.maximum(a_t, entry + p.tCKE)
    lat_t = np.where(awake_t, 1, up - a_t + p.tXP)
    lat = np.empty_like(lat_t)
    lat[t_order] = lat_t                                 # back to bank order
    return lat[first]


def _open_rows(A, X, same_row, bank_id, ref_t, p: DramPreset, policy: DramPolicy,
               runtime: int, refreshes: int) -> BankActivity:
    """The open policy: rows close on a conflict or at the next refresh (module docstring)."""
    n = A.size
    epoch = np.searchsorted(ref_t, A, side="right")      # refreshes before each arrival
    hit = np.zeros(n, dtype=bool)
    hit[1:] = same_row[1:] & (epoch[1:] == epoch[:-1])
    first = np.flatnonzero(~hit)
    ep = np.cumsum(~hit) - 1
    e_bank = bank_id[first]
    last = np.concatenate([first[1:], [n]]) - 1
    conflict = np.zeros(first.size, dtype=bool)          # next episode of the bank evicts it
    conflict[:-1] = (e_bank[1:] == e_bank[:-1]) & (epoch[first[1:]] == epoch[last[:-1]])
    lat = np.ones(first.size, dtype=np.int64)
    lat[1:] += np.where(conflict[:-1], p.tRP, 0)
    act = A[first] + lat
    col_done = np.maximum(A + 1, act[ep] + p.tRCD) + X
    earliest_pre = np.maximum(act + p.tRAS, np.maximum.reduceat(col_done, first))
    end = np.append(ref_t, runtime)[np.minimum(epoch[last], refreshes)]   # next refresh
    nxt_arrival = np.concatenate([A[first[1:]], [runtime]]) + 1
    end[conflict] = nxt_arrival[conflict]
    close = np.maximum(end, earliest_pre)
    return _state_cycles(act, close, A[first], ref_t, p, policy, runtime, int(first.size))
