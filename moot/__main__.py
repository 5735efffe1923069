"""``python -m moot``: the ``moot`` command."""

import sys

from moot.tui.cli import main

sys.exit(main())
