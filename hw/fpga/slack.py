"""Slack over all timing endpoints of a place-and-route run, from nextpnr's log.

One worst path per seed says little when the seed spread of a netlist is wider than a change's
effect (docs/fpga.md, section 5). nextpnr prints, after placement and again after routing, a
histogram of the setup slack of every timing endpoint (20 bins, in ps); this module reads the
last one (the routed design) of each seed's log (``NAME.tim``, ``NAME.seedS.tim``, as
:mod:`scanfuse.hw.fpga.flow` writes them) and reduces it to figures that compare netlists over
*all* paths: endpoints failing the target clock, and an estimate of the total negative slack.

nextpnr draws each bin as ``count // L`` stars plus a ``+`` when ``count % L`` is not 0 (``L``
the legend's "* represents L endpoint(s)"), so a bin's count is known only to within ``L - 1``:
every count here is a ``(low, high)`` range. Failing endpoints are those of the bins wholly below
0 ps; the bin that straddles 0 is counted separately (``straddle``).

Usage::

    python -m scanfuse.hw.fpga.slack BUILD_DIR [BUILD_DIR ...]

prints a Markdown table, one row per seed; ``--json`` prints the figures as JSON. ``--at MHZ``
adds the endpoints that would fail at another clock: the routed design's slack shifted by the
difference of the two periods (the same placement and routing, so an estimate of how far a
netlist is from that clock, not a build at it).
"""

import argparse
import json
import re
import sys
from dataclasses import asdict, dataclass

from .flow import seed_files

__all__ = ["SlackBin", "SeedSlack", "parse_histogram", "parse_fmax", "parse_target",
           "seed_slack", "failing_at", "build_slack", "main"]

_LEGEND = re.compile(r"\*\s+represents\s+(\d+)\s+endpoint")
_BIN = re.compile(r"\[\s*(-?\d+),\s*(-?\d+)\)\s*\|(\**)(\+?)")
_FMAX = re.compile(r"Max frequency for clock\s+'([^']+)':\s*([\d.]+)\s*MHz")
_TARGET = re.compile(r"Max frequency for clock[^\n]*\((?:FAIL|PASS) at ([\d.]+) MHz\)")


@dataclass(frozen=True)
class SlackBin:
    """One histogram bin: slack in ``[lo_ps, hi_ps)``, ``low..high`` endpoints."""
    lo_ps: int
    hi_ps: int
    low: int
    high: int


@dataclass(frozen=True)
class SeedSlack:
    """The routed design's slack figures of one seed.

    Members
    -------
    seed : int
    fmax_mhz : float or None
        The slowest clock's Fmax in the log's last "Max frequency" lines.
    target_mhz : float or None
        The clock the slack is measured against (the last "FAIL/PASS at" figure).
    worst_ps : int
        Lower edge of the lowest bin (the worst slack, to within a bin).
    failing : (int, int)
        Endpoints in bins wholly below 0 ps.
    straddle : (int, int)
        Endpoints in the bin that contains 0 ps (failing or not).
    total : (int, int)
        All endpoints.
    near : (int, int)
        Endpoints in bins wholly within 2 ns of the worst slack (the paths a fix of the worst
        one would meet next).
    tns_ns : float
        Total negative slack estimate: each failing bin's midpoint times its count (the
        midpoint of the count range), in ns; negative.
    bins : list of SlackBin
    """
    seed: int
    fmax_mhz: "float | None"
    target_mhz: "float | None"
    worst_ps: int
    failing: tuple
    straddle: tuple
    total: tuple
    near: tuple
    tns_ns: float
    bins: list


def parse_histogram(text: str) -> list[SlackBin]:
    """The last slack histogram in a nextpnr log (``ValueError`` when there is none)."""
    blocks = text.split("Slack histogram:")
    if len(blocks) < 2:
        raise ValueError("no slack histogram in the log")
    block = blocks[-1]
    legend = _LEGEND.search(block)
    if not legend:
        raise ValueError("slack histogram without a legend")
    L = int(legend.group(1))
    bins = []
    for line in block.splitlines()[1:]:
        hit = _BIN.search(line)
        if hit is None:
            if bins:
                break
            continue
        stars, plus = len(hit.group(3)), hit.group(4) == "+"
        low = stars * L + (1 if plus else 0)
        high = stars * L + (L - 1 if plus else 0)
        bins.append(SlackBin(int(hit.group(1)), int(hit.group(2)), low, high))
    if not bins:
        raise ValueError("empty slack histogram")
    return bins


def parse_fmax(text: str) -> "float | None":
    """The slowest clock's Fmax of the log's last timing summary (MHz)."""
    last = {}
    for name, mhz in _FMAX.findall(text):
        last[name] = float(mhz)
    return min(last.values()) if last else None


def parse_target(text: str) -> "float | None":
    """The target clock of the log's last timing summary (MHz)."""
    found = _TARGET.findall(text)
    return float(found[-1]) if found else None


def failing_at(s: SeedSlack, mhz: float) -> tuple:
    """Endpoints of ``s`` whose slack would be negative at ``mhz`` (a ``(low, high)`` range):
    each endpoint's slack moves by ``1/mhz - 1/target``; a bin counts wholly in ``low`` when it
    ends at or below the shifted zero, in ``high`` when it starts below it."""
    if s.target_mhz is None:
        raise ValueError("the log names no target clock")
    if not mhz > 0:
        raise ValueError(f"the clock must be positive, not {mhz!r} MHz")
    shift_ps = 1e6 / s.target_mhz - 1e6 / mhz
    return (sum(b.low for b in s.bins if b.hi_ps <= shift_ps),
            sum(b.high for b in s.bins if b.lo_ps < shift_ps))


def seed_slack(seed: int, log_text: str) -> SeedSlack:
    """The figures of one seed's nextpnr log."""
    bins = parse_histogram(log_text)
    below = [b for b in bins if b.hi_ps <= 0]
    across = [b for b in bins if b.lo_ps < 0 < b.hi_ps]
    tns = sum((b.lo_ps + b.hi_ps) / 2 * (b.low + b.high) / 2 for b in below) / 1000

    def span(bs):
        return (sum(b.low for b in bs), sum(b.high for b in bs))

    return SeedSlack(seed=seed, fmax_mhz=parse_fmax(log_text),
                     target_mhz=parse_target(log_text), worst_ps=bins[0].lo_ps,
                     failing=span(below), straddle=span(across), total=span(bins),
                     near=span([b for b in bins if b.hi_ps <= bins[0].lo_ps + 2000]),
                     tns_ns=round(tns, 1), bins=bins)


def build_slack(build_dir) -> list[SeedSlack]:
    """Every seed of a build directory (its ``report.json`` names the seeds and the logs)."""
    return [seed_slack(seed, log.read_text(errors="replace"))
            for seed, log in seed_files(build_dir, ".tim")]


def _fmt(r: tuple) -> str:
    return f"{r[0]}" if r[0] == r[1] else f"{r[0]}-{r[1]}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m scanfuse.hw.fpga.slack",
                                 description="Slack histogram figures of FPGA build directories.")
    ap.add_argument("dirs", nargs="+", help="build directories (with report.json and NAME.tim)")
    ap.add_argument("--json", action="store_true", help="print JSON")
    ap.add_argument("--at", type=float, metavar="MHZ",
                    help="also count the endpoints that would fail at this clock (MHz, > 0)")
    args = ap.parse_args(argv)
    if args.at is not None and not args.at > 0:
        print(f"slack: error: --at must be a clock in MHz above 0, not {args.at:g}",
              file=sys.stderr)
        return 2
    rows = {}
    for d in args.dirs:
        try:
            rows[d] = build_slack(d)
        except (OSError, ValueError, StopIteration) as err:
            print(f"slack: error: {d}: {err}", file=sys.stderr)
            return 2
    at = {}
    if args.at is not None:
        try:
            at = {(d, s.seed): failing_at(s, args.at) for d, ss in rows.items() for s in ss}
        except ValueError as err:
            print(f"slack: error: {err}", file=sys.stderr)
            return 2
    if args.json:
        doc = {}
        for d, ss in rows.items():
            doc[d] = [asdict(s) for s in ss]
            if at:
                for entry, s in zip(doc[d], ss):
                    entry[f"failing_at_{args.at:g}_mhz"] = at[d, s.seed]
        print(json.dumps(doc, indent=1))
        return 0
    extra = f" failing at {args.at:g} MHz |" if at else ""
    print("| build | seed | Fmax MHz | worst slack ns | failing endpoints | bin across 0 "
          f"| within 2 ns of worst | endpoints | TNS estimate ns |{extra}")
    print("|---|---|---|---|---|---|---|---|---|" + ("---|" if at else ""))
    for d, ss in rows.items():
        for s in ss:
            cell = f" {_fmt(at[d, s.seed])} |" if at else ""
            print(f"| {d} | {s.seed} | {s.fmax_mhz} | {s.worst_ps / 1000:.2f} | "
                  f"{_fmt(s.failing)} | {_fmt(s.straddle)} | {_fmt(s.near)} | {_fmt(s.total)} | "
                  f"{s.tns_ns} |{cell}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
