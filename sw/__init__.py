"""ScanFuse: DRAM-efficient pointwise convolutions, from network to verified RTL.

The package follows the data flow of the toolkit (``docs/architecture.md``; each stage imports
only the ones before it):

``scanfuse.network``   layer tables, built-in networks, ONNX import, CP decomposition
``scanfuse.plan``      GEMM view of 1x1 convs, Scan-order tiling search, lower bounds, fusion
``scanfuse.schedule``  explicit step lists (the contract with replays, program and RTL)
``scanfuse.program``   plans -> layer descriptors -> the DRAM image the engine fetches
``scanfuse.dram``      DRAM layout, bursts, timing and energy
``scanfuse.evaluate``  whole networks, five planning variants
``scanfuse.report``    tables and JSON
``scanfuse.cli``       the ``scanfuse`` command

beside them ``scanfuse.hw``, the Amaranth accelerator (from ``hw/``), and ``scanfuse.sim``,
its verification (from ``sim/``).
"""

import importlib.abc
import sys


from .errors import (BufferTooSmallError, InvalidModelError, InvalidOptionError,
                     InvalidShapeError, ScanFuseError, UnknownNetworkError)

__version__ = "0.1.0"

#: Modules that moved in the re-layering (issue 13) -> where they are now. Importing an old
#: name (or ``python -m`` on it) fails with one line naming the new one.
MOVED = {
    "scanfuse.bench": "`scanfuse bench`",
    # Importing scanfuse.driver.X asks for scanfuse.driver first: one line for all three.
    "scanfuse.driver": ("scanfuse.program (descriptors, image; `scanfuse program` prints a "
                        "tile program) and scanfuse.sim (cases, run, scoreboard)"),
    "scanfuse.fuse.network": "scanfuse.plan.fusion",
    "scanfuse.fuse.steps": "scanfuse.schedule.fused",
    "scanfuse.fuse": "scanfuse.plan (chain, pipeline, geometry, fusion)",
    "scanfuse.decompose": "scanfuse.network.decompose",
    "scanfuse.refconv": "scanfuse.network.refconv",
    "scanfuse.sim_cli": "scanfuse.cli.sim (`scanfuse sim`)",
    "scanfuse.hw.fpga.cli": "scanfuse.cli.fpga (`scanfuse fpga`)",
    "scanfuse.hw.fpga.layers": "scanfuse.sim.fpga_layers (`scanfuse fpga --layers`)",
    "scanfuse.hw.fpga.engine_image": "scanfuse.sim.fpga_image",
}


class _MovedFinder(importlib.abc.MetaPathFinder):
    """Refuses the old module names of :data:`MOVED` with a message naming the new home."""

    def find_spec(self, fullname, path=None, target=None):
        for old, new in MOVED.items():
            if fullname == old or fullname.startswith(old + "."):
                raise ModuleNotFoundError(f"{fullname} is now {new}", name=fullname)
        return None


if not any(isinstance(f, _MovedFinder) for f in sys.meta_path):
    sys.meta_path.insert(0, _MovedFinder())

__all__ = ["ScanFuseError", "InvalidShapeError", "InvalidOptionError",
           "BufferTooSmallError", "UnknownNetworkError", "InvalidModelError", "__version__"]
