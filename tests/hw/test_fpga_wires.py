"""scanfuse.hw.fpga.wires: nextpnr's per-net route delays grouped by component."""

import json

import pytest

from scanfuse.hw.fpga.wires import (build_wires, component_of, main, net_delays, seed_wires)


def _net(name, driver, *delays):
    # The shape of nextpnr-ecp5 0.11's `detailed_net_timings` entries ([fast, slow] ns).
    return {"net": name, "driver": driver, "port": "F", "event": "posedge $glbnet$clk",
            "endpoints": [{"cell": f"sink{i}", "port": "DI", "event": "posedge $glbnet$clk",
                           "delay": [d / 3, d]} for i, d in enumerate(delays)]}


REPORT = {"detailed_net_timings": [
    _net("$glbnet$clk", "pll", 0.5, 9.0),                          # the clock: left out
    _net("engine.seq.store.active_LUT4_B_D_LUT4_C_Z", "lut", 1.0, 13.8, 2.0),
    _net("engine.seq.store.requant.mid0_TRELLIS_FF_Q_32_DI", "ccu", 6.2),
    _net("engine.seq.store.tile_TRELLIS_FF_Q_3_DI", "lut", 5.5),
    _net("engine.seq.pe.acc_5_0_TRELLIS_FF_Q_DI", "ccu", 7.0),
    _net("engine.bus__rdata$86_TRELLIS_FF_Q_48_DI", "lut", 10.2),
    _net("selftest.timer_TRELLIS_FF_Q_23_DI", "ccu", 1.5),
    {"net": "dangling", "driver": "x", "endpoints": []},            # no sink: left out
]}


def test_slowest_sink_of_each_net_at_the_slow_corner():
    got = {n.net: (n.sinks, n.delay_ns) for n in net_delays(REPORT)}
    assert "$glbnet$clk" not in got and "dangling" not in got
    assert got["engine.seq.store.active_LUT4_B_D_LUT4_C_Z"] == (3, 13.8)
    assert len(got) == 6


def test_component_names():
    assert component_of("engine.seq.store.requant.mid0_TRELLIS_FF_Q_32_DI", 3) == \
        "engine.seq.store"
    assert component_of("engine.bus__rdata$86_TRELLIS_FF_Q_48_DI", 3) == "engine.bus__rdata"
    assert component_of("selftest.timer_TRELLIS_FF_Q_23_DI", 3) == "selftest.timer"
    assert component_of("engine.seq.pe.acc_5_0_TRELLIS_FF_Q_DI", 1) == "engine"
    with pytest.raises(ValueError, match="depth"):
        component_of("x", 0)


def test_seed_figures():
    s = seed_wires(1, REPORT, 6.0, 3)
    assert s.nets == 6
    assert s.over_steps == {2.0: 5, 4.0: 5, 6.0: 4, 8.0: 2}
    assert s.over == 4
    got = [(c.component, c.over, c.nets, c.worst.net) for c in s.components]
    assert got == [("engine.seq.store", 2, 3, "engine.seq.store.active_LUT4_B_D_LUT4_C_Z"),
                   ("engine.bus__rdata", 1, 1, "engine.bus__rdata$86_TRELLIS_FF_Q_48_DI"),
                   ("engine.seq.pe", 1, 1, "engine.seq.pe.acc_5_0_TRELLIS_FF_Q_DI")]
    with pytest.raises(ValueError, match="threshold"):
        seed_wires(1, REPORT, 0, 3)


def test_report_without_detail_is_an_error():
    with pytest.raises(ValueError, match="--detailed-timing-report"):
        net_delays({"critical_paths": []})


def test_build_directory_and_cli(tmp_path, capsys):
    (tmp_path / "report.json").write_text(json.dumps({"seeds": [{"seed": 1}, {"seed": 3}]}))
    (tmp_path / "top.ys").write_text("")
    (tmp_path / "top.report.json").write_text(json.dumps(REPORT))
    slower = {"detailed_net_timings": REPORT["detailed_net_timings"]
              + [_net("engine.dma.g_addr_TRELLIS_FF_Q_DI", "lut", 20.0)]}
    (tmp_path / "top.seed3.report.json").write_text(json.dumps(slower))
    got = build_wires(tmp_path, 1e3 / 150, 3)
    assert [(s.seed, s.over) for s in got] == [(1, 3), (3, 4)]
    assert main([str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "seed 1: 6 nets" in out and "**> 6.67 ns: 3**" in out and "**> 6.67 ns: 4**" in out
    assert "| engine.dma.g_addr | 1 | 1 | `engine.dma.g_addr_TRELLIS_FF_Q_DI` | 1 | 20.00 |" in out
    assert main([str(tmp_path), "--over", "6", "--depth", "2", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    first = doc[str(tmp_path)][0]
    assert first["over"] == 4 and first["components"][0]["component"] == "engine.seq"
    assert main([str(tmp_path), "--at", "100", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[str(tmp_path)][0]["over"] == 2
    for bad in (["--over", "0"], ["--at", "-1"], ["--depth", "0"], ["--top", "0"]):
        assert main([str(tmp_path), *bad]) == 2
        assert "wires: error:" in capsys.readouterr().err
    assert main([str(tmp_path / "missing")]) == 2
    (tmp_path / "top.report.json").write_text(json.dumps({"critical_paths": []}))
    assert main([str(tmp_path)]) == 2
    assert "--detailed-timing-report" in capsys.readouterr().err
