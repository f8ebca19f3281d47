"""The old entry point; the formal suite is ``scanfuse formal`` (``make formal``)."""

import sys

if __name__ == "__main__":
    sys.exit("python -m scanfuse.sim.formal is now `scanfuse formal` (same arguments)")
