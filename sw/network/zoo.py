"""Built-in networks, following torchvision's definitions (224x224 input, batch 1).

* MobileNetV2 (width 1.0): Sandler et al. 2018; torchvision ``mobilenet_v2``.
* MobileNetV1 (width 1.0): Howard et al. 2017, Table 1.
* ResNet-50: He et al. 2016. ``v1.5`` (torchvision's) puts the stride of a downsampling
  bottleneck on its 3x3 conv, ``v1`` (the paper's) on its first 1x1 conv.
"""

from ..errors import UnknownNetworkError
from .decompose import decomposed_sequence, rank_for
from .layers import Network, NetworkBuilder

#: MobileNetV2 inverted-residual settings (expansion t, channels c, repeats n, stride s).
MOBILENETV2_SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                        (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))

#: MobileNetV1 depthwise-separable layers (pointwise output channels, depthwise stride).
MOBILENETV1_SETTINGS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
                        (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1))

#: ResNet-50 stages (bottleneck width, blocks, stride of the first block).
RESNET50_STAGES = ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2))


def mobilenetv2(resolution: int = 224, classes: int = 1000) -> Network:
    net = NetworkBuilder("mobilenetv2", resolution, resolution)
    net.begin_block("stem")
    net.conv("stem", 32, 3, 2, 1)
    net.end_block("stem")
    index = 0
    for t, c, n, s in MOBILENETV2_SETTINGS:
        for repeat in range(n):
            stride = s if repeat == 0 else 1
            name = f"b{index}"
            cin = net.channels
            net.begin_block(name)
            if t != 1:
                net.pointwise(f"{name}.expand", cin * t)
            net.depthwise(f"{name}.dw", 3, stride, 1)
            net.pointwise(f"{name}.project", c)
            net.end_block("inverted_residual", residual=stride == 1 and cin == c)
            index += 1
    net.begin_block("head")
    net.pointwise("head.conv", 1280)
    net.pool("head.pool", 0, 1)
    net.fc("head.fc", classes)
    net.end_block("head")
    return net.build()


def mobilenetv1(resolution: int = 224, classes: int = 1000) -> Network:
    net = NetworkBuilder("mobilenetv1", resolution, resolution)
    net.begin_block("stem")
    net.conv("stem", 32, 3, 2, 1)
    net.end_block("stem")
    for index, (cout, stride) in enumerate(MOBILENETV1_SETTINGS):
        name = f"b{index}"
        net.begin_block(name)
        net.depthwise(f"{name}.dw", 3, stride, 1)
        net.pointwise(f"{name}.pw", cout)
        net.end_block("separable")
    net.begin_block("head")
    net.pool("head.pool", 0, 1)
    net.fc("head.fc", classes)
    net.end_block("head")
    return net.build()


def cp_rank(width: int, rule: str | int = "channels") -> int:
    """CP rank of a bottleneck's ``width x width x 3 x 3`` conv under a rank rule of
    :func:`scanfuse.network.decompose.rank_for`.

    ``"channels"`` (default): R = width, which reproduces the thesis's 20% (method notes,
    section 9). ``"max3"``: R = max(shape) // 3 = width // 3. An int: that rank.
    """
    return rank_for((width, width, 3, 3), rule)


def resnet50(variant: str = "v1.5", resolution: int = 224, classes: int = 1000,
             cp_rank_rule: str | int | None = None) -> Network:
    """ResNet-50; with ``cp_rank_rule`` every bottleneck 3x3 is CP-decomposed (Lebedev et
    al., ICLR 2015) into the sequence of :func:`scanfuse.network.decompose.decomposed_sequence`:
    ``conv2.first`` 1x1 (width -> R), ``conv2.vertical`` 3x1 depthwise (stride (s, 1)),
    ``conv2.horizontal`` 1x3 depthwise (stride (1, s)), ``conv2.last`` 1x1 (R -> width)."""
    if variant not in ("v1", "v1.5"):
        raise UnknownNetworkError(f"ResNet-50 variant must be v1 or v1.5, not {variant!r}")
    name = "resnet50" if variant == "v1.5" else "resnet50-v1"
    if cp_rank_rule is not None:
        name += "-cp"
    net = NetworkBuilder(name, resolution, resolution)
    net.begin_block("stem")
    net.conv("stem", 64, 7, 2, 3)
    net.pool("stem.pool", 3, 2, 1)
    net.end_block("stem")
    for stage, (width, blocks, first_stride) in enumerate(RESNET50_STAGES, start=1):
        for index in range(blocks):
            name = f"s{stage}b{index}"
            stride = first_stride if index == 0 else 1
            stride_1x1, stride_3x3 = (stride, 1) if variant == "v1" else (1, stride)
            cin, h, w = net.channels, net.height, net.width
            net.begin_block(name)
            net.conv(f"{name}.conv1", width, 1, stride_1x1, 0)
            if cp_rank_rule is None:
                net.conv(f"{name}.conv2", width, 3, stride_3x3, 1)
            else:
                sequence = decomposed_sequence((width, width, 3, 3), cp_rank(width, cp_rank_rule), stride_3x3)
                net.extend(sequence.to_layers((net.height, net.width), f"{name}.conv2.", name))
            net.conv(f"{name}.conv3", width * 4, 1, 1, 0)
            if index == 0:
                # The projection shortcut reads the block input, not conv3's output.
                out = (net.height, net.width, net.channels)
                net.height, net.width, net.channels = h, w, cin
                net.conv(f"{name}.downsample", width * 4, 1, stride, 0)
                net.height, net.width, net.channels = out
            net.end_block("bottleneck", residual=True)
    net.begin_block("head")
    net.pool("head.pool", 0, 1)
    net.fc("head.fc", classes)
    net.end_block("head")
    return net.build()


_BUILTIN = {
    "mobilenetv2": mobilenetv2,
    "mobilenetv1": mobilenetv1,
    "resnet50": lambda: resnet50("v1.5"),
    "resnet50-v1.5": lambda: resnet50("v1.5"),
    "resnet50-v1": lambda: resnet50("v1"),
    "resnet50-cp": lambda: resnet50("v1.5", cp_rank_rule="channels"),
}


def network_names() -> list[str]:
    """Names accepted by :func:`get_network`."""
    return list(_BUILTIN)


def get_network(name: str) -> Network:
    """A built-in network by name (see :func:`network_names`)."""
    try:
        factory = _BUILTIN[str(name).lower()]
    except KeyError:
        raise UnknownNetworkError(
            f"unknown network {name!r}; built-in networks: {', '.join(_BUILTIN)}") from None
    return factory()
