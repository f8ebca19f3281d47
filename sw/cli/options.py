"""The options several ``scanfuse`` commands share, each parsed in one place.

Each function is an argparse ``type``: it returns the parsed value or raises
``argparse.ArgumentTypeError`` (argparse names the option: ``argument --array: ...``).

``--buffer S`` / ``--split A,B,C``  entries (:func:`entries`, :func:`split`)
``--gemm M,K,N``                    :func:`gemm`
``--array R,C`` / ``--pe RxC``      :func:`array` (both spellings, one parser:
                                    :func:`scanfuse.hw.params.parse_array`)

``--dram-policy P``                 :func:`dram_policy`

and the option groups of the planning commands: the buffer model (:func:`add_model_args`,
:func:`model`), the engine clock (:func:`add_engine_args`, :func:`engine`), the DRAM and its
cross-check simulator (:func:`add_dram_args`, :func:`check_dram_sim`) and the network
(:func:`network`).
"""

import argparse

from ..errors import InvalidOptionError, ScanFuseError
from ..hw.params import parse_array
from ..network import get_network
from ..plan import ORDER_CHOICES, BufferModel, ElementWidths
from ..plan.gemm import Gemm
from ..units import MAX_SEED, check_real, check_seed, parse_entries

__all__ = ["entries", "split", "gemm", "tile", "array", "count_type", "seed_type", "probability", "format_array", "dram_policy",
           "add_model_args", "add_engine_args", "add_dram_args", "check_dram_sim", "engine",
           "model", "network"]


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


def positive_real(text: str) -> float:
    """A finite number > 0 (a clock, a port width): ``inf``, ``nan``, 0 and below are refused."""
    try:
        return check_real(float(text), "the value")
    except (ValueError, InvalidOptionError):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, not {text!r}") from None


def count_type(limit: int):
    """An argparse type: a count, a whole number 1..``limit``."""
    def count(text: str) -> int:
        try:
            value = int(str(text), 10)
        except ValueError:
            value = 0
        if not 1 <= value <= limit:
            raise argparse.ArgumentTypeError(
                f"a whole number from 1 to {limit:,}, not {text!r}")
        return value
    return count


def seed_type(limit: int = MAX_SEED):
    """An argparse type: a seed, a whole number 0..``limit``."""
    def seed(text: str) -> int:
        try:
            return check_seed(int(str(text), 10), limit=limit)
        except (ValueError, InvalidOptionError):
            raise argparse.ArgumentTypeError(
                f"a seed is a whole number from 0 to {limit:,}, not {text!r}") from None
    return seed


def probability(low_open: bool = True):
    """An argparse type: a probability in (0, 1] (``low_open``) or [0, 1)."""
    def parse(text: str) -> float:
        try:
            value = float(text)
            if low_open:
                return check_real(value, "a probability", high=1.0)
            return check_real(value, "a probability", low_open=False, high=1.0, high_open=True)
        except (ValueError, InvalidOptionError):
            span = "0 < p <= 1" if low_open else "0 <= p < 1"
            raise argparse.ArgumentTypeError(f"a probability must be {span}, not {text!r}") from None
    return parse


def dram_policy(text: str):
    """A DRAM controller policy (:func:`scanfuse.dram.policy.parse_policy`)."""
    from ..dram.policy import parse_policy
    try:
        return parse_policy(text)
    except ScanFuseError as err:
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


def add_force_arg(p: argparse.ArgumentParser, what: str):
    """--force: replace existing output (``what`` names it) instead of refusing."""
    p.add_argument("--force", action="store_true",
                   help=f"replace an existing {what} (without it an existing one is refused, "
                        f"before any work)")


def add_engine_args(p: argparse.ArgumentParser):
    """--pe, --freq-mhz, --port-bytes (the engine that times a burst trace)."""
    p.add_argument("--pe", type=array, default="8x8", metavar="RxC",
                   help="PE array of the engine, R x C int8 MACs per cycle (default 8x8)")
    p.add_argument("--freq-mhz", type=positive_real, default=100.0, metavar="F",
                   help="engine clock in MHz (default 100)")
    p.add_argument("--port-bytes", type=positive_real, default=8.0, metavar="B",
                   help="DRAM bytes the engine moves per cycle (default 8: a 64-bit AXI port)")


def add_dram_args(p: argparse.ArgumentParser, dram_sim_does: str):
    """--dram, --mapping, --dram-policy and the cross-check simulator (--dram-sim,
    --dram-sim-config, --dram-sim-system); ``dram_sim_does`` says what --dram-sim runs."""
    p.add_argument("--dram", default="ddr3", choices=("ddr3", "ddr4"),
                   help="DRAM preset (default ddr3: DRAMSim2's default part; ddr4: DRAMsim3's)")
    p.add_argument("--mapping", default="scheme2", metavar="SCHEME",
                   help="DRAMSim2 address mapping scheme1..scheme7 (default scheme2)")
    p.add_argument("--dram-policy", default="dramsim2", type=dram_policy, metavar="POLICY",
                   help="DRAM controller policy: dramsim2 (default: DRAMSim2 as shipped, rows "
                        "close when idle, power-down when idle), close-on-idle (same, no "
                        "power-down), 'powerdown-after N' (power-down after N idle DRAM "
                        "cycles), open-page (rows close on conflict or refresh, no power-down: "
                        "DRAMsim3), always-on (banks charged open all run: ScanFuse's old "
                        "accounting)")
    p.add_argument("--dram-sim", metavar="PATH",
                   help=f"also {dram_sim_does}, set up for the same mapping, policy and runtime, "
                        f"and print its energy beside the model's")
    p.add_argument("--dram-sim-config", metavar="INI",
                   help="device ini (DRAMSim2) or config (DRAMsim3) for --dram-sim (default: the "
                        "preset's, found next to the binary in the simulator's source tree)")
    p.add_argument("--dram-sim-system", metavar="INI",
                   help="DRAMSim2's system ini for --dram-sim (default: system.ini.example next "
                        "to the binary)")


def check_dram_sim(args, fmt: str) -> None:
    """Fail fast, before minutes of planning, on a --dram-sim that cannot run as ``fmt``
    (``"dramsim2"`` or ``"dramsim3"``)."""
    from ..dram.external import default_config, find_simulator
    exe = find_simulator(args.dram_sim)
    config, system = default_config(exe, fmt, args.dram)
    if (args.dram_sim_config or config) is None:
        raise InvalidOptionError(f"--dram-sim: no {fmt} config for {args.dram} next to "
                                 f"{args.dram_sim!r}; give --dram-sim-config")
    if fmt == "dramsim2" and (args.dram_sim_system or system) is None:
        raise InvalidOptionError(f"--dram-sim: no DRAMSim2 system ini next to {args.dram_sim!r}; "
                                 f"give --dram-sim-system")


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
