"""Tables, ``report.md``, ``results.json`` and plots for ``scanfuse evaluate``.

Every number comes from an :class:`~scanfuse.evaluate.Evaluation`; nothing here computes
DRAM figures of its own beyond sums and ratios of them.
"""

import json
from contextlib import contextmanager
from pathlib import Path

from rich.table import Table

from ..files import atomic_dir
from ..evaluate import Evaluation, NetworkEvaluation
from ..units import format_entries

#: The thesis's headline DRAM-energy savings at 64K entries (H.-N. Wu, NTHU 2019).
THESIS_SAVINGS = {"mobilenetv2": 0.67, "resnet50-cp": 0.20}


@contextmanager
def progress_reporter(total: int):
    """A rich progress bar on stderr (only when stderr is a terminal, so logs and ``--json``
    output stay clean); yields the callback :func:`scanfuse.evaluate.evaluate` takes."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    console = Console(stderr=True)
    if not console.is_terminal:
        yield None
        return
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, transient=True) as bar:
        task = bar.add_task("evaluating", total=total)
        yield lambda label: bar.update(task, advance=1, description=label)


def traffic_savings(ne: NetworkEvaluation) -> dict[str, float]:
    """Fraction of the baseline's bytes moved each variant saves."""
    base = ne.variants["baseline"].traffic_bytes
    return {v: 1.0 - r.traffic_bytes / base for v, r in ne.variants.items()}


def _pct(x: float) -> str:
    return f"{-100 * x + 0.0:+.1f}%"


def dram_line(config) -> str:
    """The DRAM part, mapping and controller policy, for titles."""
    return (f"DRAM {config.dram} ({config.preset.name}, {config.scheme}), policy "
            f"{config.policy.describe()}")


def settings_line(ev: Evaluation) -> str:
    c = ev.config
    return (f"buffer {format_entries(ev.entries)} entries; {dram_line(c)}; engine "
            f"{c.clock.describe()}")


def variant_table(ne: NetworkEvaluation, config) -> Table:
    """One network's variants: bytes moved, energy split, runtime, savings."""
    table = Table(title=f"{ne.network} at {format_entries(ne.entries)} entries: DRAM energy by variant "
                        f"({dram_line(config)}; engine {config.clock.describe()})")
    for col in ("variant", "bytes moved", "traffic", "burst mJ", "act/pre mJ", "refresh mJ",
                "background mJ", "total mJ", "runtime ms", "energy", "dynamic energy"):
        table.add_column(col, justify="left" if col == "variant" else "right")
    traffic, dyn, total = traffic_savings(ne), ne.dynamic_savings, ne.savings
    for v, r in ne.variants.items():
        e = r.energy
        table.add_row(v, f"{r.traffic_bytes:,}", _pct(traffic[v]), f"{e.burst_j * 1e3:.3f}",
                      f"{e.act_pre_j * 1e3:.3f}", f"{e.refresh_j * 1e3:.3f}",
                      f"{e.background_j * 1e3:.3f}", f"{e.total_j * 1e3:.3f}",
                      f"{r.runtime_s * 1e3:.2f}", _pct(total[v]), _pct(dyn[v]))
    return table


def savings_table(ev: Evaluation) -> Table:
    """Savings against the baseline per network and variant, next to the thesis."""
    table = Table(title=f"Change against the raster baseline ({settings_line(ev)})")
    for col in ("network", "variant", "traffic", "energy", "dynamic energy", "thesis (energy)"):
        table.add_column(col, justify="left" if col in ("network", "variant") else "right")
    for name, ne in ev.networks.items():
        traffic, dyn = traffic_savings(ne), ne.dynamic_savings
        for v in ne.variants:
            thesis = THESIS_SAVINGS.get(name) if v == "scan+fusion" else None
            table.add_row(name, v, _pct(traffic[v]), _pct(ne.savings[v]), _pct(dyn[v]),
                          _pct(thesis) if thesis is not None else "")
    return table


def policy_table(ev: Evaluation) -> Table | None:
    """Total-energy saving of each variant under every controller policy costed."""
    rows = [(name, ne) for name, ne in ev.networks.items() if ne.savings_by_policy]
    if not rows:
        return None
    policies = list(rows[0][1].savings_by_policy)
    table = Table(title=f"Total DRAM energy saving against the baseline, by controller policy "
                        f"({format_entries(ev.entries)} entries, DRAM {ev.config.dram})")
    for col in ("network", "variant", *policies, "dynamic"):
        table.add_column(col, justify="left" if col in ("network", "variant") else "right")
    for name, ne in rows:
        by = ne.savings_by_policy
        for v in ne.variants:
            table.add_row(name, v, *(_pct(by[p][v]) for p in policies),
                          _pct(ne.dynamic_savings[v]))
    return table


def external_table(ev: Evaluation, checks: dict) -> Table:
    """The model's energy beside an external simulator's, per network and variant.
    ``checks``: ``{network: {variant: ExternalResult}}``."""
    first = next(r for per in checks.values() for r in per.values())
    table = Table(title=f"{first.simulator} on the same streams ({dram_line(ev.config)}"
                        + ("" if first.matches_policy else "; the simulator cannot express this "
                           "policy: closest setting") + ")")
    for col in ("network", "variant", "part", "model mJ", f"{first.simulator} mJ", "difference"):
        table.add_column(col, justify="left" if col in ("network", "variant", "part") else "right")
    for name, per in checks.items():
        for v, ext in per.items():
            mine = ev.networks[name].variants[v].energy
            for part, attr in _PARTS:
                a, b = getattr(mine, attr), getattr(ext.energy, attr)
                table.add_row(name if part == "burst" else "", v if part == "burst" else "",
                              part, f"{a * 1e3:.3f}", f"{b * 1e3:.3f}",
                              f"{(a - b) / b * 100:+.1f}%" if b else "")
    return table


_PARTS = (("burst", "burst_j"), ("act/pre", "act_pre_j"), ("refresh", "refresh_j"),
          ("background", "background_j"), ("total", "total_j"))


def sweep_table(ev: Evaluation) -> Table | None:
    """Total DRAM energy (mJ) and saving per variant over the buffer sweep."""
    if not ev.sweep:
        return None
    sizes = sorted(ev.sweep)
    table = Table(title="Buffer sweep: total DRAM energy in mJ (saving against the baseline at the same size)")
    table.add_column("network")
    table.add_column("variant")
    for s in sizes:
        table.add_column(format_entries(s), justify="right")
    for name in ev.networks:
        for v in ev.networks[name].variants:
            cells = []
            for s in sizes:
                ne = ev.sweep[s][name]
                cells.append(f"{ne.variants[v].energy.total_j * 1e3:.1f} ({_pct(ne.savings[v])})")
            table.add_row(name, v, *cells)
    return table


def tables(ev: Evaluation) -> list[Table]:
    out = [variant_table(ne, ev.config) for ne in ev.networks.values()]
    out.append(savings_table(ev))
    policies = policy_table(ev)
    if policies is not None:
        out.append(policies)
    sweep = sweep_table(ev)
    if sweep is not None:
        out.append(sweep)
    return out


# --- files ------------------------------------------------------------------------------

def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines + [""]


def report_markdown(ev: Evaluation, plots: list[str], command: str | None = None) -> str:
    """The text of ``report.md``."""
    c = ev.config
    lines = ["# ScanFuse DRAM evaluation", ""]
    if command:
        lines += [f"Command: `{command}`", ""]
    lines += [f"Settings: {settings_line(ev)}; bursts of {c.burst_bytes} bytes; "
              f"{'transfers overlap compute (double buffering)' if c.overlap else 'transfers and compute serial'}.",
              "Energy is DRAMSim2's accounting (burst, activate/precharge, refresh, background) "
              f"over the whole run, with the controller policy `{c.policy.name}` "
              f"({c.policy.describe()}); *dynamic* is burst + act/pre. Savings are against "
              "`baseline` (every layer unfused at its best raster tiling).", ""]
    for name, ne in ev.networks.items():
        lines += [f"## {name}", ""]
        traffic, dyn = traffic_savings(ne), ne.dynamic_savings
        rows = []
        for v, r in ne.variants.items():
            e = r.energy
            rows.append([v, f"{r.traffic_bytes:,}", _pct(traffic[v]), f"{e.burst_j * 1e3:.3f}",
                         f"{e.act_pre_j * 1e3:.3f}", f"{e.refresh_j * 1e3:.3f}",
                         f"{e.background_j * 1e3:.3f}", f"{e.total_j * 1e3:.3f}",
                         f"{r.runtime_s * 1e3:.2f}", f"{r.compute_cycles:,}",
                         f"{r.dram.row_hit_rate:.3f}", _pct(ne.savings[v]), _pct(dyn[v])])
        lines += _md_table(["variant", "bytes moved", "traffic", "burst mJ", "act/pre mJ",
                            "refresh mJ", "background mJ", "total mJ", "runtime ms",
                            "compute cycles", "row hits", "energy", "dynamic"], rows)
        thesis = THESIS_SAVINGS.get(name)
        if thesis is not None:
            lines += [f"Thesis (DRAM energy, 64K): {_pct(thesis)}; here `scan+fusion`: "
                      f"{_pct(ne.savings['scan+fusion'])} total, {_pct(dyn['scan+fusion'])} dynamic, "
                      f"{_pct(traffic['scan+fusion'])} traffic.", ""]
    policy_rows = []
    for name, ne in ev.networks.items():
        by = ne.savings_by_policy
        for v in ne.variants if by else ():
            policy_rows.append([name, v, *(_pct(by[p][v]) for p in by), _pct(ne.dynamic_savings[v])])
    if policy_rows:
        names = list(next(iter(ev.networks.values())).savings_by_policy)
        lines += ["## Savings by controller policy", "", "Total DRAM energy saving against the "
                  "baseline when the same streams run under each policy (docs/dram.md).", ""]
        lines += _md_table(["network", "variant", *names, "dynamic"], policy_rows)
    if ev.sweep:
        sizes = sorted(ev.sweep)
        lines += ["## Buffer sweep", "", "Total DRAM energy in mJ (saving against the baseline "
                  "at the same buffer size).", ""]
        rows = []
        for name in ev.networks:
            for v in ev.networks[name].variants:
                rows.append([name, v] + [f"{ev.sweep[s][name].variants[v].energy.total_j * 1e3:.1f} "
                                         f"({_pct(ev.sweep[s][name].savings[v])})" for s in sizes])
        lines += _md_table(["network", "variant"] + [format_entries(s) for s in sizes], rows)
    for name, ne in ev.networks.items():
        lines += [f"## Per layer: {name}, `scan` (unfused)", "",
                  "Payload elements against the layer's I/O lower bound (elements), and bytes "
                  "requested and moved.", ""]
        rows = [[u.name, u.kind, u.schedule, f"{u.elements:,}", f"{u.lower_bound:,}",
                 f"{u.ratio:.3f}", f"{u.bytes_requested:,}", f"{u.bytes_moved:,}"]
                for u in ne.variants["scan"].units] if "scan" in ne.variants else []
        lines += _md_table(["layer", "kind", "schedule", "elements", "LB", "ratio",
                            "bytes requested", "bytes moved"], rows)
    if plots:
        lines += ["## Plots", ""] + [f"![{p}]({p})" for p in plots] + [""]
    return "\n".join(lines)


def plot_energy_by_variant(ev: Evaluation, path: Path) -> None:
    """Stacked bars of the energy split per variant, one panel per network."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    names = list(ev.networks)
    fig, axes = plt.subplots(1, len(names), figsize=(6 * len(names), 4.5), squeeze=False)
    parts = (("burst", "burst_j"), ("act/pre", "act_pre_j"), ("refresh", "refresh_j"),
             ("background", "background_j"))
    for ax, name in zip(axes[0], names):
        ne = ev.networks[name]
        labels = list(ne.variants)
        bottom = [0.0] * len(labels)
        for label, attr in parts:
            values = [getattr(ne.variants[v].energy, attr) * 1e3 for v in labels]
            ax.bar(labels, values, bottom=bottom, label=label)
            bottom = [b + x for b, x in zip(bottom, values)]
        ax.set_title(f"{name}, {format_entries(ne.entries)} entries, DRAM policy {ev.config.policy.name}")
        ax.set_ylabel("DRAM energy (mJ)")
        ax.tick_params(axis="x", rotation=30)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=len(parts))
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_energy_vs_buffer(ev: Evaluation, path: Path) -> None:
    """Total DRAM energy against buffer size per variant, one panel per network."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    sizes = sorted(ev.sweep)
    names = list(ev.networks)
    fig, axes = plt.subplots(1, len(names), figsize=(6 * len(names), 4.5), squeeze=False)
    for ax, name in zip(axes[0], names):
        for v in ev.networks[name].variants:
            ax.plot(sizes, [ev.sweep[s][name].variants[v].energy.total_j * 1e3 for s in sizes],
                    marker="o", label=v)
        ax.set_xscale("log", base=2)
        ax.set_xticks(sizes, [format_entries(s) for s in sizes])
        ax.set_xlabel("buffer (entries)")
        ax.set_ylabel("DRAM energy (mJ)")
        ax.set_title(name)
    axes[0][0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_layer_traffic(ne: NetworkEvaluation, path: Path, variant: str = "scan") -> None:
    """Per-layer bytes moved and payload elements against the lower bound (elements)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    units = ne.variants[variant].units
    x = range(len(units))
    fig, ax = plt.subplots(figsize=(max(8, 0.16 * len(units)), 4.5))
    ax.bar(x, [u.bytes_moved for u in units], label="bytes moved", color="tab:blue")
    ax.plot(x, [u.elements for u in units], "k.", label="payload (elements)")
    ax.plot(x, [u.lower_bound for u in units], "r_", markersize=9, label="lower bound (elements)")
    ax.set_yscale("log")
    ax.set_xlabel(f"layer ({variant}, execution order)")
    ax.set_title(f"{ne.network}, {format_entries(ne.entries)} entries: per-layer traffic against the I/O lower bound")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(ev: Evaluation, out: str | Path, command: str | None = None) -> list[Path]:
    """Write ``report.md``, ``results.json`` and the PNGs as folder ``out``, whole or not at
    all (:func:`scanfuse.files.atomic_dir`: built in a temporary sibling, then renamed; an
    existing ``out`` is replaced only then); return the paths."""
    final = Path(out)
    with atomic_dir(final) as out:
        names = _write_report_files(ev, out, command)
    return [final / name for name in names]


def _write_report_files(ev: Evaluation, out: Path, command: "str | None") -> list[str]:
    plots = [out / "energy_by_variant.png"]
    plot_energy_by_variant(ev, plots[0])
    if ev.sweep:
        plots.append(out / "energy_vs_buffer.png")
        plot_energy_vs_buffer(ev, plots[-1])
    for name, ne in ev.networks.items():
        if "scan" in ne.variants:
            plots.append(out / f"layer_traffic_{_slug(name)}.png")
            plot_layer_traffic(ne, plots[-1])
    results = out / "results.json"
    results.write_text(json.dumps(ev.results_json(), indent=2) + "\n")
    report = out / "report.md"
    report.write_text(report_markdown(ev, [p.name for p in plots], command))
    return [p.name for p in (report, results, *plots)]


def _slug(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)
