"""An independent replay of a GEMM step list (method notes, section 4), for the tests.

It knows nothing of the planner's code: it tracks residency element by element with numpy
masks and checks every rule of a legal schedule, then returns the traffic it saw.
"""

from dataclasses import dataclass

import numpy as np


class IllegalSchedule(AssertionError):
    pass


@dataclass
class ReplayResult:
    reads: int                 # elements loaded (A + B + C partial sums)
    writes: int                # elements stored (final C + spills)
    read_bytes: int
    write_bytes: int
    peak_entries: int          # largest buffer occupancy seen after any step
    computes: int


def replay(steps, M, K, N, capacity, psum_entries=1, widths=(1, 1, 1, 4), split=None):
    """Replay ``steps`` (dicts in the JSON format); raise :class:`IllegalSchedule` if illegal.

    ``widths`` = bytes per element of (A, B, final C, partial sum). ``split`` = separate
    (A, B, C) capacities, checked each on its own besides the total ``capacity``.
    """
    wa, wb, wc, wp = widths
    shape = {"A": (M, K), "B": (K, N), "C": (M, N)}
    resident = {p: np.zeros(shape[p], dtype=bool) for p in "ABC"}
    covered = np.zeros((M, N, K), dtype=bool)     # C[m, n] has received k
    dirty = np.zeros((M, N), dtype=bool)          # accumulated on chip since last store
    ever_stored = np.zeros((M, N), dtype=bool)
    final_stored = np.zeros((M, N), dtype=bool)
    reads = writes = read_bytes = write_bytes = peak = computes = 0

    def region(step, p):
        (r0, r1), (c0, c1) = step["rows"], step["cols"]
        rows, cols = shape[p]
        if not (0 <= r0 < r1 <= rows and 0 <= c0 < c1 <= cols):
            raise IllegalSchedule(f"{step}: range outside {p} ({rows}x{cols}) or empty")
        return slice(r0, r1), slice(c0, c1)

    for index, step in enumerate(steps):
        op = step["op"]
        if op == "load":
            p = step["operand"]
            sl = region(step, p)
            if resident[p][sl].any():
                raise IllegalSchedule(f"step {index}: loads {p} elements already resident")
            area = resident[p][sl].size
            if p == "C":
                if not ever_stored[sl].all() or final_stored[sl].any():
                    raise IllegalSchedule(f"step {index}: reads back C that holds no spilled partial sum")
                read_bytes += area * wp
            else:
                read_bytes += area * (wa if p == "A" else wb)
            resident[p][sl] = True
            reads += area
        elif op == "compute":
            (m0, m1), (n0, n1), (k0, k1) = step["m"], step["n"], step["k"]
            if not (0 <= m0 < m1 <= M and 0 <= n0 < n1 <= N and 0 <= k0 < k1 <= K):
                raise IllegalSchedule(f"step {index}: compute range outside the GEMM")
            if not resident["A"][m0:m1, k0:k1].all() or not resident["B"][k0:k1, n0:n1].all():
                raise IllegalSchedule(f"step {index}: compute without its A or B tile resident")
            c_res = resident["C"][m0:m1, n0:n1]
            if not c_res.all():
                fresh = ~covered[m0:m1, n0:n1].any(axis=2)
                if c_res.any() or not fresh.all():
                    raise IllegalSchedule(f"step {index}: C is neither resident nor fresh")
                resident["C"][m0:m1, n0:n1] = True
            if covered[m0:m1, n0:n1, k0:k1].any():
                raise IllegalSchedule(f"step {index}: a k chunk accumulated twice")
            covered[m0:m1, n0:n1, k0:k1] = True
            dirty[m0:m1, n0:n1] = True
            computes += 1
        elif op == "store":
            if step["operand"] != "C":
                raise IllegalSchedule(f"step {index}: only C is stored")
            sl = region(step, "C")
            if not resident["C"][sl].all():
                raise IllegalSchedule(f"step {index}: stores C that is not resident")
            complete = covered[sl].all(axis=2)
            if complete.all():
                final_stored[sl] = True
                write_bytes += complete.size * wc
            elif not complete.any():
                write_bytes += complete.size * wp
            else:
                raise IllegalSchedule(f"step {index}: store mixes final and partial elements")
            ever_stored[sl] = True
            dirty[sl] = False
            resident["C"][sl] = False
            writes += complete.size
        elif op == "evict":
            p = step["operand"]
            if p not in "AB":
                raise IllegalSchedule(f"step {index}: only A or B is evicted")
            sl = region(step, p)
            if not resident[p][sl].all():
                raise IllegalSchedule(f"step {index}: evicts {p} that is not resident")
            resident[p][sl] = False
        else:
            raise IllegalSchedule(f"step {index}: unknown op {op!r}")
        occupancy = int(resident["A"].sum() + resident["B"].sum() + resident["C"].sum() * psum_entries)
        if occupancy > capacity:
            raise IllegalSchedule(f"step {index}: {occupancy} entries resident, capacity {capacity}")
        if split is not None:
            for p, limit in zip("ABC", split):
                if resident[p].sum() > limit:
                    raise IllegalSchedule(f"step {index}: {resident[p].sum()} {p} entries, capacity {limit}")
        peak = max(peak, occupancy)

    if not covered.all():
        raise IllegalSchedule("some C element misses some k")
    if dirty.any() or resident["C"].any():
        raise IllegalSchedule("C left on chip or not stored after its last chunk")
    if not final_stored.all():
        raise IllegalSchedule("some C element never stored complete")
    return ReplayResult(reads, writes, read_bytes, write_bytes, peak, computes)
