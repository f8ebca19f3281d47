"""The split between ``make test`` and ``make regress``, and hypothesis's seeding.

Hypothesis runs derandomized (the same examples on every run and machine, so a CI failure
reproduces from its test id); ``SCANFUSE_HYPOTHESIS=explore`` draws fresh random examples.

Tests marked ``@pytest.mark.regress`` (extra seeds of the whole-engine Amaranth runs, the FPGA
self-test simulations, a full-size layer on Verilator, the 32x32 MobileNetV2 on Verilator) are
skipped unless ``SCANFUSE_REGRESS=1``; ``make regress`` sets it and selects them with
``-m regress``.
"""

import os

import pytest
from hypothesis import settings

settings.register_profile("stable", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("SCANFUSE_HYPOTHESIS", "stable"))

REGRESS = os.environ.get("SCANFUSE_REGRESS", "0") not in ("", "0")


def pytest_collection_modifyitems(config, items):
    if REGRESS:
        return
    skip = pytest.mark.skip(reason="regress case: SCANFUSE_REGRESS=1 (make regress)")
    for item in items:
        if item.get_closest_marker("regress"):
            item.add_marker(skip)
