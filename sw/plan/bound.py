"""I/O lower bound of a GEMM under an on-chip buffer of S entries (method notes, section 3).

``LB(M, N, K, S) = max(M*K + K*N + M*N, 2*M*N*K / sqrt(S) - 2*S)`` elements: compulsory
traffic, or the bound of Smith, Lowery, Langou and van de Geijn, "A Tight I/O Lower Bound for
Matrix Multiplication" (arXiv:1702.02017), ``2mnk/sqrt(S) - 2S`` for ``C := AB + C``. The
``-2S`` term must stay: without it the "bound" exceeds traffic that legal schedules achieve
whenever one operand fits on chip.
"""

import math

from ..errors import InvalidOptionError
from ..units import MAX_ENTRIES
from .gemm import Gemm


def lower_bound(gemm: Gemm, entries: int) -> int:
    """Lower bound on DRAM traffic in elements, rounded up to a whole element.

    Raises :class:`InvalidOptionError` unless ``gemm`` is a :class:`Gemm` and ``entries`` a
    positive whole number of at most 3 x :data:`scanfuse.units.MAX_ENTRIES` (the sum of a
    split buffer's three memories)."""
    if not isinstance(gemm, Gemm):
        raise InvalidOptionError(f"gemm must be a Gemm, not {gemm!r}")
    if (isinstance(entries, bool) or not isinstance(entries, int)
            or not 1 <= entries <= 3 * MAX_ENTRIES):
        raise InvalidOptionError(f"entries must be a whole number from 1 to {3 * MAX_ENTRIES:,}, "
                                 f"not {entries!r}")
    io_bound = 2 * gemm.M * gemm.N * gemm.K / math.sqrt(entries) - 2 * entries
    return max(gemm.compulsory, math.ceil(io_bound))
