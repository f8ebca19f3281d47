"""Bench of the fused-block engine: random blocks, the Amaranth simulation run against an AXI
memory with random stalls, and the figures a run reports (bit-exactness against
:func:`scanfuse.sim.fused_golden.fused_block_ref`, DRAM bytes against the driver's
prediction, cycles against the roofline).

* :func:`random_block` -- a seeded block (tensors, requant records) of a given shape;
* :func:`compile_fused` -- a golden :class:`FusedBlock` and its input as a driver image;
* :func:`run_block_amaranth` -- one block on :class:`~scanfuse.hw.block_engine.BlockEngine`;
* :func:`roofline_cycles` -- the PE array's and the depthwise unit's MAC-bound, or the bus's
  byte-bound, whichever is larger.
"""

import contextlib
import functools
import os
import sys
from dataclasses import dataclass

import numpy as np

from ..hw.block_engine import BlockEngine
from ..hw.fused_program import BlockConfig, FusedError
from ..program.descriptors import RequantFields
from ..program.fused_block import BlockImage, BlockSchedule, BlockShape, compile_block
from .fused_golden import Depthwise, FusedBlock, Pointwise, RequantRecord

__all__ = ["random_block", "compile_fused", "BlockRun", "run_block_amaranth", "roofline_cycles",
           "block_verilog", "run_block_cocotb",
           "block_shape_of"]


def _record(rng, k: int, mode: str) -> RequantRecord:
    """A scale that maps a sum of ``k`` int8 x int8 products to about +-40."""
    scale = 40.0 / (5400.0 * np.sqrt(k))
    shift = 30
    return RequantRecord(multiplier=max(1, int(round(scale * 2 ** shift * rng.uniform(0.7, 1.3)))),
                         shift=shift, mode=mode, relu6_max=int(rng.integers(60, 128)))


def random_block(rng: np.random.Generator, shape: BlockShape) -> tuple[np.ndarray, FusedBlock]:
    """A random input and block of ``shape`` (int8 tensors over the full range, int32 biases
    around the accumulators' spread, ReLU6 after expand and depthwise, none after project).

    A CP chain (``shape.cp``) replaces a 3x3 convolution followed by ReLU (ResNet-50's conv2),
    and CP is linear: no activation after its first three stages, ReLU after the last."""
    s = shape
    i8 = lambda *dims: rng.integers(-128, 128, size=dims, dtype=np.int64)   # noqa: E731
    i32 = lambda n, spread: rng.integers(-spread, spread + 1, size=n, dtype=np.int64)  # noqa: E731
    stages = []
    act, last = ("none", "relu") if s.cp else ("relu6", "none")
    if s.expand:
        stages.append(Pointwise(i8(s.cin, s.hidden), i32(s.hidden, 20000 * s.cin),
                                _record(rng, s.cin, act)))
    kh, kw = s.kernel
    if s.cp:
        stages.append(Depthwise(i8(s.hidden, 3, 1), i32(s.hidden, 9000), (s.stride[0], 1),
                                _record(rng, 3, act)))
        stages.append(Depthwise(i8(s.hidden, 1, 3), i32(s.hidden, 9000), (1, s.stride[1]),
                                _record(rng, 3, act)))
    else:
        stages.append(Depthwise(i8(s.hidden, kh, kw), i32(s.hidden, 3000 * kh * kw), s.stride,
                                _record(rng, kh * kw, act)))
    stages.append(Pointwise(i8(s.hidden, s.cout), i32(s.cout, 3000 * s.hidden),
                            _record(rng, s.hidden, last)))
    return i8(s.H, s.W, s.cin), FusedBlock(tuple(stages), residual=s.residual)


def block_shape_of(x: np.ndarray, block: FusedBlock) -> BlockShape:
    """The driver's :class:`BlockShape` of a golden block and its input."""
    expand = isinstance(block.stages[0], Pointwise)
    dws = [st for st in block.stages if isinstance(st, Depthwise)]
    stride, cp = dws[0].stride, len(dws) == 2
    if cp:
        v, h = dws
        if (v.kernel, h.kernel) != ((3, 1), (1, 3)) or v.stride[1] != 1 or h.stride[0] != 1:
            raise ValueError("two depthwise stages run as a CP chain only as 3x1 (stride "
                             "(s, 1)) then 1x3 (stride (1, s))")
        stride = (v.stride[0], h.stride[1])
    elif len(dws) != 1:
        raise ValueError("the block engine runs one depthwise stage, or a CP chain's two")
    dw = dws[0]
    return BlockShape(H=x.shape[0], W=x.shape[1], cin=x.shape[2], hidden=dw.channels_in,
                      cout=block.stages[-1].channels_out, stride=stride, kernel=dw.kernel,
                      expand=expand, residual=block.residual, cp=cp)


def _fields(rec: RequantRecord) -> RequantFields:
    return RequantFields(rec.multiplier, rec.shift, rec.zero_point,
                         {"none": 0, "relu": 1, "relu6": 2}[rec.mode], rec.relu6_max)


def compile_fused(x, block: FusedBlock, bcfg: BlockConfig = BlockConfig(),
                  schedule: "BlockSchedule | None" = None) -> BlockImage:
    """A golden block and its input as the engine's descriptor and DRAM image."""
    shape = block_shape_of(x, block)
    stages = list(block.stages)
    if shape.expand:
        pw1 = stages.pop(0)
        w1, b1, r1 = pw1.weights, pw1.bias, _fields(pw1.requant)
    else:
        w1, b1, r1 = None, None, RequantFields()
    if shape.cp:
        dw, dw2, pw2 = stages
        return compile_block(shape, x, w1, b1, dw.weights, dw.bias, pw2.weights, pw2.bias,
                             (r1, _fields(dw.requant), _fields(pw2.requant),
                              _fields(dw2.requant)), bcfg, schedule,
                             wd2=dw2.weights, bd2=dw2.bias)
    dw, pw2 = stages
    return compile_block(shape, x, w1, b1, dw.weights, dw.bias, pw2.weights, pw2.bias,
                         (r1, _fields(dw.requant), _fields(pw2.requant)), bcfg, schedule)


@dataclass
class BlockRun:
    """What one engine run did."""

    y: np.ndarray
    expected: np.ndarray
    read_bytes: int
    write_bytes: int
    cycles: int
    error: FusedError

    @property
    def bit_exact(self) -> bool:
        return self.error is FusedError.NONE and np.array_equal(self.y, self.expected)


def run_block_amaranth(image: BlockImage, expected: np.ndarray,
                       bcfg: BlockConfig = BlockConfig(), *, seed: int = 0,
                       p_ready: float = 1.0, p_valid: float = 1.0,
                       max_cycles: int = 200_000) -> BlockRun:
    """Run ``image`` on :class:`BlockEngine` under ``amaranth.sim`` with an
    :class:`~scanfuse.sim.amaranth_axi.AxiMemory` (random stalls from ``seed``)."""
    from amaranth.sim import Simulator

    from .amaranth_axi import AxiMemory

    dut = BlockEngine(bcfg)
    mem = bytearray(image.mem)
    axi = AxiMemory(dut.bus, mem, seed=seed, p_ready=p_ready, p_valid=p_valid)
    out = {}

    async def bench(ctx):
        ctx.set(dut.desc.as_value(), image.desc_bits)
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        for _ in range(max_cycles):
            await ctx.tick()
            if ctx.get(dut.done):
                break
        else:
            raise TimeoutError(f"the block engine did not finish in {max_cycles} cycles")
        out.update(read=ctx.get(dut.bytes_read), write=ctx.get(dut.bytes_written),
                   cycles=ctx.get(dut.cycles), error=FusedError(ctx.get(dut.error)))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(axi.run, background=True)
    sim.add_testbench(bench)
    sim.run()
    return BlockRun(image.read_y(mem), expected, out["read"], out["write"], out["cycles"],
                    out["error"])


def roofline_cycles(shape: BlockShape, bcfg: BlockConfig, read_bytes: int,
                    write_bytes: int) -> int:
    """A lower bound on a block's cycles: the largest of the PE array's (the MACs of both
    GEMMs, halo rows not recomputed, over ``rows * cols`` per cycle), the depthwise unit's
    (one pixel of ``cols`` channels per cycle, ``H * W * hidden / cols``; it runs beside the
    array) and the bus's (``bytes / axi_bytes``)."""
    cfg = bcfg.accel
    s = shape
    macs = s.Ho * s.Wo * s.hidden * s.cout + (s.H * s.W * s.cin * s.hidden if s.expand else 0)
    pe = -(-macs // (cfg.rows * cfg.cols))
    dw = -(-(s.H * s.W * s.hidden) // bcfg.lane)
    bus = -(-(read_bytes + write_bytes) // cfg.axi_bytes)
    return max(pe, dw, bus)


@contextlib.contextmanager
def _stdout_to(path):
    """Send this process's file descriptor 1 to ``path`` (the simulator builds' make and
    Verilator write there, which ``scanfuse sim --json`` keeps for its JSON)."""
    sys.stdout.flush()
    saved = os.dup(1)
    with open(path, "ab") as log:
        os.dup2(log.fileno(), 1)
        try:
            yield
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)


@functools.lru_cache(maxsize=4)
def block_verilog(bcfg: BlockConfig) -> str:
    """The Verilog text of ``BlockEngine(bcfg)``, top module ``block_engine`` (kept per
    configuration: converting the engine takes seconds, and a network run asks once per
    block)."""
    from amaranth.back import verilog
    return verilog.convert(BlockEngine(bcfg), name="block_engine")


def run_block_cocotb(image: BlockImage, expected: np.ndarray,
                     bcfg: BlockConfig = BlockConfig(), *, sim: str = "icarus", seed: int = 0,
                     p_stall: float = 0.0, max_cycles: int = 10_000_000,
                     work_dir=None) -> BlockRun:
    """Run ``image`` on the engine's Verilog under ``sim`` ("icarus" or "verilator"; the build
    is cached by :func:`scanfuse.sim.hdl_sim.cached_build`) against cocotbext-axi's AxiRam,
    each AXI channel pausing with probability ``p_stall`` per cycle."""
    import json
    import tempfile
    from pathlib import Path

    from . import hdl_sim

    with contextlib.ExitStack() as stack:
        if work_dir is None:
            work_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="scanfuse-"))
        work_dir = Path(work_dir).resolve()
        work_dir.mkdir(parents=True, exist_ok=True)
        with _stdout_to(work_dir / "build.log"):
            runner, build_dir = hdl_sim.cached_build(sim, block_verilog(bcfg), "block_engine")
        (work_dir / "image.bin").write_bytes(bytes(image.mem))
        (work_dir / "image.json").write_text(json.dumps({
            "desc": f"{image.desc_bits:x}", "seed": seed, "p_stall": p_stall,
            "max_cycles": max_cycles}) + "\n")
        from cocotb_tools.check_results import get_results
        with hdl_sim.environment(sim), _stdout_to(work_dir / "build.log"):
            results = runner.test(hdl_toplevel="block_engine",
                                  test_module="scanfuse.sim.fused_block_bench",
                                  build_dir=build_dir, test_dir=work_dir,
                                  extra_env={"RUN_DIR": str(work_dir)},
                                  log_file=work_dir / "sim.log",
                                  results_xml=str(work_dir / "results.xml"))
        tests, failed = get_results(results)
        if failed or not tests:
            raise RuntimeError(f"cocotb: the block bench failed (log: {work_dir / 'sim.log'})")
        doc = json.loads((work_dir / "run.json").read_text())
        mem = bytearray((work_dir / "mem_out.bin").read_bytes())
    return BlockRun(image.read_y(mem), expected, doc["bytes_read"], doc["bytes_written"],
                    doc["cycles"], FusedError(doc["error"]))
