"""Driver of the fused-block engine: plan a block for the engine's buffers, compile it to a
:class:`~scanfuse.hw.fused_program.FusedDescriptor` and a DRAM image, and predict its DRAM
bytes from the same plan (``docs/tile-program.md``, "Fused-block descriptor").

* :class:`BlockShape` -- a block's geometry (from a planner group, :func:`block_shape`);
* :func:`plan_block` -- the engine schedule (``strip_rows``, ``chunk``) with the fewest DRAM
  bytes that fits the engine's memories (checked by the engine's own rules);
* :class:`BlockTraffic` -- the predicted DRAM read and write bytes of a schedule;
* :func:`compile_block` -- tensors + schedule -> descriptor fields, packed bits, DRAM image.

A CP chain ``1x1 -> 3x1 dw -> 1x3 dw -> 1x1`` (a CP-decomposed 3x3 convolution) is a
:class:`BlockShape` with ``cp``: its depthwise weights are two sets of words (``wd_base``,
``wd2_base``) and its four stages have four requant records.

The hidden tensors never reach DRAM, so the reads are X (once: each strip reads only the rows
the previous strip did not; the X buffer keeps the shared halo rows), the weights and biases (once when one chunk holds the whole hidden
dimension, else once per strip), and the writes are Y.
"""

from dataclasses import dataclass, field

import numpy as np

from ..errors import InvalidShapeError, ScanFuseError
from ..hw.depthwise import DwWeights, kernel_offset, run_rows
from ..hw.fused_program import (DW_WORD_BEATS, FUSED_RULE_TEXT, BlockConfig, BlockOrder,
                                FusedDescriptor, FusedError, Kernel, check_fused)
from ..plan.chain import FusedChain
from ..network.layers import LayerKind
from .descriptors import RequantFields

__all__ = ["IllegalBlockError", "BlockShape", "BlockSchedule", "BlockTraffic", "block_shape",
           "block_traffic", "plan_block", "BlockImage", "compile_block", "pack_dw_weights"]

_ALIGN = 64   # DRAM image regions start on 64-byte boundaries


class IllegalBlockError(ScanFuseError, ValueError):
    """A fused descriptor breaks a rule of the engine (``rule``), or a block cannot be planned
    for the engine's buffers (``rule`` None)."""

    def __init__(self, message: str, rule: "FusedError | None" = None):
        super().__init__(message)
        self.rule = rule


@dataclass(frozen=True)
class BlockShape:
    """A block ``X (H, W, cin) -> [expand] -> hidden -> depthwise (kernel, stride) -> cout``.

    With ``cp`` (a CP chain): ``kernel`` is (3, 1) and the depthwise part is a 3x1 of stride
    ``(stride[0], 1)`` then a 1x3 of stride ``(1, stride[1])``."""

    H: int
    W: int
    cin: int
    hidden: int
    cout: int
    stride: tuple[int, int] = (1, 1)
    kernel: tuple[int, int] = (3, 3)
    expand: bool = True
    residual: bool = False
    cp: bool = False

    def __post_init__(self):
        for name in ("H", "W", "cin", "hidden", "cout"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise InvalidShapeError(f"{name} must be a positive integer, not {v!r}")
        if tuple(self.stride) not in ((1, 1), (1, 2), (2, 1), (2, 2)):
            raise InvalidShapeError(f"stride must be 1 or 2 per axis, not {self.stride!r}")
        if tuple(self.kernel) not in ((3, 3), (3, 1), (1, 3)):
            raise InvalidShapeError(f"kernel must be 3x3, 3x1 or 1x3, not {self.kernel!r}")
        if self.cp and tuple(self.kernel) != (3, 1):
            raise InvalidShapeError(f"a CP chain's first depthwise kernel is 3x1, "
                                    f"not {self.kernel!r}")
        if not self.expand and self.cin != self.hidden:
            raise InvalidShapeError(f"a block without expand has hidden == cin, "
                                    f"not {self.hidden} != {self.cin}")

    @property
    def Ho(self) -> int:
        return (self.H - 1) // self.stride[0] + 1

    @property
    def Wo(self) -> int:
        return (self.W - 1) // self.stride[1] + 1


@dataclass(frozen=True)
class BlockSchedule:
    """The fused schedule the engine runs: strips of ``strip_rows`` output rows, hidden chunks
    of ``chunk`` channels, strips outer (:class:`BlockOrder`)."""

    strip_rows: int
    chunk: int
    order: BlockOrder = BlockOrder.STRIPS

    def strips(self, shape: BlockShape) -> int:
        return -(-shape.Ho // self.strip_rows)

    def chunks(self, shape: BlockShape) -> int:
        return shape.hidden // self.chunk


@dataclass(frozen=True)
class BlockTraffic:
    """Predicted DRAM payload bytes of one block (what the engine's DMA counters measure)."""

    x: int
    weights: int
    y: int

    @property
    def read_bytes(self) -> int:
        return self.x + self.weights

    @property
    def write_bytes(self) -> int:
        return self.y


def block_shape(chain: FusedChain) -> BlockShape:
    """The :class:`BlockShape` of a planner group ``[1x1] -> depthwise -> 1x1`` or of a CP
    chain ``[1x1] -> 3x1 (stride (sh, 1)) -> 1x3 (stride (1, sw)) -> 1x1``; raises
    :class:`IllegalBlockError` for the groups the engine does not run."""
    layers = list(chain.layers)
    expand = layers[0].kind is not LayerKind.DEPTHWISE
    dws = [l for l in layers if l.kind is LayerKind.DEPTHWISE]
    if len(dws) not in (1, 2) or len(layers) != 1 + len(dws) + expand:
        raise IllegalBlockError(f"{chain.name}: the block engine runs [1x1] -> one depthwise "
                                f"(or 3x1 -> 1x3) -> 1x1, not {len(dws)} depthwise stages")
    dw, first, last = dws[0], layers[0], layers[-1]
    stride, cp = tuple(dw.stride), len(dws) == 2
    if cp:
        v, h = dws
        if (tuple(v.kernel), tuple(h.kernel)) != ((3, 1), (1, 3)) or v.stride[1] != 1 \
                or h.stride[0] != 1 or tuple(v.padding) != (1, 0) \
                or tuple(h.padding) != (0, 1):
            raise IllegalBlockError(f"{chain.name}: two depthwise stages run as a CP chain "
                                    f"only as 3x1 (stride (s, 1), padding (1, 0)) then 1x3 "
                                    f"(stride (1, s), padding (0, 1))")
        stride = (v.stride[0], h.stride[1])
    return BlockShape(H=first.h_in, W=first.w_in, cin=first.cin, hidden=dw.cin,
                      cout=last.cout, stride=stride, kernel=tuple(dw.kernel),
                      expand=expand, residual=bool(chain.residual), cp=cp)


def block_traffic(shape: BlockShape, sched: BlockSchedule) -> BlockTraffic:
    """DRAM bytes of ``shape`` under ``sched``, as the engine moves them: each strip reads
    only its input rows the previous strip did not (the X buffer is a ring of rows, so the
    halo rows two strips share stay on chip): every X row once."""
    sh = shape.stride[0]
    strips = sched.strips(shape)
    x_rows, loaded = 0, 0          # rows read; rows 0 .. loaded - 1 have been on chip
    for s in range(strips):
        oy0 = s * sched.strip_rows
        oy1 = min(oy0 + sched.strip_rows, shape.Ho)
        first, count = run_rows(shape.H, sh, oy0, oy1)[:2]
        x_rows += first + count - max(first, loaded)     # the strip's rows not yet on chip
        loaded = first + count
    w = ((1 + shape.cp) * shape.hidden * DW_WORD_BEATS + shape.hidden * shape.cout
         + (shape.cin * shape.hidden + 4 * shape.hidden if shape.expand else 0))
    loads = 1 if sched.chunks(shape) == 1 else strips
    return BlockTraffic(x=x_rows * shape.W * shape.cin, weights=w * loads + 4 * shape.cout,
                        y=shape.Ho * shape.Wo * shape.cout)


def _fields(shape: BlockShape, sched: BlockSchedule, bases: dict, requants) -> dict:
    """Descriptor fields (a dict for ``FusedDescriptor(...).const``)."""
    kernel = {(3, 3): Kernel.K3X3, (3, 1): Kernel.K3X1, (1, 3): Kernel.K1X3}[tuple(shape.kernel)]
    f = {name: bases.get(name, 0) for name in ("x_base", "y_base", "w1_base", "b1_base",
                                                "wd_base", "w2_base", "b2_base", "wd2_base")}
    f |= {"H": shape.H, "W": shape.W, "Ho": shape.Ho, "Wo": shape.Wo, "cin": shape.cin,
          "hidden": shape.hidden, "cout": shape.cout, "strip_rows": sched.strip_rows,
          "strips": sched.strips(shape), "chunk": sched.chunk, "chunks": sched.chunks(shape),
          "kernel": kernel, "stride_h": shape.stride[0], "stride_w": shape.stride[1],
          "expand": int(shape.expand), "residual": int(shape.residual), "order": sched.order,
          "dw2": int(shape.cp)}
    for name, rq in zip(("rq_expand", "rq_dw", "rq_project", "rq_dw2"), requants):
        f[name] = {"multiplier": rq.multiplier, "shift": rq.shift, "zero_point": rq.zero_point,
                   "mode": rq.mode, "relu6_max": rq.relu6_max}
    return f


def check_block(fields: dict, bcfg: BlockConfig) -> None:
    """Raise :class:`IllegalBlockError` naming the first engine rule ``fields`` break."""
    err = check_fused(bcfg, fields)
    if err is not FusedError.NONE:
        raise IllegalBlockError(f"illegal fused descriptor: {err.name}: {FUSED_RULE_TEXT[err]}",
                                err)


#: The rules whose left side grows with ``strip_rows`` (buffers holding a strip's rows).
_GROWS_WITH_STRIP = frozenset({FusedError.X_OVERFLOW, FusedError.D_OVERFLOW,
                               FusedError.P_OVERFLOW})


def plan_block(shape: BlockShape, bcfg: BlockConfig = BlockConfig()) -> BlockSchedule:
    """The schedule with the fewest predicted DRAM bytes among those the engine's rules accept
    (ties: fewer strips, then larger chunks). Raises :class:`IllegalBlockError` when none fits."""
    lane = bcfg.lane
    best, best_key = None, None
    zero = RequantFields()
    for chunk in range(lane, shape.hidden + 1, lane):
        if shape.hidden % chunk:
            continue
        for tr in range(1, shape.Ho + 1):
            sched = BlockSchedule(tr, chunk)
            err = check_fused(bcfg, _fields(shape, sched, {}, (zero,) * 4))
            if err in _GROWS_WITH_STRIP:
                break               # taller strips break the same rule
            if err is not FusedError.NONE:
                continue
            t = block_traffic(shape, sched)
            key = (t.read_bytes + t.write_bytes, sched.strips(shape), -chunk)
            if best_key is None or key < best_key:
                best, best_key = sched, key
    if best is None:
        raise IllegalBlockError(f"no fused schedule of {shape} fits the block engine's buffers "
                                f"({bcfg.on_chip_bytes} bytes)")
    return best


def pack_dw_weights(wd: np.ndarray, bd: np.ndarray, lane: int) -> bytes:
    """Depthwise weights (C, kh, kw) int8 and biases (C,) int32 as the engine's weight words:
    one :class:`~scanfuse.hw.depthwise.DwWeights` per group of ``lane`` channels, packed with
    the hardware's layout (3x1 / 1x3 kernels placed by ``kernel_offset``)."""
    c, kh, kw = wd.shape
    r0, c0 = kernel_offset(kh, kw)
    layout = DwWeights(lane)
    out = bytearray()
    for g in range(c // lane):
        taps = [[0] * lane for _ in range(9)]
        for i in range(kh):
            for j in range(kw):
                for l in range(lane):
                    taps[(r0 + i) * 3 + (c0 + j)][l] = int(wd[g * lane + l, i, j])
        bias = [int(b) for b in bd[g * lane:(g + 1) * lane]]
        bits = layout.const({"taps": taps, "bias": bias}).as_bits()
        out += bits.to_bytes(layout.size // 8, "little")
    assert len(out) == (c // lane) * (layout.size // 8)
    return bytes(out)


@dataclass
class BlockImage:
    """A compiled block: descriptor fields and bits, the DRAM image, where Y goes, the
    prediction."""

    fields: dict
    desc_bits: int
    mem: bytearray
    y_addr: int
    y_shape: tuple[int, int, int]
    shape: BlockShape
    schedule: BlockSchedule
    traffic: BlockTraffic
    regions: dict = field(default_factory=dict)

    def read_y(self, mem: "bytearray | None" = None) -> np.ndarray:
        """Y (Ho, Wo, cout) int8 from ``mem`` (default: this image)."""
        mem = self.mem if mem is None else mem
        n = int(np.prod(self.y_shape))
        return np.frombuffer(bytes(mem[self.y_addr:self.y_addr + n]),
                             dtype=np.int8).reshape(self.y_shape)


def _i8(name, a, shape):
    a = np.asarray(a)
    if a.shape != shape:
        raise InvalidShapeError(f"{name} must have shape {shape}, not {a.shape}")
    if a.size and (a.min() < -128 or a.max() > 127):
        raise InvalidShapeError(f"{name} must hold int8 values")
    return a.astype(np.int8)


def _i32(name, a, shape):
    a = np.asarray(a)
    if a.shape != shape:
        raise InvalidShapeError(f"{name} must have shape {shape}, not {a.shape}")
    if a.size and (a.min() < -(1 << 31) or a.max() >= 1 << 31):
        raise InvalidShapeError(f"{name} must hold int32 values")
    return a.astype("<i4")


def compile_block(shape: BlockShape, x, w1, b1, wd, bd, w2, b2, requants,
                  bcfg: BlockConfig = BlockConfig(), schedule: "BlockSchedule | None" = None,
                  base: int = 0x1000, wd2=None, bd2=None) -> BlockImage:
    """Lay out one block in a DRAM image and build its descriptor.

    ``x`` (H, W, cin) int8; ``w1`` (cin, hidden) int8 and ``b1`` (hidden,) int32, or None
    without expand; ``wd`` (hidden, kh, kw) int8, ``bd`` (hidden,) int32; ``w2`` (hidden,
    cout) int8, ``b2`` (cout,) int32; ``requants``: three :class:`RequantFields` (expand,
    depthwise, project), a fourth (the 1x3 stage) for a CP chain, whose 1x3 weights are
    ``wd2`` (hidden, 1, 3) int8 and ``bd2`` (hidden,) int32. ``schedule`` defaults to :func:`plan_block`. Raises
    :class:`IllegalBlockError` (an engine rule) or :class:`InvalidShapeError`.
    """
    s = shape
    kh, kw = s.kernel
    x = _i8("x", x, (s.H, s.W, s.cin))
    wd = _i8("wd", wd, (s.hidden, kh, kw))
    bd = _i32("bd", bd, (s.hidden,))
    w2 = _i8("w2", w2, (s.hidden, s.cout))
    b2 = _i32("b2", b2, (s.cout,))
    if s.expand:
        w1 = _i8("w1", w1, (s.cin, s.hidden))
        b1 = _i32("b1", b1, (s.hidden,))
    if s.cp:
        wd2 = _i8("wd2", wd2, (s.hidden, 1, 3))
        bd2 = _i32("bd2", bd2, (s.hidden,))
    requants = tuple(requants)
    if len(requants) != 3 + s.cp or not all(isinstance(r, RequantFields) for r in requants):
        raise InvalidShapeError("requants must be RequantFields of expand, dw, project (and the "
                                "1x3 stage of a CP chain)")
    sched = schedule or plan_block(s, bcfg)
    lane = bcfg.lane
    if s.hidden % lane or s.cin % lane or s.cout % lane:
        raise IllegalBlockError(FUSED_RULE_TEXT[FusedError.BAD_CHANNELS], FusedError.BAD_CHANNELS)

    blobs = {"x_base": x.tobytes()}
    if s.expand:
        blobs |= {"w1_base": w1.tobytes(), "b1_base": b1.tobytes()}
    blobs |= {"wd_base": pack_dw_weights(wd, bd, lane), "w2_base": w2.tobytes(),
              "b2_base": b2.tobytes()}
    if s.cp:
        blobs["wd2_base"] = pack_dw_weights(wd2, bd2, lane)
    bases, addr = {}, base
    for name, blob in blobs.items():
        bases[name] = addr
        addr += -(-len(blob) // _ALIGN) * _ALIGN
    bases["y_base"] = addr
    y_bytes = s.Ho * s.Wo * s.cout
    end = addr + -(-y_bytes // _ALIGN) * _ALIGN + _ALIGN
    mem = bytearray(end)
    for name, blob in blobs.items():
        mem[bases[name]:bases[name] + len(blob)] = blob
    fields = _fields(s, sched, bases, requants)
    check_block(fields, bcfg)
    bits = FusedDescriptor(bcfg).pack(fields)
    regions = {k: (v, len(blobs[k])) for k, v in bases.items() if k in blobs}
    regions["y_base"] = (bases["y_base"], y_bytes)
    return BlockImage(fields, bits, mem, bases["y_base"], (s.Ho, s.Wo, s.cout), s, sched,
                      block_traffic(s, sched), regions)
