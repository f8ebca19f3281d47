"""Built-in networks: pinned MAC totals and structure."""

import pytest

from scanfuse.errors import InvalidShapeError, UnknownNetworkError
from scanfuse.network import LayerKind, get_network, network_names
from scanfuse.plan import Gemm


@pytest.mark.parametrize("name, macs", [
    ("mobilenetv2", 300_774_272),
    ("resnet50", 4_089_184_256),
    ("resnet50-v1.5", 4_089_184_256),
    ("resnet50-v1", 3_857_973_248),
    ("mobilenetv1", 568_740_352),
])
def test_mac_totals(name, macs):
    assert get_network(name).macs == macs


def test_mobilenetv2_structure():
    net = get_network("mobilenetv2")
    by_kind = net.macs_by_kind()
    assert by_kind[LayerKind.POINTWISE] == 267_939_840
    assert by_kind[LayerKind.DEPTHWISE] == 20_716_416
    assert by_kind[LayerKind.CONV] == 10_838_016
    assert by_kind[LayerKind.FC] == 1_280_000
    blocks = [b for b in net.blocks if b.kind == "inverted_residual"]
    assert len(blocks) == 17
    assert sum(b.residual for b in blocks) == 10
    first = net.layer("b1.expand")
    assert (first.cin, first.cout, first.h_in, first.h_out) == (16, 96, 112, 112)
    dw = net.layer("b1.dw")
    assert (dw.groups, dw.stride, dw.h_out) == (96, (2, 2), 56)
    assert Gemm.of_layer(net.layer("head.conv")).M == 49


def test_resnet50_variants_place_the_stride():
    v15, v1 = get_network("resnet50"), get_network("resnet50-v1")
    assert v15.layer("s2b0.conv1").stride == (1, 1) and v15.layer("s2b0.conv2").stride == (2, 2)
    assert v1.layer("s2b0.conv1").stride == (2, 2) and v1.layer("s2b0.conv2").stride == (1, 1)
    # A strided 1x1 conv subsamples: its GEMM has M = Ho*Wo.
    assert Gemm.of_layer(v1.layer("s2b0.conv1")).M == 28 * 28
    down = v15.layer("s2b0.downsample")
    assert (down.cin, down.cout, down.h_in, down.h_out) == (256, 512, 56, 28)
    assert len(v15.pointwise_layers()) == 36
    assert all(b.residual for b in v15.blocks if b.kind == "bottleneck")


def test_unknown_network_names_the_choices():
    with pytest.raises(UnknownNetworkError, match="mobilenetv2"):
        get_network("vgg16")
    assert "resnet50-v1" in network_names()


def test_layers_reject_bad_shapes():
    from scanfuse.network import NetworkBuilder
    with pytest.raises(InvalidShapeError, match="groups"):
        NetworkBuilder("x", 8, 8, 6).conv("c", 4, 3, 1, 1, groups=4)
    with pytest.raises(InvalidShapeError, match="not pointwise"):
        Gemm.of_layer(get_network("mobilenetv2").layer("b1.dw"))
