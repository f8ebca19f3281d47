"""``scanfuse evaluate``: DRAM energy of whole networks, five planning variants and a
buffer sweep (parser and handler)."""

import json

from rich.console import Console

from ..errors import InvalidOptionError, OutputPathError
from ..network import get_network, network_names
from ..units import format_entries, parse_entries
from . import options

__all__ = ["add_parser", "command"]


def add_parser(sub, parser_class) -> None:
    """Register ``scanfuse evaluate`` on the top-level subparsers."""
    p = sub.add_parser("evaluate", help="DRAM energy of whole networks: five planning variants and a buffer sweep",
                       description="Plan each network five ways (baseline: unfused, best raster "
                                   "tiling per layer; scan: unfused, Scan; raster+fusion and "
                                   "scan+fusion: thesis-style fused groups; scan+extended-fusion: "
                                   "the best grouping into fused groups), turn every schedule into 64-byte "
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
    p.add_argument("--sweep", default="16K,32K,64K,128K,256K", metavar="S1,S2,...",
                   help="buffer sizes of the sweep (default 16K,32K,64K,128K,256K; 'none' for none)")
    options.add_engine_args(p)
    options.add_dram_args(p, "run every variant's stream at --buffer through this simulator "
                             "binary (DRAMSim2 for --dram ddr3, DRAMsim3 for ddr4)")
    p.add_argument("--workers", type=int, default=0, metavar="N",
                   help="processes for the (network, buffer) jobs (default 0: one per CPU)")
    p.add_argument("--out", metavar="DIR", help="write report.md, results.json and PNG plots here "
                                                "(a new folder, written whole or not at all)")
    options.add_force_arg(p, "--out folder (replaced whole when the new report is complete)")
    p.add_argument("--json", action="store_true", help="print one JSON document instead of tables")


def command(args, console: Console) -> int:
    from ..dram.external import simulator_for
    from ..evaluate import VARIANTS, EvalConfig, cross_check, evaluate, sweep_steps
    from ..report.evaluate_report import external_table, progress_reporter, tables, write_report
    if args.onnx is not None:
        networks = [options.network(args)]
    else:
        names = [n.strip() for n in str(args.network).split(",") if n.strip()]
        if not names or len(set(names)) != len(names):
            raise InvalidOptionError(f"--network takes distinct comma-separated names, not {args.network!r}")
        networks = [get_network(n) for n in names]
    from ..evaluate.run import MAX_WORKERS
    from ..files import check_output_dir
    if not 0 <= args.workers <= MAX_WORKERS:
        raise InvalidOptionError(f"--workers must be 0..{MAX_WORKERS}, not {args.workers}")
    if args.out is not None:
        check_output_dir(args.out, "--out", force=args.force, replaceable=_report_file)
    sweep = () if str(args.sweep).strip().lower() == "none" else tuple(
        parse_entries(s, what="a sweep buffer size") for s in str(args.sweep).split(","))
    config = EvalConfig(args.dram, args.mapping, options.engine(args), policy=args.dram_policy)
    if args.dram_sim is not None:
        options.check_dram_sim(args, simulator_for(args.dram))
    steps = sweep_steps(networks, args.buffer, sweep)
    steps += len(networks) * len(VARIANTS) if args.dram_sim is not None else 0
    with progress_reporter(steps) as advance:
        result = evaluate(networks, args.buffer, config, sweep, progress=advance,
                          workers=args.workers or None)
        checks = None if args.dram_sim is None else cross_check(
            networks, args.buffer, config, args.dram_sim, args.dram_sim_config,
            args.dram_sim_system, progress=advance)
    written = []
    if args.out is not None:
        try:
            written = write_report(result, args.out, command=_evaluate_command(args))
        except OSError as err:
            raise OutputPathError(f"cannot write to {args.out!r}: {err.strerror}") from None
    if args.json:
        doc = result.to_json()
        doc["settings"] = {"buffer_entries": args.buffer, **config.to_json()}
        if checks is not None:
            doc["dram_sim"] = {n: {v: r.to_json() for v, r in per.items()}
                               for n, per in checks.items()}
        print(json.dumps(doc, indent=2))
        return 0
    for table in tables(result):
        console.print(table)
    if checks is not None:
        console.print(external_table(result, checks))
    if written:
        console.print(f"wrote {', '.join(str(p) for p in written)}", highlight=False)
    return 0


def _report_file(name: str) -> bool:
    """A file ``evaluate --out`` writes (what ``--force`` may replace)."""
    return name in ("report.md", "results.json") or name.endswith(".png")


def _evaluate_command(args) -> str:
    """The command line that reproduces an evaluation (for report.md)."""
    what = f"--onnx {args.onnx}" if args.onnx is not None else f"--network {args.network}"
    parts = ["scanfuse evaluate", what, f"--buffer {format_entries(args.buffer)}", f"--dram {args.dram}"]
    if args.dram_policy.name != "dramsim2":
        parts.append(f"--dram-policy '{args.dram_policy.name}'")
    defaults = {"mapping": "scheme2", "sweep": "16K,32K,64K,128K,256K", "pe": "8x8",
                "freq_mhz": 100.0, "port_bytes": 8.0}
    for key, default in defaults.items():
        if getattr(args, key) != default:
            parts.append(f"--{key.replace('_', '-')} {getattr(args, key):g}" if isinstance(default, float)
                         else f"--{key.replace('_', '-')} {getattr(args, key)}")
    if args.out is not None:
        parts.append(f"--out {args.out}")
    return " ".join(parts)
