"""``python tests/w3c/run.py``: the same as ``python -m tests.w3c``."""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from tests.w3c.__main__ import main

    sys.exit(main())
