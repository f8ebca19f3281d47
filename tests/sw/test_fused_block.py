"""Fused-block driver: block shapes from the planner's groups, the engine schedule, the DRAM
byte prediction (pinned by hand for MobileNetV2 b3), the DRAM image and its errors."""

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from amaranth.lib import data

from scanfuse.errors import InvalidShapeError, ScanFuseError
from scanfuse.hw.depthwise import DwWeights
from scanfuse.hw.fused_program import BlockConfig, FusedDescriptor, FusedError, check_fused
from scanfuse.network.zoo import get_network
from scanfuse.plan.fusion import thesis_groups
from scanfuse.program.descriptors import RequantFields
from scanfuse.program.fused_block import (_fields, BlockSchedule, BlockShape, IllegalBlockError,
                                          block_shape, block_traffic, compile_block,
                                          pack_dw_weights, plan_block)

SMALL = BlockConfig(x_entries=4096, d_entries=2048, p_entries=1024, w1_entries=1024,
                    w2_entries=1024, max_chunk=32, max_cout=32, max_width=16)
RQ = (RequantFields(1 << 20, 24, 0, 2, 90),) * 2 + (RequantFields(1 << 20, 24),)


def _groups():
    return {c.name: c for c in thesis_groups(get_network("mobilenetv2"))}


def test_block_shapes_of_mobilenetv2():
    g = _groups()
    assert block_shape(g["b0"]) == BlockShape(112, 112, 32, 32, 16, (1, 1), (3, 3), False, False)
    assert block_shape(g["b3"]) == BlockShape(56, 56, 24, 144, 32, (2, 2), (3, 3), True, False)
    assert block_shape(g["b4"]).residual
    assert len(g) == 17


def test_b3_prediction_by_hand():
    """b3 (56x56x24 -> 144 -> stride 2 -> 28x28x32) on the default engine: 7 strips of 4
    output rows, one chunk; X read once: the first strip reads its 8 rows, the others the 8
    rows after (their first halo row is the previous strip's last row, kept on chip)."""
    shape = block_shape(_groups()["b3"])
    sched = plan_block(shape, BlockConfig())
    assert (sched.strip_rows, sched.chunk) == (4, 144)
    t = block_traffic(shape, sched)
    x = (8 + 6 * 8) * 56 * 24
    weights = 24 * 144 + 4 * 144 + 144 * 13 + 144 * 32 + 4 * 32
    assert (t.x, t.weights, t.y) == (x, weights, 28 * 28 * 32)
    assert (t.read_bytes, t.write_bytes) == (85904, 25088)


def test_every_mobilenetv2_block_plans_for_the_default_engine():
    bcfg = BlockConfig()
    for name, chain in _groups().items():
        shape = block_shape(chain)
        sched = plan_block(shape, bcfg)
        fields = {"H": shape.H, "W": shape.W, "Ho": shape.Ho, "Wo": shape.Wo, "cin": shape.cin,
                  "hidden": shape.hidden, "cout": shape.cout, "strip_rows": sched.strip_rows,
                  "strips": sched.strips(shape), "chunk": sched.chunk,
                  "chunks": sched.chunks(shape), "kernel": 0, "stride_h": shape.stride[0],
                  "stride_w": shape.stride[1], "expand": int(shape.expand),
                  "residual": int(shape.residual), "order": 0}
        assert check_fused(bcfg, fields) is FusedError.NONE, name
        t = block_traffic(shape, sched)
        # Hidden tensors never in DRAM: reads X exactly once, writes exactly Y.
        assert t.x == shape.H * shape.W * shape.cin and t.y == shape.Ho * shape.Wo * shape.cout


def test_prediction_counts_weights_once_with_one_chunk():
    shape = BlockShape(8, 8, 16, 32, 16)
    one = block_traffic(shape, BlockSchedule(2, 32))
    four = block_traffic(shape, BlockSchedule(2, 8))
    per_load = 16 * 32 + 4 * 32 + 13 * 32 + 32 * 16
    assert one.weights == per_load + 4 * 16
    assert four.weights == 4 * per_load + 4 * 16      # 4 strips, weights per strip
    assert one.x == four.x == 8 * 8 * 16        # every X row once (the ring keeps halo rows)


def _tensors(rng, s: BlockShape):
    i8 = lambda *d: rng.integers(-128, 128, size=d)          # noqa: E731
    return (i8(s.H, s.W, s.cin), i8(s.cin, s.hidden), rng.integers(-9, 9, s.hidden),
            i8(s.hidden, *s.kernel), rng.integers(-9, 9, s.hidden), i8(s.hidden, s.cout),
            rng.integers(-9, 9, s.cout))


def test_image_regions_and_descriptor():
    rng = np.random.default_rng(0)
    s = BlockShape(8, 8, 16, 32, 16, residual=True)
    x, w1, b1, wd, bd, w2, b2 = _tensors(rng, s)
    img = compile_block(s, x, w1, b1, wd, bd, w2, b2, RQ, SMALL)
    mem = img.mem
    a, n = img.regions["x_base"]
    assert bytes(mem[a:a + n]) == x.astype(np.int8).tobytes()
    a, n = img.regions["b2_base"]
    assert np.array_equal(np.frombuffer(bytes(mem[a:a + n]), "<i4"), b2)
    assert img.fields["residual"] == 1 and img.fields["strips"] * img.fields["strip_rows"] >= 8
    layout = FusedDescriptor(SMALL)
    view = data.Const(layout, img.desc_bits)
    assert (view.W, view.cin, view.hidden, view.chunk) == (8, 16, 32, img.schedule.chunk)
    assert img.read_y().shape == (8, 8, 16)


def test_dw_weights_pack_places_cp_kernels_in_the_centre():
    wd = np.arange(16 * 3).reshape(16, 3, 1) - 20
    bd = np.arange(16) * 1000 - 7
    blob = pack_dw_weights(wd, bd, 8)
    layout = DwWeights(8)
    assert len(blob) == 2 * layout.size // 8 == 16 * 13
    word = data.Const(layout, int.from_bytes(blob[:layout.size // 8], "little"))
    for i in range(3):
        for j in range(3):
            for lane in range(8):
                want = wd[lane, i, 0] if j == 1 else 0
                assert word.taps[i * 3 + j][lane] == want
    assert [word.bias[lane] for lane in range(8)] == list(bd[:8])


def test_errors_are_typed():
    rng = np.random.default_rng(1)
    s = BlockShape(8, 8, 16, 32, 16)
    x, w1, b1, wd, bd, w2, b2 = _tensors(rng, s)
    with pytest.raises(IllegalBlockError) as err:
        compile_block(s, x, w1, b1, wd, bd, w2, b2, RQ, SMALL, schedule=BlockSchedule(8, 24))
    assert err.value.rule is FusedError.BAD_CHUNKS
    with pytest.raises(IllegalBlockError) as err:
        compile_block(BlockShape(8, 24, 16, 32, 16), rng.integers(-1, 1, (8, 24, 16)), w1, b1,
                      wd, bd, w2, b2, RQ, SMALL, schedule=BlockSchedule(8, 32))
    assert err.value.rule is FusedError.WIDTH_OVERFLOW
    with pytest.raises(InvalidShapeError, match="x must have shape"):
        compile_block(s, x[:4], w1, b1, wd, bd, w2, b2, RQ, SMALL)
    with pytest.raises(InvalidShapeError, match="stride"):
        BlockShape(8, 8, 16, 32, 16, stride=(3, 1))
    with pytest.raises(ScanFuseError, match="fits"):
        plan_block(BlockShape(8, 8, 16, 32, 64), SMALL)     # cout over max_cout
    cp = next(c for c in thesis_groups(get_network("resnet50-cp")))
    first, vertical, horizontal, last = cp.layers      # 1x3 before 3x1: not a CP block
    with pytest.raises(IllegalBlockError, match="depthwise stages run as a CP chain only"):
        block_shape(replace(cp, layers=(first, horizontal, vertical, last)))


def test_resnet50_cp_chains_are_cp_block_shapes():
    """ResNet-50-CP's chains (first -> vertical 3x1 -> horizontal 1x3 -> last) are CP blocks,
    the stride of the vertical stage on rows, of the horizontal one on columns."""
    g = {c.name: c for c in thesis_groups(get_network("resnet50-cp"))}
    assert block_shape(g["s1b0.conv2"]) == BlockShape(56, 56, 64, 64, 64, (1, 1), (3, 1), True,
                                                      False, cp=True)
    s = block_shape(g["s2b0.conv2"])
    assert (s.stride, s.cp, s.Ho, s.Wo) == ((2, 2), True, 28, 28)


def test_cp_prediction_by_hand():
    """5x6x8 -> 16 -> 3x1 -> 1x3 -> 8, strips of 2 output rows: X rows 3 + 2 + 0 (the third
    strip's rows 3 and 4 are on chip already), the
    weights once (one chunk): two sets of depthwise words of 13 bytes per channel."""
    shape = BlockShape(5, 6, 8, 16, 8, kernel=(3, 1), cp=True)
    t = block_traffic(shape, BlockSchedule(2, 16))
    x = (3 + 2 + 0) * 6 * 8
    w = 2 * 16 * 13 + 16 * 8 + 8 * 16 + 4 * 16 + 4 * 8
    assert (t.read_bytes, t.write_bytes) == (x + w, 5 * 6 * 8) == (1008, 240)
    with pytest.raises(InvalidShapeError, match="3x1"):
        BlockShape(5, 6, 8, 16, 8, kernel=(3, 3), cp=True)


@settings(max_examples=60, deadline=None)
@given(h=st.integers(1, 20), w=st.integers(1, 9), sh=st.sampled_from([1, 2]),
       tr=st.integers(1, 12))
def test_every_x_row_is_read_once(h, w, sh, tr):
    """The X ring keeps the rows two strips share, so any strip height reads X exactly once
    (strips whose window rows are all on chip read nothing)."""
    shape = BlockShape(h, w, 8, 16, 8, stride=(sh, sh))
    sched = BlockSchedule(min(tr, shape.Ho), 8)
    assert block_traffic(shape, sched).x == h * w * 8


def test_plan_block_equals_the_full_scan():
    """plan_block stops a chunk's strip heights at the first X / D / P overflow; the schedule
    it picks is the one a scan of every (strip_rows, chunk) picks."""
    bcfg = BlockConfig(x_entries=4096, d_entries=2048, p_entries=1024, w1_entries=1024,
                       w2_entries=1024, max_chunk=32, max_cout=32, max_width=16)
    zero = RequantFields()
    for shape in (BlockShape(16, 16, 16, 32, 16), BlockShape(15, 9, 8, 32, 24, stride=(2, 2)),
                  BlockShape(9, 16, 32, 32, 32, expand=False)):
        best = None
        for chunk in range(8, shape.hidden + 1, 8):
            for tr in range(1, shape.Ho + 1):
                sched = BlockSchedule(tr, chunk)
                if shape.hidden % chunk or check_fused(bcfg, _fields(
                        shape, sched, {}, (zero,) * 4)) is not FusedError.NONE:
                    continue
                t = block_traffic(shape, sched)
                key = (t.read_bytes + t.write_bytes, sched.strips(shape), -chunk)
                best = min(best or (key, sched), (key, sched), key=lambda e: e[0])
        assert plan_block(shape, bcfg) == best[1]
