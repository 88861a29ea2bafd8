"""Serve the kgraph SPARQL 1.1 endpoint.

``python server.py [--host H] [--port P] [--store PATH|:memory:|URL] [--allow-update]
[--workers N] [--threads N] [--query-timeout S] [--update-endpoint URL] [--graph-store URL]``

granian workers answer HTTP; queries run in executor processes that are killed at the
time limit; one writer process owns the store (docs/store.md, "Serving"). The update
token comes from the environment variable ``KGRAPH_TOKEN``. The first line on stdout is
``kgraph listening on http://HOST:PORT/sparql``.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "src"))

from kgraph.serve import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
