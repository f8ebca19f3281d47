"""The options several ``scanfuse`` commands share, each parsed in one place.

Each function is an argparse ``type``: it returns the parsed value or raises
``argparse.ArgumentTypeError`` (argparse names the option: ``argument --array: ...``).

``--buffer S`` / ``--split A,B,C``  entries (:func:`entries`, :func:`split`)
``--gemm M,K,N``                    :func:`gemm`
``--array R,C`` / ``--pe RxC``      :func:`array` (both spellings, one parser:
                                    :func:`scanfuse.hw.params.parse_array`)
"""

import argparse

from ..errors import InvalidOptionError, ScanFuseError
from ..hw.params import parse_array
from ..plan.gemm import Gemm
from ..units import parse_entries

__all__ = ["entries", "split", "gemm", "tile", "array", "format_array"]


def entries(text: str) -> int:
    """A buffer capacity in entries: ``65536``, ``64K`` or ``64Ki``."""
    try:
        return parse_entries(text)
    except InvalidOptionError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def split(text: str) -> tuple[int, int, int]:
    """Separate A, B and C capacities in entries, e.g. ``16K,16K,8K``."""
    parts = str(text).split(",")
    if len(parts) != 3:
        raise argparse.ArgumentTypeError(f"--split is A,B,C (three entry counts such as 16K,16K,8K), not {text!r}")
    try:
        return tuple(parse_entries(p, what="a split capacity") for p in parts)
    except InvalidOptionError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def gemm(text: str) -> Gemm:
    """A GEMM ``M,K,N`` (three positive integers)."""
    try:
        return Gemm.parse(text)
    except ScanFuseError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def tile(text: str) -> tuple[int, int, int]:
    """Tile sizes ``m,n,k`` (three positive integers)."""
    try:
        g = Gemm.parse(text)
    except ScanFuseError:
        raise argparse.ArgumentTypeError(
            f"a tile is given as m,n,k (three positive integers), not {text!r}") from None
    return g.M, g.K, g.N


def array(text: str) -> tuple[int, int]:
    """A PE array ``R,C`` or ``RxC`` -> ``(rows, cols)``."""
    try:
        return parse_array(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def format_array(rows_cols: tuple[int, int]) -> str:
    """``(8, 8)`` -> ``"8,8"``, the spelling commands echo."""
    return f"{rows_cols[0]},{rows_cols[1]}"
