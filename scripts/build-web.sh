#!/usr/bin/env bash
# Rebuild src/kgraph/web/static/vendor/ from web/package-lock.json (needs node and npm;
# the runtime and CI do not: the built files are committed). The same lockfile gives the
# same bytes, checked by tests/test_ui_editor.py::test_vendored_files_match_the_manifest.
set -euo pipefail
cd "$(dirname "$0")/../web"
npm ci --no-audit --no-fund --ignore-scripts
node build.mjs
