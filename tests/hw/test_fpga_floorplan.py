"""The DSP floorplan (hw/fpga/floorplan.py): where each PE multiplier and requantiser partial
product goes, exactly, and when no plan is made."""

import re

import pytest

from scanfuse.hw.fpga.floorplan import (LFE5U_85F_DSP_SITES, DspSites, apply_floorplan,
                                        plan_dsp_floorplan)

SITES = LFE5U_85F_DSP_SITES
PARTS = ("ll", "lh", "hl", "hh")


def names(rows, cols, *, drop=0, others=("engine.seq.store.prod_MULT18X18D_P0",)):
    pe = [f"engine.seq.pe.mul_{r}_{c}.dsp" for r in range(rows) for c in range(cols)]
    rq = [f"engine.seq.store.requant.pp_{p}{lane}.dsp" for lane in range(cols) for p in PARTS]
    return (pe + rq)[drop:] + list(others)


def position(bel):
    """(Y, position along the DSP row) of a bel name."""
    m = re.fullmatch(r"X(\d+)/Y(\d+)/(MULT18_[0145])", bel)
    assert m, bel
    x, y = int(m[1]), int(m[2])
    pos = SITES.columns.index(x)
    assert m[3] == SITES.slots[pos % 4]
    return y, pos


def test_lfe5u_85f_sites():
    assert len(SITES.rows) * SITES.per_row == 156          # the device's MULT18X18D count
    assert len(set(SITES.columns)) == SITES.per_row == 52
    assert SITES.bel(34, 0) == "X4/Y34/MULT18_0" and SITES.bel(10, 51) == "X119/Y10/MULT18_5"


def test_8x8_plan():
    plan, reason = plan_dsp_floorplan(names(8, 8), 8, 8, SITES)
    assert reason is None and plan.pe_rows == (34, 58) and plan.requant_row == 10
    assert len(plan.bels) == 64 + 32 and len(set(plan.bels.values())) == 96
    assert "engine.seq.store.prod_MULT18X18D_P0" not in plan.bels    # left to the placer
    at = {n: position(b) for n, b in plan.bels.items()}
    for c in range(8):
        for r in range(8):
            y, pos = at[f"engine.seq.pe.mul_{r}_{c}.dsp"]
            # Columns 0-3 in the row at Y 34, 4-7 at Y 58, each group of 32 sites centred
            # (10 .. 41 of 52); a column's rows on consecutive sites.
            assert (y, pos) == (34 if c < 4 else 58, 10 + 8 * (c % 4) + r)
    for lane in range(8):
        for p, part in enumerate(PARTS):
            assert at[f"engine.seq.store.requant.pp_{part}{lane}.dsp"] == (10, 10 + 4 * lane + p)


def test_4x4_plan_one_pe_row():
    plan, reason = plan_dsp_floorplan(names(4, 4), 4, 4, SITES)
    assert reason is None and plan.pe_rows == (34,) and plan.requant_row == 10
    at = {n: position(b) for n, b in plan.bels.items()}
    assert at["engine.seq.pe.mul_0_0.dsp"] == (34, 18)
    assert at["engine.seq.pe.mul_3_3.dsp"] == (34, 33)
    assert at["engine.seq.store.requant.pp_hh3.dsp"] == (10, 33)


def test_odd_columns_split_unevenly():
    """7 columns of 8 rows: 4 in the first PE row, 3 in the second, each run centred."""
    plan, _ = plan_dsp_floorplan(names(8, 7), 8, 7, SITES)
    at = {n: position(b) for n, b in plan.bels.items()}
    assert at["engine.seq.pe.mul_0_3.dsp"] == (34, 10 + 24)
    assert at["engine.seq.pe.mul_0_4.dsp"] == (58, 14)


@pytest.mark.parametrize("rows, cols, drop, reason", [
    (8, 8, 1, "63 PE multipliers"),                       # a netlist without one of them
    (16, 16, 0, "does not fit"),                           # 256 PE: more than two DSP rows
    (2, 14, 0, "does not fit"),                            # 56 partial products > 52 sites
])
def test_no_plan(rows, cols, drop, reason):
    plan, why = plan_dsp_floorplan(names(rows, cols, drop=drop), rows, cols, SITES)
    assert plan is None and reason in why


def test_two_dsp_rows_are_not_enough():
    sites = DspSites(rows=(10, 34), columns=SITES.columns, slots=SITES.slots, height=95)
    plan, why = plan_dsp_floorplan(names(2, 2), 2, 2, sites)
    assert plan is None and "three DSP rows" in why


def test_apply_sets_bel_attributes():
    cell_names = names(2, 2)
    netlist = {"modules": {"top": {"cells": {
        n: {"type": "MULT18X18D", "attributes": {"src": "x"}} for n in cell_names}}}}
    plan, _ = plan_dsp_floorplan(cell_names, 2, 2, SITES)
    apply_floorplan(netlist, "top", plan)
    cells = netlist["modules"]["top"]["cells"]
    assert {n: c["attributes"].get("BEL") for n, c in cells.items() if n in plan.bels} \
        == plan.bels
    assert "BEL" not in cells["engine.seq.store.prod_MULT18X18D_P0"]["attributes"]


def test_flow_applies_the_plan_to_the_selftest_netlist_only(tmp_path):
    """The flow's step: the self-test netlist on disk gets its BELs; other tops, a board
    without DSP sites and --no-floorplan leave it alone, each with its reason."""
    import json
    from dataclasses import replace

    from scanfuse.hw.fpga.boards import get_board
    from scanfuse.hw.fpga.flow import _floorplan

    board = get_board("ulx3s-85f")
    cells = {n: {"type": "MULT18X18D", "attributes": {}} for n in names(2, 2)}
    netlist = {"modules": {"top": {"cells": cells}}}
    text = json.dumps(netlist)
    (tmp_path / "top.json").write_text(text)
    for top, b, wanted, reason in [
            ("selftest", board, False, "--no-floorplan"),
            ("pe", board, True, "not pe's"),
            ("selftest", replace(board, dsp_sites=None), True, "no DSP sites known")]:
        entry = _floorplan(json.loads(text), "top", tmp_path, b, top, 2, 2, wanted)
        assert not entry["applied"] and reason in entry["reason"]
        assert (tmp_path / "top.json").read_text() == text
    entry = _floorplan(json.loads(text), "top", tmp_path, board, "selftest", 2, 2, True)
    assert entry == {"applied": True, "cells": 12, "pe_dsp_rows": [34], "requant_dsp_row": 10}
    on_disk = json.loads((tmp_path / "top.json").read_text())["modules"]["top"]["cells"]
    plan, _ = plan_dsp_floorplan(list(cells), 2, 2, SITES)
    assert {n: c["attributes"]["BEL"] for n, c in on_disk.items() if c["attributes"]} == plan.bels
    assert list(tmp_path.iterdir()) == [tmp_path / "top.json"]      # no temporary left behind
