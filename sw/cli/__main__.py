"""``python -m scanfuse.cli`` is ``scanfuse``."""

import sys

from .main import main

sys.exit(main())
