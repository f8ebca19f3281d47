"""Where tensors live in DRAM: byte addresses for every operand of a GEMM or a fused chain.

Every tensor is a 2-D array of ``rows`` rows, each ``row_bytes`` bytes long, row ``r``
starting at ``base + r*stride`` (``stride >= row_bytes``; dense when equal). Regions are
placed one after another, each base rounded up to ``align`` bytes (default 4 KiB, so a
tensor starts on a DRAM-page-friendly boundary and never shares a 64-byte burst with its
neighbour).

GEMM (:class:`GemmLayout`), activations NHWC so row ``m`` of A is output pixel ``m``'s input
channels:

``A``       ``M`` rows of ``K`` elements at ``widths.a`` bytes (row-major (m, k)).
``B``       ``K`` rows of ``N`` elements at ``widths.b`` (weights ``[Cin][Cout]``).
``C``       ``M`` rows of ``N`` elements at ``widths.c`` (final outputs).
``C.psum``  a separate region of the same shape at ``widths.psum`` for spilled partial sums.

Fused group (:class:`FusedLayout`; a chain shown, a pipeline has one ``W`` region per weight unit):

``X``       the chain input, one DRAM row per image row: ``H`` rows of ``W*Cin`` elements
            (NHWC, so an image row is contiguous).
``W``       the chain's weights as one record per hidden channel ``c``, records contiguous in
            channel order, so a chunk ``[c0, c1)`` is one contiguous byte range. Record ``c``
            holds, in order: the first 1x1 conv's column ``c`` (``Cin`` weights, absent when
            the chain has no first conv), each depthwise stage's ``kh*kw`` kernel of channel
            ``c`` (stage order, row-major), then the last 1x1 conv's row ``c`` (``Cout``
            weights): ``chain.weights_per_channel`` elements at ``widths.b``. (Biases and
            requantisation scales are not modelled: the planner does not count them.)
``Y``       the chain output, ``Ho`` rows of ``Wo*Cout`` elements at ``widths.c``.
``Y.psum``  same shape at ``widths.psum`` (only touched by schedules that spill).

Unfused depthwise, pooling and dense-conv layers (:class:`LayerLayout`), NHWC with one DRAM
row per pixel so a channel chunk of a run of image rows is one rectangle:

``X``       ``H*W`` rows of ``Cin`` elements at ``widths.a``.
``W``       one record per output channel: its ``kh*kw`` kernel (depthwise) or its
            ``Cin*kh*kw`` weights (dense conv) at ``widths.b``; absent for pooling.
``Y``       ``Ho*Wo`` rows of ``Cout`` elements at ``widths.c``.
"""

from dataclasses import dataclass

from ..network.layers import Layer, LayerKind
from ..plan.buffer import ElementWidths
from ..plan.gemm import Gemm


def align_up(value: int, align: int) -> int:
    """``value`` rounded up to a multiple of ``align`` (>= 1)."""
    return -(-value // align) * align


@dataclass(frozen=True)
class TensorPlacement:
    """A 2-D tensor in DRAM: row ``r`` occupies ``[base + r*stride, base + r*stride + row_bytes)``.

    ``elem_bytes`` converts element columns to bytes (column ``c`` starts at byte
    ``c*elem_bytes`` of its row).
    """

    name: str
    base: int
    rows: int
    row_bytes: int
    stride: int
    elem_bytes: int = 1

    def __post_init__(self):
        if self.base < 0 or self.rows < 1 or self.row_bytes < 1 or self.elem_bytes < 1:
            raise ValueError(f"bad placement {self}")
        if self.stride < self.row_bytes:
            raise ValueError(f"{self.name}: stride {self.stride} < row bytes {self.row_bytes}")
        if self.row_bytes % self.elem_bytes:
            raise ValueError(f"{self.name}: row bytes {self.row_bytes} not a multiple of {self.elem_bytes}")

    @property
    def cols(self) -> int:
        """Elements per row."""
        return self.row_bytes // self.elem_bytes

    @property
    def size(self) -> int:
        """Bytes from ``base`` to the end of the last row."""
        return (self.rows - 1) * self.stride + self.row_bytes

    @property
    def end(self) -> int:
        return self.base + self.size

    def addr(self, row: int, col: int = 0) -> int:
        """Byte address of element ``(row, col)``."""
        return self.base + row * self.stride + col * self.elem_bytes

    @classmethod
    def dense(cls, name: str, base: int, rows: int, cols: int, elem_bytes: int,
              row_align: int = 1) -> "TensorPlacement":
        """Row-major ``rows x cols`` elements; rows padded to ``row_align`` bytes."""
        row_bytes = cols * elem_bytes
        return cls(name, base, rows, row_bytes, align_up(row_bytes, row_align), elem_bytes)


class _Regions:
    """Allocates placements one after another, each base aligned."""

    def __init__(self, base: int, align: int, row_align: int):
        if align < 1 or row_align < 1:
            raise ValueError("alignments must be >= 1")
        self.next, self.align, self.row_align = base, align, row_align
        self.placed: dict[str, TensorPlacement] = {}

    def add(self, name: str, rows: int, cols: int, elem_bytes: int) -> TensorPlacement:
        p = TensorPlacement.dense(name, align_up(self.next, self.align), rows, cols, elem_bytes,
                                  self.row_align)
        self.next = p.base + rows * p.stride
        self.placed[name] = p
        return p


@dataclass(frozen=True)
class GemmLayout:
    """DRAM placement of a GEMM's A, B, C and C partial sums (see module docstring)."""

    gemm: Gemm
    widths: ElementWidths
    a: TensorPlacement
    b: TensorPlacement
    c: TensorPlacement
    psum: TensorPlacement

    @classmethod
    def dense(cls, gemm: Gemm, widths: ElementWidths | None = None, base: int = 0,
              align: int = 4096, row_align: int = 1) -> "GemmLayout":
        """A, B, C, C.psum in that order from ``base``; each region ``align``-aligned, rows
        padded to ``row_align`` bytes (1: fully dense)."""
        widths = widths or ElementWidths()
        r = _Regions(base, align, row_align)
        return cls(gemm, widths,
                   r.add("A", gemm.M, gemm.K, widths.a),
                   r.add("B", gemm.K, gemm.N, widths.b),
                   r.add("C", gemm.M, gemm.N, widths.c),
                   r.add("C.psum", gemm.M, gemm.N, widths.psum))

    def placement(self, operand: str, psum: bool = False) -> TensorPlacement:
        """The region of ``operand`` (``"A"``, ``"B"``, ``"C"``); ``psum`` selects C.psum."""
        if operand == "C" and psum:
            return self.psum
        return {"A": self.a, "B": self.b, "C": self.c}[operand]

    @property
    def placements(self) -> tuple[TensorPlacement, ...]:
        return self.a, self.b, self.c, self.psum

    @property
    def end(self) -> int:
        return max(p.end for p in self.placements)


@dataclass(frozen=True)
class FusedLayout:
    """DRAM placement of a fused group (a chain or a pipeline, :class:`scanfuse.plan.group.
    FusedGroup`): ``X`` (T_0 rows, NHWC), one weight region per weight unit (segments, then
    projections) named by its step operand (``W`` for a chain, ``W1``..``Wu`` for a pipeline),
    each as per-hidden-channel records (see the module docstring; a projection's record is
    its 1x1 conv's row ``c`` of ``Cout`` weights), ``Y`` (T_n rows), ``Y.psum`` for
    schedules that may spill partial sums (chains; pipelines never spill: ``psum`` None), and
    one region ``T{i}`` (rows, NHWC) per tapped tensor of a pipeline."""

    x: TensorPlacement
    weights: tuple[TensorPlacement, ...]
    y: TensorPlacement
    psum: TensorPlacement | None = None
    taps: tuple[TensorPlacement, ...] = ()

    @classmethod
    def dense(cls, group, widths: ElementWidths | None = None, base: int = 0,
              align: int = 4096, row_align: int = 1, psum: bool | None = None) -> "FusedLayout":
        """X, the weight regions, Y and (``psum``; default: for a one-segment group) Y.psum
        in that order from ``base``, each region ``align``-aligned."""
        widths = widths or ElementWidths()
        h, w, c = group.x_shape
        ho, wo, co = group.y_shape
        if psum is None:
            psum = len(group.segments) == 1
        r = _Regions(base, align, row_align)
        x = r.add("X", h, w * c, widths.a)
        ws = tuple(r.add(name, unit.hidden, unit.weights_per_channel, widths.b)
                   for name, unit in zip(group.weight_operands, group.weight_units))
        y = r.add("Y", ho, wo * co, widths.c)
        ps = r.add("Y.psum", ho, wo * co, widths.psum) if psum else None
        taps = []
        for i in getattr(group, "taps", ()):
            th, tw, tcn = group.tensor_shape(i)
            taps.append(r.add(f"T{i}", th, tw * tcn, widths.c))
        return cls(x, ws, y, ps, tuple(taps))

    @property
    def w(self) -> TensorPlacement:
        """The weight region of a one-unit group (a chain)."""
        if len(self.weights) != 1:
            raise ValueError(f"{len(self.weights)} weight regions; use .weights")
        return self.weights[0]

    def placement(self, tensor: str, psum: bool = False) -> TensorPlacement:
        if tensor == "Y" and psum:
            if self.psum is None:
                raise ValueError("this layout has no partial-sum region")
            return self.psum
        return {p.name: p for p in self.placements}[tensor]

    @property
    def placements(self) -> tuple[TensorPlacement, ...]:
        return tuple(p for p in (self.x, *self.weights, self.y, self.psum, *self.taps) if p is not None)

    @property
    def end(self) -> int:
        return max(p.end for p in self.placements)


@dataclass(frozen=True)
class LayerLayout:
    """DRAM placement of an unfused depthwise, pooling or dense-conv layer: ``X`` and ``Y``
    as pixel rows of channels, ``W`` per-output-channel records (None for pooling)."""

    layer: Layer
    x: TensorPlacement
    w: TensorPlacement | None
    y: TensorPlacement

    @classmethod
    def dense(cls, layer: Layer, widths: ElementWidths | None = None, base: int = 0,
              align: int = 4096, row_align: int = 1) -> "LayerLayout":
        """X, W, Y in that order from ``base``, each region ``align``-aligned."""
        widths = widths or ElementWidths()
        kh, kw = layer.kernel
        r = _Regions(base, align, row_align)
        x = r.add("X", layer.h_in * layer.w_in, layer.cin, widths.a)
        if layer.kind is LayerKind.POOL:
            w = None
        elif layer.kind is LayerKind.DEPTHWISE:
            w = r.add("W", layer.cout, kh * kw, widths.b)
        else:
            w = r.add("W", layer.cout, layer.cin * kh * kw, widths.b)
        return cls(layer, x, w, r.add("Y", layer.h_out * layer.w_out, layer.cout, widths.c))

    @property
    def placements(self) -> tuple[TensorPlacement, ...]:
        return tuple(p for p in (self.x, self.w, self.y) if p is not None)

    @property
    def end(self) -> int:
        return max(p.end for p in self.placements)
