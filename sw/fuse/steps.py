"""Step lists of fused chains (the fused counterpart of :mod:`scanfuse.schedule`).

Steps (ranges half-open; rows are the tensor's own rows, full width; ``channels`` are hidden
channels):

``{"op": "load",  "tensor": "X", "rows": [r0, r1]}``        input rows, all channels
``{"op": "free",  "tensor": "X", "rows": [r0, r1]}``
``{"op": "load",  "tensor": "W", "channels": [c0, c1]}``    every layer's weights of a chunk
``{"op": "evict", "tensor": "W", "channels": [c0, c1]}``
``{"op": "compute", "layer": NAME, "rows": [r0, r1], "channels": [c0, c1]}``
    produce NAME's output rows for the chunk; the chain's last layer instead accumulates the
    chunk into the Y accumulators of those rows (all output channels)
``{"op": "free",  "tensor": NAME, "rows": [..], "channels": [..]}``   an intermediate
``{"op": "load",  "tensor": "Y", "rows": [r0, r1]}``        partial-sum read-back
``{"op": "store", "tensor": "Y", "rows": [r0, r1]}``        final when every chunk is in

Generated from the loop nest directly (not from :func:`scanfuse.fuse.chain.chain_traffic`),
so the tests can hold one against the other.
"""

from collections.abc import Iterator

from .chain import FusedChain, FusedSchedule


def _span(lo: int, hi: int) -> list[int]:
    return [int(lo), int(hi)]


def fused_steps(chain: FusedChain, sched: FusedSchedule) -> Iterator[dict]:
    ranges = chain.strip_ranges(sched.tr)
    strips = len(ranges[-1][0])
    hidden, tc = chain.hidden, sched.tc
    chunks = [(c, min(c + tc, hidden)) for c in range(0, hidden, tc)]
    producers = [layer.name for layer in chain.layers[:-1]]
    tensor_ranges = ranges if chain.has_first else ranges[1:]
    last = chain.layers[-1].name

    x_rows: set[int] = set()
    state = {"w": None}
    y_resident: set[int] = set()

    def x_to(j: int, keep_all: bool) -> Iterator[dict]:
        lo, hi = int(ranges[0][0][j]), int(ranges[0][1][j])
        if not keep_all:
            outside = sorted(r for r in x_rows if not lo <= r < hi)
            for run in _runs(outside):
                yield {"op": "free", "tensor": "X", "rows": _span(*run)}
                x_rows.difference_update(range(*run))
        missing = [r for r in range(lo, hi) if r not in x_rows]
        for run in _runs(missing):
            yield {"op": "load", "tensor": "X", "rows": _span(*run)}
            x_rows.update(range(*run))

    w_loaded: set[int] = set()

    def w_to(c: int) -> Iterator[dict]:
        if sched.w_resident:
            if c not in w_loaded:
                yield {"op": "load", "tensor": "W", "channels": _span(*chunks[c])}
                w_loaded.add(c)
        elif state["w"] != c:
            if state["w"] is not None:
                yield {"op": "evict", "tensor": "W", "channels": _span(*chunks[state["w"]])}
            yield {"op": "load", "tensor": "W", "channels": _span(*chunks[c])}
            state["w"] = c

    def compute(j: int, c: int) -> Iterator[dict]:
        c0, c1 = chunks[c]
        for name, (lo, hi) in zip(producers, tensor_ranges):
            yield {"op": "compute", "layer": name, "rows": _span(lo[j], hi[j]), "channels": [c0, c1]}
        a, b = ranges[-1][0][j], ranges[-1][1][j]
        yield {"op": "compute", "layer": last, "rows": _span(a, b), "channels": [c0, c1]}
        for name, (lo, hi) in zip(producers, tensor_ranges):
            yield {"op": "free", "tensor": name, "rows": _span(lo[j], hi[j]), "channels": [c0, c1]}

    def y_rows(j: int) -> list[int]:
        return _span(ranges[-1][0][j], ranges[-1][1][j])

    if sched.mode == "strips":
        order = range(len(chunks))
        for j in range(strips):
            yield from x_to(j, keep_all=False)
            run = order if not sched.scan or j % 2 == 0 else reversed(order)
            for c in run:
                yield from w_to(c)
                yield from compute(j, c)
            yield {"op": "store", "tensor": "Y", "rows": y_rows(j)}
    else:
        visits = []
        for c in range(len(chunks)):
            strip_order = range(strips) if not sched.scan or c % 2 == 0 else range(strips - 1, -1, -1)
            visits.extend((c, j) for j in strip_order)
        for index, (c, j) in enumerate(visits):
            yield from w_to(c)
            yield from x_to(j, keep_all=sched.x_resident)
            if not sched.y_resident and j not in y_resident and c > 0:
                yield {"op": "load", "tensor": "Y", "rows": y_rows(j)}
            y_resident.add(j)
            yield from compute(j, c)
            following = visits[index + 1] if index + 1 < len(visits) else None
            final = c == len(chunks) - 1
            keep = (not final and (sched.y_resident or (following is not None and following[1] == j)))
            if not keep:
                yield {"op": "store", "tensor": "Y", "rows": y_rows(j)}
                y_resident.discard(j)
    for c in sorted(w_loaded):
        yield {"op": "evict", "tensor": "W", "channels": _span(*chunks[c])}
    if state["w"] is not None:
        yield {"op": "evict", "tensor": "W", "channels": _span(*chunks[state["w"]])}
    for run in _runs(sorted(x_rows)):
        yield {"op": "free", "tensor": "X", "rows": _span(*run)}


def _runs(rows: list[int]) -> Iterator[tuple[int, int]]:
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
