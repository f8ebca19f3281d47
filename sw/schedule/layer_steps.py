"""Step lists of unfused depthwise, pooling and dense-conv layers (GEMM layers take theirs
from :func:`scanfuse.schedule.steps.build_schedule`).

:func:`layer_steps` emits the steps of the schedule :func:`scanfuse.plan.layer_models.layer_traffic`
chose, with image rows and channel ranges (:mod:`scanfuse.schedule.steps`: ``Load("X", rows, cols)``,
``Load("W", None, cols)``, ``ComputeRows``, ``Store("Y", rows, cols)``, ``Evict``);
its loads and stores move exactly the modelled elements.
"""

from ..network.layers import Layer, LayerKind
from ..plan.geometry import strip_bounds
from ..plan.layer_models import ChannelChunks, ConvSchedule, LayerTraffic, vertical_stage
from .fused import row_runs
from .steps import ComputeRows, Evict, Load, Step, Store

__all__ = ["layer_steps"]


def layer_steps(traffic: LayerTraffic) -> list[Step]:
    """Step list (module docstring) of a depthwise, pooling or dense-conv schedule; its loads
    and stores move exactly ``traffic``'s elements. Raises ``ValueError`` for GEMM layers."""
    sched = traffic.layer_schedule
    if isinstance(sched, ChannelChunks):
        return list(_streamed_steps(traffic.layer, sched))
    if isinstance(sched, ConvSchedule):
        return list(_conv_steps(traffic.layer, sched))
    raise ValueError(f"layer {traffic.layer.name}: GEMM layers take their steps from build_schedule")


class _LineBuffer:
    """Input rows held on chip: moving to a row range frees rows outside it and loads the
    missing ones (as maximal runs)."""

    def __init__(self, channels: tuple[int, int]):
        self.rows: set[int] = set()
        self.channels = (int(channels[0]), int(channels[1]))

    def move_to(self, lo: int, hi: int):
        for run in row_runs(sorted(r for r in self.rows if not lo <= r < hi)):
            yield Evict("X", run, self.channels)
            self.rows.difference_update(range(*run))
        for run in row_runs([r for r in range(lo, hi) if r not in self.rows]):
            yield Load("X", run, self.channels)
            self.rows.update(range(*run))

    def release(self):
        for run in row_runs(sorted(self.rows)):
            yield Evict("X", run, self.channels)
        self.rows.clear()


def _streamed_steps(layer: Layer, sched: ChannelChunks):
    stage = vertical_stage(layer)
    weights = layer.kind is LayerKind.DEPTHWISE
    for c0 in range(0, layer.cin, sched.tc):
        ch = (c0, min(c0 + sched.tc, layer.cin))
        if weights:
            yield Load("W", None, ch)
        buf = _LineBuffer(ch)
        for oh in range(layer.h_out):
            lo, hi = stage.input_range(oh, oh + 1)
            yield from buf.move_to(int(lo), int(hi))
            yield ComputeRows(layer.name, (oh, oh + 1), ch)
            yield Store("Y", (oh, oh + 1), ch)
        yield from buf.release()
        if weights:
            yield Evict("W", None, ch)


def _conv_steps(layer: Layer, sched: ConvSchedule):
    stage = vertical_stage(layer)
    a, b = strip_bounds(layer.h_out, sched.tr)
    lo, hi = stage.input_range(a, b)
    strips = [(int(a[j]), int(b[j]), int(lo[j]), int(hi[j])) for j in range(len(a))]
    chunks = [(n0, min(n0 + sched.tn, layer.cout)) for n0 in range(0, layer.cout, sched.tn)]
    buf = _LineBuffer((0, layer.cin))
    held = [None]

    def weights(c: int):
        if held[0] != c:
            if held[0] is not None:
                yield Evict("W", None, chunks[held[0]])
            yield Load("W", None, chunks[c])
            held[0] = c

    def tile(j: int, c: int):
        ya, yb = strips[j][:2]
        yield ComputeRows(layer.name, (ya, yb), chunks[c])
        yield Store("Y", (ya, yb), chunks[c])

    if sched.mode == "strips":
        for j, (_, _, xlo, xhi) in enumerate(strips):
            yield from buf.move_to(xlo, xhi)
            order = range(len(chunks))
            for c in (reversed(order) if sched.scan and j % 2 else order):
                yield from weights(c)
                yield from tile(j, c)
    else:
        for c in range(len(chunks)):
            yield from weights(c)
            order = range(len(strips))
            for j in (reversed(order) if sched.scan and c % 2 else order):
                yield from buf.move_to(*strips[j][2:])
                yield from tile(j, c)
    yield from buf.release()
    if held[0] is not None:
        yield Evict("W", None, chunks[held[0]])
