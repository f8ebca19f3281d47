"""``scanfuse plan``: plan every pointwise layer (or one GEMM) for least DRAM traffic,
optionally with fusion (parser and handler)."""

import json

from rich.console import Console

from ..errors import InvalidOptionError
from ..network import network_names
from ..plan import plan_network, plan_single_gemm
from . import options

__all__ = ["add_parser", "command"]


def add_parser(sub, parser_class) -> None:
    """Register ``scanfuse plan`` on the top-level subparsers."""
    p = sub.add_parser("plan", help="plan every pointwise layer (or one GEMM) for least DRAM traffic",
                       description="Pick tile sizes, loop order and visit order per pointwise "
                                   "layer minimising DRAM bytes; report traffic (elements and "
                                   "bytes), the I/O lower bound LB (elements) and the ratio.")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--network", metavar="NAME", help=f"one of: {', '.join(network_names())}")
    what.add_argument("--gemm", type=options.gemm, metavar="M,K,N",
                      help="one GEMM C[M,N] = A[M,K] B[K,N] (M = output pixels, K = Cin, N = Cout)")
    what.add_argument("--onnx", metavar="FILE.onnx",
                      help="a network from an ONNX file with static shapes, batch 1 (weights' "
                           "data is not needed)")
    options.add_model_args(p)
    p.add_argument("--fuse", action="store_true",
                   help="plan every layer, fuse [1x1] -> depthwise -> 1x1 chains where it saves "
                        "traffic (thesis-style), and report extended fusion (the best grouping: "
                        "where to cut each run of blocks into fused groups) beside it (with --network)")
    p.add_argument("--sweep", metavar="S1,S2,...",
                   help="with --fuse: instead of the plan at --buffer, one row per buffer size "
                        "(whole-network payload bytes unfused, thesis-style and extended, savings, "
                        "groups fused), e.g. 16K,32K,64K,128K,256K")


def command(args, console: Console) -> int:
    from ..report.plan_report import network_plan_json, network_plan_table, not_planned_table
    model, widths = options.model(args)
    if args.sweep is not None and not args.fuse:
        raise InvalidOptionError("--sweep applies to --fuse")
    if args.fuse:
        return _plan_fused(args, model, widths, console)
    if args.gemm is not None:
        plan = plan_single_gemm(args.gemm, model, widths, args.order)
    else:
        plan = plan_network(options.network(args), model, widths, args.order)
    if args.json:
        print(json.dumps(network_plan_json(plan), indent=2))
        return 0
    console.print(network_plan_table(plan))
    skipped = not_planned_table(plan)
    if skipped is not None:
        console.print(skipped)
    return 0


def _plan_fused(args, model, widths, console: Console) -> int:
    from ..plan.fusion import plan_fused_network
    from ..report.fusion_report import fused_plan_json, fused_plan_tables
    if args.gemm is not None:
        raise InvalidOptionError("--fuse plans a network: give --network NAME or --onnx FILE, not --gemm")
    from ..evaluate.moved import moved_bytes
    if args.sweep is not None:
        return _sweep(args, model, widths, console)
    plan = plan_fused_network(options.network(args), model, widths, args.order, extended=True)
    moved = moved_bytes(plan, args.order)
    if args.json:
        print(json.dumps(fused_plan_json(plan, moved), indent=2))
    else:
        for table in fused_plan_tables(plan, moved):
            console.print(table)
    return 0


def _sweep(args, model, widths, console: Console) -> int:
    """``plan --fuse --sweep``: the whole-network payload bytes at each buffer size."""
    from dataclasses import replace
    from ..plan.fusion import plan_fused_network
    from ..report.fusion_report import sweep_json, sweep_table
    from ..units import parse_entries
    sizes = [parse_entries(s, what="a sweep buffer size") for s in str(args.sweep).split(",")]
    network = options.network(args)
    plans = [plan_fused_network(network, replace(model, entries=size), widths, args.order, extended=True)
             for size in sizes]
    if args.json:
        print(json.dumps(sweep_json(plans), indent=2))
    else:
        console.print(sweep_table(plans))
    return 0
