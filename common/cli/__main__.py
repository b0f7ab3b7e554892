"""``python -m common.cli``: the ``logo-ann`` command."""

import sys

from common.cli.commands import main

sys.exit(main())
