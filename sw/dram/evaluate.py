"""From one GEMM plan to a DRAM trace, runtime and energy (the pieces ``scanfuse trace`` joins).

plan -> step list (:mod:`scanfuse.schedule`) -> 64-B bursts in address order
(:mod:`scanfuse.dram.bursts`) -> issue cycles from the compute-aware timing model
(:mod:`scanfuse.dram.timing`, engine clock) -> DRAM clock -> row-buffer, timing and energy
model (:mod:`scanfuse.dram.model`).
"""

from dataclasses import dataclass

import numpy as np

from ..plan.buffer import BufferModel, ElementWidths
from ..plan.gemm import Gemm
from ..plan.tiling import Tiling
from ..schedule import build_schedule
from .bursts import BurstTrace, gemm_bursts
from .model import DramResult, simulate
from .presets import get_preset
from .timing import Timing, issue_cycles


@dataclass(frozen=True)
class EngineClock:
    """The engine the trace is timed for: MACs per cycle, DRAM-port bytes per cycle, clock.

    Defaults match the 8x8 engine with a 64-bit AXI port at 100 MHz.
    """

    macs_per_cycle: int = 64
    bytes_per_cycle: float = 8.0
    freq_mhz: float = 100.0


@dataclass(frozen=True)
class GemmDramReport:
    """``trace`` in step order; ``addr``, ``is_write``, ``issue`` (DRAM cycles): the same bursts
    in issue order, as the DRAM model saw them and as trace files list them."""

    trace: BurstTrace
    timing: Timing
    addr: np.ndarray
    is_write: np.ndarray
    issue: np.ndarray
    dram: DramResult


def gemm_dram_report(gemm: Gemm, tiling: Tiling, model: BufferModel,
                     widths: ElementWidths = ElementWidths(), preset: str = "ddr3",
                     scheme: str = "scheme2", clock: EngineClock = EngineClock()) -> GemmDramReport:
    schedule = build_schedule(gemm, tiling, model, widths)
    trace = gemm_bursts(schedule)
    timing = issue_cycles(trace, schedule, clock.macs_per_cycle, clock.bytes_per_cycle,
                          clock.freq_mhz, double_buffer=model.double_buffer)
    part = get_preset(preset)
    issue = timing.dram_issue(part.tCK_ns)
    order = np.argsort(issue, kind="stable")     # the DRAM sees bursts in issue order
    addr, is_write, issue = trace.addr[order], trace.is_write[order], issue[order]
    return GemmDramReport(trace, timing, addr, is_write, issue,
                          simulate(addr, is_write, issue, part, scheme))
