"""DRAM images: tensors and the tile program placed at byte addresses, ready to run.

The driver lays a program out in one flat DRAM image (a ``bytearray`` indexed by byte
address): the tile program first, then for every layer its weights B (``[K][N]`` int8), its
output C (int8 or int32, row-major ``[M][N]``) and, when the plan spills partial sums, an int32
scratch area P. The first layer's input A (``[M][K]`` int8, NHWC pixels x channels) is placed
too; a chained layer reads the previous layer's int8 C. Every region starts on ``align`` bytes
plus an optional ``skew`` (to exercise unaligned DMA), and the traffic the engine must report
is predicted from the same plans (:func:`predicted_bytes`).
"""

from dataclasses import dataclass, field

import numpy as np

from ..errors import InvalidOptionError
from ..hw.params import AccelConfig
from ..hw.program import LayerDescriptor, OutMode
from ..plan.buffer import ElementWidths
from ..plan.search import GemmPlan
from .descriptors import LayerSpec, ProgramImage, RequantFields, build_program, parse_out_mode

__all__ = ["LayerPlacement", "DramImage", "predicted_bytes", "gemm_image", "chain_image"]


def predicted_bytes(plan: GemmPlan, out_mode: OutMode) -> tuple[int, int]:
    """DRAM ``(read, write)`` bytes of ``plan`` on the engine: int8 A and B, int32 partial
    sums, C as ``out_mode`` stores it (1 or 4 bytes). Descriptor fetches are not included."""
    widths = ElementWidths(a=1, b=1, c=OutMode(out_mode).elem_bytes, psum=4)
    return plan.traffic.read_bytes(widths), plan.traffic.write_bytes(widths)


@dataclass(frozen=True)
class LayerPlacement:
    """Where one layer's tensors sit in the image (byte addresses) and how C is stored."""

    plan: GemmPlan
    out_mode: OutMode
    a_base: int
    b_base: int
    c_base: int
    p_base: int
    requant: "RequantFields | None" = None

    @property
    def c_elem_bytes(self) -> int:
        return self.out_mode.elem_bytes

    def read_c(self, mem: bytes) -> np.ndarray:
        """The layer's C tensor from ``mem``: int32 ``[M][N]`` (raw) or int8 (requantised)."""
        g = self.plan.gemm
        size = g.M * g.N * self.c_elem_bytes
        dtype = np.dtype("<i4") if self.out_mode is OutMode.RAW_INT32 else np.int8
        return np.frombuffer(bytes(mem[self.c_base:self.c_base + size]), dtype).reshape(g.M, g.N)

    @property
    def predicted(self) -> tuple[int, int]:
        return predicted_bytes(self.plan, self.out_mode)

    @property
    def written_ranges(self) -> list[tuple[int, int]]:
        """Byte ranges ``[start, end)`` the engine may write for this layer: C, and the int32
        partial-sum scratch P when the plan spills. Every other byte must stay as loaded."""
        g = self.plan.gemm
        ranges = [(self.c_base, self.c_base + g.M * g.N * self.c_elem_bytes)]
        if self.plan.traffic.c_psum_writes:
            ranges.append((self.p_base, self.p_base + g.M * g.N * 4))
        return ranges


@dataclass
class DramImage:
    """A runnable image: ``mem`` holds the program at ``prog_addr`` and every tensor."""

    mem: bytearray
    prog_addr: int
    prog_len: int
    program: ProgramImage
    layers: list[LayerPlacement] = field(default_factory=list)

    @property
    def predicted(self) -> tuple[int, int]:
        """Predicted DRAM ``(read, write)`` tensor bytes of the whole program."""
        reads, writes = zip(*(layer.predicted for layer in self.layers))
        return sum(reads), sum(writes)

    @property
    def macs(self) -> int:
        return sum(layer.plan.gemm.macs for layer in self.layers)


class _Allocator:
    def __init__(self, start: int, align: int, skew: int):
        self.next = start
        self.align = align
        self.skew = skew

    def take(self, size: int, *, word: bool = False) -> int:
        """A region of ``size`` bytes; int32 regions (``word``) keep 4-byte alignment."""
        base = -(-self.next // self.align) * self.align + (0 if word else self.skew)
        self.next = base + size
        return base


def _check_int8(name: str, array: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    array = np.asarray(array)
    if array.shape != shape:
        raise InvalidOptionError(f"{name} must have shape {shape}, not {array.shape}")
    if array.dtype != np.int8:
        raise InvalidOptionError(f"{name} must be int8, not {array.dtype}")
    return array


def chain_image(plans: list[GemmPlan], a: np.ndarray, weights: list[np.ndarray],
                out_modes: list, requants: list, cfg: AccelConfig = AccelConfig(), *,
                align: int = 64, skew: int = 0, slack: int = 64) -> DramImage:
    """An image for a chain of layers: layer ``i + 1`` reads layer ``i``'s int8 output.

    Parameters
    ----------
    plans : GemmPlans, one per layer (made for ``BufferModel.for_engine(cfg)``); ``plans[i+1].gemm.K ==
        plans[i].gemm.N`` and every layer has the same M.
    a : int8 ``[M][K]`` input of the first layer.
    weights : int8 ``[K][N]`` per layer.
    out_modes : ``OutMode`` (or ``"raw"``/``"int8"``) per layer; all but the last must be INT8.
    requants : ``RequantFields`` (INT8 layers) or ``None`` (raw) per layer.
    align, skew : every region starts at a multiple of ``align`` bytes plus ``skew`` (int32
        regions ignore ``skew``).
    slack : spare bytes at the end of the image (the DMA never touches them).
    """
    if not plans or not (len(plans) == len(weights) == len(out_modes) == len(requants)):
        raise InvalidOptionError("plans, weights, out_modes and requants need one entry per layer")
    modes = [parse_out_mode(mo) for mo in out_modes]
    for i, (prev, nxt) in enumerate(zip(plans, plans[1:])):
        if modes[i] is not OutMode.INT8:
            raise InvalidOptionError(f"layer {i} feeds layer {i + 1}, so its output must be INT8")
        if nxt.gemm.K != prev.gemm.N or nxt.gemm.M != prev.gemm.M:
            raise InvalidOptionError(f"layer {i + 1} ({nxt.gemm}) does not consume layer {i}'s "
                                     f"output ({prev.gemm})")
    size = LayerDescriptor(cfg).size_bytes
    alloc = _Allocator(0, align, skew)
    prog_addr = alloc.take(size * len(plans), word=True)
    g0 = plans[0].gemm
    a = _check_int8("A", a, (g0.M, g0.K))
    a_base = alloc.take(a.size)
    writes = [(a_base, a.tobytes())]
    placements, specs = [], []
    for plan, w, mode, rq in zip(plans, weights, modes, requants):
        g = plan.gemm
        w = _check_int8("B", w, (g.K, g.N))
        b_base = alloc.take(w.size)
        writes.append((b_base, w.tobytes()))
        c_base = alloc.take(g.M * g.N * mode.elem_bytes, word=mode is OutMode.RAW_INT32)
        p_base = alloc.take(g.M * g.N * 4, word=True) if plan.traffic.c_psum_writes else 0
        place = LayerPlacement(plan, mode, a_base, b_base, c_base, p_base, rq)
        placements.append(place)
        specs.append(LayerSpec(plan, a_base, b_base, c_base, mode, rq,
                               p_base=p_base if plan.traffic.c_psum_writes else None))
        a_base = c_base
    program = build_program(specs, cfg)
    mem = bytearray(alloc.next + slack)
    mem[prog_addr:prog_addr + len(program.data)] = program.data
    for base, blob in writes:
        mem[base:base + len(blob)] = blob
    return DramImage(mem, prog_addr, len(plans), program, placements)


def gemm_image(plan: GemmPlan, a: np.ndarray, b: np.ndarray, out_mode="raw",
               requant: "RequantFields | None" = None, cfg: AccelConfig = AccelConfig(),
               **kwargs) -> DramImage:
    """An image for one GEMM layer (see :func:`chain_image` for the keyword arguments)."""
    return chain_image([plan], a, [b], [out_mode], [requant], cfg, **kwargs)
