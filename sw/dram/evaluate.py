"""From one GEMM plan to a DRAM trace, runtime and energy (the pieces ``scanfuse trace`` joins).

plan -> step list (:mod:`scanfuse.schedule`) -> 64-B bursts in address order
(:mod:`scanfuse.dram.bursts`) -> issue cycles from the compute-aware timing model
(:mod:`scanfuse.dram.timing`, engine clock) -> DRAM clock -> row-buffer, timing and energy
model (:mod:`scanfuse.dram.model`). :func:`stream_dram_result` does the last step for any
stream (a whole network's), charging background and refresh over the engine's runtime when
the engine computes after the DRAM's last burst.
"""

from dataclasses import dataclass

import numpy as np

from ..errors import InvalidOptionError
from ..hw.params import AccelConfig
from ..units import check_real
from ..plan.buffer import BufferModel, ElementWidths
from ..plan.gemm import Gemm
from ..plan.tiling import Tiling
from ..schedule import build_schedule
from .bursts import BurstTrace, gemm_bursts
from .model import DramResult, simulate
from .policy import DEFAULT_POLICY, DramPolicy
from .presets import get_preset
from .timing import Timing, issue_cycles


#: Most MACs per cycle an :class:`EngineClock` models: 2^24 (a 4096x4096 array).
MAX_MACS_PER_CYCLE = 1 << 24


@dataclass(frozen=True)
class EngineClock:
    """The engine the trace is timed for: MACs per cycle, DRAM-port bytes per cycle, clock.

    Defaults match the 8x8 engine with a 64-bit AXI port at 100 MHz
    (``EngineClock.of_engine(AccelConfig())``).
    """

    macs_per_cycle: int = 64
    bytes_per_cycle: float = 8.0
    freq_mhz: float = 100.0

    def __post_init__(self):
        if (isinstance(self.macs_per_cycle, bool) or not isinstance(self.macs_per_cycle, int)
                or not 1 <= self.macs_per_cycle <= MAX_MACS_PER_CYCLE):
            raise InvalidOptionError(f"macs_per_cycle (the --pe array's MACs) must be an integer "
                                     f"from 1 to {MAX_MACS_PER_CYCLE:,}, not {self.macs_per_cycle!r}")
        check_real(self.bytes_per_cycle, "bytes_per_cycle (--port-bytes)")
        check_real(self.freq_mhz, "freq_mhz (--freq-mhz)")

    @classmethod
    def of_array(cls, rows: int, cols: int, freq_mhz: float = 100.0,
                 bytes_per_cycle: float = 8.0) -> "EngineClock":
        """An engine of ``rows x cols`` int8 MACs per cycle at ``freq_mhz``."""
        return cls(rows * cols, bytes_per_cycle, freq_mhz)

    @classmethod
    def of_engine(cls, cfg: AccelConfig, freq_mhz: float = 100.0) -> "EngineClock":
        """The generated engine ``cfg`` (its PE array and AXI data port) clocked at
        ``freq_mhz``: one source for the array and port sizes, :mod:`scanfuse.hw.params`."""
        return cls(cfg.rows * cfg.cols, float(cfg.axi_bytes), freq_mhz)

    def describe(self) -> str:
        return (f"{self.macs_per_cycle} MACs and {self.bytes_per_cycle:g} DRAM bytes per cycle "
                f"at {self.freq_mhz:g} MHz")


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
                     scheme: str = "scheme2", clock: EngineClock = EngineClock(),
                     policy: DramPolicy | str = DEFAULT_POLICY) -> GemmDramReport:
    """Trace, time and cost one planned GEMM; the run lasts the engine's runtime (or the
    DRAM's, when longer)."""
    schedule = build_schedule(gemm, tiling, model, widths)
    trace = gemm_bursts(schedule)
    timing = issue_cycles(trace, schedule, clock.macs_per_cycle, clock.bytes_per_cycle,
                          clock.freq_mhz, double_buffer=model.double_buffer)
    part = get_preset(preset)
    issue = timing.dram_issue(part.tCK_ns)
    order = np.argsort(issue, kind="stable")     # the DRAM sees bursts in issue order
    addr, is_write, issue = trace.addr[order], trace.is_write[order], issue[order]
    return GemmDramReport(trace, timing, addr, is_write, issue,
                          simulate(addr, is_write, issue, part, scheme, policy,
                                   timing.dram_runtime(part.tCK_ns)))


def stream_dram_result(addr: np.ndarray, is_write: np.ndarray, issue: np.ndarray,
                       preset="ddr3", scheme: str = "scheme2",
                       runtime_cycles: int | None = None,
                       policy: DramPolicy | str = DEFAULT_POLICY) -> DramResult:
    """:func:`~scanfuse.dram.model.simulate` of a burst stream in issue order (``issue`` in
    DRAM cycles), with the run lasting at least ``runtime_cycles`` DRAM cycles.

    When the engine keeps computing after its last burst (``runtime_cycles`` beyond the
    DRAM model's runtime), the DRAM stays powered: refresh and background energy (open,
    precharged or powered down, as ``policy`` says) are charged up to ``runtime_cycles`` and
    ``limit`` is ``"engine"``.
    """
    return simulate(addr, is_write, issue, get_preset(preset), scheme, policy, runtime_cycles)
