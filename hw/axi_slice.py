"""AXI4 register slice: one :class:`~.skid.SkidBuffer` per channel between a master and a slave.

An AXI4 link between two blocks placed apart on an FPGA carries same-cycle paths both ways: the
slave's ``xREADY`` into the master's decisions and the master's ``xREADY`` into the slave's
output registers. A register slice, the usual fix in an AXI interconnect, ends every one of
them at a flip-flop: each channel's payload and ``xVALID`` leave from registers on the far
side, and each ``xREADY`` back to the sender is a register too. Each channel gains one cycle of
latency and keeps one beat per cycle.
"""

from amaranth.hdl import Module
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .axi import AXI4Signature
from .skid import SkidBuffer

__all__ = ["AXI4RegisterSlice", "CHANNELS"]

#: The five AXI4 channels by signal prefix (which side sends each one is the signature's).
CHANNELS = ("aw", "w", "b", "ar", "r")


def channel_fields(sig: AXI4Signature, prefix: str) -> dict:
    """The payload of channel ``prefix`` (every member named ``prefix...`` except its valid and
    ready), as ``{member: shape}`` in the signature's order: derived, never retyped."""
    handshake = {f"{prefix}valid", f"{prefix}ready"}
    return {name: member.shape for name, member in sig.members.items()
            if name.startswith(prefix) and name not in handshake}


class AXI4RegisterSlice(wiring.Component):
    """Full register slice on all five channels of an AXI4 link.

    Parameters
    ----------
    addr_width, data_width, id_width : int
        As :class:`~.axi.AXI4Signature` (which validates them).

    Members
    -------
    s_axi : In(AXI4Signature(...))
        The slave port: connect the master here.
    m_axi : Out(AXI4Signature(...))
        The master port: connect the slave here.

    Every beat crosses in order, none is lost or duplicated; a beat accepted at one port is
    offered at the other one cycle later at the earliest. No combinational path crosses the
    slice in either direction.
    """

    def __init__(self, addr_width: int, data_width: int, id_width: int = 1):
        sig = AXI4Signature(addr_width, data_width, id_width)
        self._fields = {prefix: channel_fields(sig, prefix) for prefix in CHANNELS}
        # The master sends a channel whose valid is an output of the master's view.
        self._forward = {prefix: sig.members[f"{prefix}valid"].flow == Out
                         for prefix in CHANNELS}
        super().__init__({"s_axi": In(sig), "m_axi": Out(sig)})

    def elaborate(self, platform):
        m = Module()
        for prefix in CHANNELS:
            fields, forward = self._fields[prefix], self._forward[prefix]
            m.submodules[f"{prefix}_slice"] = skid = SkidBuffer(data.StructLayout(fields))
            src, dst = (self.s_axi, self.m_axi) if forward else (self.m_axi, self.s_axi)
            m.d.comb += [
                skid.i.valid.eq(getattr(src, f"{prefix}valid")),
                getattr(src, f"{prefix}ready").eq(skid.i.ready),
                getattr(dst, f"{prefix}valid").eq(skid.o.valid),
                skid.o.ready.eq(getattr(dst, f"{prefix}ready")),
            ]
            for name in fields:
                m.d.comb += [
                    getattr(skid.i.payload, name).eq(getattr(src, name)),
                    getattr(dst, name).eq(getattr(skid.o.payload, name)),
                ]
        return m
