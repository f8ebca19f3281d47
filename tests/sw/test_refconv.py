"""The numpy reference convolution against a naive loop implementation."""

import zlib

import numpy as np
import pytest

from scanfuse.errors import InvalidShapeError
from scanfuse.network.refconv import conv2d, conv2d_output_hw


def naive_conv2d(x, w, bias, stride, padding, groups):
    """Seven nested loops over the definition; slow, obviously right."""
    sh, sw = stride
    ph, pw = padding
    c, h, wd = x.shape
    cout, cg, kh, kw = w.shape
    ho, wo = (h + 2 * ph - kh) // sh + 1, (wd + 2 * pw - kw) // sw + 1
    per_group = cout // groups
    y = np.zeros((cout, ho, wo))
    for o in range(cout):
        g = o // per_group
        for i in range(ho):
            for j in range(wo):
                acc = 0.0 if bias is None else bias[o]
                for ci in range(cg):
                    for u in range(kh):
                        for v in range(kw):
                            r, s = i * sh + u - ph, j * sw + v - pw
                            if 0 <= r < h and 0 <= s < wd:
                                acc += w[o, ci, u, v] * x[g * cg + ci, r, s]
                y[o, i, j] = acc
    return y


# (C, H, W, Cout, (kh, kw), stride, padding, groups, bias)
CASES = [
    (3, 5, 5, 4, (3, 3), (1, 1), (0, 0), 1, False),
    (3, 7, 6, 5, (3, 3), (2, 2), (1, 1), 1, True),          # stride 2, padding, odd size
    (4, 9, 7, 4, (3, 3), (2, 1), (1, 2), 4, False),         # depthwise, mixed stride/padding
    (6, 8, 5, 4, (3, 1), (1, 1), (1, 0), 2, True),          # grouped, kh x 1
    (4, 6, 7, 4, (1, 3), (1, 2), (0, 1), 4, False),         # depthwise 1 x kw, stride (1, 2)
    (2, 6, 6, 3, (1, 1), (2, 2), (0, 0), 1, True),          # strided 1x1
    (5, 4, 4, 5, (5, 5), (1, 1), (2, 2), 5, False),         # kernel larger than the input
    (3, 11, 13, 2, (2, 3), (3, 2), (0, 1), 1, True),        # even kernel, stride 3
    (3, 7, 7, 2, (1, 1), (3, 3), (0, 0), 1, False),         # stride larger than the kernel
    (1, 1, 1, 1, (1, 1), (1, 1), (0, 0), 1, True),          # smallest case
    (2, 3, 4, 6, (3, 3), (1, 1), (1, 1), 2, False),         # grouped with channel multiplier
]


@pytest.mark.parametrize("c,h,w,cout,kernel,stride,padding,groups,with_bias", CASES)
def test_matches_naive_loops(c, h, w, cout, kernel, stride, padding, groups, with_bias):
    rng = np.random.default_rng(zlib.crc32(repr((c, h, w, cout, kernel, stride, padding,
                                                 groups)).encode()))
    x = rng.standard_normal((c, h, w))
    wt = rng.standard_normal((cout, c // groups) + kernel)
    bias = rng.standard_normal(cout) if with_bias else None
    expected = naive_conv2d(x, wt, bias, stride, padding, groups)
    got = conv2d(x, wt, bias, stride=stride, padding=padding, groups=groups)
    assert got.dtype == np.float64
    assert got.shape == expected.shape == (cout,) + conv2d_output_hw((h, w), kernel, stride, padding)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_int_stride_and_padding_mean_both_axes():
    rng = np.random.default_rng(1)
    x, wt = rng.standard_normal((2, 9, 8)), rng.standard_normal((3, 2, 3, 3))
    np.testing.assert_array_equal(conv2d(x, wt, stride=2, padding=1),
                                  conv2d(x, wt, stride=(2, 2), padding=(1, 1)))


def test_depthwise_is_per_channel_conv():
    rng = np.random.default_rng(2)
    x, wt = rng.standard_normal((4, 6, 6)), rng.standard_normal((4, 1, 3, 3))
    y = conv2d(x, wt, stride=2, padding=1, groups=4)
    for ch in range(4):
        single = conv2d(x[ch:ch + 1], wt[ch:ch + 1], stride=2, padding=1)
        np.testing.assert_array_equal(y[ch:ch + 1], single)


def test_integer_input_is_exact():
    x = np.arange(2 * 4 * 4).reshape(2, 4, 4)
    wt = np.ones((1, 2, 2, 2), dtype=np.int64)
    y = conv2d(x, wt)
    assert y.dtype == np.float64
    # top-left window: channel 0 {0,1,4,5} + channel 1 {16,17,20,21}
    assert y[0, 0, 0] == 0 + 1 + 4 + 5 + 16 + 17 + 20 + 21


@pytest.mark.parametrize("x_shape,w_shape,kwargs", [
    ((4, 4), (1, 1, 1, 1), {}),                            # input not 3-D
    ((1, 4, 4), (1, 1, 1), {}),                            # weights not 4-D
    ((3, 4, 4), (2, 2, 3, 3), {}),                         # channel mismatch
    ((4, 4, 4), (3, 2, 1, 1), {"groups": 2}),              # groups does not divide Cout
    ((4, 4, 4), (4, 1, 1, 1), {"groups": 0}),              # groups < 1
    ((2, 4, 4), (3, 2, 1, 1), {"bias": np.zeros(2)}),      # bias length
    ((2, 4, 4), (3, 2, 1, 1), {"stride": 0}),              # stride < 1
    ((2, 4, 4), (3, 2, 1, 1), {"padding": (0, -1)}),       # padding < 0
    ((2, 4, 4), (3, 2, 1, 1), {"stride": (1, 2, 3)}),      # not a pair
    ((2, 2, 2), (3, 2, 3, 3), {}),                         # kernel larger than the input
    ((0, 4, 4), (3, 0, 1, 1), {}),                         # empty
])
def test_bad_shapes_raise(x_shape, w_shape, kwargs):
    with pytest.raises(InvalidShapeError) as info:
        conv2d(np.zeros(x_shape), np.zeros(w_shape), **kwargs)
    assert "\n" not in str(info.value)
    assert isinstance(info.value, ValueError)
