#!/usr/bin/env bash
# Set up and serve the SPARQL endpoint on the embedded store (./var/store),
# loaded with the ontology and the article's knowledge base on first start.
# Extra arguments go to server.py (--host, --port, --store, --allow-update).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --java
exec .venv/bin/python server.py "$@"
