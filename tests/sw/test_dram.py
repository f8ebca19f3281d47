"""DRAM presets, address mapping, row-hit/timing/energy model and trace files."""

import numpy as np
import pytest

from scanfuse.dram.mapping import SCHEMES, decode, encode, field_layout
from scanfuse.dram.model import energy_of_counts, simulate
from scanfuse.dram.presets import PRESETS, DramPreset, get_preset
from scanfuse.dram.trace_io import read_trace, write_dramsim2_trace, write_dramsim3_trace
from scanfuse.errors import InvalidOptionError, InvalidShapeError

REL = 1e-12
LEGACY = "always-on"   # rows open until a conflict: the row-buffer tests below count that


def _joules(p: DramPreset, ma_cycles: float) -> float:
    return ma_cycles * 1e-3 * p.Vdd * p.tCK_ns * 1e-9


# -- presets -------------------------------------------------------------------------------

def test_ddr3_per_event_energies_match_method_notes():
    p = get_preset("ddr3")
    assert p.bytes_per_burst == 64 and p.devices_per_rank == 8
    assert p.read_burst_energy_j == pytest.approx(11.88e-9, rel=REL)
    assert p.write_burst_energy_j == pytest.approx(15.12e-9, rel=REL)
    assert p.act_pre_energy_j == pytest.approx(28.08e-9, rel=REL)
    # (305 - 90) * 107 * 8 mA*cycles = 414.09 nJ
    assert p.refresh_energy_j == pytest.approx(414.09e-9, rel=REL)
    assert p.refresh_period_cycles == 5200
    assert p.background_power_open_w == pytest.approx(1.08, rel=REL)
    assert p.background_power_closed_w == pytest.approx(0.84, rel=REL)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_per_event_energies_equal_closed_forms(name):
    p = PRESETS[name]
    nd, half_bl = p.devices_per_rank, p.burst_length // 2
    assert p.bytes_per_burst == p.bus_bits // 8 * p.burst_length == 64
    assert p.read_burst_energy_j == pytest.approx(
        _joules(p, (p.IDD4R - p.IDD3N) * half_bl * nd), rel=REL)
    assert p.write_burst_energy_j == pytest.approx(
        _joules(p, (p.IDD4W - p.IDD3N) * half_bl * nd), rel=REL)
    assert p.act_pre_energy_j == pytest.approx(
        _joules(p, (p.IDD0 * p.tRC - (p.IDD3N * p.tRAS + p.IDD2N * (p.tRC - p.tRAS))) * nd),
        rel=REL)
    assert p.refresh_energy_j == pytest.approx(_joules(p, (p.IDD5 - p.IDD3N) * p.tRFC * nd),
                                               rel=REL)
    assert p.background_power_open_w == pytest.approx(p.IDD3N * nd * 1e-3 * p.Vdd, rel=REL)
    assert p.background_power_closed_w == pytest.approx(p.IDD2N * nd * 1e-3 * p.Vdd, rel=REL)
    # an activate costs more than a read burst on both parts
    assert p.act_pre_energy_j > p.read_burst_energy_j


def test_ddr4_preset_values_from_dramsim3_ini():
    p = get_preset("DDR4")
    assert (p.banks, p.rows, p.columns, p.device_width) == (16, 65536, 1024, 8)
    assert (p.CL, p.tRCD, p.tRP, p.tRAS, p.tRC, p.tRFC, p.tWR) == (17, 17, 17, 39, 56, 420, 18)
    assert (p.tCK_ns, p.tXP, p.tCKE) == (0.83, 8, 6)
    assert p.refresh_period_cycles == 9360  # the ini's tREFI
    assert p.capacity_bytes == 8 * 2**30


def test_bad_preset_name_raises():
    with pytest.raises(InvalidOptionError, match="ddr3, ddr4"):
        get_preset("lpddr5")
    with pytest.raises(InvalidOptionError):
        simulate(np.zeros(4, np.uint64), False, None, "hbm")


def test_inconsistent_preset_raises():
    base = PRESETS["ddr3"]
    fields = {f: getattr(base, f) for f in base.__dataclass_fields__}
    with pytest.raises(InvalidOptionError, match="power of two"):
        DramPreset(**{**fields, "banks": 6})
    with pytest.raises(InvalidOptionError, match="devices_per_rank"):
        DramPreset(**{**fields, "devices_per_rank": 4})


# -- mapping ---------------------------------------------------------------------------------

def test_scheme2_bit_positions_ddr3():
    # one channel, one rank: scheme2 is row:col:bank above the 6 burst-offset bits
    layout = field_layout("ddr3", "scheme2")
    assert layout["offset"] == (0, 6)
    assert layout["bank"] == (6, 3)
    assert layout["col"] == (9, 7)
    assert layout["row"] == (16, 15)
    bank, row, col = decode(np.array([0x40, 0x200, 0x10000, (5 << 16) | (3 << 9) | (2 << 6)],
                                     dtype=np.uint64), "ddr3")
    assert bank.tolist() == [1, 0, 0, 2]
    assert col.tolist() == [0, 1, 0, 3]
    assert row.tolist() == [0, 0, 1, 5]


def test_column_lowest_schemes():
    for scheme in ("scheme4", "scheme6"):
        layout = field_layout("ddr3", scheme)
        assert layout["col"] == (6, 7)
    assert field_layout("ddr3", "scheme4")["bank"][0] > field_layout("ddr3", "scheme4")["row"][0]
    assert field_layout("ddr3", "scheme6")["row"][0] > field_layout("ddr3", "scheme6")["bank"][0]


@pytest.mark.parametrize("preset", sorted(PRESETS))
@pytest.mark.parametrize("scheme", sorted(SCHEMES))
def test_decode_encode_round_trip(preset, scheme):
    p = PRESETS[preset]
    rng = np.random.default_rng(1)
    addr = rng.integers(0, p.capacity_bytes // 64, 5000, dtype=np.uint64) * np.uint64(64)
    bank, row, col = decode(addr, p, scheme)
    assert bank.max() < p.banks and row.max() < p.rows and col.max() < p.bursts_per_row
    assert np.array_equal(encode(bank, row, col, p, scheme), addr)
    # the fields tile the address: distinct bursts decode to distinct (bank, row, col)
    assert sum(w for _, w in field_layout(p, scheme).values()) == \
        (p.capacity_bytes - 1).bit_length()


def test_bad_scheme_raises():
    with pytest.raises(InvalidOptionError, match="scheme1, scheme2"):
        decode(np.zeros(1, np.uint64), "ddr3", "scheme9")


# -- model -----------------------------------------------------------------------------------

def _streams(p: DramPreset, n: int, seed: int = 0):
    seq = np.arange(n, dtype=np.uint64) * np.uint64(p.bytes_per_burst)
    rnd = np.random.default_rng(seed).integers(0, p.capacity_bytes // p.bytes_per_burst, n,
                                               dtype=np.uint64) * np.uint64(p.bytes_per_burst)
    return seq, rnd


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_sequential_hits_random_misses(name):
    p = PRESETS[name]
    seq, rnd = _streams(p, 200_000)
    for scheme in ("scheme2", "scheme4", "scheme6"):
        r = simulate(seq, False, None, p, scheme, LEGACY)
        assert r.row_hit_rate == pytest.approx(1 - 1 / p.bursts_per_row, abs=1e-3)
        assert r.runtime_cycles >= 200_000 * p.burst_cycles
        # scheme2 spreads consecutive bursts over the banks and scheme6 moves to the next
        # bank after each row, so activates hide behind the bus; scheme4 (bank:row:col) keeps
        # one bank for many rows, which pays tRCD + tRP per row alone
        assert r.limit == ("bank" if scheme == "scheme4" else "bus")
    s = simulate(seq, False, None, p, policy=LEGACY)
    r = simulate(rnd, False, None, p, policy=LEGACY)
    assert r.row_hit_rate < 0.01
    assert r.activates > 0.99 * r.accesses
    assert r.energy_per_access_j > 1.5 * s.energy_per_access_j
    assert r.runtime_cycles > s.runtime_cycles


def test_energy_matches_closed_form_and_components():
    p = PRESETS["ddr3"]
    seq, _ = _streams(p, 10_000)
    w = np.arange(10_000) % 3 == 0
    r = simulate(seq, w, None, p, policy=LEGACY)
    assert (r.reads, r.writes) == (10_000 - int(w.sum()), int(w.sum()))
    e = energy_of_counts(p, r.reads, r.writes, r.activates, r.refreshes, r.open_cycles,
                         r.closed_cycles, r.powerdown_cycles)
    assert r.energy.total_j == pytest.approx(e.total_j, rel=REL)
    assert r.energy.burst_j == pytest.approx(r.reads * 11.88e-9 + r.writes * 15.12e-9, rel=REL)
    assert r.energy.act_pre_j == pytest.approx(r.activates * 28.08e-9, rel=REL)
    assert r.energy.refresh_j == pytest.approx(r.runtime_cycles / 5200 * 414.09e-9, rel=REL)
    assert r.open_fraction == 1.0  # issued at cycle 0, a bank is open all run
    assert r.energy.background_j == pytest.approx(r.runtime_cycles * 1.5e-9 * 1.08, rel=REL)
    # closed-form background: open, precharged and powered-down cycles at their powers
    mix = energy_of_counts(p, 0, 0, 0, 0, 500, 300, 200)
    assert mix.background_j == pytest.approx(1.5e-9 * (500 * 1.08 + 300 * 0.84 + 200 * 0.12),
                                             rel=REL)
    with pytest.raises(InvalidOptionError):
        energy_of_counts(p, 0, 0, 0, 0, -1)


def test_timing_bounds():
    p = PRESETS["ddr3"]
    # one bank, every access a new row: bank-bound at tRC per activate
    addr = np.arange(1000, dtype=np.uint64) * np.uint64(1 << 16)
    r = simulate(addr, False, None, p, policy=LEGACY)
    assert r.activates == 1000 and r.limit in ("bank", "activate")
    assert r.runtime_cycles >= 1000 * p.tRC
    # slow issue: runtime follows the issue cycles
    seq = np.arange(1000, dtype=np.uint64) * np.uint64(64)
    slow = simulate(seq, False, np.arange(1000) * 100, p, policy=LEGACY)
    assert slow.limit == "issue"
    assert slow.runtime_cycles == 999 * 100 + p.burst_cycles + p.CL
    assert slow.open_fraction == 1.0
    # late start: background before the first access is charged closed
    late = simulate(seq, False, 10_000, p, policy=LEGACY)
    assert 0 < late.open_fraction < 1
    # read-after-write turns cost tWTR each
    alt = simulate(seq, np.arange(1000) % 2 == 0, None, p, policy=LEGACY)
    rd = simulate(seq, False, None, p, policy=LEGACY)
    assert alt.runtime_cycles - rd.runtime_cycles >= 499 * p.tWTR


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_energy_monotone_in_traffic(name):
    p = PRESETS[name]
    seq, rnd = _streams(p, 40_000, seed=3)
    for stream in (seq, rnd):
        totals = [simulate(stream[:k], False, None, p).energy.total_j
                  for k in (1_000, 5_000, 10_000, 20_000, 40_000)]
        assert all(a < b for a, b in zip(totals, totals[1:]))


def test_empty_and_bad_streams():
    r = simulate(np.zeros(0, np.uint64), np.zeros(0, bool), None, "ddr3")
    assert r.accesses == 0 and r.energy.total_j == 0 and r.row_hit_rate == 0
    with pytest.raises(InvalidShapeError):
        simulate(np.zeros(4, np.uint64), np.zeros(3, bool))
    with pytest.raises(InvalidOptionError):
        simulate(np.zeros(4, np.uint64), False, -1)
    with pytest.raises(InvalidOptionError, match="decrease"):
        simulate(np.zeros(4, np.uint64), False, np.array([0, 5, 3, 9]))
    with pytest.raises(InvalidOptionError, match="policy"):
        simulate(np.zeros(4, np.uint64), False, None, policy="lazy")
    with pytest.raises(InvalidOptionError, match="runtime_cycles"):
        simulate(np.zeros(4, np.uint64), False, None, runtime_cycles=-5)


def test_two_million_bursts_runs():
    """Performance sanity (no timed assertion): the vectorised path on 2e6 bursts."""
    p = PRESETS["ddr3"]
    rng = np.random.default_rng(7)
    base = np.arange(2_000_000, dtype=np.uint64) * np.uint64(64)
    addr = np.where(rng.random(base.size) < 0.1,
                    rng.integers(0, p.capacity_bytes // 64, base.size, dtype=np.uint64)
                    * np.uint64(64), base)
    r = simulate(addr, rng.random(base.size) < 0.3, np.arange(base.size) * 3, p, policy=LEGACY)
    assert r.accesses == 2_000_000
    # each random access misses and closes the row the sequential stream needs next in
    # that bank, so about 2 x 10 % of accesses miss
    assert 0.75 < r.row_hit_rate < 0.85
    assert r.energy.total_j > 0


# -- traces ----------------------------------------------------------------------------------

def test_trace_round_trip(tmp_path):
    rng = np.random.default_rng(5)
    n = 1000
    addr = rng.integers(0, 2**33, n, dtype=np.uint64) * np.uint64(64)
    w = rng.random(n) < 0.4
    t = np.cumsum(rng.integers(0, 5, n))
    f2 = tmp_path / "mase_layer.trc"
    f3 = tmp_path / "layer.trace"
    assert write_dramsim2_trace(f2, addr, w, t, chunk=97) == n
    assert write_dramsim3_trace(f3, addr, w, t, chunk=97) == n
    for f in (f2, f3):
        a, ww, tt = read_trace(f)
        assert np.array_equal(a, addr) and np.array_equal(ww, w) and np.array_equal(tt, t)
    text2, text3 = f2.read_text(), f3.read_text()
    assert text2.endswith("\n") and not text3.endswith("\n")
    assert text3.count("\n") == n - 1
    first = text3.split("\n", 1)[0]
    assert first == f"0x{int(addr[0]):x} {'WRITE' if w[0] else 'READ'} {t[0]}"


def test_trace_name_and_format_errors(tmp_path):
    with pytest.raises(InvalidOptionError, match="mase_"):
        write_dramsim2_trace(tmp_path / "layer.trc", np.zeros(2, np.uint64), False, 0)
    bad = tmp_path / "bad.trc"
    bad.write_text("0x40 READ 0\n0x80 FETCH 1\n")
    with pytest.raises(InvalidOptionError, match="bad.trc:2"):
        read_trace(bad)
