"""Compute-aware timing of a burst trace: when each burst is issued and how long it all takes.

Model (``docs/traces.md`` has the prose):

* A *tile* is a maximal run of ``compute`` steps with no ``load``/``store`` between them
  (``evict``/``free`` do not split a run). For a GEMM schedule each ``compute`` step is a tile;
  for a fused chain one chunk of one strip (expand, depthwise, project) is a tile.
* Compute: each compute step takes ``ceil(MACs / macs_per_cycle)`` engine cycles
  (``macs_per_cycle = rows*cols`` of the PE array); a tile's compute time is the sum.
* Transfers: a step moving ``b`` bytes takes ``b / bytes_per_cycle`` engine cycles (the DRAM
  interface's bandwidth per engine cycle; default 8 = the engine's 64-bit AXI bus).
  ``bytes`` are the bytes moved (whole bursts) unless ``moved=False``.
* Double buffering (default): the loads that feed tile ``i+1`` (the ``load`` steps between
  tile ``i`` and tile ``i+1``) and the stores of tile ``i-1`` (the ``store`` steps between tile
  ``i-1`` and tile ``i``) run while tile ``i`` computes, so window ``i`` lasts
  ``max(compute_i, transfer_i)``. The first tile's loads form a prologue, the stores after the
  last tile an epilogue:
  ``runtime = loads_0 + sum_i max(compute_i, loads_{i+1} + stores_i) + stores_T``, where
  ``loads_i`` are the loads just before tile ``i`` and ``stores_i`` the stores just after
  tile ``i-1`` (for a GEMM: the C tile of tile ``i-1``; ``stores_T`` the final store). This
  assumes a second C accumulator bank so a finished C tile drains while the next computes.
  Single buffering (``double_buffer=False``): everything is serial,
  ``runtime = sum transfers + sum compute``.
* Each burst's issue cycle: the bursts of a window are issued back to back in trace order at
  the transfer rate from the window's start, i.e. spread evenly over the window's transfer
  time (``burst_bytes / bytes_per_cycle`` cycles apart when ``moved``).
* Engine cycles convert to time at ``freq_mhz`` (default 100 MHz) and to DRAM clock cycles
  with the DRAM's ``tck_ns`` (default 1.5 ns, DDR3-1333).
"""

from dataclasses import dataclass

import numpy as np

from ..schedule.steps import Compute, ComputeRows, Load, Store


@dataclass
class Timing:
    """Issue cycle of every burst (engine cycles, int64) and the run's totals."""

    issue: np.ndarray
    runtime_cycles: float
    compute_cycles: int
    transfer_cycles: float
    tiles: int
    freq_mhz: float = 100.0

    @property
    def runtime_s(self) -> float:
        return self.runtime_cycles / (self.freq_mhz * 1e6)

    def dram_issue(self, tck_ns: float = 1.5) -> np.ndarray:
        """Issue times in DRAM clock cycles (int64)."""
        return to_dram_cycles(self.issue, self.freq_mhz, tck_ns)

    def dram_runtime(self, tck_ns: float = 1.5) -> int:
        return int(np.ceil(self.runtime_cycles * 1e3 / self.freq_mhz / tck_ns))

    @property
    def utilisation(self) -> float:
        """Fraction of the runtime the PE array is busy."""
        return self.compute_cycles / self.runtime_cycles if self.runtime_cycles else 0.0


def to_dram_cycles(engine_cycles, freq_mhz: float = 100.0, tck_ns: float = 1.5):
    """Engine cycles at ``freq_mhz`` as DRAM clock cycles of period ``tck_ns`` (floor)."""
    return np.floor(np.asarray(engine_cycles, dtype=np.float64) * (1e3 / freq_mhz) / tck_ns
                    + 1e-9).astype(np.int64)


def fused_macs(group):
    """A function giving the MACs of a fused :class:`~scanfuse.schedule.steps.ComputeRows` step of
    a fused group (:class:`~scanfuse.plan.group.FusedGroup`: a chain or a pipeline).

    ``channels`` are the chunked hidden channels: a first 1x1 (or dense kxk) conv produces
    them from its ``cin`` (x kxk) inputs, a depthwise layer filters them, a last 1x1 (or a projection shortcut)
    consumes them into its ``cout`` outputs.
    """
    layers = {layer.name: layer for layer in group.layers}
    last = {seg.layers[-1].name for seg in group.segments} | {p.layer.name for p in group.projections}

    def macs(step) -> int:
        layer = layers[step.layer]
        rows = step.rows[1] - step.rows[0]
        ch = step.cols[1] - step.cols[0]
        if layer.is_pointwise:
            return rows * layer.w_out * ch * (layer.cout if layer.name in last else layer.cin)
        if layer.kind.value == "pool":
            return 0
        per_output = layer.kernel[0] * layer.kernel[1]
        if layer.kind.value == "conv":          # a dense first conv: every input channel
            per_output *= layer.cin // layer.groups
        return rows * layer.w_out * ch * per_output
    return macs


def layer_macs(layer):
    """A function giving the MACs of a :class:`~scanfuse.schedule.steps.ComputeRows` step of an unfused depthwise or
    dense-conv layer (:func:`scanfuse.schedule.layer_steps.layer_steps`): output rows x output
    width x output channels x ``cin/groups * kh * kw``. Pooling does no MACs (0)."""
    from ..network.layers import LayerKind
    per_output = 0 if layer.kind is LayerKind.POOL else \
        (layer.cin // layer.groups) * layer.kernel[0] * layer.kernel[1]

    def macs(step) -> int:
        rows = step.rows[1] - step.rows[0]
        ch = step.cols[1] - step.cols[0]
        return rows * layer.w_out * ch * per_output
    return macs


def issue_cycles(trace, steps, macs_per_cycle: int = 64, bytes_per_cycle: float = 8.0,
                 freq_mhz: float = 100.0, double_buffer: bool = True, moved: bool = True,
                 macs=None) -> Timing:
    """Issue cycles and runtime of ``trace`` (a :class:`~scanfuse.dram.bursts.BurstTrace` of
    ``steps``). ``steps``: a GEMM ``Schedule``'s ``steps`` (or the schedule) or row steps
    (fused, layers); for those pass ``macs=fused_macs(group)``. See the module docstring."""
    steps = getattr(steps, "steps", steps)
    n = len(steps)
    if trace.n_steps != n:
        raise ValueError(f"trace has {trace.n_steps} steps, step list {n}")
    if macs_per_cycle < 1 or bytes_per_cycle <= 0:
        raise ValueError("macs_per_cycle and bytes_per_cycle must be positive")
    per_step = (trace.step_bursts() * trace.burst_bytes if moved else trace.step_requested)
    xfer = per_step.astype(np.float64) / bytes_per_cycle     # cycles per step

    # window of each transfer step, tile index and compute per tile
    window = np.zeros(n, dtype=np.int64)      # 0 = prologue, i+1 = during tile i, T+1 = epilogue
    tile_compute: list[int] = []
    in_tile = False
    names = {Compute: "compute", ComputeRows: "compute", Load: "load", Store: "store"}
    for i, s in enumerate(steps):
        kind = names.get(type(s), "other")
        if kind == "compute":
            if type(s) is Compute:
                m = (s.m[1] - s.m[0]) * (s.n[1] - s.n[0]) * (s.k[1] - s.k[0])
            elif macs is None:
                raise ValueError("row compute steps need macs=fused_macs(group) or layer_macs(layer)")
            else:
                m = int(macs(s))
            c = -(-m // macs_per_cycle)
            if in_tile:
                tile_compute[-1] += c
            else:
                tile_compute.append(c)
                in_tile = True
        elif kind in ("load", "store"):
            in_tile = False
            t = len(tile_compute)           # tiles finished so far
            if not double_buffer:
                window[i] = t               # serial: its own slot before tile t
            elif kind == "load":
                window[i] = t               # prefetched during tile t-1 (prologue if t == 0)
            else:
                window[i] = t + 1           # drains during tile t (epilogue if none)
    T = len(tile_compute)
    comp = np.array(tile_compute + [0], dtype=np.float64)   # compute of window w is comp[w-1]
    wxfer = np.bincount(window, weights=xfer, minlength=T + 2)
    wcomp = np.concatenate([[0.0], comp[:T], [0.0]])
    if double_buffer:
        wlen = np.maximum(wxfer, wcomp)
    else:
        # serial: slot w = transfers before tile w, then tile w's compute
        wlen = wxfer + np.concatenate([comp[:T], [0.0, 0.0]])
    xfer_start = np.concatenate([[0.0], np.cumsum(wlen)[:-1]])   # transfers open each window
    runtime = float(wlen.sum())

    # bursts: back to back from their window's start, at burst_bytes / bytes_per_cycle each
    bw = window[trace.step]
    order_in_window = _rank_in_window(trace, window)
    if moved:
        dt = trace.burst_bytes / bytes_per_cycle
        t = xfer_start[bw] + order_in_window * dt
    else:
        # spread evenly over the window's transfer time
        nb = np.bincount(bw, minlength=T + 2)
        dt = np.where(nb > 0, wxfer / np.maximum(nb, 1), 0.0)
        t = xfer_start[bw] + order_in_window * dt[bw]
    issue = np.floor(t + 1e-9).astype(np.int64)
    return Timing(issue, runtime, int(comp.sum()), float(xfer.sum()), T, freq_mhz)


def _rank_in_window(trace, window: np.ndarray) -> np.ndarray:
    """Each burst's position among its window's bursts, in trace order.

    The trace's bursts are grouped by step (steps ascending) and a step lies in one window,
    so the rank is the bursts of earlier steps of the same window plus the position within
    the step: computed per step, not per burst.
    """
    nb = trace.step_bursts()
    order = np.argsort(window, kind="stable")             # steps grouped by window
    cum = np.cumsum(nb[order]) - nb[order]
    wstart = np.searchsorted(window[order], window[order], side="left")
    before = np.empty_like(nb)
    before[order] = cum - cum[wstart]                     # bursts of earlier steps, same window
    step_first = np.cumsum(nb) - nb                       # trace index of each step's first burst
    st = trace.step
    return before[st] + (np.arange(len(st)) - step_first[st])
