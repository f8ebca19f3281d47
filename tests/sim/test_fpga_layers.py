"""``scanfuse fpga --layers`` (:mod:`scanfuse.sim.fpga_layers`): the arithmetic from regression
rows to utilisation, GOPS and DRAM bandwidth at a clock, where the clock comes from, the CLI's
errors and files, and one real layer on the Verilated 8x8 engine.

The full network (``scanfuse fpga --layers``) takes about a minute on Verilator and is not
run here.
"""

import json
import shutil

import pytest

from scanfuse.cli import main
from scanfuse.errors import InvalidOptionError
from scanfuse.sim import fpga_layers as L
from scanfuse.hw.params import AccelConfig
from scanfuse.hw.verilog import source_hash
from scanfuse.sim import verilator_run


def _row(layer, M, K, N, cycles, read, write, ok=True):
    """A regression row as :func:`regress_mobilenetv2` returns it (the keys used)."""
    return {"layer": layer, "M": M, "K": K, "N": N, "macs": M * K * N, "cycles": cycles,
            "dram_read_bytes": read, "dram_write_bytes": write, "bit_exact": ok,
            "counters_match": True, "problems": [] if ok else ["C differs at (0, 0)"]}


#: A 2x2 array (4 MACs/cycle) at 25 MHz: chosen so every figure is an exact decimal.
ROWS = [_row("a", 10, 10, 10, cycles=500, read=300, write=200),
        _row("b", 5, 8, 10, cycles=125, read=100, write=150)]


# ------------------------------------------------------------------------------- arithmetic
def test_figures_exact_arithmetic():
    fig = L.figures_from_regression(ROWS, 2, 2, L.Clock(25.0, "test"))
    a, b = fig.layers
    # a: 1000 MACs in 500 cycles on 4 PEs; 500 bytes; 25 MHz -> 20 us
    assert (a.name, a.M, a.K, a.N, a.macs, a.cycles) == ("a", 10, 10, 10, 1000, 500)
    assert a.utilisation == 0.5                  # 1000 / (4 * 500)
    assert a.gops == 0.1                         # 2 * 1000 * 25e6 / 500 / 1e9
    assert a.bandwidth_gbs == 0.025              # 500 * 25e6 / 500 / 1e9
    assert a.time_ms == 0.02 and a.dram_bytes == 500 and a.ok
    # b: 400 MACs in 125 cycles; 250 bytes
    assert (b.utilisation, b.gops, b.bandwidth_gbs, b.time_ms) == (0.8, 0.16, 0.05, 0.005)
    t = fig.total
    assert (t.layers, t.macs, t.cycles, t.read_bytes, t.write_bytes) == (2, 1400, 625, 400, 350)
    assert t.utilisation == 0.56                 # 1400 / (4 * 625)
    assert t.gops == 0.112                       # 2 * 1400 * 25e6 / 625 / 1e9
    assert t.bandwidth_gbs == 0.03               # 750 * 25e6 / 625 / 1e9 (average)
    assert (t.peak_bandwidth_gbs, t.peak_layer) == (0.05, "b")
    assert t.time_ms == 0.025 and t.ok
    assert fig.peak_gops == 0.2                  # 2 * 4 * 25e6 / 1e9
    assert fig.port_gbs == 0.2                   # 8 B * 25e6 / 1e9
    assert fig.clock == L.Clock(25.0, "test")


def test_figures_match_the_definitions_at_an_odd_clock():
    rows = [_row("x", 196, 384, 64, cycles=81_234, read=116_224, write=12_544)]
    fig = L.figures_from_regression(rows, 8, 8, 28.94)
    x, f = fig.layers[0], 28.94e6
    assert x.gops == pytest.approx(2 * x.macs * f / x.cycles / 1e9, rel=1e-12)
    assert x.bandwidth_gbs == pytest.approx(128_768 * f / x.cycles / 1e9, rel=1e-12)
    assert x.utilisation == pytest.approx(x.macs / 64 / x.cycles, rel=1e-12)
    assert fig.clock.source == "given"
    assert fig.total.gops == x.gops and fig.total.peak_bandwidth_gbs == x.bandwidth_gbs


def test_a_failed_layer_marks_the_total():
    fig = L.figures_from_regression([ROWS[0], {**ROWS[1], "counters_match": False}], 2, 2, 25)
    assert [x.ok for x in fig.layers] == [True, False] and not fig.total.ok


@pytest.mark.parametrize("rows, clock, message", [
    ([], 25.0, "no regression rows"),
    ([{**ROWS[0], "cycles": 0}], 25.0, "cycles must be positive"),
    (ROWS, 0.0, "positive clock"),
    (ROWS, -5.0, "positive clock"),
    (ROWS, L.Clock(float("nan"), "x"), "positive MHz"),
])
def test_figures_reject_bad_input(rows, clock, message):
    with pytest.raises(InvalidOptionError, match=message):
        L.figures_from_regression(rows, 2, 2, clock)


def test_renderings_carry_the_clock_source_and_totals():
    fig = L.figures_from_regression(ROWS, 2, 2, L.Clock(25.0, "build/x/report.json", "n"))
    doc = L.figures_json(fig)
    assert doc["clock_mhz"] == 25.0 and doc["clock_source"] == "build/x/report.json"
    assert doc["clock_note"] == "n" and doc["array"] == [2, 2]
    assert doc["total"]["gops"] == 0.112 and doc["total"]["peak_layer"] == "b"
    assert [r["name"] for r in doc["layers"]] == ["a", "b"]
    json.dumps(doc)
    md = L.figures_markdown(fig)
    assert "25 MHz (build/x/report.json)" in md and "| **total** (2 layers) |" in md
    assert "0.0300 avg, 0.0500 peak (b)" in md and "Note: n." in md


# ------------------------------------------------------------------------------------ clock
def _report(path, **fields):
    path.mkdir(parents=True, exist_ok=True)
    doc = {"board": "ulx3s-85f", "array": [2, 2], "config": {"rows": 2, "cols": 2,
                                                             "double_buffer": True}}
    doc.update(fields)
    (path / "report.json").write_text(json.dumps(doc))
    return path / "report.json"


def test_clock_from_report(tmp_path):
    path = _report(tmp_path, fmax_mhz=28.94, engine_sources=source_hash())
    assert L.clock_from_report(path, AccelConfig(rows=2, cols=2)) == L.Clock(28.94, str(path))
    clock = L.clock_from_report(path, AccelConfig(rows=2, cols=2, double_buffer=False))
    assert clock.mhz == 28.94 and "double_buffer True there, False here" in clock.note


def test_clock_from_a_stale_or_untracked_report(tmp_path):
    """The report names the engine sources it was built from; other sources get a note."""
    cfg = AccelConfig(rows=2, cols=2)
    clock = L.clock_from_report(_report(tmp_path / "a", fmax_mhz=30.0, engine_sources="0" * 12),
                                cfg)
    assert clock.mhz == 30.0 and "older engine build (sources 000000000000" in clock.note
    clock = L.clock_from_report(_report(tmp_path / "b", fmax_mhz=30.0), cfg)
    assert "does not record which engine sources" in clock.note


@pytest.mark.parametrize("fields, message", [
    ({}, "has no fmax_mhz"),
    ({"fmax_mhz": None}, "has no fmax_mhz"),
    ({"fmax_mhz": 0}, "has no fmax_mhz"),
    ({"fmax_mhz": 30.0, "array": [4, 4]}, "is for a 4x4 array"),
])
def test_clock_from_a_bad_report(tmp_path, fields, message):
    path = _report(tmp_path, **fields)
    with pytest.raises(InvalidOptionError, match=message):
        L.clock_from_report(path, AccelConfig(rows=2, cols=2))
    with pytest.raises(InvalidOptionError, match="no FPGA report"):
        L.clock_from_report(tmp_path / "none.json", AccelConfig(rows=2, cols=2))


# -------------------------------------------------------------------------------------- CLI
LAYERS = ["fpga", "--board", "ulx3s-85f", "--array", "2,2", "--layers"]


@pytest.mark.parametrize("extra, message", [
    (["--fmax", "0"], "--fmax must be a positive clock in MHz"),
    (["--fmax", "-28.9"], "--fmax must be a positive clock in MHz"),
    (["--fmax", "inf"], "--fmax must be a positive clock in MHz"),
    (["--fmax", "fast"], "invalid float value"),
    ([], "no FPGA report"),                                   # --out is an empty directory
])
def test_cli_bad_input_is_one_line_exit_2(tmp_path, capsys, extra, message):
    assert main(LAYERS + ["--out", str(tmp_path)] + extra) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("scanfuse: error:") and message in err
    assert not (tmp_path / "layers.json").exists()


def test_cli_report_without_fmax_is_exit_2(tmp_path, capsys):
    _report(tmp_path, fmax_mhz=None)
    assert main(LAYERS + ["--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "has no fmax_mhz" in err


def test_cli_fmax_needs_layers(capsys):
    assert main(["fpga", "--board", "ulx3s-85f", "--fmax", "30"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "apply to --layers only" in err


@pytest.fixture
def fake_regression(monkeypatch):
    """The regression replaced by :data:`ROWS`; records the engine it was asked for."""
    calls = []

    def regress(cfg, *, layers=None, seed=0, out=None, **_):
        calls.append(cfg)
        return [dict(r) for r in ROWS]

    monkeypatch.setattr(verilator_run, "verilator_available", lambda: True)
    monkeypatch.setattr(verilator_run, "regress_mobilenetv2", regress)
    return calls


def test_cli_reads_the_report_and_writes_files(tmp_path, capsys, fake_regression):
    path = _report(tmp_path, fmax_mhz=25.0)
    assert main(LAYERS + ["--out", str(tmp_path), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc == json.loads((tmp_path / "layers.json").read_text())
    assert doc["clock_mhz"] == 25.0 and doc["clock_source"] == str(path)
    assert doc["total"]["gops"] == 0.112 and doc["board"] == "ulx3s-85f"
    assert doc["command"] == ("scanfuse fpga --board ulx3s-85f --array 2,2 --layers "
                              f"--out {tmp_path}")
    assert "| **total** (2 layers) |" in (tmp_path / "layers.md").read_text()
    assert fake_regression == [AccelConfig(rows=2, cols=2)]


def test_cli_fmax_and_double_buffer(tmp_path, capsys, fake_regression):
    assert main(LAYERS + ["--out", str(tmp_path), "--fmax", "50", "--double-buffer"]) == 0
    out = capsys.readouterr().out
    assert "total" in out and "0.224" in out                 # GOPS doubled at twice the clock
    doc = json.loads((tmp_path / "layers.json").read_text())
    assert doc["clock_source"] == "--fmax" and doc["double_buffer"] is True
    assert fake_regression == [AccelConfig(rows=2, cols=2, double_buffer=True)]


def test_cli_failed_check_is_exit_1(tmp_path, capsys, monkeypatch, fake_regression):
    bad = [ROWS[0], {**ROWS[1], "bit_exact": False, "problems": ["C differs at (0, 0)"]}]
    monkeypatch.setattr(verilator_run, "regress_mobilenetv2", lambda cfg, **_: bad)
    assert main(LAYERS + ["--out", str(tmp_path), "--fmax", "25"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[-1] == ("scanfuse: error: 1 layer(s) failed the check on the 2x2 engine: b "
                       "(b: C differs at (0, 0))")
    assert not (tmp_path / "layers.json").exists()


def test_cli_without_verilator_is_exit_2(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(verilator_run, "verilator_available", lambda: False)
    assert main(LAYERS + ["--out", str(tmp_path), "--fmax", "25"]) == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "scanfuse: error: --layers runs the regression on Verilator, which is not installed")


# ------------------------------------------------------------------------------ a real layer
@pytest.mark.regress
@pytest.mark.skipif(shutil.which("verilator") is None, reason="Verilator missing")
def test_one_real_layer_on_the_8x8_engine():
    """b6.project (196x192x64, the smallest pointwise layer) on the default engine, which the
    Verilator tests build anyway: bit-exact, and figures consistent with its counters."""
    cfg = AccelConfig()
    with pytest.raises(InvalidOptionError, match="not a pointwise layer"):
        L.run_layers(cfg, L.Clock(28.94, "test"), layers=["b6.depthwise"])
    fig = L.run_layers(cfg, L.Clock(28.94, "test"), layers=["b6.project"])
    (x,) = fig.layers
    assert (x.name, x.M, x.K, x.N, x.macs) == ("b6.project", 196, 192, 64, 196 * 192 * 64)
    assert x.ok and x.cycles >= x.macs / 64 and 0 < x.utilisation <= 1
    assert x.gops == pytest.approx(x.utilisation * fig.peak_gops, rel=1e-12)
    assert 0 < x.bandwidth_gbs <= fig.port_gbs
    assert fig.total.gops == x.gops
