"""``python -m pyrnn``: the same as the ``pyrnn`` command."""

import sys

from .cli import main

sys.exit(main())
