#!/usr/bin/env bash
# Set up kgraph on this machine: a virtualenv with the package (and, with
# --test, the test tools), plus a Java runtime for HermiT when one is missing.
# Idempotent and quiet when everything is already in place.
set -euo pipefail
cd "$(dirname "$0")/.."

extras=""
need_java=0
for arg in "$@"; do
  case "$arg" in
    --test) extras="[test]"; need_java=1 ;;
    --java) need_java=1 ;;
  esac
done

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi

# Reinstall only when the dependency list changed since the last install.
stamp=".venv/.kgraph-installed${extras:+-test}"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".${extras}"
  touch "$stamp"
fi

# owlready2 runs HermiT on a Java runtime (17 is enough; Pellet is not used).
if [ "$need_java" = 1 ] && ! command -v java >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing a Java runtime for HermiT" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq default-jre-headless >/dev/null
  else
    echo "setup: no java found and no apt-get to install it; HermiT tests will fail" >&2
  fi
fi

# The engine tests (tests/engines.py) start Virtuoso 7 on loopback; Oxigraph server
# comes with the test extra (PyPI oxigraph).
if [ -n "$extras" ] && ! command -v virtuoso-t >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing Virtuoso 7 (virtuoso-opensource) for the engine tests" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq virtuoso-opensource >/dev/null
  else
    echo "setup: no virtuoso-t found and no apt-get to install it; engine tests will be skipped (failed under CI)" >&2
  fi
fi
