"""``scanfuse verilog`` (``make verilog``): the engine's Verilog, named by configuration
(``DIR/engine.<cfg.name>.v``, e.g. ``build/engine.r8c8.v``), optionally linted by Verilator
with the waivers of :data:`scanfuse.hw.verilog.LINT_WAIVERS`.

Amaranth is imported when the command runs, so the rest of the CLI starts fast.
"""

import sys

from . import options

__all__ = ["add_parser", "command"]


def add_parser(sub, parser_class) -> None:
    """Register ``scanfuse verilog`` on the top-level subparsers."""
    p = sub.add_parser("verilog", help="write the engine's Verilog (and lint it)",
                       description="Write the engine's Verilog, named by its configuration, "
                                   "and optionally lint it.")
    p.add_argument("--array", type=options.array, default=(8, 8), metavar="R,C",
                   help="PE array rows,cols (or RxC), powers of two (default 8,8)")
    p.add_argument("--axi-bits", type=int, default=64, help="AXI data width in bits")
    p.add_argument("--out", default="build", help="output directory (default build/)")
    p.add_argument("--lint", action="store_true", help="run verilator --lint-only -Wall")
    options.add_force_arg(p, "Verilog file")


def command(args, console) -> int:
    """Write the Verilog; exit 1 if the lint finds anything, 2 for a bad configuration."""
    from ..errors import InvalidOptionError
    from ..hw.params import AccelConfig
    from ..files import check_output_dir, check_output_file, write_text
    from ..hw.verilog import LINT_WAIVERS, engine_verilog, lint

    try:
        cfg = AccelConfig(rows=args.array[0], cols=args.array[1], axi_data_bits=args.axi_bits)
    except ValueError as err:
        raise InvalidOptionError(str(err)) from None
    out = check_output_dir(args.out, "--out", must_be_new=False)
    path = out / f"engine.{cfg.name}.v"
    check_output_file(path, "Verilog file", force=args.force)
    text = engine_verilog(cfg)
    out.mkdir(exist_ok=True)
    write_text(path, text)
    print(f"wrote {path} ({path.stat().st_size:,} bytes)")
    if args.lint:
        result = lint(path)
        if result.returncode:
            sys.stderr.write(result.stderr)
            return 1
        print(f"verilator --lint-only -Wall clean (waived: {', '.join(LINT_WAIVERS)})")
    return 0
