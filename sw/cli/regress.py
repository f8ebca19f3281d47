"""``scanfuse regress`` (``make regress``): every MobileNetV2 pointwise layer at full size on
the default (double-buffered) engine under Verilator, checked bit for bit and byte for byte
(:func:`scanfuse.sim.verilator_run.regress_mobilenetv2`).

``--json`` (no file, or ``-``) prints one JSON object on stdout and moves the table to stderr:
``layers`` (per layer ``name``, ``bit_exact``, ``dram_read_bytes``, ``dram_write_bytes``,
``predicted_read_bytes``, ``predicted_write_bytes``, ``cycles``, ``macs``, ``utilization``,
``padding_ceiling`` and more) and ``total`` (``cycles``, ``macs``, ``utilization`` = macs /
(rows x cols x cycles), ``padding_ceiling``, bytes). ``--json FILE`` writes the same object to
FILE. ``--stalls SEED``: random AXI stalls (ready and valid each with probability 0.8) drawn
from SEED.
"""

import argparse
from dataclasses import replace
import json
import sys
import time

from ..hw.params import TILE_MEMORY_KINDS
from . import options

__all__ = ["add_parser", "command", "STALL_PROBABILITY"]

#: ``--stalls``: the memory's ready (AR/AW/W) and valid (R/B) probability per cycle.
STALL_PROBABILITY = 0.8

#: Networks the regression knows (their pointwise layers are run).
NETWORKS = ("mobilenetv2",)


def add_parser(sub, parser_class) -> None:
    """Register ``scanfuse regress`` on the top-level subparsers."""
    p = sub.add_parser("regress", help="Verilator regression of MobileNetV2's pointwise layers",
                       description="Verilator regression: every MobileNetV2 pointwise layer at "
                                   "full size on the default engine")
    p.add_argument("--network", default="mobilenetv2",
                   help="network whose pointwise layers run (only mobilenetv2)")
    p.add_argument("--layers", help="comma-separated layer names (default: all pointwise layers)")
    p.add_argument("--seed", type=options.seed_type((1 << 32) - 1), default=0,
                   help="data and stall seed (default 0)")
    p.add_argument("--stalls", metavar="SEED", type=options.seed_type((1 << 32) - 1),
                   help=f"random AXI stalls from SEED: ready and valid each with probability "
                        f"{STALL_PROBABILITY} (sets --seed; --p-ready/--p-valid override)")
    p.add_argument("--p-ready", type=options.probability(), default=None,
                   help="probability the memory is ready on AR/AW/W in a cycle (default 1)")
    p.add_argument("--p-valid", type=options.probability(), default=None,
                   help="probability a due R beat / B response is presented (default 1)")
    p.add_argument("--double-buffer", action=argparse.BooleanOptionalAction, default=None,
                   help="the double-buffered engine (the default: same memories; A and B "
                        "tiles of the next step load, and the previous C tile stores, while "
                        "the current one computes) or, with --no-double-buffer, the plain "
                        "one; each planned for its own model")
    p.add_argument("--tile-memory", choices=TILE_MEMORY_KINDS, default="inferred",
                   help="A/B tile memories: inferred (default, read latency 1) or dp16kd (the "
                        "ECP5 block RAMs with output registers of `scanfuse fpga --tile-memory "
                        "dp16kd`, simulated by their model: one more cycle of feed latency)")
    p.add_argument("--json", metavar="FILE", nargs="?", const="-",
                   help="the rows and the total as JSON: on stdout (no FILE, or -) or to FILE")
    p.add_argument("--force", action="store_true", help="replace an existing --json file")


def _stall_args(args) -> tuple[int, float, float]:
    """``(seed, p_ready, p_valid)`` from ``--seed``, ``--stalls`` and the probabilities."""
    default = 1.0 if args.stalls is None else STALL_PROBABILITY
    seed = args.seed if args.stalls is None else args.stalls
    return (seed, default if args.p_ready is None else args.p_ready,
            default if args.p_valid is None else args.p_valid)


def report(cfg, rows: list[dict], *, network: str, seed: int, p_ready: float,
           p_valid: float) -> dict:
    """The JSON object of a regression: the run's settings, one entry per layer, the total."""
    from ..sim.scoreboard import regression_total
    keys = ("bit_exact", "counters_match", "dram_read_bytes", "dram_write_bytes",
            "predicted_read_bytes", "predicted_write_bytes", "cycles", "macs", "utilization",
            "padding_ceiling", "roofline_cycles", "stall_cycles", "M", "K", "N", "wall_seconds")
    layers = [{"name": r["layer"], **{k: r[k] for k in keys}} for r in rows]
    total = regression_total(cfg, rows)
    return {"network": network, "engine": cfg.name, "double_buffer": cfg.double_buffer,
            "rows": cfg.rows, "cols": cfg.cols, "seed": seed, "p_ready": p_ready,
            "p_valid": p_valid, "layers": layers, "total": total}


def command(args, console) -> int:
    """Run the regression; exit 1 unless every layer is bit-exact with matching counters,
    2 when Verilator is missing or an option is bad."""
    from ..errors import InvalidOptionError
    from ..hw.params import AccelConfig
    from ..files import check_output_file, write_text
    from ..sim.verilator_run import (check_layer_names, regress_mobilenetv2, verilator_available,
                                     verilator_build)

    if args.network not in NETWORKS:
        raise InvalidOptionError(f"--network: the regression runs {', '.join(NETWORKS)}, "
                                 f"not {args.network!r}")
    layers = args.layers.split(",") if args.layers is not None else None
    check_layer_names(layers)
    to_stdout = args.json == "-"
    if args.json and not to_stdout:
        check_output_file(args.json, "--json", force=args.force)
    if not verilator_available():
        print("scanfuse: error: verilator is not installed", file=sys.stderr)
        return 2
    seed, p_ready, p_valid = _stall_args(args)
    table = sys.stderr if to_stdout else sys.stdout
    cfg = AccelConfig(tile_memory=args.tile_memory)
    if args.double_buffer is not None:
        cfg = replace(cfg, double_buffer=args.double_buffer)
    t0 = time.perf_counter()
    exe = verilator_build(cfg)
    print(f"# engine {cfg.name} {cfg.axi_data_bits}-bit AXI, A/B/C {cfg.a_entries}/"
          f"{cfg.b_entries}/{cfg.c_entries} entries"
          f"{', double-buffered' if cfg.double_buffer else ''}; harness {exe} "
          f"(ready {time.perf_counter() - t0:.1f} s); stalls seed={seed} p_ready={p_ready} "
          f"p_valid={p_valid}", file=table, flush=True)
    rows = regress_mobilenetv2(cfg, layers=layers, seed=seed, p_ready=p_ready, p_valid=p_valid,
                               out=table)
    if args.json:
        text = json.dumps(report(cfg, rows, network=args.network, seed=seed, p_ready=p_ready,
                                 p_valid=p_valid), indent=1) + "\n"
        if to_stdout:
            sys.stdout.write(text)
        else:
            write_text(args.json, text)
    return 0 if rows and all(r["bit_exact"] and r["counters_match"] for r in rows) else 1
