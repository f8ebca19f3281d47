"""Tilings of a GEMM: tile sizes, loop order and visit order.

Index names follow the dimensions: ``m`` walks the rows of A and C (M), ``n`` the columns of
B and C (N), ``k`` the reduction (K). (The method notes call them i, j, k.)
"""

import enum
from dataclasses import dataclass
from itertools import permutations

from ..errors import InvalidOptionError, InvalidShapeError
from .gemm import Gemm, check_dim

#: All six loop orders, outermost index first.
LOOP_ORDERS: tuple[str, ...] = tuple("".join(p) for p in permutations("mnk"))

#: The two indices of each operand's tile coordinates, in (row, col) order.
OPERAND_INDICES: dict[str, tuple[str, str]] = {"A": ("m", "k"), "B": ("k", "n"), "C": ("m", "n")}


class VisitOrder(enum.Enum):
    """How the tile loops are walked.

    ``RASTER``: plain nested loops; each inner loop restarts at 0.
    ``SCAN``: boustrophedon at every level; every step changes exactly one tile index, so at
    every turn one operand tile stays resident.
    """

    RASTER = "raster"
    SCAN = "scan"

    @classmethod
    def parse(cls, text: "str | VisitOrder") -> "VisitOrder":
        if isinstance(text, cls):
            return text
        try:
            return cls(str(text).lower())
        except ValueError:
            raise InvalidOptionError(
                f"visit order must be one of scan, raster, not {text!r}") from None


def check_loop_order(order: str) -> str:
    """Return ``order`` if it is a permutation of ``'mnk'`` (outermost first), else raise."""
    if order not in LOOP_ORDERS:
        raise InvalidOptionError(
            f"loop order must be a permutation of m, n, k ({', '.join(LOOP_ORDERS)}), not {order!r}")
    return order


def tile_count(dim: int, tile: int) -> int:
    """Number of tiles of size ``tile`` covering ``dim`` elements (the last may be partial)."""
    return -(-dim // tile)


@dataclass(frozen=True)
class Tiling:
    """A tiled schedule of one GEMM.

    Attributes
    ----------
    tm, tn, tk:
        Full tile sizes in elements along M, N and K, each in ``1..dim``. Edge tiles are
        ``dim - (count-1)*tile`` elements (fragmented tiles are counted at their true size).
    loop_order:
        Permutation of ``'mnk'``, outermost loop first.
    visit_order:
        :class:`VisitOrder` (raster or Scan).
    """

    tm: int
    tn: int
    tk: int
    loop_order: str = "mnk"
    visit_order: VisitOrder = VisitOrder.SCAN

    def __post_init__(self):
        for name in ("tm", "tn", "tk"):
            check_dim(name, getattr(self, name))
        check_loop_order(self.loop_order)
        object.__setattr__(self, "visit_order", VisitOrder.parse(self.visit_order))

    def tile(self, letter: str) -> int:
        return {"m": self.tm, "n": self.tn, "k": self.tk}[letter]

    def check_fits(self, gemm: Gemm) -> None:
        """Raise :class:`InvalidShapeError` if a tile size exceeds its dimension."""
        for letter in "mnk":
            if self.tile(letter) > gemm.dim(letter):
                raise InvalidShapeError(
                    f"t{letter}={self.tile(letter)} exceeds {letter.upper()}={gemm.dim(letter)}; "
                    f"tile sizes range over 1..{letter.upper()}")

    def counts(self, gemm: Gemm) -> dict[str, int]:
        """Tile counts per index: ``{'m': ceil(M/tm), 'n': ..., 'k': ...}``."""
        return {x: tile_count(gemm.dim(x), self.tile(x)) for x in "mnk"}

    def span(self, gemm: Gemm, letter: str, index: int) -> tuple[int, int]:
        """Half-open element range ``[lo, hi)`` of tile ``index`` along ``letter``."""
        t = self.tile(letter)
        return index * t, min((index + 1) * t, gemm.dim(letter))

    def describe(self) -> str:
        return f"{self.tm}x{self.tn}x{self.tk} {self.loop_order} {self.visit_order.value}"
