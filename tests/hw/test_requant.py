# amaranth: UnusedElaboratable=no
"""Requantizer against ``requant_ref``: rounding ties, saturation at both ends, extreme
multipliers and shifts, every activation mode, per-vector parameter changes, random
valid/ready stalls, throughput and latency in cycles; plus hand-checked golden values.

(The linter comment on line 1 silences Amaranth's "created but never used" warning for the
interface tests, which build components without simulating them.)
"""

import functools
import random

import numpy as np
import pytest
from amaranth.hdl import signed, unsigned
from amaranth.lib import data
from amaranth.sim import Simulator

from scanfuse.hw.params import AccelConfig
from scanfuse.hw.requant import (MULTIPLIER_BITS, SHIFT_BITS, Activation, AccRow, QuantRow,
                                 RequantParams, Requantizer)
from scanfuse.sim import golden
from scanfuse.sim.golden import requant_ref

from .streams import send, take

I32_MIN, I32_MAX = -(1 << 31), (1 << 31) - 1
M_MAX = (1 << MULTIPLIER_BITS) - 1


# --- golden model, by hand ----------------------------------------------------------------

@pytest.mark.parametrize("acc,mult,shift,want", [
    (3, 1, 1, 2), (-3, 1, 1, -2),          # 1.5 -> 2, -1.5 -> -2 (ties away from zero)
    (5, 1, 1, 3), (-5, 1, 1, -3),          # 2.5 -> 3
    (1, 1, 1, 1), (-1, 1, 1, -1),          # 0.5 -> 1
    (5, 1, 2, 1), (-5, 1, 2, -1),          # 1.25 -> 1
    (7, 1, 2, 2), (-7, 1, 2, -2),          # 1.75 -> 2
    (6, 1, 2, 2), (-6, 1, 2, -2),          # 1.5 -> 2
    (100, 3, 0, 127), (-100, 3, 0, -128),  # saturation
    (I32_MAX, M_MAX, 63, 0), (I32_MIN, M_MAX, 63, 0),   # |p| < 2**62: rounds to 0
    (I32_MIN, M_MAX, 62, -1), (I32_MAX, M_MAX, 62, 1),  # |p| / 2**62 just under 1/2 .. 1
    (12345, 0, 0, 0),
])
def test_requant_ref_by_hand(acc, mult, shift, want):
    assert requant_ref(np.array([acc]), mult, shift)[0] == want


def test_requant_ref_modes_and_zero_point():
    acc = np.array([-1000, -3, 0, 2, 9, 1000])
    assert requant_ref(acc, 1, 0, 0, "none").tolist() == [-128, -3, 0, 2, 9, 127]
    assert requant_ref(acc, 1, 0, 0, "relu").tolist() == [0, 0, 0, 2, 9, 127]
    assert requant_ref(acc, 1, 0, 0, "relu6", relu6_max=6).tolist() == [0, 0, 0, 2, 6, 6]
    assert requant_ref(acc, 1, 0, -5, Activation.RELU).tolist() == [-5, -5, -5, -3, 4, 127]
    assert requant_ref(acc, 1, 0, 5, 2, relu6_max=3).tolist() == [3] * 6   # hi wins
    assert requant_ref(acc, 1, 0, 100, "none").tolist() == [-128, 97, 100, 102, 109, 127]


def test_requant_ref_rejects_out_of_range():
    for kwargs in ({"multiplier": M_MAX + 1, "shift": 0}, {"multiplier": -1, "shift": 0},
                   {"multiplier": 1, "shift": 64}, {"multiplier": 1, "shift": 0, "zero_point": 128},
                   {"multiplier": 1, "shift": 0, "mode": "gelu"}):
        with pytest.raises(ValueError):
            requant_ref(np.zeros(3), **kwargs)
    with pytest.raises(ValueError, match="int32"):
        requant_ref(np.array([1 << 31]), 1, 0)


def test_golden_wrap_and_conv():
    assert golden.wrap([1 << 31, -(1 << 31) - 1, 5]).tolist() == [I32_MIN, I32_MAX, 5]
    a = np.full((1, 1 << 17), -128)
    assert golden.pw_conv_ref(a[:, 1:], a[:, 1:].T)[0, 0] == (1 << 31) - (1 << 14)   # no wrap
    assert golden.pw_conv_ref(a, a.T)[0, 0] == I32_MIN              # 2**31 wraps
    assert golden.pw_conv_ref(a, -a.T - 1)[0, 0] == -(1 << 31) + (1 << 24)   # 127 * -128 * 2**17
    rng = np.random.default_rng(0)
    a, b = rng.integers(-128, 128, (5, 7)), rng.integers(-128, 128, (7, 3))
    assert np.array_equal(golden.pw_conv_ref(a, b), a @ b)
    assert np.array_equal(golden.block_ref(a.T, b), a.T.T @ b)


# --- interface ----------------------------------------------------------------------------

def test_params_match_golden_ranges():
    layout = data.Layout.cast(RequantParams)
    assert layout["multiplier"].shape == unsigned(MULTIPLIER_BITS)
    assert layout["shift"].shape == unsigned(SHIFT_BITS)
    assert (1 << MULTIPLIER_BITS) - 1 == golden.REQUANT_MULTIPLIER_MAX
    assert (1 << SHIFT_BITS) - 1 == golden.REQUANT_SHIFT_MAX
    assert tuple(a.name.lower() for a in Activation) == golden.ACTIVATIONS
    assert [a.value for a in Activation] == list(range(len(golden.ACTIVATIONS)))


def test_interface_and_validation():
    cfg = AccelConfig(cols=3)
    dut = Requantizer(cfg)
    assert dut.i.payload.shape() == AccRow(cfg)
    assert dut.o.payload.shape() == QuantRow(cfg)
    assert QuantRow(cfg)["data"].shape.elem_shape == signed(8)
    with pytest.raises(TypeError, match="AccelConfig"):
        Requantizer(3)
    odd = AccelConfig()
    object.__setattr__(odd, "operand_bits", 4)   # bypass AccelConfig's own check on purpose
    with pytest.raises(ValueError, match="operand_bits"):
        Requantizer(odd)


# --- RTL against the golden model ------------------------------------------------------------

def edge_cases(cols, rng):
    """(acc vector, params dict) pairs covering ties, saturation and extreme parameters."""
    cases = []

    def add(acc, mult, shift, zp=0, mode=Activation.NONE, r6=127):
        acc = list(acc)
        acc = (acc * cols)[:cols] if len(acc) < cols else acc[:cols]
        cases.append((acc, {"multiplier": mult, "shift": shift, "zero_point": zp,
                            "mode": mode, "relu6_max": r6}))

    extremes = [I32_MIN, I32_MAX, 0, 1, -1, I32_MIN + 1, I32_MAX - 1]
    for mode in Activation:
        for mult in (0, 1, 2, 1 << 30, M_MAX):
            for shift in (0, 1, 31, 62, 63):
                for zp in (-128, 0, 127):
                    add(rng.choice(extremes, cols), mult, shift, zp, mode, int(rng.integers(-128, 128)))
    # Exact ties of both signs: acc * mult = (2j + 1) * 2**(shift - 1).
    for shift in (1, 2, 5, 13, 30):
        for sign in (1, -1):
            odd = rng.integers(0, min(200, 1 << (31 - shift)), cols) * 2 + 1   # |acc| < 2**31
            add((sign * odd * (1 << (shift - 1))).tolist(), 1, shift)
            add((sign * odd).tolist(), 1 << (shift - 1), shift)   # tie made by the multiplier
    # Around ties of both signs, the multiplier a power of two: acc = (2j + 1) * 2**e + d,
    # multiplier = 2**z, shift = e + z + 1, so whether p has a 1 below bit shift - 1 is decided
    # by ctz(acc) + ctz(multiplier) on both sides of the threshold.
    # (ctz(acc) in each of the four bytes: the requantiser finds it byte by byte.)
    for e, z in ((0, 0), (0, 5), (3, 0), (3, 7), (12, 18), (20, 3), (27, 2)):
        for d in (-1, 0, 1):
            for sign in (1, -1):
                odd = rng.integers(0, min(100, 1 << (29 - e)), cols) * 2 + 1
                add((sign * (odd * (1 << e) + d)).tolist(), 1 << z, e + z + 1)
    # Just below / above the int8 range after scaling, with and without zero point.
    for base in (127, 128, -128, -129):
        add([base * 4 - 2, base * 4 - 1, base * 4, base * 4 + 1, base * 4 + 2], 1, 2)
        add([base * 4 - 2, base * 4 + 2], 1, 2, zp=-3)
    # RELU6 with relu6_max below the zero point (hi wins) and at both ends.
    for r6 in (-128, -1, 0, 6, 127):
        add(rng.integers(-2000, 2000, cols).tolist(), 1 << 20, 24, zp=3, mode=Activation.RELU6, r6=r6)
    # Random layers and vectors.
    for _ in range(40):
        acc = rng.integers(I32_MIN, I32_MAX, cols, endpoint=True)
        small = rng.integers(-(1 << 18), 1 << 18, cols)
        add((acc if rng.random() < 0.3 else small).tolist(), int(rng.integers(0, M_MAX + 1)),
            int(rng.integers(0, 64)), int(rng.integers(-128, 128)),
            Activation(int(rng.integers(0, 3))), int(rng.integers(-128, 128)))
    return cases


def expected(cases):
    return [requant_ref(np.array(acc), p["multiplier"], p["shift"], p["zero_point"], p["mode"],
                        p["relu6_max"]).tolist() for acc, p in cases]


async def feed(ctx, dut, cases, rng, p_idle, accepted, limit):
    """Offer each vector with its own parameters (params held with the payload until taken)."""
    cycle = 0
    for n, (acc, params) in enumerate(cases):
        ctx.set(dut.params, params)
        at, cycle = await send(ctx, dut.i, {"data": acc, "last": int(n == len(cases) - 1)},
                               rng, p_idle, cycle, limit)
        accepted.append(at)
        # Scribble on params between vectors: the pipeline must have sampled them already.
        ctx.set(dut.params, {"multiplier": 12345, "shift": 7, "zero_point": 9,
                             "mode": Activation.RELU, "relu6_max": 1})


async def drain(ctx, dut, n, rng, p_stall, beats, limit):
    await take(ctx, dut.o, n, rng, p_stall,
               lambda p: ([int(x) for x in p.data], int(p.last)), beats, limit)


def run(cols, cases, *, seed=0, p_idle=0.0, p_stall=0.0):
    dut = Requantizer(AccelConfig(cols=cols))
    accepted, beats = [], []
    limit = 100 + 10 * len(cases)
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(functools.partial(feed, dut=dut, cases=cases, rng=random.Random(seed),
                                        p_idle=p_idle, accepted=accepted, limit=limit))
    sim.add_testbench(functools.partial(drain, dut=dut, n=len(cases), rng=random.Random(seed + 1),
                                        p_stall=p_stall, beats=beats, limit=limit))
    sim.run()
    return accepted, beats


@pytest.mark.parametrize("cols,p_idle,p_stall", [(1, 0.0, 0.0), (3, 0.3, 0.3), (8, 0.1, 0.6)])
def test_against_golden(cols, p_idle, p_stall):
    rng = np.random.default_rng(cols)
    cases = edge_cases(cols, rng)
    _, beats = run(cols, cases, seed=cols, p_idle=p_idle, p_stall=p_stall)
    want = expected(cases)
    assert len(beats) == len(cases)
    for n, ((_, got, last), (acc, params)) in enumerate(zip(beats, cases)):
        assert got == want[n], f"vector {n}: acc={acc} params={params}: got {got}, want {want[n]}"
        assert last == int(n == len(cases) - 1)


def test_reserved_mode_saturates_like_none():
    dut = Requantizer(AccelConfig(cols=2))
    out = []

    async def bench(ctx):
        ctx.set(dut.params, {"multiplier": 1, "shift": 0, "zero_point": 0,
                             "mode": Activation.NONE, "relu6_max": 0})
        ctx.set(dut.params.mode.as_value(), 3)
        ctx.set(dut.i.payload, {"data": [-1000, 1000], "last": 1})
        ctx.set(dut.i.valid, 1)
        ctx.set(dut.o.ready, 1)
        await ctx.tick()
        ctx.set(dut.i.valid, 0)
        for _ in range(20):   # bounded: a missing beat fails instead of hanging
            _, _, valid, payload = await ctx.tick().sample(dut.o.valid, dut.o.payload)
            if valid:
                break
        assert valid, "no output beat"
        out.append([int(x) for x in payload.data])

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert out == [[-128, 127]]


def test_throughput_and_latency():
    """No stalls: one vector per cycle; a vector accepted in cycle t is out in cycle t + 7."""
    rng = np.random.default_rng(5)
    cases = edge_cases(4, rng)[:60]
    accepted, beats = run(4, cases)
    assert Requantizer.LATENCY == 10
    assert accepted == list(range(len(cases)))
    assert [c for c, *_ in beats] == [t + Requantizer.LATENCY for t in accepted]
    assert [b[1] for b in beats] == expected(cases)


def test_latency_with_input_gaps():
    """An idle producer and a ready consumer: every vector out exactly LATENCY cycles later."""
    rng = np.random.default_rng(6)
    cases = edge_cases(2, rng)[:80]
    accepted, beats = run(2, cases, seed=6, p_idle=0.4)
    assert len(set(accepted)) == len(cases) < accepted[-1]   # there were gaps
    assert [c for c, *_ in beats] == [t + Requantizer.LATENCY for t in accepted]
    assert [b[1] for b in beats] == expected(cases)


def boundary_cases(cols, rng):
    """Products whose scaled value lies at the saturation edges of stages 4 and 5 (|s| near
    512 and near 2**16 * 2**(shift % 8)), for every shift where they are reachable."""
    cases = []
    for shift in range(64):
        for target in (511, 512, 513, 1 << 16, (1 << 16) + 1, 1 << 17, 1 << 23):
            for sign in (1, -1):
                mult = int(rng.integers(1 << 29, M_MAX + 1))
                centre = (sign * target << shift) // mult
                acc = [min(max(centre + int(d), I32_MIN), I32_MAX)
                       for d in rng.integers(-3, 4, cols)]
                if abs(centre) < (1 << 31):
                    cases.append((acc, {"multiplier": mult, "shift": shift,
                                        "zero_point": int(rng.integers(-128, 128)),
                                        "mode": Activation.NONE, "relu6_max": 0}))
    return cases


def test_saturation_boundaries():
    rng = np.random.default_rng(11)
    cases = boundary_cases(3, rng)
    assert len(cases) > 300
    _, beats = run(3, cases, seed=11, p_idle=0.1, p_stall=0.2)
    want = expected(cases)
    for n, ((_, got, _), (acc, params)) in enumerate(zip(beats, cases)):
        assert got == want[n], f"vector {n}: acc={acc} params={params}: got {got}, want {want[n]}"


def test_long_backpressure_keeps_every_vector():
    """The consumer stops for up to 30 cycles at a time: nothing lost, duplicated or
    reordered, never more than CREDITS vectors in flight, and ``i.ready`` a flip-flop (it
    does not follow ``o.ready`` within a cycle)."""
    cols = 2
    dut = Requantizer(AccelConfig(cols=cols))
    rng = np.random.default_rng(21)
    cases = edge_cases(cols, rng)[:150]
    want = expected(cases)
    beats, flight = [], []

    async def producer(ctx):
        prng = random.Random(21)
        for n, (acc, params) in enumerate(cases):
            while prng.random() < 0.2:
                await ctx.tick()
            ctx.set(dut.params, params)
            ctx.set(dut.i.payload, {"data": acc, "last": int(n % 7 == 0)})
            ctx.set(dut.i.valid, 1)
            while True:
                _, _, ready = await ctx.tick().sample(dut.i.ready)
                if ready:
                    break
            ctx.set(dut.i.valid, 0)
            ctx.set(dut.params, {"multiplier": 1, "shift": 63, "zero_point": -1,
                                 "mode": Activation.RELU6, "relu6_max": 0})

    async def consumer(ctx):
        crng = random.Random(22)
        stall, in_flight = 0, 0
        for cycle in range(20 * len(cases)):
            if stall == 0 and crng.random() < 0.1:
                stall = crng.randint(1, 30)
            ready = stall == 0
            stall = max(0, stall - 1)
            ctx.set(dut.o.ready, 0)
            r0 = ctx.get(dut.i.ready)
            ctx.set(dut.o.ready, 1)
            assert ctx.get(dut.i.ready) == r0, f"cycle {cycle}: i.ready follows o.ready"
            ctx.set(dut.o.ready, ready)
            _, _, iv, ir, ov, payload = await ctx.tick().sample(
                dut.i.valid, dut.i.ready, dut.o.valid, dut.o.payload)
            in_flight += int(iv and ir) - int(ov and ready)
            flight.append(in_flight)
            if ov and ready:
                beats.append(([int(x) for x in payload.data], int(payload.last)))
            if len(beats) == len(cases):
                return
        raise AssertionError(f"stuck: {len(beats)}/{len(cases)} out")

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(producer)
    sim.add_testbench(consumer)
    sim.run()
    assert [b[0] for b in beats] == want
    assert [b[1] for b in beats] == [int(n % 7 == 0) for n in range(len(cases))]
    assert max(flight) == Requantizer.CREDITS == Requantizer.LATENCY + 1
    assert min(flight) == 0


def test_converts_to_verilog():
    from amaranth.back import verilog
    text = verilog.convert(Requantizer(AccelConfig(cols=2)), name="requant")
    assert "module requant" in text
    for port in ("params", "i__valid", "i__ready", "o__valid", "o__ready", "o__payload"):
        assert port in text


def _synth_requant_ecp5(tmp_path, pe_multiplier):
    """Yosys ``synth_ecp5`` of a one-lane Requantizer elaborated for a platform: the netlist."""
    import json
    import subprocess

    from amaranth.back import rtlil

    from scanfuse.hw.fpga.flow import FlowError, find_tool
    try:
        yosys = find_tool("yosys")
    except FlowError as err:
        pytest.skip(str(err))
    cfg = AccelConfig(rows=2, cols=1, pe_multiplier=pe_multiplier)
    (tmp_path / "rq.il").write_text(rtlil.convert(Requantizer(cfg), name="rq", platform=object()))
    subprocess.run(yosys + ["-q", "-p", "read_rtlil rq.il; synth_ecp5 -top rq; write_json rq.json"],
                   cwd=tmp_path, check=True)
    return json.loads((tmp_path / "rq.json").read_text())


@pytest.mark.parametrize("kind,registers", [("mult18x18d", {"OUT": 4}), ("inferred", {"none": 4})])
def test_partial_products_on_ecp5(tmp_path, kind, registers):
    """The ECP5 build (``pe_multiplier="mult18x18d"``) puts the four partial products of a lane
    on MULT18X18D blocks whose output register is the stage-1 register; otherwise Yosys maps
    bare blocks with fabric registers."""
    from scanfuse.hw.fpga.flow import dsp_registers
    assert dsp_registers(_synth_requant_ecp5(tmp_path, kind)) == registers


@pytest.mark.parametrize("cols", [1, 4])
def test_each_lane_has_its_own_multiplier_copy_on_ecp5(cols):
    """In the ECP5 build each lane's partial products read the multiplier from a register of
    the lane's own (ReplicaRegister: 31 flip-flop primitives per lane), beside the other lane
    copies (the shift's parts 3 + 3 + 3, the zero point 8, the bounds minus it 9 + 9)."""
    from amaranth.back import rtlil
    cfg = AccelConfig(rows=2, cols=cols, pe_multiplier="mult18x18d")
    text = rtlil.convert(Requantizer(cfg), name="rq", platform="ecp5")
    assert text.count("cell \\TRELLIS_FF ") == cols * (31 + 3 + 3 + 3 + 8 + 9 + 9)
