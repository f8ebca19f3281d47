"""A whole MobileNetV2 as the engines and the host run it (issue 15's whole-network run).

:func:`network_stages` turns a network of the zoo into the ordered list of
:class:`NetStage` records a run executes, in one of two forms:

* **fused**: ``stem.im2col`` (host) -> ``stem+b0`` (block engine: the stem fused into the
  first block as its expand stage, below) -> every other inverted-residual block on the block
  engine -> ``head.conv`` (GEMM engine) -> ``head.pool`` (host, global average) ->
  ``head.fc`` (GEMM engine, ``M = 1``);
* **unfused** (the same network on the same engines, layer by layer): ``stem.im2col``
  (host, the ``(Ho*Wo, 27)`` matrix) -> ``stem`` (GEMM engine, ``M = Ho*Wo``, ``K = 27``,
  ``N = 32``), the head as above; per block, the expand 1x1 alone on the GEMM engine, the
  depthwise layer alone **on the host** (no engine runs a lone depthwise layer: the block
  engine always ends in a project 1x1), the project 1x1 alone on the GEMM engine, and the
  residual add on the host.

**The stem fused into b0.** The stem (a dense 3x3 stride-2 convolution 3 -> 32, ReLU6) is a
1x1 GEMM over its im2col matrix, i.e. a 1x1 convolution over a ``Ho x Wo`` image of
``kh*kw*C = 27`` channels; b0 has no expand (depthwise 3x3 over the stem's 32 channels, then
project). So ``stem+b0`` is one block of the block engine: expand = the stem (im2col
channels -> 32, the stem's requant record, bias 0), depthwise = b0's, project = b0's, and
the stem's ``Ho x Wo x 32`` output never reaches DRAM. The engine takes ``cin`` only as a
multiple of its lane (:data:`~scanfuse.hw.fused_program.FusedError` ``BAD_CHANNELS``), so
the host writes the im2col matrix padded with zero columns to :func:`stem_channels` (27 ->
32 for lane 8: the smallest legal width; the expand weights get as many zero rows), and the
padding's bytes are counted (written by the host stage, read by the block). A network
whose first block has an expand or a residual keeps the stem on the GEMM engine.

Host stages are counted at their **compulsory DRAM bytes** (every tensor they touch read or
written exactly once, :meth:`NetStage.host_bytes`): im2col reads the image and writes the
``(Ho*Wo, kh*kw*C)`` matrix; pooling reads ``H*W*C`` and writes ``C``; a host depthwise layer
reads its input, its int8 weights and int32 biases, and writes its output; a residual add
reads both operands and writes the sum. For the unfused run this can only understate its
total (a real host or engine moves at least that), so a fused saving measured against it is
conservative.

The host functions the driver runs are here too: :func:`im2col` (the stem's GEMM or
expand input, columns in ``(ky, kx, c)`` order then zero columns, matching
:func:`im2col_weights`) and :func:`avgpool` (the integer mean, ties away from zero,
documented in :mod:`scanfuse.sim.network_golden`).
"""

from dataclasses import dataclass, replace

import numpy as np

from ..errors import InvalidOptionError
from ..hw.fused_program import BlockConfig
from ..network.layers import LayerKind, Network
from ..plan.fusion import thesis_groups
from ..plan.gemm import Gemm
from .fused_block import BlockShape, block_shape

__all__ = ["NetStage", "network_stages", "im2col", "im2col_weights", "avgpool", "HOST_OPS",
           "STEM_BLOCK", "stem_channels"]

#: Name of the fused run's stage that runs the stem as the first block's expand.
STEM_BLOCK = "stem+b0"
#: The block engine's lane (channels per depthwise word and PE column block) when none is
#: given: that of the default :class:`~scanfuse.hw.fused_program.BlockConfig`.
DEFAULT_LANE = BlockConfig().lane

#: Operations a stage performs; the ones the host runs.
HOST_OPS = ("im2col", "avgpool", "depthwise", "add")
_ENGINE_OPS = {"gemm": "rtl-gemm", "block": "rtl-block"}


@dataclass(frozen=True)
class NetStage:
    """One stage of a whole-network run.

    Attributes
    ----------
    name : the stage's name (``stem``, ``b3``, ``b3.expand``, ``b3.dw``, ``b3.add``, ...).
    op : ``gemm`` (GEMM engine), ``block`` (block engine), or a host op of :data:`HOST_OPS`.
    in_shape, out_shape : ``(H, W, C)`` of the stage's int8 input and output.
    gemm : the GEMM (``gemm`` stages).
    block : index of the network's block, ``block_shape`` its :class:`BlockShape` (``block``
        stages, and the per-layer stages of a block in the unfused run).
    activation : ``relu6`` or ``none`` (GEMM and depthwise stages).
    kernel, stride : of ``depthwise`` and ``im2col`` stages.
    with_stem : a ``block`` stage whose expand is the network's stem (:data:`STEM_BLOCK`): its
        input is the stem's im2col matrix as an ``(Ho, Wo, stem_channels)`` image.
    """
    name: str
    op: str
    in_shape: tuple
    out_shape: tuple
    gemm: "Gemm | None" = None
    block: "int | None" = None
    block_shape: "BlockShape | None" = None
    activation: str = "none"
    kernel: tuple = (1, 1)
    stride: tuple = (1, 1)
    with_stem: bool = False

    @property
    def where(self) -> str:
        """``rtl-gemm``, ``rtl-block`` or ``host``."""
        return _ENGINE_OPS.get(self.op, "host")

    def host_bytes(self) -> tuple[int, int]:
        """Compulsory DRAM ``(read, write)`` bytes of a host stage (module docstring)."""
        h, w, c = self.in_shape
        n_in, n_out = h * w * c, int(np.prod(self.out_shape))
        if self.op == "im2col" or self.op == "avgpool":
            return n_in, n_out
        if self.op == "depthwise":
            kh, kw = self.kernel
            return n_in + c * kh * kw + 4 * c, n_out
        if self.op == "add":
            return 2 * n_in, n_out
        raise ValueError(f"{self.name} runs on an engine, not on the host")


def _layer(net: Network, name: str):
    try:
        return net.layer(name)
    except Exception:
        raise InvalidOptionError(f"{net.name} has no layer {name!r}: the whole-network run "
                                 f"takes a MobileNetV2 (stem, blocks, head.conv, head.pool, "
                                 f"head.fc)") from None


def stem_channels(stem_k: int, lane: int = DEFAULT_LANE) -> int:
    """Columns of the stem's im2col matrix as the block engine reads it: ``stem_k``
    (``kh*kw*C``, 27 for MobileNetV2) rounded up to a multiple of ``lane`` (the engine's
    smallest legal ``cin``; the rest are zero columns)."""
    return -(-stem_k // lane) * lane


def network_stages(net: Network, fused: bool = True,
                   lane: int = DEFAULT_LANE) -> list[NetStage]:
    """The stages of ``net`` (a MobileNetV2 of :func:`scanfuse.network.zoo.mobilenetv2`, any
    resolution) in run order, fused or unfused (module docstring); ``lane`` is the block
    engine's (the fused stem's padded width). Raises :class:`InvalidOptionError` for a
    network of another structure."""
    stem = _layer(net, "stem")
    head, pool, fc = (_layer(net, n) for n in ("head.conv", "head.pool", "head.fc"))
    if (stem.kind is not LayerKind.CONV or stem.kernel[0] != stem.kernel[1]
            or head.kind is not LayerKind.POINTWISE or pool.kind is not LayerKind.POOL
            or fc.kind is not LayerKind.FC or (pool.h_out, pool.w_out) != (1, 1)):
        raise InvalidOptionError(f"{net.name}: the whole-network run takes a MobileNetV2 "
                                 f"(3x3 stem, blocks, 1x1 head, global pooling, classifier)")
    kh, kw = stem.kernel
    stem_k = kh * kw * stem.cin
    chains = list(thesis_groups(net))
    first = block_shape(chains[0]) if chains else None
    fuse_stem = (fused and first is not None and not first.expand and not first.residual
                 and (first.H, first.W, first.cin) == (stem.h_out, stem.w_out, stem.cout))
    if fuse_stem:
        cols = stem_channels(stem_k, lane)
        stages = [NetStage("stem.im2col", "im2col", (stem.h_in, stem.w_in, stem.cin),
                           (stem.h_out, stem.w_out, cols), kernel=(kh, kw),
                           stride=tuple(stem.stride))]
    else:
        stages = [
            NetStage("stem.im2col", "im2col", (stem.h_in, stem.w_in, stem.cin),
                     (stem.h_out * stem.w_out, 1, stem_k),
                     kernel=(kh, kw), stride=tuple(stem.stride)),
            NetStage("stem", "gemm", (stem.h_out * stem.w_out, 1, stem_k),
                     (stem.h_out, stem.w_out, stem.cout),
                     gemm=Gemm(stem.h_out * stem.w_out, stem_k, stem.cout),
                     activation="relu6"),
        ]
    covered = {stem.name, head.name, pool.name, fc.name}
    for index, chain in enumerate(chains):
        shape = block_shape(chain)
        covered |= {layer.name for layer in chain.layers}
        if fuse_stem and index == 0:
            fused_shape = replace(shape, cin=cols, expand=True)
            stages.append(NetStage(STEM_BLOCK, "block", (shape.H, shape.W, cols),
                                   (shape.Ho, shape.Wo, shape.cout), block=index,
                                   block_shape=fused_shape, with_stem=True))
            continue
        x_shape = (shape.H, shape.W, shape.cin)
        hid = (shape.H, shape.W, shape.hidden)
        dw_out = (shape.Ho, shape.Wo, shape.hidden)
        y_shape = (shape.Ho, shape.Wo, shape.cout)
        common = {"block": index, "block_shape": shape}
        if fused:
            stages.append(NetStage(chain.name, "block", x_shape, y_shape, **common))
            continue
        first, dw, last = chain.layers[0], chain.layers[-2], chain.layers[-1]
        if shape.expand:
            stages.append(NetStage(first.name, "gemm", x_shape, hid,
                                   gemm=Gemm(shape.H * shape.W, shape.cin, shape.hidden),
                                   activation="relu6", **common))
        stages.append(NetStage(dw.name, "depthwise", hid, dw_out, activation="relu6",
                               kernel=tuple(dw.kernel), stride=tuple(dw.stride), **common))
        stages.append(NetStage(last.name, "gemm", dw_out, y_shape,
                               gemm=Gemm(shape.Ho * shape.Wo, shape.hidden, shape.cout),
                               **common))
        if shape.residual:
            stages.append(NetStage(f"{chain.name}.add", "add", y_shape, y_shape, **common))
    missing = [layer.name for layer in net.layers if layer.name not in covered]
    if missing:
        raise InvalidOptionError(f"{net.name}: the whole-network run cannot place layers "
                                 f"{', '.join(missing[:4])}")
    stages += [
        NetStage(head.name, "gemm", (head.h_in, head.w_in, head.cin),
                 (head.h_out, head.w_out, head.cout),
                 gemm=Gemm(head.h_out * head.w_out, head.cin, head.cout), activation="relu6"),
        NetStage(pool.name, "avgpool", (pool.h_in, pool.w_in, pool.cin), (1, 1, pool.cout)),
        NetStage(fc.name, "gemm", (1, 1, fc.cin), (1, 1, fc.cout), gemm=Gemm(1, fc.cin, fc.cout)),
    ]
    return stages


def im2col(x: np.ndarray, kernel: tuple, stride: tuple, padding: tuple,
           columns: "int | None" = None) -> np.ndarray:
    """The GEMM input of a dense convolution: int8 (Ho*Wo, kh*kw*C), row ``oy*Wo + ox`` holding
    the padded input window of output pixel ``(oy, ox)`` in ``(ky, kx, c)`` order (zeros
    outside the image); with ``columns`` (>= kh*kw*C), that many columns, the last ones
    zero (the fused stem's block input, :func:`stem_channels`)."""
    x = np.asarray(x)
    if x.ndim != 3 or x.dtype != np.int8:
        raise InvalidOptionError(f"im2col takes an int8 (H, W, C) tensor, not {x.dtype} "
                                 f"{x.shape}")
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    h, w, c = x.shape
    ho, wo = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    xp = np.pad(x, ((ph, ph), (pw, pw), (0, 0)))
    cols = np.empty((ho, wo, kh, kw, c), dtype=np.int8)
    for i in range(kh):
        for j in range(kw):
            cols[:, :, i, j, :] = xp[i:i + (ho - 1) * sh + 1:sh, j:j + (wo - 1) * sw + 1:sw]
    cols = cols.reshape(ho * wo, kh * kw * c)
    return cols if columns is None else _pad_to(cols, 1, columns, "columns")


def _pad_to(a: np.ndarray, axis: int, size: int, what: str) -> np.ndarray:
    """``a`` with zeros appended along ``axis`` up to ``size``."""
    have = a.shape[axis]
    if isinstance(size, bool) or not isinstance(size, int) or size < have:
        raise InvalidOptionError(f"{what} must be an integer >= {have}, not {size!r}")
    pad = [(0, 0)] * a.ndim
    pad[axis] = (0, size - have)
    return np.pad(a, pad)


def im2col_weights(weights: np.ndarray, rows: "int | None" = None) -> np.ndarray:
    """Dense-convolution weights (kh, kw, Cin, Cout) as the GEMM's B (kh*kw*Cin, Cout), rows in
    :func:`im2col`'s column order; with ``rows``, zero rows appended up to ``rows`` (the
    weights of :func:`im2col`'s zero columns)."""
    kh, kw, cin, cout = weights.shape
    w = np.ascontiguousarray(weights.reshape(kh * kw * cin, cout))
    return w if rows is None else _pad_to(w, 0, rows, "rows")


def avgpool(x: np.ndarray) -> np.ndarray:
    """The host's global average pooling: int8 (H, W, C) -> int8 (C,), each channel's mean
    rounded to nearest, ties away from zero (``sign(s) * ((|s| + n // 2) // n)``)."""
    x = np.asarray(x)
    n = x.shape[0] * x.shape[1]
    total = x.astype(np.int64).reshape(n, -1).sum(axis=0)
    q = (np.abs(total) + n // 2) // n
    return np.where(total < 0, -q, q).astype(np.int8)
