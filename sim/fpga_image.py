"""The self-test image of the real engine: one planned int8 GEMM layer as a tile program.

The "DRAM" image holds the tile program (one descriptor, built by the driver,
:mod:`scanfuse.program.descriptors`), A and B (seeded random int8), the int32 partial-sum scratch if
the plan spills, and a zeroed C. The expected C (int8, requantised with ReLU) comes from the
golden model (:mod:`scanfuse.sim.golden`); the expected DRAM traffic counters are the planner's
byte counts of the same plan, so the self-test checks the ScanFuse contract on the board: the
engine moves exactly the bytes the planner predicted.
"""

import numpy as np

from ..program.descriptors import RequantFields, compile_layer, pack
from ..plan import BufferModel, Gemm, plan_gemm
from .golden import pw_conv_ref, requant_ref
from ..hw.params import AccelConfig
from ..hw.regs import Reg
from ..hw.requant import Activation
from ..hw.fpga.selftest import ScriptOp, SelfTestImage, Step, checksum
from .host import start_steps

__all__ = ["default_gemm", "engine_image"]

#: Requantisation of the self-test layer: scale 3/2**12, zero point 0, ReLU.
_REQUANT = RequantFields(multiplier=3, shift=12, zero_point=0, mode=Activation.RELU,
                         relu6_max=127)


def _align(x: int, to: int = 64) -> int:
    return -(-x // to) * to


def default_gemm(cfg: AccelConfig) -> Gemm:
    """A GEMM whose A operand is larger than the A memory, so the plan has several tiles and
    the Scan walk, reloads and (if planned) partial sums all happen."""
    k = 4 * max(cfg.rows, cfg.cols, 8)
    m = _align(cfg.a_entries // k + 3 * cfg.rows, cfg.rows) + 5   # not a multiple of rows
    n = 2 * cfg.cols * 4 + 3
    return Gemm(m, k, n)


def engine_image(cfg: AccelConfig, gemm: Gemm | None = None, *, seed: int = 11) -> SelfTestImage:
    """Tile program, operands, expected result checksum and traffic counters for ``gemm``
    (default :func:`default_gemm`) on an engine built with ``cfg``."""
    gemm = default_gemm(cfg) if gemm is None else gemm
    M, K, N = gemm.M, gemm.K, gemm.N
    plan = plan_gemm(gemm, BufferModel.for_engine(cfg))
    rng = np.random.default_rng(seed)
    a = rng.integers(-128, 128, size=(M, K), dtype=np.int8)
    b = rng.integers(-128, 128, size=(K, N), dtype=np.int8)

    prog_addr = 0
    a_base = 0x1000
    b_base = a_base + _align(M * K, 4096)
    p_base = b_base + _align(K * N, 4096)
    spills = plan.traffic.c_psum_writes > 0
    c_base = p_base + (_align(M * N * 4, 4096) if spills else 0)
    end = c_base + _align(M * N, 64)

    fields = compile_layer(plan, a_base, b_base, c_base, "int8",
                           requant=_REQUANT,
                           cfg=cfg, p_base=p_base if spills else None, last=True)
    program = pack(fields, cfg)
    memory = bytearray(end)
    memory[prog_addr:prog_addr + len(program)] = program
    memory[a_base:a_base + M * K] = a.tobytes()
    memory[b_base:b_base + K * N] = b.tobytes()

    c = requant_ref(pw_conv_ref(a, b), _REQUANT.multiplier, _REQUANT.shift, _REQUANT.zero_point,
                    "relu", _REQUANT.relu6_max).astype(np.int8)
    check_bytes = _align(M * N, cfg.axi_bytes)
    expected = bytearray(check_bytes)
    expected[:M * N] = c.tobytes()

    steps = start_steps(prog_addr, 1) + (
        Step(ScriptOp.CHECK, Reg.ERROR, 0, note="no error"),
        Step(ScriptOp.CHECK, Reg.DRAM_READ_BYTES_LO, plan.read_bytes,
             note="DRAM bytes read = planner"),
        Step(ScriptOp.CHECK, Reg.DRAM_WRITE_BYTES_LO, plan.write_bytes,
             note="DRAM bytes written = planner"),
        Step(ScriptOp.CHECK, Reg.MACS_LO, M * K * N, note="MACs"),
    )
    t = plan.tiling
    return SelfTestImage(
        memory=bytes(memory), steps=steps, check_addr=c_base, check_bytes=check_bytes,
        checksum=checksum(bytes(expected), cfg.axi_data_bits),
        description=(f"GEMM {M}x{K}x{N} int8 -> int8 (ReLU), tiles {t.tm},{t.tn},{t.tk} "
                     f"{t.loop_order} {t.visit_order.name.lower()}, {plan.read_bytes} B read "
                     f"and {plan.write_bytes} B written as planned"))
