# amaranth: UnusedElaboratable=no
"""SelfTestController's verdicts against a scripted AXI4-Lite slave: a WAIT that never sees its
value times out (and only then), a CHECK that reads a wrong value fails at once, a WRITE
answered with SLVERR fails, and a script that passes goes on to the checksum phase."""

import pytest
from amaranth.sim import Simulator

from scanfuse.hw.axi import Resp
from scanfuse.hw.fpga.selftest import ScriptOp, SelfTestController, SelfTestImage, Step

TIMEOUT = 40


def _image(*steps):
    return SelfTestImage(memory=bytes(64), steps=steps, check_addr=0, check_bytes=8,
                         checksum=0, description="unit test")


def _run(image, read_value=0x5, bresp=Resp.OKAY, cycles=200):
    """Run the controller against a slave that accepts at once, answers every write with
    ``bresp`` and every read with ``read_value``; the first cycle it stops running, and its
    flags then (or at the end)."""
    dut = SelfTestController(image, 32, 64, timeout_cycles=TIMEOUT)
    lite = dut.lite
    out = {}

    async def bench(ctx):
        ctx.set(lite.awready, 1)
        ctx.set(lite.wready, 1)
        ctx.set(lite.arready, 1)
        ctx.set(lite.rdata, read_value)
        ctx.set(lite.rresp, Resp.OKAY)
        ctx.set(lite.bresp, bresp)
        b_due = r_due = False
        for cycle in range(cycles):
            ctx.set(lite.bvalid, b_due)
            ctx.set(lite.rvalid, r_due)
            if ctx.get(dut.mem_select) or not ctx.get(dut.running):
                break
            if b_due and ctx.get(lite.bready):
                b_due = False
            if r_due and ctx.get(lite.rready):
                r_due = False
            if ctx.get(lite.awvalid) and ctx.get(lite.wvalid):
                b_due = True
            if ctx.get(lite.arvalid):
                r_due = True
            await ctx.tick()
        out.update(cycle=cycle, **{k: ctx.get(getattr(dut, k))
                                   for k in ("running", "passed", "failed", "timed_out", "step",
                                             "mem_select")})

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return out


def test_a_wait_that_never_matches_times_out():
    out = _run(_image(Step(ScriptOp.WRITE, 0x0, 1), Step(ScriptOp.WAIT, 0x4, 0x1, 0x1)),
               read_value=0x4)
    assert (out["failed"], out["timed_out"], out["step"]) == (1, 1, 1), out
    # The step's timer ran out: its polls took TIMEOUT cycles at least, and not many more.
    assert TIMEOUT < out["cycle"] < 2 * TIMEOUT, out


def test_a_wrong_check_fails_without_timeout():
    out = _run(_image(Step(ScriptOp.CHECK, 0x4, 0x7)), read_value=0x5)
    assert (out["failed"], out["timed_out"], out["step"]) == (1, 0, 0), out
    assert out["cycle"] < 10, out


def test_an_error_response_fails_the_write():
    out = _run(_image(Step(ScriptOp.WRITE, 0x0, 1)), bresp=Resp.SLVERR)
    assert (out["failed"], out["timed_out"], out["step"]) == (1, 0, 0), out


@pytest.mark.parametrize("value, mask", [(0x5, 0xFFFF_FFFF), (0x1, 0x1)])
def test_a_passing_script_reaches_the_checksum(value, mask):
    out = _run(_image(Step(ScriptOp.WRITE, 0x0, 1), Step(ScriptOp.WAIT, 0x4, value, mask),
                      Step(ScriptOp.CHECK, 0x8, value, mask)), read_value=0x5)
    assert out["mem_select"] == 1 and out["failed"] == 0 and out["step"] == 3, out
