"""Engine performance bench (``make bench``): cycles per tile against the ideal and array
utilisation, measured on the RTL in the Amaranth simulator.

Each case is one GEMM run as a single tile (the whole GEMM fits the default 8x8 engine's
memories), so the figures are per tile. ``ideal = ceil(MACs / (rows * cols))`` cycles;
utilisation while computing is ``MACs / (rows * cols * compute_cycles)`` (the COMPUTE_CYCLES
counter: from a step's first k step to its last accumulated row); the whole-tile figure also
pays for loading A and B and storing C, which this engine does not yet overlap with compute.
"""

from dataclasses import dataclass

import numpy as np

from ..driver.image import gemm_image
from ..hw.params import AccelConfig
from ..plan.fixed import fixed_plan
from ..plan.gemm import Gemm
from ..plan.tiling import Tiling, VisitOrder
from .engine_sim import run_engine
from .golden import pw_conv_ref

__all__ = ["TileFigures", "CASES", "measure_tile"]

#: (M, K, N) run as one tile on the default configuration: a dense tile and a fragmented one.
CASES = ((64, 256, 64), (61, 200, 59))


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


def measure_tile(M: int, K: int, N: int, cfg: AccelConfig = AccelConfig()) -> TileFigures:
    gemm = Gemm(M, K, N)
    plan = fixed_plan(gemm, Tiling(M, N, K, "mnk", VisitOrder.SCAN), cfg.buffer_model())
    rng = np.random.default_rng(0)
    a = rng.integers(-128, 128, (M, K), dtype=np.int8)
    b = rng.integers(-128, 128, (K, N), dtype=np.int8)
    image = gemm_image(plan, a, b, "raw", None, cfg)
    run = run_engine(image.mem, image.prog_addr, image.prog_len, cfg)
    exact = bool(np.array_equal(image.layers[0].read_c(run.mem), pw_conv_ref(a, b)))
    macs = gemm.macs
    array = cfg.rows * cfg.cols
    return TileFigures(gemm, macs, -(-macs // array), run.counters["compute_cycles"],
                       run.counters["cycles"], exact and run.counters["macs"] == macs)
