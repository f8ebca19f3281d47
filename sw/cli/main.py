"""The ``scanfuse`` command.

Units: buffer sizes are in entries (elements of the on-chip buffer; ``64K`` = ``64Ki`` =
65,536); GEMM dimensions and traffic in elements unless a column or key says bytes.
Bad input prints one line ``scanfuse: error: ...`` and exits with code 2.
"""

import argparse
import json
import sys

from rich.console import Console

from ..errors import InvalidOptionError, ScanFuseError
from ..network import get_network, network_names
from ..plan import (ORDER_CHOICES, BufferModel, ElementWidths, Gemm, Tiling, plan_gemm,
                   plan_network, plan_single_gemm)
from ..plan.tiling import LOOP_ORDERS
from ..units import format_entries, parse_entries
from . import bench as bench_cli
from . import options
from . import program as program_cli
from . import regress as regress_cli
from . import verilog as verilog_cli
from . import fpga as fpga_cli
from . import sim as sim_cli

EXIT_BAD_INPUT = 2


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors and exit code 2."""

    def error(self, message: str):
        raise _UsageError(message)


class _UsageError(Exception):
    pass


def _add_model_args(p: argparse.ArgumentParser, order_choices=ORDER_CHOICES, default_order="best"):
    size = p.add_mutually_exclusive_group(required=True)
    size.add_argument("--buffer", type=options.entries, metavar="S",
                      help="on-chip buffer capacity in entries: 65536, 64K or 64Ki (thesis: 64K)")
    size.add_argument("--split", type=options.split, metavar="A,B,C",
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


def _add_engine_args(p: argparse.ArgumentParser):
    p.add_argument("--pe", type=options.array, default="8x8", metavar="RxC",
                   help="PE array of the engine, R x C int8 MACs per cycle (default 8x8)")
    p.add_argument("--freq-mhz", type=float, default=100.0, metavar="F",
                   help="engine clock in MHz (default 100)")
    p.add_argument("--port-bytes", type=float, default=8.0, metavar="B",
                   help="DRAM bytes the engine moves per cycle (default 8: a 64-bit AXI port)")


def _engine(args):
    """The EngineClock of --pe, --freq-mhz and --port-bytes."""
    from ..dram.evaluate import EngineClock
    rows, cols = args.pe
    return EngineClock.of_array(rows, cols, args.freq_mhz, args.port_bytes)


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
    what.add_argument("--gemm", type=options.gemm, metavar="M,K,N",
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
    p.add_argument("--gemm", required=True, type=options.gemm, metavar="M,K,N",
                   help="the GEMM C[M,N] = A[M,K] B[K,N]")
    _add_model_args(p)
    p.add_argument("--tile", type=options.tile, metavar="m,n,k",
                   help="use these tile sizes (elements) instead of searching; needs --loop-order")
    p.add_argument("--loop-order", choices=LOOP_ORDERS, metavar="ORDER",
                   help=f"loop order with --tile, outermost first: {', '.join(LOOP_ORDERS)}")
    p.add_argument("--plot", metavar="FILE.png", help="draw the tile visit order to a PNG")

    p = sub.add_parser("trace", help="write a GEMM's or a whole network's DRAM burst trace and estimate its energy",
                       description="Plan a GEMM (or every layer of a network), turn the step lists "
                                   "into 64-byte DRAM bursts in address order, time them on the "
                                   "engine (default 8x8: 64 MACs and 8 DRAM bytes per cycle at 100 "
                                   "MHz), write a DRAMSim2 (mase_*.trc) or DRAMsim3 trace (issue "
                                   "times in DRAM cycles), and report bursts, bytes requested/moved, "
                                   "runtime and DRAM energy in joules.")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--gemm", type=options.gemm, metavar="M,K,N",
                      help="the GEMM C[M,N] = A[M,K] B[K,N]")
    what.add_argument("--network", metavar="NAME",
                      help=f"a whole network, every layer (one of: {', '.join(network_names())})")
    what.add_argument("--onnx", metavar="FILE.onnx", help="a whole network from an ONNX file")
    _add_model_args(p)
    p.add_argument("--fuse", action="store_true",
                   help="network traces: the scan+extended-fusion variant (default: scan, unfused)")
    p.add_argument("--variant", metavar="NAME",
                   help="network traces: one of baseline, scan, raster+fusion, scan+fusion, "
                        "scan+extended-fusion (overrides --fuse)")
    p.add_argument("--burst-aware", action="store_true",
                   help="--gemm: plan for whole 64-byte bursts moved instead of payload bytes "
                        "(network traces always are)")
    p.add_argument("--format", required=True, choices=("dramsim2", "dramsim3"),
                   help="trace format (DRAMSim2 needs a file name starting with mase_)")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="trace file to write")
    p.add_argument("--dram", default="ddr3", choices=("ddr3", "ddr4"),
                   help="DRAM preset for the energy estimate (default ddr3: DRAMSim2's default part)")
    p.add_argument("--mapping", default="scheme2", metavar="SCHEME",
                   help="DRAMSim2 address mapping scheme1..scheme7 (default scheme2)")
    _add_engine_args(p)
    p.add_argument("--dram-sim", metavar="PATH",
                   help="also run this DRAMSim2 (--format dramsim2) or DRAMsim3 (dramsim3) binary "
                        "on the trace and report its energy")
    p.add_argument("--dram-sim-config", metavar="INI",
                   help="device ini for --dram-sim (default: the preset's ini found next to the binary)")
    p.add_argument("--dram-sim-system", metavar="INI",
                   help="DRAMSim2's system ini for --dram-sim (default: system.ini next to the binary)")

    p = sub.add_parser("evaluate", help="DRAM energy of whole networks: five planning variants and a buffer sweep",
                       description="Plan each network five ways (baseline: unfused, best raster "
                                   "tiling per layer; scan: unfused, Scan; raster+fusion and "
                                   "scan+fusion: thesis-style fused groups; scan+extended-fusion: "
                                   "pipelines of whole blocks), turn every schedule into 64-byte "
                                   "bursts, time them on the engine and run them through the DRAM "
                                   "model: traffic (bytes moved), energy split (burst, act/pre, "
                                   "refresh, background, in joules), runtime (seconds) and savings "
                                   "against baseline, at --buffer and over a buffer sweep.")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--network", metavar="NAMES",
                      help=f"comma-separated networks (of: {', '.join(network_names())})")
    what.add_argument("--onnx", metavar="FILE.onnx", help="a network from an ONNX file")
    p.add_argument("--buffer", required=True, type=options.entries, metavar="S",
                   help="on-chip buffer capacity in entries: 65536, 64K or 64Ki (thesis: 64K)")
    p.add_argument("--dram", default="ddr3", metavar="PRESET",
                   help="DRAM preset: ddr3 (DRAMSim2's default part, default) or ddr4")
    p.add_argument("--mapping", default="scheme2", metavar="SCHEME",
                   help="DRAMSim2 address mapping scheme1..scheme7 (default scheme2)")
    p.add_argument("--sweep", default="16K,32K,64K,128K,256K", metavar="S1,S2,...",
                   help="buffer sizes of the sweep (default 16K,32K,64K,128K,256K; 'none' for none)")
    _add_engine_args(p)
    p.add_argument("--workers", type=int, default=0, metavar="N",
                   help="processes for the (network, buffer) jobs (default 0: one per CPU)")
    p.add_argument("--out", metavar="DIR", help="write report.md, results.json and PNG plots here")
    p.add_argument("--json", action="store_true", help="print one JSON document instead of tables")

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

    fpga_cli.add_parser(sub, _Parser)
    sim_cli.add_parser(sub, _Parser)
    bench_cli.add_parser(sub, _Parser)
    verilog_cli.add_parser(sub, _Parser)
    regress_cli.add_parser(sub, _Parser)
    program_cli.add_parser(sub, _Parser)
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

    from ..network.decompose import decompose_report, parse_rank_rule
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
    from ..report.plan_report import network_layers_json, network_layers_table
    network = get_network(args.network)
    if args.json:
        print(json.dumps(network_layers_json(network), indent=2))
    else:
        console.print(network_layers_table(network))
    return 0


def _cmd_plan(args, console: Console) -> int:
    from ..report.plan_report import network_plan_json, network_plan_table, not_planned_table
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
        from ..network.onnx_import import load_onnx
        return load_onnx(args.onnx)
    return get_network(args.network)


def _plan_fused(args, model, widths, console: Console) -> int:
    from ..plan.fusion import plan_fused_network
    from ..report.fusion_report import fused_plan_json, fused_plan_tables
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
    from ..report.schedule_report import plot_visit_order, schedule_summary, write_schedule_json
    from ..schedule import build_schedule
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
    from ..dram.trace_io import write_dramsim2_trace, write_dramsim3_trace
    if args.gemm is None:
        doc, addr, is_write, issue, dram = _trace_network(args)
    else:
        doc, addr, is_write, issue, dram = _trace_gemm(args)
    writer = write_dramsim2_trace if args.format == "dramsim2" else write_dramsim3_trace
    try:
        doc["bursts"] = writer(args.output, addr, is_write, issue)
    except OSError as err:
        raise InvalidOptionError(f"cannot write {args.output!r}: {err.strerror}") from None
    doc.update({"trace": args.output, "format": args.format, "dram": args.dram,
                "row_hit_rate": dram.row_hit_rate, "activates": int(dram.activates),
                "energy_j": _energy_json(dram.energy)})
    if args.dram_sim is not None:
        doc["dram_sim"] = _run_dram_sim(args, dram).to_json()
    if args.json:
        print(json.dumps(doc, indent=2))
        return 0
    what = doc.get("network") or "{M}x{K}x{N}".format(**doc["gemm"])
    how = f"variant {doc['variant']}, {doc['units']} units" if "variant" in doc else f"tiles {doc['tiling']}"
    console.print(f"{what}, {how}: {doc['bursts']:,} bursts written to {args.output} ({args.format})",
                  highlight=False)
    console.print(f"bytes requested {doc['bytes_requested']:,}, moved {doc['bytes_moved']:,} "
                  f"(64-B bursts); engine runtime {doc['engine_cycles']:,} cycles", highlight=False)
    for label, e in [(args.dram, doc["energy_j"])] + (
            [(doc["dram_sim"]["simulator"], doc["dram_sim"]["energy_j"])] if "dram_sim" in doc else []):
        console.print(f"{label}: energy {e['total'] * 1e6:.2f} µJ (burst {e['burst'] * 1e6:.2f}, act/pre "
                      f"{e['act_pre'] * 1e6:.2f}, refresh {e['refresh'] * 1e6:.2f}, background "
                      f"{e['background'] * 1e6:.2f})" + (f", row-hit rate {dram.row_hit_rate:.3f}"
                                                         if label == args.dram else ""), highlight=False)
    return 0


def _energy_json(e) -> dict:
    return {"burst": e.burst_j, "act_pre": e.act_pre_j, "refresh": e.refresh_j,
            "background": e.background_j, "total": e.total_j}


def _trace_gemm(args):
    from ..dram.evaluate import gemm_dram_report
    model, widths = _model(args)
    if args.fuse or args.variant is not None:
        raise InvalidOptionError("--fuse and --variant apply to network traces (--network or --onnx)")
    plan = plan_gemm(args.gemm, model, widths, args.order, burst_bytes=64 if args.burst_aware else None)
    report = gemm_dram_report(args.gemm, plan.tiling, model, widths, args.dram, args.mapping, _engine(args))
    t = report.trace
    doc = {"gemm": {"M": args.gemm.M, "K": args.gemm.K, "N": args.gemm.N},
           "tiling": plan.tiling.describe(), "bytes_requested": int(t.bytes_requested),
           "bytes_moved": int(t.bytes_moved), "engine_cycles": int(report.timing.runtime_cycles)}
    return doc, report.addr, report.is_write, report.issue, report.dram


def _trace_network(args):
    from ..evaluate import EvalConfig, variant_trace
    if args.split is not None or args.double_buffer or args.order != "best":
        raise InvalidOptionError("network traces take --buffer, --psum-entries and --psum-bytes; "
                                 "--split, --double-buffer and --order apply to --gemm")
    if args.burst_aware:
        raise InvalidOptionError("--burst-aware applies to --gemm (network traces always are)")
    variant = args.variant or ("scan+extended-fusion" if args.fuse else "scan")
    config = EvalConfig(args.dram, args.mapping, _engine(args), ElementWidths(psum=args.psum_bytes),
                        args.psum_entries)
    network = _network(args)
    stream, dram = variant_trace(network, args.buffer, variant, config)
    doc = {"network": network.name, "variant": variant, "buffer_entries": args.buffer,
           "units": len(stream.units), "bytes_requested": stream.bytes_requested,
           "bytes_moved": stream.bytes_moved, "engine_cycles": int(stream.engine_cycles),
           "runtime_s": max(dram.runtime_s, stream.engine_runtime_s)}
    return doc, stream.addr, stream.is_write, stream.issue, dram


def _run_dram_sim(args, dram):
    """Run the user's simulator on the written trace for the model's runtime plus 10%."""
    from ..dram.external import default_config, run_dram_sim
    from ..dram.presets import get_preset
    config, system = default_config(args.dram_sim, args.format, args.dram)
    config = args.dram_sim_config or config
    system = args.dram_sim_system or system
    cycles = int(dram.runtime_cycles * 1.1) + 1000
    return run_dram_sim(args.dram_sim, args.output, args.format, cycles, get_preset(args.dram).tCK_ns,
                        config, system)


def _cmd_evaluate(args, console: Console) -> int:
    from ..evaluate import EvalConfig, evaluate, sweep_steps
    from ..report.evaluate_report import progress_reporter, tables, write_report
    if args.onnx is not None:
        networks = [_network(args)]
    else:
        names = [n.strip() for n in str(args.network).split(",") if n.strip()]
        if not names or len(set(names)) != len(names):
            raise InvalidOptionError(f"--network takes distinct comma-separated names, not {args.network!r}")
        networks = [get_network(n) for n in names]
    if args.workers < 0:
        raise InvalidOptionError(f"--workers must be >= 0, not {args.workers}")
    sweep = () if str(args.sweep).strip().lower() == "none" else tuple(
        parse_entries(s, what="a sweep buffer size") for s in str(args.sweep).split(","))
    config = EvalConfig(args.dram, args.mapping, _engine(args))
    with progress_reporter(sweep_steps(networks, args.buffer, sweep)) as advance:
        result = evaluate(networks, args.buffer, config, sweep, progress=advance,
                          workers=args.workers or None)
    written = []
    if args.out is not None:
        try:
            written = write_report(result, args.out, command=_evaluate_command(args))
        except OSError as err:
            raise InvalidOptionError(f"cannot write to {args.out!r}: {err.strerror}") from None
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
        return 0
    for table in tables(result):
        console.print(table)
    if written:
        console.print(f"wrote {', '.join(str(p) for p in written)}", highlight=False)
    return 0


def _evaluate_command(args) -> str:
    """The command line that reproduces an evaluation (for report.md)."""
    what = f"--onnx {args.onnx}" if args.onnx is not None else f"--network {args.network}"
    parts = ["scanfuse evaluate", what, f"--buffer {format_entries(args.buffer)}", f"--dram {args.dram}"]
    defaults = {"mapping": "scheme2", "sweep": "16K,32K,64K,128K,256K", "pe": "8x8",
                "freq_mhz": 100.0, "port_bytes": 8.0}
    for key, default in defaults.items():
        if getattr(args, key) != default:
            parts.append(f"--{key.replace('_', '-')} {getattr(args, key):g}" if isinstance(default, float)
                         else f"--{key.replace('_', '-')} {getattr(args, key)}")
    if args.out is not None:
        parts.append(f"--out {args.out}")
    return " ".join(parts)


COMMANDS = {"layers": _cmd_layers, "plan": _cmd_plan, "schedule": _cmd_schedule,
            "decompose": _cmd_decompose, "trace": _cmd_trace, "evaluate": _cmd_evaluate,
            "fpga": fpga_cli.command, "sim": sim_cli.command,
            "bench": bench_cli.command, "verilog": verilog_cli.command,
            "regress": regress_cli.command, "program": program_cli.command}


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

