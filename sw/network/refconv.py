"""Reference 2-D convolution in float64 numpy: the golden model for decomposed sequences.

Layout: one image ``x[C, H, W]`` (channels first, no batch axis) and weights
``w[Cout, Cin // groups, kh, kw]`` as in PyTorch. The convolution is a cross-correlation
(no kernel flip) over a zero-padded input::

    y[o, i, j] = bias[o] + sum_{c, u, v} w[o, c, u, v] * xp[g*Cg + c, i*sh + u, j*sw + v]

with ``g = o // (Cout // groups)``, ``Cg = C // groups`` and ``xp`` the input padded with
``ph`` zero rows above and below and ``pw`` zero columns left and right. Every output is a
plain float64 sum of products (no FFT, no Winograd), so two mathematically equal sequences
agree to rounding error.
"""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..errors import InvalidShapeError
from .layers import conv_output_size

__all__ = ["as_pair", "conv2d", "conv2d_output_hw"]

Pair = tuple[int, int]


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


#: Largest size, stride or padding along one axis (2^24, as the planner's largest GEMM
#: dimension): past any real image, and keeps the MAC counts' arithmetic small.
MAX_PAIR = 1 << 24


def as_pair(name: str, value: int | Pair, minimum: int) -> Pair:
    """Normalise ``value`` (an int or an ``(h, w)`` pair of ints) and check both are >= minimum.

    Raises :class:`InvalidShapeError` naming ``name`` otherwise.
    """
    pair = (value, value) if _is_int(value) else tuple(value) if isinstance(value, (tuple, list)) else None
    if pair is None or len(pair) != 2 or not all(_is_int(v) for v in pair):
        raise InvalidShapeError(f"{name} must be an int or an (h, w) pair of ints, not {value!r}")
    if min(pair) < minimum:
        raise InvalidShapeError(f"{name} must be >= {minimum} along both axes, not {value!r}")
    if max(pair) > MAX_PAIR:
        raise InvalidShapeError(f"{name} must be at most {MAX_PAIR:,} along both axes, not {value!r}")
    return int(pair[0]), int(pair[1])


def _check_shapes(x: np.ndarray, w: np.ndarray, bias: np.ndarray | None, groups: int) -> None:
    """Raise :class:`InvalidShapeError` unless x, w, bias and groups describe one convolution."""
    if x.ndim != 3:
        raise InvalidShapeError(f"input must be 3-D [C, H, W], not {x.ndim}-D with shape {x.shape}")
    if w.ndim != 4:
        raise InvalidShapeError(
            f"weights must be 4-D [Cout, Cin/groups, kh, kw], not {w.ndim}-D with shape {w.shape}")
    if min(x.shape) < 1 or min(w.shape) < 1:
        raise InvalidShapeError(f"input {x.shape} and weights {w.shape} must have every dimension >= 1")
    if not _is_int(groups) or groups < 1:
        raise InvalidShapeError(f"groups must be an integer >= 1, not {groups!r}")
    channels, cout = x.shape[0], w.shape[0]
    if channels % groups or cout % groups:
        raise InvalidShapeError(
            f"groups={groups} must divide the input channels ({channels}) and output channels ({cout})")
    if w.shape[1] * groups != channels:
        raise InvalidShapeError(
            f"weights {w.shape} expect {w.shape[1] * groups} input channels with groups={groups}, "
            f"the input has {channels}")
    if bias is not None and bias.shape != (cout,):
        raise InvalidShapeError(f"bias must have shape ({cout},), not {bias.shape}")


def conv2d_output_hw(input_hw: Pair, kernel: Pair, stride: int | Pair = 1,
                     padding: int | Pair = 0) -> Pair:
    """Output ``(Ho, Wo)`` in pixels of a convolution; raises if the kernel does not fit.

    ``Ho = (H + 2*ph - kh) // sh + 1`` and likewise for the width. Raises
    :class:`InvalidShapeError` if the output would be empty or stride/padding are out of range.
    """
    stride, padding = as_pair("stride", stride, 1), as_pair("padding", padding, 0)
    out = tuple(conv_output_size(n, k, s, p)
                for n, k, s, p in zip(input_hw, kernel, stride, padding))
    if min(out) < 1:
        raise InvalidShapeError(
            f"kernel {kernel[0]}x{kernel[1]} does not fit a {input_hw[0]}x{input_hw[1]} input "
            f"with padding {padding}: the input must be at least kernel - 2*padding")
    return out


def conv2d(x: np.ndarray, w: np.ndarray, bias: np.ndarray | None = None,
           stride: int | Pair = (1, 1), padding: int | Pair = (0, 0), groups: int = 1) -> np.ndarray:
    """Grouped 2-D convolution of one image, computed exactly in float64.

    Parameters
    ----------
    x : array [C, H, W]
        Input activation (any real dtype; converted to float64).
    w : array [Cout, C // groups, kh, kw]
        Weights. ``groups == C == Cout`` with ``w[C, 1, kh, kw]`` is a depthwise convolution.
    bias : array [Cout] or None
        Added to every output pixel of each channel.
    stride : int or (sh, sw)
        Step between output pixels, in input pixels; >= 1.
    padding : int or (ph, pw)
        Zero rows added above and below, zero columns added left and right; >= 0.
    groups : int
        Number of channel groups; must divide ``C`` and ``Cout``.

    Returns
    -------
    array [Cout, Ho, Wo], float64
        ``Ho = (H + 2*ph - kh) // sh + 1``, ``Wo`` likewise.

    Raises
    ------
    InvalidShapeError
        Wrong number of dimensions, mismatched channels, groups, bias, stride or padding out
        of range, or a kernel larger than the padded input.
    """
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    bias = None if bias is None else np.asarray(bias, dtype=np.float64)
    _check_shapes(x, w, bias, groups)
    stride, padding = as_pair("stride", stride, 1), as_pair("padding", padding, 0)
    cout, cg, kh, kw = w.shape
    ho, wo = conv2d_output_hw(x.shape[1:], (kh, kw), stride, padding)

    xp = np.pad(x, ((0, 0), (padding[0], padding[0]), (padding[1], padding[1])))
    # windows[c, i, j, u, v] = xp[c, i*sh + u, j*sw + v]: a strided view, no copy
    windows = sliding_window_view(xp, (kh, kw), axis=(1, 2))[:, ::stride[0], ::stride[1]][:, :ho, :wo]
    windows = windows.reshape(groups, cg, ho, wo, kh, kw)
    wg = w.reshape(groups, cout // groups, cg, kh, kw)
    y = np.einsum("gcijuv,gocuv->goij", windows, wg, optimize=True).reshape(cout, ho, wo)
    if bias is not None:
        y = y + bias[:, None, None]
    return y
