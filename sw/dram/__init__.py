"""DRAM layout, burst traces, timing and energy (DRAMSim2-style accounting)."""
