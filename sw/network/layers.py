"""Layers, blocks and networks: shapes only (batch 1, NHWC activations).

A :class:`Layer` carries everything the planner needs: kind, channels, kernel, stride,
padding, groups, and input/output spatial sizes. Blocks group layers the way the networks are
built (an inverted residual, a bottleneck), which is what fusion works on.
"""

import enum
from dataclasses import dataclass, field

from ..errors import InvalidShapeError

Pair = tuple[int, int]


class LayerKind(enum.Enum):
    """What a layer computes.

    ``CONV``: a standard (dense, kxk) convolution. ``POINTWISE``: a 1x1 convolution with one
    group (a GEMM). ``DEPTHWISE``: a convolution with one group per channel. ``FC``: a fully
    connected layer. ``POOL``: max or average pooling (no MACs; changes the spatial size).
    """

    CONV = "conv"
    POINTWISE = "pointwise"
    DEPTHWISE = "depthwise"
    FC = "fc"
    POOL = "pool"


def _pair(name: str, value: int | Pair) -> Pair:
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) for v in pair):
        raise InvalidShapeError(f"{name} must be an int or a pair of ints, not {value!r}")
    return pair


def conv_output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """Output length of a convolution along one axis: ``(size + 2p - k) // s + 1``."""
    return (size + 2 * padding - kernel) // stride + 1


@dataclass(frozen=True)
class Layer:
    """One layer, with input and output spatial sizes in pixels and channels in elements."""

    name: str
    kind: LayerKind
    cin: int
    cout: int
    kernel: Pair
    stride: Pair
    padding: Pair
    groups: int
    h_in: int
    w_in: int
    h_out: int
    w_out: int
    block: str | None = None

    def __post_init__(self):
        for attr in ("cin", "cout", "groups", "h_in", "w_in", "h_out", "w_out"):
            value = getattr(self, attr)
            if not isinstance(value, int) or value < 1:
                raise InvalidShapeError(f"layer {self.name}: {attr} must be a positive integer, not {value!r}")
        for attr in ("kernel", "stride"):
            if min(getattr(self, attr)) < 1:
                raise InvalidShapeError(f"layer {self.name}: {attr} must be positive, not {getattr(self, attr)}")
        if min(self.padding) < 0:
            raise InvalidShapeError(f"layer {self.name}: padding must be >= 0, not {self.padding}")
        if self.cin % self.groups or self.cout % self.groups:
            raise InvalidShapeError(
                f"layer {self.name}: groups={self.groups} must divide cin={self.cin} and cout={self.cout}")

    @property
    def macs(self) -> int:
        """Multiply-accumulates for one image (0 for pooling)."""
        if self.kind is LayerKind.POOL:
            return 0
        kh, kw = self.kernel
        return self.h_out * self.w_out * self.cout * (self.cin // self.groups) * kh * kw

    @property
    def is_pointwise(self) -> bool:
        return self.kind is LayerKind.POINTWISE

    def describe(self) -> str:
        kh, kw = self.kernel
        sh, sw = self.stride
        return (f"{self.kind.value} {kh}x{kw}/s{sh if sh == sw else f'{sh}x{sw}'} "
                f"{self.cin}->{self.cout} g{self.groups} {self.h_in}x{self.w_in}->{self.h_out}x{self.w_out}")


@dataclass(frozen=True)
class Block:
    """A named group of consecutive layers (e.g. an inverted residual or a bottleneck).

    ``residual`` says the block's input is added to its output (on chip when fused).
    """

    name: str
    kind: str
    layers: tuple[str, ...]
    residual: bool = False


@dataclass(frozen=True)
class Network:
    """A network for one 3-channel image: its layers in execution order and their blocks."""

    name: str
    input_hw: Pair
    layers: tuple[Layer, ...]
    blocks: tuple[Block, ...] = ()

    @property
    def macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    def pointwise_layers(self) -> list[Layer]:
        return [layer for layer in self.layers if layer.is_pointwise]

    def layer(self, name: str) -> Layer:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(name)

    def macs_by_kind(self) -> dict[LayerKind, int]:
        totals = {kind: 0 for kind in LayerKind}
        for layer in self.layers:
            totals[layer.kind] += layer.macs
        return totals


@dataclass
class NetworkBuilder:
    """Builds a :class:`Network` layer by layer, tracking the current activation shape."""

    name: str
    height: int
    width: int
    channels: int = 3
    _layers: list[Layer] = field(default_factory=list)
    _blocks: list[Block] = field(default_factory=list)
    _block: str | None = None
    _input_hw: Pair | None = None

    def __post_init__(self):
        self._input_hw = (self.height, self.width)

    def conv(self, name: str, cout: int, kernel: int | Pair = 1, stride: int | Pair = 1,
             padding: int | Pair = 0, groups: int = 1, kind: LayerKind | None = None) -> Layer:
        """Append a convolution reading the current activation; returns the layer."""
        kernel, stride, padding = _pair("kernel", kernel), _pair("stride", stride), _pair("padding", padding)
        if kind is None:
            if groups == self.channels and groups > 1 and cout == self.channels:
                kind = LayerKind.DEPTHWISE
            elif kernel == (1, 1) and groups == 1:
                kind = LayerKind.POINTWISE
            else:
                kind = LayerKind.CONV
        h_out = conv_output_size(self.height, kernel[0], stride[0], padding[0])
        w_out = conv_output_size(self.width, kernel[1], stride[1], padding[1])
        layer = Layer(name, kind, self.channels, cout, kernel, stride, padding, groups,
                      self.height, self.width, h_out, w_out, self._block)
        self._layers.append(layer)
        self.height, self.width, self.channels = h_out, w_out, cout
        return layer

    def depthwise(self, name: str, kernel: int | Pair = 3, stride: int | Pair = 1,
                  padding: int | Pair = 1) -> Layer:
        return self.conv(name, self.channels, kernel, stride, padding, groups=self.channels,
                         kind=LayerKind.DEPTHWISE)

    def pointwise(self, name: str, cout: int, stride: int = 1) -> Layer:
        return self.conv(name, cout, 1, stride, 0, kind=LayerKind.POINTWISE)

    def pool(self, name: str, kernel: int, stride: int, padding: int = 0) -> Layer:
        """Max/average pooling; ``kernel == 0`` means global pooling to 1x1."""
        if kernel == 0:
            kernel, stride, padding = self.height, 1, 0
        return self.conv(name, self.channels, kernel, stride, padding, groups=self.channels,
                         kind=LayerKind.POOL)

    def fc(self, name: str, cout: int) -> Layer:
        """Fully connected layer over the flattened activation (expects 1x1 spatial)."""
        layer = Layer(name, LayerKind.FC, self.channels * self.height * self.width, cout,
                      (1, 1), (1, 1), (0, 0), 1, 1, 1, 1, 1, self._block)
        self._layers.append(layer)
        self.height = self.width = 1
        self.channels = cout
        return layer

    def extend(self, layers) -> None:
        """Append layers built elsewhere; the first must read the current activation."""
        for layer in layers:
            if (layer.cin, layer.h_in, layer.w_in) != (self.channels, self.height, self.width):
                raise InvalidShapeError(
                    f"layer {layer.name} reads {layer.h_in}x{layer.w_in}x{layer.cin}, not the current "
                    f"{self.height}x{self.width}x{self.channels}")
            self._layers.append(layer)
            self.height, self.width, self.channels = layer.h_out, layer.w_out, layer.cout

    def begin_block(self, name: str) -> None:
        self._block = name
        self._block_start = len(self._layers)

    def end_block(self, kind: str, residual: bool = False) -> None:
        names = tuple(layer.name for layer in self._layers[self._block_start:])
        self._blocks.append(Block(self._block, kind, names, residual))
        self._block = None

    def build(self) -> Network:
        return Network(self.name, self._input_hw, tuple(self._layers), tuple(self._blocks))
