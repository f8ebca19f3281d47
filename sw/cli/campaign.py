"""``scanfuse campaign`` (``make regress``): the random-stall campaign of
:mod:`scanfuse.sim.stall_campaign`: every MobileNetV2 pointwise layer at full size on the
default engine under Verilator, once per stall seed."""

import contextlib
import sys

from . import options

__all__ = ["add_parser", "command"]


def add_parser(sub, parser_class) -> None:
    """Register ``scanfuse campaign`` on the top-level subparsers."""
    p = sub.add_parser("campaign", help="random-stall campaign of the Verilator regression",
                       description="Every MobileNetV2 pointwise layer under Verilator once per "
                                   "seed; seed s draws its own memory stall probabilities "
                                   "(0.5..0.95) and its own layer data.")
    p.add_argument("--seeds", type=options.count_type(1000), default=20,
                   help="number of stall seeds, 1..1000 (default 20)")
    p.add_argument("--first", type=options.seed_type((1 << 32) - 1001), default=1,
                   help="first seed (default 1)")
    p.add_argument("--layers", help="comma-separated layer names (default: all pointwise layers)")
    p.add_argument("--log", metavar="FILE", help="write every seed's per-layer table here")
    options.add_force_arg(p, "--log file")


def command(args, console) -> int:
    """Run the campaign; exit 1 on any mismatch, 2 when Verilator is missing."""
    from ..files import atomic_file, check_output_file
    from ..hw.params import AccelConfig
    from ..sim.stall_campaign import campaign
    from ..sim.verilator_run import check_layer_names, verilator_available, verilator_build

    layers = args.layers.split(",") if args.layers is not None else None
    check_layer_names(layers)
    if args.log:
        check_output_file(args.log, "--log", force=args.force)
    if not verilator_available():
        print("scanfuse: error: verilator is not installed", file=sys.stderr)
        return 2
    cfg = AccelConfig()
    verilator_build(cfg)
    with atomic_file(args.log) if args.log else contextlib.nullcontext() as log:
        totals = campaign(range(args.first, args.first + args.seeds), cfg, log=log,
                          layers=layers)
    return 0 if totals["runs"] and not totals["mismatches"] else 1
