"""Tests of `sw/` (the `scanfuse` package stages), mirroring its tree."""
