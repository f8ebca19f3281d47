"""Route delay of every net, by component, from nextpnr's detailed timing report.

The slack histogram (:mod:`scanfuse.hw.fpga.slack`) says how many endpoints miss a clock; it
does not say where they are, and one critical path per seed names one of thousands. On ECP5
most of a failing path's delay is wire (``docs/fpga.md``, section 5), so the routed delay of
each net, grouped by the component that drives it, is a map of where a design is spread too
thin for a clock: a net whose route alone takes longer than the clock period fails whatever
logic sits around it.

The flow runs nextpnr with ``--detailed-timing-report``, which adds ``detailed_net_timings``
to each seed's ``NAME.report.json``: per net its driver and, per sink, the route delay as
``[fast, slow]`` corner figures in ns. This module takes the slow figure of a net's slowest
sink (a net is as late as its farthest sink) and groups nets by the first ``depth`` parts of
the net's hierarchical name (``engine.seq.store.requant.mid0`` at depth 3:
``engine.seq.store``). The clock network (``$glbnet$...``) is left out.

Usage::

    python -m scanfuse.hw.fpga.wires BUILD_DIR [--over NS | --at MHZ] [--depth N] [--json]

prints, per seed, how many nets' routes exceed 2, 4, 6 and 8 ns and the ``--over`` threshold
(default: the period of ``--at``, else 1/150 MHz = 6.67 ns), then the components with the
most such nets, each with its slowest net.
"""

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from .flow import seed_file_tag

__all__ = ["NetDelay", "ComponentWires", "SeedWires", "net_delays", "component_of",
           "seed_wires", "build_wires", "main"]

#: Thresholds (ns) of the route-delay counts every seed reports.
STEPS_NS = (2.0, 4.0, 6.0, 8.0)

#: The clock the default threshold comes from (issue 14's target), MHz.
DEFAULT_MHZ = 150.0


@dataclass(frozen=True)
class NetDelay:
    """One net: its name, driver cell, sink count and slowest sink's route delay (ns, slow
    corner)."""
    net: str
    driver: str
    sinks: int
    delay_ns: float


@dataclass(frozen=True)
class ComponentWires:
    """The nets of one component (name prefix) whose route exceeds the threshold.

    Members
    -------
    component : str
    over : int
        Nets over the threshold.
    nets : int
        All of the component's nets.
    worst : NetDelay
    """
    component: str
    over: int
    nets: int
    worst: NetDelay


@dataclass(frozen=True)
class SeedWires:
    """One seed's figures: ``threshold_ns``; ``nets`` (all, the clock left out);
    ``over_steps`` maps each of :data:`STEPS_NS` to the nets whose route exceeds it; ``over``
    counts those over the threshold; ``components`` lists every component with a net over it,
    most first."""
    seed: int
    threshold_ns: float
    nets: int
    over_steps: dict
    over: int
    components: list


def net_delays(report: dict) -> list[NetDelay]:
    """Every net of a nextpnr report with ``detailed_net_timings`` (``ValueError`` when the
    report has none: nextpnr ran without ``--detailed-timing-report``)."""
    if "detailed_net_timings" not in report:
        raise ValueError("the report has no detailed_net_timings "
                         "(nextpnr ran without --detailed-timing-report)")
    out = []
    for n in report["detailed_net_timings"]:
        if n["net"].startswith("$glbnet$"):
            continue
        delays = [e["delay"][-1] for e in n.get("endpoints", [])]
        if delays:
            out.append(NetDelay(n["net"], n.get("driver", ""), len(delays), max(delays)))
    return out


def component_of(net: str, depth: int) -> str:
    """The first ``depth`` dot-separated parts of a net's name, the last one cut at the
    first character Yosys adds to a derived name (``$``, ``[``, or a cell type suffix)."""
    if depth < 1:
        raise ValueError(f"depth must be at least 1, not {depth}")
    parts = net.split(".")[:depth]
    for mark in ("$", "[", "_TRELLIS", "_LUT4", "_CCU2C", "_PFUMX", "_L6MUX", "_MULT18",
                 "_DP16KD"):
        parts[-1] = parts[-1].split(mark)[0]
    return ".".join(parts)


def seed_wires(seed: int, report: dict, threshold_ns: float, depth: int) -> SeedWires:
    """The figures of one seed's report."""
    if not threshold_ns > 0:
        raise ValueError(f"the threshold must be positive, not {threshold_ns!r} ns")
    nets = net_delays(report)
    groups: dict[str, list[NetDelay]] = {}
    for n in nets:
        groups.setdefault(component_of(n.net, depth), []).append(n)
    comps = []
    for name, members in groups.items():
        over = [n for n in members if n.delay_ns > threshold_ns]
        if over:
            worst = max(over, key=lambda n: (n.delay_ns, n.net))
            comps.append(ComponentWires(name, len(over), len(members), worst))
    comps.sort(key=lambda c: (-c.over, c.component))
    return SeedWires(seed=seed, threshold_ns=threshold_ns, nets=len(nets),
                     over_steps={t: sum(1 for n in nets if n.delay_ns > t) for t in STEPS_NS},
                     over=sum(c.over for c in comps), components=comps)


def build_wires(build_dir, threshold_ns: float, depth: int) -> list[SeedWires]:
    """Every seed of a build directory whose report has the detailed timing."""
    out = Path(build_dir)
    report = json.loads((out / "report.json").read_text())
    name = next(out.glob("*.ys")).stem
    seeds = [p["seed"] for p in report.get("seeds", [])] or [1]
    result = []
    for i, seed in enumerate(seeds):
        path = out / f"{name}{seed_file_tag(i, seed)}.report.json"
        if path.exists():
            result.append(seed_wires(seed, json.loads(path.read_text()), threshold_ns, depth))
    if not result:
        raise ValueError("no seed's nextpnr report in the directory")
    return result


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m scanfuse.hw.fpga.wires",
        description="Route delay of every net by component, from nextpnr's detailed timing "
                    "report in FPGA build directories.")
    ap.add_argument("dirs", nargs="+", help="build directories (report.json, NAME.report.json)")
    limit = ap.add_mutually_exclusive_group()
    limit.add_argument("--over", type=float, metavar="NS",
                       help="count nets whose route exceeds this many ns (> 0)")
    limit.add_argument("--at", type=float, metavar="MHZ",
                       help=f"... the period of this clock in MHz (default {DEFAULT_MHZ:g})")
    ap.add_argument("--depth", type=int, default=3,
                    help="name parts that make a component (>= 1, default 3)")
    ap.add_argument("--top", type=int, default=15,
                    help="components listed per seed (>= 1, default 15)")
    ap.add_argument("--json", action="store_true", help="print JSON")
    args = ap.parse_args(argv)
    for flag, value in (("--over", args.over), ("--at", args.at)):
        if value is not None and not value > 0:
            print(f"wires: error: {flag} must be above 0, not {value:g}", file=sys.stderr)
            return 2
    for flag, value in (("--depth", args.depth), ("--top", args.top)):
        if value < 1:
            print(f"wires: error: {flag} must be at least 1, not {value}", file=sys.stderr)
            return 2
    threshold = args.over if args.over is not None else 1e3 / (args.at or DEFAULT_MHZ)
    rows = {}
    for d in args.dirs:
        try:
            rows[d] = build_wires(d, threshold, args.depth)
        except (OSError, ValueError, KeyError, StopIteration) as err:
            print(f"wires: error: {d}: {err}", file=sys.stderr)
            return 2
    if args.json:
        print(json.dumps({d: [asdict(s) for s in ss] for d, ss in rows.items()}, indent=1))
        return 0
    for d, ss in rows.items():
        for s in ss:
            steps = ", ".join(f"> {t:g} ns {c}" for t, c in s.over_steps.items())
            print(f"## {d}, seed {s.seed}: {s.nets} nets; {steps}; "
                  f"**> {s.threshold_ns:.2f} ns: {s.over}**\n")
            print("| component | nets over | of | slowest net | sinks | route ns |")
            print("|---|---|---|---|---|---|")
            for c in s.components[:args.top]:
                print(f"| {c.component} | {c.over} | {c.nets} | `{c.worst.net}` | "
                      f"{c.worst.sinks} | {c.worst.delay_ns:.2f} |")
            print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
