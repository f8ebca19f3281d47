"""``scanfuse bench`` (``make bench``): planner figures (wall time, traffic against the lower
bound, Scan vs raster), the engine's cycles per tile on the Amaranth simulator, and the whole
of MobileNetV2's pointwise layers on the default engine under Verilator: cycles against the
roofline and utilisation per layer and in total (skipped, with a note, without Verilator).

Run as ``scanfuse bench [--json]``. Every figure in docs/planner.md under
"Benchmark" comes from this command.
"""

import argparse
import json
import statistics
import time

from rich.console import Console
from rich.table import Table

from ..network import get_network
from ..plan import BufferModel, plan_network
from ..plan.search import plan_gemm

NETWORKS = ("mobilenetv2", "resnet50")
BUFFERS = (16384, 65536, 262144)
FUSED_NETWORKS = ("mobilenetv2", "resnet50-cp")
FUSED_BUFFERS = (16384, 32768, 65536, 131072, 262144)


def _cold_wall_time(plan, repeats: int = 3) -> float:
    """Best-of-``repeats`` seconds of ``plan()`` with the planners' caches cleared each time."""
    from ..plan import chain, pipeline
    best = float("inf")
    for _ in range(repeats):
        plan_gemm.cache_clear()
        chain._SEARCHED.clear()
        pipeline._SEARCHED.clear()
        start = time.perf_counter()
        plan()
        best = min(best, time.perf_counter() - start)
    return best


def planner_wall_time(name: str, entries: int = 65536) -> float:
    """Seconds to plan a network's pointwise layers from a cold cache."""
    network = get_network(name)
    return _cold_wall_time(lambda: plan_network(network, BufferModel(entries)))


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


def fusion_figures(name: str, entries: int) -> dict:
    """Whole-network bytes for {raster, scan} x {unfused, thesis-style fused}."""
    from ..plan.fusion import plan_fused_network
    row = {"network": name, "buffer_entries": entries}
    for order in ("raster", "scan"):
        plan = plan_fused_network(get_network(name), BufferModel(entries), order=order, extended=True)
        unfused, fused, extended = plan.total_unfused, plan.total, plan.total_extended
        row[f"{order}_extended"] = extended["read_bytes"] + extended["write_bytes"]
        row[f"{order}_unfused"] = unfused["read_bytes"] + unfused["write_bytes"]
        row[f"{order}_fused"] = fused["read_bytes"] + fused["write_bytes"]
        row[f"{order}_groups_fused"] = sum(g.fused for g in plan.groups)
        row["groups"] = len(plan.groups)
    row["saving_vs_raster_unfused"] = 1 - row["scan_fused"] / row["raster_unfused"]
    row["extended_saving_vs_raster_unfused"] = 1 - row["scan_extended"] / row["raster_unfused"]
    return row


def fused_planner_wall_time(name: str, entries: int = 65536) -> float:
    """Seconds to plan a network with thesis-style and extended fusion from cold caches."""
    from ..plan.fusion import plan_fused_network
    network = get_network(name)
    return _cold_wall_time(lambda: plan_fused_network(network, BufferModel(entries), extended=True))


def burst_figures(name: str, entries: int) -> dict:
    """Bytes requested and moved (64-B burst traces) by the pointwise and FC layers' raster
    plans, payload-optimal against burst-aware, and how many burst-aware plans fell back to the
    estimate (``moved_bytes`` unset)."""
    from ..dram.bursts import gemm_bursts
    from ..plan.layer_models import layer_gemm
    from ..schedule import build_schedule
    model = BufferModel(entries)
    row = {"network": name, "buffer_entries": entries, "inexact": 0}
    for key, burst in (("payload", None), ("burst_aware", 64)):
        requested = moved = 0
        for layer in get_network(name).layers:
            if layer.kind.value not in ("pointwise", "fc"):
                continue
            plan = plan_gemm(layer_gemm(layer), model, order="raster", burst_bytes=burst)
            trace = gemm_bursts(build_schedule(plan.gemm, plan.tiling, model))
            requested, moved = requested + trace.bytes_requested, moved + trace.bytes_moved
            row["inexact"] += burst is not None and plan.moved_bytes is None
        row[f"{key}_requested"], row[f"{key}_moved"] = requested, moved
    return row


def evaluate_wall_time(names=FUSED_NETWORKS, entries: int = 65536) -> float:
    """Seconds of ``scanfuse evaluate`` for ``names`` at ``entries`` with its default buffer
    sweep (16K..256K), from cold planner caches, once (processes: one per CPU)."""
    from ..evaluate import evaluate
    from ..plan import chain, pipeline
    from ..plan import search
    networks = [get_network(name) for name in names]
    plan_gemm.cache_clear()
    search._burst_candidates.cache_clear()
    chain._SEARCHED.clear()
    pipeline._SEARCHED.clear()
    start = time.perf_counter()
    evaluate(networks, entries, workers=None)
    return time.perf_counter() - start


def engine_tile_figures() -> list[dict]:
    """Cycles per tile against the ideal on the 8x8 engine's RTL (``scanfuse.sim.engine_perf``)."""
    from ..sim.engine_perf import CASES, measure_overlap, measure_tile
    out = []
    runs = [(f"{M}x{K}x{N} one tile, plain engine", measure_tile(M, K, N)) for M, K, N in CASES]
    runs.append(("64x256x256 8 steps, double-buffered", measure_overlap()))
    for label, f in runs:
        out.append({"gemm": label, "macs": f.macs, "ideal_cycles": f.ideal_cycles,
                    "compute_cycles": f.compute_cycles, "tile_cycles": f.total_cycles,
                    "compute_utilisation": f.compute_utilisation,
                    "tile_utilisation": f.tile_utilisation, "bit_exact": f.bit_exact})
    return out


def engine_network_figures() -> "dict | None":
    """MobileNetV2's 34 pointwise layers at full size on the default engine under Verilator
    (:func:`scanfuse.sim.verilator_run.regress_mobilenetv2`, no stalls): per layer and in
    total, cycles against the roofline (``max(MACs / (rows*cols), bytes / axi_bytes)``),
    utilisation (MACs / (rows*cols) / cycles) and the padding ceiling. ``None`` without
    Verilator."""
    import io
    from ..hw.params import AccelConfig
    from ..sim.scoreboard import regression_total
    from ..sim.verilator_run import regress_mobilenetv2, verilator_available, verilator_build
    if not verilator_available():
        return None
    cfg = AccelConfig()
    verilator_build(cfg)
    rows = regress_mobilenetv2(cfg, out=io.StringIO())
    keys = ("M", "K", "N", "macs", "cycles", "roofline_cycles", "utilization",
            "padding_ceiling", "bit_exact", "counters_match")
    total = regression_total(cfg, rows)
    total["roofline_cycles"] = sum(r["roofline_cycles"] for r in rows)
    return {"network": "mobilenetv2", "engine": cfg.name, "double_buffer": cfg.double_buffer,
            "layers": [{"name": r["layer"], **{k: r[k] for k in keys}} for r in rows],
            "total": total}


def run() -> dict:
    return {
        "planner_seconds": {name: planner_wall_time(name) for name in NETWORKS},
        "ratios": [ratio_figures(name, entries) for name in NETWORKS for entries in BUFFERS],
        "fused_planner_seconds": {name: fused_planner_wall_time(name) for name in FUSED_NETWORKS},
        "fusion": [fusion_figures(name, entries) for name in FUSED_NETWORKS for entries in FUSED_BUFFERS],
        "bursts": [burst_figures(name, entries) for name in FUSED_NETWORKS for entries in FUSED_BUFFERS],
        "evaluate_seconds": {"+".join(FUSED_NETWORKS): evaluate_wall_time()},
        "engine_tiles": engine_tile_figures(),
        "engine_network": engine_network_figures(),
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
    table = Table(title="Fused planning wall time (every layer, thesis-style and extended fusion, S = 64K, cold caches, best of 3)")
    table.add_column("network")
    table.add_column("seconds", justify="right")
    table.add_column("target", justify="right")
    for name, seconds in results["fused_planner_seconds"].items():
        table.add_row(name, f"{seconds:.3f}", "< 2 s " + ("✓" if seconds < 2 else "✗"))
    console.print(table)
    table = Table(title="Whole-network DRAM bytes: raster/Scan x unfused/thesis-style fused/extended fused")
    for column in ("network", "S", "raster unfused", "Scan unfused", "raster fused", "Scan fused",
                   "raster ext.", "Scan ext.", "groups fused (Scan)", "Scan fused vs raster unfused",
                   "Scan ext. vs raster unfused"):
        table.add_column(column, justify="left" if column == "network" else "right")
    for r in results["fusion"]:
        table.add_row(r["network"], f"{r['buffer_entries'] // 1024}K", f"{r['raster_unfused']:,}",
                      f"{r['scan_unfused']:,}", f"{r['raster_fused']:,}", f"{r['scan_fused']:,}",
                      f"{r['raster_extended']:,}", f"{r['scan_extended']:,}",
                      f"{r['scan_groups_fused']}/{r['groups']}",
                      f"-{100 * r['saving_vs_raster_unfused']:.1f}%",
                      f"-{100 * r['extended_saving_vs_raster_unfused']:.1f}%")
    console.print(table)
    table = Table(title="Pointwise and FC layers, raster plans: bytes requested / moved in 64-B bursts, "
                        "payload-optimal against burst-aware planning")
    for column in ("network", "S", "payload req.", "payload moved", "x", "burst-aware req.",
                   "burst-aware moved", "x", "inexact plans"):
        table.add_column(column, justify="left" if column == "network" else "right")
    for r in results["bursts"]:
        table.add_row(r["network"], f"{r['buffer_entries'] // 1024}K", f"{r['payload_requested']:,}",
                      f"{r['payload_moved']:,}", f"{r['payload_moved'] / r['payload_requested']:.2f}",
                      f"{r['burst_aware_requested']:,}", f"{r['burst_aware_moved']:,}",
                      f"{r['burst_aware_moved'] / r['burst_aware_requested']:.3f}", str(r["inexact"]))
    console.print(table)
    table = Table(title="scanfuse evaluate wall time (five variants at 64K and the 16K-256K sweep, cold caches, once)")
    table.add_column("networks")
    table.add_column("seconds", justify="right")
    table.add_column("target", justify="right")
    for name, seconds in results["evaluate_seconds"].items():
        table.add_row(name, f"{seconds:.1f}", "< 30 s " + ("✓" if seconds < 30 else "✗"))
    console.print(table)
    table = Table(title="Engine RTL (8x8, Amaranth simulator): cycles against the ideal MACs/64; "
                        "single tiles load, compute and store in turn, double-buffered steps "
                        "prefetch A and B while computing")
    for column in ("M x K x N", "MACs", "ideal", "compute", "utilisation (compute)",
                   "whole run", "utilisation (run)", "bit-exact, bytes = plan"):
        table.add_column(column, justify="left" if column == "M x K x N" else "right")
    for r in results["engine_tiles"]:
        table.add_row(r["gemm"], f"{r['macs']:,}", f"{r['ideal_cycles']:,}",
                      f"{r['compute_cycles']:,}", f"{100 * r['compute_utilisation']:.1f}% "
                      + ("✓" if r["compute_utilisation"] >= 0.9 else "✗ (< 90%)"),
                      f"{r['tile_cycles']:,}", f"{100 * r['tile_utilisation']:.1f}%",
                      "✓" if r["bit_exact"] else "✗")
    console.print(table)
    net = results["engine_network"]
    if net is None:
        console.print("Engine on MobileNetV2: skipped (Verilator is not installed; make venv)")
        return
    table = Table(title=f"Engine on MobileNetV2's pointwise layers ({net['engine']}"
                        f"{', double-buffered' if net['double_buffer'] else ''}, full size, "
                        "Verilator, no stalls): cycles against the roofline "
                        "max(MACs/64, bytes/8)")
    for column in ("layer", "M,K,N", "MACs", "roofline", "cycles", "cycles/roofline",
                   "utilisation", "padding ceiling", "bit-exact, bytes = plan"):
        table.add_column(column, justify="left" if column == "layer" else "right")
    for r in [*net["layers"], {"name": "total", **net["total"]}]:
        shape = f"{r['M']},{r['K']},{r['N']}" if "M" in r else ""
        table.add_row(r["name"], shape, f"{r['macs']:,}", f"{r['roofline_cycles']:,}",
                      f"{r['cycles']:,}", f"{r['cycles'] / r['roofline_cycles']:.3f}",
                      f"{r['utilization']:.3f}", f"{r['padding_ceiling']:.3f}",
                      "✓" if r["bit_exact"] and r["counters_match"] else "✗")
    console.print(table)


def add_parser(sub, parser_class) -> None:
    """Register ``scanfuse bench`` on the top-level subparsers."""
    p = sub.add_parser("bench", help="planner and engine benchmark figures (make bench)",
                       description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", action="store_true", help="print the figures as JSON")


def command(args, console) -> int:
    """``scanfuse bench``: run the benchmark, print tables (or ``--json``)."""
    results = run()
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print_report(results, Console(width=160))
    return 0
