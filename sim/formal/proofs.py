"""Every formal proof of the project: harness, mode and depth.

A :class:`Proof` is one harness run in one or more SymbiYosys modes. ``prove`` is
k-induction (the property holds in every reachable state); ``bmc`` checks every trace up to
``depth`` cycles from reset, for harnesses where induction does not close; ``cover`` shows
that every ``Cover`` of the harness is reachable within ``depth`` cycles (so no assertion
passes vacuously). ``fast`` proofs also run in ``make test`` (tests/hw/test_formal.py).
"""

import dataclasses
from typing import Callable

__all__ = ["Proof", "PROOFS", "proof"]


@dataclasses.dataclass(frozen=True)
class Proof:
    """One harness and how to run it.

    ``build(**kw)`` returns the harness; ``kw`` may replace its design under test (the
    planted-bug tests pass ``dut_class``). ``tasks`` maps a mode to its depth.
    """

    name: str
    block: str
    build: Callable
    tasks: dict
    script: str = ""
    fast: bool = False


def _skid(**kw):
    from .stream import SkidHarness
    return SkidHarness(**kw)


def _dma(**kw):
    from .axi4 import DmaHarness
    return DmaHarness(**kw)


def _dma_address(**kw):
    from .axi4 import DmaHarness
    return DmaHarness(address_only=True, **kw)


def _dma_fair(**kw):
    from .axi4 import DmaHarness
    return DmaHarness(fair=True, **kw)


def _queue(**kw):
    from ...hw.queue import StreamQueue
    from .stream import SkidHarness
    return SkidHarness(**({"dut_class": StreamQueue} | kw))


def _packer_peek(**kw):
    from ...hw.packer import RowPacker
    from .packer import PackerHarness

    def peeking(cfg, elem_bytes):
        return RowPacker(cfg, elem_bytes, peek=True)
    return PackerHarness(cols=2, elem_bytes=4, axi_data_bits=32, peek=True,
                         **({"dut_class": peeking} | kw))


def _packer_gather(**kw):
    from .packer import PackerHarness
    return PackerHarness(cols=2, elem_bytes=1, axi_data_bits=32, **kw)


def _packer_split(**kw):
    from .packer import PackerHarness
    return PackerHarness(cols=2, elem_bytes=4, axi_data_bits=32, **kw)


def _requant_stream(**kw):
    from .stream import RequantStreamHarness
    return RequantStreamHarness(**kw)


def _regs(**kw):
    from .axil import RegsHarness
    return RegsHarness(**kw)


def _checker(**kw):
    from .checker import CheckerHarness
    return CheckerHarness(**kw)


def _addrgen(**kw):
    from .addrgen import AddrGenHarness
    return AddrGenHarness(**kw)


def _addrgen_c(**kw):
    from .addrgen import AddrGenHarness
    return AddrGenHarness(c_flags=True, **kw)


PROOFS: tuple[Proof, ...] = (
    Proof("skid", "hw/skid.py SkidBuffer", _skid, {"prove": 4, "cover": 8}, fast=True),
    Proof("packer_gather", "hw/packer.py RowPacker, 2-byte words into 4-byte beats",
          _packer_gather, {"bmc": 12, "cover": 12}),
    Proof("packer_split", "hw/packer.py RowPacker, 8-byte words into 4-byte beats",
          _packer_split, {"bmc": 12, "cover": 16}),
    Proof("queue", "hw/queue.py StreamQueue (depth 2, as the skid buffer)", _queue,
          {"bmc": 12, "cover": 8}, fast=True),
    Proof("packer_peek", "hw/packer.py RowPacker(peek=True), 8-byte words into 4-byte beats",
          _packer_peek, {"bmc": 12, "cover": 16}),
    Proof("requant_stream", "hw/requant.py Requantizer stream (identity parameters)",
          _requant_stream, {"bmc": 17, "cover": 17}, fast=True),
    Proof("regs_axil", "hw/regs.py ControlRegisters AXI4-Lite", _regs, {"prove": 4, "cover": 8},
          fast=True),
    Proof("checker", "hw/program.py DescriptorChecker", _checker, {"prove": 6, "cover": 6},
          fast=True),
    Proof("addrgen", "hw/addrgen.py TileAddressGenerator", _addrgen, {"prove": 3, "cover": 40}),
    Proof("addrgen_c", "hw/addrgen.py load_c, prev_c_final", _addrgen_c, {"bmc": 28}),
    Proof("dma_addr", "hw/dma.py AR/AW/W channels, bursts", _dma_address, {"prove": 4},
          fast=True),
    Proof("dma_axi4", "hw/dma.py TileDMA AXI4 master", _dma, {"bmc": 16, "cover": 24}),
    Proof("dma_live", "hw/dma.py TileDMA, fair slave", _dma_fair, {"bmc": 24}),
)


def proof(name: str) -> Proof:
    """The proof called ``name``."""
    for p in PROOFS:
        if p.name == name:
            return p
    raise KeyError(f"no proof {name!r}; known: {', '.join(p.name for p in PROOFS)}")
