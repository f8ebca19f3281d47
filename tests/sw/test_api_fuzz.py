"""Bad arguments to the public API raise ScanFuseError subclasses, nothing else (issue 17).

Hypothesis draws hostile values (zero, negative, huge, nan, inf, wrong types) for the public
functions; any exception that is not a :class:`~scanfuse.errors.ScanFuseError` fails the
test. The named cases pin the calls the issue reported.
"""

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scanfuse.dram.evaluate import EngineClock
from scanfuse.dram.trace_io import read_trace
from scanfuse.errors import (BufferTooSmallError, InvalidModelError, InvalidOptionError,
                             ScanFuseError)
from scanfuse.network import get_network
from scanfuse.network.decompose import decompose_report, parse_rank_rule, random_kernel
from scanfuse.plan import BufferModel, Gemm, Tiling, lower_bound, plan_gemm
from scanfuse.schedule import build_schedule
from scanfuse.units import check_real, check_seed, parse_entries

HOSTILE = st.one_of(
    st.integers(-2, 2), st.integers(min_value=2 ** 24, max_value=2 ** 80),
    st.integers(max_value=-1), st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([None, "", "x", "64", [], (), {}, object(), True, b"1", 1.5]))
SMALL = st.integers(1, 12)


def _only_typed(call, *args, **kwargs):
    try:
        call(*args, **kwargs)
    except ScanFuseError:
        pass


FUZZ = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(HOSTILE, HOSTILE, HOSTILE)
def test_gemm(m, k, n):
    _only_typed(Gemm, m, k, n)


@FUZZ
@given(st.text(max_size=30))
def test_gemm_parse(text):
    _only_typed(Gemm.parse, text)


@FUZZ
@given(st.one_of(HOSTILE, st.text(max_size=30)))
def test_parse_entries(text):
    _only_typed(parse_entries, text)


@FUZZ
@given(HOSTILE)
def test_lower_bound(entries):
    _only_typed(lower_bound, Gemm(8, 8, 8), entries)


@FUZZ
@given(HOSTILE, HOSTILE)
def test_plan_gemm(gemm, entries):
    _only_typed(lambda: plan_gemm(gemm if isinstance(gemm, Gemm) else Gemm(8, 8, 8),
                                  BufferModel(entries)))


@FUZZ
@given(SMALL, SMALL, SMALL, SMALL, SMALL, SMALL, st.integers(1, 400))
def test_build_schedule_any_tiles(M, K, N, tm, tn, tk, entries):
    _only_typed(build_schedule, Gemm(M, K, N), Tiling(tm, tn, tk, "mnk", "scan"),
                BufferModel(entries))


@FUZZ
@given(HOSTILE, HOSTILE, HOSTILE)
def test_build_schedule_wrong_types(gemm, tiling, model):
    _only_typed(build_schedule, gemm, tiling, model)


@FUZZ
@given(HOSTILE, HOSTILE)
def test_engine_clock(port, freq):
    _only_typed(EngineClock.of_array, 8, 8, freq, port)


@FUZZ
@given(st.one_of(HOSTILE, st.text(max_size=20)))
def test_get_network(name):
    _only_typed(get_network, name)


@FUZZ
@given(st.one_of(HOSTILE, st.text(max_size=20)))
def test_parse_rank_rule(text):
    _only_typed(parse_rank_rule, text)


@FUZZ
@given(st.tuples(HOSTILE, SMALL, SMALL, SMALL), st.one_of(HOSTILE, st.just(("mac_ratio", 1e-9))),
       HOSTILE, HOSTILE)
def test_decompose_report(shape, rank, stride, seed):
    _only_typed(decompose_report, shape, rank, stride, compute=False)
    _only_typed(random_kernel, (2, 2, 1, 1), seed)


@FUZZ
@given(HOSTILE, HOSTILE)
def test_value_checks(seed, value):
    _only_typed(check_seed, seed)
    _only_typed(check_real, value, "value")


@FUZZ
@given(st.binary(max_size=200))
def test_read_trace_any_bytes(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("trace") / "t.trc"
    path.write_bytes(data)
    _only_typed(read_trace, path)


# --- the calls the issue named -------------------------------------------------------------

def test_lower_bound_of_an_empty_buffer_is_refused():
    with pytest.raises(InvalidOptionError, match="entries must be a whole number from 1"):
        lower_bound(Gemm(8, 8, 8), 0)


def test_build_schedule_refuses_tiles_over_the_buffer():
    with pytest.raises(BufferTooSmallError, match="tiles 8x8x8 need .* the buffer has 100"):
        build_schedule(Gemm(8, 8, 8), Tiling(8, 8, 8, "mnk", "scan"), BufferModel(100))


def test_build_schedule_refuses_too_many_steps():
    from scanfuse.errors import WorkTooLargeError
    with pytest.raises(WorkTooLargeError, match="at least 512 steps .* limit of 100"):
        build_schedule(Gemm(8, 8, 8), Tiling(1, 1, 1, "mnk", "scan"), BufferModel(100),
                       max_steps=100)


def test_read_trace_missing_and_not_ascii(tmp_path):
    with pytest.raises(InvalidOptionError, match="cannot read trace .*No such file"):
        read_trace(tmp_path / "missing.trc")
    bad = tmp_path / "latin1.trc"
    bad.write_bytes("0x40 READ 1 caf\xe9\n".encode("latin-1"))
    with pytest.raises(InvalidOptionError, match="not an ASCII trace"):
        read_trace(bad)


@pytest.mark.parametrize("value", [math.inf, math.nan, 0.0, -1.0])
def test_engine_clock_refuses_non_finite(value):
    with pytest.raises(InvalidOptionError, match="must be a finite number > 0"):
        EngineClock.of_array(8, 8, value, 8.0)
    with pytest.raises(InvalidOptionError, match="must be a finite number > 0"):
        EngineClock.of_array(8, 8, 100.0, value)


@pytest.mark.parametrize("seed", [-1, 2 ** 64, 2 ** 70])
def test_seeds_out_of_range(seed):
    with pytest.raises(InvalidOptionError, match="seed must be"):
        check_seed(seed)
    with pytest.raises(InvalidOptionError, match="seed must be an integer from 0"):
        random_kernel((2, 2, 1, 1), seed)


def test_load_onnx_refuses_devices():
    from scanfuse.network.onnx_import import load_onnx
    with pytest.raises(InvalidModelError, match="not a regular file"):
        load_onnx("/dev/zero")


@pytest.mark.parametrize("call", [
    lambda: __import__("scanfuse.plan", fromlist=["x"]).plan_network(None, BufferModel(1024)),
    lambda: __import__("scanfuse.plan", fromlist=["x"]).plan_single_gemm((1, 2, 3), BufferModel(1024)),
    lambda: __import__("scanfuse.plan.fusion", fromlist=["x"]).plan_fused_network(None, BufferModel(1024)),
    lambda: __import__("scanfuse.evaluate", fromlist=["x"]).evaluate([None], 1024),
    lambda: __import__("scanfuse.evaluate", fromlist=["x"]).evaluate("mobilenetv2", 1024),
    lambda: __import__("scanfuse.plan", fromlist=["x"]).gemm_traffic(None, None),
    lambda: __import__("scanfuse.dram.bursts", fromlist=["x"]).gemm_bursts(None),
    lambda: plan_gemm(Gemm(8, 8, 8), BufferModel(1 << 62)),
], ids=["plan_network", "plan_single_gemm", "plan_fused_network", "evaluate-none",
        "evaluate-str", "gemm_traffic", "gemm_bursts", "plan_gemm-2^62"])
def test_wrong_types_are_typed_errors(call):
    """These raised AttributeError or OverflowError before (issue 17)."""
    with pytest.raises(InvalidOptionError):
        call()
