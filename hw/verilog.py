"""Generate the engine's Verilog (``make verilog``) and lint it with Verilator.

``scanfuse verilog [--array R,C] [--axi-bits B] [--out DIR] [--lint]`` (``scanfuse.cli.verilog``) writes
``DIR/engine.<cfg.name>.v`` (e.g. ``build/engine.r8c8.v``), top module ``engine``, ports as in
:class:`~scanfuse.hw.engine.Engine` (``clk``, ``rst``, ``ctrl__*``, ``bus__*``, ``irq``).

Lint runs ``verilator --lint-only -Wall`` with the warning classes of :data:`LINT_WAIVERS`
switched off; each is a property of Amaranth's Verilog back end, not of the design.
"""

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


if __name__ == "__main__":
    sys.exit("python -m scanfuse.hw.verilog is now `scanfuse verilog` (same options)")
