"""``scanfuse sim --network NET --fuse --layers B``: fused blocks of a network on the RTL.

Each named block (a ``[1x1] -> depthwise -> 1x1`` group, or a CP chain
``1x1 -> 3x1 -> 1x3 -> 1x1``, of
:func:`scanfuse.plan.fusion.thesis_groups`) gets seeded random int8 tensors and int32 biases
(:func:`scanfuse.sim.fused_rtl.random_block`), is planned for the block engine the buffer
describes (:func:`block_config`), compiled, run on the simulator, and reported with its
bit-exactness against :func:`scanfuse.sim.fused_golden.fused_block_ref`, its DRAM byte
counters against the driver's prediction, and its cycles against the roofline.
"""

import contextlib
import json
from pathlib import Path

import numpy as np

from ..errors import InvalidOptionError, WorkTooLargeError
from ..files import atomic_dir
from ..hw.fused_program import BlockConfig
from ..network.zoo import get_network
from ..plan.fusion import thesis_groups
from ..program.fused_block import block_shape
from ..units import check_seed
from .fused_partition import PARTITION, partition_config
from .fused_golden import Depthwise, Pointwise, fused_block_ref
from .fused_rtl import (compile_fused, random_block, roofline_cycles, run_block_amaranth,
                        run_block_cocotb)

__all__ = ["FUSED_SIMULATORS", "MAX_FUSED_CYCLES", "block_config", "select_blocks",
           "simulate_fused", "FUSED_SAVED_FILES", "check_fused_save"]

#: Simulators of the block engine: the Amaranth simulator, and its Verilog under cocotb on
#: Verilator ("verilator" and "cocotb-verilator" are the same bench) or Icarus.
FUSED_SIMULATORS = ("verilator", "cocotb-verilator", "icarus", "amaranth")
#: Most roofline cycles per block a simulator starts by default.
MAX_FUSED_CYCLES = {"verilator": 25_000_000, "cocotb-verilator": 25_000_000,
                    "icarus": 2_000_000, "amaranth": 200_000}
#: What a ``--save`` folder holds per block (the block's sub-folder).
FUSED_SAVED_FILES = frozenset({"X.npy", "W1.npy", "b1.npy", "Wd.npy", "bd.npy", "Wd2.npy",
                               "bd2.npy", "W2.npy", "b2.npy", "Y.npy", "params.json"})


def block_config(buffer: int, array: tuple = (8, 8)) -> BlockConfig:
    """The block engine holding ``buffer`` bytes in its five tensor memories, split as
    :data:`scanfuse.sim.fused_partition.PARTITION` says (the sweep that chose it:
    ``python -m scanfuse.sim.fused_partition 64K``)."""
    return partition_config(buffer, PARTITION, array)


def select_blocks(network, layers: str) -> list:
    """The named fused groups of ``network`` (a built-in name or a
    :class:`~scanfuse.network.layers.Network`; comma-separated names, or ``all``)."""
    net = get_network(network) if isinstance(network, str) else network
    network = getattr(net, "name", network)
    groups = {g.name: g for g in thesis_groups(net)}
    if not groups:
        raise InvalidOptionError(f"{network} has no [1x1] -> depthwise -> 1x1 blocks to fuse")
    if layers.strip() == "all":
        return list(groups.values())
    names = [n.strip() for n in layers.split(",") if n.strip()]
    unknown = [n for n in names if n not in groups]
    if unknown or not names:
        raise InvalidOptionError(f"--layers: {', '.join(unknown) or repr(layers)} is not a fused "
                                 f"block of {network}; one of {', '.join(groups)} or all")
    return [groups[n] for n in names]


def check_fused_save(path, force: bool) -> None:
    """Check a ``--save`` folder before any work: new or empty, or (with ``force``) holding
    only what this command writes (the files of :data:`FUSED_SAVED_FILES`, directly or in one
    sub-folder per block); raises :class:`~scanfuse.errors.OutputPathError`."""
    from ..errors import OutputPathError
    from ..files import check_output_dir
    folder = Path(path)
    if force and folder.is_dir() and not folder.is_symlink():
        for entry in folder.iterdir():
            mine = (entry.is_file() and entry.name in FUSED_SAVED_FILES) or (
                entry.is_dir() and not entry.is_symlink()
                and all(f.is_file() and f.name in FUSED_SAVED_FILES for f in entry.iterdir()))
            if not mine:
                raise OutputPathError(f"--save {str(folder)!r} holds {entry.name!r}, which this "
                                      f"command did not write; it replaces the folder whole, "
                                      f"so give a new or empty folder")
        check_output_dir(folder, "--save", force=True)
        return
    check_output_dir(folder, "--save", force=force, replaceable=FUSED_SAVED_FILES.__contains__)


def _save_block(folder: Path, x, block, y) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    stages = list(block.stages)
    np.save(folder / "X.npy", x.astype(np.int8))
    params = {"residual": block.residual}
    if isinstance(stages[0], Pointwise) and len(stages) >= 3:
        pw1 = stages.pop(0)
        np.save(folder / "W1.npy", pw1.weights.astype(np.int8))
        np.save(folder / "b1.npy", pw1.bias.astype(np.int32))
        params["expand_requant"] = pw1.requant.as_dict()
    if len(stages) == 3:        # a CP chain: the 1x3 stage's files and record
        dw2 = stages.pop(1)
        np.save(folder / "Wd2.npy", dw2.weights.astype(np.int8))
        np.save(folder / "bd2.npy", dw2.bias.astype(np.int32))
        params |= {"stride2": list(dw2.stride), "kernel2": list(dw2.kernel),
                   "padding2": list(dw2.padding), "depthwise2_requant": dw2.requant.as_dict()}
    dw, pw2 = stages
    assert isinstance(dw, Depthwise)
    np.save(folder / "Wd.npy", dw.weights.astype(np.int8))
    np.save(folder / "bd.npy", dw.bias.astype(np.int32))
    np.save(folder / "W2.npy", pw2.weights.astype(np.int8))
    np.save(folder / "b2.npy", pw2.bias.astype(np.int32))
    np.save(folder / "Y.npy", y.astype(np.int8))
    params |= {"stride": list(dw.stride), "kernel": list(dw.kernel),
               "padding": list(dw.padding), "depthwise_requant": dw.requant.as_dict(),
               "project_requant": pw2.requant.as_dict()}
    (folder / "params.json").write_text(json.dumps(params, indent=2) + "\n")


def simulate_fused(network: str, layers: str, buffer: int, array: tuple = (8, 8),
                   sim: str = "verilator", seed: int = 0, save: "Path | None" = None,
                   p_stall: float = 0.0, max_cycles: "int | None" = None) -> dict:
    """Run the named blocks of ``network`` on the block engine; a report per block.

    Every block is checked against the limits before any simulation starts. ``save`` gets one
    sub-folder per block (:data:`FUSED_SAVED_FILES`), built whole and renamed into place.
    """
    check_seed(seed, "seed", (1 << 32) - 1)
    if sim not in FUSED_SIMULATORS:
        raise InvalidOptionError(f"--sim must be one of {', '.join(FUSED_SIMULATORS)}, "
                                 f"not {sim!r}")
    bcfg = block_config(buffer, array)
    from ..program.fused_block import block_traffic, plan_block
    chains = select_blocks(network, layers)
    limit = MAX_FUSED_CYCLES[sim] if max_cycles is None else max_cycles
    plans = []
    for chain in chains:
        shape = block_shape(chain)
        sched = plan_block(shape, bcfg)
        t = block_traffic(shape, sched)
        roof = roofline_cycles(shape, bcfg, t.read_bytes, t.write_bytes)
        if roof > limit:
            raise WorkTooLargeError(f"{chain.name} needs at least {roof:,} engine cycles, above "
                                    f"the limit of {limit:,} for --sim {sim}; give "
                                    f"--max-cycles to raise it")
        plans.append((chain, shape, sched))
    reports = []
    with contextlib.ExitStack() as stack:
        work = stack.enter_context(atomic_dir(save)) if save is not None else None
        for index, (chain, shape, sched) in enumerate(plans):
            rng = np.random.default_rng([seed, index])
            x, block = random_block(rng, shape)
            image = compile_fused(x, block, bcfg, sched)
            expected = fused_block_ref(x, block)
            cycle_cap = 20 * roofline_cycles(shape, bcfg, image.traffic.read_bytes,
                                             image.traffic.write_bytes) + 100_000
            if sim == "amaranth":
                run = run_block_amaranth(image, expected, bcfg, seed=seed,
                                         p_ready=1.0 - p_stall, p_valid=1.0 - p_stall,
                                         max_cycles=cycle_cap)
            else:
                run = run_block_cocotb(image, expected, bcfg,
                                       sim="icarus" if sim == "icarus" else "verilator",
                                       seed=seed, p_stall=p_stall, max_cycles=cycle_cap)
            if work is not None:
                # One block: its files in the folder; several: one sub-folder per block.
                _save_block(work if len(plans) == 1 else work / chain.name, x, block, run.y)
            t = image.traffic
            reports.append({
                "block": chain.name,
                "shape": {"H": shape.H, "W": shape.W, "cin": shape.cin, "hidden": shape.hidden,
                          "cout": shape.cout, "stride": list(shape.stride),
                          "kernel": list(shape.kernel), "cp": shape.cp,
                          "expand": shape.expand, "residual": shape.residual},
                "schedule": {"strip_rows": sched.strip_rows, "strips": sched.strips(shape),
                             "chunk": sched.chunk, "chunks": sched.chunks(shape),
                             "order": sched.order.name.lower()},
                "bit_exact": run.bit_exact,
                "error": run.error.name,
                "dram_read_bytes": run.read_bytes, "dram_write_bytes": run.write_bytes,
                "predicted_read_bytes": t.read_bytes, "predicted_write_bytes": t.write_bytes,
                "counters_match": (run.read_bytes, run.write_bytes) == (t.read_bytes,
                                                                       t.write_bytes),
                "cycles": run.cycles,
                "roofline_cycles": roofline_cycles(shape, bcfg, t.read_bytes, t.write_bytes),
            })
    return {
        "network": network if isinstance(network, str) else getattr(network, "name", "?"),
        "sim": sim, "seed": seed, "buffer_entries": buffer,
        "p_stall": p_stall, "array": {"rows": array[0], "cols": array[1]},
        "engine_memories": {"x_entries": bcfg.x_entries, "d_entries": bcfg.d_entries,
                            "p_entries": bcfg.p_entries, "w1_entries": bcfg.w1_entries,
                            "w2_entries": bcfg.w2_entries, "max_chunk": bcfg.max_chunk,
                            "max_cout": bcfg.max_cout, "max_width": bcfg.max_width},
        "blocks": reports,
    }
