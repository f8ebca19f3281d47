"""Engine performance bench (``make bench``): cycles per tile against the ideal and array
utilisation, measured on the RTL in the Amaranth simulator.

Each case is one GEMM run as a single tile on the plain (single-buffered) 8x8 engine, whose
memories hold the whole GEMM, so the figures are per tile. ``ideal = ceil(MACs / (rows * cols))`` cycles;
utilisation while computing is ``MACs / (rows * cols * compute_cycles)`` (the COMPUTE_CYCLES
counter: from a step's first k step to its last accumulated row); the whole-tile figure also
pays for loading B (and A, which streams in while the first blocks compute) and storing C,
which the single-buffered engine does not overlap with compute; the double-buffered case
overlaps them all but the first loads and the last store.
"""

from dataclasses import dataclass

import numpy as np

from ..program.image import gemm_image
from ..program.descriptors import RequantFields
from ..hw.params import AccelConfig
from ..plan.buffer import BufferModel
from ..plan.fixed import fixed_plan
from ..plan.gemm import Gemm
from ..plan.tiling import Tiling, VisitOrder
from .engine_sim import run_engine
from .golden import pw_conv_ref, requant_ref

__all__ = ["TileFigures", "CASES", "TILE_CFG", "OVERLAP_CASE", "measure_tile",
           "measure_overlap"]

#: (M, K, N) run as one tile on :data:`TILE_CFG`: a dense tile and a fragmented one.
CASES = ((64, 256, 64), (61, 200, 59))
#: The plain engine with the default memories: a whole 64 x 256 x 64 GEMM is one tile (the
#: double-buffered default holds half of it per buffer).
TILE_CFG = AccelConfig(double_buffer=False)
#: A multi-step GEMM on the double-buffered default engine, tiles 64 x 64 x 128, loop order
#: mnk (C resident over k), int8 output: A and B loads overlap compute.
OVERLAP_CASE = ((64, 256, 256), Tiling(64, 64, 128, "mnk", VisitOrder.SCAN))


@dataclass(frozen=True)
class TileFigures:
    gemm: Gemm
    macs: int
    ideal_cycles: int
    compute_cycles: int
    total_cycles: int
    bit_exact: bool

    @property
    def compute_utilisation(self) -> float:
        return self.ideal_exact / self.compute_cycles

    @property
    def tile_utilisation(self) -> float:
        return self.ideal_exact / self.total_cycles

    @property
    def ideal_exact(self) -> float:
        return self.ideal_cycles


def measure_tile(M: int, K: int, N: int, cfg: AccelConfig = TILE_CFG) -> TileFigures:
    """One GEMM as one tile, raw int32 output."""
    return _measure(Gemm(M, K, N), Tiling(M, N, K, "mnk", VisitOrder.SCAN), cfg, "raw")


def measure_overlap() -> TileFigures:
    """:data:`OVERLAP_CASE` on the default (double-buffered) engine, int8 output."""
    (M, K, N), tiling = OVERLAP_CASE
    return _measure(Gemm(M, K, N), tiling, AccelConfig(double_buffer=True), "int8")


def _measure(gemm: Gemm, tiling: Tiling, cfg: AccelConfig, out: str) -> TileFigures:
    M, K, N = gemm.M, gemm.K, gemm.N
    plan = fixed_plan(gemm, tiling, BufferModel.for_engine(cfg))
    rng = np.random.default_rng(0)
    a = rng.integers(-128, 128, (M, K), dtype=np.int8)
    b = rng.integers(-128, 128, (K, N), dtype=np.int8)
    rq = RequantFields(multiplier=1 << 30, shift=38) if out == "int8" else None
    image = gemm_image(plan, a, b, out, rq, cfg)
    run = run_engine(image.mem, image.prog_addr, image.prog_len, cfg)
    want = pw_conv_ref(a, b)
    if rq is not None:
        want = requant_ref(want, rq.multiplier, rq.shift)
    exact = bool(np.array_equal(image.layers[0].read_c(run.mem), want))
    macs = gemm.macs
    array = cfg.rows * cfg.cols
    exact = exact and run.counters["read_bytes"] == image.predicted[0] \
        and run.counters["write_bytes"] == image.predicted[1]
    return TileFigures(gemm, macs, -(-macs // array), run.counters["compute_cycles"],
                       run.counters["cycles"], exact and run.counters["macs"] == macs)
