# amaranth: UnusedElaboratable=no
"""``scanfuse sim --network NET --fuse --layers B``: argument checks (exit 2, one line), and a
real block of a low-resolution MobileNetV2 through ``simulate_fused`` on the Amaranth
simulator with its ``--save`` files, from which numpy alone recomputes Y."""

import json

import numpy as np
import pytest

from scanfuse.cli.main import main
from scanfuse.network.zoo import mobilenetv2, resnet50
from scanfuse.sim.fused_golden import requant_ref
from scanfuse.sim.fused_run import block_config, select_blocks, simulate_fused


@pytest.mark.parametrize("argv,message", [
    (["--buffer", "64K", "--fuse", "--layers", "b3"], "need --network"),
    (["--network", "mobilenetv2", "--buffer", "64K", "--fuse", "--layers", "b99"], "b99"),
    (["--network", "mobilenetv2", "--buffer", "64K", "--fuse", "--layers", "b3", "--sim",
      "amaranth"], "limit of 200,000"),
    (["--network", "resnet50-cp", "--buffer", "64K", "--fuse", "--layers", "s2b0.conv2"],
     "fits the block engine's buffers"),
    (["--network", "mobilenetv2", "--buffer", "64K", "--fuse", "--layers", "b3", "--gemm",
      "8,8,8"], "exclude"),
    (["--network", "mobilenetv2", "--buffer", "64K", "--fuse", "--layers", "b3",
      "--p-stall", "1"], "--p-stall"),
    (["--buffer", "64K"], "needs --gemm"),
])
def test_bad_fused_arguments(argv, message, capsys):
    assert main(["sim", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_block_config_from_buffer():
    b = block_config(65536)
    # PARTITION (in 64ths: X 12, D 6, P 36, W1 4, W2 6) of 65,536 bytes; P in int32.
    assert (b.x_entries, b.d_entries, b.w1_entries, b.w2_entries, b.p_entries) == \
        (12288, 6144, 4096, 6144, 9216)
    assert b.x_entries + b.d_entries + 4 * b.p_entries + b.w1_entries + b.w2_entries <= 65536
    assert [c.name for c in select_blocks("mobilenetv2", "b3, b4")] == ["b3", "b4"]
    assert len(select_blocks("mobilenetv2", "all")) == 17


def _recompute(folder):
    """Y from the saved files with numpy only (params.json has requant_ref's field names)."""
    p = json.loads((folder / "params.json").read_text())
    x = np.load(folder / "X.npy").astype(np.int64)
    h = x
    if (folder / "W1.npy").exists():
        h = requant_ref(x @ np.load(folder / "W1.npy") + np.load(folder / "b1.npy"),
                        **p["expand_requant"]).astype(np.int64)
    def depthwise(h, wd, bd, stride, padding, requant):
        (sh, sw), (ph, pw) = stride, padding
        kh, kw = wd.shape[1:]
        hp = np.pad(h, ((ph, ph), (pw, pw), (0, 0)))
        ho, wo = (h.shape[0] + 2 * ph - kh) // sh + 1, (h.shape[1] + 2 * pw - kw) // sw + 1
        acc = np.zeros((ho, wo, h.shape[2]), np.int64) + bd
        for i in range(kh):
            for j in range(kw):
                acc += hp[i:i + (ho - 1) * sh + 1:sh, j:j + (wo - 1) * sw + 1:sw] * wd[:, i, j]
        return requant_ref(acc, **requant).astype(np.int64)

    d = depthwise(h, np.load(folder / "Wd.npy"), np.load(folder / "bd.npy"), p["stride"],
                  p["padding"], p["depthwise_requant"])
    if (folder / "Wd2.npy").exists():     # a CP chain's 1x3 stage
        d = depthwise(d, np.load(folder / "Wd2.npy"), np.load(folder / "bd2.npy"),
                      p["stride2"], p["padding2"], p["depthwise2_requant"])
    y = requant_ref(d @ np.load(folder / "W2.npy") + np.load(folder / "b2.npy"),
                    **p["project_requant"]).astype(np.int64)
    if p["residual"]:
        y = np.clip(y + x, -128, 127)
    return y.astype(np.int8)


def test_low_resolution_block_on_amaranth(tmp_path):
    """MobileNetV2 at 16x16: b2 is 4x4x24 -> 144 -> 4x4x24 with the residual."""
    report = simulate_fused(mobilenetv2(resolution=16), "b2", 65536, sim="amaranth", seed=3,
                            save=tmp_path / "run", p_stall=0.2)
    (b,) = report["blocks"]
    assert b["bit_exact"] and b["counters_match"] and b["error"] == "NONE"
    assert b["shape"]["residual"] and b["dram_write_bytes"] == 4 * 4 * 24
    y = np.load(tmp_path / "run" / "Y.npy")
    assert np.array_equal(_recompute(tmp_path / "run"), y)


@pytest.mark.regress   # ~30 s on the Amaranth simulator: make regress
def test_low_resolution_cp_chain_on_amaranth(tmp_path):
    """ResNet-50-CP at 16x16: s1b0.conv2 is 4x4x64 -> 1x1 -> 3x1 -> 1x3 -> 1x1 -> 4x4x64, on
    the engine's second depthwise unit, with stalls; numpy alone recomputes Y from --save."""
    net = resnet50("v1.5", resolution=16, cp_rank_rule="channels")
    report = simulate_fused(net, "s1b0.conv2", 65536, sim="amaranth", seed=4,
                            save=tmp_path / "run", p_stall=0.2)
    (b,) = report["blocks"]
    assert b["bit_exact"] and b["counters_match"] and b["error"] == "NONE"
    assert b["shape"]["cp"] and b["shape"]["kernel"] == [3, 1]
    y = np.load(tmp_path / "run" / "Y.npy")
    assert len(np.unique(y)) > 20
    assert np.array_equal(_recompute(tmp_path / "run"), y)


@pytest.mark.regress
def test_several_chunks_and_save_folders(tmp_path):
    """MobileNetV2 at 32x32: b13 (2x2x96 -> 576, stride 2 -> 1x1x160) runs in several chunks
    (each next chunk's weights prefetched); two blocks save one sub-folder each (b3, one
    chunk: b14's 120 chunks of 8 take the Amaranth simulator past the test timeout)."""
    report = simulate_fused(mobilenetv2(resolution=32), "b13,b3", 65536, sim="amaranth",
                            seed=4, save=tmp_path / "run", p_stall=0.2)
    assert all(b["bit_exact"] and b["counters_match"] for b in report["blocks"])
    assert report["blocks"][0]["schedule"]["chunks"] > 1
    for name in ("b13", "b3"):
        folder = tmp_path / "run" / name
        assert np.array_equal(_recompute(folder), np.load(folder / "Y.npy"))
