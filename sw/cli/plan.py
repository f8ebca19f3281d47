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
    p.add_argument("--engine", type=options.array, metavar="RxC",
                   help="with --fuse: also show each group as the fused-block engine with an "
                        "R x C PE array and the --buffer bytes (split as `scanfuse sim --fuse` "
                        "splits them) runs it: strips x rows, chunks x channels, its predicted "
                        "DRAM bytes beside the planner's, e.g. 8x8")
    p.add_argument("--sweep", metavar="S1,S2,...",
                   help="with --fuse: instead of the plan at --buffer, one row per buffer size "
                        "(whole-network payload bytes unfused, thesis-style and extended, savings, "
                        "groups fused), e.g. 16K,32K,64K,128K,256K")


def command(args, console: Console) -> int:
    from ..report.plan_report import network_plan_json, network_plan_table, not_planned_table
    model, widths = options.model(args)
    if args.sweep is not None and not args.fuse:
        raise InvalidOptionError("--sweep applies to --fuse")
    if args.engine is not None and (not args.fuse or args.sweep is not None
                                    or args.buffer is None):
        raise InvalidOptionError("--engine applies to --fuse with --buffer (not --sweep)")
    if args.engine is not None:
        _engine_config(args.buffer, args.engine)     # refuse a bad engine before planning
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
    rows = _engine_rows(plan, args.buffer, args.engine) if args.engine is not None else None
    if args.json:
        doc = fused_plan_json(plan, moved)
        if rows is not None:
            doc["engine_blocks"] = rows
        print(json.dumps(doc, indent=2))
    else:
        for table in fused_plan_tables(plan, moved):
            console.print(table)
        if rows is not None:
            console.print(_engine_table(rows, args.buffer, args.engine))
    return 0


def _engine_config(buffer: int, array):
    """The fused-block engine ``scanfuse sim --fuse`` builds for ``buffer`` bytes and an
    ``array`` of PEs; an engine the hardware cannot be built as is an
    :class:`InvalidOptionError`."""
    from ..sim.fused_run import block_config
    try:
        return block_config(buffer, tuple(array))
    except ValueError as err:
        raise InvalidOptionError(f"--engine {array[0]}x{array[1]}: {err}") from None


def _engine_rows(plan, buffer: int, array) -> list:
    """Each thesis group as the fused-block engine runs it (``scanfuse.program.fused_block``
    plans it for ``scanfuse.sim.fused_run.block_config``, the engine ``scanfuse sim --fuse``
    builds), beside the planner's entry-model bytes of the same group."""
    from ..program.fused_block import IllegalBlockError, block_shape, block_traffic, plan_block
    bcfg = _engine_config(buffer, array)
    rows = []
    for g in plan.groups:
        row = {"group": g.chain.name, "planner_fused_bytes": None if g.plan is None
               else g.plan.total_bytes, "planner_unfused_bytes": g.unfused_bytes}
        try:
            shape = block_shape(g.chain)
            sched = plan_block(shape, bcfg)
        except IllegalBlockError as err:
            rows.append(row | {"engine": None, "reason": str(err)})
            continue
        t = block_traffic(shape, sched)
        rows.append(row | {"engine": {
            "strips": sched.strips(shape), "strip_rows": sched.strip_rows,
            "chunks": sched.chunks(shape), "chunk": sched.chunk,
            "read_bytes": t.read_bytes, "write_bytes": t.write_bytes,
            "x_bytes": t.x, "weight_bytes": t.weights, "y_bytes": t.y}})
    return rows


def _engine_table(rows, buffer: int, array):
    from rich.table import Table
    table = Table(title=f"fused-block engine {array[0]}x{array[1]}, {buffer:,} bytes of block "
                        f"memories: each group as it runs (bytes)")
    for col in ("group", "strips x rows", "chunks x channels", "read", "write", "engine total",
                "planner fused", "engine / planner"):
        table.add_column(col, justify="left" if col == "group" else "right")
    total_e = total_p = 0
    for r in rows:
        e, pf = r["engine"], r["planner_fused_bytes"]
        if e is None:
            table.add_row(r["group"], "-", "-", "-", "-", "does not fit", f"{pf:,}" if pf else "-",
                          "-")
            continue
        tot = e["read_bytes"] + e["write_bytes"]
        total_e += tot
        total_p += pf or 0
        table.add_row(r["group"], f"{e['strips']} x {e['strip_rows']}",
                      f"{e['chunks']} x {e['chunk']}", f"{e['read_bytes']:,}",
                      f"{e['write_bytes']:,}", f"{tot:,}", f"{pf:,}" if pf else "-",
                      f"{tot / pf:.2f}" if pf else "-")
    table.add_row("total (groups the engine runs)", "", "", "", "", f"{total_e:,}",
                  f"{total_p:,}", f"{total_e / total_p:.2f}" if total_p else "-")
    return table


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
