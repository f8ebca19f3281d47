"""scanfuse.hw.fpga.slack: nextpnr's slack histogram reduced to per-seed figures."""

import json

import pytest

from scanfuse.hw.fpga.slack import (build_slack, failing_at, main, parse_fmax, parse_histogram,
                                    parse_target, seed_slack)

# The shape of nextpnr-ecp5 0.11's log: a histogram after placement, another after routing.
LOG = """\
Info: Max frequency for clock '$glbnet$clk': 56.19 MHz (FAIL at 150.01 MHz)
Info: Slack histogram:
Info:  legend: * represents 10 endpoint(s)
Info:          + represents [1,10) endpoint(s)
Info: [ -9000,  -1000) |**+
Info: [ -1000,   5000) |*****
Info: Checksum: 0x1
Warning: Max frequency for clock '$glbnet$clk': 65.46 MHz (FAIL at 150.01 MHz)

Info: Slack histogram:
Info:  legend: * represents 50 endpoint(s)
Info:          + represents [1,50) endpoint(s)
Info: [ -8611,  -7894) |+
Info: [ -7894,  -6700) |*+
Info: [ -6700,   -100) |**
Info: [  -100,    710) |***+
Info: [   710,   1427) |************************************************************ 
1 warning, 0 errors
"""


def test_last_histogram_and_count_ranges():
    bins = parse_histogram(LOG)
    assert [(b.lo_ps, b.hi_ps) for b in bins] == [(-8611, -7894), (-7894, -6700), (-6700, -100),
                                                  (-100, 710), (710, 1427)]
    assert [(b.low, b.high) for b in bins] == [(1, 49), (51, 99), (100, 100), (151, 199),
                                               (3000, 3000)]


def test_seed_figures():
    s = seed_slack(2, LOG)
    assert s.fmax_mhz == 65.46 and s.worst_ps == -8611
    assert s.failing == (152, 248)            # the three bins wholly below 0 ps
    assert s.straddle == (151, 199)
    assert s.near == (52, 148)                # bins ending within 2 ns of -8611 ps
    assert s.total == (3303, 3447)
    # midpoint slack x midpoint count of each failing bin, in ns
    tns = (-8252.5 * 25 + -7297 * 75 + -3400 * 100) / 1000
    assert s.tns_ns == round(tns, 1)


def test_fmax_takes_the_last_summary():
    assert parse_fmax(LOG) == 65.46
    assert parse_fmax("no timing here") is None
    assert parse_target(LOG) == 150.01 and parse_target("no timing here") is None


def test_failing_at_another_clock():
    s = seed_slack(2, LOG)
    assert s.target_mhz == 150.01
    # at the target itself: the failing bins, and at most all of the bin across 0
    assert failing_at(s, 150.01) == (s.failing[0], s.failing[1] + s.straddle[1]) == (152, 447)
    # at 100 MHz every slack grows by 1e6/100.00 - 1e6/150.01 = 3333.8 ps: the bins below
    # -3333.8 ps fail for sure (1..49 + 51..99), the one across it may (0..100)
    assert failing_at(s, 100) == (52, 248)
    # a faster clock than any path allows: every endpoint
    assert failing_at(s, 1000) == s.total
    with pytest.raises(ValueError, match="positive"):
        failing_at(s, 0)
    with pytest.raises(ValueError, match="no target"):
        failing_at(seed_slack(2, LOG.replace("(FAIL at 150.01 MHz)", "")), 100)


def test_no_histogram_is_an_error():
    with pytest.raises(ValueError, match="no slack histogram"):
        parse_histogram("Info: Program finished normally.\n")


def test_build_directory_and_cli(tmp_path, capsys):
    (tmp_path / "report.json").write_text(json.dumps({"seeds": [{"seed": 1}, {"seed": 3}]}))
    (tmp_path / "top.ys").write_text("")
    (tmp_path / "top.tim").write_text(LOG)
    (tmp_path / "top.seed3.tim").write_text(LOG.replace("65.46", "61.00"))
    got = build_slack(tmp_path)
    assert [(s.seed, s.fmax_mhz) for s in got] == [(1, 65.46), (3, 61.0)]
    assert main([str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.count(f"| {tmp_path} |") == 2 and "| 152-248 |" in out
    assert main([str(tmp_path / "missing")]) == 2
    assert main([str(tmp_path), "--at", "100"]) == 0
    out = capsys.readouterr().out
    assert "failing at 100 MHz |" in out and out.count("| 52-248 |") == 2
    assert main([str(tmp_path), "--at", "100", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc[str(tmp_path)][0]["failing_at_100_mhz"] == [52, 248]
    assert main([str(tmp_path), "--at", "0"]) == 2
    assert "--at must be" in capsys.readouterr().err
