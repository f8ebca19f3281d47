"""ONNX import: layers, shapes, MACs and blocks of small graphs and whole networks."""

import dataclasses
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from scanfuse.errors import InvalidModelError
from scanfuse.plan.fusion import plan_fused_network, thesis_groups
from scanfuse.network import LayerKind, NetworkBuilder, get_network
from scanfuse.network.onnx_import import load_onnx
from scanfuse.plan import BufferModel, Gemm


class Graph:
    """A tiny ONNX graph builder: weights are seeded random initializers, or dims-only
    placeholders whose external data file does not exist (``external=True``)."""

    def __init__(self, shape, seed=0, external=False, input_name="x"):
        self.rng = np.random.default_rng(seed)
        self.external = external
        self.nodes, self.inits = [], []
        self.input = helper.make_tensor_value_info(input_name, TensorProto.FLOAT, shape)
        self.count = 0

    def _tmp(self, hint):
        self.count += 1
        return f"t{self.count}_{hint}"

    def weight(self, shape, name=None):
        name = name or self._tmp("w")
        if self.external:
            t = TensorProto(name=name, data_type=TensorProto.FLOAT, dims=list(shape))
            t.data_location = TensorProto.EXTERNAL
            entry = t.external_data.add()
            entry.key, entry.value = "location", "missing.bin"
        else:
            t = numpy_helper.from_array(self.rng.standard_normal(shape).astype(np.float32) * 0.1, name)
        self.inits.append(t)
        return name

    def node(self, op, inputs, name="", **attrs):
        out = self._tmp(op.lower())
        self.nodes.append(helper.make_node(op, list(inputs), [out], name=name, **attrs))
        return out

    def conv(self, x, name, cin, cout, k=1, s=1, p=None, group=1, bias=True, **attrs):
        kh, kw = (k, k) if isinstance(k, int) else k
        p = (kh // 2, kw // 2) if p is None else ((p, p) if isinstance(p, int) else p)
        inputs = [x, self.weight((cout, cin // group, kh, kw))]
        if bias:
            inputs.append(self.weight((cout,)))
        return self.node("Conv", inputs, name, kernel_shape=[kh, kw], strides=[s, s],
                         pads=[p[0], p[1], p[0], p[1]], group=group, **attrs)

    def bn(self, x, c):
        return self.node("BatchNormalization", [x] + [self.weight((c,)) for _ in range(4)])

    def relu6(self, x):
        lo, hi = self._tmp("lo"), self._tmp("hi")
        self.inits += [numpy_helper.from_array(np.array(0, np.float32), lo),
                       numpy_helper.from_array(np.array(6, np.float32), hi)]
        return self.node("Clip", [x, lo, hi])

    def model(self, outputs):
        outputs = [outputs] if isinstance(outputs, str) else outputs
        graph = helper.make_graph(self.nodes, "g", [self.input],
                                  [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs],
                                  self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
        inferred = {v.name: v for v in onnx.shape_inference.infer_shapes(model).graph.output}
        for out in model.graph.output:      # the checker wants output shapes
            if out.name in inferred:
                out.CopyFrom(inferred[out.name])
        return model


def _inverted_residual(g, x, name, cin, hidden, cout, stride):
    h = g.relu6(g.bn(g.conv(x, f"{name}.expand", cin, hidden, bias=False), hidden))
    h = g.relu6(g.bn(g.conv(h, f"{name}.dw", hidden, hidden, 3, stride, group=hidden, bias=False), hidden))
    y = g.bn(g.conv(h, f"{name}.project", hidden, cout, bias=False), cout)
    return g.node("Add", [x, y], f"{name}.add") if stride == 1 and cin == cout else y


def _expected(h, w, cin, build):
    net = NetworkBuilder("want", h, w, cin)
    build(net)
    return net.build()


def _strip(layers):
    return [dataclasses.replace(layer, block=None) for layer in layers]


def test_inverted_residual_with_bn_relu6_and_add_fuses():
    g = Graph((1, 24, 56, 56))
    model = g.model(_inverted_residual(g, "x", "blk", 24, 144, 24, 1))
    net = load_onnx(model, name="ir")

    def build(b):
        b.begin_block("blk")
        b.pointwise("blk.expand", 144)
        b.depthwise("blk.dw", 3, 1, 1)
        b.pointwise("blk.project", 24)
        b.end_block("inverted_residual", residual=True)
    want = _expected(56, 56, 24, build)
    assert net.name == "ir" and net.input_hw == (56, 56)
    assert net.layers == want.layers
    assert [l.kind for l in net.layers] == [LayerKind.POINTWISE, LayerKind.DEPTHWISE, LayerKind.POINTWISE]
    assert [l.macs for l in net.layers] == [10_838_016, 4_064_256, 10_838_016]
    assert net.blocks == want.blocks
    plan = plan_fused_network(net, BufferModel(65536))
    (group,) = plan.groups
    assert group.fused and group.chain.residual and group.chain.name == "blk"
    assert plan.total["read_bytes"] + plan.total["write_bytes"] < \
        plan.total_unfused["read_bytes"] + plan.total_unfused["write_bytes"]


def test_stride2_block_without_residual():
    g = Graph((1, 16, 112, 112), seed=1)
    model = g.model(_inverted_residual(g, "x", "b1", 16, 96, 24, 2))
    net = load_onnx(model)

    def build(b):
        b.begin_block("b1")
        b.pointwise("b1.expand", 96)
        b.depthwise("b1.dw", 3, 2, 1)
        b.pointwise("b1.project", 24)
        b.end_block("inverted_residual", residual=False)
    want = _expected(112, 112, 16, build)
    assert net.layers == want.layers and net.blocks == want.blocks
    assert (net.layers[1].h_out, net.layers[1].w_out) == (56, 56)
    assert net.macs == 112 * 112 * 96 * 16 + 56 * 56 * 96 * 9 + 56 * 56 * 24 * 96
    plan = plan_fused_network(net, BufferModel(65536))
    assert [(g.chain.name, g.chain.residual, g.fused) for g in plan.groups] == [("b1", False, True)]


def test_bottleneck_with_projection_matches_resnet50_block():
    g = Graph((1, 64, 56, 56), seed=2)
    h = g.node("Relu", [g.bn(g.conv("x", "s1b0.conv1", 64, 64), 64)])
    h = g.node("Relu", [g.bn(g.conv(h, "s1b0.conv2", 64, 64, 3), 64)])
    y = g.bn(g.conv(h, "s1b0.conv3", 64, 256), 256)
    short = g.bn(g.conv("x", "s1b0.downsample", 64, 256), 256)
    out = g.node("Relu", [g.node("Add", [y, short], "s1b0.add")])
    net = load_onnx(g.model(out))
    ref = get_network("resnet50")
    want = [ref.layer(f"s1b0.{n}") for n in ("conv1", "conv2", "conv3", "downsample")]
    assert net.layers == tuple(want)
    assert [l.kind for l in net.layers] == [LayerKind.POINTWISE, LayerKind.CONV, LayerKind.POINTWISE,
                                           LayerKind.POINTWISE]
    assert [l.macs for l in net.layers] == [12_845_056, 115_605_504, 51_380_224, 51_380_224]
    (block,) = net.blocks
    assert (block.name, block.kind, block.residual) == ("s1b0", "residual", True)
    assert block.layers == tuple(l.name for l in want)
    assert thesis_groups(net) == []


def test_projection_listed_first_still_forms_one_block():
    g = Graph((1, 64, 56, 56), seed=3)
    short = g.conv("x", "", 64, 256)
    h = g.conv(g.conv("x", "", 64, 64), "", 64, 64, 3)
    out = g.node("Add", [g.conv(h, "", 64, 256), short])
    net = load_onnx(g.model(out))
    assert [l.name for l in net.layers] == ["conv0", "conv1", "conv2", "conv3"]
    (block,) = net.blocks
    assert block.layers == ("conv1", "conv2", "conv3", "conv0") and block.residual


def test_stem_global_pool_and_fc():
    g = Graph((1, 3, 32, 32), seed=4)
    h = g.node("Relu", [g.conv("x", "", 3, 16, 3, 2)])
    h = g.node("Flatten", [g.node("GlobalAveragePool", [h])], axis=1)
    out = g.node("Gemm", [h, g.weight((10, 16)), g.weight((10,))], transB=1)
    net = load_onnx(g.model(out))
    assert [l.name for l in net.layers] == ["conv0", "pool1", "fc2"]
    assert [l.kind for l in net.layers] == [LayerKind.CONV, LayerKind.POOL, LayerKind.FC]
    stem, pool, fc = net.layers
    assert (stem.cin, stem.cout, stem.kernel, stem.stride, stem.padding, stem.h_out, stem.w_out) == \
        (3, 16, (3, 3), (2, 2), (1, 1), 16, 16)
    assert (pool.kernel, pool.h_in, pool.h_out, pool.groups) == ((16, 16), 16, 1, 16)
    assert (fc.cin, fc.cout) == (16, 10)
    assert [l.macs for l in net.layers] == [110_592, 0, 160]
    assert [(b.name, b.kind, b.layers, b.residual) for b in net.blocks] == [
        ("conv0", "conv", ("conv0",), False), ("pool1", "pool", ("pool1",), False),
        ("fc2", "fc", ("fc2",), False)]
    assert [l.block for l in net.layers] == ["conv0", "pool1", "fc2"]


def test_maxpool_reshape_matmul():
    g = Graph((1, 8, 15, 15), seed=5)
    shape = numpy_helper.from_array(np.array([1, -1], np.int64), "shape")
    g.inits.append(shape)
    h = g.node("MaxPool", ["x"], "pool", kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    h = g.node("Reshape", [g.node("Dropout", [g.node("Identity", [h])]), "shape"])
    out = g.node("MatMul", [h, g.weight((8 * 8 * 8, 5))], "head")
    net = load_onnx(g.model(out))
    pool, fc = net.layers
    assert (pool.kind, pool.h_out, pool.w_out, pool.padding) == (LayerKind.POOL, 8, 8, (1, 1))
    assert (fc.kind, fc.cin, fc.cout, fc.macs) == (LayerKind.FC, 512, 5, 2560)


def test_branches_without_simple_residual_fall_back_to_chains_and_singles():
    g = Graph((1, 32, 28, 28), seed=6)
    h = g.conv(g.conv(g.conv("x", "a.expand", 32, 96), "a.dw", 96, 96, 3, group=96), "a.project", 96, 32)
    s = g.conv(g.conv("x", "s.one", 32, 32), "s.two", 32, 32)      # two-layer shortcut branch
    net = load_onnx(g.model(g.node("Add", [h, s], "join")))
    assert [(b.name, b.kind, b.layers, b.residual) for b in net.blocks] == [
        ("a", "inverted_residual", ("a.expand", "a.dw", "a.project"), False),
        ("s.one", "pointwise", ("s.one",), False), ("s.two", "pointwise", ("s.two",), False)]


def to_onnx(network, external=False, seed=7):
    """Emit a built-in network as ONNX: Conv (+ Clip) per layer, Add per residual block."""
    first = network.layers[0]
    g = Graph((1, first.cin, first.h_in, first.w_in), seed=seed, external=external)
    cur = "x"
    for block in network.blocks:
        block_in, shortcut = cur, None
        for i, name in enumerate(block.layers):
            layer = network.layer(name)
            prev = network.layer(block.layers[i - 1]) if i else None
            reads_block_input = prev is not None and (prev.cout, prev.h_out, prev.w_out) != \
                (layer.cin, layer.h_in, layer.w_in)
            src = block_in if reads_block_input else cur
            if layer.kind is LayerKind.FC:
                flat = g.node("Flatten", [src], axis=1)
                out = g.node("Gemm", [flat, g.weight((layer.cout, layer.cin)), g.weight((layer.cout,))],
                             name, transB=1)
            elif layer.kind is LayerKind.POOL:
                if layer.kernel == (layer.h_in, layer.w_in) and layer.h_out == 1:
                    out = g.node("GlobalAveragePool", [src], name)
                else:
                    p = layer.padding
                    out = g.node("MaxPool", [src], name, kernel_shape=list(layer.kernel),
                                 strides=list(layer.stride), pads=[p[0], p[1], p[0], p[1]])
            else:
                weight = g.weight((layer.cout, layer.cin // layer.groups) + layer.kernel)
                out = g.node("Conv", [src, weight], name, kernel_shape=list(layer.kernel),
                             strides=list(layer.stride), pads=list(layer.padding) * 2, group=layer.groups)
                if not name.endswith((".project", ".conv3", ".downsample")):
                    out = g.relu6(out)
            if reads_block_input:
                shortcut = out
            else:
                cur = out
        if block.residual:
            cur = g.node("Add", [cur, shortcut or block_in], f"{block.name}.add")
    return g.model(cur)


def test_mobilenetv2_roundtrip():
    ref = get_network("mobilenetv2")
    net = load_onnx(to_onnx(ref), name="mobilenetv2")
    assert net.macs == ref.macs == 300_774_272
    assert _strip(net.layers) == _strip(ref.layers)
    assert [Gemm.of_layer(l) for l in net.pointwise_layers()] == [Gemm.of_layer(l) for l in ref.pointwise_layers()]
    ir = [b for b in ref.blocks if b.kind == "inverted_residual"]
    assert [b for b in net.blocks if b.kind == "inverted_residual"] == ir
    assert sum(b.residual for b in ir) == 10
    got, want = thesis_groups(net), thesis_groups(ref)
    assert [(c.name, c.layers, c.residual) for c in got] == [(c.name, c.layers, c.residual) for c in want]


def test_resnet50_roundtrip_with_dims_only_weights():
    ref = get_network("resnet50")
    net = load_onnx(to_onnx(ref, external=True))
    assert net.macs == ref.macs
    assert _strip(net.layers) == _strip(ref.layers)
    bottlenecks = [b for b in ref.blocks if b.kind == "bottleneck"]
    assert [(b.name, b.layers, b.residual) for b in net.blocks if b.kind == "residual"] == \
        [(b.name, b.layers, b.residual) for b in bottlenecks]


def test_external_data_file_missing(tmp_path):
    g = Graph((1, 24, 56, 56))
    model = g.model(_inverted_residual(g, "x", "blk", 24, 144, 24, 1))
    want = load_onnx(model)
    path = tmp_path / "m.onnx"
    onnx.save_model(onnx.ModelProto.FromString(model.SerializeToString()), str(path),
                    save_as_external_data=True, all_tensors_to_one_file=True, location="w.bin",
                    size_threshold=0)
    (tmp_path / "w.bin").unlink()
    got = load_onnx(path)
    assert got.name == "g" and got.layers == want.layers and got.blocks == want.blocks
    assert load_onnx(str(path), name="x").name == "x"


def _stem_model(shape=(1, 3, 32, 32), **conv_attrs):
    g = Graph(shape)
    return g.model(g.conv("x", "stem", 3, 8, 3, 1, **conv_attrs))


@pytest.mark.parametrize("make, words", [
    (lambda: _stem_model(dilations=[2, 2]), ("stem", "dilations")),
    (lambda: _stem_model((2, 3, 32, 32)), ("stem", "batch 2")),
    (lambda: _stem_model(("N", 3, 32, 32)), ("stem", "dynamic", "'N'")),
], ids=["dilation", "batch2", "dynamic"])
def test_invalid_stem(make, words):
    with pytest.raises(InvalidModelError) as info:
        load_onnx(make())
    message = str(info.value)
    assert "\n" not in message and all(w in message for w in words), message


def test_unknown_op_and_asymmetric_pads():
    g = Graph((1, 3, 32, 32))
    g.node("HardSwish", [g.conv("x", "stem", 3, 8, 3)], "act0")
    with pytest.raises(InvalidModelError, match=r"node 'act0' \(HardSwish\): unsupported operator"):
        load_onnx(g.model(g.nodes[-1].output[0]))
    g = Graph((1, 3, 32, 32))
    out = g.node("Conv", ["x", g.weight((8, 3, 3, 3))], "asym", kernel_shape=[3, 3], strides=[2, 2],
                 pads=[0, 0, 1, 1])
    with pytest.raises(InvalidModelError, match=r"node 'asym' \(Conv\): asymmetric pads"):
        load_onnx(g.model(out))
    g = Graph((1, 3, 32, 32))
    out = g.node("Conv", ["x", "nowhere"], "lost")
    with pytest.raises(InvalidModelError, match=r"node 'lost' \(Conv\): input 'nowhere'"):
        load_onnx(g.model(out))


def test_truncated_and_missing_files(tmp_path):
    path = tmp_path / "cut.onnx"
    data = _stem_model().SerializeToString()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InvalidModelError, match=r"cut\.onnx: not a valid ONNX model \(truncated"):
        load_onnx(path)
    with pytest.raises(InvalidModelError, match=r"cannot read ONNX file .*absent\.onnx"):
        load_onnx(tmp_path / "absent.onnx")
    (tmp_path / "empty.onnx").write_bytes(b"")
    with pytest.raises(InvalidModelError, match=r"empty\.onnx: empty file"):
        load_onnx(tmp_path / "empty.onnx")


# --- constant subgraphs (onnx's own light model-zoo CNNs) -------------------------------

LIGHT = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"


def test_constant_of_shape_weights_fold_with_the_reference_evaluator():
    g = Graph((1, 8, 16, 16))
    shape = g._tmp("shape")
    g.inits.append(numpy_helper.from_array(np.array([16, 8, 1, 1], np.int64), shape))
    w = g.node("ConstantOfShape", [shape], "wgen",
               value=numpy_helper.from_array(np.array([0.02], np.float32)))
    # a reshape target computed from constants too: Concat of two initializers
    a, b = g._tmp("a"), g._tmp("b")
    g.inits += [numpy_helper.from_array(np.array([1], np.int64), a),
                numpy_helper.from_array(np.array([-1], np.int64), b)]
    target = g.node("Concat", [a, b], "target", axis=0)
    y = g.node("Conv", ["x", w], "pw", kernel_shape=[1, 1])
    y = g.node("Reshape", [g.node("GlobalAveragePool", [y], "gap"), target], "flat")
    net = load_onnx(g.model(y))
    assert [(l.name, l.kind, l.cin, l.cout) for l in net.layers] == \
        [("pw", LayerKind.POINTWISE, 8, 16), ("gap", LayerKind.POOL, 16, 16)]


def test_huge_constant_is_refused_before_evaluation():
    g = Graph((1, 8, 16, 16))
    shape = g._tmp("shape")
    g.inits.append(numpy_helper.from_array(np.array([100000, 100000, 1, 1], np.int64), shape))
    w = g.node("ConstantOfShape", [shape], "huge")
    with pytest.raises(InvalidModelError, match=r"node 'huge' \(ConstantOfShape\): constant of shape"):
        load_onnx(g.model(g.node("Conv", ["x", w], "pw", kernel_shape=[1, 1])))


def test_sum_of_three_is_refused():
    g = Graph((1, 8, 8, 8))
    x1 = g.conv("x", "a", 8, 8)
    with pytest.raises(InvalidModelError, match=r"Sum of 3 inputs"):
        load_onnx(g.model(g.node("Sum", [x1, x1, x1], "s3")))


@pytest.mark.skipif(not (LIGHT / "light_resnet50.onnx").is_file(), reason="onnx ships no light models")
def test_light_resnet50_plans_exactly_like_the_builtin():
    from scanfuse.plan.network_plan import plan_network
    light = load_onnx(LIGHT / "light_resnet50.onnx")
    ours = get_network("resnet50")
    assert [(l.kind, l.cin, l.cout, l.kernel, l.stride, l.h_in, l.w_in) for l in light.layers] == \
        [(l.kind, l.cin, l.cout, l.kernel, l.stride, l.h_in, l.w_in) for l in ours.layers]
    assert light.macs == ours.macs
    model = BufferModel(65536)
    a, b = plan_network(light, model), plan_network(ours, model)
    assert [(x.plan.traffic, x.plan.lower_bound) for x in a.layers] == \
        [(x.plan.traffic, x.plan.lower_bound) for x in b.layers]
    assert (a.read_bytes, a.write_bytes, a.lower_bound) == (21_329_152, 8_931_328, 28_611_072)
    fa = plan_fused_network(light, model, extended=True)
    fb = plan_fused_network(ours, model, extended=True)
    assert (fa.total_unfused, fa.total, fa.total_extended) == \
        (fb.total_unfused, fb.total, fb.total_extended)
    # the same groups, though the ONNX model splits the stem from its pool and the pool from
    # the FC into blocks of their own: groups run across plain blocks' joins either way
    assert [sorted(e.plan.total_bytes for e in f.extended) for f in (fa, fb)] == \
        [sorted(e.plan.total_bytes for e in fb.extended)] * 2


@pytest.mark.parametrize("name, op", [("light_bvlc_alexnet", "LRN"), ("light_squeezenet", "Concat"),
                                      ("light_shufflenet", "Transpose"), ("light_densenet121", "Mul")])
def test_light_models_with_unsupported_ops_fail_in_one_line(name, op):
    path = LIGHT / f"{name}.onnx"
    if not path.is_file():
        pytest.skip("onnx ships no light models")
    with pytest.raises(InvalidModelError, match=rf"\({op}\): unsupported operator {op}") as info:
        load_onnx(path)
    assert "\n" not in str(info.value)


@pytest.mark.skipif(not (LIGHT / "light_vgg19.onnx").is_file(), reason="onnx ships no light models")
def test_light_vgg19_imports():
    net = load_onnx(LIGHT / "light_vgg19.onnx")
    assert sum(l.kind is LayerKind.CONV for l in net.layers) == 16
    assert sum(l.kind is LayerKind.FC for l in net.layers) == 3
