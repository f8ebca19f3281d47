"""Execution units of a network variant and their burst traces.

A *unit* is what the engine runs as one schedule: an unfused layer (a GEMM for pointwise and
FC layers, a line-buffered schedule for depthwise, pooling and dense convs), a fused chain
(thesis-style group) or a fused pipeline (extended fusion). Each unit's step list becomes a
64-byte burst trace (:mod:`scanfuse.dram.bursts`) in its own DRAM regions and is timed on the
engine (:mod:`scanfuse.dram.timing`).

DRAM placement: every unit gets fresh regions for its tensors, one after the other in one
address space (4 KiB-aligned), laid out as :mod:`scanfuse.dram.layout` describes. A consumer
therefore reads its input from a different address than its producer wrote it to. The data
is the same, and since each region is contiguous and burst-aligned the bursts, row hits and
energy are those of a shared placement, apart from the first access of each unit.
"""

from dataclasses import dataclass, replace

import numpy as np

from ..dram.bursts import BurstTrace, fused_bursts, gemm_bursts, layer_bursts
from ..dram.evaluate import EngineClock
from ..dram.layout import FusedLayout, GemmLayout, LayerLayout, align_up
from ..dram.timing import Timing, fused_macs, issue_cycles, layer_macs
from ..plan.fusion import ExtendedGroup, GroupDecision
from ..schedule.fused import fused_steps
from ..plan.buffer import ElementWidths
from ..plan.layer_models import LayerTraffic, layer_gemm
from ..schedule.layer_steps import layer_steps
from ..schedule import build_schedule

#: Alignment of each unit's first region (bytes).
UNIT_ALIGN = 4096


@dataclass(frozen=True)
class UnitSummary:
    """One unit's figures, without its trace.

    ``bytes_requested``: payload bytes of its loads and stores; ``bytes_moved``: whole
    64-byte bursts; ``elements``: payload elements (reads + writes); ``lower_bound``: its I/O
    lower bound in elements (the layer's, or the fused group's); ``engine_cycles``: its
    runtime on the engine; ``macs``: its multiply-accumulates.
    """

    name: str
    kind: str
    layers: tuple[str, ...]
    schedule: str
    bytes_requested: int
    bytes_moved: int
    elements: int
    lower_bound: int
    engine_cycles: float
    macs: int
    compute_cycles: int = 0
    """Engine cycles the PE array computes (recomputed halo rows and per-step rounding in)."""

    @property
    def ratio(self) -> float:
        """Payload elements over the lower bound."""
        return self.elements / self.lower_bound

    def to_json(self) -> dict:
        return {"name": self.name, "kind": self.kind, "layers": list(self.layers),
                "schedule": self.schedule, "bytes_requested": self.bytes_requested,
                "bytes_moved": self.bytes_moved, "elements": self.elements,
                "lower_bound": self.lower_bound, "ratio": round(self.ratio, 6),
                "engine_cycles": self.engine_cycles, "compute_cycles": self.compute_cycles,
                "macs": self.macs}


@dataclass
class UnitTrace:
    """A unit's bursts (``trace``, addresses already placed) and their timing."""

    summary: UnitSummary
    trace: BurstTrace
    timing: Timing
    end: int
    """First byte after the unit's regions."""

    def moved_to(self, base: int, name: str, layers: tuple[str, ...]) -> "UnitTrace":
        """The same unit placed at ``base`` (a multiple of :data:`UNIT_ALIGN`; the trace was
        built at 0), under another name."""
        trace = replace(self.trace, addr=self.trace.addr + np.uint64(base))
        return UnitTrace(replace(self.summary, name=name, layers=layers), trace, self.timing,
                         self.end + base)


class UnitCache:
    """Unit traces built at address 0, by everything they depend on (layer geometry and
    schedule, not names), so repeated blocks and the layers variants share are traced once."""

    def __init__(self):
        self._units: dict = {}

    def get(self, key, build, base: int, name: str, layers: tuple[str, ...]) -> UnitTrace:
        if key not in self._units:
            self._units[key] = build()
        return self._units[key].moved_to(align_up(base, UNIT_ALIGN), name, layers)

    def __len__(self) -> int:
        return len(self._units)


def layer_key(layer) -> tuple:
    """A layer's geometry without its name."""
    return (layer.kind, layer.cin, layer.cout, layer.kernel, layer.stride, layer.padding,
            layer.groups, layer.h_in, layer.w_in, layer.h_out, layer.w_out)


def network_units(layers, fused_units) -> list:
    """Units in execution order: each fused unit (a :class:`GroupDecision` or
    :class:`ExtendedGroup`) runs where its last layer would; ``layers`` (the network's
    :class:`LayerTraffic` in order) fill the rest. The last layer, not the first: a group
    across a block join (conv3 of one block to the next block's first layers) consumes the
    block output, so the block's downsample, listed after its conv3, must run before it."""
    covered = {l.name: unit for unit in fused_units for l in unit.group.layers}
    last = {id(unit): max(i for i, t in enumerate(layers) if covered.get(t.layer.name) is unit)
            for unit in {id(u): u for u in covered.values()}.values()}
    units = []
    for i, t in enumerate(layers):
        unit = covered.get(t.layer.name)
        if unit is None:
            units.append(t)
        elif last[id(unit)] == i:
            units.append(unit)
    return units


def _fused(unit) -> bool:
    return isinstance(unit, (GroupDecision, ExtendedGroup))


def unit_key(unit, widths: ElementWidths, clock: EngineClock, overlap: bool, burst_bytes: int) -> tuple:
    """Cache key of a :class:`LayerTraffic`, :class:`GroupDecision` or :class:`ExtendedGroup`."""
    common = (widths, clock, overlap, burst_bytes)
    if _fused(unit):
        g = unit.group
        return (g.kind, tuple(tuple(map(layer_key, s.layers)) for s in g.segments), tuple(g.residuals),
                tuple((pr.src, pr.dst, layer_key(pr.layer)) for pr in g.projections),
                tuple(g.taps), unit.plan.schedule) + common
    plan = unit.gemm_plan
    sched = (plan.tiling, plan.model) if plan is not None else unit.layer_schedule
    return ("layer", layer_key(unit.layer), sched) + common


def build_unit(unit, base: int, widths: ElementWidths, clock: EngineClock, overlap: bool = True,
               burst_bytes: int = 64, cache: UnitCache | None = None) -> UnitTrace:
    """The trace of any unit at ``base``, through ``cache`` when given."""
    if _fused(unit):
        make, name, layers = fused_unit, unit.group.name, tuple(l.name for l in unit.group.layers)
    else:
        make, name, layers = layer_unit, unit.layer.name, (unit.layer.name,)
    if cache is None:
        return make(unit, base, widths, clock, overlap, burst_bytes)
    return cache.get(unit_key(unit, widths, clock, overlap, burst_bytes),
                     lambda: make(unit, 0, widths, clock, overlap, burst_bytes), base, name, layers)


def _timed(summary_args: dict, trace: BurstTrace, steps, clock: EngineClock, overlap: bool,
           end: int, macs=None) -> UnitTrace:
    timing = issue_cycles(trace, steps, clock.macs_per_cycle, clock.bytes_per_cycle,
                          clock.freq_mhz, double_buffer=overlap, macs=macs)
    summary = UnitSummary(bytes_requested=trace.bytes_requested, bytes_moved=trace.bytes_moved,
                          engine_cycles=timing.runtime_cycles, compute_cycles=timing.compute_cycles,
                          **summary_args)
    return UnitTrace(summary, trace, timing, end)


def layer_unit(t: LayerTraffic, base: int, widths: ElementWidths, clock: EngineClock,
               overlap: bool = True, burst_bytes: int = 64) -> UnitTrace:
    """An unfused layer at DRAM address ``base``."""
    layer = t.layer
    args = dict(name=layer.name, kind=layer.kind.value, layers=(layer.name,), schedule=t.schedule,
                elements=t.total, lower_bound=t.lower_bound, macs=layer.macs)
    base = align_up(base, UNIT_ALIGN)
    if t.gemm_plan is not None:
        plan = t.gemm_plan
        gemm = layer_gemm(layer)
        schedule = build_schedule(gemm, plan.tiling, plan.model, plan.widths)
        layout = GemmLayout.dense(gemm, plan.widths, base)
        trace = gemm_bursts(schedule, layout, burst_bytes)
        return _timed(args, trace, schedule, clock, overlap, layout.end)
    steps = layer_steps(t)
    layout = LayerLayout.dense(layer, widths, base)
    trace = layer_bursts(layer, steps, layout, widths, burst_bytes)
    return _timed(args, trace, steps, clock, overlap, layout.end, layer_macs(layer))


def fused_unit(unit: GroupDecision | ExtendedGroup, base: int, widths: ElementWidths,
               clock: EngineClock, overlap: bool = True, burst_bytes: int = 64) -> UnitTrace:
    """A fused group (a thesis-style chain or an extended pipeline) with its plan at DRAM
    address ``base``: its step list, layout, bursts and timing."""
    group, plan = unit.group, unit.plan
    steps = list(fused_steps(group, plan.schedule))
    layout = FusedLayout.dense(group, widths, align_up(base, UNIT_ALIGN))
    trace = fused_bursts(group, steps, layout, widths, burst_bytes)
    args = dict(name=group.name, kind=group.kind, layers=tuple(l.name for l in group.layers),
                schedule=plan.schedule.describe(), elements=plan.elements,
                lower_bound=group.lower_bound(), macs=sum(l.macs for l in group.layers))
    return _timed(args, trace, steps, clock, overlap, layout.end, fused_macs(group))
