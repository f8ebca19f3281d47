"""Run planned layers on the engine's RTL and check them: cases, simulators, scoreboard.

A :class:`Case` is a DRAM image (:mod:`scanfuse.driver.image`) with the numpy golden outputs
of its layers (:mod:`scanfuse.sim.golden`). :func:`run_image` runs an image on one of three
simulators, all driving the registers as a CPU would and returning an
:class:`~scanfuse.sim.engine_sim.EngineRun`:

* ``amaranth``: the Amaranth simulator (:mod:`scanfuse.sim.engine_sim`); small GEMMs only;
* ``icarus``: the generated Verilog under Icarus with cocotb and cocotbext-axi
  (:mod:`scanfuse.sim.engine_rtl`, :mod:`scanfuse.sim.engine_bench`);
* ``verilator``: the Verilated engine in a C++ harness (:mod:`scanfuse.sim.verilator_run`).

:func:`check_run` compares a run with its case: every output bit-exact, DRAM bytes read and
written (engine counters) equal to the planner's prediction, MACs equal to ``M*N*K``.
:func:`case_report` adds cycles against the roofline ``max(MACs / (rows*cols), bytes /
axi_bytes)``. :func:`simulate_gemm` is ``scanfuse sim``.

Buffer size to engine (:func:`engine_config`): a buffer of ``S`` entries is ``S`` bytes of
storage, split like the default engine (64K -> 16K/16K/8K): ``S/4`` int8 entries for A,
``S/4`` for B and ``S/8`` int32 accumulators (``S/2`` bytes) for C, each rounded down to
whole memory words (:attr:`AccelConfig.word_entries`).
"""

import os
import random
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..errors import InvalidOptionError
from ..hw.params import AccelConfig
from ..hw.program import OutMode
from ..hw.requant import Activation
from ..plan import ElementWidths, Gemm, Tiling, VisitOrder, plan_gemm
from ..plan.fixed import fixed_plan
from ..plan.search import GemmPlan
from ..plan.tiling import LOOP_ORDERS
from ..sim.golden import pw_conv_ref, requant_ref
from .image import DramImage, chain_image
from .program import RequantFields

__all__ = ["SIMULATORS", "engine_config", "Case", "fitting_requant", "expected_output",
           "gemm_case", "chain_case", "layer_case", "random_gemm_case", "run_image", "Check",
           "check_run", "roofline_cycles", "case_report", "simulate_gemm"]

SIMULATORS = ("verilator", "icarus", "amaranth")

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


def _mode(mode) -> OutMode:
    """``OutMode`` from a member or ``"raw"`` / ``"int8"``."""
    if isinstance(mode, OutMode):
        return mode
    names = {"raw": OutMode.RAW_INT32, "int8": OutMode.INT8}
    if str(mode).lower() not in names:
        raise InvalidOptionError(f"output mode must be raw or int8, not {mode!r}")
    return names[str(mode).lower()]


def _widths(mode: OutMode) -> ElementWidths:
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
    out_modes = [_mode(m) for m in out_modes]
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
    mode = _mode(out_mode)
    rqs = None if mode is OutMode.INT8 and requant is None else [requant]
    return chain_case(name, [plan], cfg, seed=seed, out_modes=[mode], requants=rqs, skew=skew)


def layer_case(name: str, gemm: Gemm, cfg: AccelConfig = AccelConfig(), *, seed: int = 0,
               order: str = "best") -> Case:
    """A network layer as the regression runs it: planned for ``cfg.buffer_model()`` with the
    planner's default widths (int8 outputs), requantised int8 output."""
    plan = plan_gemm(gemm, cfg.buffer_model(), ElementWidths(), order)
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
    model = _shrunk(cfg, share).buffer_model()
    if rng.random() < 0.5:
        order = rng.choice(["scan", "raster"])
        plan = plan_gemm(gemm, model, _widths(mode), order)
        how = f"planned {order} buf x{share}"
    else:
        plan = fixed_plan(gemm, random_tiling(rng, gemm, model), model, _widths(mode))
        how = f"random buf x{share}"
    t = plan.tiling
    name = (f"seed{seed} {gemm.M}x{gemm.K}x{gemm.N} tile {t.tm},{t.tn},{t.tk} "
            f"{t.loop_order}/{t.visit_order.value} {how} {mode.name.lower()}")
    return gemm_case(name, plan, cfg, seed=seed, out_mode=mode, skew=rng.randrange(cfg.axi_bytes))


# ---------------------------------------------------------------- running

def run_image(image: DramImage, cfg: AccelConfig, sim: str = "verilator", *, seed: int = 0,
              p_stall: float = 0.0, work_dir: "Path | None" = None, waves: "bool | None" = None,
              log_file: "Path | None" = None):
    """Run ``image`` on simulator ``sim`` (:data:`SIMULATORS`); returns an ``EngineRun``.

    ``p_stall`` is the probability that a memory channel stalls in a cycle (0: none).
    ``waves`` (default: the ``WAVES`` environment variable) writes ``work_dir/engine.fst``
    (``engine.vcd`` for the Amaranth simulator); ``work_dir`` defaults to a temporary
    directory, so give one to keep the waveform.
    """
    mem = bytearray(image.mem)
    if waves is None:
        waves = os.environ.get("WAVES", "0") not in ("", "0")
    if sim == "amaranth":
        from ..sim.engine_sim import run_engine
        vcd = None
        if waves and work_dir is not None:
            Path(work_dir).mkdir(parents=True, exist_ok=True)
            vcd = str(Path(work_dir) / "engine.vcd")
        return run_engine(mem, image.prog_addr, image.prog_len, cfg, seed=seed,
                          p_ready=1.0 - p_stall, p_valid=1.0 - p_stall, vcd=vcd)
    if sim == "icarus":
        from ..sim.engine_rtl import run_icarus
        return run_icarus(mem, image.prog_addr, image.prog_len, cfg, seed=seed, p_stall=p_stall,
                          work_dir=work_dir, waves=waves, log_file=log_file)
    if sim == "verilator":
        from ..sim.verilator_run import run_verilator
        return run_verilator(mem, image.prog_addr, image.prog_len, cfg, seed=seed,
                             p_ready=1.0 - p_stall, p_valid=1.0 - p_stall, work_dir=work_dir,
                             waves=waves)
    raise InvalidOptionError(f"simulator must be one of {', '.join(SIMULATORS)}, not {sim!r}")


@dataclass
class Check:
    """The scoreboard's verdict on one run."""

    bit_exact: bool
    counters_match: bool
    problems: list

    @property
    def ok(self) -> bool:
        return self.bit_exact and self.counters_match


def check_run(case: Case, run) -> Check:
    """Outputs against numpy, counters against the planner (module docstring)."""
    problems = []
    if not run.done or run.error:
        problems.append(f"engine {'done' if run.done else 'not done'}, ERROR={run.error:#x}")
    exact = not problems
    for i, (place, want) in enumerate(zip(case.image.layers, case.wants)):
        got = place.read_c(run.mem)
        if not np.array_equal(got, want):
            exact = False
            bad = np.argwhere(got != want)
            m, n = bad[0]
            problems.append(f"layer {i}: {len(bad)} of {want.size} outputs differ, first "
                            f"C[{m},{n}] = {got[m, n]} (numpy {want[m, n]})")
    read, write = case.predicted
    c = run.counters
    match = c["read_bytes"] == read and c["write_bytes"] == write and c["macs"] == case.macs
    if not match:
        problems.append(f"counters read/write/macs {c['read_bytes']}/{c['write_bytes']}/"
                        f"{c['macs']}, predicted {read}/{write}/{case.macs}")
    return Check(exact, match, problems)


def roofline_cycles(cfg: AccelConfig, macs: int, nbytes: int) -> int:
    """``max(MACs / (rows*cols), bytes / axi_bytes)``, rounded up."""
    return max(-(-macs // (cfg.rows * cfg.cols)), -(-nbytes // cfg.axi_bytes))


def case_report(case: Case, run, check: "Check | None" = None) -> dict:
    """The figures of one run (the keys of ``scanfuse sim --json`` and of the regressions)."""
    check = check_run(case, run) if check is None else check
    cfg, c = case.cfg, run.counters
    read, write = case.predicted
    cycles = c["cycles"]
    roof = roofline_cycles(cfg, case.macs, read + write)
    return {
        "bit_exact": check.bit_exact,
        "counters_match": check.counters_match,
        "cycles": cycles,
        "dram_read_bytes": c["read_bytes"],
        "dram_write_bytes": c["write_bytes"],
        "predicted_read_bytes": read,
        "predicted_write_bytes": write,
        "utilization": round(case.macs / (cfg.rows * cfg.cols) / cycles, 4) if cycles else 0.0,
        "macs": case.macs,
        "roofline_cycles": roof,
        "roofline_fraction": round(roof / cycles, 4) if cycles else 0.0,
        "stall_cycles": c["stalls"],
        "error": run.error,
        "problems": check.problems,
    }


def simulate_gemm(gemm: Gemm, buffer: int, array: tuple = (8, 8), order: str = "best",
                  sim: str = "verilator", seed: int = 0, save: "Path | None" = None,
                  log_file: "Path | None" = None) -> dict:
    """``scanfuse sim``: random int8 A and B through the RTL, raw int32 output.

    The engine holds ``buffer`` entries (:func:`engine_config`); the plan is made for its
    ``buffer_model()``. Returns :func:`case_report` plus the configuration; ``save`` writes
    ``A.npy``, ``B.npy`` (int8) and ``C.npy`` (the engine's raw int32 output), and is the
    simulator's work directory (image, results and, with ``WAVES=1``, the waveform).
    """
    if sim not in SIMULATORS:
        raise InvalidOptionError(f"--sim must be one of {', '.join(SIMULATORS)}, not {sim!r}")
    cfg = engine_config(buffer, *array)
    save = Path(save) if save is not None else None
    plan = plan_gemm(gemm, cfg.buffer_model(), _widths(OutMode.RAW_INT32), order)
    case = gemm_case(f"{gemm.M}x{gemm.K}x{gemm.N}", plan, cfg, seed=seed, out_mode="raw")
    run = run_image(case.image, cfg, sim, seed=seed, log_file=log_file, work_dir=save)
    report = case_report(case, run)
    t = plan.tiling
    report.update({
        "gemm": {"M": gemm.M, "K": gemm.K, "N": gemm.N},
        "sim": sim, "seed": seed,
        "array": {"rows": cfg.rows, "cols": cfg.cols},
        "buffer_entries": buffer,
        "engine_memories": {"a_entries": cfg.a_entries, "b_entries": cfg.b_entries,
                            "c_entries": cfg.c_entries},
        "tile": {"m": t.tm, "n": t.tn, "k": t.tk},
        "loop_order": t.loop_order, "visit_order": t.visit_order.value,
    })
    if save is not None:
        save.mkdir(parents=True, exist_ok=True)
        np.save(save / "A.npy", case.a)
        np.save(save / "B.npy", case.weights[0])
        np.save(save / "C.npy", case.image.layers[0].read_c(run.mem))
    return report
