"""Network front end: built-in layer tables (and, later, ONNX import)."""

from .layers import Block, Layer, LayerKind, Network, NetworkBuilder
from .zoo import get_network, mobilenetv1, mobilenetv2, network_names, resnet50

__all__ = ["Layer", "LayerKind", "Block", "Network", "NetworkBuilder", "get_network",
           "network_names", "mobilenetv1", "mobilenetv2", "resnet50"]
