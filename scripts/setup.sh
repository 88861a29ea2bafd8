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

# With --test, a wheelhouse of kgraph's dependencies and build backend, refreshed with the
# dependency list: tests/test_wheel.py builds and installs the wheel from it, offline.
wheelhouse=".cache/wheelhouse"
if [ -n "$extras" ] && { [ ! -f "$wheelhouse/.stamp" ] || [ pyproject.toml -nt "$wheelhouse/.stamp" ]; }; then
  .venv/bin/python -m pip wheel --quiet --disable-pip-version-check -w "$wheelhouse" \
    "setuptools>=68" wheel .
  rm -f "$wheelhouse"/kgraph-*.whl  # the test builds its own from the sources
  touch "$wheelhouse/.stamp"
fi

# System packages, from Debian, installed only when missing:
# - a Java runtime: owlready2 runs HermiT on it (17 is enough; Pellet is not used);
# - with --test, Virtuoso 7 (tests/engines.py starts it on loopback; Oxigraph server
#   comes with the test extra from PyPI) and wrk (the benchmark's load generator);
# - with --test, chromium: the browser tests drive it through Playwright (tests/browser.py),
#   which downloads no browser of its own.
packages=()
if [ "$need_java" = 1 ] && ! command -v java >/dev/null 2>&1; then
  packages+=(default-jre-headless)
fi
if [ -n "$extras" ] && ! command -v virtuoso-t >/dev/null 2>&1; then
  packages+=(virtuoso-opensource)
fi
if [ -n "$extras" ] && ! command -v wrk >/dev/null 2>&1; then
  packages+=(wrk)
fi
if [ -n "$extras" ] && [ ! -x /usr/bin/chromium ]; then
  packages+=(chromium)
fi
# jemalloc: the query processes preload it when present (about a quarter less CPU per
# engine-bound query, measured; docs/store.md); without it they use glibc's malloc.
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
    ! ls /usr/lib/*-linux-gnu/libjemalloc.so.2 \
    >/dev/null 2>&1; then
  packages+=(libjemalloc2)
fi
if [ "${#packages[@]}" -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing ${packages[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null
  else
    echo "setup: missing ${packages[*]} and no apt-get to install them; the tests that" \
         "need them are skipped locally and fail under CI" >&2
  fi
fi
