"""``make bench``: planner figures (wall time, traffic against the lower bound, Scan vs raster).

Run as ``python -m scanfuse.bench [--json]``. Every figure in docs/planner.md under
"Benchmark" comes from this command.
"""

import argparse
import json
import statistics
import time

from rich.console import Console
from rich.table import Table

from .network import get_network
from .plan import BufferModel, plan_network
from .plan.search import plan_gemm

NETWORKS = ("mobilenetv2", "resnet50")
BUFFERS = (16384, 65536, 262144)


def planner_wall_time(name: str, entries: int = 65536, repeats: int = 3) -> float:
    """Best-of-``repeats`` seconds to plan a network from a cold cache."""
    network = get_network(name)
    best = float("inf")
    for _ in range(repeats):
        plan_gemm.cache_clear()
        start = time.perf_counter()
        plan_network(network, BufferModel(entries))
        best = min(best, time.perf_counter() - start)
    return best


def ratio_figures(name: str, entries: int) -> dict:
    plan = plan_network(get_network(name), BufferModel(entries))
    ratios = [item.plan.ratio for item in plan.layers]
    raster = plan_network(get_network(name), BufferModel(entries), order="raster")
    scan = plan_network(get_network(name), BufferModel(entries), order="scan")
    scan_bytes = scan.read_bytes + scan.write_bytes
    raster_bytes = raster.read_bytes + raster.write_bytes
    return {
        "network": name, "buffer_entries": entries, "layers": len(ratios),
        "max_ratio": max(ratios), "mean_ratio": statistics.fmean(ratios),
        "summed_ratio": plan.traffic.total / plan.lower_bound,
        "layers_at_lb": sum(item.plan.traffic.total == item.plan.lower_bound for item in plan.layers),
        "scan_bytes": scan_bytes, "raster_bytes": raster_bytes,
        "scan_saving": 1 - scan_bytes / raster_bytes,
    }


def run() -> dict:
    return {
        "planner_seconds": {name: planner_wall_time(name) for name in NETWORKS},
        "ratios": [ratio_figures(name, entries) for name in NETWORKS for entries in BUFFERS],
    }


def print_report(results: dict, console: Console) -> None:
    table = Table(title="Planner wall time (all pointwise layers, S = 64K, cold cache, best of 3)")
    table.add_column("network")
    table.add_column("seconds", justify="right")
    table.add_column("target", justify="right")
    for name, seconds in results["planner_seconds"].items():
        table.add_row(name, f"{seconds:.3f}", "< 1 s " + ("✓" if seconds < 1 else "✗"))
    console.print(table)
    table = Table(title="Pointwise traffic against the lower bound (elements), and Scan vs raster (bytes)")
    for column in ("network", "S", "layers", "at LB", "max ratio", "mean ratio", "sum/sum LB",
                   "best Scan B", "best raster B", "Scan saves"):
        table.add_column(column, justify="left" if column == "network" else "right")
    for r in results["ratios"]:
        table.add_row(r["network"], f"{r['buffer_entries'] // 1024}K", str(r["layers"]),
                      str(r["layers_at_lb"]), f"{r['max_ratio']:.3f}", f"{r['mean_ratio']:.3f}",
                      f"{r['summed_ratio']:.4f}", f"{r['scan_bytes']:,}", f"{r['raster_bytes']:,}",
                      f"{100 * r['scan_saving']:.2f}%")
    console.print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scanfuse.bench", description=__doc__)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    results = run()
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print_report(results, Console(width=160))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
