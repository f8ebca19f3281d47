"""Simulator dispatch: run a DRAM image on the engine's RTL, and ``scanfuse sim``.

:func:`run_image` runs an image on one of three simulators, all driving the registers as a CPU
would and returning an :class:`~scanfuse.sim.engine_sim.EngineRun`:

* ``amaranth``: the Amaranth simulator (:mod:`scanfuse.sim.engine_sim`); small GEMMs only;
* ``icarus``: the generated Verilog under Icarus with cocotb and cocotbext-axi
  (:mod:`scanfuse.sim.engine_rtl`, :mod:`scanfuse.sim.engine_bench`);
* ``verilator``: the Verilated engine in a C++ harness (:mod:`scanfuse.sim.verilator_run`).

The simulators are imported when chosen (each pulls in its own toolchain). Cases come from
:mod:`scanfuse.sim.cases`, the verdict from :mod:`scanfuse.sim.scoreboard`;
:func:`simulate_gemm` (``scanfuse sim``) puts the three together.
"""

import contextlib
import os
from pathlib import Path

import numpy as np

from ..errors import InvalidOptionError, WorkTooLargeError
from ..files import atomic_dir
from ..units import check_real, check_seed
from ..hw.params import AccelConfig
from ..hw.program import OutMode
from ..plan import BufferModel, Gemm, plan_gemm
from ..program.image import DramImage
from .cases import engine_config, gemm_case, out_widths
from .scoreboard import case_report, check_run

__all__ = ["SIMULATORS", "SAVED_FILES", "run_image", "simulate_gemm"]

SIMULATORS = ("verilator", "icarus", "amaranth", "cocotb-verilator")


def run_image(image: DramImage, cfg: AccelConfig, sim: str = "verilator", *, seed: int = 0,
              p_stall: float = 0.0, work_dir: "Path | None" = None, waves: "bool | None" = None,
              log_file: "Path | None" = None):
    """Run ``image`` on simulator ``sim`` (:data:`SIMULATORS`); returns an ``EngineRun``.

    ``p_stall`` is the probability that a memory channel stalls in a cycle (0: none).
    ``waves`` (default: the ``WAVES`` environment variable) writes ``work_dir/engine.fst``
    (``engine.vcd`` for the Amaranth simulator); ``work_dir`` defaults to a temporary
    directory, so give one to keep the waveform.
    """
    check_seed(seed, "seed", (1 << 32) - 1)
    check_real(p_stall, "p_stall", low_open=False, high=1.0, high_open=True)
    if sim not in SIMULATORS:
        raise InvalidOptionError(f"simulator must be one of {', '.join(SIMULATORS)}, not {sim!r}")
    mem = bytearray(image.mem)
    if waves is None:
        waves = os.environ.get("WAVES", "0") not in ("", "0")
    if sim == "amaranth":
        from .engine_sim import run_engine
        vcd = None
        if waves and work_dir is not None:
            Path(work_dir).mkdir(parents=True, exist_ok=True)
            vcd = str(Path(work_dir) / "engine.vcd")
        return run_engine(mem, image.prog_addr, image.prog_len, cfg, seed=seed,
                          p_ready=1.0 - p_stall, p_valid=1.0 - p_stall, vcd=vcd)
    if sim == "icarus":
        from .engine_rtl import run_icarus
        return run_icarus(mem, image.prog_addr, image.prog_len, cfg, seed=seed, p_stall=p_stall,
                          work_dir=work_dir, waves=waves, log_file=log_file)
    if sim == "cocotb-verilator":      # the cocotb bench (AxiRam, AxiLiteMaster) on Verilator
        from .engine_rtl import run_cocotb
        return run_cocotb(mem, image.prog_addr, image.prog_len, cfg, sim="verilator", seed=seed,
                          p_stall=p_stall, work_dir=work_dir, waves=waves, log_file=log_file)
    if sim == "verilator":
        from .verilator_run import run_verilator
        return run_verilator(mem, image.prog_addr, image.prog_len, cfg, seed=seed,
                             p_ready=1.0 - p_stall, p_valid=1.0 - p_stall, work_dir=work_dir,
                             waves=waves)
    raise InvalidOptionError(f"simulator must be one of {', '.join(SIMULATORS)}, not {sim!r}")


#: Most engine cycles :func:`simulate_gemm` starts by default, per simulator (estimated as the
#: roofline ``M*K*N / (rows*cols)``, a lower bound): Verilator runs a few million cycles a
#: second (the cocotb bench on Verilator ~25 thousand), Icarus and the Amaranth simulator a
#: few thousand.
MAX_SIM_CYCLES = {"verilator": 250_000_000, "cocotb-verilator": 25_000_000, "icarus": 2_000_000,
                  "amaranth": 200_000}
#: The engine's AXI addresses are 32 bits: the whole DRAM image (program, A, B, C) must fit.
ADDRESS_SPACE = 1 << 32


def check_sim_size(gemm: Gemm, array: tuple, sim: str, max_cycles: "int | None" = None) -> None:
    """Refuse, before any build or allocation, a GEMM whose DRAM image does not fit the
    engine's 32-bit address space or whose cycles exceed ``max_cycles`` (default
    :data:`MAX_SIM_CYCLES` of ``sim``)."""
    if not isinstance(gemm, Gemm):
        raise InvalidOptionError(f"gemm must be a Gemm, not {gemm!r}")
    if sim not in SIMULATORS:
        raise InvalidOptionError(f"--sim must be one of {', '.join(SIMULATORS)}, not {sim!r}")
    image = gemm.M * gemm.K + gemm.K * gemm.N + 4 * gemm.M * gemm.N
    if image >= ADDRESS_SPACE:
        raise WorkTooLargeError(
            f"the DRAM image of {gemm} (int8 A and B, int32 C) takes {image:,} bytes, beyond the "
            f"engine's 32-bit address space ({ADDRESS_SPACE:,} bytes)")
    limit = MAX_SIM_CYCLES[sim] if max_cycles is None else max_cycles
    rows, cols = array
    cycles = -(-gemm.macs // (rows * cols))
    if cycles > limit:
        raise WorkTooLargeError(
            f"{gemm} needs at least {cycles:,} engine cycles on a {rows}x{cols} array, above the "
            f"limit of {limit:,} for --sim {sim}; give --max-cycles to raise it")


def simulate_gemm(gemm: Gemm, buffer: int, array: tuple = (8, 8), order: str = "best",
                  sim: str = "verilator", seed: int = 0, save: "Path | None" = None,
                  log_file: "Path | None" = None, max_cycles: "int | None" = None) -> dict:
    """``scanfuse sim``: random int8 A and B through the RTL, raw int32 output.

    The engine holds ``buffer`` entries (:func:`engine_config`); the plan is made for its
    buffer model (:meth:`BufferModel.for_engine`). Returns :func:`case_report` plus the configuration; ``save`` writes
    ``A.npy``, ``B.npy`` (int8) and ``C.npy`` (the engine's raw int32 output), and is the
    simulator's work directory (image, results and, with ``WAVES=1``, the waveform): the
    folder is built whole in a temporary sibling and renamed into place at the end
    (:func:`scanfuse.files.atomic_dir`), so an interrupted or failed run leaves the old
    folder (or none) and never a half-written one.
    """
    check_seed(seed, "seed", (1 << 32) - 1)
    check_sim_size(gemm, array, sim, max_cycles)
    cfg = engine_config(buffer, *array)
    save = Path(save) if save is not None else None
    plan = plan_gemm(gemm, BufferModel.for_engine(cfg), out_widths(OutMode.RAW_INT32), order)
    case = gemm_case(f"{gemm.M}x{gemm.K}x{gemm.N}", plan, cfg, seed=seed, out_mode="raw")
    with contextlib.ExitStack() as stack:
        work = stack.enter_context(atomic_dir(save)) if save is not None else None
        run = run_image(case.image, cfg, sim, seed=seed, log_file=log_file, work_dir=work)
        if work is not None:
            for name, array_ in (("A.npy", case.a), ("B.npy", case.weights[0]),
                                 ("C.npy", case.image.layers[0].read_c(run.mem))):
                np.save(work / name, array_)
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
    return report


#: The files a ``save`` folder of :func:`simulate_gemm` can hold (what ``--force`` may
#: replace): the arrays, the simulator's image and results, the waveform.
SAVED_FILES = frozenset({"A.npy", "B.npy", "C.npy", "image.bin", "image.json", "mem_out.bin",
                         "run.json", "results.xml", "engine.fst", "engine.vcd"})
