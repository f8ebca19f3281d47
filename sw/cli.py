"""The ``scanfuse`` command.

Units: buffer sizes are in entries (elements of the on-chip buffer; ``64K`` = ``64Ki`` =
65,536); GEMM dimensions and traffic in elements unless a column or key says bytes.
Bad input prints one line ``scanfuse: error: ...`` and exits with code 2.
"""

import argparse
import json
import sys

from rich.console import Console

from .errors import InvalidOptionError, ScanFuseError
from .network import get_network, network_names
from .plan import (ORDER_CHOICES, BufferModel, ElementWidths, Gemm, Tiling, plan_gemm,
                   plan_network, plan_single_gemm)
from .plan.tiling import LOOP_ORDERS
from .units import parse_entries

EXIT_BAD_INPUT = 2


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors and exit code 2."""

    def error(self, message: str):
        raise _UsageError(message)


class _UsageError(Exception):
    pass


def _buffer_arg(text: str) -> int:
    try:
        return parse_entries(text)
    except InvalidOptionError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _split_arg(text: str) -> tuple[int, int, int]:
    parts = str(text).split(",")
    if len(parts) != 3:
        raise argparse.ArgumentTypeError(f"--split is A,B,C (three entry counts such as 16K,16K,8K), not {text!r}")
    try:
        return tuple(parse_entries(p, what="a split capacity") for p in parts)
    except InvalidOptionError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _gemm_arg(text: str) -> Gemm:
    try:
        return Gemm.parse(text)
    except ScanFuseError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _triple_arg(text: str) -> tuple[int, int, int]:
    try:
        g = Gemm.parse(text)
    except ScanFuseError:
        raise argparse.ArgumentTypeError(
            f"a tile is given as m,n,k (three positive integers), not {text!r}") from None
    return g.M, g.K, g.N


def _add_model_args(p: argparse.ArgumentParser, order_choices=ORDER_CHOICES, default_order="best"):
    size = p.add_mutually_exclusive_group(required=True)
    size.add_argument("--buffer", type=_buffer_arg, metavar="S",
                      help="on-chip buffer capacity in entries: 65536, 64K or 64Ki (thesis: 64K)")
    size.add_argument("--split", type=_split_arg, metavar="A,B,C",
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


def _model(args) -> tuple[BufferModel, ElementWidths]:
    widths = ElementWidths(psum=args.psum_bytes)
    if args.split is not None:
        if args.psum_entries != 1:
            raise InvalidOptionError("--psum-entries applies to a shared --buffer, not --split")
        return BufferModel.separate(*args.split, double_buffer=args.double_buffer), widths
    return BufferModel(args.buffer, args.psum_entries, args.double_buffer), widths


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="scanfuse", description=__doc__,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    p = sub.add_parser("layers", help="list a built-in network's layers and MACs",
                       description="List a network's layers: kind, channels, kernel, stride, "
                                   "padding, groups, input/output H and W, MACs.")
    p.add_argument("--network", required=True, metavar="NAME",
                   help=f"one of: {', '.join(network_names())}")
    p.add_argument("--json", action="store_true", help="print one JSON document")

    p = sub.add_parser("plan", help="plan every pointwise layer (or one GEMM) for least DRAM traffic",
                       description="Pick tile sizes, loop order and visit order per pointwise "
                                   "layer minimising DRAM bytes; report traffic (elements and "
                                   "bytes), the I/O lower bound LB (elements) and the ratio.")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--network", metavar="NAME", help=f"one of: {', '.join(network_names())}")
    what.add_argument("--gemm", type=_gemm_arg, metavar="M,K,N",
                      help="one GEMM C[M,N] = A[M,K] B[K,N] (M = output pixels, K = Cin, N = Cout)")
    what.add_argument("--onnx", metavar="FILE.onnx",
                      help="a network from an ONNX file with static shapes, batch 1 (weights' "
                           "data is not needed)")
    _add_model_args(p)
    p.add_argument("--fuse", action="store_true",
                   help="plan every layer, fuse [1x1] -> depthwise -> 1x1 chains where it saves "
                        "traffic (thesis-style), and report extended fusion (pipelines of whole "
                        "blocks) beside it (with --network)")

    p = sub.add_parser("schedule", help="print the step list of one GEMM's plan",
                       description="Print the explicit step list (load / compute / store / "
                                   "evict, half-open ranges in each operand's (row, col) "
                                   "coordinates) of the best plan, or of a tiling you give.")
    p.add_argument("--gemm", required=True, type=_gemm_arg, metavar="M,K,N",
                   help="the GEMM C[M,N] = A[M,K] B[K,N]")
    _add_model_args(p)
    p.add_argument("--tile", type=_triple_arg, metavar="m,n,k",
                   help="use these tile sizes (elements) instead of searching; needs --loop-order")
    p.add_argument("--loop-order", choices=LOOP_ORDERS, metavar="ORDER",
                   help=f"loop order with --tile, outermost first: {', '.join(LOOP_ORDERS)}")
    p.add_argument("--plot", metavar="FILE.png", help="draw the tile visit order to a PNG")

    p = sub.add_parser("trace", help="write one GEMM plan's DRAM burst trace and estimate its energy",
                       description="Plan a GEMM, turn its step list into 64-byte DRAM bursts in "
                                   "address order, time them on the 8x8 engine (64 MACs and 8 DRAM "
                                   "bytes per cycle at 100 MHz), write a DRAMSim2 (mase_*.trc) or "
                                   "DRAMsim3 trace (issue times in DRAM cycles), and report bursts, "
                                   "bytes requested/moved, runtime and DRAM energy in joules.")
    p.add_argument("--gemm", required=True, type=_gemm_arg, metavar="M,K,N",
                   help="the GEMM C[M,N] = A[M,K] B[K,N]")
    _add_model_args(p)
    p.add_argument("--format", required=True, choices=("dramsim2", "dramsim3"),
                   help="trace format (DRAMSim2 needs a file name starting with mase_)")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="trace file to write")
    p.add_argument("--dram", default="ddr3", choices=("ddr3", "ddr4"),
                   help="DRAM preset for the energy estimate (default ddr3: DRAMSim2's default part)")

    p = sub.add_parser("decompose", help="CP-decompose a conv kernel into 1x1, kx1, 1xk, 1x1 layers",
                       description="CP-decompose W[Cout, Cin, kh, kw] (tensorly ALS, seeded) into a "
                                   "1x1 conv Cin->R, a kh x 1 depthwise conv (stride (s,1)), a 1 x kw "
                                   "depthwise conv (stride (1,s)) and a 1x1 conv R->Cout; report "
                                   "factor shapes, MACs before and after for one input image, and "
                                   "the relative reconstruction error ||W - W_hat|| / ||W||.")
    p.add_argument("--shape", required=True, metavar="Cout,Cin,kh,kw", help="kernel shape")
    p.add_argument("--rank", required=True, metavar="R",
                   help="CP rank: an integer >= 1, 'channels' (R = Cout), 'max3' (max(shape)//3) "
                        "or 'mac_ratio:r' (largest R whose MACs are at most r x the original's)")
    p.add_argument("--stride", type=int, default=1, metavar="s", help="conv stride, >= 1 (default 1)")
    p.add_argument("--kernel", metavar="FILE.npy",
                   help="decompose this kernel (numpy .npy of the given shape) instead of a seeded "
                        "random one")
    p.add_argument("--input-hw", default="56,56", metavar="H,W",
                   help="input image size for the MAC counts (default 56,56)")
    p.add_argument("--seed", type=int, default=0, help="seed of the ALS start (and random kernel)")
    p.add_argument("--iters", type=int, default=1000, metavar="N",
                   help="most ALS sweeps, >= 1 (default 1000; a 64x64x3x3 kernel takes ~0.1 s each)")
    p.add_argument("--no-fit", action="store_true",
                   help="shapes and MACs only: skip the decomposition itself")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    return parser


def _int_list(text: str, count: int, what: str) -> tuple[int, ...]:
    parts = str(text).split(",")
    try:
        values = tuple(int(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != count:
        raise InvalidOptionError(f"{what} must be {count} comma-separated integers, not {text!r}")
    return values


def _cmd_decompose(args, console: Console) -> int:
    import numpy as np

    from .decompose import decompose_report, parse_rank_rule
    shape = _int_list(args.shape, 4, "--shape Cout,Cin,kh,kw")
    input_hw = _int_list(args.input_hw, 2, "--input-hw H,W")
    if args.iters < 1:
        raise InvalidOptionError(f"--iters must be >= 1, not {args.iters}")
    kernel = None
    if args.kernel is not None:
        try:
            kernel = np.load(args.kernel, allow_pickle=False)
        except (OSError, ValueError) as err:
            raise InvalidOptionError(f"cannot read kernel {args.kernel!r}: {err}") from None
    report = decompose_report(shape, parse_rank_rule(args.rank), args.stride, kernel, input_hw,
                              seed=args.seed, n_iter_max=args.iters, compute=not args.no_fit)
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
        return 0
    from rich.table import Table
    table = Table(title=f"CP decomposition of {shape[0]}x{shape[1]}x{shape[2]}x{shape[3]} at rank "
                        f"{report.rank}, stride {args.stride}, {input_hw[0]}x{input_hw[1]} input")
    for col in ("layer", "kind", "Cin→Cout", "kernel", "stride", "padding", "MACs"):
        table.add_column(col, justify="right" if col == "MACs" else "left")
    for layer, macs in zip(report.layers, report.layer_macs):
        table.add_row(layer.name, layer.kind.value, f"{layer.cin}→{layer.cout}",
                      "×".join(map(str, layer.kernel)), "×".join(map(str, layer.stride)),
                      "×".join(map(str, layer.padding)), f"{macs:,}")
    console.print(table)
    console.print(f"factors: " + ", ".join(f"{n} {d[0]}×{d[1]}" for n, d in report.factor_shapes), highlight=False)
    console.print(f"MACs {report.macs_original:,} → {report.macs_decomposed:,} "
                  f"(ratio {report.mac_ratio:.3f})", highlight=False)
    if report.rel_error is not None:
        console.print(f"relative reconstruction error {report.rel_error:.3e} after "
                      f"{report.iterations} ALS sweeps ({report.kernel_source} kernel)", highlight=False)
    return 0


def _cmd_layers(args, console: Console) -> int:
    from .report.plan_report import network_layers_json, network_layers_table
    network = get_network(args.network)
    if args.json:
        print(json.dumps(network_layers_json(network), indent=2))
    else:
        console.print(network_layers_table(network))
    return 0


def _cmd_plan(args, console: Console) -> int:
    from .report.plan_report import network_plan_json, network_plan_table, not_planned_table
    model, widths = _model(args)
    if args.fuse:
        return _plan_fused(args, model, widths, console)
    if args.gemm is not None:
        plan = plan_single_gemm(args.gemm, model, widths, args.order)
    else:
        plan = plan_network(_network(args), model, widths, args.order)
    if args.json:
        print(json.dumps(network_plan_json(plan), indent=2))
        return 0
    console.print(network_plan_table(plan))
    skipped = not_planned_table(plan)
    if skipped is not None:
        console.print(skipped)
    return 0


def _network(args):
    """The network named by --network or read from --onnx."""
    if getattr(args, "onnx", None) is not None:
        from .network.onnx_import import load_onnx
        return load_onnx(args.onnx)
    return get_network(args.network)


def _plan_fused(args, model, widths, console: Console) -> int:
    from .fuse.network import plan_fused_network
    from .report.fusion_report import fused_plan_json, fused_plan_tables
    if args.gemm is not None:
        raise InvalidOptionError("--fuse plans a network: give --network NAME or --onnx FILE, not --gemm")
    plan = plan_fused_network(_network(args), model, widths, args.order, extended=True)
    if args.json:
        print(json.dumps(fused_plan_json(plan), indent=2))
    else:
        for table in fused_plan_tables(plan):
            console.print(table)
    return 0


def _cmd_schedule(args, console: Console) -> int:
    from .report.schedule_report import plot_visit_order, schedule_summary, write_schedule_json
    from .schedule import build_schedule
    model, widths = _model(args)
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
    schedule = build_schedule(args.gemm, tiling, model, widths)
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


def _cmd_trace(args, console: Console) -> int:
    from .dram.evaluate import gemm_dram_report
    from .dram.trace_io import write_dramsim2_trace, write_dramsim3_trace
    model, widths = _model(args)
    plan = plan_gemm(args.gemm, model, widths, args.order)
    report = gemm_dram_report(args.gemm, plan.tiling, model, widths, args.dram)
    writer = write_dramsim2_trace if args.format == "dramsim2" else write_dramsim3_trace
    try:
        lines = writer(args.output, report.addr, report.is_write, report.issue)
    except OSError as err:
        raise InvalidOptionError(f"cannot write {args.output!r}: {err.strerror}") from None
    t, d = report.trace, report.dram
    doc = {"gemm": {"M": args.gemm.M, "K": args.gemm.K, "N": args.gemm.N},
           "tiling": plan.tiling.describe(), "trace": args.output, "format": args.format,
           "bursts": lines, "bytes_requested": int(t.bytes_requested), "bytes_moved": int(t.bytes_moved),
           "engine_cycles": int(report.timing.runtime_cycles), "dram": args.dram,
           "row_hit_rate": d.row_hit_rate, "activates": int(d.activates),
           "energy_j": {"burst": d.energy.burst_j, "act_pre": d.energy.act_pre_j,
                        "refresh": d.energy.refresh_j, "background": d.energy.background_j,
                        "total": d.energy.total_j}}
    if args.json:
        print(json.dumps(doc, indent=2))
    else:
        console.print(f"{args.gemm.M}x{args.gemm.K}x{args.gemm.N}, tiles {plan.tiling.describe()}: "
                      f"{lines:,} bursts written to {args.output} ({args.format})", highlight=False)
        console.print(f"bytes requested {doc['bytes_requested']:,}, moved {doc['bytes_moved']:,} "
                      f"(64-B bursts); engine runtime {doc['engine_cycles']:,} cycles", highlight=False)
        e = doc["energy_j"]
        console.print(f"{args.dram}: row-hit rate {d.row_hit_rate:.3f}, energy {e['total'] * 1e6:.2f} µJ "
                      f"(burst {e['burst'] * 1e6:.2f}, act/pre {e['act_pre'] * 1e6:.2f}, refresh "
                      f"{e['refresh'] * 1e6:.2f}, background {e['background'] * 1e6:.2f})", highlight=False)
    return 0


COMMANDS = {"layers": _cmd_layers, "plan": _cmd_plan, "schedule": _cmd_schedule,
            "decompose": _cmd_decompose, "trace": _cmd_trace}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        # Pipes and CI logs get wide tables instead of rich's 80-column default.
        console = Console() if sys.stdout.isatty() else Console(width=200)
        return COMMANDS[args.command](args, console)
    except (_UsageError, ScanFuseError) as err:
        print(f"scanfuse: error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
