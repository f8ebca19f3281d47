"""Functional-coverage records and summary (scanfuse.sim.coverage)."""

from types import SimpleNamespace

from scanfuse.hw.addrgen import LoopOrder, Visit
from scanfuse.hw.params import AccelConfig
from scanfuse.hw.program import OutMode
from scanfuse.sim.coverage import descriptor_record, summarize


def _desc(**kw):
    base = dict(M=37, N=53, K=29, tm=13, tn=27, tk=29, loop_order=LoopOrder.NMK,
                visit=Visit.SCAN, out_mode=OutMode.INT8, a_base=0x1003, c_base=0x2000)
    return SimpleNamespace(**{**base, **kw})


def test_descriptor_bins():
    rec = descriptor_record(_desc(), AccelConfig(), 0, "uniform")
    assert rec == {
        "loop_order": "NMK", "visit": "SCAN", "out_mode": "INT8",
        "edge_m": True, "edge_n": True, "edge_k": False, "split_k": False,
        "single_tile": False, "dim_below_array": False, "a_skewed": True, "c_skewed": False,
        "double_buffer": True, "array": "8x8/64b", "error": "NONE", "stalls": "uniform",
    }
    # a reserved loop-order code and an error code are named, not dropped
    rec = descriptor_record(_desc(loop_order=7, tk=10), AccelConfig(), 7, "none")
    assert (rec["loop_order"], rec["error"], rec["split_k"], rec["edge_k"]) == \
        ("reserved 7", "BAD_LOOP_ORDER", True, True)


def test_summary_counts_and_lists_missing_bins():
    cfg = AccelConfig()
    records = [descriptor_record(_desc(), cfg, 0, "none"),
               descriptor_record(_desc(loop_order=LoopOrder.MNK, visit=Visit.RASTER), cfg, 0,
                                 "none")]
    text = summarize(records).splitlines()
    assert text[0] == "functional coverage: 2 descriptors"
    assert "  loop_order       MNK 1, MKN 0, NMK 1, NKM 0, KMN 0, KNM 0" in text
    assert "  visit            RASTER 1, SCAN 1" in text
    never = text[-1]
    assert never.startswith("  never hit: loop_order=MKN, loop_order=NKM, loop_order=KMN, "
                            "loop_order=KNM, out_mode=RAW_INT32, edge_m=False,")
    assert "error=ZERO_DIM" in never and "visit=" not in never
