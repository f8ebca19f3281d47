"""Numpy reference of a fused block: ``[1x1] -> depthwise+ -> 1x1 (+ residual)`` (issue 15).

A block is a list of stages (:class:`Pointwise`, :class:`Depthwise`) applied in order to one
NHWC int8 tensor, so MobileNetV2's inverted residual (expand 1x1 -> 3x3 depthwise -> project
1x1) and the CP chain of a decomposed ResNet-50 3x3 (1x1 -> 3x1 depthwise, stride (s, 1) ->
1x3 depthwise, stride (1, s) -> 1x1) are the same function. The numerics are the ones issue 15
fixes for the engine, so anyone can recompute a block's output from its tensors:

* activations and weights are symmetric int8: zero point 0 on every stage's input;
* a stage's accumulator is ``acc = sum(x * w) + bias`` in int32, wrapping modulo ``2**32``
  like the engine's 32-bit registers (:func:`scanfuse.sim.golden.wrap`);
* depthwise padding is ``(kh // 2, kw // 2)`` rows/columns of 0 on each side; output size
  ``Ho = (H + 2 * (kh // 2) - kh) // sh + 1`` (likewise ``Wo``);
* a stage's int8 output is ``requant_ref(acc, multiplier, shift, 0, mode, relu6_max)`` with
  the stage's :class:`RequantRecord` (ReLU6 after expand and depthwise, none after project in
  MobileNetV2; the record says which);
* residual: ``y = clamp(requant(acc_project) + x, -128, 127)``, ``x`` the block input.

Pure numpy; bit-exact with :class:`scanfuse.hw.depthwise.DepthwiseUnit` for the depthwise
accumulators (:func:`depthwise_acc`) and with the PE array for the pointwise ones.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Union

import numpy as np

from .golden import REQUANT_MULTIPLIER_MAX, REQUANT_SHIFT_MAX, _activation_name, requant_ref, wrap

__all__ = ["RequantRecord", "Pointwise", "Depthwise", "Stage", "StageResult", "FusedBlock",
           "pointwise_acc", "depthwise_acc", "depthwise_out_shape", "stage_acc",
           "fused_block_trace", "fused_block_ref"]

_I8 = (-128, 127)
_I32 = (-(1 << 31), (1 << 31) - 1)


def _int_array(name: str, value, ndim: int, bounds: tuple[int, int]) -> np.ndarray:
    """``value`` as an int64 array of ``ndim`` dimensions within ``bounds``, or ValueError."""
    a = np.asarray(value)
    if a.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, not shape {a.shape}")
    if a.size and not np.issubdtype(a.dtype, np.integer):
        raise ValueError(f"{name} must hold integers, not {a.dtype}")
    a = a.astype(np.int64)
    if a.size and (a.min() < bounds[0] or a.max() > bounds[1]):
        raise ValueError(f"{name} must hold values in {bounds[0]}..{bounds[1]}")
    return a


@dataclass(frozen=True)
class RequantRecord:
    """One stage's requantisation, with the field names of :func:`requant_ref`.

    ``zero_point`` must be 0: every stage's output is the next stage's input, and issue 15
    fixes the zero point of every stage input at 0 (symmetric int8).
    """
    multiplier: int
    shift: int
    zero_point: int = 0
    mode: str = "none"
    relu6_max: int = 127

    def __post_init__(self):
        if not 0 <= self.multiplier <= REQUANT_MULTIPLIER_MAX:
            raise ValueError(f"multiplier must be in 0..{REQUANT_MULTIPLIER_MAX}, "
                             f"not {self.multiplier!r}")
        if not 0 <= self.shift <= REQUANT_SHIFT_MAX:
            raise ValueError(f"shift must be in 0..{REQUANT_SHIFT_MAX}, not {self.shift!r}")
        if self.zero_point != 0:
            raise ValueError(f"zero_point must be 0 (symmetric int8), not {self.zero_point!r}")
        if not _I8[0] <= self.relu6_max <= _I8[1]:
            raise ValueError(f"relu6_max must be an int8 value, not {self.relu6_max!r}")
        object.__setattr__(self, "mode", _activation_name(self.mode))

    def apply(self, acc) -> np.ndarray:
        """int32 accumulators -> int8 (``requant_ref`` with this record's fields)."""
        return requant_ref(acc, **asdict(self))

    def as_dict(self) -> dict:
        """The record as ``requant_ref``'s keyword arguments (``params.json`` form)."""
        return asdict(self)


@dataclass(frozen=True)
class Pointwise:
    """A 1x1 convolution stage: ``weights`` (Cin, Cout) int8, ``bias`` (Cout,) int32."""
    weights: np.ndarray
    bias: np.ndarray
    requant: RequantRecord

    def __post_init__(self):
        w = _int_array("pointwise weights", self.weights, 2, _I8)
        b = _int_array("pointwise bias", self.bias, 1, _I32)
        if b.shape != (w.shape[1],):
            raise ValueError(f"pointwise bias must have shape ({w.shape[1]},), not {b.shape}")
        if not isinstance(self.requant, RequantRecord):
            raise TypeError(f"requant must be a RequantRecord, not {self.requant!r}")
        object.__setattr__(self, "weights", w)
        object.__setattr__(self, "bias", b)

    @property
    def channels_in(self) -> int:
        return self.weights.shape[0]

    @property
    def channels_out(self) -> int:
        return self.weights.shape[1]


@dataclass(frozen=True)
class Depthwise:
    """A depthwise stage: ``weights`` (C, kh, kw) int8, ``bias`` (C,) int32, ``stride``
    ``(sh, sw)``; padding ``(kh // 2, kw // 2)`` of zeros."""
    weights: np.ndarray
    bias: np.ndarray
    stride: tuple[int, int]
    requant: RequantRecord

    def __post_init__(self):
        w = _int_array("depthwise weights", self.weights, 3, _I8)
        b = _int_array("depthwise bias", self.bias, 1, _I32)
        if b.shape != (w.shape[0],):
            raise ValueError(f"depthwise bias must have shape ({w.shape[0]},), not {b.shape}")
        if min(w.shape[1:]) < 1:
            raise ValueError(f"depthwise kernel must be at least 1x1, not {w.shape[1:]}")
        stride = tuple(int(s) for s in self.stride)
        if len(stride) != 2 or min(stride) < 1:
            raise ValueError(f"stride must be two integers >= 1, not {self.stride!r}")
        if not isinstance(self.requant, RequantRecord):
            raise TypeError(f"requant must be a RequantRecord, not {self.requant!r}")
        object.__setattr__(self, "weights", w)
        object.__setattr__(self, "bias", b)
        object.__setattr__(self, "stride", stride)

    @property
    def kernel(self) -> tuple[int, int]:
        return self.weights.shape[1], self.weights.shape[2]

    @property
    def padding(self) -> tuple[int, int]:
        return self.weights.shape[1] // 2, self.weights.shape[2] // 2

    @property
    def channels_in(self) -> int:
        return self.weights.shape[0]

    channels_out = channels_in


Stage = Union[Pointwise, Depthwise]


@dataclass(frozen=True)
class StageResult:
    """One stage's int32 accumulators ``acc`` and its int8 output ``out`` (both NHWC)."""
    acc: np.ndarray
    out: np.ndarray


def _check_input(x) -> np.ndarray:
    return _int_array("x", x, 3, _I8)


def pointwise_acc(x, weights, bias) -> np.ndarray:
    """``acc[h, w, n] = wrap(sum_c x[h, w, c] * weights[c, n] + bias[n])``, int32 (H, W, Cout)."""
    x = _check_input(x)
    stage = Pointwise(weights, bias, RequantRecord(1, 0))
    if x.shape[2] != stage.channels_in:
        raise ValueError(f"x has {x.shape[2]} channels, the weights expect {stage.channels_in}")
    # int64 is exact for any realistic Cin (|sum| < Cin * 2**14 + 2**31), so one wrap at the
    # end equals wrapping after every step, as a 32-bit accumulator does.
    return wrap(np.tensordot(x, stage.weights, axes=([2], [0])) + stage.bias)


def depthwise_out_shape(h: int, w: int, kernel: tuple[int, int],
                        stride: tuple[int, int]) -> tuple[int, int]:
    """Output rows and columns of a depthwise stage with padding ``(kh // 2, kw // 2)``."""
    (kh, kw), (sh, sw) = kernel, stride
    ho = (h + 2 * (kh // 2) - kh) // sh + 1
    wo = (w + 2 * (kw // 2) - kw) // sw + 1
    if ho < 1 or wo < 1:
        raise ValueError(f"a {kh}x{kw} kernel does not fit a {h}x{w} input")
    return ho, wo


def depthwise_acc(x, weights, bias, stride=(1, 1)) -> np.ndarray:
    """Depthwise accumulators, int32 (Ho, Wo, C)::

        acc[oy, ox, c] = wrap(bias[c] + sum_{i, j} xp[oy*sh + i, ox*sw + j, c] * weights[c, i, j])

    ``xp`` is ``x`` padded with ``kh // 2`` rows and ``kw // 2`` columns of zeros on each side.
    """
    x = _check_input(x)
    stage = Depthwise(weights, bias, stride, RequantRecord(1, 0))
    if x.shape[2] != stage.channels_in:
        raise ValueError(f"x has {x.shape[2]} channels, the weights expect {stage.channels_in}")
    (kh, kw), (ph, pw), (sh, sw) = stage.kernel, stage.padding, stage.stride
    ho, wo = depthwise_out_shape(x.shape[0], x.shape[1], stage.kernel, stage.stride)
    xp = np.pad(x, ((ph, ph), (pw, pw), (0, 0)))
    acc = np.broadcast_to(stage.bias, (ho, wo, x.shape[2])).copy()
    for i in range(kh):
        for j in range(kw):
            window = xp[i:i + (ho - 1) * sh + 1:sh, j:j + (wo - 1) * sw + 1:sw, :]
            acc += window * stage.weights[:, i, j]
    return wrap(acc)


def stage_acc(x, stage: Stage) -> np.ndarray:
    """A stage's int32 accumulators for input ``x`` (H, W, C)."""
    if isinstance(stage, Pointwise):
        return pointwise_acc(x, stage.weights, stage.bias)
    if isinstance(stage, Depthwise):
        return depthwise_acc(x, stage.weights, stage.bias, stage.stride)
    raise TypeError(f"a stage is a Pointwise or a Depthwise, not {stage!r}")


@dataclass(frozen=True)
class FusedBlock:
    """A fusable chain ``[1x1] -> depthwise+ -> 1x1`` (``docs/fusion.md``) and its residual flag.

    Raises ValueError unless the stages have that structure and their channels chain; a
    residual block also needs ``Cout == Cin`` and stride 1 in every depthwise stage, so that
    the output has the input's shape.
    """
    stages: tuple
    residual: bool = False

    def __post_init__(self):
        stages = tuple(self.stages)
        object.__setattr__(self, "stages", stages)
        for s in stages:
            if not isinstance(s, (Pointwise, Depthwise)):
                raise TypeError(f"a stage is a Pointwise or a Depthwise, not {s!r}")
        kinds = "".join("p" if isinstance(s, Pointwise) else "d" for s in stages)
        core = kinds[1:] if kinds.startswith("p") else kinds
        if len(core) < 2 or not core.endswith("p") or set(core[:-1]) != {"d"}:
            raise ValueError("a fused block is [1x1] -> depthwise+ -> 1x1, not "
                             + " -> ".join("1x1" if k == "p" else "dw" for k in kinds))
        for n, (a, b) in enumerate(zip(stages, stages[1:])):
            if a.channels_out != b.channels_in:
                raise ValueError(f"stage {n} gives {a.channels_out} channels, "
                                 f"stage {n + 1} takes {b.channels_in}")
        if self.residual:
            if stages[-1].channels_out != stages[0].channels_in:
                raise ValueError(f"a residual block needs Cout == Cin, not "
                                 f"{stages[-1].channels_out} != {stages[0].channels_in}")
            if any(isinstance(s, Depthwise) and s.stride != (1, 1) for s in stages):
                raise ValueError("a residual block needs stride 1 in every depthwise stage")

    @property
    def channels_in(self) -> int:
        return self.stages[0].channels_in


def fused_block_trace(x, block: FusedBlock) -> list[StageResult]:
    """Every stage's accumulators and int8 output; the last ``out`` is the block's output
    (with the residual added when ``block.residual``)."""
    if not isinstance(block, FusedBlock):
        raise TypeError(f"block must be a FusedBlock, not {block!r}")
    x = _check_input(x)
    if x.shape[2] != block.channels_in:
        raise ValueError(f"x has {x.shape[2]} channels, the block expects {block.channels_in}")
    results, act = [], x
    for stage in block.stages:
        acc = stage_acc(act, stage)
        act = stage.requant.apply(acc)
        results.append(StageResult(acc, act))
    if block.residual:
        y = np.clip(act.astype(np.int64) + x, *_I8).astype(np.int8)
        results[-1] = StageResult(results[-1].acc, y)
    return results


def fused_block_ref(x, block: FusedBlock) -> np.ndarray:
    """The block's int8 output (Ho, Wo, Cout) for input ``x`` (H, W, Cin) int8."""
    return fused_block_trace(x, block)[-1].out
