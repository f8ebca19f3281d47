"""AXI models for the Amaranth simulator: a byte-addressed AXI4 slave memory with random
ready/valid stalls, and AXI4-Lite master transactions (async testbench helpers).

The cocotb benches use cocotbext-axi instead; these exist so that ``make test`` can run the
whole engine under ``amaranth.sim`` without Icarus.
"""

import random
from collections import deque

__all__ = ["AxiMemory", "lite_write", "lite_read"]


class AxiMemory:
    """An AXI4 slave over ``mem`` (a ``bytearray`` indexed by byte address).

    Parameters
    ----------
    bus : the DUT's AXI4 master interface (``Out(AXI4Signature)`` member)
    mem : bytearray
    seed : int
        Seeds the stall pattern.
    p_ready : float
        Probability that ARREADY / AWREADY / WREADY is high in a cycle.
    p_valid : float
        Probability that a ready R beat or B response is presented in a cycle.
    latency : int
        Cycles from an accepted AR (or last W) to its first R beat (its B response).
    fault : :class:`~scanfuse.sim.bus_fault.BusFault` or None
        One faulty R beat or B response (zero data on a faulty R beat); ``fired`` counts the
        faulty responses given (0 or 1).

    Bursts must be INCR; out-of-range addresses raise ``IndexError`` (a DUT bug).
    ``read_bytes`` / ``write_bytes`` count bytes moved on the bus (whole beats read, strobed
    bytes written); ``reads`` / ``writes`` list the bursts as ``(addr, beats)``.
    """

    def __init__(self, bus, mem: bytearray, *, seed: int = 0, p_ready: float = 1.0,
                 p_valid: float = 1.0, latency: int = 2, fault=None):
        self.bus = bus
        self.mem = mem
        self.rng = random.Random(seed)
        self.p_ready = p_ready
        self.p_valid = p_valid
        self.latency = latency
        self.nb = len(bus.wdata) // 8
        self.read_bytes = 0
        self.write_bytes = 0
        self.reads: list[tuple[int, int]] = []
        self.writes: list[tuple[int, int]] = []
        self.fault = fault
        self.fired = 0
        self._matched = {"read": 0, "write": 0}

    def _faulty(self, channel: str, addr: int) -> bool:
        """Count a burst starting at ``addr``; it is the faulty one."""
        f = self.fault
        if f is None or not f.matches(channel, addr):
            return False
        self._matched[channel] += 1
        return self._matched[channel] == f.burst + 1

    def _stall(self, p: float) -> int:
        return int(p >= 1.0 or self.rng.random() < p)

    async def run(self, ctx):
        bus, nb, mem = self.bus, self.nb, self.mem
        cycle = 0
        r_bursts = deque()      # [ready_cycle, addr, beats_left, beats_left of the faulty beat]
        aw_bursts = deque()     # [addr, beats_left, faulty]
        b_pending = deque()     # (ready_cycle, faulty)
        r_cur = None            # (data, last, faulty) being presented
        b_cur = None            # faulty, while a B response is presented
        f = self.fault
        while True:
            arready = self._stall(self.p_ready)
            awready = self._stall(self.p_ready)
            wready = self._stall(self.p_ready) if aw_bursts else 0
            ctx.set(bus.arready, arready)
            ctx.set(bus.awready, awready)
            ctx.set(bus.wready, wready)
            if r_cur is None and r_bursts and r_bursts[0][0] <= cycle and self._stall(self.p_valid):
                burst = r_bursts[0]
                addr = burst[1]
                bad = burst[2] == burst[3]
                r_cur = (0 if bad else int.from_bytes(mem[addr:addr + nb], "little"),
                         burst[2] == 1, bad)
                if addr + nb > len(mem):
                    raise IndexError(f"AXI read beyond memory at {addr:#x}")
            ctx.set(bus.rvalid, int(r_cur is not None))
            if r_cur is not None:
                ctx.set(bus.rdata, r_cur[0])
                ctx.set(bus.rlast, int(r_cur[1]))
                ctx.set(bus.rresp, f.resp if r_cur[2] else 0)
                ctx.set(bus.rid, f.id if r_cur[2] else 0)
            if b_cur is None and b_pending and b_pending[0][0] <= cycle \
                    and self._stall(self.p_valid):
                b_cur = b_pending.popleft()[1]
            ctx.set(bus.bvalid, int(b_cur is not None))
            ctx.set(bus.bresp, f.resp if b_cur else 0)
            ctx.set(bus.bid, f.id if b_cur else 0)

            if ctx.get(bus.arvalid) and arready:
                addr, length = ctx.get(bus.araddr), ctx.get(bus.arlen)
                assert ctx.get(bus.arburst) == 1, "only INCR bursts"
                bad_at = (length + 1 - min(f.beat, length)
                          if self._faulty("read", addr) else 0)
                r_bursts.append([cycle + self.latency, addr, length + 1, bad_at])
                self.reads.append((addr, length + 1))
            if r_cur is not None and ctx.get(bus.rready):
                self.read_bytes += nb
                self.fired += r_cur[2]
                burst = r_bursts[0]
                burst[1] += nb
                burst[2] -= 1
                if burst[2] == 0:
                    r_bursts.popleft()
                r_cur = None
            if ctx.get(bus.awvalid) and awready:
                addr, length = ctx.get(bus.awaddr), ctx.get(bus.awlen)
                assert ctx.get(bus.awburst) == 1, "only INCR bursts"
                aw_bursts.append([addr, length + 1, self._faulty("write", addr)])
                self.writes.append((addr, length + 1))
            if wready and ctx.get(bus.wvalid):
                data, strb, last = ctx.get(bus.wdata), ctx.get(bus.wstrb), ctx.get(bus.wlast)
                burst = aw_bursts[0]
                for i in range(nb):
                    if strb >> i & 1:
                        if burst[0] + i >= len(mem):
                            raise IndexError(f"AXI write beyond memory at {burst[0] + i:#x}")
                        mem[burst[0] + i] = data >> (8 * i) & 0xFF
                        self.write_bytes += 1
                burst[0] += nb
                burst[1] -= 1
                assert bool(last) == (burst[1] == 0), "WLAST disagrees with AWLEN"
                if burst[1] == 0:
                    aw_bursts.popleft()
                    b_pending.append((cycle + self.latency, burst[2]))
            if b_cur is not None and ctx.get(bus.bready):
                self.fired += b_cur
                b_cur = None
            await ctx.tick()
            cycle += 1


async def lite_write(ctx, bus, addr: int, data: int, strb: int = 0xF) -> int:
    """One AXI4-Lite write; returns BRESP."""
    ctx.set(bus.awaddr, addr)
    ctx.set(bus.awvalid, 1)
    ctx.set(bus.wdata, data)
    ctx.set(bus.wstrb, strb)
    ctx.set(bus.wvalid, 1)
    ctx.set(bus.bready, 1)
    aw_done = w_done = False
    while True:
        aw_fire = not aw_done and ctx.get(bus.awready)
        w_fire = not w_done and ctx.get(bus.wready)
        b_fire = ctx.get(bus.bvalid)
        resp = ctx.get(bus.bresp)
        await ctx.tick()
        aw_done |= bool(aw_fire)
        w_done |= bool(w_fire)
        if aw_done:
            ctx.set(bus.awvalid, 0)
        if w_done:
            ctx.set(bus.wvalid, 0)
        if b_fire:
            ctx.set(bus.bready, 0)
            return resp


async def lite_read(ctx, bus, addr: int) -> tuple[int, int]:
    """One AXI4-Lite read; returns ``(RDATA, RRESP)``."""
    ctx.set(bus.araddr, addr)
    ctx.set(bus.arvalid, 1)
    ctx.set(bus.rready, 1)
    ar_done = False
    while True:
        ar_fire = not ar_done and ctx.get(bus.arready)
        r_fire = ctx.get(bus.rvalid)
        data, resp = ctx.get(bus.rdata), ctx.get(bus.rresp)
        await ctx.tick()
        ar_done |= bool(ar_fire)
        if ar_done:
            ctx.set(bus.arvalid, 0)
        if r_fire:
            ctx.set(bus.rready, 0)
            return data, resp
