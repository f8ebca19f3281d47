# amaranth: UnusedElaboratable=no
"""Tile program: descriptor layout, pack/unpack, legality rules, and the hardware checker.

The hardware :class:`DescriptorChecker` is compared with :func:`check_descriptor` on random
legal and illegal descriptors in one simulator run per configuration.
"""

import random
import re
import shutil
import subprocess
from dataclasses import replace
from functools import partial

import pytest
from amaranth.back import verilog
from amaranth.sim import Simulator

from scanfuse.program.descriptors import (DescriptorFields, IllegalProgramError, LayerSpec,
                                     ProgramImage, RequantFields, build_program, compile_layer,
                                     compile_program, pack, unpack, unpack_program)
from scanfuse.errors import InvalidOptionError, ScanFuseError
from scanfuse.hw.addrgen import LoopOrder, Visit
from scanfuse.hw.params import AccelConfig
from scanfuse.hw.program import (DIM_BITS, DescriptorChecker, DescriptorError, LayerDescriptor,
                                 OutMode, check_descriptor, offset_bits, tile_footprints)
from scanfuse.hw.params import round_up, split_footprints
from scanfuse.hw.requant import Activation
from scanfuse.plan import BufferModel, Gemm, plan_gemm

E = DescriptorError
DEFAULT = AccelConfig()
SMALL = AccelConfig(a_entries=64, b_entries=64, c_entries=64, double_buffer=False)
SMALL_DB = AccelConfig(a_entries=128, b_entries=128, c_entries=128, double_buffer=True)
CONFIGS = [DEFAULT, SMALL_DB, AccelConfig(axi_data_bits=32, addr_bits=20, a_entries=1000,
                                          b_entries=40, c_entries=1 << 24),
           AccelConfig(axi_data_bits=256, addr_bits=64, double_buffer=True)]


def legal_base(**changes) -> DescriptorFields:
    """An 8x8x8 GEMM in one 8x8x8 tile: 64 entries per region, legal in SMALL and SMALL_DB."""
    base = DescriptorFields(M=8, K=8, N=8, tm=8, tn=8, tk=8, a_base=0x1000, b_base=0x2000,
                            c_base=0x3000, a_stride=8, b_stride=8, c_stride=32)
    return replace(base, **changes)


# --- Layout ----------------------------------------------------------------------------------

def test_layout_default_size_and_order():
    layout = LayerDescriptor(DEFAULT)
    assert (layout.used_bits, layout.size, layout.size_bytes, layout.beats) == (455, 512, 64, 8)
    names = [name for name, _ in layout]
    assert names == ["a_base", "b_base", "c_base", "a_stride", "b_stride", "c_stride", "p_base",
                     "p_stride", "walk", "requant", "a_off", "b_off", "c_off", "out_mode", "last",
                     "reserved"]
    assert [name for name, _ in layout["walk"].shape] == ["M", "K", "N", "tm", "tn", "tk",
                                                          "loop_order", "visit"]
    assert [layout[n].width for n in ("a_off", "b_off", "c_off")] == [14, 14, 13]
    assert layout.field_bits("M") == (256, 16)
    assert layout.field_bits("loop_order") == (352, 3)


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: f"{c.axi_data_bits}b{c.addr_bits}a")
def test_layout_whole_beats(cfg):
    layout = LayerDescriptor(cfg)
    assert layout.size % cfg.axi_data_bits == 0
    assert 0 <= layout.size - layout.used_bits < cfg.axi_data_bits
    assert layout["a_off"].width == offset_bits(cfg.a_entries)
    assert (1 << offset_bits(cfg.c_entries)) >= cfg.c_entries


# --- Pack / unpack ---------------------------------------------------------------------------

def random_fields(rng: random.Random, cfg: AccelConfig) -> DescriptorFields:
    """Any value that fits its field, reserved enum codes included."""
    layout = LayerDescriptor(cfg)

    def u(name):
        return rng.getrandbits(layout.field_bits(name)[1])

    return DescriptorFields(
        **{n: u(n) for n in ("M", "K", "N", "tm", "tn", "tk", "a_base", "b_base", "c_base",
                             "a_stride", "b_stride", "c_stride", "p_base", "p_stride", "a_off",
                             "b_off", "c_off", "last")},
        loop_order=rng.randrange(8), visit=rng.randrange(2), out_mode=rng.randrange(4),
        requant=RequantFields(multiplier=rng.getrandbits(31), shift=rng.getrandbits(6),
                              zero_point=rng.randrange(-128, 128), mode=rng.randrange(4),
                              relu6_max=rng.randrange(-128, 128)))


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: f"{c.axi_data_bits}b{c.addr_bits}a")
def test_pack_unpack_round_trip(cfg):
    rng = random.Random(1234)
    size = LayerDescriptor(cfg).size_bytes
    for _ in range(300):
        f = random_fields(rng, cfg)
        blob = pack(f, cfg, check=False)
        assert len(blob) == size
        assert unpack(blob, cfg) == f
    # Reserved codes come back as ints, legal ones as members.
    f = unpack(pack(legal_base(loop_order=7, out_mode=3), cfg, check=False), cfg)
    assert (f.loop_order, f.out_mode, f.visit) == (7, 3, Visit.SCAN)


def test_pack_bit_positions_little_endian():
    f = legal_base(M=0x1234, last=1, loop_order=LoopOrder.NMK)
    blob = pack(f, DEFAULT, check=False)
    assert blob[32:34] == bytes([0x34, 0x12])               # M at bits 256..271
    bits = int.from_bytes(blob, "little")
    layout = LayerDescriptor(DEFAULT)
    assert bits >> layout["last"].offset & 1 == 1
    assert bits >> layout.field_bits("loop_order")[0] & 7 == LoopOrder.NMK.value
    assert bits >> layout["reserved"].offset == 0


def test_pack_refuses_values_that_do_not_fit():
    with pytest.raises(IllegalProgramError, match="M=65536 does not fit"):
        pack(legal_base(M=1 << DIM_BITS), DEFAULT, check=False)
    with pytest.raises(IllegalProgramError, match="zero_point"):
        pack(legal_base(requant=RequantFields(zero_point=128)), DEFAULT, check=False)
    with pytest.raises(IllegalProgramError, match="a_off"):
        pack(legal_base(a_off=1 << 14), DEFAULT, check=False)
    with pytest.raises(IllegalProgramError, match="64 bytes"):
        unpack(bytes(63), DEFAULT)


# --- Rules: each one at its edge ---------------------------------------------------------------

# (cfg, illegal change, expected error, legal neighbour change)
RULE_CASES = [
    (SMALL, {"M": 0}, E.ZERO_DIM, {"M": 1, "tm": 1}),
    (SMALL, {"K": 0, "tk": 0}, E.ZERO_DIM, {"K": 1, "tk": 1}),
    (SMALL, {"N": 0}, E.ZERO_DIM, {"N": 1, "tn": 1}),
    (SMALL, {"tm": 0}, E.ZERO_TILE, {"tm": 1}),
    (SMALL, {"tn": 0}, E.ZERO_TILE, {"tn": 1}),
    (SMALL, {"tk": 0}, E.ZERO_TILE, {"tk": 1}),
    (SMALL, {"M": 7}, E.TILE_TOO_BIG, {"M": 7, "tm": 7}),
    (SMALL, {"K": 7}, E.TILE_TOO_BIG, {"K": 7, "tk": 7}),
    (SMALL, {"N": 7}, E.TILE_TOO_BIG, {"N": 7, "tn": 7}),
    # Regions exactly filling their memory are legal; one entry more is not.
    (SMALL, {"a_off": 1}, E.A_OVERFLOW, {"a_off": 0}),
    # Tiles are padded to memory words (8x8 array, 8-byte beats): tm to 8, tk to 8, tn to 8.
    (SMALL, {"M": 9, "tm": 9}, E.A_OVERFLOW, {"M": 9, "tm": 8}),
    (SMALL, {"b_off": 1}, E.B_OVERFLOW, {"b_off": 0}),
    (SMALL, {"N": 9, "tn": 9}, E.B_OVERFLOW, {"N": 9, "tn": 8}),
    (SMALL, {"c_off": 1}, E.C_OVERFLOW, {"c_off": 0}),
    (SMALL_DB, {"a_off": 64}, E.A_OVERFLOW, {"a_off": 0}),
    (SMALL_DB, {"K": 9, "tk": 9}, E.A_OVERFLOW, {"K": 9, "tk": 8}),
    (SMALL_DB, {"b_off": 8}, E.B_OVERFLOW, {"tk": 4, "b_off": 64}),
    (SMALL_DB, {"c_off": 8}, E.C_OVERFLOW, {"c_off": 8, "tm": 7}),
    (SMALL, {"loop_order": 6}, E.BAD_LOOP_ORDER, {"loop_order": LoopOrder.KNM}),
    (SMALL, {"loop_order": 7}, E.BAD_LOOP_ORDER, {"loop_order": 5}),
    (SMALL, {"c_base": 0x3002}, E.BAD_ALIGNMENT, {"c_base": 0x3004}),
    (SMALL, {"c_stride": 33}, E.BAD_ALIGNMENT, {"c_stride": 36}),
    (SMALL, {"c_base": 0x3001}, E.BAD_ALIGNMENT, {"c_base": 0x3001, "c_stride": 33,
                                                 "out_mode": OutMode.INT8}),
    (SMALL, {"out_mode": 2}, E.BAD_MODE, {"out_mode": 1}),
    (SMALL, {"out_mode": 3, "c_base": 1}, E.BAD_MODE, {"out_mode": 1, "c_base": 1}),
    (SMALL, {"p_base": 0x4002}, E.BAD_ALIGNMENT, {"p_base": 0x4004}),
    (SMALL, {"p_stride": 6, "out_mode": OutMode.INT8}, E.BAD_ALIGNMENT,
     {"p_stride": 8, "out_mode": OutMode.INT8}),
    # On-chip offsets are whole words: A 8 rows x 8 bytes, B 8 bytes, C 8 accumulators.
    (DEFAULT, {"a_off": 32}, E.BAD_OFFSET, {"a_off": 64}),
    (DEFAULT, {"b_off": 4}, E.BAD_OFFSET, {"b_off": 8}),
    (DEFAULT, {"c_off": 12}, E.BAD_OFFSET, {"c_off": 16}),
]


@pytest.mark.parametrize("cfg,bad,error,good", RULE_CASES,
                         ids=[f"{c[2].name}-{i}" for i, c in enumerate(RULE_CASES)])
def test_rule_edges(cfg, bad, error, good):
    assert check_descriptor(cfg, legal_base(**bad)) is error
    assert check_descriptor(cfg, legal_base(**good)) is E.NONE
    # A dict works as well as the dataclass.
    assert check_descriptor(cfg, vars(legal_base(**bad))) is error


def test_first_rule_wins_in_enum_order():
    f = legal_base(M=0, tk=0, a_off=1, loop_order=6, c_base=2, out_mode=2)
    expected = [E.ZERO_DIM, E.ZERO_TILE, E.A_OVERFLOW, E.BAD_LOOP_ORDER, E.BAD_MODE]
    for error in expected:
        assert check_descriptor(SMALL, f) is error
        f = {E.ZERO_DIM: lambda f: replace(f, M=8), E.ZERO_TILE: lambda f: replace(f, tk=8),
             E.A_OVERFLOW: lambda f: replace(f, a_off=0),
             E.BAD_LOOP_ORDER: lambda f: replace(f, loop_order=0),
             E.BAD_MODE: lambda f: replace(f, out_mode=1)}[error](f)
    assert check_descriptor(SMALL, f) is E.NONE


def test_footprints_formula():
    # Padded to the engine's words: tm 3 -> 8 rows, tk 7 -> 8 bytes, tn 5 -> 8.
    assert tile_footprints(SMALL, 3, 5, 7) == (64, 56, 24)
    assert tile_footprints(SMALL_DB, 3, 5, 7) == (128, 112, 48)     # two C regions
    assert tile_footprints(SMALL, 16, 16, 16) == (256, 256, 256)
    assert split_footprints(3, 5, 7) == (21, 35, 15)             # the unpadded planner model
    assert split_footprints(3, 5, 7, 2, (4, 4, 8, 2)) == (64, 112, 18)
    assert round_up(13, 3) == 15 and round_up(13, 4) == 16 and round_up(16, 4) == 16


# --- Hardware checker against check_descriptor -------------------------------------------------

def random_descriptor(rng: random.Random, cfg: AccelConfig) -> DescriptorFields:
    """Mostly near-legal descriptors (mutated at an edge), some wholly random ones."""
    if rng.random() < 0.15:
        return random_fields(rng, cfg)
    layout = LayerDescriptor(cfg)
    wa, wb, wc = cfg.word_entries
    dims = [rng.choice([1, 2, 3, rng.randrange(1, 100), rng.randrange(1, 1 << DIM_BITS)])
            for _ in range(3)]
    M, K, N = dims
    # Shrink tiles until the regions fit, then maybe break one thing.
    tm, tk, tn = (rng.randrange(1, d + 1) for d in (M, K, N))
    while (tm, tk, tn) != (1, 1, 1) and any(
            fp > cap for fp, cap in zip(tile_footprints(cfg, tm, tn, tk),
                                        (cfg.a_entries, cfg.b_entries, cfg.c_entries))):
        tm, tk, tn = max(1, tm // 2), max(1, tk // 2), max(1, tn // 2)
    a_fp, b_fp, c_fp = tile_footprints(cfg, tm, tn, tk)
    if a_fp > cfg.a_entries or b_fp > cfg.b_entries or c_fp > cfg.c_entries:
        return random_fields(rng, cfg)      # not even 1x1x1 tiles fit this configuration
    f = DescriptorFields(
        M=M, K=K, N=N, tm=tm, tn=tn, tk=tk,
        a_base=rng.getrandbits(cfg.addr_bits), b_base=rng.getrandbits(cfg.addr_bits),
        c_base=rng.getrandbits(cfg.addr_bits - 2) << 2,
        a_stride=rng.getrandbits(16), b_stride=rng.getrandbits(16),
        c_stride=rng.getrandbits(16) << 2,
        loop_order=rng.randrange(6), visit=rng.randrange(2), out_mode=rng.randrange(2),
        p_base=rng.getrandbits(cfg.addr_bits - 2) << 2, p_stride=rng.getrandbits(16) << 2,
        a_off=rng.randrange((cfg.a_entries - a_fp) // wa + 1) * wa,
        b_off=rng.randrange((cfg.b_entries - b_fp) // wb + 1) * wb,
        c_off=rng.randrange((cfg.c_entries - c_fp) // wc + 1) * wc, last=rng.randrange(2))
    mutation = rng.randrange(14)
    if mutation == 0:
        f = replace(f, **{rng.choice("MKN"): 0})
    elif mutation == 1:
        f = replace(f, **{rng.choice(["tm", "tn", "tk"]): 0})
    elif mutation == 2:
        x = rng.choice("mkn")
        dim = getattr(f, x.upper())
        if dim > 1:
            f = replace(f, **{f"t{x}": dim, x.upper(): dim - 1})
    elif 3 <= mutation <= 5:
        name, limit, fp = [("a_off", cfg.a_entries, a_fp), ("b_off", cfg.b_entries, b_fp),
                           ("c_off", cfg.c_entries, c_fp)][mutation - 3]
        edge = limit - fp + rng.choice([0, 1, 2])       # exactly full, one over, two over
        if 0 <= edge < 1 << layout.field_bits(name)[1]:
            f = replace(f, **{name: edge})
    elif mutation == 6:
        f = replace(f, loop_order=rng.choice([6, 7]))
    elif mutation == 7:
        f = replace(f, c_base=f.c_base | rng.randrange(4))
    elif mutation == 8:
        f = replace(f, c_stride=f.c_stride | rng.randrange(4))
    elif mutation == 9:
        f = replace(f, out_mode=rng.randrange(4))
    elif mutation == 10:
        f = replace(f, **{rng.choice(["p_base", "p_stride"]): rng.getrandbits(16)})
    elif mutation == 11:
        name = rng.choice(["a_off", "b_off", "c_off"])
        f = replace(f, **{name: getattr(f, name) + rng.randrange(1, 4)})
    return f


async def check_bench(ctx, dut, cases, results):
    """Present one descriptor per cycle (the checker is fully pipelined); each verdict is on
    ``error``, with ``done`` high, ``latency`` clock edges later, and nothing else raises
    ``done``."""
    lat = dut.latency
    for t in range(len(cases) + lat):
        if t < len(cases):
            ctx.set(dut.desc.as_value(),
                    int.from_bytes(pack(cases[t], dut.cfg, check=False), "little"))
            ctx.set(dut.valid, 1)
        else:
            ctx.set(dut.valid, 0)
            ctx.set(dut.desc.as_value(), 0)              # would be ZERO_DIM if it were checked
        await ctx.tick()
        j = t - lat + 1                                  # the case whose verdict is out now
        if 0 <= j < len(cases):
            assert ctx.get(dut.done) == 1
            results.append((cases[j], ctx.get(dut.error)))
        else:
            assert ctx.get(dut.done) == 0
    await ctx.tick()
    assert ctx.get(dut.done) == 0
    assert ctx.get(dut.error) == results[-1][1]          # held until the next descriptor


@pytest.mark.parametrize("cfg", [DEFAULT, SMALL_DB, CONFIGS[2],
                                 replace(SMALL_DB, pe_multiplier="mult18x18d")],
                         ids=["default", "small_db", "odd", "small_db_dsp"])
def test_checker_matches_check_descriptor(cfg):
    rng = random.Random(2024 + cfg.a_entries)
    cases = [random_descriptor(rng, cfg) for _ in range(400)]
    if cfg in (SMALL, SMALL_DB):
        cases += [legal_base(**ch) for c, bad, _, good in RULE_CASES if c == cfg
                  for ch in (bad, good)]
    dut = DescriptorChecker(cfg)
    results = []
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(partial(check_bench, dut=dut, cases=cases, results=results))
    sim.run()
    assert len(results) == len(cases)
    seen = set()
    for f, got in results:
        expected = check_descriptor(cfg, f)
        seen.add(expected)
        assert got == expected, (f, got, expected)
    # The random mix reaches every rule (and legal descriptors).
    assert seen == set(DescriptorError), set(DescriptorError) - seen


@pytest.mark.skipif(shutil.which("verilator") is None, reason="verilator not installed")
def test_checker_verilog_lint(tmp_path):
    """-Wall is clean except Amaranth's unused struct-field aliases, the WIDTH warnings
    yosys causes by trimming zero high bits of the footprint rules' ADD/GT operands (the padding
    round-ups add a few more of the same kind) and the file name, which cannot match the
    footprint products' module names as well as the top's."""
    v = tmp_path / "desc_checker.v"
    v.write_text(verilog.convert(DescriptorChecker(AccelConfig()), name="desc_checker"))
    result = subprocess.run(["verilator", "--lint-only", "-Wall", "-Wno-UNUSEDSIGNAL",
                             "-Wno-DECLFILENAME", "--top-module", "desc_checker", str(v)],
                            capture_output=True, text=True, cwd=tmp_path)
    warnings = re.findall(r"^%Warning-(\w+): .*$", result.stderr, re.M)
    lines = [line for line in result.stderr.splitlines() if line.startswith("%Warning")]
    assert all(w == "WIDTH" for w in warnings), result.stderr
    assert all(re.search(r"Operator (ADD|GT) expects", line) for line in lines), result.stderr


def test_checker_rejects_bad_cfg():
    with pytest.raises(TypeError, match="AccelConfig"):
        DescriptorChecker(3)
    assert DescriptorChecker.LATENCY == 4
    assert DescriptorChecker(AccelConfig()).latency == 4
    assert DescriptorChecker(AccelConfig(pe_multiplier="mult18x18d")).latency == 6


# --- Driver: compile real plans ----------------------------------------------------------------

def test_compile_layer_from_plan_round_trips():
    gemm = Gemm(196, 96, 24)
    plan = plan_gemm(gemm, BufferModel(8192))
    f = compile_layer(plan, 0x1000, 0x8000, 0x10000, OutMode.RAW_INT32)
    assert (f.a_stride, f.b_stride, f.c_stride) == (96, 24, 96)
    back = unpack(pack(f))
    assert back == f
    assert back.gemm == gemm
    assert back.tiling == plan.tiling
    assert back.loop_order.letters == plan.tiling.loop_order
    assert check_descriptor(DEFAULT, back) is E.NONE


@pytest.mark.parametrize("order", ["scan", "raster"])
def test_compile_layer_int8_with_requant(order):
    plan = plan_gemm(Gemm(3136, 24, 144), BufferModel(8192), order=order)
    rq = RequantFields(multiplier=1 << 30, shift=35, zero_point=-5, mode=Activation.RELU6,
                       relu6_max=100)
    f = compile_layer(plan, 0x0, 0x100000, 0x200001, "int8", rq)
    assert f.c_stride == 144 and f.c_elem_bytes == 1
    back = unpack(pack(f))
    assert back.requant == rq and back.tiling == plan.tiling
    assert back.visit is Visit[order.upper()]


def test_compile_layer_refusals():
    plan = plan_gemm(Gemm(196, 96, 24), BufferModel(8192))
    with pytest.raises(IllegalProgramError, match="BAD_ALIGNMENT") as info:
        compile_layer(plan, 0, 0, 0x10002, OutMode.RAW_INT32)
    assert info.value.rule is E.BAD_ALIGNMENT and isinstance(info.value, ScanFuseError)
    # A plan for a big unified buffer can overflow the split memories.
    big = plan_gemm(Gemm(4096, 512, 512), BufferModel(1 << 20))
    with pytest.raises(IllegalProgramError, match="OVERFLOW"):
        compile_layer(big, 0, 0, 0, OutMode.RAW_INT32)
    with pytest.raises(InvalidOptionError, match="requant"):
        compile_layer(plan, 0, 0, 0, OutMode.INT8)
    with pytest.raises(InvalidOptionError, match="requant"):
        compile_layer(plan, 0, 0, 0, OutMode.RAW_INT32, RequantFields())
    with pytest.raises(InvalidOptionError, match="out_mode"):
        compile_layer(plan, 0, 0, 0, "fp16")
    with pytest.raises(IllegalProgramError, match="c_off"):
        compile_layer(plan, 0, 0, 0, OutMode.RAW_INT32, c_off=1 << 13)


def test_compile_program_chains_and_sets_last():
    rq = RequantFields(multiplier=1 << 30, shift=31)
    l1 = plan_gemm(Gemm(784, 32, 64), BufferModel(8192))
    l2 = plan_gemm(Gemm(784, 64, 16), BufferModel(8192))
    layers = [LayerSpec(l1, 0x0000, 0x40000, 0x50000, OutMode.INT8, rq),
              LayerSpec(l2, 0x50000, 0x48000, 0x60000, OutMode.RAW_INT32)]
    blob = compile_program(layers)
    size = LayerDescriptor(DEFAULT).size_bytes
    assert len(blob) == 2 * size
    image = unpack_program(blob)
    assert [d.last for d in image.descriptors] == [0, 1]
    assert image.descriptors[1].a_base == image.descriptors[0].c_base
    assert image.descriptors[0].tiling == l1.tiling
    assert image == build_program(layers)
    assert len(image.hex_beats()) == 2 * LayerDescriptor(DEFAULT).beats
    with pytest.raises(InvalidOptionError):
        compile_program([])
    with pytest.raises(IllegalProgramError, match="last"):
        ProgramImage((image.descriptors[1], image.descriptors[1]))
    with pytest.raises(IllegalProgramError, match="multiple"):
        unpack_program(blob[:-1])


def test_checker_and_planner_agree_on_what_fits():
    """A plan made for BufferModel.for_engine(cfg) always passes the descriptor's overflow rules."""
    import random as _random

    from scanfuse.hw.params import AccelConfig as _Cfg
    from scanfuse.hw.program import tile_footprints as _fp
    from scanfuse.plan import Gemm as _Gemm
    from scanfuse.plan import plan_gemm as _plan
    rng = _random.Random(9)
    for double in (False, True):
        cfg = _Cfg(a_entries=rng.randint(64, 4096), b_entries=rng.randint(64, 4096),
                   c_entries=rng.randint(16, 2048), double_buffer=double)
        model = BufferModel.for_engine(cfg)
        for _ in range(40):
            gemm = _Gemm(rng.randint(1, 300), rng.randint(1, 300), rng.randint(1, 300))
            t = _plan(gemm, model).tiling
            a, b, c = _fp(cfg, t.tm, t.tn, t.tk)
            assert a <= cfg.a_entries and b <= cfg.b_entries and c <= cfg.c_entries
            assert model.fits(t.tm, t.tn, t.tk)


def test_one_out_mode_parser_everywhere():
    """compile_layer, the DRAM image and the verification cases parse the output mode with
    the one parse_out_mode; an unknown name is refused, not read as RAW_INT32 (issue 13)."""
    import numpy as np

    from scanfuse.errors import InvalidOptionError
    from scanfuse.program.descriptors import parse_out_mode
    from scanfuse.program.image import gemm_image
    assert parse_out_mode("raw") is parse_out_mode("INT32") is OutMode.RAW_INT32
    assert parse_out_mode("Int8") is parse_out_mode(OutMode.INT8) is OutMode.INT8
    plan = plan_gemm(Gemm(4, 8, 4), BufferModel(8192))
    a, b = np.zeros((4, 8), np.int8), np.zeros((8, 4), np.int8)
    assert gemm_image(plan, a, b, "raw").layers[0].out_mode is OutMode.RAW_INT32
    with pytest.raises(InvalidOptionError, match="out_mode"):
        gemm_image(plan, a, b, "int4")
