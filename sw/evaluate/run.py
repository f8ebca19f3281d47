"""Whole-network DRAM evaluation: per variant a burst stream, its runtime and its energy.

For each network and buffer size, :func:`evaluate_network` plans the variants
(:mod:`scanfuse.evaluate.variants`), turns every unit's step list into bursts
(:mod:`scanfuse.evaluate.units`), runs the units back to back on the engine (each unit's
bursts at its own issue cycles, offset by the runtime of the units before it), and feeds the
whole stream, in issue order, to the DRAM model (:func:`scanfuse.dram.evaluate.stream_dram_result`).
The run lasts as long as the engine or the DRAM, whichever finishes later; the DRAM's
background and refresh energy are charged over all of it.

:func:`evaluate` does this for several networks at one buffer size and over a buffer sweep,
and :meth:`Evaluation.to_json` gives the document ``scanfuse evaluate --json`` prints.
"""

import os
import signal
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field

import numpy as np

from ..dram.evaluate import EngineClock, stream_dram_result
from ..dram.mapping import DEFAULT_SCHEME, field_layout
from ..dram.model import DramEnergy, DramResult
from ..dram.policy import DEFAULT_POLICY, DramPolicy, parse_policy
from ..dram.presets import DramPreset, get_preset
from ..dram.timing import to_dram_cycles
from ..errors import InvalidOptionError, check_type
from ..network.layers import Network
from ..plan.buffer import BufferModel, ElementWidths
from ..units import format_entries
from .units import UnitCache, UnitSummary, build_unit
from .variants import VARIANTS, NetworkPlans, check_variants, plan_variants, variant_units

#: Buffer sizes (entries) of the sweep: 16K .. 256K.
DEFAULT_SWEEP: tuple[int, ...] = (16384, 32768, 65536, 131072, 262144)


@dataclass(frozen=True)
class EvalConfig:
    """Everything an evaluation assumes besides the networks and the buffer size.

    Parameters
    ----------
    dram : str
        DRAM preset, ``"ddr3"`` (DRAMSim2's default part) or ``"ddr4"``.
    scheme : str
        Address mapping (DRAMSim2 scheme name), default ``"scheme2"``.
    clock : EngineClock
        The engine: MACs per cycle, DRAM bytes per cycle, clock (default 8x8 at 100 MHz with
        a 64-bit port).
    widths : ElementWidths
        Bytes per element in DRAM (int8 activations and weights, int32 partial sums).
    psum_entries : int
        Buffer entries a resident partial sum takes (1, as in the thesis).
    overlap : bool
        Time transfers as overlapping compute (double buffering, as the issue asks); the
        planner's buffer still counts one copy of each tile, as in the thesis.
    policy : DramPolicy
        DRAM controller policy (:mod:`scanfuse.dram.policy`; default ``dramsim2``, DRAMSim2
        as shipped).

    Raises
    ------
    InvalidOptionError
        For an unknown preset or mapping.
    """

    dram: str = "ddr3"
    scheme: str = DEFAULT_SCHEME
    clock: EngineClock = EngineClock()
    widths: ElementWidths = ElementWidths()
    psum_entries: int = 1
    overlap: bool = True
    policy: DramPolicy = DEFAULT_POLICY

    def __post_init__(self):
        field_layout(get_preset(self.dram), self.scheme)   # raises for an unknown name
        object.__setattr__(self, "policy", parse_policy(self.policy))

    @property
    def preset(self) -> DramPreset:
        return get_preset(self.dram)

    @property
    def burst_bytes(self) -> int:
        return self.preset.bytes_per_burst

    def model(self, entries: int) -> BufferModel:
        return BufferModel(entries, self.psum_entries)

    def to_json(self) -> dict:
        c = self.clock
        return {"dram": self.dram, "dram_part": self.preset.name, "scheme": self.scheme,
                "dram_policy": self.policy.name, "dram_policy_text": self.policy.describe(),
                "macs_per_cycle": c.macs_per_cycle, "bytes_per_cycle": c.bytes_per_cycle,
                "freq_mhz": c.freq_mhz, "psum_entries": self.psum_entries,
                "overlap": self.overlap, "burst_bytes": self.burst_bytes,
                "widths": {"a": self.widths.a, "b": self.widths.b, "c": self.widths.c,
                           "psum": self.widths.psum}}


@dataclass
class NetworkStream:
    """A variant's whole-network bursts in issue order: byte ``addr``, ``is_write``,
    ``issue`` in DRAM cycles; ``engine_cycles``: the engine's runtime; ``units``: per unit
    figures in execution order."""

    addr: np.ndarray
    is_write: np.ndarray
    issue: np.ndarray
    engine_cycles: float
    units: tuple[UnitSummary, ...]
    clock: EngineClock
    tck_ns: float

    @property
    def bytes_requested(self) -> int:
        return sum(u.bytes_requested for u in self.units)

    @property
    def bytes_moved(self) -> int:
        return sum(u.bytes_moved for u in self.units)

    @property
    def engine_runtime_s(self) -> float:
        return self.engine_cycles / (self.clock.freq_mhz * 1e6)

    @property
    def dram_runtime_cycles(self) -> int:
        """The engine's runtime in DRAM cycles (rounded up)."""
        return int(np.ceil(self.engine_cycles * 1e3 / self.clock.freq_mhz / self.tck_ns - 1e-9))


def network_stream(plans: NetworkPlans, variant: str, config: EvalConfig,
                   cache: UnitCache | None = None) -> NetworkStream:
    """The burst stream of ``variant``: its units run back to back (see module docstring).
    ``cache`` shares unit traces between calls (variants of the same plans)."""
    addr, write, issue, summaries = [], [], [], []
    base, offset = 0, 0.0
    for unit in variant_units(plans, variant):
        u = build_unit(unit, base, config.widths, config.clock, config.overlap,
                       config.burst_bytes, cache)
        addr.append(u.trace.addr)
        write.append(u.trace.is_write)
        issue.append(u.timing.issue.astype(np.float64) + offset)
        summaries.append(u.summary)
        base, offset = u.end, offset + u.timing.runtime_cycles
    tck = config.preset.tCK_ns
    dram_issue = to_dram_cycles(np.concatenate(issue), config.clock.freq_mhz, tck)
    order = np.argsort(dram_issue, kind="stable")     # the DRAM sees bursts in issue order
    return NetworkStream(np.concatenate(addr)[order], np.concatenate(write)[order],
                         dram_issue[order], offset, tuple(summaries), config.clock, tck)


def variant_trace(network: Network, entries: int, variant: str,
                  config: EvalConfig = EvalConfig()) -> tuple[NetworkStream, DramResult]:
    """One variant's whole-network burst stream (for trace files) and its DRAM result."""
    plans = plan_variants(network, config.model(entries), config.widths, config.burst_bytes, [variant])
    stream = network_stream(plans, variant, config, UnitCache())
    return stream, stream_dram_result(stream.addr, stream.is_write, stream.issue, config.preset,
                                      config.scheme, stream.dram_runtime_cycles, config.policy)


@dataclass(frozen=True)
class VariantResult:
    """One variant of one network at one buffer size.

    ``traffic_bytes``: bytes moved (whole 64-byte bursts); ``bytes_requested``: their
    payload; ``elements``/``lower_bound``: payload elements and the summed I/O lower bounds of
    the units; ``energy``: DRAM energy (J); ``runtime_s``: the run's length (the engine's or
    the DRAM's, whichever is longer); ``dram``: the DRAM model's counts.
    """

    variant: str
    traffic_bytes: int
    bytes_requested: int
    elements: int
    lower_bound: int
    energy: DramEnergy
    runtime_s: float
    engine_runtime_s: float
    dram: DramResult
    units: tuple[UnitSummary, ...]
    by_policy: dict[str, DramEnergy] = field(default_factory=dict)
    """The same stream's energy under other controller policies (name -> energy)."""

    def to_json(self) -> dict:
        """The keys of ``scanfuse evaluate --json``."""
        doc = {"traffic_bytes": self.traffic_bytes, "dram_policy": self.dram.policy,
               "energy_j": energy_json(self.energy), "runtime_s": self.runtime_s,
               "dram_runtime_cycles": self.dram.runtime_cycles}
        if self.by_policy:
            doc["energy_j_by_policy"] = {k: energy_json(e) for k, e in self.by_policy.items()}
        return doc

    @property
    def compute_cycles(self) -> int:
        """Engine cycles the PE array computes, over all units."""
        return sum(u.compute_cycles for u in self.units)

    def details_json(self) -> dict:
        return {"bytes_requested": self.bytes_requested, "elements": self.elements,
                "lower_bound": self.lower_bound, "engine_runtime_s": self.engine_runtime_s,
                "compute_cycles": self.compute_cycles, "units": len(self.units),
                **self.dram.counts_json()}


def energy_json(e: DramEnergy) -> dict:
    """``{"burst", "act_pre", "refresh", "background", "total"}`` in joules."""
    return {"burst": e.burst_j, "act_pre": e.act_pre_j, "refresh": e.refresh_j,
            "background": e.background_j, "total": e.total_j}


#: Policies :func:`evaluate` also costs at the main buffer size, beside ``config.policy``.
COMPARED_POLICIES: tuple[str, ...] = ("dramsim2", "close-on-idle", "open-page", "always-on")


def evaluate_variant(plans: NetworkPlans, variant: str, config: EvalConfig,
                     cache: UnitCache | None = None,
                     policies: Sequence[str] = ()) -> VariantResult:
    """Trace, time and cost one variant of ``plans``; ``policies``: other controller
    policies to cost the same stream under (:attr:`VariantResult.by_policy`)."""
    stream = network_stream(plans, variant, config, cache)
    dram = stream_dram_result(stream.addr, stream.is_write, stream.issue, config.preset,
                              config.scheme, stream.dram_runtime_cycles, config.policy)
    by_policy = {}
    for name in policies:
        pol = parse_policy(name)
        by_policy[pol.name] = dram.energy if pol == config.policy else stream_dram_result(
            stream.addr, stream.is_write, stream.issue, config.preset, config.scheme,
            stream.dram_runtime_cycles, pol).energy
    return VariantResult(variant, stream.bytes_moved, stream.bytes_requested,
                         sum(u.elements for u in stream.units),
                         sum(u.lower_bound for u in stream.units), dram.energy,
                         max(dram.runtime_s, stream.engine_runtime_s), stream.engine_runtime_s,
                         dram, stream.units, by_policy)


@dataclass
class NetworkEvaluation:
    """Every variant of one network at one buffer size (``entries``)."""

    network: str
    entries: int
    variants: dict[str, VariantResult]

    @property
    def savings(self) -> dict[str, float]:
        """Fraction of the baseline's DRAM energy each variant saves."""
        base = self.variants["baseline"].energy.total_j
        return {v: 1.0 - r.energy.total_j / base for v, r in self.variants.items()}

    @property
    def dynamic_savings(self) -> dict[str, float]:
        """Fraction of the baseline's dynamic (burst + act/pre) energy each variant saves."""
        def dynamic(e: DramEnergy) -> float:
            return e.burst_j + e.act_pre_j
        base = dynamic(self.variants["baseline"].energy)
        return {v: 1.0 - dynamic(r.energy) / base for v, r in self.variants.items()}

    @property
    def savings_by_policy(self) -> dict[str, dict[str, float]]:
        """``{policy: {variant: total saving}}`` for the policies every variant was costed
        under (empty when none were)."""
        base = self.variants["baseline"].by_policy
        return {p: {v: 1.0 - r.by_policy[p].total_j / base[p].total_j
                    for v, r in self.variants.items()} for p in base}

    def to_json(self) -> dict:
        doc = {"variants": {v: r.to_json() for v, r in self.variants.items()},
               "savings": self.savings, "dynamic_savings": self.dynamic_savings}
        if self.savings_by_policy:
            doc["savings_by_policy"] = self.savings_by_policy
        return doc


def _label(network: str, entries: int, variant: str) -> str:
    return f"{network} {format_entries(entries)} {variant}"


def evaluate_network(network: Network, entries: int, config: EvalConfig = EvalConfig(),
                     variants: Sequence[str] = VARIANTS,
                     progress: Callable[[str], None] | None = None,
                     policies: Sequence[str] = ()) -> NetworkEvaluation:
    """Plan and evaluate ``variants`` (which must include ``baseline``) of ``network`` with
    a buffer of ``entries`` entries. ``progress`` is called after each variant with a label;
    ``policies`` are costed beside ``config.policy`` (:func:`evaluate_variant`).

    Raises
    ------
    BufferTooSmallError
        If some layer does not fit the buffer.
    InvalidOptionError
        For an unknown variant.
    """
    variants = check_variants(variants)
    if "baseline" not in variants:
        raise InvalidOptionError("savings are relative to the baseline: include 'baseline'")
    plans = plan_variants(network, config.model(entries), config.widths, config.burst_bytes, variants)
    results, cache = {}, UnitCache()
    for v in variants:
        results[v] = evaluate_variant(plans, v, config, cache, policies)
        if progress is not None:
            progress(_label(network.name, entries, v))
    return NetworkEvaluation(network.name, entries, results)


@dataclass
class Evaluation:
    """:func:`evaluate`'s result: every network at ``entries`` and over ``sweep``."""

    config: EvalConfig
    entries: int
    networks: dict[str, NetworkEvaluation]
    sweep: dict[int, dict[str, NetworkEvaluation]] = field(default_factory=dict)

    def to_json(self) -> dict:
        """``{"networks": {NAME: {"variants": {VARIANT: {"traffic_bytes", "energy_j":
        {"burst", "act_pre", "refresh", "background", "total"}, "runtime_s"}}, "savings":
        {VARIANT: fraction}}}, "buffer_sweep": {"buffer_entries": [...], "networks": {NAME:
        {VARIANT: {"traffic_bytes": [...], "energy_j": [...], "runtime_s": [...],
        "savings": [...]}}}}}``; sweep lists follow ``buffer_entries`` and ``energy_j`` there
        is the total."""
        sizes = sorted(self.sweep)
        sweep = {}
        for name in self.networks:
            per = {}
            for v in self.networks[name].variants:
                rows = [self.sweep[s][name] for s in sizes]
                per[v] = {"traffic_bytes": [r.variants[v].traffic_bytes for r in rows],
                          "energy_j": [r.variants[v].energy.total_j for r in rows],
                          "runtime_s": [r.variants[v].runtime_s for r in rows],
                          "savings": [r.savings[v] for r in rows]}
            sweep[name] = per
        return {"networks": {n: e.to_json() for n, e in self.networks.items()},
                "buffer_sweep": {"buffer_entries": sizes, "networks": sweep}}

    def results_json(self) -> dict:
        """:meth:`to_json` plus ``settings``, per-variant ``details`` and the ``per_layer``
        breakdown (every unit of every variant at ``entries``): what ``results.json`` holds."""
        doc = self.to_json()
        doc["settings"] = {"buffer_entries": self.entries, **self.config.to_json()}
        doc["details"] = {n: {v: r.details_json() for v, r in e.variants.items()}
                          for n, e in self.networks.items()}
        doc["per_layer"] = {n: {v: [u.to_json() for u in r.units] for v, r in e.variants.items()}
                            for n, e in self.networks.items()}
        return doc


def _worker_init() -> None:
    """Pool workers leave Ctrl-C to the parent, which stops them (:func:`_stop_pool`); a
    terminal's SIGINT reaches the whole process group, and each worker would print a
    traceback."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)    # not the parent's handler, if it has one


def _stop_pool(pool: ProcessPoolExecutor) -> None:
    """Cancel what has not started, end the workers that have, and do not wait."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(timeout=1)


#: Most worker processes :func:`evaluate` starts (there are never more jobs than networks x
#: buffer sizes, and each holds a network's plans).
MAX_WORKERS = 256


def evaluate(networks: Sequence[Network], entries: int, config: EvalConfig = EvalConfig(),
             sweep: Sequence[int] = DEFAULT_SWEEP, variants: Sequence[str] = VARIANTS,
             progress: Callable[[str], None] | None = None, workers: int | None = 1,
             policies: Sequence[str] = COMPARED_POLICIES) -> Evaluation:
    """Evaluate every network at ``entries`` and at each buffer size of ``sweep`` (the
    ``entries`` run is reused when it is part of the sweep); at ``entries`` each variant is
    also costed under ``policies``.

    ``workers`` > 1 runs the (network, buffer size) jobs in that many processes (None: one
    per CPU); ``progress`` is then called once per variant when a job finishes.
    """
    if isinstance(networks, (str, bytes)) or not networks:
        raise InvalidOptionError("evaluate needs at least one network")
    for network in networks:
        check_type("each network", network, Network)
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)
                                or not 1 <= workers <= MAX_WORKERS):
        raise InvalidOptionError(f"workers must be None or 1..{MAX_WORKERS}, not {workers!r}")
    check_variants(variants)
    sizes = sorted(set(sweep) | {entries})
    jobs = [(n, s) for s in sizes for n in networks]
    workers = min(workers or os.cpu_count() or 1, len(jobs))
    done: dict[tuple[str, int], NetworkEvaluation] = {}
    def compared(size: int) -> tuple[str, ...]:
        return tuple(policies) if size == entries else ()

    if workers <= 1:
        for n, s in jobs:
            done[n.name, s] = evaluate_network(n, s, config, variants, progress, compared(s))
    else:
        pool = ProcessPoolExecutor(max_workers=workers, initializer=_worker_init)
        try:
            # largest networks first, so the last job to start is a short one
            order = sorted(jobs, key=lambda job: -job[0].macs)
            futures = {pool.submit(evaluate_network, n, s, config, variants, None,
                                   compared(s)): (n.name, s) for n, s in order}
            for future in as_completed(futures):
                result = future.result()
                done[futures[future]] = result
                if progress is not None:
                    for v in result.variants:
                        progress(_label(result.network, result.entries, v))
        except BaseException:
            # Ctrl-C, SIGTERM or a failed job: stop now, not when the pool drains.
            _stop_pool(pool)
            raise
        pool.shutdown()
    by_size = {s: {n.name: done[n.name, s] for n in networks} for s in sizes}
    return Evaluation(config, entries, by_size[entries], {s: by_size[s] for s in sorted(set(sweep))})


def cross_check(networks: Sequence[Network], entries: int, config: EvalConfig, binary: str,
                device_ini: str | None = None, system_ini: str | None = None,
                variants: Sequence[str] = VARIANTS,
                progress: Callable[[str], None] | None = None) -> dict[str, dict]:
    """Run every variant's stream (at ``entries``) through the user's DRAMSim2 (for the
    ``ddr3`` preset) or DRAMsim3 (``ddr4``) binary, set up for the same mapping, policy and
    runtime (:func:`scanfuse.dram.external.run_dram_sim`).

    Returns ``{network: {variant: ExternalResult}}``.

    Raises
    ------
    InvalidOptionError
        If the preset has no simulator, or the binary is missing, fails or is not that
        simulator.
    """
    import tempfile
    from pathlib import Path

    from ..dram.external import run_dram_sim, simulator_for
    from ..dram.trace_io import write_dramsim2_trace, write_dramsim3_trace
    fmt = simulator_for(config.dram)
    writer = write_dramsim2_trace if fmt == "dramsim2" else write_dramsim3_trace
    out: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="scanfuse-check-") as work:
        trace = Path(work) / "mase_stream.trc"        # DRAMSim2 needs the mase_ prefix
        for network in networks:
            plans = plan_variants(network, config.model(entries), config.widths,
                                  config.burst_bytes, variants)
            cache, per = UnitCache(), {}
            for v in variants:
                stream = network_stream(plans, v, config, cache)
                dram = stream_dram_result(stream.addr, stream.is_write, stream.issue,
                                          config.preset, config.scheme,
                                          stream.dram_runtime_cycles, config.policy)
                writer(trace, stream.addr, stream.is_write, stream.issue)
                per[v] = run_dram_sim(binary, trace, fmt, dram.runtime_cycles, config.preset,
                                      config.scheme, config.policy, device_ini, system_ini)
                if progress is not None:
                    progress(f"{fmt} {_label(network.name, entries, v)}")
            out[network.name] = per
    return out


def sweep_steps(networks: Sequence[Network], entries: int, sweep: Sequence[int],
                variants: Sequence[str] = VARIANTS) -> int:
    """How many variant evaluations :func:`evaluate` makes (for a progress bar)."""
    return len(networks) * len(set(sweep) | {entries}) * len(tuple(variants))
