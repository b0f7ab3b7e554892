"""``python -m common.cli``: the ``logo-ann`` command."""

import sys

from common.cli.main import main

sys.exit(main())
