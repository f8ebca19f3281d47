"""Numpy reference of a whole MobileNetV2 (issue 15's whole-network run): int8 image in, int8
logits out.

The reference is written apart from the path the engines take (no im2col, no GEMM images, no
tiling): the stem is a direct convolution over its nine taps, every inverted-residual block is
:func:`scanfuse.sim.fused_golden.fused_block_trace`, the head 1x1 and the classifier are
matrix products, and the pooling is the integer rule below. Numerics (issue 15's, for every
stage):

* activations and weights symmetric int8 (zero point 0 on every stage's input and output);
* ``acc = sum(x * w) + bias`` in int32 (wrapping like a 32-bit register), then
  ``requant_ref(acc, multiplier, shift, 0, mode, relu6_max)`` with the stage's
  :class:`~scanfuse.sim.fused_golden.RequantRecord`: ReLU6 after the stem, every expand, every
  depthwise and the head 1x1; none after a project 1x1 and after the classifier;
* residual blocks: ``y = clamp(requant(acc_project) + x, -128, 127)``;
* **biases**: every depthwise stage has seeded int32 biases; every 1x1 stage (stem, expand,
  project, head, classifier) has bias 0, because the GEMM engine
  (:class:`~scanfuse.hw.engine.Engine`) has no bias input and the unfused run must compute
  the same function on it (the block engine would take 1x1 biases; they are all zero here);
* **global average pooling** (on the host): ``p[c] = sign(s) * ((|s| + n // 2) // n)`` with
  ``s = sum over the n = H*W pixels of x[., ., c]``, i.e. the mean rounded to nearest, ties
  away from zero (7x7: ``n = 49``).

:func:`random_network` draws seeded int8 weights for a network of the zoo and calibrates every
requant record on the image itself (the multiplier maps the stage's accumulator spread to a
fixed int8 spread), so activations keep a spread through all 17 blocks instead of decaying to
zero or saturating; :func:`stage_spreads` measures it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .fused_golden import (Depthwise, FusedBlock, Pointwise, RequantRecord, depthwise_acc,
                           fused_block_trace, pointwise_acc)
from .golden import REQUANT_MULTIPLIER_MAX, wrap

__all__ = ["DenseConv", "NetworkParams", "NetworkTrace", "conv_acc", "avgpool_ref",
           "network_trace", "random_network", "calibrated_record", "stage_spreads"]

_I8 = (-128, 127)


@dataclass(frozen=True)
class DenseConv:
    """A dense convolution without bias: ``weights`` (kh, kw, Cin, Cout) int8, ``stride``,
    ``padding`` (rows/columns of zeros on each side)."""
    weights: np.ndarray
    stride: int
    padding: int
    requant: RequantRecord


@dataclass(frozen=True)
class NetworkParams:
    """Every tensor and record of a MobileNetV2-shaped network: stem, the blocks in order
    (with their names), head 1x1 (``Pointwise``), global average pooling, classifier
    (``Pointwise`` on the pooled vector)."""
    stem: DenseConv
    block_names: tuple
    blocks: tuple
    head: Pointwise
    classifier: Pointwise


@dataclass(frozen=True)
class NetworkTrace:
    """Every stage's int8 output for one image: ``stem`` (H, W, 32), ``blocks`` (per block,
    the int8 output of each of its stages; the last includes the residual), ``head``
    (H, W, 1280), ``pooled`` (1280,), ``logits`` (classes,)."""
    stem: np.ndarray
    blocks: tuple
    head: np.ndarray
    pooled: np.ndarray
    logits: np.ndarray

    def block_out(self, index: int) -> np.ndarray:
        return self.blocks[index][-1]


def conv_acc(x: np.ndarray, weights: np.ndarray, stride: int, padding: int) -> np.ndarray:
    """Dense convolution accumulators, int32 (Ho, Wo, Cout), summed tap by tap::

        acc[oy, ox, n] = sum_{i, j, c} xp[oy*s + i, ox*s + j, c] * weights[i, j, c, n]
    """
    x = np.asarray(x, dtype=np.int64)
    kh, kw, cin, cout = weights.shape
    if x.ndim != 3 or x.shape[2] != cin:
        raise ValueError(f"x must be (H, W, {cin}), not {x.shape}")
    xp = np.pad(x, ((padding, padding), (padding, padding), (0, 0)))
    ho = (x.shape[0] + 2 * padding - kh) // stride + 1
    wo = (x.shape[1] + 2 * padding - kw) // stride + 1
    acc = np.zeros((ho, wo, cout), dtype=np.int64)
    w = weights.astype(np.int64)
    for i in range(kh):
        for j in range(kw):
            window = xp[i:i + (ho - 1) * stride + 1:stride, j:j + (wo - 1) * stride + 1:stride]
            acc += np.tensordot(window, w[i, j], axes=([2], [0]))
    return wrap(acc)


def avgpool_ref(x: np.ndarray) -> np.ndarray:
    """Global average pooling of int8 (H, W, C) to int8 (C,): the mean of each channel rounded
    to nearest, ties away from zero, ``sign(s) * ((|s| + n // 2) // n)``, ``n = H * W``."""
    x = np.asarray(x, dtype=np.int64)
    n = x.shape[0] * x.shape[1]
    s = x.sum(axis=(0, 1))
    return (np.sign(s) * ((np.abs(s) + n // 2) // n)).astype(np.int8)


def network_trace(image: np.ndarray, params: NetworkParams) -> NetworkTrace:
    """Run the whole network on ``image`` (H, W, 3) int8; every stage's output."""
    image = np.asarray(image)
    if image.dtype != np.int8 or image.ndim != 3:
        raise ValueError(f"the image must be int8 (H, W, C), not {image.dtype} {image.shape}")
    stem = params.stem
    act = stem.requant.apply(conv_acc(image, stem.weights, stem.stride, stem.padding))
    stem_out, blocks = act, []
    for block in params.blocks:
        outs = tuple(r.out for r in fused_block_trace(act, block))
        blocks.append(outs)
        act = outs[-1]
    head = params.head.requant.apply(pointwise_acc(act, params.head.weights, params.head.bias))
    pooled = avgpool_ref(head)
    logits = params.classifier.requant.apply(
        pointwise_acc(pooled[None, None, :], params.classifier.weights,
                      params.classifier.bias))[0, 0]
    return NetworkTrace(stem_out, tuple(blocks), head, pooled, logits)


def calibrated_record(rng: np.random.Generator, acc: np.ndarray, mode: str,
                      target: float) -> RequantRecord:
    """A requant record whose scale maps the spread (standard deviation) of ``acc`` to about
    ``target`` int8 steps (times a seeded factor in 0.8..1.2); ReLU6 records get a seeded
    ``relu6_max`` in 64..127."""
    spread = max(float(np.std(np.asarray(acc, dtype=np.float64))), 1.0)
    scale = target / spread * float(rng.uniform(0.8, 1.2))
    for shift in range(40, -1, -1):
        multiplier = int(round(scale * 2 ** shift))
        if multiplier <= REQUANT_MULTIPLIER_MAX:
            break
    relu6_max = int(rng.integers(64, 128)) if mode == "relu6" else 127
    return RequantRecord(max(1, multiplier), shift, 0, mode, relu6_max)


def _i8(rng, *dims):
    return rng.integers(-128, 128, size=dims, dtype=np.int64)


def _pointwise(rng, x, cout, mode, target) -> tuple[Pointwise, np.ndarray]:
    """A calibrated 1x1 stage (bias 0) on input ``x`` and its int8 output."""
    w = _i8(rng, x.shape[2], cout)
    zero = np.zeros(cout, dtype=np.int64)
    acc = pointwise_acc(x, w, zero)
    stage = Pointwise(w, zero, calibrated_record(rng, acc, mode, target))
    return stage, stage.requant.apply(acc)


def _depthwise(rng, x, stride, target) -> tuple[Depthwise, np.ndarray]:
    """A calibrated 3x3 depthwise stage (seeded int32 biases, ReLU6) and its int8 output."""
    c = x.shape[2]
    w = _i8(rng, c, 3, 3)
    zero = np.zeros(c, dtype=np.int64)
    spread = max(float(np.std(depthwise_acc(x, w, zero, stride).astype(np.float64))), 1.0)
    bias = np.round(rng.normal(0.0, 0.3 * spread, size=c)).astype(np.int64)
    acc = depthwise_acc(x, w, bias, stride)
    stage = Depthwise(w, bias, stride, calibrated_record(rng, acc, "relu6", target))
    return stage, stage.requant.apply(acc)


def random_network(net, seed: int = 0) -> tuple[np.ndarray, NetworkParams]:
    """A seeded int8 image and network for ``net`` (a MobileNetV2 of the zoo, any resolution
    and class count: :func:`scanfuse.network.zoo.mobilenetv2`), every requant record
    calibrated on that image (module docstring). Targets: ReLU6 stages spread 48, project
    outputs 24 (so a residual sum rarely saturates), logits 40."""
    from ..network.layers import LayerKind
    from ..plan.fusion import thesis_groups

    rng = np.random.default_rng([seed, 0x5CA9F05E])
    stem_layer = net.layers[0]
    if stem_layer.kind is not LayerKind.CONV or stem_layer.cin != 3:
        raise ValueError(f"{net.name}: the whole-network run needs a 3-channel stem convolution")
    image = _i8(rng, net.layers[0].h_in, net.layers[0].w_in, 3).astype(np.int8)
    kh, kw = stem_layer.kernel
    w = _i8(rng, kh, kw, 3, stem_layer.cout)
    acc = conv_acc(image, w, stem_layer.stride[0], stem_layer.padding[0])
    stem = DenseConv(w, stem_layer.stride[0], stem_layer.padding[0],
                     calibrated_record(rng, acc, "relu6", 48))
    act = stem.requant.apply(acc)
    names, blocks = [], []
    for chain in thesis_groups(net):
        stages = []
        x = act
        layers = list(chain.layers)
        if layers[0].kind is not LayerKind.DEPTHWISE:
            st, act = _pointwise(rng, act, layers[0].cout, "relu6", 48)
            stages.append(st)
        dw = next(l for l in layers if l.kind is LayerKind.DEPTHWISE)
        st, act = _depthwise(rng, act, tuple(dw.stride), 48)
        stages.append(st)
        st, act = _pointwise(rng, act, layers[-1].cout, "none", 24)
        stages.append(st)
        block = FusedBlock(tuple(stages), residual=bool(chain.residual))
        if block.residual:
            act = np.clip(act.astype(np.int64) + x, *_I8).astype(np.int8)
        names.append(chain.name)
        blocks.append(block)
    head_layer = next(l for l in net.layers if l.name == "head.conv")
    head, act = _pointwise(rng, act, head_layer.cout, "relu6", 48)
    pooled = avgpool_ref(act)
    fc = next(l for l in net.layers if l.kind is LayerKind.FC)
    classifier, _ = _pointwise(rng, pooled[None, None, :], fc.cout, "none", 40)
    return image, NetworkParams(stem, tuple(names), tuple(blocks), head, classifier)


def stage_spreads(trace: NetworkTrace) -> dict:
    """Per stage: the number of distinct int8 values in its output, and the fractions of
    outputs at 0 and at -128/127 (a stage that collapsed to zero or saturated shows here)."""
    items = [("stem", trace.stem)]
    for i, outs in enumerate(trace.blocks):
        items += [(f"block{i}.stage{j}", o) for j, o in enumerate(outs)]
    items += [("head", trace.head), ("pooled", trace.pooled), ("logits", trace.logits)]
    out = {}
    for name, a in items:
        a = np.asarray(a)
        out[name] = {"distinct": int(len(np.unique(a))), "zero": float(np.mean(a == 0)),
                     "saturated": float(np.mean((a == -128) | (a == 127)))}
    return out
