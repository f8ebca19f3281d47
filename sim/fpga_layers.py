"""MobileNetV2's pointwise layers on the engine at its FPGA clock (``scanfuse fpga --layers``).

The Verilator regression (:func:`scanfuse.sim.verilator_run.regress_mobilenetv2`) runs every
pointwise layer at full size through the engine's RTL, checks the output bit for bit and the
DRAM byte counters against the planner, and reports the engine's own cycle and byte counters.
This module turns those counts into rates at a clock ``f`` (nextpnr's achieved Fmax, or one
given):

* utilisation = MACs / (rows x cols x cycles)                      (dimensionless, 0..1)
* achieved GOPS = 2 x MACs x f / cycles / 1e9                      (one MAC = 2 operations)
* DRAM bandwidth needed = (bytes read + written) x f / cycles / 1e9 (GB/s, 1 GB = 1e9 bytes)
* time = cycles / f                                                 (ms)

The bandwidth is what the memory must sustain, on average over the layer, for the engine to
take the cycles the regression measured; the regression's memory answers with a fixed latency
and no stalls, so the cycle counts are the engine's best case at any clock.

Units everywhere: clock in MHz (``f = clock_mhz x 1e6`` Hz), cycles of the engine clock, DRAM
bytes as counted on the AXI port, GOPS in 1e9 operations/s, bandwidth in GB/s (1e9 bytes/s).

* :func:`clock_from_fmax`, :func:`clock_from_report`: the :class:`Clock` and where it came from;
* :func:`figures_from_regression`: pure arithmetic, regression rows -> :class:`NetworkFigures`;
* :func:`run_layers`: runs the regression on Verilator and returns the figures;
* :func:`figures_json`, :func:`figures_markdown`, :func:`figures_table`: renderings;
* :func:`command`: ``scanfuse fpga --layers`` (wired by :mod:`scanfuse.cli.fpga`).
"""

import io
import json
import math
import sys
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from ..errors import InvalidOptionError, ScanFuseError
from ..hw.params import AccelConfig
from ..hw.verilog import source_hash
from ..network import get_network
from . import verilator_run

__all__ = ["LayerCheckError", "Clock", "LayerFigures", "TotalFigures", "NetworkFigures",
           "clock_from_fmax", "clock_from_report", "figures_from_regression", "run_layers",
           "figures_json", "figures_markdown", "figures_table", "build_dir", "command"]

NETWORK = "mobilenetv2"
EXIT_CHECK_FAILED = 1


class LayerCheckError(ScanFuseError):
    """A layer's output was not bit-exact or its DRAM counters disagree with the planner
    (a hardware fault, not bad input: ``scanfuse fpga --layers`` exits 1)."""


@dataclass(frozen=True)
class Clock:
    """The engine clock the figures are computed at.

    ``mhz``: clock in MHz; ``source``: where it came from (``"--fmax"`` or the report's path);
    ``note``: a caveat, e.g. that the report was built for a different engine configuration.
    """

    mhz: float
    source: str
    note: str = ""


@dataclass(frozen=True)
class LayerFigures:
    """One pointwise layer: GEMM ``C[M,N] = A[M,K] B[K,N]`` on the engine at the clock.

    ``macs``: M x K x N; ``cycles``: engine clock cycles from start to done;
    ``utilisation``: macs / (rows x cols x cycles); ``gops``: achieved 1e9 ops/s (2 per MAC);
    ``read_bytes``, ``write_bytes``: DRAM bytes the engine moved (its counters);
    ``bandwidth_gbs``: (read + write) bytes x f / cycles in GB/s; ``time_ms``: cycles / f;
    ``ok``: bit-exact and counters equal to the planner's prediction.
    """

    name: str
    M: int
    K: int
    N: int
    macs: int
    cycles: int
    utilisation: float
    gops: float
    read_bytes: int
    write_bytes: int
    bandwidth_gbs: float
    time_ms: float
    ok: bool

    @property
    def dram_bytes(self) -> int:
        """Bytes read plus bytes written."""
        return self.read_bytes + self.write_bytes


@dataclass(frozen=True)
class TotalFigures:
    """The whole network's pointwise layers, run one after another.

    Sums of ``macs``, ``cycles``, ``read_bytes``, ``write_bytes``, ``time_ms``;
    ``utilisation`` and ``gops`` over the total cycles; ``bandwidth_gbs``: average, total bytes
    x f / total cycles (GB/s); ``peak_bandwidth_gbs``: the largest per-layer bandwidth, needed by
    layer ``peak_layer``; ``ok``: every layer ok.
    """

    layers: int
    macs: int
    cycles: int
    utilisation: float
    gops: float
    read_bytes: int
    write_bytes: int
    bandwidth_gbs: float
    peak_bandwidth_gbs: float
    peak_layer: str
    time_ms: float
    ok: bool

    @property
    def dram_bytes(self) -> int:
        """Bytes read plus bytes written."""
        return self.read_bytes + self.write_bytes


@dataclass(frozen=True)
class NetworkFigures:
    """Per-layer and total figures of a network on a ``rows`` x ``cols`` engine at ``clock``.

    ``peak_gops``: 2 x rows x cols x f / 1e9; ``port_gbs``: the AXI port's ceiling in each
    direction (read, write), ``port_bytes`` per cycle x f / 1e9 (GB/s). ``board`` and
    ``command`` are context for the reports (empty when unknown).
    """

    network: str
    rows: int
    cols: int
    double_buffer: bool
    port_bytes: int
    clock: Clock
    peak_gops: float
    port_gbs: float
    layers: tuple[LayerFigures, ...]
    total: TotalFigures
    board: str = ""
    command: str = ""


# ------------------------------------------------------------------------------------ clock
def clock_from_fmax(mhz: float) -> Clock:
    """The clock given as ``--fmax MHZ``; :class:`InvalidOptionError` unless finite and > 0."""
    if isinstance(mhz, bool) or not isinstance(mhz, (int, float)) or not math.isfinite(mhz) \
            or mhz <= 0:
        raise InvalidOptionError(f"--fmax must be a positive clock in MHz, not {mhz!r}")
    return Clock(float(mhz), "--fmax")


def clock_from_report(path, cfg: AccelConfig) -> Clock:
    """nextpnr's achieved Fmax (``fmax_mhz``) from an FPGA ``report.json``
    (:func:`scanfuse.hw.fpga.flow.run_flow`) for ``cfg``'s array.

    Raises :class:`InvalidOptionError` if the report is missing or unreadable, has no
    ``fmax_mhz`` (a synthesis-only build) or is for another array. A report built for an engine
    that differs from ``cfg`` in another field (e.g. ``double_buffer``) is used, with a note.
    """
    path = Path(path)
    hint = "build it first (scanfuse fpga without --layers) or give --fmax MHZ"
    if not path.is_file():
        raise InvalidOptionError(f"no FPGA report {path}: {hint}")
    try:
        report = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InvalidOptionError(f"cannot read FPGA report {path}: {err}") from None
    if not isinstance(report, dict):
        raise InvalidOptionError(f"FPGA report {path} is not a JSON object")
    array = report.get("array")
    if array is not None and list(array) != [cfg.rows, cfg.cols]:
        raise InvalidOptionError(f"FPGA report {path} is for a {array[0]}x{array[1]} array, "
                                 f"not {cfg.rows}x{cfg.cols}")
    fmax = report.get("fmax_mhz")
    if isinstance(fmax, bool) or not isinstance(fmax, (int, float)) or not math.isfinite(fmax) \
            or fmax <= 0:
        raise InvalidOptionError(f"FPGA report {path} has no fmax_mhz (synthesis only or place "
                                 f"and route failed): {hint}")
    built = report.get("config")
    note = ""
    sources = report.get("engine_sources")
    if sources is None:
        note = "the report does not record which engine sources it was built from"
    elif sources != source_hash():
        note = (f"Fmax of an older engine build (sources {sources}, now {source_hash()}): "
                f"rebuild for a current figure")
    if isinstance(built, dict):
        want = asdict(cfg)
        differ = [f"{k} {built[k]!r} there, {want[k]!r} here" for k in want
                  if k in built and built[k] != want[k]]
        if differ:
            note = "; ".join(filter(None, [note, "Fmax of a different engine configuration: "
                                           + "; ".join(differ)]))
    return Clock(float(fmax), str(path), note)


# ------------------------------------------------------------------------------- arithmetic
def _rates(macs: int, cycles: int, nbytes: int, rows: int, cols: int, mhz: float):
    """(utilisation, GOPS, GB/s, ms) of ``macs`` MACs and ``nbytes`` DRAM bytes in ``cycles``
    cycles of a ``mhz`` MHz clock (f = mhz x 1e6 Hz: 2 x macs x f / cycles / 1e9 =
    2 x macs x mhz / cycles / 1e3)."""
    return (macs / (rows * cols * cycles), 2 * macs * mhz / cycles / 1e3,
            nbytes * mhz / cycles / 1e3, cycles / mhz / 1e3)


def figures_from_regression(regression: list, rows: int, cols: int, clock: "Clock | float", *,
                            double_buffer: bool = False, port_bytes: int = 8,
                            network: str = NETWORK) -> NetworkFigures:
    """Figures of the regression's rows on a ``rows`` x ``cols`` engine at ``clock``.

    ``regression``: rows of :func:`scanfuse.sim.verilator_run.regress_mobilenetv2` (dicts with
    ``layer``, ``M``, ``K``, ``N``, ``macs``, ``cycles``, ``dram_read_bytes``,
    ``dram_write_bytes``, ``bit_exact``, ``counters_match``); ``clock``: a :class:`Clock` or a
    clock in MHz. Pure arithmetic; raises :class:`InvalidOptionError` for an empty list, a
    non-positive clock, array size or cycle count.
    """
    if not isinstance(clock, Clock):
        clock = replace(clock_from_fmax(clock), source="given")
    elif not (math.isfinite(clock.mhz) and clock.mhz > 0):
        raise InvalidOptionError(f"the clock must be positive MHz, not {clock.mhz!r}")
    if rows < 1 or cols < 1:
        raise InvalidOptionError(f"the array must be at least 1x1, not {rows}x{cols}")
    if not regression:
        raise InvalidOptionError("no regression rows: no layer was run")
    mhz = clock.mhz
    layers = []
    for r in regression:
        if r["cycles"] <= 0:
            raise InvalidOptionError(f"layer {r['layer']}: cycles must be positive, "
                                     f"not {r['cycles']!r}")
        read, write = r["dram_read_bytes"], r["dram_write_bytes"]
        util, gops, gbs, ms = _rates(r["macs"], r["cycles"], read + write, rows, cols, mhz)
        layers.append(LayerFigures(
            name=r["layer"], M=r["M"], K=r["K"], N=r["N"], macs=r["macs"], cycles=r["cycles"],
            utilisation=util, gops=gops, read_bytes=read, write_bytes=write, bandwidth_gbs=gbs,
            time_ms=ms, ok=bool(r["bit_exact"] and r["counters_match"])))
    macs, cycles = sum(x.macs for x in layers), sum(x.cycles for x in layers)
    read, write = sum(x.read_bytes for x in layers), sum(x.write_bytes for x in layers)
    util, gops, gbs, ms = _rates(macs, cycles, read + write, rows, cols, mhz)
    peak = max(layers, key=lambda x: x.bandwidth_gbs)
    total = TotalFigures(layers=len(layers), macs=macs, cycles=cycles, utilisation=util,
                         gops=gops, read_bytes=read, write_bytes=write, bandwidth_gbs=gbs,
                         peak_bandwidth_gbs=peak.bandwidth_gbs, peak_layer=peak.name,
                         time_ms=ms, ok=all(x.ok for x in layers))
    return NetworkFigures(network=network, rows=rows, cols=cols, double_buffer=double_buffer,
                          port_bytes=port_bytes, clock=clock, peak_gops=2 * rows * cols * mhz / 1e3,
                          port_gbs=port_bytes * mhz / 1e3, layers=tuple(layers), total=total)


# ---------------------------------------------------------------------------------- running
def run_layers(cfg: AccelConfig, clock: Clock, *, layers: "list[str] | None" = None,
               seed: int = 0) -> NetworkFigures:
    """Run MobileNetV2's pointwise layers (all, or those named in ``layers``) on the Verilated
    ``cfg`` engine and return their figures at ``clock``.

    The first run of a configuration builds the Verilator harness (~1.5-3 min); the full
    network then takes about a minute on the 8x8 engine. Raises :class:`InvalidOptionError` if
    Verilator is missing or a layer name is unknown, :class:`LayerCheckError` if a layer is not
    bit-exact or its DRAM counters disagree with the planner; ``RuntimeError`` /
    ``TimeoutError`` if the build or a run fails.
    """
    if not verilator_run.verilator_available():
        raise InvalidOptionError("--layers runs the regression on Verilator, which is not "
                                 "installed")
    if layers is not None:
        known = [x.name for x in get_network(NETWORK).layers if x.is_pointwise]
        unknown = [name for name in layers if name not in known]
        if unknown or not layers:
            raise InvalidOptionError(f"not a pointwise layer of {NETWORK}: "
                                     f"{', '.join(unknown) or '(none given)'}")
    rows = verilator_run.regress_mobilenetv2(cfg, layers=layers, seed=seed, out=io.StringIO())
    bad = [r for r in rows if not (r["bit_exact"] and r["counters_match"])]
    if bad:
        first = bad[0].get("problems") or ["not bit-exact or DRAM counters differ"]
        raise LayerCheckError(f"{len(bad)} layer(s) failed the check on the {cfg.rows}x"
                              f"{cfg.cols} engine: {', '.join(r['layer'] for r in bad)} "
                              f"({bad[0]['layer']}: {first[0]})")
    return figures_from_regression(rows, cfg.rows, cfg.cols, clock,
                                   double_buffer=cfg.double_buffer, port_bytes=cfg.axi_bytes)


# -------------------------------------------------------------------------------- rendering
def figures_json(fig: NetworkFigures) -> dict:
    """A JSON-ready dict of ``fig`` (the keys of ``layers.json``); rates rounded to 6 places."""
    def plain(obj) -> dict:
        return {f.name: round(v, 6) if isinstance(v := getattr(obj, f.name), float) else v
                for f in fields(obj)}

    return {
        "network": fig.network, "board": fig.board or None, "array": [fig.rows, fig.cols],
        "double_buffer": fig.double_buffer, "clock_mhz": fig.clock.mhz,
        "clock_source": fig.clock.source, "clock_note": fig.clock.note or None,
        "peak_gops": round(fig.peak_gops, 6), "port_bytes_per_cycle": fig.port_bytes,
        "port_gbs": round(fig.port_gbs, 6), "command": fig.command or None,
        "units": {"clock": "MHz", "cycles": "engine clock cycles", "bytes": "DRAM bytes",
                  "gops": "1e9 operations/s, 2 per MAC", "bandwidth_gbs": "1e9 bytes/s",
                  "time_ms": "milliseconds", "utilisation": "MACs / (rows x cols x cycles)"},
        "layers": [plain(x) for x in fig.layers],
        "total": plain(fig.total),
    }


def _engine_line(fig: NetworkFigures) -> str:
    buffering = "double-buffered" if fig.double_buffer else "single-buffered"
    where = f" for the {fig.board} board" if fig.board else ""
    return (f"{fig.rows}x{fig.cols} engine ({buffering}, {fig.port_bytes} B/cycle AXI port)"
            f"{where} at {fig.clock.mhz:g} MHz ({fig.clock.source})")


def figures_markdown(fig: NetworkFigures) -> str:
    """``layers.md``: the per-layer table, the totals row and how the figures were made."""
    t = fig.total
    lines = [
        f"# {fig.network} pointwise layers on the {fig.rows}x{fig.cols} engine at "
        f"{fig.clock.mhz:g} MHz", "",
        f"{_engine_line(fig)[0].upper()}{_engine_line(fig)[1:]}.",
    ]
    if fig.clock.note:
        lines.append(f"Note: {fig.clock.note}.")
    lines += [
        "", f"Peak {fig.peak_gops:.3f} GOPS (2 x {fig.rows * fig.cols} MACs x f); the AXI "
        f"port moves at most {fig.port_gbs:.3f} GB/s ({fig.port_bytes} B x f) each way.",
        "Cycles and DRAM bytes are the engine's own counters in the Verilator regression (memory "
        "without stalls); every layer bit-exact and its bytes equal to the planner's: "
        f"{'yes' if t.ok else 'NO'}.", "",
        "| layer | M,K,N | MACs | cycles | util | GOPS | read B | write B | GB/s needed | ms |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for x in fig.layers:
        lines.append(f"| {x.name} | {x.M},{x.K},{x.N} | {x.macs:,} | {x.cycles:,} | "
                     f"{x.utilisation:.3f} | {x.gops:.3f} | {x.read_bytes:,} | "
                     f"{x.write_bytes:,} | {x.bandwidth_gbs:.4f} | {x.time_ms:.3f} |")
    lines += [
        f"| **total** ({t.layers} layers) | | {t.macs:,} | {t.cycles:,} | {t.utilisation:.3f} | "
        f"{t.gops:.3f} | {t.read_bytes:,} | {t.write_bytes:,} | {t.bandwidth_gbs:.4f} avg, "
        f"{t.peak_bandwidth_gbs:.4f} peak ({t.peak_layer}) | {t.time_ms:.3f} |", "",
        "util = MACs / (rows x cols x cycles); GOPS = 2 x MACs x f / cycles / 1e9; GB/s needed "
        "= (read + write bytes) x f / cycles / 1e9, the average DRAM bandwidth that lets the "
        "layer run in the cycles measured; ms = cycles / f.",
    ]
    if fig.command:
        lines += ["", f"Command: `{fig.command}`"]
    return "\n".join(lines) + "\n"


def figures_table(fig: NetworkFigures):
    """A rich :class:`~rich.table.Table` of the layers and the totals row."""
    from rich.table import Table

    caption = (f"peak {fig.peak_gops:.3f} GOPS, port {fig.port_gbs:.3f} GB/s each way; "
               f"util = MACs/(rows x cols x cycles), GOPS = 2 MACs f/cycles, "
               f"GB/s = (read + write) bytes f/cycles")
    if fig.clock.note:
        caption += f"; {fig.clock.note}"
    table = Table(title=f"{fig.network} pointwise layers: {_engine_line(fig)}", caption=caption)
    for name in ("layer", "M,K,N", "MACs", "cycles", "util", "GOPS", "read B", "write B",
                 "GB/s", "ms", "ok"):
        table.add_column(name, justify="left" if name in ("layer", "M,K,N") else "right")
    for i, x in enumerate(fig.layers):
        table.add_row(x.name, f"{x.M},{x.K},{x.N}", f"{x.macs:,}", f"{x.cycles:,}",
                      f"{x.utilisation:.3f}", f"{x.gops:.3f}", f"{x.read_bytes:,}",
                      f"{x.write_bytes:,}", f"{x.bandwidth_gbs:.4f}", f"{x.time_ms:.3f}",
                      "yes" if x.ok else "NO", end_section=i == len(fig.layers) - 1)
    t = fig.total
    table.add_row("total", f"{t.layers} layers", f"{t.macs:,}", f"{t.cycles:,}",
                  f"{t.utilisation:.3f}", f"{t.gops:.3f}", f"{t.read_bytes:,}",
                  f"{t.write_bytes:,}", f"{t.bandwidth_gbs:.4f}", f"{t.time_ms:.3f}",
                  "yes" if t.ok else "NO")
    table.add_row("peak layer", t.peak_layer, "", "", "", "", "", "",
                  f"{t.peak_bandwidth_gbs:.4f}", "", "")
    return table


# ------------------------------------------------------------------------------ build paths
def build_dir(board: str, rows: int, cols: int, top: str, out=None) -> Path:
    """The FPGA build directory: ``out``, or ``build/fpga/BOARD.rRcC.TOP`` as
    :func:`scanfuse.hw.fpga.flow.run_flow` names it."""
    if out is not None:
        return Path(out)
    return Path("build") / "fpga" / f"{board}.r{rows}c{cols}.{top}"
