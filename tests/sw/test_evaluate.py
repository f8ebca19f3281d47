"""Whole-network evaluation (scanfuse.evaluate): variants, streams, energy, JSON, report."""

import json
import os
import stat
import sys

import numpy as np
import pytest

from scanfuse.dram.evaluate import EngineClock, stream_dram_result
from scanfuse.dram.external import parse_dramsim2_output, parse_dramsim3_json, run_dram_sim
from scanfuse.dram.model import energy_of_counts, simulate
from scanfuse.dram.presets import get_preset
from scanfuse.errors import BufferTooSmallError, InvalidOptionError
from scanfuse.evaluate import (VARIANTS, EvalConfig, evaluate, evaluate_network, network_stream,
                               plan_variants, variant_trace, variant_units)
from scanfuse.plan.fusion import ExtendedGroup, GroupDecision
from scanfuse.network import NetworkBuilder
from scanfuse.network.zoo import resnet50

ENERGY_KEYS = {"burst", "act_pre", "refresh", "background", "total"}


def tiny_mobilenet():
    """Stem, five inverted residuals (two with a residual add), head: 18 layers."""
    net = NetworkBuilder("tiny", 24, 24)
    net.begin_block("stem")
    net.conv("stem", 16, 3, 2, 1)
    net.end_block("stem")
    net.begin_block("b0")
    net.depthwise("b0.dw")
    net.pointwise("b0.project", 8)
    net.end_block("inverted_residual")
    for i, (t, c, s) in enumerate([(6, 16, 2), (6, 16, 1), (4, 24, 1), (4, 24, 1)], start=1):
        cin = net.channels
        net.begin_block(f"b{i}")
        net.pointwise(f"b{i}.expand", cin * t)
        net.depthwise(f"b{i}.dw", 3, s, 1)
        net.pointwise(f"b{i}.project", c)
        net.end_block("inverted_residual", residual=s == 1 and cin == c)
    net.begin_block("head")
    net.pointwise("head.conv", 64)
    net.pool("head.pool", 0, 1)
    net.fc("head.fc", 10)
    net.end_block("head")
    return net.build()


@pytest.fixture(scope="module")
def tiny_eval():
    return evaluate([tiny_mobilenet()], 4096, EvalConfig(), sweep=(2048, 4096, 8192))


def _unit_payload(unit) -> int:
    if isinstance(unit, (GroupDecision, ExtendedGroup)):
        return unit.plan.total_bytes
    return unit.total_bytes


def test_json_has_exactly_the_documented_keys(tiny_eval):
    doc = tiny_eval.to_json()
    assert set(doc) == {"networks", "buffer_sweep"}
    assert set(doc["networks"]) == {"tiny"}
    net = doc["networks"]["tiny"]
    assert set(net) == {"variants", "savings"}
    assert list(net["variants"]) == list(VARIANTS) == list(net["savings"])
    for v in VARIANTS:
        assert set(net["variants"][v]) == {"traffic_bytes", "energy_j", "runtime_s"}
        assert set(net["variants"][v]["energy_j"]) == ENERGY_KEYS
    assert net["savings"]["baseline"] == 0.0
    sweep = doc["buffer_sweep"]
    assert set(sweep) == {"buffer_entries", "networks"} and sweep["buffer_entries"] == [2048, 4096, 8192]
    for v in VARIANTS:
        row = sweep["networks"]["tiny"][v]
        assert set(row) == {"traffic_bytes", "energy_j", "runtime_s", "savings"}
        assert all(len(x) == 3 for x in row.values())
        # the sweep point at --buffer is the main result
        assert row["energy_j"][1] == net["variants"][v]["energy_j"]["total"]
    json.dumps(doc)                      # plain JSON types only
    extra = tiny_eval.results_json()
    assert set(extra) == {"networks", "buffer_sweep", "settings", "details", "per_layer"}
    assert extra["settings"]["buffer_entries"] == 4096


def test_streams_carry_exactly_the_planned_payload():
    config = EvalConfig()
    net = tiny_mobilenet()
    plans = plan_variants(net, config.model(4096), config.widths, config.burst_bytes)
    for v in VARIANTS:
        units = variant_units(plans, v)
        layers = [name for u in units for name in (
            [l.name for l in u.chain.layers] if isinstance(u, GroupDecision) else
            [l.name for l in u.pipeline.layers] if isinstance(u, ExtendedGroup) else [u.layer.name])]
        assert sorted(layers) == sorted(l.name for l in net.layers), v   # every layer once
        stream = network_stream(plans, v, config)
        assert stream.bytes_requested == sum(_unit_payload(u) for u in units), v
        assert stream.bytes_moved == 64 * len(stream.addr) >= stream.bytes_requested
        assert np.all(stream.addr % 64 == 0) and np.all(np.diff(stream.issue) >= 0)
        # each unit's regions come after the previous unit's: no address is shared
        assert stream.engine_cycles == pytest.approx(sum(u.engine_cycles for u in stream.units))
    kinds = {v: [u.kind for u in network_stream(plans, v, config).units] for v in VARIANTS}
    assert "fused" not in kinds["scan"] and "fused" in kinds["scan+fusion"]
    assert "pipeline" in kinds["scan+extended-fusion"]


def test_energy_is_the_closed_form_of_the_counts(tiny_eval):
    p = get_preset("ddr3")
    for v, r in tiny_eval.networks["tiny"].variants.items():
        d = r.dram
        e = energy_of_counts(p, d.reads, d.writes, d.activates, d.runtime_cycles, d.open_fraction)
        assert r.energy.total_j == pytest.approx(e.total_j, rel=1e-12)
        assert r.energy.total_j == pytest.approx(r.energy.burst_j + r.energy.act_pre_j
                                                 + r.energy.refresh_j + r.energy.background_j)
        assert d.reads + d.writes == r.traffic_bytes // 64
        assert r.energy.burst_j == pytest.approx(d.reads * 11.88e-9 + d.writes * 15.12e-9)
        # the run lasts at least as long as the engine needs for its MACs and bytes
        macs = sum(u.macs for u in r.units)
        assert r.runtime_s >= macs / 64 / 100e6
        assert r.runtime_s >= r.traffic_bytes / 8 / 100e6
        assert r.runtime_s == pytest.approx(max(r.engine_runtime_s, d.runtime_s))


def test_fusion_cuts_traffic_and_dynamic_energy(tiny_eval):
    ne = tiny_eval.networks["tiny"]
    base = ne.variants["baseline"]
    for v in ("raster+fusion", "scan+fusion", "scan+extended-fusion"):
        r = ne.variants[v]
        assert r.traffic_bytes < 0.7 * base.traffic_bytes
        assert r.energy.burst_j + r.energy.act_pre_j < base.energy.burst_j + base.energy.act_pre_j
    assert ne.variants["scan+extended-fusion"].traffic_bytes <= ne.variants["scan+fusion"].traffic_bytes
    assert ne.variants["scan"].traffic_bytes <= base.traffic_bytes


def test_a_faster_engine_pays_less_background():
    net = tiny_mobilenet()
    slow = evaluate_network(net, 4096, EvalConfig())
    fast = evaluate_network(net, 4096, EvalConfig(clock=EngineClock.of_array(32, 32, 500, 16)))
    for v in VARIANTS:
        s, f = slow.variants[v], fast.variants[v]
        assert f.traffic_bytes == s.traffic_bytes
        assert f.runtime_s < s.runtime_s and f.energy.background_j < s.energy.background_j
    # a DRAM-bound engine turns the traffic saving into an energy saving
    assert fast.savings["scan+fusion"] > slow.savings["scan+fusion"]


def test_pipelines_with_projection_shortcuts_trace():
    net = resnet50("v1.5", resolution=32, cp_rank_rule="channels")
    config = EvalConfig("ddr4")
    ne = evaluate_network(net, 65536, config, ["baseline", "scan+extended-fusion"])
    units = ne.variants["scan+extended-fusion"].units
    assert any(u.kind == "pipeline" and any(n.endswith("downsample") for n in u.layers) for u in units)
    assert ne.variants["scan+extended-fusion"].traffic_bytes < ne.variants["baseline"].traffic_bytes
    for u in units:
        assert u.elements >= u.lower_bound or u.kind == "pool"


def test_parallel_jobs_give_the_same_result(tiny_eval):
    again = evaluate([tiny_mobilenet()], 4096, EvalConfig(), sweep=(2048, 4096, 8192), workers=2)
    assert again.to_json() == tiny_eval.to_json()


def test_variant_trace_matches_the_evaluation(tiny_eval):
    stream, dram = variant_trace(tiny_mobilenet(), 4096, "scan+fusion")
    r = tiny_eval.networks["tiny"].variants["scan+fusion"]
    assert stream.bytes_moved == r.traffic_bytes and dram.energy == r.energy


def test_stream_energy_covers_the_engine_runtime():
    p = get_preset("ddr3")
    addr = np.arange(1000, dtype=np.uint64) * np.uint64(64)
    short = simulate(addr, False, None, p)
    same = stream_dram_result(addr, np.zeros(1000, bool), np.zeros(1000, np.int64), p, "scheme2",
                              short.runtime_cycles - 5)
    assert same == short
    longer = stream_dram_result(addr, np.zeros(1000, bool), np.zeros(1000, np.int64), p, "scheme2",
                                10 * short.runtime_cycles)
    assert longer.limit == "engine" and longer.runtime_cycles == 10 * short.runtime_cycles
    assert longer.energy.burst_j == short.energy.burst_j
    assert longer.energy.act_pre_j == short.energy.act_pre_j
    assert longer.energy.background_j == pytest.approx(10 * short.energy.background_j)


@pytest.mark.parametrize("kwargs, error", [
    ({"dram": "lpddr5"}, "unknown DRAM preset"),
    ({"scheme": "scheme9"}, "scheme1"),
])
def test_bad_config_raises_typed_errors(kwargs, error):
    with pytest.raises(InvalidOptionError, match=error):
        EvalConfig(**kwargs)


def test_bad_inputs_raise_typed_errors():
    net = tiny_mobilenet()
    with pytest.raises(BufferTooSmallError):
        evaluate_network(net, 16)
    with pytest.raises(InvalidOptionError, match="unknown variant"):
        evaluate_network(net, 4096, variants=["baseline", "fused"])
    with pytest.raises(InvalidOptionError, match="baseline"):
        evaluate_network(net, 4096, variants=["scan"])
    with pytest.raises(InvalidOptionError):
        evaluate([], 4096)
    with pytest.raises(InvalidOptionError):
        EngineClock(0)


def test_report_files(tiny_eval, tmp_path):
    from scanfuse.report.evaluate_report import tables, write_report
    paths = write_report(tiny_eval, tmp_path / "out", command="scanfuse evaluate ...")
    names = {p.name for p in paths}
    assert {"report.md", "results.json", "energy_by_variant.png", "energy_vs_buffer.png",
            "layer_traffic_tiny.png"} == names
    for p in paths:
        assert p.stat().st_size > 0
    doc = json.loads((tmp_path / "out" / "results.json").read_text())
    assert doc["per_layer"]["tiny"]["scan"][0]["name"] == "stem"
    text = (tmp_path / "out" / "report.md").read_text()
    assert "scanfuse evaluate ..." in text and "| scan+extended-fusion |" in text
    assert len(tables(tiny_eval)) == 3


# --- external simulators ----------------------------------------------------------------

DRAMSIM2_OUTPUT = """\
 ============== Printing Statistics [id:0]==============
   Total Return Transactions : 10 (640 bytes) aggregate average bandwidth 1.0GB/s
 == Power Data for Rank        0
   Average Power (watts)     : 1.500
     -Background (watts)     : 1.000
     -Act/Pre    (watts)     : 0.200
     -Burst      (watts)     : 0.250
     -Refresh    (watts)     : 0.050

 == Pending Transactions : 0 (1000)==
 == Power Data for Rank        0
   Average Power (watts)     : 1.000
     -Background (watts)     : 0.900
     -Act/Pre    (watts)     : 0.000
     -Burst      (watts)     : 0.050
     -Refresh    (watts)     : 0.050

 == Pending Transactions : 0 (1500)==
"""


def test_parse_dramsim2_sums_epochs():
    r = parse_dramsim2_output(DRAMSIM2_OUTPUT, tck_ns=1.5)
    s = 1.5e-9
    assert r.cycles == 1500
    assert r.energy.background_j == pytest.approx((1.0 * 1000 + 0.9 * 500) * s)
    assert r.energy.act_pre_j == pytest.approx(0.2 * 1000 * s)
    assert r.energy.burst_j == pytest.approx((0.25 * 1000 + 0.05 * 500) * s)
    assert r.energy.refresh_j == pytest.approx(0.05 * 1500 * s)
    with pytest.raises(InvalidOptionError, match="no DRAMSim2 power data"):
        parse_dramsim2_output("nothing here", 1.5)


def test_parse_dramsim3_json():
    doc = {"0": {"read_energy": 100.0, "write_energy": 50.0, "act_energy": 30.0, "ref_energy": 20.0,
                 "refb_energy": 0.0, "act_stb_energy": {"0": 400.0}, "pre_stb_energy": {"0": 100.0},
                 "pre_pd_energy": {"0": 0.0}, "sref_energy": {"0": 0.0}, "total_energy": 700.0,
                 "num_cycles": 2000}}
    r = parse_dramsim3_json(json.dumps(doc))
    assert r.cycles == 2000
    assert (r.energy.burst_j, r.energy.act_pre_j, r.energy.refresh_j, r.energy.background_j) == \
        pytest.approx((150e-12, 30e-12, 20e-12, 500e-12))
    assert r.energy.total_j == pytest.approx(700e-12)
    with pytest.raises(InvalidOptionError):
        parse_dramsim3_json({"0": {}})


def _fake_dramsim2(tmp_path):
    """A stand-in binary printing DRAMSim2's power blocks, to test the plumbing."""
    exe = tmp_path / "DRAMSim"
    exe.write_text(f"#!{sys.executable}\nimport sys\nsys.stdout.write({DRAMSIM2_OUTPUT!r})\n")
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    for name in ("device.ini", "system.ini"):
        (tmp_path / name).write_text("; stand-in\n")
    return exe


def test_run_dram_sim_plumbing_with_a_stand_in(tmp_path):
    exe = _fake_dramsim2(tmp_path)
    trace = tmp_path / "mase_x.trc"
    trace.write_text("0x0 READ 0\n")
    r = run_dram_sim(exe, trace, "dramsim2", 2000, 1.5, tmp_path / "device.ini", tmp_path / "system.ini")
    assert r.simulator == "DRAMSim2" and r.cycles == 1500
    with pytest.raises(InvalidOptionError, match="not found"):
        run_dram_sim(tmp_path / "missing", trace, "dramsim2", 10, 1.5, tmp_path / "device.ini")
    with pytest.raises(InvalidOptionError, match="system ini"):
        run_dram_sim(exe, trace, "dramsim2", 10, 1.5, tmp_path / "device.ini")


def _real_binary(env: str, name: str):
    import shutil
    path = os.environ.get(env) or shutil.which(name)
    return path if path and os.path.isfile(path) else None


@pytest.mark.parametrize("fmt, env, name, config_env", [
    ("dramsim2", "SCANFUSE_DRAMSIM2", "DRAMSim", "SCANFUSE_DRAMSIM2_INI"),
    ("dramsim3", "SCANFUSE_DRAMSIM3", "dramsim3main", "SCANFUSE_DRAMSIM3_INI"),
])
def test_real_simulator_agrees_on_counts_and_energy(tmp_path, fmt, env, name, config_env):
    """Runs only where the user has the simulator (set SCANFUSE_DRAMSIM2 / SCANFUSE_DRAMSIM3
    to the binary, or put it on PATH; configs found next to it, or in SCANFUSE_DRAMSIM2_INI,
    SCANFUSE_DRAMSIM2_SYSTEM, SCANFUSE_DRAMSIM3_INI)."""
    from scanfuse.dram.external import default_config
    from scanfuse.dram.trace_io import write_dramsim2_trace, write_dramsim3_trace
    binary = _real_binary(env, name)
    if binary is None:
        pytest.skip(f"{name} not installed (set {env})")
    dram = "ddr3" if fmt == "dramsim2" else "ddr4"
    config, system = default_config(binary, fmt, dram)
    config = os.environ.get(config_env) or config
    system = os.environ.get("SCANFUSE_DRAMSIM2_SYSTEM") or system
    if config is None or (fmt == "dramsim2" and system is None):
        pytest.skip(f"no {fmt} config for {dram} next to {binary} (set {config_env}"
                    f"{' and SCANFUSE_DRAMSIM2_SYSTEM' if fmt == 'dramsim2' else ''})")
    stream, model = variant_trace(tiny_mobilenet(), 4096, "scan+fusion", EvalConfig(dram))
    trace = tmp_path / ("mase_tiny.trc" if fmt == "dramsim2" else "tiny.trace")
    (write_dramsim2_trace if fmt == "dramsim2" else write_dramsim3_trace)(
        trace, stream.addr, stream.is_write, stream.issue)
    r = run_dram_sim(binary, trace, fmt, int(model.runtime_cycles * 1.1) + 1000,
                     get_preset(dram).tCK_ns, config, system)
    # same bursts, so the burst energy agrees; totals within the model's stated limits
    assert r.energy.burst_j == pytest.approx(model.energy.burst_j, rel=0.05)
    assert r.energy.total_j == pytest.approx(model.energy.total_j, rel=0.3)
