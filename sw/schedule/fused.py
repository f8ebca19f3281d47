"""Step lists of fused chains and pipelines, in the step vocabulary of
:mod:`scanfuse.schedule.steps` (ranges half-open; rows are the tensor's own rows, full width;
``cols`` are hidden channels):

``Load("X", rows[, cols])``             input rows, all channels (a chain without a first
                                        conv, chunks outer: only the chunk's channels)
``Evict("X", rows[, cols])``
``Load("W", None, cols)``               every layer's weights of a chunk (``W{i}``: unit i's)
``Evict("W", None, cols)``
``ComputeRows(NAME, rows, cols)``       produce NAME's output rows for the chunk; the chain's
                                        last layer instead accumulates the chunk into the Y
                                        accumulators of those rows (all output channels)
``Evict(NAME, rows, cols)``             an intermediate
``Load("Y", rows)``                     partial-sum read-back
``Store("Y", rows)``                    final when every chunk is in
``Store("T{i}", rows)``                 a pipeline's tapped tensor T_i: written once and freed
                                        where an untapped one is evicted

One entry point for every fused group, :func:`fused_steps` (a chain's schedule or a
pipeline's), over the two loop nests the planners search (:func:`chain_steps`,
:func:`pipeline_steps`). Generated from the loop nests directly (not from the closed-form
traffic of :mod:`scanfuse.plan.chain` / :mod:`scanfuse.plan.pipeline`), so the tests can hold
one against the other.
"""

from collections.abc import Iterator

import numpy as np

from ..plan.chain import FusedChain, FusedSchedule
from ..plan.group import FusedGroup
from ..plan.pipeline import PipelineSchedule
from .steps import ComputeRows, Evict, Load, Range, Step, Store


def _span(lo: int, hi: int) -> Range:
    return int(lo), int(hi)


def fused_steps(group: FusedGroup, sched) -> Iterator[Step]:
    """Step list of any fused group under its schedule (``sched``: a chain's
    :class:`~scanfuse.plan.chain.FusedSchedule` or a :class:`~scanfuse.plan.pipeline.
    PipelineSchedule`)."""
    if isinstance(sched, FusedSchedule):
        return chain_steps(group, sched)
    if isinstance(sched, PipelineSchedule):
        return pipeline_steps(group, sched)
    raise TypeError(f"not a fused schedule: {sched!r}")


def chain_steps(chain: FusedChain, sched: FusedSchedule) -> Iterator[Step]:
    """A one-segment group under a chain schedule (strips or chunks outer, see
    :mod:`scanfuse.plan.chain`)."""
    ranges = chain.strip_ranges(sched.tr)
    strips = len(ranges[-1][0])
    hidden, tc = chain.hidden, sched.tc
    chunks = [(c, min(c + tc, hidden)) for c in range(0, hidden, tc)]
    producers = [layer.name for layer in chain.layers[:-1]]
    # ranges: [X rows, each vertical stage's output rows]; each producer's output rows
    tensor_ranges = [ranges[chain.segment.output_stage(i)] for i in range(len(producers))]
    last = chain.layers[-1].name

    x_rows: set[int] = set()
    state = {"w": None, "x_cols": None}
    y_resident: set[int] = set()
    # chunks outer without a first conv: X rows hold only the current chunk's channels
    by_chunk = sched.mode == "chunks" and not sched.x_resident and chain.x_by_chunk

    def x_to(j: int, keep_all: bool, c: int | None = None) -> Iterator[Step]:
        lo, hi = int(ranges[0][0][j]), int(ranges[0][1][j])
        cols = _span(*chunks[c]) if by_chunk else None
        if by_chunk and state["x_cols"] != cols:      # a new chunk: other channels
            for run in row_runs(sorted(x_rows)):
                yield Evict("X", _span(*run), state["x_cols"])
            x_rows.clear()
            state["x_cols"] = cols
        if not keep_all:
            outside = sorted(r for r in x_rows if not lo <= r < hi)
            for run in row_runs(outside):
                yield Evict("X", _span(*run), cols)
                x_rows.difference_update(range(*run))
        missing = [r for r in range(lo, hi) if r not in x_rows]
        for run in row_runs(missing):
            yield Load("X", _span(*run), cols)
            x_rows.update(range(*run))

    w_loaded: set[int] = set()

    def w_to(c: int) -> Iterator[Step]:
        if sched.w_resident:
            if c not in w_loaded:
                yield Load("W", None, _span(*chunks[c]))
                w_loaded.add(c)
        elif state["w"] != c:
            if state["w"] is not None:
                yield Evict("W", None, _span(*chunks[state["w"]]))
            yield Load("W", None, _span(*chunks[c]))
            state["w"] = c

    def compute(j: int, c: int) -> Iterator[Step]:
        c0, c1 = chunks[c]
        for name, (lo, hi) in zip(producers, tensor_ranges):
            yield ComputeRows(name, _span(lo[j], hi[j]), (c0, c1))
        a, b = ranges[-1][0][j], ranges[-1][1][j]
        yield ComputeRows(last, _span(a, b), (c0, c1))
        for name, (lo, hi) in zip(producers, tensor_ranges):
            yield Evict(name, _span(lo[j], hi[j]), (c0, c1))

    def y_rows(j: int) -> Range:
        return _span(ranges[-1][0][j], ranges[-1][1][j])

    if sched.mode == "strips" and sched.scan and sched.keep > 1 and not sched.w_resident:
        # Scan keeping k chunks across each turn: a chunk is loaded when not on chip, and
        # freed after its compute unless it is among the last k of a strip that is not the
        # last (the next strip walks the other way and starts on them).
        keep = min(sched.keep, max(len(chunks) - 1, 1))
        held: set[int] = set()
        for j in range(strips):
            yield from x_to(j, keep_all=False)
            run = list(range(len(chunks)))
            if j % 2:
                run.reverse()
            kept = set(run[-keep:]) if j < strips - 1 else set()
            for c in run:
                if c not in held:
                    yield Load("W", None, _span(*chunks[c]))
                    held.add(c)
                yield from compute(j, c)
                if c not in kept:
                    yield Evict("W", None, _span(*chunks[c]))
                    held.discard(c)
            yield Store("Y", y_rows(j))
    elif sched.mode == "strips":
        order = range(len(chunks))
        for j in range(strips):
            yield from x_to(j, keep_all=False)
            run = order if not sched.scan or j % 2 == 0 else reversed(order)
            for c in run:
                yield from w_to(c)
                yield from compute(j, c)
            yield Store("Y", y_rows(j))
    else:
        visits = []
        for c in range(len(chunks)):
            strip_order = range(strips) if not sched.scan or c % 2 == 0 else range(strips - 1, -1, -1)
            visits.extend((c, j) for j in strip_order)
        for index, (c, j) in enumerate(visits):
            yield from w_to(c)
            yield from x_to(j, keep_all=sched.x_resident, c=c)
            if not sched.y_resident and j not in y_resident and c > 0:
                yield Load("Y", y_rows(j))
            y_resident.add(j)
            yield from compute(j, c)
            following = visits[index + 1] if index + 1 < len(visits) else None
            final = c == len(chunks) - 1
            keep = (not final and (sched.y_resident or (following is not None and following[1] == j)))
            if not keep:
                yield Store("Y", y_rows(j))
                y_resident.discard(j)
    for c in sorted(w_loaded):
        yield Evict("W", None, _span(*chunks[c]))
    if state["w"] is not None:
        yield Evict("W", None, _span(*chunks[state["w"]]))
    for run in row_runs(sorted(x_rows)):
        yield Evict("X", _span(*run), state["x_cols"])


def row_runs(rows: list[int]) -> Iterator[tuple[int, int]]:
    """Maximal runs of consecutive integers in a sorted list, as half-open pairs."""
    start = prev = None
    for r in rows:
        if start is None:
            start = prev = r
        elif r == prev + 1:
            prev = r
        else:
            yield start, prev + 1
            start = prev = r
    if start is not None:
        yield start, prev + 1


def pipeline_steps(pipeline: FusedGroup, sched: PipelineSchedule) -> Iterator[Step]:
    """Step list of a :class:`~scanfuse.plan.pipeline.FusedPipeline` (strips outer).

    Tensors between segments are ``"T1"``..``"T{n-1}"`` (rows, all channels); weights of
    segment i are ``"W{i}"`` with its hidden channels; the segment's temporaries are named by
    their producing layer. Per strip: free window rows no longer needed, load new X rows,
    compute each segment's new rows chunk by chunk, store the Y strip. For a segment's last
    layer, ``channels`` is the chunk of its input (hidden) channels being accumulated. Rows of
    a tapped tensor are stored (written once and freed) where other tensors' rows are evicted.
    """
    segments = pipeline.segments
    n = len(segments)
    wins = pipeline.windows(sched.tr)
    held = {i: set() for i in range(n)}          # rows of T_0 (X) .. T_{n-1} on chip
    units = pipeline.weight_units
    loaded_w = [False] * len(units)
    taps = set(pipeline.taps)

    for j in range(len(wins[n][0])):
        for i in range(n):
            lo, hi = int(wins[i][0][j]), int(wins[i][1][j])
            tensor = "X" if i == 0 else f"T{i}"
            free = Store if i in taps else Evict
            for run in row_runs(sorted(r for r in held[i] if r < lo)):
                yield free(tensor, _span(*run))
                held[i].difference_update(range(*run))
            if i == 0:
                for run in row_runs([r for r in range(lo, hi) if r not in held[0]]):
                    yield Load("X", _span(*run))
                    held[0].update(range(*run))
        for i, seg in enumerate(segments, start=1):
            if i < n:
                lo, hi = int(wins[i][0][j]), int(wins[i][1][j])
                new_lo = max(lo, max(held[i]) + 1 if held[i] else 0)
                new = (new_lo, max(hi, new_lo))
            else:
                new = (int(wins[n][0][j]), int(wins[n][1][j]))
            if new[1] <= new[0]:
                continue
            temps = seg.temp_rows(np.asarray(new[0]), np.asarray(new[1]))
            tc = sched.tcs[i - 1]
            for c0 in range(0, seg.hidden, tc):
                c1 = min(c0 + tc, seg.hidden)
                if sched.resident[i - 1]:
                    if not loaded_w[i - 1]:
                        yield Load(f"W{i}", None, (0, seg.hidden))
                        loaded_w[i - 1] = True
                else:
                    yield Load(f"W{i}", None, (c0, c1))
                for layer, (tlo, thi) in zip(seg.temporaries, temps):
                    yield ComputeRows(layer.name, _span(tlo, thi), (c0, c1))
                yield ComputeRows(seg.layers[-1].name, _span(*new), (c0, c1))
                for layer, (tlo, thi) in zip(seg.temporaries, temps):
                    yield Evict(layer.name, _span(tlo, thi), (c0, c1))
                if not sched.resident[i - 1]:
                    yield Evict(f"W{i}", None, (c0, c1))
            for k, pr in enumerate(pipeline.projections):
                if pr.dst != i:
                    continue
                unit = n + k
                for c0 in range(0, pr.hidden, sched.tcs[unit]):
                    c1 = min(c0 + sched.tcs[unit], pr.hidden)
                    if sched.resident[unit]:
                        if not loaded_w[unit]:
                            yield Load(f"W{unit + 1}", None, (0, pr.hidden))
                            loaded_w[unit] = True
                    else:
                        yield Load(f"W{unit + 1}", None, (c0, c1))
                    yield ComputeRows(pr.layer.name, _span(*new), (c0, c1))
                    if not sched.resident[unit]:
                        yield Evict(f"W{unit + 1}", None, (c0, c1))
            if i < n:
                held[i].update(range(*new))
        yield Store("Y", _span(wins[n][0][j], wins[n][1][j]))
    for u, unit in enumerate(units):
        if loaded_w[u]:
            yield Evict(f"W{u + 1}", None, (0, unit.hidden))
    for i in range(n):
        for run in row_runs(sorted(held[i])):
            yield (Store if i in taps else Evict)("X" if i == 0 else f"T{i}", _span(*run))
