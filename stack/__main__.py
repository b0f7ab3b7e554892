"""``python -m stack up | down | status`` (``make stack`` / ``make stack-down``)."""

import sys

from stack.core import main

sys.exit(main())
