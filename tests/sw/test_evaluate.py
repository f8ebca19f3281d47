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
from scanfuse.evaluate import (COMPARED_POLICIES, VARIANTS, EvalConfig, cross_check, evaluate,
                               evaluate_network, network_stream, plan_variants, variant_trace,
                               variant_units)
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
    assert set(net) == {"variants", "savings", "dynamic_savings", "savings_by_policy"}
    assert list(net["variants"]) == list(VARIANTS) == list(net["savings"]) == \
        list(net["dynamic_savings"])
    assert list(net["savings_by_policy"]) == list(COMPARED_POLICIES)
    for v in VARIANTS:
        assert set(net["variants"][v]) == {"traffic_bytes", "energy_j", "runtime_s", "dram_policy",
                                           "dram_runtime_cycles", "energy_j_by_policy"}
        assert net["variants"][v]["dram_policy"] == "dramsim2"
        assert set(net["variants"][v]["energy_j"]) == ENERGY_KEYS
        by = net["variants"][v]["energy_j_by_policy"]
        assert list(by) == list(COMPARED_POLICIES) and by["dramsim2"] == net["variants"][v]["energy_j"]
        for pol in COMPARED_POLICIES:
            assert net["savings_by_policy"][pol]["baseline"] == 0.0
    assert net["savings"]["baseline"] == 0.0
    assert net["savings_by_policy"]["dramsim2"] == net["savings"]
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
    assert extra["settings"]["dram_policy"] == "dramsim2"
    assert extra["details"]["tiny"]["scan"]["policy"] == "dramsim2"


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
        e = energy_of_counts(p, d.reads, d.writes, d.activates, d.refreshes, d.open_cycles,
                             d.closed_cycles, d.powerdown_cycles)
        assert d.open_cycles + d.closed_cycles + d.powerdown_cycles == d.runtime_cycles
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


@pytest.mark.parametrize("policy", ["always-on", "close-on-idle", "dramsim2"])
def test_stream_energy_covers_the_engine_runtime(policy):
    p = get_preset("ddr3")
    addr = np.arange(1000, dtype=np.uint64) * np.uint64(64)
    zeros = np.zeros(1000, np.int64)
    short = simulate(addr, False, zeros, p, policy=policy)
    same = stream_dram_result(addr, np.zeros(1000, bool), zeros, p, "scheme2",
                              short.runtime_cycles - 5, policy)
    assert same == short
    longer = stream_dram_result(addr, np.zeros(1000, bool), zeros, p, "scheme2",
                                10 * short.runtime_cycles, policy)
    assert longer.limit == "engine" and longer.runtime_cycles == 10 * short.runtime_cycles
    assert longer.energy.burst_j == short.energy.burst_j
    assert longer.energy.act_pre_j == short.energy.act_pre_j
    extra_s = (longer.runtime_cycles - short.runtime_cycles) * p.cycle_s
    refresh_cycles = p.tRFC * (longer.refreshes - short.refreshes)
    if policy == "always-on":        # a bank counts as open from the first burst to the end
        assert longer.energy.background_j == pytest.approx(10 * short.energy.background_j)
    elif policy == "close-on-idle":  # the idle tail is precharged standby but for refreshes
        assert longer.closed_cycles - short.closed_cycles == \
            longer.runtime_cycles - short.runtime_cycles - refresh_cycles
    else:                            # ... and powered down but for refreshes and their wake-ups
        assert longer.powerdown_cycles - short.powerdown_cycles == \
            longer.runtime_cycles - short.runtime_cycles - (refresh_cycles + p.tXP * (
                longer.refreshes - short.refreshes))
        assert longer.energy.background_j - short.energy.background_j < 0.2 * extra_s * 1.08


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
    assert len(tables(tiny_eval)) == 4        # variants, savings, policies, sweep
    assert "policy dramsim2" in text and "## Savings by controller policy" in text


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


def test_parse_dramsim3_json_scales_its_units_by_tck():
    # DRAMsim3 labels V*mA*cycles as pJ: at tCK = 0.83 ns they are 0.83 pJ each
    doc = {"0": {"read_energy": 100.0, "write_energy": 50.0, "act_energy": 30.0, "ref_energy": 20.0,
                 "refb_energy": 0.0, "act_stb_energy": {"0": 400.0}, "pre_stb_energy": {"0": 100.0},
                 "pre_pd_energy": {"0": 0.0}, "sref_energy": {"0": 0.0}, "total_energy": 700.0,
                 "num_cycles": 2000}}
    r = parse_dramsim3_json(json.dumps(doc), 0.83)
    assert r.cycles == 2000
    k = 0.83e-12
    assert (r.energy.burst_j, r.energy.act_pre_j, r.energy.refresh_j, r.energy.background_j) == \
        pytest.approx((150 * k, 30 * k, 20 * k, 500 * k))
    assert r.energy.total_j == pytest.approx(700 * k)
    with pytest.raises(InvalidOptionError):
        parse_dramsim3_json({"0": {}}, 0.83)
    with pytest.raises(InvalidOptionError, match="tck_ns"):
        parse_dramsim3_json(doc, 0)


def test_derived_simulator_configs():
    from scanfuse.dram.external import dramsim2_system_ini, dramsim3_config_ini
    from scanfuse.dram.policy import parse_policy
    stock = "; comment\nUSE_LOW_POWER=true ; go into low power\nADDRESS_MAPPING_SCHEME=scheme2\n"
    text, exact = dramsim2_system_ini(stock, "scheme6", parse_policy("close-on-idle"))
    assert "USE_LOW_POWER=false" in text and "ADDRESS_MAPPING_SCHEME=scheme6" in text
    assert "ROW_BUFFER_POLICY=open_page" in text and exact
    assert dramsim2_system_ini(stock, "scheme2", parse_policy("dramsim2"))[0].count(
        "USE_LOW_POWER=true") == 1
    assert not dramsim2_system_ini(stock, "scheme2", parse_policy("open-page"))[1]
    assert not dramsim2_system_ini(stock, "scheme2", parse_policy("powerdown-after 9"))[1]
    ini = "[system]\nchannel_size = 16384\naddress_mapping = rochrababgco\n"
    text, exact = dramsim3_config_ini(ini, get_preset("ddr4"), "scheme2", parse_policy("open-page"))
    assert "channel_size=8192" in text and "address_mapping=chrocobabgra" in text and exact
    assert not dramsim3_config_ini(ini, get_preset("ddr4"), "scheme2", parse_policy("dramsim2"))[1]


def _fake_dramsim2(tmp_path):
    """A stand-in binary printing DRAMSim2's power blocks and its argv, to test the plumbing."""
    exe = tmp_path / "DRAMSim"
    exe.write_text(f"#!{sys.executable}\nimport sys, pathlib\n"
                   f"pathlib.Path({str(tmp_path / 'argv.txt')!r}).write_text(' '.join(sys.argv[1:]) + "
                   f"'\\n' + pathlib.Path(sys.argv[4]).read_text())\n"
                   f"sys.stdout.write({DRAMSIM2_OUTPUT!r})\n")
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    (tmp_path / "device.ini").write_text("; stand-in\n")
    (tmp_path / "stock_system.ini").write_text("USE_LOW_POWER=true\n")   # not found by name
    return exe


def test_run_dram_sim_plumbing_with_a_stand_in(tmp_path):
    exe = _fake_dramsim2(tmp_path)
    trace = tmp_path / "mase_x.trc"
    trace.write_text("0x0 READ 0\n")
    r = run_dram_sim(exe, trace, "dramsim2", 2000, "ddr3", "scheme2", "close-on-idle",
                     tmp_path / "device.ini", tmp_path / "stock_system.ini")
    assert r.simulator == "DRAMSim2" and r.cycles == 1500 and r.policy == "close-on-idle"
    argv, _, system = (tmp_path / "argv.txt").read_text().partition("\n")
    assert argv.endswith("-c 2000")                        # exactly the cycles asked for
    assert "USE_LOW_POWER=false" in system                 # the derived ini, not the stock one
    with pytest.raises(InvalidOptionError, match="not found"):
        run_dram_sim(tmp_path / "missing", trace, "dramsim2", 10, "ddr3", config=tmp_path / "device.ini")
    with pytest.raises(InvalidOptionError, match="system ini"):
        run_dram_sim(exe, trace, "dramsim2", 10, "ddr3", config=tmp_path / "device.ini")
    not_sim = tmp_path / "true_sim"
    not_sim.write_text("#!/bin/sh\necho hello\n")
    not_sim.chmod(0o755)
    with pytest.raises(InvalidOptionError, match="no DRAMSim2 power data"):
        run_dram_sim(not_sim, trace, "dramsim2", 10, "ddr3", config=tmp_path / "device.ini",
                     system=tmp_path / "stock_system.ini")
    failing = tmp_path / "failing_sim"
    failing.write_text("#!/bin/sh\necho boom >&2\nexit 3\n")
    failing.chmod(0o755)
    with pytest.raises(InvalidOptionError, match="exited with 3: boom"):
        run_dram_sim(failing, trace, "dramsim2", 10, "ddr3", config=tmp_path / "device.ini",
                     system=tmp_path / "stock_system.ini")


def _real_binary(env: str, name: str):
    import shutil
    path = os.environ.get(env) or shutil.which(name)
    return path if path and os.path.isfile(path) else None


@pytest.mark.parametrize("fmt, env, name, policy", [
    ("dramsim2", "SCANFUSE_DRAMSIM2", "DRAMSim", "dramsim2"),
    ("dramsim2", "SCANFUSE_DRAMSIM2", "DRAMSim", "close-on-idle"),
    ("dramsim3", "SCANFUSE_DRAMSIM3", "dramsim3main", "open-page"),
])
def test_real_simulator_agrees_within_5_percent(fmt, env, name, policy):
    """Runs only where the user has the simulator: SCANFUSE_DRAMSIM2 / SCANFUSE_DRAMSIM3 name
    the binary (or it is on PATH), its stock configs next to it (its source tree). Every
    energy part of MobileNetV2's scan+fusion stream at 64K within 5% (docs/dram.md)."""
    from scanfuse.network import get_network
    binary = _real_binary(env, name)
    if binary is None:
        pytest.skip(f"{name} not installed (set {env})")
    dram = "ddr3" if fmt == "dramsim2" else "ddr4"
    config = EvalConfig(dram, policy=policy)
    result = cross_check([get_network("mobilenetv2")], 65536, config, binary,
                         variants=["scan+fusion"])
    model = evaluate_network(get_network("mobilenetv2"), 65536, config,
                             ["baseline", "scan+fusion"]).variants["scan+fusion"]
    ext = result["mobilenetv2"]["scan+fusion"]
    assert ext.matches_policy and ext.policy == policy
    for part in ("burst_j", "act_pre_j", "refresh_j", "background_j", "total_j"):
        assert getattr(model.energy, part) == pytest.approx(getattr(ext.energy, part), rel=0.05), part


def test_engine_clock_of_the_generated_engine():
    from scanfuse.hw.params import AccelConfig
    assert EngineClock.of_engine(AccelConfig()) == EngineClock()          # 8x8, 64-bit, 100 MHz
    wide = EngineClock.of_engine(AccelConfig(rows=16, cols=16, axi_data_bits=128), 150.0)
    assert (wide.macs_per_cycle, wide.bytes_per_cycle, wide.freq_mhz) == (256, 16.0, 150.0)


@pytest.mark.parametrize("name", ["tiny", "resnet50-cp"])
def test_plan_moved_bytes_are_the_evaluation_traffic(name):
    """Issue 18: plan --fuse shows payload and bursts moved side by side; planned in the same
    order, its burst-aware figure is exactly the traffic evaluate moves, variant by variant."""
    from scanfuse.evaluate.moved import moved_bytes
    from scanfuse.network.zoo import get_network
    from scanfuse.plan import BufferModel
    from scanfuse.plan.fusion import plan_fused_network
    net = tiny_mobilenet() if name == "tiny" else get_network(name)
    entries = 4096 if name == "tiny" else 65536
    plan = plan_fused_network(net, BufferModel(entries), order="scan", extended=True)
    moved = moved_bytes(plan, "scan")
    ne = evaluate_network(net, entries, EvalConfig(),
                          ["baseline", "scan", "scan+fusion", "scan+extended-fusion"])
    for key, variant in (("unfused", "scan"), ("thesis-style", "scan+fusion"),
                         ("extended", "scan+extended-fusion")):
        m = moved[key]
        assert m["aware_moved"] == ne.variants[variant].traffic_bytes
        assert m["aware_payload"] == ne.variants[variant].bytes_requested
        assert m["moved"] >= m["payload"] and m["aware_moved"] >= m["aware_payload"]
    total = lambda t: t["read_bytes"] + t["write_bytes"]
    assert moved["extended"]["payload"] == total(plan.total_extended)


def test_a_group_across_a_block_join_runs_after_the_block_downsample():
    """The group s1b0.conv3..s1b1.conv2.first consumes s1b0's output, the sum of conv3 and
    the downsample: the downsample (listed after conv3) runs before it, and every layer runs
    exactly once."""
    from scanfuse.evaluate.units import network_units
    from scanfuse.network import get_network
    from scanfuse.plan import BufferModel
    from scanfuse.plan.fusion import plan_fused_network
    plan = plan_fused_network(get_network("resnet50-cp"), BufferModel(65536), extended=True)
    units = network_units(list(plan.layers), list(plan.extended))
    names = [u.group.name if hasattr(u, "group") else u.layer.name for u in units]
    assert names.index("s1b0.downsample") < names.index("s1b0.conv3..s1b1.conv2.first")
    ran = [l.name for u in units for l in (u.group.layers if hasattr(u, "group") else [u.layer])]
    assert sorted(ran) == sorted(t.layer.name for t in plan.layers)
