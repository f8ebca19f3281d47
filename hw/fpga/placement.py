"""Where a routed build's cells sit and what its wires cost, from nextpnr's routed netlist.

The arrival map (:mod:`scanfuse.hw.fpga.arrival`) says which endpoints are late; this module
says whether they are late because the design is spread out. It reads two files of one
place-and-route run: the routed netlist nextpnr writes with ``--write FILE`` (every placed
cell carries its site in the ``NEXTPNR_BEL`` attribute, ``X{x}/Y{y}/{bel}``) and the
``--report`` JSON with ``--detailed-timing-report`` (each endpoint's arrival time, ns).

* :func:`component_spread`: per component (the first ``depth`` parts of a cell's name, as in
  the arrival map) its cell count, centroid and the 10th-90th percentile range of its sites'
  ``x`` and ``y`` (tiles).
* :func:`route_delay_by_distance`: for every net driven by a flip-flop, each sink's arrival
  minus the flip-flop's clock-to-output (:func:`clock_to_q`) is the wire's delay; grouped by
  the Manhattan distance in tiles between driver and sink.
* :func:`late_sinks_by_last_hop`: the endpoints later than a clock's period, by the distance
  their last net spans. A late endpoint reached over a short last net was late before it, on
  an earlier net or in logic; one reached over a long net would be on time with a register
  half way.

Usage::

    python -m scanfuse.hw.fpga.placement ROUTED_JSON REPORT_JSON [--depth N] [--at MHZ] [--json]

The flow does not keep the routed netlist (30 MB at 8x8); run its nextpnr command in the build
directory with ``--write routed.json`` added (``nextpnr_options`` in ``report.json`` lists the
options, docs/fpga.md section 5, eighteenth round).
"""

import argparse
import json
import re
import statistics
import sys
from collections import defaultdict
from dataclasses import asdict, dataclass

__all__ = ["ComponentSpread", "DistanceBucket", "HopBucket", "cell_sites", "clock_to_q",
           "component_spread", "route_delay_by_distance", "late_sinks_by_last_hop", "main"]

_SITE = re.compile(r"X(\d+)/Y(\d+)/")


@dataclass(frozen=True)
class ComponentSpread:
    """One component's placed cells: ``cells``; centroid ``cx``, ``cy``; the 10th and 90th
    percentiles of the sites' ``x`` (``x10``, ``x90``) and ``y`` (``y10``, ``y90``), tiles."""
    component: str
    cells: int
    cx: float
    cy: float
    x10: int
    x90: int
    y10: int
    y90: int


@dataclass(frozen=True)
class DistanceBucket:
    """Flip-flop-driven net sinks ``lo`` .. ``hi`` tiles from their driver: how many, and the
    median, 90th percentile and largest wire delay, ns."""
    lo: int
    hi: int
    sinks: int
    median_ns: float
    p90_ns: float
    max_ns: float


@dataclass(frozen=True)
class HopBucket:
    """Late endpoints whose last net spans ``lo`` .. ``hi`` tiles."""
    lo: int
    hi: int
    late: int


def _top_module(routed: dict) -> dict:
    """The routed design's module: the one whose cells carry sites."""
    modules = routed.get("modules") if isinstance(routed, dict) else None
    for module in (modules or {}).values():
        if any("NEXTPNR_BEL" in c.get("attributes", {}) for c in module.get("cells", {}).values()):
            return module
    raise ValueError("no placed cells (NEXTPNR_BEL attributes): not a routed netlist "
                     "(nextpnr --write)")


def cell_sites(routed: dict) -> dict:
    """``{cell name: (x, y, type)}`` of every placed cell of a routed netlist."""
    sites = {}
    for name, cell in _top_module(routed)["cells"].items():
        bel = cell.get("attributes", {}).get("NEXTPNR_BEL")
        m = _SITE.match(bel) if isinstance(bel, str) else None
        if m:
            sites[name] = (int(m[1]), int(m[2]), cell["type"])
    return sites


def _percentile(values: list, p: float):
    values = sorted(values)
    return values[min(len(values) - 1, int(p * len(values)))]


def component_spread(sites: dict, depth: int = 3, min_cells: int = 1) -> list[ComponentSpread]:
    """Components of at least ``min_cells`` placed cells, largest first."""
    groups = defaultdict(list)
    for name, (x, y, _) in sites.items():
        groups[".".join(name.split(".")[:depth])].append((x, y))
    out = []
    for comp, pts in groups.items():
        if len(pts) < min_cells:
            continue
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        out.append(ComponentSpread(comp, len(pts), round(statistics.mean(xs), 1),
                                   round(statistics.mean(ys), 1), _percentile(xs, 0.1),
                                   _percentile(xs, 0.9), _percentile(ys, 0.1),
                                   _percentile(ys, 0.9)))
    return sorted(out, key=lambda c: (-c.cells, c.component))


def clock_to_q(report: dict) -> float:
    """A flip-flop's clock-to-output delay, ns, as nextpnr timed it: the ``clk-to-q`` segment
    of a critical path that starts at a ``TRELLIS_FF`` cell (``ValueError`` if none does)."""
    for path in report.get("critical_paths", []):
        for seg in path.get("path", []):
            if seg.get("type") == "clk-to-q" and "TRELLIS_FF" in seg["from"]["cell"]:
                return float(seg["delay"])
    raise ValueError("no critical path starts at a flip-flop: clock-to-output unknown")


def _distance(a, b) -> int:
    return abs(a[0] - b[0]) + abs(a[1] - b[1])


def route_delay_by_distance(report: dict, sites: dict, bucket: int = 10,
                            last: int = 80) -> list[DistanceBucket]:
    """Wire delay against distance for every sink of a net driven by a flip-flop's ``Q``
    (arrival minus :func:`clock_to_q`), in buckets of ``bucket`` tiles; distances of ``last``
    tiles and more share the last bucket."""
    tq = clock_to_q(report)
    delays = defaultdict(list)
    for net in report["detailed_net_timings"]:
        drv = sites.get(net["driver"])
        if net.get("port") != "Q" or drv is None or drv[2] != "TRELLIS_FF":
            continue
        for ep in net["endpoints"]:
            sink = sites.get(ep["cell"])
            if sink is not None:
                b = min(_distance(drv, sink) // bucket * bucket, last)
                delays[b].append(ep["delay"][1] - tq)
    return [DistanceBucket(b, b + bucket - 1 if b < last else -1, len(v),
                           round(statistics.median(v), 3), round(_percentile(v, 0.9), 3),
                           round(max(v), 3))
            for b, v in sorted(delays.items())]


def late_sinks_by_last_hop(report: dict, sites: dict, mhz: float, bucket: int = 10,
                           last: int = 80) -> list[HopBucket]:
    """Endpoints arriving later than ``1000 / mhz`` ns, by the distance (tiles) between the
    cell driving their net and them; ``hi`` is -1 for the open last bucket."""
    period = 1000.0 / mhz
    counts = defaultdict(int)
    for net in report["detailed_net_timings"]:
        drv = sites.get(net["driver"])
        for ep in net["endpoints"]:
            sink = sites.get(ep["cell"])
            if drv is not None and sink is not None and ep["delay"][1] > period:
                counts[min(_distance(drv, sink) // bucket * bucket, last)] += 1
    return [HopBucket(b, b + bucket - 1 if b < last else -1, n) for b, n in sorted(counts.items())]


def _span(lo: int, hi: int) -> str:
    return f"{lo}-{hi}" if hi >= 0 else f">= {lo}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m scanfuse.hw.fpga.placement",
        description="Where a routed ECP5 build's components sit, wire delay against distance, "
                    "and the late endpoints by the length of their last net (nextpnr --write "
                    "and --report --detailed-timing-report files of one run).")
    ap.add_argument("routed", help="routed netlist JSON (nextpnr --write)")
    ap.add_argument("report", help="timing report JSON (nextpnr --report, with "
                                   "--detailed-timing-report)")
    ap.add_argument("--depth", type=int, default=3,
                    help="name parts that make a component (>= 1, default 3)")
    ap.add_argument("--min-cells", type=int, default=100,
                    help="smallest component listed, in placed cells (>= 1, default 100)")
    ap.add_argument("--at", type=float, default=150.0, metavar="MHZ",
                    help="the clock whose late endpoints are counted, MHz (> 0, default 150)")
    ap.add_argument("--json", action="store_true", help="print JSON")
    args = ap.parse_args(argv)
    for flag, value in (("--depth", args.depth), ("--min-cells", args.min_cells)):
        if value < 1:
            print(f"placement: error: {flag} must be at least 1, not {value}", file=sys.stderr)
            return 2
    if not args.at > 0:
        print(f"placement: error: --at must be a clock in MHz above 0, not {args.at:g}",
              file=sys.stderr)
        return 2
    try:
        with open(args.routed) as f:
            sites = cell_sites(json.load(f))
        with open(args.report) as f:
            report = json.load(f)
        spread = component_spread(sites, args.depth, args.min_cells)
        wires = route_delay_by_distance(report, sites)
        hops = late_sinks_by_last_hop(report, sites, args.at)
    except (OSError, ValueError, KeyError) as err:
        print(f"placement: error: {err}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({"components": [asdict(c) for c in spread],
                          "wire_delay": [asdict(w) for w in wires],
                          "late_by_last_hop": [asdict(h) for h in hops], "mhz": args.at},
                         indent=1))
        return 0
    print("| component | cells | centroid x, y | x (10-90 %) | y (10-90 %) |")
    print("|---|---|---|---|---|")
    for c in spread:
        print(f"| {c.component} | {c.cells:,} | {c.cx:.0f}, {c.cy:.0f} | {c.x10}-{c.x90} | "
              f"{c.y10}-{c.y90} |")
    print("\n| tiles from a flip-flop | sinks | wire ns: median | 90 % | max |")
    print("|---|---|---|---|---|")
    for w in wires:
        print(f"| {_span(w.lo, w.hi)} | {w.sinks:,} | {w.median_ns:.2f} | {w.p90_ns:.2f} | "
              f"{w.max_ns:.2f} |")
    total = sum(h.late for h in hops)
    print(f"\n{total:,} endpoints later than {1000 / args.at:.2f} ns ({args.at:g} MHz), by the "
          f"tiles their last net spans:")
    print("| tiles | late endpoints |")
    print("|---|---|")
    for h in hops:
        print(f"| {_span(h.lo, h.hi)} | {h.late:,} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
