"""ScanFuse: DRAM-efficient pointwise convolutions, from network to verified RTL.

The package follows the data flow of the toolkit:

``scanfuse.network``  built-in layer tables (MobileNetV1/V2, ResNet-50)
``scanfuse.plan``     GEMM view of 1x1 convs, Scan-order tiling search, lower bounds
``scanfuse.schedule`` explicit step lists (the contract with replays, driver and RTL)
``scanfuse.hw``       the Amaranth accelerator (from ``hw/``)
``scanfuse.sim``      simulation benches (from ``sim/``)
``scanfuse.cli``      the ``scanfuse`` command
"""

from .errors import (BufferTooSmallError, InvalidModelError, InvalidOptionError,
                     InvalidShapeError, ScanFuseError, UnknownNetworkError)

__version__ = "0.1.0"

__all__ = ["ScanFuseError", "InvalidShapeError", "InvalidOptionError",
           "BufferTooSmallError", "UnknownNetworkError", "InvalidModelError", "__version__"]
