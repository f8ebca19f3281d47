"""AMBA AXI4 and AXI4-Lite interface signatures, master view.

Every channel is flattened into one signature whose member names are the AXI signal names in
lower case (``awaddr``, ``wstrb``, ``rlast``...), exactly the names cocotbext-axi's ``AxiBus`` and
``AxiLiteBus`` look for. A component that *drives* a bus declares ``Out(AXI4Signature(...))``;
a slave (memory, interconnect port) declares ``In(AXI4Signature(...))``, which flips every
direction. Amaranth's Verilog backend names the ports ``<member>__<signal>`` (for example
``bus__awaddr``); cocotbext-axi finds them with ``AxiBus.from_prefix(dut, "bus",
bus_separator="__")``.

Response codes (``bresp``/``rresp``) follow the AXI specification: :class:`Resp`.
"""

from amaranth.lib import enum, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["Burst", "Resp", "AXI4Signature", "AXI4LiteSignature"]


class Burst(enum.Enum, shape=2):
    """``AxBURST`` encoding."""
    FIXED = 0
    INCR = 1
    WRAP = 2


class Resp(enum.Enum, shape=2):
    """``BRESP``/``RRESP`` encoding. Bit 1 set means the access failed."""
    OKAY = 0
    EXOKAY = 1
    SLVERR = 2
    DECERR = 3


#: Largest INCR burst of AXI4, in beats (AxLEN is 8 bits).
MAX_BURST_BEATS = 256
#: A burst must not cross an address boundary of this many bytes.
BOUNDARY_BYTES = 4096


def _check_widths(addr_width, data_width, *, lite):
    if not isinstance(addr_width, int) or not 12 <= addr_width <= 64:
        raise ValueError(f"addr_width must be an integer in 12..64, not {addr_width!r}")
    allowed = (32, 64) if lite else (8, 16, 32, 64, 128, 256, 512, 1024)
    if data_width not in allowed:
        raise ValueError(f"data_width must be one of {allowed}, not {data_width!r}")


class AXI4Signature(wiring.Signature):
    """AXI4 (full) master signature: AW, W, B, AR and R channels.

    Parameters
    ----------
    addr_width : int
        Byte-address width, 12..64.
    data_width : int
        Data bus width in bits, a power of two from 8 to 1024.
    id_width : int
        Transaction ID width, 1..32 (cocotbext-axi requires the ID signals to exist, so 0 is
        not offered).

    Members
    -------
    awid, awaddr, awlen, awsize, awburst, awlock, awcache, awprot, awvalid : Out
        Write address channel. ``awlen`` is beats minus one (8 bits), ``awsize`` is
        log2(bytes per beat) (3 bits).
    awready : In(1)
    wdata, wstrb, wlast, wvalid : Out
        Write data channel; ``wstrb`` has one bit per byte lane.
    wready : In(1)
    bid, bresp, bvalid : In
        Write response channel.
    bready : Out(1)
    arid, araddr, arlen, arsize, arburst, arlock, arcache, arprot, arvalid : Out
        Read address channel.
    arready : In(1)
    rid, rdata, rresp, rlast, rvalid : In
        Read data channel.
    rready : Out(1)
    """

    def __init__(self, addr_width: int, data_width: int, id_width: int = 1):
        _check_widths(addr_width, data_width, lite=False)
        if not isinstance(id_width, int) or not 1 <= id_width <= 32:
            raise ValueError(f"id_width must be an integer in 1..32, not {id_width!r}")
        self._addr_width = addr_width
        self._data_width = data_width
        self._id_width = id_width
        members = {}
        for ch in ("aw", "ar"):
            members.update({
                f"{ch}id":    Out(id_width),
                f"{ch}addr":  Out(addr_width),
                f"{ch}len":   Out(8),
                f"{ch}size":  Out(3),
                f"{ch}burst": Out(2),
                f"{ch}lock":  Out(1),
                f"{ch}cache": Out(4),
                f"{ch}prot":  Out(3),
                f"{ch}valid": Out(1),
                f"{ch}ready": In(1),
            })
        members.update({
            "wdata":  Out(data_width),
            "wstrb":  Out(data_width // 8),
            "wlast":  Out(1),
            "wvalid": Out(1),
            "wready": In(1),
            "bid":    In(id_width),
            "bresp":  In(2),
            "bvalid": In(1),
            "bready": Out(1),
            "rid":    In(id_width),
            "rdata":  In(data_width),
            "rresp":  In(2),
            "rlast":  In(1),
            "rvalid": In(1),
            "rready": Out(1),
        })
        super().__init__(members)

    @property
    def addr_width(self) -> int:
        return self._addr_width

    @property
    def data_width(self) -> int:
        return self._data_width

    @property
    def id_width(self) -> int:
        return self._id_width

    def __eq__(self, other):
        return (type(other) is type(self) and other.addr_width == self.addr_width and
                other.data_width == self.data_width and other.id_width == self.id_width)

    def __repr__(self):
        return (f"AXI4Signature(addr_width={self.addr_width}, data_width={self.data_width}, "
                f"id_width={self.id_width})")


class AXI4LiteSignature(wiring.Signature):
    """AXI4-Lite master signature (single-beat accesses, no IDs, no bursts).

    Parameters
    ----------
    addr_width : int
        Byte-address width, 12..64.
    data_width : int
        32 or 64.

    Members
    -------
    awaddr, awprot, awvalid : Out; awready : In(1)
    wdata, wstrb, wvalid : Out; wready : In(1)
    bresp, bvalid : In; bready : Out(1)
    araddr, arprot, arvalid : Out; arready : In(1)
    rdata, rresp, rvalid : In; rready : Out(1)
    """

    def __init__(self, addr_width: int, data_width: int = 32):
        _check_widths(addr_width, data_width, lite=True)
        self._addr_width = addr_width
        self._data_width = data_width
        super().__init__({
            "awaddr":  Out(addr_width),
            "awprot":  Out(3),
            "awvalid": Out(1),
            "awready": In(1),
            "wdata":   Out(data_width),
            "wstrb":   Out(data_width // 8),
            "wvalid":  Out(1),
            "wready":  In(1),
            "bresp":   In(2),
            "bvalid":  In(1),
            "bready":  Out(1),
            "araddr":  Out(addr_width),
            "arprot":  Out(3),
            "arvalid": Out(1),
            "arready": In(1),
            "rdata":   In(data_width),
            "rresp":   In(2),
            "rvalid":  In(1),
            "rready":  Out(1),
        })

    @property
    def addr_width(self) -> int:
        return self._addr_width

    @property
    def data_width(self) -> int:
        return self._data_width

    def __eq__(self, other):
        return (type(other) is type(self) and other.addr_width == self.addr_width and
                other.data_width == self.data_width)

    def __repr__(self):
        return f"AXI4LiteSignature(addr_width={self.addr_width}, data_width={self.data_width})"
