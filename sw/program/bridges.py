"""Planner values -> the hardware's codes: the plan -> hardware bridge of the program stage.

The hardware (:mod:`scanfuse.hw.addrgen`) names loop orders and visit orders with its own
shaped enums and imports nothing of the planner; this module is where the two vocabularies
meet, and it checks once, on import, that they agree code for code.
"""

from amaranth.lib import data

from ..hw.addrgen import GemmDesc, LoopOrder, Visit
from ..hw.params import DIM_BITS
from ..plan.gemm import Gemm
from ..plan.tiling import LOOP_ORDERS, Tiling, VisitOrder

__all__ = ["loop_order_code", "visit_code", "gemm_desc"]

# The enum and the planner must agree on the codes (one source of truth: LOOP_ORDERS).
if [o.letters for o in LoopOrder] != list(LOOP_ORDERS):
    raise ImportError(f"hw LoopOrder {[o.letters for o in LoopOrder]} disagrees with the "
                      f"planner's LOOP_ORDERS {list(LOOP_ORDERS)}")


def loop_order_code(order: str) -> LoopOrder:
    """The :class:`LoopOrder` member for a planner loop-order string such as ``'nkm'``."""
    return LoopOrder[str(order).upper()]


def visit_code(visit: "VisitOrder | str") -> Visit:
    """The :class:`Visit` member for a planner visit order (``VisitOrder`` or its name)."""
    return Visit[VisitOrder.parse(visit).name]


def gemm_desc(gemm: Gemm, tiling: Tiling, *, dim_bits: int = DIM_BITS) -> data.Const:
    """The address generator's descriptor constant (:class:`GemmDesc`) of ``tiling`` on
    ``gemm``; ``ValueError`` if a dimension does not fit in ``dim_bits`` bits."""
    layout = GemmDesc(dim_bits)
    limit = (1 << dim_bits) - 1
    for name, value in (("M", gemm.M), ("N", gemm.N), ("K", gemm.K)):
        if value > limit:
            raise ValueError(f"{name}={value} does not fit in {dim_bits} bits")
    return layout.const({
        "M": gemm.M, "N": gemm.N, "K": gemm.K,
        "tm": tiling.tm, "tn": tiling.tn, "tk": tiling.tk,
        "loop_order": loop_order_code(tiling.loop_order),
        "visit": visit_code(tiling.visit_order),
    })
