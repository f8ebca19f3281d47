# amaranth: UnusedElaboratable=no
"""The engine's error paths on every simulator that runs it: bus errors, bad response IDs, an
oversized B tile, START while busy, and a second START after an error.

One fault spec (:class:`scanfuse.sim.bus_fault.BusFault`) drives the three memory models: the
Amaranth :class:`~scanfuse.sim.amaranth_axi.AxiMemory` (here), cocotbext-axi's AxiRam
subclass :class:`~scanfuse.sim.cocotb_util.FaultyAxiRam` (the ``bus_fault`` tests of
``scanfuse.sim.engine_bench``, on Icarus and on Verilator under cocotb) and the C++ Verilator
harness. Every faulty run must end with STATUS.DONE and STATUS.ERROR, ERROR = BUS_ERROR
(0x10), within a bounded number of cycles, the fault must have fired, and a second START on
the same engine (no reset) must run the program to completion bit-exactly with the planner's
byte counts.
"""

from dataclasses import replace

import pytest
from amaranth.sim import Simulator

from scanfuse.hw.axi import Resp
from scanfuse.hw.engine import Engine
from scanfuse.hw.params import AccelConfig
from scanfuse.hw.program import DescriptorError, LayerDescriptor
from scanfuse.hw.regs import Status
from scanfuse.program.descriptors import DescriptorFields, pack
from scanfuse.sim.amaranth_axi import AxiMemory
from scanfuse.sim.bus_fault import (FAULTS, BusFault, fault_case, fault_on, fault_problems,
                                    run_start_while_busy)
from scanfuse.sim.engine_sim import EngineRun, _LiteBus
from scanfuse.sim.host import run_program
from scanfuse.sim.scoreboard import check_run

from scanfuse.errors import InvalidOptionError

CFG = AccelConfig(a_entries=1024, b_entries=1024, c_entries=512)
MAX_CYCLES = 200_000        # a faulty run of the small case takes ~2,000


def run_amaranth(case, fault, *, second: bool = True, busy_start: bool = False,
                 p_ready: float = 1.0, p_valid: float = 1.0):
    """One simulation: the program once over a memory with ``fault``, then (``second``) START
    again without a reset. ``busy_start`` writes START a second time while the first run is
    busy. Returns ``(runs, memory model)``; each run an :class:`EngineRun` over the shared
    memory."""
    mem = bytearray(case.image.mem)
    dut = Engine(case.cfg)
    axi = AxiMemory(dut.bus, mem, seed=3, p_ready=p_ready, p_valid=p_valid, fault=fault)
    image = case.image
    runs = []

    async def control(ctx):
        bus = _LiteBus(ctx, dut.ctrl)
        if busy_start:
            r = await run_start_while_busy(bus, image.prog_addr, image.prog_len,
                                           max_cycles=MAX_CYCLES)
        else:
            r = await run_program(bus, image.prog_addr, image.prog_len, max_cycles=MAX_CYCLES,
                                  check_id=False)
        runs.append(EngineRun(mem, r.status, r.error, r.counters, 0, 0, r.cycles))
        if second:
            r = await run_program(bus, image.prog_addr, image.prog_len, max_cycles=MAX_CYCLES,
                                  check_id=False)
            runs.append(EngineRun(mem, r.status, r.error, r.counters, 0, 0, r.cycles))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(axi.run, background=True)
    sim.add_testbench(control)
    sim.run()
    return runs, axi


@pytest.mark.parametrize("target,resp,rid", FAULTS)
def test_amaranth_bus_fault_sets_bus_error_and_the_engine_restarts(target, resp, rid):
    case = fault_case(CFG)
    fault = fault_on(case.image, target, resp=resp, id=rid, beat=1)
    runs, axi = run_amaranth(case, fault, p_ready=0.8, p_valid=0.8)
    problems = fault_problems(case, *runs, axi.fired, target)
    assert not problems, problems


def test_amaranth_start_while_busy_is_ignored():
    case = fault_case(CFG)
    runs, axi = run_amaranth(case, None, second=False, busy_start=True)
    assert check_run(case, runs[0]).ok, check_run(case, runs[0]).problems
    # one program run: its single descriptor was fetched once
    assert axi.reads.count((case.image.prog_addr, LayerDescriptor(case.cfg).beats)) == 1


def test_amaranth_b_overflow_from_a_legal_looking_descriptor_then_restart():
    """B_OVERFLOW with b_off = 0: a tile of 40x40 B entries (1,600) in a 1,024-entry B
    memory, every other field legal; then a legal program on the same engine."""
    case = fault_case(CFG)
    image = case.image
    bad = DescriptorFields(M=12, K=40, N=40, tm=8, tn=40, tk=40, a_base=0x400, b_base=0x800,
                           c_base=0x1000, a_stride=40, b_stride=40, c_stride=160, last=1)
    blob = pack(bad, CFG, check=False)
    mem = bytearray(image.mem) + bytearray(len(blob))
    bad_addr = len(image.mem)
    mem[bad_addr:] = blob
    image2 = replace(image, mem=mem)
    case2 = replace(case, image=image2)
    dut = Engine(CFG)
    axi = AxiMemory(dut.bus, mem)
    runs = []

    async def control(ctx):
        bus = _LiteBus(ctx, dut.ctrl)
        for addr, n in ((bad_addr, 1), (image.prog_addr, image.prog_len)):
            r = await run_program(bus, addr, n, max_cycles=MAX_CYCLES, check_id=False)
            runs.append(EngineRun(mem, r.status, r.error, r.counters, 0, 0, r.cycles))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(axi.run, background=True)
    sim.add_testbench(control)
    sim.run()
    first, second = runs
    assert first.done and first.status & Status.ERROR
    assert first.error == DescriptorError.B_OVERFLOW.value
    assert first.counters["read_bytes"] == 0 and first.counters["macs"] == 0
    assert check_run(case2, second).ok, check_run(case2, second).problems


def test_bus_fault_spec_is_validated():
    with pytest.raises(InvalidOptionError, match="channel"):
        BusFault("ar")
    with pytest.raises(InvalidOptionError, match="non-zero id"):
        BusFault("read", resp=Resp.OKAY.value)
    with pytest.raises(InvalidOptionError, match="resp"):
        BusFault("write", resp=4)
    with pytest.raises(InvalidOptionError, match="empty"):
        BusFault("read", lo=8, hi=8)
    assert BusFault("write", id=1).harness_args()[0] == "fault_channel=write"


def _sim(sim):
    from scanfuse.sim import hdl_sim
    return pytest.param(sim, id=sim, marks=pytest.mark.skipif(not hdl_sim.available(sim),
                                                             reason=f"{sim} missing"))


@pytest.mark.parametrize("sim", [_sim("icarus"), _sim("verilator")])
def test_cocotb_bus_faults_restart_and_start_while_busy(tmp_path, sim):
    """The bench's ``bus_fault`` (every entry of FAULTS, with random stalls) and
    ``start_while_busy`` tests on FaultyAxiRam, on the configuration the cocotb ladder already
    builds (no extra Verilator build)."""
    from cocotb_tools.check_results import get_results

    from scanfuse.sim.engine_rtl import cocotb_test
    results = cocotb_test(CFG, tmp_path, "bus_fault|start_while_busy", {"P_STALL": "0.2"},
                          sim=sim, seed=3)
    assert get_results(results) == (len(FAULTS) + 1, 0)
