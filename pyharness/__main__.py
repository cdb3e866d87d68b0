"""``python -m pyharness``: the command line."""

from __future__ import annotations

import sys

from pyharness.cli import main

if __name__ == "__main__":
    sys.exit(main())
