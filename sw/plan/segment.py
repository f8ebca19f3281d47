"""The one fused structure, ``[1x1] -> depthwise* -> 1x1``, held by chains and pipelines.

A :class:`Segment` is a run of layers fused on chip: an optional first conv (Cin -> hidden:
a 1x1, or a dense kxk conv such as a network's stem, which then adds its own vertical stage),
depthwise stages (3x3, or kx1 then 1xk after CP decomposition) and a last 1x1 conv
(hidden -> Cout), chunked over the hidden channels. Its geometry (hidden channels, weights per
channel, the vertical stages and their row back-projection) is written once, here.
"""

from dataclasses import dataclass
from functools import cached_property

from ..errors import ScanFuseError
from ..network.layers import Layer, LayerKind
from .geometry import VerticalStage

__all__ = ["NotFusableError", "Segment", "PER_CHANNEL"]

#: Stages that work channel by channel (a chunk of hidden channels needs only its own).
PER_CHANNEL = (LayerKind.DEPTHWISE, LayerKind.POOL)


class NotFusableError(ScanFuseError):
    """The layers do not form a fusable pointwise -> depthwise -> pointwise structure."""


@dataclass(frozen=True)
class Segment:
    """The one fused structure: ``[1x1] -> depthwise* -> 1x1`` (stride-1 1x1 convs), chunked
    over its hidden channels (the last 1x1's input channels).

    A pipeline runs several back to back (:class:`~scanfuse.plan.pipeline.FusedPipeline`); a
    thesis-style chain (:class:`~scanfuse.plan.chain.FusedChain`) is one with at least one
    depthwise stage, plus a name and an optional residual add.
    """

    layers: tuple[Layer, ...]

    def __post_init__(self):
        kinds = [l.kind for l in self.layers]
        if not kinds or not (kinds[-1] is LayerKind.POINTWISE
                             or (kinds[-1] in PER_CHANNEL and len(kinds) >= 2 and self.has_first)):
            raise NotFusableError("a segment ends with a 1x1 conv, or with a depthwise or pooling "
                                  "stage after its first conv")
        if kinds[0] is LayerKind.CONV and (len(kinds) < 2 or self.layers[0].groups != 1):
            raise NotFusableError("a dense conv starts a segment only before depthwise* -> 1x1")
        middle = kinds[1 if self.has_first else 0:-1]
        if any(k not in PER_CHANNEL for k in middle):
            raise NotFusableError("a segment is [1x1 or dense conv] -> depthwise* -> 1x1")
        for l in self.layers:
            if l.is_pointwise and l.stride != (1, 1):
                raise NotFusableError(f"strided 1x1 conv {l.name} is not fused")
        for a, b in zip(self.layers, self.layers[1:]):
            if (a.cout, a.h_out, a.w_out) != (b.cin, b.h_in, b.w_in):
                raise NotFusableError(f"{a.name} does not feed {b.name}")

    @cached_property
    def has_first(self) -> bool:
        """Whether the segment starts with its own conv (a 1x1 or a dense conv) before the
        depthwise stages."""
        return len(self.layers) >= 2 and self.layers[0].kind in (LayerKind.POINTWISE, LayerKind.CONV)

    @cached_property
    def depthwise(self) -> tuple[Layer, ...]:
        """The per-channel stages (depthwise convs and pooling), input first."""
        return tuple(l for l in self.layers if l.kind in PER_CHANNEL)

    @cached_property
    def ends_per_channel(self) -> bool:
        """Whether the last layer is a per-channel stage (no 1x1 after it): each chunk then
        completes its own channels of the output rather than accumulating into all."""
        return self.layers[-1].kind in PER_CHANNEL

    @cached_property
    def hidden(self) -> int:
        """Channels chunked: the last 1x1's input channels."""
        return self.layers[-1].cin

    @cached_property
    def weights_per_channel(self) -> int:
        """Weight elements per hidden channel over all layers."""
        f = self.layers[0]
        first = f.cin * f.kernel[0] * f.kernel[1] if self.has_first else 0
        per_channel = sum(d.kernel[0] * d.kernel[1] for d in self.depthwise if d.kind is LayerKind.DEPTHWISE)
        return first + per_channel + (0 if self.ends_per_channel else self.layers[-1].cout)

    @cached_property
    def weights(self) -> int:
        return self.hidden * self.weights_per_channel

    @property
    def temporaries(self) -> list[Layer]:
        """Layers whose outputs are per-chunk temporaries (all but the last)."""
        return list(self.layers[:-1])

    @cached_property
    def vertical(self) -> list[VerticalStage]:
        """The stages that reach across rows, input first: a dense first conv, then every
        depthwise or pooling stage (a 1x1 maps rows one to one)."""
        spatial = [l for l in self.layers if l.kind in PER_CHANNEL or l.kind is LayerKind.CONV]
        return [VerticalStage(d.kernel[0], d.stride[0], d.padding[0], d.h_in, d.h_out) for d in spatial]

    def input_rows(self, lo, hi):
        """Input rows the depthwise stages need for output rows ``[lo, hi)``."""
        for stage in reversed(self.vertical):
            lo, hi = stage.input_range(lo, hi)
        return lo, hi

    def output_stage(self, i: int) -> int:
        """Index of layer ``i``'s output rows in the back-projected ranges ``[input rows, then
        each vertical stage's output]`` (a 1x1 keeps the rows of its input)."""
        return sum(1 for l in self.layers[:i + 1] if l.kind in PER_CHANNEL or l.kind is LayerKind.CONV)

    def temp_rows(self, lo, hi) -> list:
        """Row ranges of each temporary for output rows [lo, hi) (first layer first)."""
        ranges, cur = [], (lo, hi)
        for stage in reversed(self.vertical):
            ranges.append(cur)
            cur = stage.input_range(*cur)
        ranges.append(cur)              # the segment input rows
        ranges = ranges[::-1]           # [input rows, each vertical stage's output rows]
        return [ranges[self.output_stage(i)] for i in range(len(self.layers) - 1)]
