"""``python -m scanfuse.cli`` is ``scanfuse``."""

import sys

from . import main

sys.exit(main())
