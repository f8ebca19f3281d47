"""Generate the engine's Verilog (``make verilog``) and lint it with Verilator.

``python -m scanfuse.hw.verilog [--array R,C] [--axi-bits B] [--out DIR] [--lint]`` writes
``DIR/engine.<cfg.name>.v`` (e.g. ``build/engine.r8c8.v``), top module ``engine``, ports as in
:class:`~scanfuse.hw.engine.Engine` (``clk``, ``rst``, ``ctrl__*``, ``bus__*``, ``irq``).

Lint runs ``verilator --lint-only -Wall`` with the warning classes of :data:`LINT_WAIVERS`
switched off; each is a property of Amaranth's Verilog back end, not of the design.
"""

import argparse
import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

from amaranth.back import verilog

from .engine import Engine
from .params import AccelConfig

__all__ = ["LINT_WAIVERS", "source_hash", "engine_verilog", "write_engine", "lint"]

_HW_DIR = Path(__file__).resolve().parent


def source_hash(*extra: Path) -> str:
    """Hash of the engine's sources (``hw/*.py``), the Amaranth version and ``extra`` files:
    12 hex digits naming what a build (Verilog, simulator, FPGA report) was made from."""
    import amaranth
    h = hashlib.sha256(amaranth.__version__.encode())
    for path in sorted(_HW_DIR.glob("*.py")) + sorted(extra):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:12]

#: Verilator warning classes waived for generated Verilog, with the reason.
LINT_WAIVERS = {
    "WIDTH": "yosys trims constant zero high bits of operands (e.g. `a + 3'h7` against a 16-bit "
             "sum); the arithmetic is Amaranth's, whose widths are exact",
    "CASEINCOMPLETE": "Amaranth emits `casez` without `default` inside `always @*` blocks that "
                      "assign every target before the case, so no latch can result",
    "UNUSEDSIGNAL": "Amaranth declares a wire for every field of every `data.View` (descriptor "
                    "and stream payload fields), used or not",
    "DECLFILENAME": "all modules are in one file named after the configuration",
}


def engine_verilog(cfg: AccelConfig) -> str:
    """The Verilog text of ``Engine(cfg)``, top module ``engine``."""
    return verilog.convert(Engine(cfg), name="engine")


def write_engine(cfg: AccelConfig, out_dir: "str | Path" = "build") -> Path:
    """Write ``out_dir/engine.<cfg.name>.v`` and return its path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"engine.{cfg.name}.v"
    path.write_text(engine_verilog(cfg))
    return path


def lint(path: "str | Path") -> subprocess.CompletedProcess:
    """``verilator --lint-only -Wall`` with :data:`LINT_WAIVERS` off; raises if Verilator is
    missing. ``returncode == 0`` means clean."""
    exe = shutil.which("verilator")
    if exe is None:
        raise FileNotFoundError("verilator is not installed")
    args = [exe, "--lint-only", "-Wall", *(f"-Wno-{w}" for w in LINT_WAIVERS), str(path)]
    return subprocess.run(args, capture_output=True, text=True)


def _array(text: str) -> tuple[int, int]:
    try:
        rows, cols = (int(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--array is R,C (two integers), not {text!r}") from None
    return rows, cols


def main(argv: "list[str] | None" = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scanfuse.hw.verilog",
                                     description="Write the engine's Verilog, named by its "
                                                 "configuration, and optionally lint it.")
    parser.add_argument("--array", type=_array, default=(8, 8), metavar="R,C",
                        help="PE array rows,cols (powers of two; default 8,8)")
    parser.add_argument("--axi-bits", type=int, default=64, help="AXI data width in bits")
    parser.add_argument("--out", default="build", help="output directory (default build/)")
    parser.add_argument("--lint", action="store_true", help="run verilator --lint-only -Wall")
    args = parser.parse_args(argv)
    try:
        cfg = AccelConfig(rows=args.array[0], cols=args.array[1], axi_data_bits=args.axi_bits)
        path = write_engine(cfg, args.out)
    except ValueError as err:
        print(f"scanfuse.hw.verilog: error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {path} ({path.stat().st_size:,} bytes)")
    if args.lint:
        result = lint(path)
        if result.returncode:
            sys.stderr.write(result.stderr)
            return 1
        print(f"verilator --lint-only -Wall clean (waived: {', '.join(LINT_WAIVERS)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
