"""The options several ``scanfuse`` commands share, each parsed in one place.

Each function is an argparse ``type``: it returns the parsed value or raises
``argparse.ArgumentTypeError`` (argparse names the option: ``argument --array: ...``).

``--buffer S`` / ``--split A,B,C``  entries (:func:`entries`, :func:`split`)
``--gemm M,K,N``                    :func:`gemm`
``--array R,C`` / ``--pe RxC``      :func:`array` (both spellings, one parser:
                                    :func:`scanfuse.hw.params.parse_array`)

and the option groups of the planning commands: the buffer model (:func:`add_model_args`,
:func:`model`), the engine clock (:func:`add_engine_args`, :func:`engine`) and the network
(:func:`network`).
"""

import argparse

from ..errors import InvalidOptionError, ScanFuseError
from ..hw.params import parse_array
from ..network import get_network
from ..plan import ORDER_CHOICES, BufferModel, ElementWidths
from ..plan.gemm import Gemm
from ..units import parse_entries

__all__ = ["entries", "split", "gemm", "tile", "array", "format_array", "add_model_args",
           "add_engine_args", "engine", "model", "network"]


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


# --- option groups several commands share -------------------------------------------------

def add_model_args(p: argparse.ArgumentParser, order_choices=ORDER_CHOICES, default_order="best"):
    """--buffer | --split, --order, --psum-entries, --double-buffer, --psum-bytes, --json."""
    size = p.add_mutually_exclusive_group(required=True)
    size.add_argument("--buffer", type=entries, metavar="S",
                      help="on-chip buffer capacity in entries: 65536, 64K or 64Ki (thesis: 64K)")
    size.add_argument("--split", type=split, metavar="A,B,C",
                      help="separate memories instead: A and B tile entries and C accumulators "
                           "(e.g. 16K,16K,8K, the 8x8 engine's default); single GEMM layers only")
    p.add_argument("--order", choices=order_choices, default=default_order,
                   help=f"visit order: Scan, raster, or the better of both (default {default_order})")
    p.add_argument("--psum-entries", type=int, default=1, metavar="E",
                   help="buffer entries one resident partial sum takes, 1..8 (default 1, as in "
                        "the thesis; 4 = int32 accumulators in an int8-wide buffer)")
    p.add_argument("--double-buffer", action="store_true",
                   help="reserve room for a second A and B tile (loads overlap compute)")
    p.add_argument("--psum-bytes", type=int, default=4, metavar="B",
                   help="bytes per partial sum spilled to DRAM, 1..16 (default 4: int32)")
    p.add_argument("--json", action="store_true", help="print one JSON document instead of tables")


def add_engine_args(p: argparse.ArgumentParser):
    """--pe, --freq-mhz, --port-bytes (the engine that times a burst trace)."""
    p.add_argument("--pe", type=array, default="8x8", metavar="RxC",
                   help="PE array of the engine, R x C int8 MACs per cycle (default 8x8)")
    p.add_argument("--freq-mhz", type=float, default=100.0, metavar="F",
                   help="engine clock in MHz (default 100)")
    p.add_argument("--port-bytes", type=float, default=8.0, metavar="B",
                   help="DRAM bytes the engine moves per cycle (default 8: a 64-bit AXI port)")


def engine(args):
    """The EngineClock of --pe, --freq-mhz and --port-bytes."""
    from ..dram.evaluate import EngineClock
    rows, cols = args.pe
    return EngineClock.of_array(rows, cols, args.freq_mhz, args.port_bytes)


def model(args) -> tuple[BufferModel, ElementWidths]:
    """The buffer model and DRAM element widths of :func:`add_model_args`'s options."""
    widths = ElementWidths(psum=args.psum_bytes)
    if args.split is not None:
        if args.psum_entries != 1:
            raise InvalidOptionError("--psum-entries applies to a shared --buffer, not --split")
        return BufferModel.separate(*args.split, double_buffer=args.double_buffer), widths
    return BufferModel(args.buffer, args.psum_entries, args.double_buffer), widths


def network(args):
    """The network named by --network or read from --onnx."""
    if getattr(args, "onnx", None) is not None:
        from ..network.onnx_import import load_onnx
        return load_onnx(args.onnx)
    return get_network(args.network)
