"""``scanfuse trace``: a GEMM's or a whole network's DRAM burst trace and its energy
(parser and handler)."""

import json

from rich.console import Console

from ..errors import InvalidOptionError, WorkTooLargeError
from ..evaluate.run import energy_json
from ..network import network_names
from ..plan import ElementWidths, plan_gemm
from . import options

__all__ = ["add_parser", "command"]

#: Default --max-bursts: 2*10^7 bursts (1.28 GB of DRAM traffic), a trace file of ~0.5 GB.
DEFAULT_MAX_BURSTS = 20_000_000


def add_parser(sub, parser_class) -> None:
    """Register ``scanfuse trace`` on the top-level subparsers."""
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
    options.add_model_args(p)
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
    p.add_argument("--max-bursts", type=int, default=DEFAULT_MAX_BURSTS, metavar="N",
                   help=f"refuse a GEMM trace of more than N 64-byte bursts (default "
                        f"{DEFAULT_MAX_BURSTS:,})")
    options.add_force_arg(p, "trace file")
    options.add_engine_args(p)
    options.add_dram_args(p, "run this DRAMSim2 (--format dramsim2) or DRAMsim3 (dramsim3) "
                             "binary on the trace")


def command(args, console: Console) -> int:
    from ..dram.trace_io import check_trace_name, write_dramsim2_trace, write_dramsim3_trace
    from ..files import check_output_file
    check_trace_name(args.output, args.format)
    check_output_file(args.output, "trace file", force=args.force)
    if args.max_bursts < 1:
        raise InvalidOptionError(f"--max-bursts must be >= 1, not {args.max_bursts}")
    if args.dram_sim is not None:
        options.check_dram_sim(args, args.format)
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
                "dram_part": dram.preset, "mapping": dram.scheme, "dram_policy": dram.policy,
                "dram_runtime_cycles": dram.runtime_cycles,
                "row_hit_rate": dram.row_hit_rate, "activates": int(dram.activates),
                "dram_counts": dram.counts_json(), "energy_j": energy_json(dram.energy)})
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
                  f"(64-B bursts); engine runtime {doc['engine_cycles']:,} cycles; DRAM "
                  f"{dram.preset}, {dram.scheme}, policy {args.dram_policy.describe()}: "
                  f"{dram.runtime_cycles:,} DRAM cycles, {dram.powerdown_fraction:.1%} powered "
                  f"down", highlight=False)
    for label, e in [(args.dram, doc["energy_j"])] + (
            [(doc["dram_sim"]["simulator"], doc["dram_sim"]["energy_j"])] if "dram_sim" in doc else []):
        console.print(f"{label}: energy {e['total'] * 1e6:.2f} µJ (burst {e['burst'] * 1e6:.2f}, act/pre "
                      f"{e['act_pre'] * 1e6:.2f}, refresh {e['refresh'] * 1e6:.2f}, background "
                      f"{e['background'] * 1e6:.2f})" + (f", row-hit rate {dram.row_hit_rate:.3f}"
                                                         if label == args.dram else ""), highlight=False)
    return 0


def _trace_gemm(args):
    from ..dram.evaluate import gemm_dram_report
    model, widths = options.model(args)
    if args.fuse or args.variant is not None:
        raise InvalidOptionError("--fuse and --variant apply to network traces (--network or --onnx)")
    plan = plan_gemm(args.gemm, model, widths, args.order, burst_bytes=64 if args.burst_aware else None)
    bursts = -(-plan.total_bytes // 64)
    if bursts > args.max_bursts:
        raise WorkTooLargeError(
            f"the trace of {args.gemm} moves {plan.total_bytes:,} bytes, at least {bursts:,} "
            f"64-byte bursts, above the limit of {args.max_bursts:,}; give --max-bursts to raise it")
    report = gemm_dram_report(args.gemm, plan.tiling, model, widths, args.dram, args.mapping,
                              options.engine(args), args.dram_policy)
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
    config = EvalConfig(args.dram, args.mapping, options.engine(args), ElementWidths(psum=args.psum_bytes),
                        args.psum_entries, policy=args.dram_policy)
    network = options.network(args)
    stream, dram = variant_trace(network, args.buffer, variant, config)
    doc = {"network": network.name, "variant": variant, "buffer_entries": args.buffer,
           "units": len(stream.units), "bytes_requested": stream.bytes_requested,
           "bytes_moved": stream.bytes_moved, "engine_cycles": int(stream.engine_cycles),
           "runtime_s": max(dram.runtime_s, stream.engine_runtime_s)}
    return doc, stream.addr, stream.is_write, stream.issue, dram


def _run_dram_sim(args, dram):
    """Run the user's simulator on the written trace for exactly the model's runtime."""
    from ..dram.external import run_dram_sim
    return run_dram_sim(args.dram_sim, args.output, args.format, dram.runtime_cycles, args.dram,
                        args.mapping, args.dram_policy, args.dram_sim_config, args.dram_sim_system)
