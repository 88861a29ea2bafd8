"""Serve the kgraph SPARQL 1.1 endpoint: ``python server.py [--host H] [--port P] [--store PATH] [--allow-update]``.

The update token comes from the environment variable ``KGRAPH_TOKEN``.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "src"))

from kgraph.serve import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
