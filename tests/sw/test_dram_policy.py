"""Controller policies of the DRAM model: exact bank/rank state counts.

The micro-trace figures below are DRAMSim2's own (umd-memsys/DRAMSim2 at 753819a, the
shipped ``system.ini.example`` and ``DDR3_micron_32M_8B_x8_sg15.ini``, run with ``-c R``),
counted by a copy of it that tallies activates, refreshes and the cycles it charges IDD3N,
IDD2N and IDD2P, and its power-down exits (docs/dram.md). The model must equal them exactly.
"""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from scanfuse.dram.model import energy_of_counts, simulate
from scanfuse.dram.policy import DEFAULT_POLICY, POLICY_NAMES, DramPolicy, parse_policy
from scanfuse.dram.presets import get_preset
from scanfuse.errors import InvalidOptionError

# name: (byte addresses, writes, arrival cycles, run length)
#   -> dramsim2 (acts, refreshes, open, closed, powered down, exits), close-on-idle (open, closed)
MICRO = {
    "one read": (([0x0], [False], [1000], 2000), (1, 0, 24, 14, 1962, 1), (24, 1976)),
    "one write": (([0x0], [True], [1000], 2000), (1, 0, 33, 14, 1953, 1), (33, 1967)),
    "two banks 53 apart": (([0x0, 0x40], [False, False], [1000, 1053], 2000),
                           (2, 0, 48, 28, 1924, 2), (48, 1952)),
    "row hit 10 apart": (([0x0, 0x200], [False, False], [1000, 1010], 2000),
                         (1, 0, 24, 14, 1962, 1), (24, 1976)),
    "row closed 30 apart": (([0x0, 0x200], [False, False], [1000, 1030], 2000),
                            (2, 0, 48, 24, 1928, 1), (48, 1952)),
    "one read, a refresh": (([0x0], [False], [1000], 6000), (1, 1, 131, 18, 5851, 2), (131, 5869)),
    "one read, two refreshes": (([0x0], [False], [1000], 11000), (1, 2, 238, 22, 10740, 3),
                                (238, 10762)),
    "idle, two refreshes": (([], [], [], 11000), (0, 2, 214, 8, 10778, 2), (214, 10786)),
}


def _run(case, policy):
    (addr, writes, arrive, length) = case
    return simulate(np.array(addr, np.uint64), np.array(writes, bool), np.array(arrive, np.int64),
                    "ddr3", "scheme2", policy, length)


@pytest.mark.parametrize("name", sorted(MICRO))
def test_micro_traces_equal_dramsim2_counts(name):
    case, pd, no_pd = MICRO[name]
    r = _run(case, "dramsim2")
    assert (r.activates, r.refreshes, r.open_cycles, r.closed_cycles, r.powerdown_cycles,
            r.powerdown_exits) == pd
    q = _run(case, "close-on-idle")
    assert (q.activates, q.open_cycles, q.closed_cycles, q.powerdown_cycles) == \
        (pd[0], *no_pd, 0)
    for res in (r, q):
        assert res.open_cycles + res.closed_cycles + res.powerdown_cycles == res.runtime_cycles
        p = get_preset("ddr3")
        e = energy_of_counts(p, res.reads, res.writes, res.activates, res.refreshes,
                             res.open_cycles, res.closed_cycles, res.powerdown_cycles)
        assert res.energy == e


def test_policy_names_round_trip_and_errors():
    for name in POLICY_NAMES[:-1]:
        assert parse_policy(name).name == name
    assert parse_policy("dramsim2") == DEFAULT_POLICY == DramPolicy("close-on-idle", 0)
    assert parse_policy(" PowerDown-After  64 ") == DramPolicy("close-on-idle", 64)
    assert parse_policy("powerdown-after 64").name == "powerdown-after 64"
    assert parse_policy("powerdown-after=0") == DEFAULT_POLICY
    for bad in ("lazy", "", "powerdown-after", "powerdown-after -3", "powerdown-after 1.5",
                "powerdown-after x", "powerdown-after \u00b2", "powerdown-after \u0663"):
        with pytest.raises(InvalidOptionError):
            parse_policy(bad)
    with pytest.raises(InvalidOptionError, match="non-negative"):
        DramPolicy("close-on-idle", -1)
    with pytest.raises(InvalidOptionError, match="close-on-idle"):
        DramPolicy("open", 0)
    with pytest.raises(InvalidOptionError, match="row policy"):
        DramPolicy("sometimes")


def _paced(n=3000, gap=53, seed=5):
    """Sequential 64-B bursts at the 8x8 engine's pace (one per 53 DRAM cycles), a third
    writes, with an idle stretch in the middle."""
    rng = np.random.default_rng(seed)
    addr = np.arange(n, dtype=np.uint64) * np.uint64(64)
    t = np.arange(n, dtype=np.int64) * gap
    t[n // 2:] += 40_000
    return addr, rng.random(n) < 1 / 3, t


def test_powerdown_timeout_sits_between_immediate_and_never():
    addr, w, t = _paced()
    runs = {n: simulate(addr, w, t, "ddr3", "scheme2", DramPolicy("close-on-idle", n))
            for n in (0, 10, 100, 1000)}
    never = simulate(addr, w, t, "ddr3", "scheme2", "close-on-idle")
    assert runs[0].energy == simulate(addr, w, t, "ddr3", "scheme2", "dramsim2").energy
    pd = [runs[n].powerdown_cycles for n in (0, 10, 100, 1000)]
    assert pd == sorted(pd, reverse=True) and pd[-1] > 0   # the idle stretch still sleeps
    assert runs[1000].powerdown_exits < runs[0].powerdown_exits
    assert never.powerdown_cycles == 0
    bg = [r.energy.background_j for r in (*runs.values(), never)]
    assert bg == sorted(bg)
    # the row policy is the same, so activates do not depend on the timeout; open cycles only
    # by the wake-up latency's shift of the episodes the run's end cuts
    assert {r.activates for r in runs.values()} == {never.activates}
    for r in runs.values():
        assert abs(r.open_cycles - never.open_cycles) <= get_preset("ddr3").tXP


def test_paced_stream_misses_every_row_but_open_page_keeps_them():
    addr, w, t = _paced()
    closing = simulate(addr, w, t, "ddr3", "scheme2", "dramsim2")
    assert closing.activates == addr.size          # every burst finds its row closed
    open_page = simulate(addr, w, t, "ddr3", "scheme2", "open-page")
    legacy = simulate(addr, w, t, "ddr3", "scheme2", "always-on")
    p = get_preset("ddr3")
    # scheme2: 8 banks x 128 bursts per row; a row opens once per 1024 bursts
    assert legacy.activates == -(-addr.size // (p.banks * p.bursts_per_row)) * p.banks
    # refreshes close open rows, which then reopen
    assert legacy.activates <= open_page.activates <= legacy.activates + p.banks * open_page.refreshes
    assert open_page.powerdown_cycles == 0 and legacy.powerdown_cycles == 0
    assert closing.energy.act_pre_j > open_page.energy.act_pre_j
    assert closing.energy.background_j < open_page.energy.background_j < legacy.energy.background_j


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2**20), st.booleans(), st.integers(0, 200)),
                min_size=1, max_size=60),
       st.sampled_from(["dramsim2", "close-on-idle", "open-page", "powerdown-after 25"]))
def test_state_cycles_partition_the_run(bursts, policy):
    addr = np.array([b[0] * 64 for b in bursts], np.uint64)
    w = np.array([b[1] for b in bursts], bool)
    t = np.cumsum([b[2] for b in bursts]).astype(np.int64)
    r = simulate(addr, w, t, "ddr3", "scheme2", policy, int(t[-1]) + 20_000)
    assert r.open_cycles + r.closed_cycles + r.powerdown_cycles == r.runtime_cycles
    assert 1 <= r.activates <= r.accesses
    assert r.refreshes == r.runtime_cycles // 5200
    # every activate keeps its bank open at least tRAS, refreshes tRFC each, never overlapping
    # past the run (union, so concurrent banks count once)
    assert r.open_cycles >= min(get_preset("ddr3").tRAS, r.runtime_cycles)
