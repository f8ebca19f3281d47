"""Verification cases: DRAM images of planned layers with their numpy golden outputs.

A :class:`Case` is a DRAM image (:mod:`scanfuse.program.image`) with the golden outputs of its
layers (:mod:`scanfuse.sim.golden`). :func:`engine_config` sizes an engine for a buffer of
``S`` entries (``S`` bytes of storage, split like the default engine, 64K -> 16K/16K/8K:
``S/4`` int8 entries for A, ``S/4`` for B and ``S/8`` int32 accumulators for C, each rounded
down to whole memory words, :attr:`AccelConfig.word_entries`).
"""

import random
from dataclasses import dataclass, field, replace

import numpy as np

from ..errors import InvalidOptionError
from ..hw.params import AccelConfig
from ..hw.program import OutMode
from ..hw.requant import Activation
from ..plan import BufferModel, ElementWidths, Gemm, Tiling, VisitOrder, plan_gemm
from ..plan.fixed import fixed_plan
from ..plan.search import GemmPlan
from ..plan.tiling import LOOP_ORDERS
from .golden import pw_conv_ref, requant_ref
from ..program.image import DramImage, chain_image
from ..program.descriptors import RequantFields, parse_out_mode

__all__ = ["engine_config", "Case", "fitting_requant", "expected_output", "gemm_case",
           "chain_case", "layer_case", "random_gemm_case", "random_tiling", "out_widths"]

#: Primes for the random shapes (odd sizes that never divide a tile or the array).
PRIMES = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79,
          83, 89, 97, 101, 103, 107, 109, 113, 127)


def engine_config(buffer: int, rows: int = 8, cols: int = 8, axi_data_bits: int = 64) -> AccelConfig:
    """The engine whose A/B/C memories hold a buffer of ``buffer`` entries (module docstring).

    Raises :class:`InvalidOptionError` if the array cannot be built or a memory gets no word.
    """
    if isinstance(buffer, bool) or not isinstance(buffer, int) or buffer < 1:
        raise InvalidOptionError(f"buffer must be a positive number of entries, not {buffer!r}")
    try:
        probe = AccelConfig(rows=rows, cols=cols, axi_data_bits=axi_data_bits)
    except ValueError as err:
        raise InvalidOptionError(str(err)) from None
    wa, wb, wc = probe.word_entries
    sizes = {"a_entries": buffer // 4 // wa * wa, "b_entries": buffer // 4 // wb * wb,
             "c_entries": buffer // 8 // wc * wc}
    for (name, size), word, share in zip(sizes.items(), (wa, wb, wc), ("S/4", "S/4", "S/8")):
        if size < word:
            raise InvalidOptionError(
                f"buffer {buffer} is too small for a {rows}x{cols} engine: {name} = {share} must "
                f"hold at least one memory word ({word} entries)")
        if size > 1 << 24:
            raise InvalidOptionError(f"buffer {buffer} is too large: {name} would exceed 2**24")
    cfg = replace(probe, **sizes)
    problems = cfg.engine_problems()
    if problems:
        raise InvalidOptionError("; ".join(problems))
    return cfg


@dataclass
class Case:
    """A runnable image and what the engine must produce from it."""

    name: str
    cfg: AccelConfig
    image: DramImage
    a: np.ndarray                       # int8 input of the first layer
    weights: list                       # int8 [K][N] per layer
    wants: list                         # expected C per layer (int32 raw or int8)
    plans: list = field(default_factory=list)

    @property
    def macs(self) -> int:
        return self.image.macs

    @property
    def predicted(self) -> tuple[int, int]:
        return self.image.predicted


def fitting_requant(rng: random.Random, k: int, mode=None) -> RequantFields:
    """Requantisation that maps the int32 sums of random int8 data over ``k`` terms onto
    roughly +-64 (so outputs are neither all zero nor all saturated)."""
    spread = 5500.0 * max(1.0, k) ** 0.5          # std of a sum of k int8*int8 products
    shift = 40
    multiplier = max(1, min((1 << 31) - 1, int(rng.uniform(32, 96) / spread * (1 << shift))))
    mode = rng.choice(list(Activation)) if mode is None else Activation(mode)
    return RequantFields(multiplier=multiplier, shift=shift, zero_point=rng.randint(-10, 10),
                         mode=mode, relu6_max=rng.randint(40, 127))


def expected_output(acc: np.ndarray, mode: OutMode, rq: "RequantFields | None") -> np.ndarray:
    if mode is OutMode.RAW_INT32:
        return acc
    return requant_ref(acc, rq.multiplier, rq.shift, rq.zero_point, rq.mode, rq.relu6_max)


def out_widths(mode: OutMode) -> ElementWidths:
    """DRAM element widths of a layer writing ``mode`` outputs (int8 operands, int32 psums)."""
    return ElementWidths(a=1, b=1, c=mode.elem_bytes, psum=4)


def chain_case(name: str, plans: list, cfg: AccelConfig, *, seed: int = 0,
               out_modes: "list | None" = None, requants: "list | None" = None,
               skew: int = 0) -> Case:
    """A chain: layer ``i + 1`` reads layer ``i``'s requantised int8 output. Default modes:
    INT8 everywhere but a raw int32 last layer; requantisation fitted to each K."""
    nrng = np.random.default_rng(seed)
    rng = random.Random(seed)
    g0 = plans[0].gemm
    a = nrng.integers(-128, 128, (g0.M, g0.K), dtype=np.int8)
    weights = [nrng.integers(-128, 128, (p.gemm.K, p.gemm.N), dtype=np.int8) for p in plans]
    if out_modes is None:
        out_modes = [OutMode.INT8] * (len(plans) - 1) + [OutMode.RAW_INT32]
    out_modes = [parse_out_mode(m) for m in out_modes]
    if requants is None:
        requants = [fitting_requant(rng, p.gemm.K) if m is OutMode.INT8 else None
                    for p, m in zip(plans, out_modes)]
    image = chain_image(plans, a, weights, out_modes, requants, cfg, skew=skew)
    wants, x = [], a
    for w, mode, rq in zip(weights, out_modes, requants):
        x = expected_output(pw_conv_ref(x, w), mode, rq)
        wants.append(x)
    return Case(name, cfg, image, a, weights, wants, list(plans))


def gemm_case(name: str, plan: GemmPlan, cfg: AccelConfig, *, seed: int = 0, out_mode="raw",
              requant: "RequantFields | None" = None, skew: int = 0) -> Case:
    """One GEMM layer with seeded random int8 inputs."""
    mode = parse_out_mode(out_mode)
    rqs = None if mode is OutMode.INT8 and requant is None else [requant]
    return chain_case(name, [plan], cfg, seed=seed, out_modes=[mode], requants=rqs, skew=skew)


def layer_case(name: str, gemm: Gemm, cfg: AccelConfig = AccelConfig(), *, seed: int = 0,
               order: str = "best") -> Case:
    """A network layer as the regression runs it: planned for ``BufferModel.for_engine(cfg)`` with the
    planner's default widths (int8 outputs), requantised int8 output."""
    plan = plan_gemm(gemm, BufferModel.for_engine(cfg), ElementWidths(), order)
    return gemm_case(name, plan, cfg, seed=seed, out_mode=OutMode.INT8)


def _dim(rng: random.Random, small: int, max_dim: int) -> int:
    kind = rng.random()
    if kind < 0.25 and small > 1:
        return rng.randint(1, small - 1)                    # smaller than the array
    if kind < 0.7:
        return rng.choice([p for p in PRIMES if p <= max_dim] or [1])
    return rng.randint(1, max_dim)


def _shrunk(cfg: AccelConfig, fraction: float) -> AccelConfig:
    """``cfg`` with each memory scaled by ``fraction`` (whole words, at least one)."""
    sizes = {}
    for name, word in zip(("a_entries", "b_entries", "c_entries"), cfg.word_entries):
        sizes[name] = max(word, int(getattr(cfg, name) * fraction) // word * word)
    return replace(cfg, **sizes)


def random_tiling(rng: random.Random, gemm: Gemm, model) -> Tiling:
    """Random tile sizes that fit ``model`` (usually fragmenting every edge), random loop
    order and visit order."""
    tm, tn, tk = (rng.randint(1, d) for d in (gemm.M, gemm.N, gemm.K))
    while not model.fits(tm, tn, tk):
        tm, tn, tk = max(1, tm * 3 // 4), max(1, tn * 3 // 4), max(1, tk * 3 // 4)
    return Tiling(tm, tn, tk, rng.choice(LOOP_ORDERS), rng.choice(list(VisitOrder)))


def random_gemm_case(seed: int, cfg: AccelConfig, max_dim: int = 80) -> Case:
    """A seeded random GEMM: primes, dimensions smaller than the array, and either the
    planner's tiling for a random share of the engine's buffer (1, 1/2 or 1/4; Scan or raster)
    or a random fitting tiling (random loop order and visit order, fragmented edge tiles); raw
    or requantised output; tensors at random byte skews."""
    rng = random.Random(seed)
    small = min(cfg.rows, cfg.cols)
    gemm = Gemm(_dim(rng, cfg.rows, max_dim), _dim(rng, small, max_dim), _dim(rng, cfg.cols, max_dim))
    mode = rng.choice(list(OutMode))
    share = rng.choice([1.0, 0.5, 0.25])
    model = BufferModel.for_engine(_shrunk(cfg, share))
    if rng.random() < 0.5:
        order = rng.choice(["scan", "raster"])
        plan = plan_gemm(gemm, model, out_widths(mode), order)
        how = f"planned {order} buf x{share}"
    else:
        plan = fixed_plan(gemm, random_tiling(rng, gemm, model), model, out_widths(mode))
        how = f"random buf x{share}"
    t = plan.tiling
    name = (f"seed{seed} {gemm.M}x{gemm.K}x{gemm.N} tile {t.tm},{t.tn},{t.tk} "
            f"{t.loop_order}/{t.visit_order.value} {how} {mode.name.lower()}")
    return gemm_case(name, plan, cfg, seed=seed, out_mode=mode, skew=rng.randrange(cfg.axi_bytes))


# ---------------------------------------------------------------- running
