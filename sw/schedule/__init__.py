"""Step lists of tiled GEMMs (see :mod:`scanfuse.schedule.steps`)."""

from .steps import Compute, Evict, Load, Schedule, Step, Store, build_schedule, iter_steps

__all__ = ["Load", "Compute", "Store", "Evict", "Step", "Schedule", "build_schedule", "iter_steps"]
