"""The fused-block reference (``scanfuse.sim.fused_golden``): hand-checked tiny cases, then
random blocks (MobileNetV2 inverted residuals and CP chains, hypothesis over small shapes)
against a plain-loop implementation written from issue 15's numerics, plus the input checks.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scanfuse.sim.fused_golden import (Depthwise, FusedBlock, Pointwise, RequantRecord,
                                       depthwise_acc, depthwise_out_shape, fused_block_ref,
                                       fused_block_trace, pointwise_acc)

ONE = RequantRecord(multiplier=1, shift=0)


# --- by hand -------------------------------------------------------------------------------

def test_depthwise_3x3_stride1_by_hand():
    x = np.array([[1, 2], [3, 4]]).reshape(2, 2, 1)
    w = np.ones((1, 3, 3), dtype=np.int64)
    # Every 3x3 window around a pixel of a 2x2 image covers the whole image.
    assert depthwise_acc(x, w, [5]).reshape(2, 2).tolist() == [[15, 15], [15, 15]]


def test_depthwise_3x3_stride2_by_hand():
    x = np.arange(1, 10).reshape(3, 3, 1)
    centre = np.zeros((1, 3, 3), dtype=np.int64)
    centre[0, 1, 1] = 1
    assert depthwise_acc(x, centre, [0], (2, 2)).reshape(2, 2).tolist() == [[1, 3], [7, 9]]
    corner = np.zeros((1, 3, 3), dtype=np.int64)
    corner[0, 0, 0] = 1     # tap (0, 0) reads x[2*oy - 1, 2*ox - 1]: padding except (1, 1)
    assert depthwise_acc(x, corner, [0], (2, 2)).reshape(2, 2).tolist() == [[0, 0], [0, 5]]


def test_depthwise_3x1_stride_2_1_by_hand():
    x = np.arange(8).reshape(4, 2, 1)               # rows [0 1] [2 3] [4 5] [6 7]
    w = np.array([1, 10, 100]).reshape(1, 3, 1)     # padding (1, 0)
    # out[oy, ox] = x[2oy - 1, ox] + 10 x[2oy, ox] + 100 x[2oy + 1, ox]
    assert depthwise_acc(x, w, [0], (2, 1)).reshape(2, 2).tolist() == [[200, 310], [642, 753]]


def test_depthwise_1x3_stride_1_2_by_hand():
    x = np.arange(5).reshape(1, 5, 1)               # [0 1 2 3 4], padding (0, 1)
    w = np.array([1, 10, 100]).reshape(1, 1, 3)
    # Wo = (5 + 2 - 3) // 2 + 1 = 3 outputs centred on columns 0, 2, 4.
    assert depthwise_acc(x, w, [0], (1, 2)).reshape(3).tolist() == [100, 1 + 20 + 300, 3 + 40]


def test_depthwise_channels_are_independent():
    x = np.stack([np.ones((2, 2), int), -np.ones((2, 2), int)], axis=-1).astype(np.int64)
    w = np.zeros((2, 3, 3), dtype=np.int64)
    w[0, 1, 1], w[1, 1, 1] = 3, 7
    acc = depthwise_acc(x, w, [0, 1])
    assert acc[..., 0].tolist() == [[3, 3], [3, 3]] and acc[..., 1].tolist() == [[-6, -6]] * 2


def test_accumulators_wrap_like_int32():
    x = np.ones((1, 1, 1), dtype=np.int64)
    assert pointwise_acc(x, [[1]], [(1 << 31) - 1]).item() == -(1 << 31)
    assert depthwise_acc(-x, np.ones((1, 3, 3), dtype=np.int64), [-(1 << 31)]).item() \
        == (1 << 31) - 1


def test_inverted_residual_by_hand():
    """1x1x1 block: expand 2*3+1 = 7 -> ReLU6 6; dw centre 6*2-1 = 11 -> 11/2 rounds to 6;
    project 6*(-5)+3 = -27; residual -27 + 2 = -25."""
    relu6 = RequantRecord(1, 0, mode="relu6", relu6_max=6)
    block = FusedBlock((
        Pointwise([[3]], [1], relu6),
        Depthwise(np.full((1, 3, 3), 2), [-1], (1, 1),
                  RequantRecord(1, 1, mode="relu6", relu6_max=6)),
        Pointwise([[-5]], [3], ONE),
    ), residual=True)
    trace = fused_block_trace(np.array([[[2]]]), block)
    assert [t.acc.item() for t in trace] == [7, 11, -27]
    assert [t.out.item() for t in trace] == [6, 6, -25]
    assert fused_block_ref(np.array([[[2]]]), block).dtype == np.int8


def test_residual_saturates():
    block = FusedBlock((Depthwise(np.zeros((1, 3, 3), int), [127], (1, 1), ONE),
                        Pointwise([[1]], [0], ONE)), residual=True)
    x = np.array([[[100]], [[-100]]])
    # The project output is 127 everywhere; 127 + 100 saturates, 127 - 100 = 27.
    assert fused_block_ref(x, block).reshape(2).tolist() == [127, 27]


def test_cp_chain_by_hand():
    """1x1 (x2) -> 3x1 ones, stride (2, 1) -> 1x3 ones, stride (1, 2) -> 1x1 (x1) on a 3x3
    image of ones: the 3x1 sums 2 rows at the top/bottom edge, 3 inside; the 1x3 likewise."""
    block = FusedBlock((
        Pointwise([[2]], [0], ONE),
        Depthwise(np.ones((1, 3, 1), int), [0], (2, 1), ONE),
        Depthwise(np.ones((1, 1, 3), int), [0], (1, 2), ONE),
        Pointwise([[1]], [0], ONE),
    ))
    trace = fused_block_trace(np.ones((3, 3, 1), dtype=np.int64), block)
    assert trace[1].acc.reshape(2, 3).tolist() == [[4, 4, 4], [4, 4, 4]]   # rows 0-1, 1-2 (+pad)
    assert trace[2].acc.reshape(2, 2).tolist() == [[8, 8], [8, 8]]
    assert fused_block_ref(np.ones((3, 3, 1), dtype=np.int64), block).shape == (2, 2, 1)


# --- against plain loops -------------------------------------------------------------------

def _wrap32(v: int) -> int:
    return ((v + (1 << 31)) % (1 << 32)) - (1 << 31)


def _requant_loop(acc: int, rec: RequantRecord) -> int:
    p = acc * rec.multiplier
    if rec.shift:
        half = 1 << (rec.shift - 1)
        s = (abs(p) + half) >> rec.shift         # round half away from zero
        s = s if p >= 0 else -s
    else:
        s = p
    lo, hi = {"none": (-128, 127), "relu": (0, 127), "relu6": (0, rec.relu6_max)}[rec.mode]
    return min(max(s, lo), hi)


def _stage_loop(x, stage):
    """One stage with nested Python loops over output pixels, channels and taps."""
    h, w, _ = len(x), len(x[0]), len(x[0][0])
    if isinstance(stage, Pointwise):
        cin, cout = stage.weights.shape
        return [[[_requant_loop(_wrap32(int(stage.bias[n]) + sum(
            x[r][c][k] * int(stage.weights[k, n]) for k in range(cin))), stage.requant)
            for n in range(cout)] for c in range(w)] for r in range(h)]
    ch, kh, kw = stage.weights.shape
    sh, sw = stage.stride
    ph, pw = kh // 2, kw // 2
    out = []
    oy = 0
    while oy * sh - ph + kh - 1 < h + ph:      # window's last row inside the padded input
        row, ox = [], 0
        while ox * sw - pw + kw - 1 < w + pw:
            pix = []
            for c in range(ch):
                acc = int(stage.bias[c])
                for i in range(kh):
                    for j in range(kw):
                        r, q = oy * sh - ph + i, ox * sw - pw + j
                        if 0 <= r < h and 0 <= q < w:
                            acc += x[r][q][c] * int(stage.weights[c, i, j])
                pix.append(_requant_loop(_wrap32(acc), stage.requant))
            row.append(pix)
            ox += 1
        out.append(row)
        oy += 1
    return out


def _block_loop(x, block):
    act = x.tolist()
    for stage in block.stages:
        act = _stage_loop(act, stage)
    if block.residual:
        act = [[[min(max(v + int(x[r, c, k]), -128), 127) for k, v in enumerate(pix)]
                for c, pix in enumerate(row)] for r, row in enumerate(act)]
    return np.array(act, dtype=np.int64)


def _record(rng, mode):
    return RequantRecord(int(rng.integers(0, 1 << 31)), int(rng.integers(20, 40)),
                         mode=mode, relu6_max=int(rng.integers(0, 128)))


def _random_block(rng, cin, chid, cout, expand, kind, stride, residual):
    def w(*shape):
        return rng.integers(-128, 128, shape)

    def b(n):
        return rng.integers(-(1 << 20), 1 << 20, n)

    stages = []
    if expand:
        stages.append(Pointwise(w(cin, chid), b(chid), _record(rng, "relu6")))
    else:
        chid = cin
    if kind == "3x3":
        stages.append(Depthwise(w(chid, 3, 3), b(chid), (stride, stride), _record(rng, "relu6")))
    else:   # the CP chain's two depthwise stages, stride per axis
        stages.append(Depthwise(w(chid, 3, 1), b(chid), (stride, 1), _record(rng, "none")))
        stages.append(Depthwise(w(chid, 1, 3), b(chid), (1, stride), _record(rng, "none")))
    stages.append(Pointwise(w(chid, cout), b(cout), _record(rng, "none")))
    return FusedBlock(tuple(stages), residual=residual)


@settings(max_examples=60, deadline=None)
@given(h=st.integers(1, 6), w=st.integers(1, 6), cin=st.integers(1, 4),
       chid=st.integers(1, 5), cout=st.integers(1, 4), expand=st.booleans(),
       kind=st.sampled_from(["3x3", "cp"]), stride=st.sampled_from([1, 2]),
       residual=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_fused_block_matches_loops(h, w, cin, chid, cout, expand, kind, stride, residual, seed):
    if residual:
        cout, stride = cin, 1
    rng = np.random.default_rng(seed)
    block = _random_block(rng, cin, chid, cout, expand, kind, stride, residual)
    x = rng.integers(-128, 128, (h, w, cin))
    got = fused_block_ref(x, block)
    want = _block_loop(x, block)
    assert got.shape == want.shape
    assert np.array_equal(got, want)


@settings(max_examples=40, deadline=None)
@given(h=st.integers(1, 7), w=st.integers(1, 7), c=st.integers(1, 3),
       kernel=st.sampled_from([(3, 3), (3, 1), (1, 3), (1, 1), (5, 5)]),
       sh=st.integers(1, 3), sw=st.integers(1, 3), seed=st.integers(0, 2**32 - 1))
def test_depthwise_acc_matches_loops(h, w, c, kernel, sh, sw, seed):
    rng = np.random.default_rng(seed)
    if kernel[0] > h + 2 * (kernel[0] // 2) or kernel[1] > w + 2 * (kernel[1] // 2):
        return
    wd = rng.integers(-128, 128, (c, *kernel))
    bd = rng.integers(-(1 << 31), 1 << 31, c)
    x = rng.integers(-128, 128, (h, w, c))
    got = depthwise_acc(x, wd, bd, (sh, sw))
    # The loop model with an identity requant would saturate; compare raw accumulators.
    stage = Depthwise(wd, bd, (sh, sw), ONE)
    ho, wo = depthwise_out_shape(h, w, kernel, (sh, sw))
    assert got.shape == (ho, wo, c) and got.dtype == np.int32
    for oy in range(ho):
        for ox in range(wo):
            for k in range(c):
                acc = int(bd[k])
                for i in range(kernel[0]):
                    for j in range(kernel[1]):
                        r, q = oy * sh - kernel[0] // 2 + i, ox * sw - kernel[1] // 2 + j
                        if 0 <= r < h and 0 <= q < w:
                            acc += int(x[r, q, k]) * int(stage.weights[k, i, j])
                assert got[oy, ox, k] == _wrap32(acc)


# --- checks --------------------------------------------------------------------------------

def test_requant_record_fields_are_requant_refs():
    rec = RequantRecord(multiplier=3, shift=2, mode="relu6", relu6_max=6)
    assert rec.as_dict() == {"multiplier": 3, "shift": 2, "zero_point": 0, "mode": "relu6",
                             "relu6_max": 6}
    assert rec.apply(np.array([9, 100, -9])).tolist() == [6, 6, 0]   # 27/4 = 6.75 -> 7 -> 6


@pytest.mark.parametrize("kwargs,match", [
    ({"multiplier": 1, "shift": 0, "zero_point": 3}, "zero_point must be 0"),
    ({"multiplier": -1, "shift": 0}, "multiplier"),
    ({"multiplier": 1, "shift": 64}, "shift"),
    ({"multiplier": 1, "shift": 0, "mode": "gelu"}, "mode"),
])
def test_requant_record_rejects(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RequantRecord(**kwargs)


def test_block_structure_is_checked():
    dw = Depthwise(np.zeros((2, 3, 3), int), [0, 0], (1, 1), ONE)
    pw22 = Pointwise(np.zeros((2, 2), int), [0, 0], ONE)
    with pytest.raises(ValueError, match="depthwise\\+"):
        FusedBlock((pw22, pw22))
    with pytest.raises(ValueError, match="depthwise\\+"):
        FusedBlock((pw22, dw))
    with pytest.raises(ValueError, match="stage 0 gives 3 channels"):
        FusedBlock((Pointwise(np.zeros((2, 3), int), [0, 0, 0], ONE), dw, pw22))
    with pytest.raises(ValueError, match="Cout == Cin"):
        FusedBlock((dw, Pointwise(np.zeros((2, 3), int), [0, 0, 0], ONE)), residual=True)
    with pytest.raises(ValueError, match="stride 1"):
        FusedBlock((Depthwise(np.zeros((2, 3, 3), int), [0, 0], (2, 2), ONE), pw22), residual=True)
    with pytest.raises(ValueError, match="x must hold values in -128..127"):
        depthwise_acc(np.full((1, 1, 1), 128), np.zeros((1, 3, 3), int), [0])


def test_inputs_are_checked():
    with pytest.raises(ValueError, match="weights must hold values in -128..127"):
        Pointwise([[128]], [0], ONE)
    with pytest.raises(ValueError, match="bias must have shape"):
        Depthwise(np.zeros((2, 3, 3), int), [0], (1, 1), ONE)
    with pytest.raises(ValueError, match="x has 2 channels"):
        pointwise_acc(np.zeros((1, 1, 2), int), [[1]], [0])
    with pytest.raises(ValueError, match="x must have 3 dimensions"):
        depthwise_acc(np.zeros((2, 2), int), np.zeros((1, 3, 3), int), [0])
