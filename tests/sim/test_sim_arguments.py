"""The simulation API refuses bad stall probabilities, seeds and sizes before any build or
run (issue 17: p_ready 0, nan or 1.0 stall probability spun the harness for 2e9 cycles)."""

import math

import pytest

from scanfuse.errors import InvalidOptionError, WorkTooLargeError
from scanfuse.plan import Gemm
from scanfuse.sim.run import check_sim_size, run_image, simulate_gemm
from scanfuse.sim.verilator_run import check_layer_names, regress_mobilenetv2, run_verilator


@pytest.mark.parametrize("p_stall", [1.0, 1.5, -0.1, math.nan, math.inf])
def test_run_image_refuses_stall_probabilities(p_stall):
    with pytest.raises(InvalidOptionError, match="p_stall must be a finite number >= 0 and < 1"):
        run_image(None, None, "amaranth", p_stall=p_stall)


@pytest.mark.parametrize("seed", [-1, 2 ** 32, 2 ** 70])
def test_run_image_refuses_seeds(seed):
    with pytest.raises(InvalidOptionError, match="seed must be between 0 and 4,294,967,295"):
        run_image(None, None, "amaranth", seed=seed)


@pytest.mark.parametrize("p_ready,p_valid", [(0.0, 1.0), (math.nan, 1.0), (1.0, 1.5), (1.0, -1)])
def test_verilator_refuses_ready_valid_before_building(p_ready, p_valid):
    with pytest.raises(InvalidOptionError, match="p_(ready|valid) must be a finite number > 0"):
        run_verilator(bytearray(), 0, 0, p_ready=p_ready, p_valid=p_valid)
    with pytest.raises(InvalidOptionError, match="p_(ready|valid) must be a finite number > 0"):
        regress_mobilenetv2(p_ready=p_ready, p_valid=p_valid)


def test_regress_refuses_unknown_layers():
    with pytest.raises(InvalidOptionError, match="not conv99"):
        check_layer_names(["conv99"])
    with pytest.raises(InvalidOptionError, match="not nothing"):
        check_layer_names([])


def test_sizes_are_refused_with_the_estimate():
    with pytest.raises(WorkTooLargeError, match="8,000,000,000 engine cycles .* limit of "
                                                "250,000,000 for --sim verilator"):
        check_sim_size(Gemm(8000, 8000, 8000), (8, 8), "verilator")
    with pytest.raises(WorkTooLargeError, match="beyond the engine's 32-bit address space"):
        check_sim_size(Gemm(100000, 100000, 1), (8, 8), "verilator")
    with pytest.raises(WorkTooLargeError, match="limit of 200,000 for --sim amaranth"):
        simulate_gemm(Gemm(1024, 1024, 1024), 65536, sim="amaranth")
    check_sim_size(Gemm(1024, 1024, 1024), (8, 8), "amaranth", max_cycles=1 << 30)
