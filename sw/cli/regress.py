"""``scanfuse regress`` (``make regress``): every MobileNetV2 pointwise layer at full size on
the default engine under Verilator, checked bit for bit and byte for byte
(:func:`scanfuse.sim.verilator_run.regress_mobilenetv2`)."""

import json
import sys
import time
from pathlib import Path

from . import options

__all__ = ["add_parser", "command"]


def add_parser(sub, parser_class) -> None:
    """Register ``scanfuse regress`` on the top-level subparsers."""
    p = sub.add_parser("regress", help="Verilator regression of MobileNetV2's pointwise layers",
                       description="Verilator regression: every MobileNetV2 pointwise layer at "
                                   "full size on the default engine")
    p.add_argument("--layers", help="comma-separated layer names (default: all pointwise layers)")
    p.add_argument("--seed", type=options.seed_type((1 << 32) - 1), default=0)
    p.add_argument("--p-ready", type=options.probability(), default=1.0,
                   help="probability the memory is ready on AR/AW/W in a cycle (default 1)")
    p.add_argument("--p-valid", type=options.probability(), default=1.0,
                   help="probability a due R beat / B response is presented (default 1)")
    p.add_argument("--double-buffer", action="store_true",
                   help="the double-buffered engine (same memories; A and B tiles of the next "
                        "step load while the current one computes), planned for its model")
    p.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    p.add_argument("--force", action="store_true", help="replace an existing --json file")


def command(args, console) -> int:
    """Run the regression; exit 1 unless every layer is bit-exact with matching counters,
    2 when Verilator is missing."""
    from ..hw.params import AccelConfig
    from ..files import check_output_file, write_text
    from ..sim.verilator_run import (check_layer_names, regress_mobilenetv2, verilator_available,
                                     verilator_build)

    layers = args.layers.split(",") if args.layers is not None else None
    check_layer_names(layers)
    if args.json:
        check_output_file(args.json, "--json", force=args.force)
    if not verilator_available():
        print("scanfuse: error: verilator is not installed", file=sys.stderr)
        return 2
    cfg = AccelConfig(double_buffer=args.double_buffer)
    t0 = time.perf_counter()
    exe = verilator_build(cfg)
    print(f"# engine {cfg.name} {cfg.axi_data_bits}-bit AXI, A/B/C {cfg.a_entries}/"
          f"{cfg.b_entries}/{cfg.c_entries} entries"
          f"{', double-buffered' if cfg.double_buffer else ''}; harness {exe} "
          f"(ready {time.perf_counter() - t0:.1f} s); stalls p_ready={args.p_ready} "
          f"p_valid={args.p_valid}", flush=True)
    rows = regress_mobilenetv2(cfg, layers=layers,
                               seed=args.seed, p_ready=args.p_ready, p_valid=args.p_valid)
    if args.json:
        write_text(args.json, json.dumps(rows, indent=1) + "\n")
    return 0 if rows and all(r["bit_exact"] and r["counters_match"] for r in rows) else 1
