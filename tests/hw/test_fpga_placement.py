"""scanfuse.hw.fpga.placement on a hand-made routed netlist and timing report: sites, component
spread, wire delay by distance (flip-flop-driven nets only, less the clock-to-output), late
endpoints by the length of their last net; the CLI's errors."""

import json

import pytest

from scanfuse.hw.fpga.placement import (DistanceBucket, HopBucket, cell_sites, clock_to_q,
                                        component_spread, late_sinks_by_last_hop, main,
                                        route_delay_by_distance)


def _cell(kind, x, y, bel="SLICEA"):
    return {"type": kind, "attributes": {"NEXTPNR_BEL": f"X{x}/Y{y}/{bel}"}}


ROUTED = {"modules": {
    "cells_lib": {"cells": {"x": {"type": "$buf", "attributes": {}}}},
    "top": {"cells": {
        "a.u.r0": _cell("TRELLIS_FF", 10, 10),
        "a.u.r1": _cell("TRELLIS_FF", 12, 10),
        "a.u.l0": _cell("TRELLIS_COMB", 14, 10),
        "a.v.r0": _cell("TRELLIS_FF", 40, 10),
        "b.w.r0": _cell("TRELLIS_FF", 10, 35),
        "b.w.mem": _cell("DP16KD", 10, 45, "EBR"),
        "unplaced": {"type": "TRELLIS_FF", "attributes": {}},
    }}}}

REPORT = {
    "critical_paths": [{"path": [
        {"type": "clk-to-q", "delay": 0.5, "from": {"cell": "a.u.r0_TRELLIS_FF_Q"}},
        {"type": "routing", "delay": 3.0, "from": {"cell": "a.u.r0_TRELLIS_FF_Q"}}]}],
    "detailed_net_timings": [
        # a flip-flop to a sink 2 tiles away (1.5 ns wire) and one 30 tiles away (3.5 ns)
        {"driver": "a.u.r0", "port": "Q", "net": "n0",
         "endpoints": [{"cell": "a.u.r1", "port": "DI", "delay": [1.0, 2.0]},
                       {"cell": "a.v.r0", "port": "DI", "delay": [3.0, 4.0]}]},
        # a LUT's net: no wire-delay figure, but its sink is late at 150 MHz, 26 tiles away
        {"driver": "a.u.l0", "port": "F", "net": "n1",
         "endpoints": [{"cell": "a.v.r0", "port": "CE", "delay": [6.0, 7.5]}]},
        # a flip-flop 25 tiles from its sink, late at 150 MHz; and a sink with no site
        {"driver": "b.w.r0", "port": "Q", "net": "n2",
         "endpoints": [{"cell": "a.u.r1", "port": "DI", "delay": [6.5, 7.0]},
                       {"cell": "unplaced", "port": "DI", "delay": [9.0, 9.0]}]},
        # a block RAM's output: not a flip-flop
        {"driver": "b.w.mem", "port": "DOB0", "net": "n3",
         "endpoints": [{"cell": "b.w.r0", "port": "DI", "delay": [6.0, 6.2]}]},
    ]}


def test_sites_come_from_the_placed_module_only():
    sites = cell_sites(ROUTED)
    assert sites["a.u.r0"] == (10, 10, "TRELLIS_FF") and sites["b.w.mem"] == (10, 45, "DP16KD")
    assert "unplaced" not in sites and "x" not in sites and len(sites) == 6


def test_component_spread_counts_and_ranges():
    spread = component_spread(cell_sites(ROUTED), depth=2)
    assert [(c.component, c.cells) for c in spread] == [("a.u", 3), ("b.w", 2), ("a.v", 1)]
    au = spread[0]
    assert (au.cx, au.cy, au.x10, au.x90, au.y10, au.y90) == (12.0, 10.0, 10, 14, 10, 10)
    assert [c.component for c in component_spread(cell_sites(ROUTED), 1, min_cells=3)] == ["a"]


def test_wire_delay_is_arrival_less_clock_to_q_by_distance():
    assert clock_to_q(REPORT) == 0.5
    got = route_delay_by_distance(REPORT, cell_sites(ROUTED), bucket=10, last=80)
    assert got == [DistanceBucket(0, 9, 1, 1.5, 1.5, 1.5),
                   DistanceBucket(20, 29, 1, 6.5, 6.5, 6.5),
                   DistanceBucket(30, 39, 1, 3.5, 3.5, 3.5)]


def test_late_endpoints_by_their_last_net():
    sites = cell_sites(ROUTED)
    assert late_sinks_by_last_hop(REPORT, sites, 150.0) == [HopBucket(20, 29, 2)]
    assert late_sinks_by_last_hop(REPORT, sites, 150.0, bucket=10, last=20) == [
        HopBucket(20, -1, 2)]
    assert late_sinks_by_last_hop(REPORT, sites, 1000.0) == [
        HopBucket(0, 9, 1), HopBucket(10, 19, 1), HopBucket(20, 29, 2), HopBucket(30, 39, 1)]


def test_clock_to_q_needs_a_flip_flop_path():
    with pytest.raises(ValueError, match="clock-to-output unknown"):
        clock_to_q({"critical_paths": []})


def test_cli_prints_and_refuses_bad_input(tmp_path, capsys):
    routed, report = tmp_path / "routed.json", tmp_path / "report.json"
    routed.write_text(json.dumps(ROUTED))
    report.write_text(json.dumps(REPORT))
    assert main([str(routed), str(report), "--min-cells", "1", "--depth", "2"]) == 0
    out = capsys.readouterr().out
    assert "| a.u | 3 | 12, 10 | 10-14 | 10-10 |" in out
    assert "2 endpoints later than 6.67 ns (150 MHz)" in out
    assert main([str(routed), str(report), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["late_by_last_hop"] == [{"lo": 20, "hi": 29, "late": 2}]
    assert main([str(report), str(report)]) == 2          # not a routed netlist
    assert "not a routed netlist" in capsys.readouterr().err
    assert main([str(routed), str(report), "--at", "0"]) == 2
    assert main([str(routed), str(report), "--depth", "0"]) == 2
    assert main([str(tmp_path / "none.json"), str(report)]) == 2
