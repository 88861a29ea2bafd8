#!/usr/bin/env bash
# Set up and run the whole test suite (unit, integration over HTTP, W3C
# conformance, reasoning). Extra arguments go to pytest, e.g. -m "not slow".
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
.venv/bin/ruff check src tests bench server.py
exec .venv/bin/python -m pytest "$@"
