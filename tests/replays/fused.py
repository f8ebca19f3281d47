"""Independent replay of fused-chain step lists (see scanfuse.schedule.fused for the format).

It checks, with per-row and per-channel masks, that every compute has its inputs resident
(including the depthwise halo rows it needs, recomputed here from kernel/stride/padding),
that each output row receives every hidden channel exactly once and is stored after its last
chunk (with the block input still on chip for a residual add), and that the buffer never
holds more than its capacity. It returns the traffic it saw.
"""

from dataclasses import dataclass

import numpy as np

from .gemm import IllegalSchedule
from scanfuse.schedule.steps import ComputeRows, Evict, Load, Store


def _op(step) -> str:
    """The kind of a typed step (scanfuse.schedule.steps), as this replay names it."""
    return {Load: "load", Evict: "evict", Store: "store", ComputeRows: "compute"}[type(step)]


@dataclass
class FusedReplay:
    x_reads: int = 0
    w_reads: int = 0
    y_psum_reads: int = 0
    y_final_writes: int = 0
    y_psum_writes: int = 0
    peak: int = 0
    tap_writes: int = 0


def replay_fused(steps, layers, residual, capacity, psum_entries=1):
    first = layers[0]
    has_first = first.kind.value in ("pointwise", "conv") and len(layers) >= 2
    H, W0, cin = first.h_in, first.w_in, first.cin
    last = layers[-1]
    Ho, Wo, cout = last.h_out, last.w_out, last.cout
    hidden = last.cin
    # weights per hidden channel: the first conv's column, each depthwise kernel (pooling has
    # none), the last 1x1's row (none when the chain ends on a per-channel stage)
    per_channel_w = (cin * first.kernel[0] * first.kernel[1] if has_first else 0) + sum(
        l.kernel[0] * l.kernel[1] for l in layers if l.kind.value == "depthwise") + (
        last.cout if last.kind.value == "pointwise" else 0)
    producers = {l.name: l for l in layers[:-1]}
    x = np.zeros((H, cin), dtype=bool)      # rows x channels on chip
    w = np.zeros(hidden, dtype=bool)
    inter = {name: np.zeros((l.h_out, hidden), dtype=bool) for name, l in producers.items()}
    y = np.zeros(Ho, dtype=bool)
    covered = np.zeros((Ho, hidden), dtype=bool)
    final = np.zeros(Ho, dtype=bool)
    partial = np.zeros(Ho, dtype=bool)
    r = FusedReplay()
    names = [l.name for l in layers]

    def source_rows(index, rows):
        """Rows of layer ``index``'s input needed for its output ``rows``."""
        layer = layers[index]
        if layer.kind.value == "pointwise":
            return rows
        kh, sh, ph = layer.kernel[0], layer.stride[0], layer.padding[0]
        lo = max(rows[0] * sh - ph, 0)
        hi = min((rows[1] - 1) * sh - ph + kh, layer.h_in)
        return lo, hi

    for n, s in enumerate(steps):
        op, t = _op(s), getattr(s, "operand", None)
        if op == "load" and t == "X":
            lo, hi = s.rows
            c0, c1 = s.cols if s.cols is not None else (0, cin)
            if x[lo:hi, c0:c1].any():
                raise IllegalSchedule(f"step {n}: X rows loaded twice")
            x[lo:hi, c0:c1] = True
            r.x_reads += (hi - lo) * W0 * (c1 - c0)
        elif op == "evict" and t == "X":
            lo, hi = s.rows
            c0, c1 = s.cols if s.cols is not None else (0, cin)
            if not x[lo:hi, c0:c1].all():
                raise IllegalSchedule(f"step {n}: frees X rows not resident")
            x[lo:hi, c0:c1] = False
        elif op == "load" and t == "W":
            c0, c1 = s.cols
            if w[c0:c1].any():
                raise IllegalSchedule(f"step {n}: weights loaded twice")
            w[c0:c1] = True
            r.w_reads += (c1 - c0) * per_channel_w
        elif op == "evict" and t == "W":
            c0, c1 = s.cols
            if not w[c0:c1].all():
                raise IllegalSchedule(f"step {n}: evicts weights not resident")
            w[c0:c1] = False
        elif op == "compute":
            index = names.index(s.layer)
            (lo, hi), (c0, c1) = s.rows, s.cols
            if not w[c0:c1].all():
                raise IllegalSchedule(f"step {n}: {s.layer} without its weights")
            slo, shi = source_rows(index, (lo, hi))
            if index == 0:
                # a first conv reads every channel; a depthwise first stage only its own
                if not (x[slo:shi] if has_first else x[slo:shi, c0:c1]).all():
                    raise IllegalSchedule(f"step {n}: {s.layer} without its X rows")
            elif not inter[names[index - 1]][slo:shi, c0:c1].all():
                raise IllegalSchedule(f"step {n}: {s.layer} without its input rows")
            if index < len(layers) - 1:
                if inter[s.layer][lo:hi, c0:c1].any():
                    raise IllegalSchedule(f"step {n}: {s.layer} output computed twice")
                inter[s.layer][lo:hi, c0:c1] = True
            else:
                if not y[lo:hi].all():
                    if y[lo:hi].any() or covered[lo:hi].any():
                        raise IllegalSchedule(f"step {n}: Y rows neither resident nor fresh")
                    y[lo:hi] = True
                if covered[lo:hi, c0:c1].any():
                    raise IllegalSchedule(f"step {n}: a chunk accumulated twice")
                covered[lo:hi, c0:c1] = True
        elif op == "evict" and t in inter:
            (lo, hi), (c0, c1) = s.rows, s.cols
            if not inter[t][lo:hi, c0:c1].all():
                raise IllegalSchedule(f"step {n}: frees {t} not resident")
            inter[t][lo:hi, c0:c1] = False
        elif op == "store" and t == "Y":
            lo, hi = s.rows
            if not y[lo:hi].all():
                raise IllegalSchedule(f"step {n}: stores Y rows not resident")
            done = covered[lo:hi].all(axis=1)
            if done.all():
                if residual and not x[lo:hi].all():
                    raise IllegalSchedule(f"step {n}: residual add without the input rows on chip")
                final[lo:hi] = True
                r.y_final_writes += (hi - lo) * Wo * cout
            elif not done.any():
                partial[lo:hi] = True
                r.y_psum_writes += (hi - lo) * Wo * cout
            else:
                raise IllegalSchedule(f"step {n}: store mixes final and partial rows")
            y[lo:hi] = False
        elif op == "load" and t == "Y":
            lo, hi = s.rows
            if y[lo:hi].any() or not partial[lo:hi].all() or final[lo:hi].any():
                raise IllegalSchedule(f"step {n}: reads back Y rows without spilled partial sums")
            y[lo:hi] = True
            r.y_psum_reads += (hi - lo) * Wo * cout
        else:
            raise IllegalSchedule(f"step {n}: unknown step {s}")
        held = (x.sum() * W0 + w.sum() * per_channel_w
                + sum(m.sum() * producers[k].w_out for k, m in inter.items())
                + y.sum() * Wo * cout * psum_entries)
        if held > capacity:
            raise IllegalSchedule(f"step {n}: {held} entries resident, capacity {capacity}")
        r.peak = max(r.peak, int(held))
    if not covered.all() or not final.all() or y.any():
        raise IllegalSchedule("some output row is incomplete or not stored")
    return r
