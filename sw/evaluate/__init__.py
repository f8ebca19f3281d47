"""Whole-network DRAM energy of the planner's variants (``scanfuse evaluate``).

:func:`evaluate` plans each network five ways (:data:`VARIANTS`: unfused raster baseline,
unfused Scan, thesis-style fusion raster and Scan, extended fusion), turns every schedule
into a 64-byte burst stream, times it on the engine and runs it through the DRAM model, at
one buffer size and over a sweep. Details: ``docs/evaluate.md``.
"""

from .run import (COMPARED_POLICIES, DEFAULT_SWEEP, EvalConfig, Evaluation, NetworkEvaluation,
                  NetworkStream, VariantResult, cross_check, energy_json, evaluate,
                  evaluate_network, network_stream, sweep_steps, variant_trace)
from .units import UnitSummary
from .variants import VARIANTS, NetworkPlans, plan_variants, variant_units

__all__ = ["COMPARED_POLICIES", "cross_check", "energy_json", "DEFAULT_SWEEP", "EvalConfig", "Evaluation", "NetworkEvaluation", "NetworkStream",
           "VariantResult", "evaluate", "evaluate_network", "network_stream", "sweep_steps",
           "variant_trace",
           "UnitSummary", "VARIANTS", "NetworkPlans", "plan_variants", "variant_units"]
