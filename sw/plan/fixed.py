"""A plan for a tiling chosen by hand (tests, bring-up, ``--tile``), not by the search."""

from ..errors import InvalidOptionError
from .bound import lower_bound
from .buffer import BufferModel, ElementWidths
from .gemm import Gemm
from .search import GemmPlan
from .tiling import Tiling
from .traffic import gemm_traffic

__all__ = ["fixed_plan"]


def fixed_plan(gemm: Gemm, tiling: Tiling, model: BufferModel,
               widths: ElementWidths = ElementWidths()) -> GemmPlan:
    """The :class:`GemmPlan` of ``tiling`` on ``gemm`` with its exact traffic.

    Raises :class:`InvalidOptionError` if a tile exceeds its dimension or the tiles do not fit
    ``model``.
    """
    tiling.check_fits(gemm)
    if not model.fits(tiling.tm, tiling.tn, tiling.tk):
        raise InvalidOptionError(f"tiles {tiling.tm}x{tiling.tn}x{tiling.tk} do not fit "
                                 f"{model.describe()}")
    return GemmPlan(gemm, tiling, gemm_traffic(gemm, tiling), lower_bound(gemm, model.entries),
                    model, widths)
