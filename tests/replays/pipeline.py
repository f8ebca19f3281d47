"""Independent replay of pipeline step lists (scanfuse.schedule.fused.pipeline_steps).

Tracks, per tensor between segments, which rows are finished and on chip; per segment, which
(row, hidden channel) pairs were accumulated; per layer, which temporary rows and channels
exist; per segment, which weight channels are resident. Checks every compute's inputs
(including depthwise halo rows, recomputed here), residual sources at the moment a row
completes, capacity after every step, that every row of a tapped tensor is stored once after
it is finished, and counts the traffic.
"""

import numpy as np

from .fused import FusedReplay
from .gemm import IllegalSchedule
from scanfuse.schedule.steps import ComputeRows, Evict, Load, Store


def _op(step) -> str:
    """The kind of a typed step (scanfuse.schedule.steps), as this replay names it."""
    return {Load: "load", Evict: "evict", Store: "store", ComputeRows: "compute"}[type(step)]


def replay_pipeline(steps, pipeline, capacity, psum_entries=1):
    segs = pipeline.segments
    n = len(segs)
    shapes = [pipeline.tensor_shape(i) for i in range(n + 1)]
    done = [np.zeros(shapes[i][0], dtype=bool) for i in range(n + 1)]   # finished rows on chip
    cover = [None] + [np.zeros((shapes[i][0], segs[i - 1].hidden), dtype=bool) for i in range(1, n + 1)]
    stored = np.zeros(shapes[n][0], dtype=bool)
    tapped = {t: np.zeros(shapes[t][0], dtype=bool) for t in pipeline.taps}   # rows stored
    units = pipeline.weight_units
    weights = [np.zeros(u.hidden, dtype=bool) for u in units]
    proj_cover = [np.zeros((shapes[pr.dst][0], pr.hidden), dtype=bool) for pr in pipeline.projections]
    proj_of = {pr.layer.name: (k, pr) for k, pr in enumerate(pipeline.projections)}
    where = {}
    for si, seg in enumerate(segs, start=1):
        for pos, layer in enumerate(seg.layers):
            where[layer.name] = (si, pos, layer)
    temps = {name: np.zeros((l.h_out, segs[si - 1].hidden), dtype=bool)
             for name, (si, pos, l) in where.items() if pos < len(segs[si - 1].layers) - 1}
    r = FusedReplay()

    def rows_needed(layer, lo, hi):
        if layer.kind.value == "pointwise":
            return lo, hi
        kh, sh, ph = layer.kernel[0], layer.stride[0], layer.padding[0]
        return max(lo * sh - ph, 0), min((hi - 1) * sh - ph + kh, layer.h_in)

    def held():
        total = 0
        for i in range(n):                          # X and the tensors between segments
            total += done[i].sum() * shapes[i][1] * shapes[i][2]
        for i in range(1, n + 1):                   # accumulating rows
            started = cover[i].any(axis=1)
            for pc, pr in zip(proj_cover, pipeline.projections):
                if pr.dst == i:
                    started |= pc.any(axis=1)
            total += (started & ~done[i]).sum() * shapes[i][1] * shapes[i][2] * psum_entries
        total += (done[n] & ~stored).sum() * shapes[n][1] * shapes[n][2] * psum_entries
        total += sum(w.sum() * u.weights_per_channel for w, u in zip(weights, units))
        total += sum(m.sum() * where[name][2].w_out for name, m in temps.items())
        return int(total)

    def finish(i, lo, hi, k):
        """Rows of T_i whose every contribution is in become finished, held rows."""
        complete = cover[i][lo:hi].all(axis=1)
        for pc, pr in zip(proj_cover, pipeline.projections):
            if pr.dst == i:
                complete &= pc[lo:hi].all(axis=1)
        for row in np.flatnonzero(complete) + lo:
            for src, dst in pipeline.residuals:
                if dst == i and not done[src][row]:
                    raise IllegalSchedule(f"step {k}: residual source T{src} row {row} not on chip")
            done[i][row] = True
            cover[i][row] = False      # finished: now counted as a held row
            for pc, pr in zip(proj_cover, pipeline.projections):
                if pr.dst == i:
                    pc[row] = False

    for k, s in enumerate(steps):
        op, t = _op(s), getattr(s, "operand", None)
        if op in ("load", "evict") and (t == "X" or (t or "").startswith("T")) and t not in temps:
            i = 0 if t == "X" else int(t[1:])
            lo, hi = s.rows
            if op == "load":
                if i != 0 or done[0][lo:hi].any():
                    raise IllegalSchedule(f"step {k}: bad load of {t}")
                done[0][lo:hi] = True
                r.x_reads += (hi - lo) * shapes[0][1] * shapes[0][2]
            else:
                if not done[i][lo:hi].all():
                    raise IllegalSchedule(f"step {k}: frees {t} rows not on chip")
                done[i][lo:hi] = False
        elif op in ("load", "evict") and t.startswith("W"):
            i = int(t[1:]) - 1
            c0, c1 = s.cols
            if op == "load":
                if weights[i][c0:c1].any():
                    raise IllegalSchedule(f"step {k}: weights loaded twice")
                weights[i][c0:c1] = True
                r.w_reads += (c1 - c0) * units[i].weights_per_channel
            else:
                if not weights[i][c0:c1].all():
                    raise IllegalSchedule(f"step {k}: evicts weights not resident")
                weights[i][c0:c1] = False
        elif op == "compute" and s.layer in proj_of:
            k, pr = proj_of[s.layer]
            (lo, hi), (c0, c1) = s.rows, s.cols
            if not weights[n + k][c0:c1].all():
                raise IllegalSchedule(f"step {k}: projection without its weights")
            stride = pr.layer.stride[0]
            if not done[pr.src][lo * stride:(hi - 1) * stride + 1:stride].all():
                raise IllegalSchedule(f"step {k}: projection without its source rows")
            if proj_cover[k][lo:hi, c0:c1].any() or done[pr.dst][lo:hi].any():
                raise IllegalSchedule(f"step {k}: projection accumulates a chunk twice")
            proj_cover[k][lo:hi, c0:c1] = True
            finish(pr.dst, lo, hi, k)
        elif op == "compute":
            si, pos, layer = where[s.layer]
            seg = segs[si - 1]
            (lo, hi), (c0, c1) = s.rows, s.cols
            if not weights[si - 1][c0:c1].all():
                raise IllegalSchedule(f"step {k}: {layer.name} without its weights")
            slo, shi = rows_needed(layer, lo, hi)
            last = pos == len(seg.layers) - 1
            if pos == 0:
                if not done[si - 1][slo:shi].all():
                    raise IllegalSchedule(f"step {k}: {layer.name} without its input rows")
            elif not temps[seg.layers[pos - 1].name][slo:shi, c0:c1].all():
                raise IllegalSchedule(f"step {k}: {layer.name} without its input chunk")
            if not last:
                if temps[layer.name][lo:hi, c0:c1].any():
                    raise IllegalSchedule(f"step {k}: {layer.name} computed twice")
                temps[layer.name][lo:hi, c0:c1] = True
                continue
            if cover[si][lo:hi, c0:c1].any() or done[si][lo:hi].any():
                raise IllegalSchedule(f"step {k}: {layer.name} accumulates a chunk twice")
            cover[si][lo:hi, c0:c1] = True
            finish(si, lo, hi, k)
        elif op == "evict" and t in temps:
            (lo, hi), (c0, c1) = s.rows, s.cols
            if not temps[t][lo:hi, c0:c1].all():
                raise IllegalSchedule(f"step {k}: frees {t} not resident")
            temps[t][lo:hi, c0:c1] = False
        elif op == "store" and t in {f"T{i}" for i in tapped}:
            i = int(t[1:])
            lo, hi = s.rows
            if not done[i][lo:hi].all() or tapped[i][lo:hi].any():
                raise IllegalSchedule(f"step {k}: stores unfinished or stored {t} rows")
            tapped[i][lo:hi] = True
            done[i][lo:hi] = False
            r.tap_writes += (hi - lo) * shapes[i][1] * shapes[i][2]
        elif op == "store" and t == "Y":
            lo, hi = s.rows
            if not done[n][lo:hi].all() or stored[lo:hi].any():
                raise IllegalSchedule(f"step {k}: stores unfinished or stored Y rows")
            stored[lo:hi] = True
            r.y_final_writes += (hi - lo) * shapes[n][1] * shapes[n][2]
        else:
            raise IllegalSchedule(f"step {k}: unknown step {s}")
        now = held()
        if now > capacity:
            raise IllegalSchedule(f"step {k}: {now} entries resident, capacity {capacity}")
        r.peak = max(r.peak, now)
    if (not stored.all() or any(d.any() for d in done[:n]) or any(w.any() for w in weights)
            or not all(m.all() for m in tapped.values())):
        raise IllegalSchedule("output incomplete or buffers left on chip")
    return r
