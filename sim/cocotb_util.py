"""Helpers shared by the cocotb benches in ``scanfuse.sim``."""

import random
from collections import deque

from cocotb.triggers import RisingEdge
from cocotbext.axi import AxiRam


def random_pause(rng: random.Random, p_stall: float):
    """Pause generator for cocotbext-axi channels: True = stall this cycle."""
    while True:
        yield rng.random() < p_stall


def burst_pause(rng: random.Random, p_start: float, max_run: int = 8):
    """Pause generator with stalls in runs: each cycle a run of 1..``max_run`` paused cycles
    starts with probability ``p_start`` (long idle gaps and back-pressure episodes rather than
    single-cycle noise)."""
    while True:
        if rng.random() < p_start:
            for _ in range(rng.randint(1, max_run)):
                yield True
        else:
            yield False


async def reset_dut(dut, cycles: int = 4):
    """Hold ``dut.rst`` high for ``cycles`` rising edges of ``dut.clk``, release it, and wait one
    more edge (inputs the bench drives should be set to their idle values first)."""
    dut.rst.value = 1
    for _ in range(cycles):
        await RisingEdge(dut.clk)
    dut.rst.value = 0
    await RisingEdge(dut.clk)


class FaultyAxiRam(AxiRam):
    """cocotbext-axi's ``AxiRam`` that gives the one faulty response of ``fault`` (a
    :class:`~scanfuse.sim.bus_fault.BusFault`; ``None``: a plain AxiRam). ``fired`` counts the
    faulty responses sent.

    AxiRam serves the bursts of each direction one after another (receive AR, send its R
    beats; receive AW, take its W beats, send B), so wrapping the AR/AW receive and the R/B
    send of its two halves is enough to know which burst and beat each response belongs to;
    the faulty one gets the fault's RESP and ID (and zero RDATA).
    """

    def __init__(self, bus, clock, reset=None, *, fault=None, **kwargs):
        super().__init__(bus, clock, reset, **kwargs)
        self.fault = fault
        self.fired = 0
        if fault is not None:
            self._hook(self.read_if, self.read_if.ar_channel, self.read_if.r_channel, "read")
            self._hook(self.write_if, self.write_if.aw_channel, self.write_if.b_channel,
                       "write")

    def _hook(self, side, addr_ch, resp_ch, channel: str):
        fault, recv, send = self.fault, addr_ch.recv, resp_ch.send
        bursts = deque()         # per accepted burst: [index of the faulty beat or -1, beats sent]
        matched = 0
        prefix = "ar" if channel == "read" else "aw"

        async def recv_counting():
            nonlocal matched
            tr = await recv()
            bad = -1
            if fault.matches(channel, int(getattr(tr, prefix + "addr"))):
                matched += 1
                if matched == fault.burst + 1:
                    bad = min(fault.beat, int(getattr(tr, prefix + "len", 0))) \
                        if channel == "read" else 0
            bursts.append([bad, 0])
            return tr

        async def send_faulty(tr):
            burst = bursts[0]
            if burst[0] == burst[1]:
                self.fired += 1
                if channel == "read":
                    tr.rresp, tr.rid, tr.rdata = fault.resp, fault.id, 0
                else:
                    tr.bresp, tr.bid = fault.resp, fault.id
            burst[1] += 1
            if channel == "write" or int(tr.rlast):
                bursts.popleft()
            await send(tr)

        addr_ch.recv = recv_counting
        resp_ch.send = send_faulty
