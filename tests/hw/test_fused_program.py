# amaranth: UnusedElaboratable=no
"""Fused-block descriptor: layout, every legality rule in Python, and the gate checker against
the Python check on the same descriptors (one simulation)."""

import random

import pytest
from amaranth.sim import Simulator

from scanfuse.hw.fused_program import (FUSED_RULE_INPUTS, FUSED_RULE_TEXT, BlockConfig,
                                       BlockOrder, FusedChecker, FusedDescriptor, FusedError,
                                       Kernel, check_fused, x_rows_bound)
from scanfuse.hw.params import AccelConfig, round_up
from scanfuse.hw.requant import Activation

E = FusedError
SMALL = BlockConfig(x_entries=4096, d_entries=2048, p_entries=1024, w1_entries=1024,
                    w2_entries=1024, max_chunk=32, max_cout=32, max_width=16)


def legal(**changes) -> dict:
    """8x8x16 -> 32 -> 16, stride 1, one strip of 8 rows, one chunk: legal in SMALL."""
    f = {"x_base": 0x1000, "y_base": 0x2000, "w1_base": 0x3000, "b1_base": 0x4000,
         "wd_base": 0x5000, "w2_base": 0x6000, "b2_base": 0x7000, "H": 8, "W": 8, "Ho": 8,
         "Wo": 8, "cin": 16, "hidden": 32, "cout": 16, "strip_rows": 8, "strips": 1,
         "chunk": 32, "chunks": 1, "kernel": Kernel.K3X3, "stride_h": 1, "stride_w": 1,
         "expand": 1, "residual": 0, "order": BlockOrder.STRIPS, "wd2_base": 0x8000,
         "dw2": 0}
    rq = {"multiplier": 1 << 20, "shift": 24, "zero_point": 0, "mode": Activation.RELU6,
          "relu6_max": 100}
    f |= {"rq_expand": rq, "rq_dw": rq, "rq_project": {**rq, "mode": Activation.NONE},
          "rq_dw2": {**rq, "mode": Activation.NONE}}
    f.update(changes)
    return f


def test_layout_fields_and_size():
    layout = FusedDescriptor(BlockConfig())
    names = [n for n, _ in layout]
    assert names == ["x_base", "y_base", "w1_base", "b1_base", "wd_base", "w2_base", "b2_base",
                     "H", "W", "Ho", "Wo", "cin", "hidden", "cout", "strip_rows", "strips",
                     "chunk", "chunks", "kernel", "stride_h", "stride_w", "expand", "residual",
                     "order", "rq_expand", "rq_dw", "rq_project", "wd2_base", "dw2", "rq_dw2",
                     "reserved"]
    # 8 addresses, 11 dimensions, 2+2+2+1+1+1+1 bits of codes, 4 requant records of 55 bits.
    assert layout.used_bits == 8 * 32 + 11 * 16 + 10 + 4 * 55 == 662
    assert (layout.size, layout.size_bytes) == (704, 88)
    assert FusedDescriptor(BlockConfig(accel=AccelConfig(rows=4, cols=4, axi_data_bits=32))
                           ).size % 32 == 0


def test_rule_inputs_are_what_the_rules_read():
    assert set(FUSED_RULE_INPUTS) == {"H", "W", "Ho", "Wo", "cin", "hidden", "cout",
                                      "strip_rows", "strips", "chunk", "chunks", "kernel",
                                      "stride_h", "stride_w", "expand", "residual", "order",
                                      "dw2"}
    assert set(FUSED_RULE_TEXT) == set(FusedError)


#: One descriptor breaking each rule (and only rules at or after it), from the legal one.
BROKEN = [
    (E.ZERO_DIM, {"W": 0}),
    (E.ZERO_SCHEDULE, {"chunks": 0}),
    (E.BAD_CHANNELS, {"cin": 12}),
    (E.BAD_STRIDE, {"stride_w": 3}),
    (E.BAD_KERNEL, {"kernel": 3}),
    (E.BAD_KERNEL, {"dw2": 1}),                                # a CP chain starts with 3x1
    (E.BAD_KERNEL, {"dw2": 1, "kernel": Kernel.K1X3}),
    (E.BAD_GEOMETRY, {"Ho": 4}),
    (E.BAD_GEOMETRY, {"stride_h": 2}),                         # Ho 8 for H 8 at stride 2
    (E.BAD_STRIPS, {"strip_rows": 3, "strips": 2}),
    (E.BAD_STRIPS, {"strip_rows": 4, "strips": 3}),
    (E.BAD_CHUNKS, {"chunk": 8, "chunks": 3}),
    (E.BAD_EXPAND, {"expand": 0}),
    (E.BAD_RESIDUAL, {"residual": 1, "cout": 24}),
    (E.BAD_RESIDUAL, {"residual": 1, "stride_h": 2, "Ho": 4, "strip_rows": 4}),
    (E.BAD_ORDER, {"order": 1}),
    (E.ROW_TOO_LONG, {"W": 4096, "Wo": 4096, "cin": 16}),
    (E.WIDTH_OVERFLOW, {"W": 24, "Wo": 24}),
    (E.X_OVERFLOW, {"cin": 64, "chunk": 8, "chunks": 4}),
    (E.D_OVERFLOW, {"H": 16, "Ho": 16, "strip_rows": 16, "chunk": 32}),
    (E.P_OVERFLOW, {"cout": 32, "chunk": 8, "chunks": 4, "strip_rows": 8}),
    (E.W1_OVERFLOW, {"cin": 40, "hidden": 40, "chunk": 40, "chunks": 1, "strip_rows": 2,
                     "strips": 4}),
    (E.W2_OVERFLOW, {"cout": 40, "strip_rows": 2, "strips": 4}),
    (E.CHUNK_OVERFLOW, {"hidden": 40, "chunk": 40, "strip_rows": 1, "strips": 8}),
    (E.COUT_OVERFLOW, {"cout": 40, "chunk": 8, "chunks": 4, "strip_rows": 1, "strips": 8}),
]


def test_legal_descriptor_is_legal():
    assert check_fused(SMALL, legal()) is E.NONE
    assert check_fused(SMALL, legal(strip_rows=3, strips=3, chunk=8, chunks=4)) is E.NONE


@pytest.mark.parametrize("error,changes", BROKEN, ids=[f"{e.name}-{i}" for i, (e, _) in
                                                        enumerate(BROKEN)])
def test_each_rule(error, changes):
    assert check_fused(SMALL, legal(**changes)) is error


def test_x_overflow_bound_is_exact():
    """X_OVERFLOW is exactly x_rows_bound(strip_rows, sh) * round_up(W, rows) * cin > x_entries."""
    for tr in range(1, 9):
        for cin in (8, 16, 24, 32, 48, 64):
            need = x_rows_bound(tr, 1) * round_up(8, 8) * cin
            f = legal(cin=cin, strip_rows=tr, strips=-(-8 // tr), chunk=8, chunks=4,
                      hidden=32)
            got = check_fused(SMALL, f)
            assert (got is E.X_OVERFLOW) == (need > SMALL.x_entries), (tr, cin, got)


def _random_fields(rng: random.Random) -> dict:
    f = legal()
    for name, hi in (("H", 20), ("W", 20), ("Ho", 20), ("Wo", 20), ("strip_rows", 9),
                     ("strips", 9), ("chunks", 5), ("stride_h", 3), ("stride_w", 3),
                     ("expand", 1), ("residual", 1), ("kernel", 3), ("order", 1), ("dw2", 1)):
        if rng.random() < 0.3:
            f[name] = rng.randint(0, hi)
    for name in ("cin", "hidden", "cout", "chunk"):
        if rng.random() < 0.3:
            f[name] = rng.choice([0, 4, 8, 16, 24, 32, 40, 64])
    return f


def test_cp_chain_needs_the_second_depthwise_unit():
    """dw2 with a 3x1 kernel is legal on an engine with ``cp``, refused without it."""
    from dataclasses import replace
    cp = legal(dw2=1, kernel=Kernel.K3X1)
    assert check_fused(SMALL, cp) is E.NONE
    assert check_fused(replace(SMALL, cp=False), cp) is E.BAD_KERNEL
    assert check_fused(replace(SMALL, cp=False), legal()) is E.NONE
    assert replace(SMALL, cp=False).on_chip_bytes == SMALL.on_chip_bytes - (13 + 2 * 16) * 32


def test_checker_gates_match_python():
    """The hardware checker gives the Python verdict on the crafted and 300 random descriptors."""
    rng = random.Random(15)
    cases = [legal()] + [legal(**c) for _, c in BROKEN] + [_random_fields(rng)
                                                           for _ in range(300)]
    expected = [check_fused(SMALL, f) for f in cases]
    assert len(set(expected)) >= 15     # the random mix reaches many rules
    dut = FusedChecker(SMALL)
    layout = FusedDescriptor(SMALL)
    got = []

    async def bench(ctx):
        for f in cases:
            ctx.set(dut.desc.as_value(), layout.pack(f))
            ctx.set(dut.valid, 1)
            await ctx.tick()
            ctx.set(dut.valid, 0)
            assert ctx.get(dut.done)
            got.append(FusedError(ctx.get(dut.error)))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert got == expected


def test_pack_is_the_layout_const():
    """The raw packer agrees with Amaranth's own const for legal fields, and refuses misfits."""
    layout = FusedDescriptor(SMALL)
    f = legal(rq_dw={"multiplier": 5, "shift": 3, "zero_point": -7, "mode": Activation.RELU,
                     "relu6_max": -2})
    assert layout.pack(f) == layout.const(f).as_bits()
    with pytest.raises(ValueError, match="H=65536"):
        layout.pack(legal(H=1 << 16))
    with pytest.raises(ValueError, match="zero_point"):
        layout.pack(legal(rq_dw={"zero_point": 200}))


def test_block_config_checks():
    with pytest.raises(ValueError, match="cols == axi_bytes"):
        BlockConfig(accel=AccelConfig(rows=8, cols=4))
    with pytest.raises(ValueError, match="x_entries"):
        BlockConfig(x_entries=100)
    with pytest.raises(TypeError):
        FusedDescriptor("8x8")


def _doc_section() -> str:
    from pathlib import Path
    text = (Path(__file__).resolve().parents[2] / "docs" / "tile-program.md").read_text()
    return text[text.index("# Fused-block descriptor"):]


def test_doc_field_table_is_the_layout():
    """docs/tile-program.md's fused field table: every field, in order, at its bit offset."""
    import re
    layout = FusedDescriptor(BlockConfig())
    doc = []
    for line in _doc_section().splitlines():
        m = re.match(r"\| (`[^|]+) \| ([\d, ]+) \|", line)
        if m:
            names = re.findall(r"`(\w+)`", m.group(1))
            offsets = [int(v) for v in m.group(2).split(",")]
            doc += list(zip(names, offsets))
    assert doc == [(n, f.offset) for n, f in layout]


def test_doc_rule_table_is_the_rule_text():
    import re
    rows = re.findall(r"^\| (\d+) \| `(\w+)` \| (.+) \|$", _doc_section(), re.M)
    assert [(int(c), n) for c, n, _ in rows] == [(e.value, e.name) for e in FusedError]
    for (_, name, text), e in zip(rows, FusedError):
        assert text.replace("`", "") == FUSED_RULE_TEXT[e], name
