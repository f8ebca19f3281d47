"""``scanfuse schedule``: the step list of one GEMM's plan (parser and handler)."""

import sys

from rich.console import Console

from ..errors import InvalidOptionError, WorkTooLargeError
from ..plan import Tiling, plan_gemm
from ..plan.tiling import LOOP_ORDERS
from . import options

__all__ = ["add_parser", "command"]

#: Default --max-steps: 10^6 steps, ~75 MB of JSON and a few seconds.
DEFAULT_MAX_STEPS = 1_000_000


def add_parser(sub, parser_class) -> None:
    """Register ``scanfuse schedule`` on the top-level subparsers."""
    p = sub.add_parser("schedule", help="print the step list of one GEMM's plan",
                       description="Print the explicit step list (load / compute / store / "
                                   "evict, half-open ranges in each operand's (row, col) "
                                   "coordinates) of the best plan, or of a tiling you give.")
    p.add_argument("--gemm", required=True, type=options.gemm, metavar="M,K,N",
                   help="the GEMM C[M,N] = A[M,K] B[K,N]")
    options.add_model_args(p)
    p.add_argument("--tile", type=options.tile, metavar="m,n,k",
                   help="use these tile sizes (elements) instead of searching; needs --loop-order")
    p.add_argument("--loop-order", choices=LOOP_ORDERS, metavar="ORDER",
                   help=f"loop order with --tile, outermost first: {', '.join(LOOP_ORDERS)}")
    p.add_argument("--plot", metavar="FILE.png", help="draw the tile visit order to a PNG")
    p.add_argument("--max-steps", type=int, default=DEFAULT_MAX_STEPS, metavar="N",
                   help=f"refuse a schedule longer than N steps (default {DEFAULT_MAX_STEPS:,}: "
                        f"~75 MB of --json)")
    options.add_force_arg(p, "--plot file")


def command(args, console: Console) -> int:
    from ..report.schedule_report import plot_visit_order, schedule_summary, write_schedule_json
    from ..schedule import build_schedule
    from ..files import check_output_file
    if args.max_steps < 1:
        raise InvalidOptionError(f"--max-steps must be >= 1, not {args.max_steps}")
    if args.plot:
        check_output_file(args.plot, "--plot", force=args.force, suffixes=(".png",))
    model, widths = options.model(args)
    if args.tile is not None:
        if args.loop_order is None:
            raise InvalidOptionError("--tile needs --loop-order (one of " + ", ".join(LOOP_ORDERS) + ")")
        if args.order == "best":
            raise InvalidOptionError("--tile needs --order scan or --order raster")
        tiling = Tiling(*args.tile, args.loop_order, args.order)
        tiling.check_fits(args.gemm)
        if not model.fits(tiling.tm, tiling.tn, tiling.tk):
            raise InvalidOptionError(
                f"tiles {tiling.tm}x{tiling.tn}x{tiling.tk} need "
                f"{model.footprint(tiling.tm, tiling.tn, tiling.tk)} entries; the buffer has "
                f"{model.describe()}")
    else:
        if args.loop_order is not None:
            raise InvalidOptionError("--loop-order goes with --tile")
        tiling = plan_gemm(args.gemm, model, widths, args.order).tiling
    try:
        schedule = build_schedule(args.gemm, tiling, model, widths, max_steps=args.max_steps)
    except WorkTooLargeError as err:
        raise WorkTooLargeError(f"{err}; give --max-steps to raise it") from None
    if args.plot:
        plot_visit_order(schedule, args.plot)
    if args.json:
        write_schedule_json(schedule, sys.stdout)
    else:
        for line in schedule_summary(schedule):
            console.print(line, highlight=False)
        if args.plot:
            console.print(f"visit order plotted to {args.plot}", highlight=False)
    return 0
