"""``scanfuse bench``'s network table: per-layer and total cycles against the roofline and
utilisation, rendered from the figures (the Verilator run itself is ``make regress``'s)."""

import io

from rich.console import Console

from scanfuse.cli.bench import print_report

EMPTY = {"planner_seconds": {}, "ratios": [], "fused_planner_seconds": {}, "fusion": [],
         "bursts": [], "evaluate_seconds": {}, "engine_tiles": []}


def _render(net) -> str:
    out = io.StringIO()
    print_report({**EMPTY, "engine_network": net}, Console(file=out, width=200))
    return out.getvalue()


def test_network_table_rows_and_total():
    layer = {"name": "b0.project", "M": 12544, "K": 32, "N": 16, "macs": 6422528,
             "cycles": 102612, "roofline_cycles": 100352, "utilization": 0.978,
             "padding_ceiling": 1.0, "bit_exact": True, "counters_match": True}
    bad = {**layer, "name": "b1.expand", "bit_exact": False}
    total = {"macs": 2 * 6422528, "cycles": 2 * 102612, "roofline_cycles": 2 * 100352,
             "utilization": 0.978, "padding_ceiling": 1.0, "bit_exact": False,
             "counters_match": True}
    text = _render({"network": "mobilenetv2", "engine": "r8c8", "double_buffer": True,
                    "layers": [layer, bad], "total": total})
    lines = [line for line in text.splitlines() if "b0.project" in line or "total" in line
             or "b1.expand" in line]
    assert "12544,32,16" in lines[0] and "102,612" in lines[0] and "1.023" in lines[0]
    assert "✓" in lines[0] and "✗" in lines[1]
    assert "205,224" in lines[2] and "200,704" in lines[2] and "0.978" in lines[2]
    assert "double-buffered" in text


def test_network_table_skipped_without_verilator():
    assert "skipped (Verilator is not installed" in _render(None)
