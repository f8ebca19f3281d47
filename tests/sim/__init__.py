"""Tests of `sim/` (verification code: the `scanfuse sim` command, FPGA layer figures)."""
