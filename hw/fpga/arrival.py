"""Data arrival at every timing endpoint, by component and input kind, from nextpnr's report.

The slack histogram (:mod:`scanfuse.hw.fpga.slack`) says how many endpoints miss a clock, and
one critical path per seed names one of them. Neither says *where* the thousands of late
endpoints are, nor what kind of input they are. The flow runs nextpnr with
``--detailed-timing-report``, which adds ``detailed_net_timings`` to each seed's
``NAME.report.json``: for every net that feeds a timing endpoint, each endpoint's cell, port
and **arrival time** (nextpnr 0.11's ``TimingAnalyser``: the latest time, from the launching
clock edge, at which data reaches that input: clock to output, logic and routing;
``[min, max]`` over the paths into it, in ns). This module reads the ``max`` figure of each
endpoint and counts those that arrive later than a clock's period: they fail that clock
(the count is a lower bound, since the endpoint's setup time is not in the figure).

Endpoints are grouped by the first ``depth`` parts of their cell's hierarchical name
(``engine.seq.store.pack32.word_TRELLIS_FF_Q_3`` at depth 3: ``engine.seq.store``) and
classed by the input they are (:func:`input_kind`): a flip-flop's data (``DI``, ``M``), its
clock enable (``CE``) or its local set/reset (``LSR``, where Yosys puts synchronous resets), a
LUT RAM's write port, or a hard block's pin (DSP, block RAM). Late enables and resets are
control decisions fanning out to wide registers; late data is long arithmetic or long wires.

Usage::

    python -m scanfuse.hw.fpga.arrival BUILD_DIR [--at MHZ] [--depth N] [--top N] [--json]

prints per seed the endpoints, those later than the period of ``--at`` (default 150 MHz) by
kind, then the components with most late endpoints, each with its latest signal. With
``--nets N`` it prints instead, per seed, the ladder (:func:`arrival_ladder`: how many endpoints,
on how many nets, arrive later than the periods of 150 down to 80 MHz) and the ``N`` nets with
most late endpoints (:func:`late_nets`): a late enable or reset fanning out from one decision
shows up as one net with many sinks, late arithmetic as many nets with one or two each.
"""

import argparse
import json
import sys
from collections import Counter
from dataclasses import asdict, dataclass

from .flow import seed_files, signal_of

__all__ = ["KINDS", "LADDER_MHZ", "Endpoint", "ComponentArrivals", "SeedArrivals", "NetArrivals",
           "LadderRung", "input_kind", "endpoints", "component_of", "seed_arrivals",
           "build_arrivals", "late_nets", "arrival_ladder", "SeedNets", "build_nets", "main"]

#: Input kinds, in report order (:func:`input_kind`).
KINDS = ("data", "enable", "set/reset", "lutram", "block")

#: The clock the default period comes from (issue 14's target), MHz.
DEFAULT_MHZ = 150.0

#: The clocks of :func:`arrival_ladder`'s rungs, MHz.
LADDER_MHZ = (150.0, 125.0, 110.0, 100.0, 90.0, 80.0)


def input_kind(port: str) -> str:
    """The kind of endpoint an ECP5 cell input is: ``data`` (a flip-flop's ``DI`` or ``M``),
    ``enable`` (``CE``), ``set/reset`` (``LSR``), ``lutram`` (a distributed RAM's ``WAD*``,
    ``WD*``, ``WRE``) or ``block`` (any other: DSP and block RAM pins)."""
    if port in ("DI", "M"):
        return "data"
    if port == "CE":
        return "enable"
    if port == "LSR":
        return "set/reset"
    if port.startswith(("WAD", "WD")) or port == "WRE":
        return "lutram"
    return "block"


@dataclass(frozen=True)
class Endpoint:
    """One timing endpoint: cell, input port, latest arrival (ns from the launching edge)."""
    cell: str
    port: str
    arrival_ns: float


@dataclass(frozen=True)
class ComponentArrivals:
    """The late endpoints of one component.

    Members
    -------
    component : str
    late : int
        Endpoints arriving later than the period.
    endpoints : int
        All of the component's endpoints.
    by_kind : dict
        Late endpoints per :data:`KINDS` entry (kinds with none left out).
    latest : str
        The signal (:func:`~scanfuse.hw.fpga.flow.signal_of`) of its latest endpoint.
    latest_ns : float
    """
    component: str
    late: int
    endpoints: int
    by_kind: dict
    latest: str
    latest_ns: float


@dataclass(frozen=True)
class SeedArrivals:
    """One seed's figures: ``period_ns`` (of ``mhz``); ``endpoints`` (all); ``late`` and
    ``late_by_kind`` (later than the period); ``components`` with a late endpoint, most
    first."""
    seed: int
    mhz: float
    period_ns: float
    endpoints: int
    late: int
    late_by_kind: dict
    components: list


@dataclass(frozen=True)
class NetArrivals:
    """One net's sinks against a clock: ``late`` of its ``sinks`` arrive later than the period,
    ``by_kind`` (:data:`KINDS`, kinds with none left out) says what they are; ``earliest_ns``
    and ``latest_ns`` are its sinks' earliest and latest arrivals (a spread of several ns on
    one net is routing to sinks far apart; a late ``earliest_ns``, logic before the driver).
    ``source`` is the first HDL source line nextpnr names for it (empty if none)."""
    net: str
    driver: str
    sinks: int
    late: int
    by_kind: dict
    earliest_ns: float
    latest_ns: float
    source: str


@dataclass(frozen=True)
class LadderRung:
    """Endpoints later than the period of ``mhz`` (each at its latest arrival) and the nets
    those latest arrivals come through."""
    mhz: float
    period_ns: float
    endpoints: int
    nets: int


def _period(mhz: float) -> float:
    if not mhz > 0:
        raise ValueError(f"the clock must be above 0, not {mhz!r} MHz")
    return 1e3 / mhz


def _net_timings(report: dict) -> list:
    if "detailed_net_timings" not in report:
        raise ValueError("the report has no detailed_net_timings "
                         "(nextpnr ran without --detailed-timing-report)")
    return report["detailed_net_timings"]


def late_nets(report: dict, mhz: float) -> list[NetArrivals]:
    """The nets of a report with at least one sink later than the period of ``mhz``, most
    late sinks first (then by name)."""
    period = _period(mhz)
    out = []
    for net in _net_timings(report):
        sinks = net.get("endpoints", [])
        late = [e for e in sinks if float(e["delay"][-1]) > period]
        if not late:
            continue
        kinds = Counter(input_kind(e["port"]) for e in late)
        arrivals = [float(e["delay"][-1]) for e in sinks]
        out.append(NetArrivals(net=net["net"], driver=net.get("driver", ""), sinks=len(sinks),
                               late=len(late), by_kind={k: kinds[k] for k in KINDS if kinds[k]},
                               earliest_ns=round(min(arrivals), 3),
                               latest_ns=round(max(arrivals), 3),
                               source=(net.get("sources") or [""])[0]))
    out.sort(key=lambda n: (-n.late, n.net))
    return out


def arrival_ladder(report: dict, mhz=LADDER_MHZ) -> list[LadderRung]:
    """For each clock of ``mhz``: the endpoints later than its period and the nets their
    latest arrivals come through. How far a build is from each clock, in the number of
    places to change."""
    latest: dict[tuple, tuple] = {}
    for net in _net_timings(report):
        for e in net.get("endpoints", []):
            key, t = (e["cell"], e["port"]), float(e["delay"][-1])
            if key not in latest or t > latest[key][0]:
                latest[key] = (t, net["net"])
    rungs = []
    for f in mhz:
        period = _period(f)
        late = [net for t, net in latest.values() if t > period]
        rungs.append(LadderRung(mhz=f, period_ns=round(period, 3), endpoints=len(late),
                                nets=len(set(late))))
    return rungs


def endpoints(report: dict) -> list[Endpoint]:
    """Every endpoint of a nextpnr report with ``detailed_net_timings``, at its latest arrival
    (``ValueError`` when the report has none: nextpnr ran without
    ``--detailed-timing-report``)."""
    latest: dict[tuple, float] = {}
    for net in _net_timings(report):
        for e in net.get("endpoints", []):
            key = (e["cell"], e["port"])
            latest[key] = max(latest.get(key, float("-inf")), float(e["delay"][-1]))
    return [Endpoint(cell, port, t) for (cell, port), t in sorted(latest.items())]


def component_of(cell: str, depth: int) -> str:
    """The first ``depth`` dot-separated parts of a cell's name, without the suffix Yosys
    derives names with (:func:`~scanfuse.hw.fpga.flow.signal_of`)."""
    if depth < 1:
        raise ValueError(f"depth must be at least 1, not {depth}")
    return signal_of(".".join(cell.split(".")[:depth]))


def seed_arrivals(seed: int, report: dict, mhz: float, depth: int) -> SeedArrivals:
    """The figures of one seed's report against a clock of ``mhz``."""
    period = _period(mhz)
    eps = endpoints(report)
    sizes = Counter(component_of(e.cell, depth) for e in eps)
    late: dict[str, list[Endpoint]] = {}
    for e in eps:
        if e.arrival_ns > period:
            late.setdefault(component_of(e.cell, depth), []).append(e)
    comps = []
    for name, members in late.items():
        worst = max(members, key=lambda e: (e.arrival_ns, e.cell))
        kinds = Counter(input_kind(e.port) for e in members)
        comps.append(ComponentArrivals(name, len(members), sizes[name],
                                       {k: kinds[k] for k in KINDS if kinds[k]},
                                       signal_of(worst.cell), round(worst.arrival_ns, 3)))
    comps.sort(key=lambda c: (-c.late, c.component))
    return SeedArrivals(seed=seed, mhz=mhz, period_ns=round(period, 3), endpoints=len(eps),
                        late=sum(c.late for c in comps),
                        late_by_kind={k: sum(c.by_kind.get(k, 0) for c in comps)
                                      for k in KINDS},
                        components=comps)


def build_arrivals(build_dir, mhz: float, depth: int) -> list[SeedArrivals]:
    """Every seed of a build directory whose report holds the detailed timing."""
    result = [seed_arrivals(seed, json.loads(path.read_text()), mhz, depth)
              for seed, path in seed_files(build_dir, ".report.json")]
    if not result:
        raise ValueError("no seed's nextpnr report in the directory")
    return result


@dataclass(frozen=True)
class SeedNets:
    """One seed's :func:`arrival_ladder` and its ``top`` :func:`late_nets` against ``mhz``
    (``late_nets`` counts all of them)."""
    seed: int
    mhz: float
    ladder: list
    late_nets: int
    nets: list


def build_nets(build_dir, mhz: float, top: int) -> list[SeedNets]:
    """:class:`SeedNets` of every seed of a build directory whose report holds the detailed
    timing."""
    result = []
    for seed, path in seed_files(build_dir, ".report.json"):
        report = json.loads(path.read_text())
        nets = late_nets(report, mhz)
        result.append(SeedNets(seed=seed, mhz=mhz, ladder=arrival_ladder(report),
                               late_nets=len(nets), nets=nets[:top]))
    if not result:
        raise ValueError("no seed's nextpnr report in the directory")
    return result


def _print_nets(d, seeds: list[SeedNets]) -> None:
    for s in seeds:
        print(f"## {d}, seed {s.seed}: endpoints later than each clock's period, and the "
              f"nets they arrive through\n")
        print("| MHz | ns | endpoints | nets |\n|---|---|---|---|")
        for r in s.ladder:
            print(f"| {r.mhz:g} | {r.period_ns:.2f} | {r.endpoints} | {r.nets} |")
        print(f"\n{s.late_nets} nets with a sink later than {1e3 / s.mhz:.2f} ns "
              f"({s.mhz:g} MHz); those with most:\n")
        print("| net | late | sinks | kinds | ns (earliest - latest sink) | source |")
        print("|---|---|---|---|---|---|")
        for n in s.nets:
            kinds = ", ".join(f"{k} {c}" for k, c in n.by_kind.items())
            src = n.source.rsplit("/", 1)[-1]
            print(f"| `{n.net}` | {n.late} | {n.sinks} | {kinds} | "
                  f"{n.earliest_ns:.2f} - {n.latest_ns:.2f} | {src} |")
        print()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m scanfuse.hw.fpga.arrival",
        description="Timing endpoints later than a clock's period, by component and input "
                    "kind, from nextpnr's detailed timing report in FPGA build directories.")
    ap.add_argument("dirs", nargs="+", help="build directories (report.json, NAME.report.json)")
    ap.add_argument("--at", type=float, default=DEFAULT_MHZ, metavar="MHZ",
                    help=f"the clock, MHz (> 0, default {DEFAULT_MHZ:g})")
    ap.add_argument("--depth", type=int, default=3,
                    help="name parts that make a component (>= 1, default 3)")
    ap.add_argument("--top", type=int, default=15,
                    help="components listed per seed (>= 1, default 15)")
    ap.add_argument("--nets", type=int, default=0, metavar="N",
                    help="print per seed the ladder of late endpoints and nets (150 down to "
                         "80 MHz) and the N nets with most sinks later than --at, instead of "
                         "the components (>= 1; default: components)")
    ap.add_argument("--json", action="store_true", help="print JSON")
    args = ap.parse_args(argv)
    if not args.at > 0:
        print(f"arrival: error: --at must be a clock in MHz above 0, not {args.at:g}",
              file=sys.stderr)
        return 2
    if args.nets < 0:
        print(f"arrival: error: --nets must be at least 1, not {args.nets}", file=sys.stderr)
        return 2
    for flag, value in (("--depth", args.depth), ("--top", args.top)):
        if value < 1:
            print(f"arrival: error: {flag} must be at least 1, not {value}", file=sys.stderr)
            return 2
    rows = {}
    for d in args.dirs:
        try:
            rows[d] = (build_nets(d, args.at, args.nets) if args.nets
                       else build_arrivals(d, args.at, args.depth))
        except (OSError, ValueError, KeyError, StopIteration) as err:
            print(f"arrival: error: {d}: {err}", file=sys.stderr)
            return 2
    if args.json:
        print(json.dumps({d: [asdict(s) for s in ss] for d, ss in rows.items()}, indent=1))
        return 0
    if args.nets:
        for d, ss in rows.items():
            _print_nets(d, ss)
        return 0
    for d, ss in rows.items():
        for s in ss:
            kinds = ", ".join(f"{k} {n}" for k, n in s.late_by_kind.items())
            print(f"## {d}, seed {s.seed}: {s.late} of {s.endpoints} endpoints later than "
                  f"{s.period_ns:.2f} ns ({s.mhz:g} MHz): {kinds}\n")
            print("| component | late | of | " + " | ".join(KINDS) + " | latest signal | ns |")
            print("|---|---|---|" + "---|" * len(KINDS) + "---|---|")
            for c in s.components[:args.top]:
                cells = " | ".join(str(c.by_kind.get(k, 0)) for k in KINDS)
                print(f"| {c.component} | {c.late} | {c.endpoints} | {cells} | "
                      f"`{c.latest}` | {c.latest_ns:.2f} |")
            print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
