"""Row geometry of strip-wise execution: which input rows each output row strip needs.

Activations are processed in strips of output rows with full width and, for the block input
X, all channels. A strip of ``Tr`` output rows needs, through a stage of vertical kernel
``kh``, stride ``sh`` and padding ``ph``, input rows ``[a*sh - ph, (b-1)*sh - ph + kh)``
clipped to the real rows (padding rows are never stored or read).

A line buffer keeps rows shared by consecutive strips: moving to a strip frees the resident
rows outside its range and loads only the missing ones. :func:`walk_loads` counts the rows
such a walk loads.
"""

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class VerticalStage:
    """One stage's vertical geometry: kernel, stride, padding, input and output rows."""

    kernel: int
    stride: int
    padding: int
    rows_in: int
    rows_out: int

    def input_range(self, a, b):
        """Input rows ``[lo, hi)`` needed for output rows ``[a, b)`` (numpy-broadcast)."""
        lo = np.maximum(np.asarray(a) * self.stride - self.padding, 0)
        hi = np.minimum((np.asarray(b) - 1) * self.stride - self.padding + self.kernel, self.rows_in)
        return lo, hi


def strip_bounds(rows: int, tr: int) -> tuple[np.ndarray, np.ndarray]:
    """Output strips ``[a_j, b_j)`` of ``tr`` rows (the last may be shorter)."""
    a = np.arange(0, rows, tr, dtype=np.int64)
    return a, np.minimum(a + tr, rows)


def back_project(stages: list[VerticalStage], a, b) -> list[tuple[np.ndarray, np.ndarray]]:
    """Row ranges of every tensor from the chain input to its output, for output rows [a, b).

    ``stages`` run from input to output; the result lists the input range of ``stages[0]``
    first and ``[a, b)`` last.
    """
    ranges = [(np.asarray(a), np.asarray(b))]
    for stage in reversed(stages):
        ranges.append(stage.input_range(*ranges[-1]))
    return ranges[::-1]


def _overlap(lo1, hi1, lo2, hi2):
    return np.maximum(np.minimum(hi1, hi2) - np.maximum(lo1, lo2), 0)


@dataclass(frozen=True)
class StripWalk:
    """Row loads of a line-buffered walk over strips with ranges ``[lo_j, hi_j)``.

    ``forward``/``backward``: rows loaded by a pass over strips 0..n-1 / n-1..0 when the
    pass starts with its first strip's rows already resident. ``first``/``last``: rows of
    strip 0 / strip n-1. ``first_given_last``: rows of strip 0 missing when strip n-1 is
    resident (a raster restart). ``union``: distinct rows over all strips.
    """

    forward: int
    backward: int
    first: int
    last: int
    first_given_last: int
    union: int
    widest: int

    @classmethod
    def of(cls, lo: np.ndarray, hi: np.ndarray) -> "StripWalk":
        sizes = hi - lo
        step_f = sizes[1:] - _overlap(lo[1:], hi[1:], lo[:-1], hi[:-1])
        step_b = sizes[:-1] - _overlap(lo[:-1], hi[:-1], lo[1:], hi[1:])
        covered = np.zeros(int(hi.max()) if hi.size else 0, dtype=bool)
        for l, h in zip(lo.tolist(), hi.tolist()):
            covered[l:h] = True
        return cls(int(step_f.sum()), int(step_b.sum()), int(sizes[0]), int(sizes[-1]),
                   int(sizes[0] - _overlap(lo[0], hi[0], lo[-1], hi[-1])), int(covered.sum()),
                   int(sizes.max()))

    def passes(self, count, scan: bool):
        """Rows loaded by ``count`` consecutive passes (numpy-broadcast over ``count``).

        Pass 0 runs forwards from an empty buffer. Under Scan pass ``p`` runs backwards for
        odd ``p`` and starts on the strip the previous pass ended on; under raster every pass
        runs forwards and restarts at strip 0 with strip n-1 resident.
        """
        count = np.asarray(count, dtype=np.int64)
        later = np.maximum(count - 1, 0)
        if scan:
            backward_passes = count // 2
            return self.first + self.forward + backward_passes * self.backward + \
                (later - backward_passes) * self.forward
        return self.first + self.forward + later * (self.first_given_last + self.forward)
