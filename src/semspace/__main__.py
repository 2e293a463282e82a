"""``python -m semspace`` is the ``semspace`` command."""

import sys

from semspace.cli import main

sys.exit(main())
