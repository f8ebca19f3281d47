"""scanfuse.hw.fpga.arrival: late timing endpoints by component and input kind."""

import json

import pytest

from scanfuse.hw.fpga.arrival import (arrival_ladder, build_arrivals, build_nets, component_of,
                                      endpoints, input_kind, late_nets, main, seed_arrivals)


def _net(name, *sinks):
    # The shape of nextpnr-ecp5 0.11's `detailed_net_timings`: per sink the arrival [min, max].
    return {"net": name, "driver": f"{name}_drv", "port": "F", "event": "posedge $glbnet$clk",
            "endpoints": [{"cell": cell, "port": port, "event": "posedge $glbnet$clk",
                           "delay": [t / 2, t]} for cell, port, t in sinks]}


REPORT = {"detailed_net_timings": [
    _net("n1", ("engine.seq.store.pack32.word_TRELLIS_FF_Q_3", "CE", 11.2),
         ("engine.seq.store.pack32.word_TRELLIS_FF_Q_4", "CE", 6.0)),
    _net("n2", ("engine.seq.store.pack32.word_TRELLIS_FF_Q_3", "LSR", 7.0)),
    # the same endpoint through another net: its latest arrival counts, once
    _net("n3", ("engine.seq.store.pack32.word_TRELLIS_FF_Q_3", "CE", 9.0)),
    _net("n4", ("engine.buf.c_mem.0.0", "ADB6", 13.8), ("engine.buf.c_mem.0.0", "DIA0", 2.0)),
    _net("n5", ("engine.seq.pe.acc_5_0_TRELLIS_FF_Q", "DI", 7.5)),
    _net("n6", ("engine.dma.row_q.storage.0.10$RAMW_SLICE", "WAD1", 8.0)),
    _net("n7", ("selftest.timer_TRELLIS_FF_Q_23", "M", 1.5)),
    {"net": "dangling", "driver": "x", "endpoints": []},
]}


def test_input_kinds():
    assert [input_kind(p) for p in ("DI", "M", "CE", "LSR", "WAD0", "WD1", "WRE", "ADB6",
                                     "A10")] == \
        ["data", "data", "enable", "set/reset", "lutram", "lutram", "lutram", "block", "block"]


def test_each_endpoint_once_at_its_latest_arrival():
    got = {(e.cell, e.port): e.arrival_ns for e in endpoints(REPORT)}
    assert len(got) == 8
    assert got["engine.seq.store.pack32.word_TRELLIS_FF_Q_3", "CE"] == 11.2
    with pytest.raises(ValueError, match="--detailed-timing-report"):
        endpoints({"critical_paths": []})


def test_component_names():
    assert component_of("engine.seq.store.pack32.word_TRELLIS_FF_Q_3", 3) == "engine.seq.store"
    assert component_of("engine.bus__rdata$86_TRELLIS_FF_Q_48", 3) == "engine.bus__rdata"
    assert component_of("selftest.timer_TRELLIS_FF_Q_23", 3) == "selftest.timer"
    assert component_of("engine.seq.store.wr_skid.skid[2]", 4) == "engine.seq.store.wr_skid"
    assert component_of("engine.seq.pe.acc_5_0_TRELLIS_FF_Q", 1) == "engine"
    with pytest.raises(ValueError, match="depth"):
        component_of("x", 0)


def test_seed_figures_at_150_mhz():
    s = seed_arrivals(1, REPORT, 150, 3)
    assert s.period_ns == 6.667 and s.endpoints == 8
    assert s.late == 5
    assert s.late_by_kind == {"data": 1, "enable": 1, "set/reset": 1, "lutram": 1, "block": 1}
    got = [(c.component, c.late, c.endpoints, c.by_kind, c.latest, c.latest_ns)
           for c in s.components]
    assert got == [
        ("engine.seq.store", 2, 3, {"enable": 1, "set/reset": 1},
         "engine.seq.store.pack32.word", 11.2),
        ("engine.buf.c_mem", 1, 2, {"block": 1}, "engine.buf.c_mem.0.0", 13.8),
        ("engine.dma.row_q", 1, 1, {"lutram": 1}, "engine.dma.row_q.storage.0.10", 8.0),
        ("engine.seq.pe", 1, 1, {"data": 1}, "engine.seq.pe.acc_5_0", 7.5)]
    assert seed_arrivals(1, REPORT, 100, 3).late == 2
    with pytest.raises(ValueError, match="clock"):
        seed_arrivals(1, REPORT, 0, 3)


def test_late_nets_each_sink_on_its_own_net():
    nets = late_nets(REPORT, 150)
    assert [(n.net, n.late, n.sinks, n.by_kind, n.earliest_ns, n.latest_ns) for n in nets] == [
        ("n1", 1, 2, {"enable": 1}, 6.0, 11.2),
        ("n2", 1, 1, {"set/reset": 1}, 7.0, 7.0),
        ("n3", 1, 1, {"enable": 1}, 9.0, 9.0),    # the endpoint n1 makes later still
        ("n4", 1, 2, {"block": 1}, 2.0, 13.8),
        ("n5", 1, 1, {"data": 1}, 7.5, 7.5),
        ("n6", 1, 1, {"lutram": 1}, 8.0, 8.0)]
    assert nets[0].driver == "n1_drv" and nets[0].source == ""
    assert [n.net for n in late_nets(REPORT, 100)] == ["n1", "n4"]
    with pytest.raises(ValueError, match="clock"):
        late_nets(REPORT, -1)
    with pytest.raises(ValueError, match="--detailed-timing-report"):
        late_nets({}, 150)


def test_ladder_counts_each_endpoint_at_its_latest_arrival():
    got = [(r.mhz, r.period_ns, r.endpoints, r.nets) for r in arrival_ladder(REPORT)]
    assert got == [(150, 6.667, 5, 5), (125, 8.0, 2, 2), (110, 9.091, 2, 2), (100, 10.0, 2, 2),
                   (90, 11.111, 2, 2), (80, 12.5, 1, 1)]
    # Two late endpoints through one net count once as a net.
    one = {"detailed_net_timings": [_net("x", ("a_TRELLIS_FF_Q", "CE", 9.0),
                                          ("b_TRELLIS_FF_Q", "CE", 8.0))]}
    assert [(r.endpoints, r.nets) for r in arrival_ladder(one, (150, 120))] == [(2, 1), (1, 1)]


def test_build_directory_and_cli(tmp_path, capsys):
    (tmp_path / "report.json").write_text(json.dumps({"seeds": [{"seed": 1}, {"seed": 3}]}))
    (tmp_path / "top.ys").write_text("")
    (tmp_path / "top.report.json").write_text(json.dumps(REPORT))
    later = {"detailed_net_timings": REPORT["detailed_net_timings"]
             + [_net("n8", ("engine.dma.g_addr_TRELLIS_FF_Q", "DI", 20.0))]}
    (tmp_path / "top.seed3.report.json").write_text(json.dumps(later))
    got = build_arrivals(tmp_path, 150, 3)
    assert [(s.seed, s.late) for s in got] == [(1, 5), (3, 6)]
    assert main([str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "seed 1: 5 of 8 endpoints later than 6.67 ns (150 MHz)" in out
    assert "| engine.dma.g_addr | 1 | 1 | 1 | 0 | 0 | 0 | 0 | `engine.dma.g_addr` | 20.00 |" in out
    assert main([str(tmp_path), "--at", "100", "--depth", "2", "--json"]) == 0
    first = json.loads(capsys.readouterr().out)[str(tmp_path)][0]
    assert first["late"] == 2 and first["components"][0]["component"] == "engine.buf"
    assert main([str(tmp_path), "--nets", "2"]) == 0
    out = capsys.readouterr().out
    assert "| 150 | 6.67 | 5 | 5 |" in out and "| 80 | 12.50 | 1 | 1 |" in out
    assert "6 nets with a sink later than 6.67 ns (150 MHz)" in out
    assert "| `n1` | 1 | 2 | enable 1 | 6.00 - 11.20 |  |" in out and "`n3`" not in out
    assert [(s.seed, s.late_nets, len(s.nets)) for s in build_nets(tmp_path, 150, 2)] == \
        [(1, 6, 2), (3, 7, 2)]
    assert main([str(tmp_path), "--nets", "1", "--json"]) == 0
    seeds = json.loads(capsys.readouterr().out)[str(tmp_path)]
    assert seeds[1]["nets"][0]["net"] == "n1" and seeds[1]["ladder"][0]["endpoints"] == 6
    for bad in (["--at", "0"], ["--depth", "0"], ["--top", "0"], ["--nets", "-1"]):
        assert main([str(tmp_path), *bad]) == 2
        assert "arrival: error:" in capsys.readouterr().err
    assert main([str(tmp_path / "missing")]) == 2
    (tmp_path / "top.report.json").write_text(json.dumps({"critical_paths": []}))
    (tmp_path / "top.seed3.report.json").unlink()
    assert main([str(tmp_path)]) == 2
    assert "--detailed-timing-report" in capsys.readouterr().err
