"""Independent replays of step lists: they re-derive what each schedule may do from the
layer shapes alone and count the traffic they see (gemm: GEMM steps; fused: chains;
pipeline: pipelines)."""
