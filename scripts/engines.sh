#!/usr/bin/env bash
# Install and start the SPARQL engines kgraph is tested on (docs/engines.md).
#
#   scripts/engines.sh install                     # oxigraph (PyPI, in .venv) + virtuoso-t (apt)
#   scripts/engines.sh oxigraph DIR [PORT]         # Oxigraph server on 127.0.0.1:PORT (7878)
#   scripts/engines.sh virtuoso DIR [PORT [SQLPORT]]  # Virtuoso 7 on 127.0.0.1:PORT (8890)
#
# Both run in the foreground (Ctrl-C stops them) with their database in DIR, and
# print the kgraph command line that uses them. Virtuoso's dba password is set to
# $VIRTUOSO_PASSWORD (default: a random one, printed) before kgraph is pointed at it.
set -euo pipefail
cd "$(dirname "$0")/.."

install() {
  if [ ! -x .venv/bin/oxigraph ]; then
    .venv/bin/python -m pip install --quiet --disable-pip-version-check "oxigraph>=0.5,<0.6"
  fi
  if ! command -v virtuoso-t >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1; then
      echo "engines: installing virtuoso-opensource" >&2
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq virtuoso-opensource >/dev/null
    else
      echo "engines: no virtuoso-t and no apt-get to install it" >&2
      return 1
    fi
  fi
}

oxigraph() {
  local dir=$1 port=${2:-7878}
  mkdir -p "$dir"
  local base="http://127.0.0.1:$port"
  echo "kgraph: python server.py --store $base/query --update-endpoint $base/update --graph-store $base/store" >&2
  # --timeout-s: Oxigraph server does not stop a query whose client has gone away.
  exec .venv/bin/oxigraph serve --location "$dir/db" --bind "127.0.0.1:$port" --timeout-s 60
}

virtuoso() {
  local dir; dir=$(realpath -m "$1")
  local port=${2:-8890} sql=${3:-1111}
  local password=${VIRTUOSO_PASSWORD:-kg-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')}
  local root=/var/lib/virtuoso-opensource-7/vsp
  [ -d "$root" ] || { root="$dir/vsp"; mkdir -p "$root"; }
  mkdir -p "$dir/db"
  cat > "$dir/virtuoso.ini" <<EOF
[Database]
DatabaseFile = $dir/db/virtuoso.db
ErrorLogFile = $dir/db/virtuoso.log
LockFile = $dir/db/virtuoso.lck
TransactionFile = $dir/db/virtuoso.trx
xa_persistent_file = $dir/db/virtuoso.pxa
ErrorLogLevel = 7
FileExtend = 200
Striping = 0
TempStorage = TempDatabase

[TempDatabase]
DatabaseFile = $dir/db/virtuoso-temp.db
TransactionFile = $dir/db/virtuoso-temp.trx

[Parameters]
ServerPort = 127.0.0.1:$sql
DisableUnixSocket = 1
CaseMode = 2
DirsAllowed = ., $dir
NumberOfBuffers = 50000
MaxDirtyBuffers = 37500

[HTTPServer]
ServerPort = 127.0.0.1:$port
ServerRoot = $root
ServerThreads = 10
Charset = UTF-8

[SPARQL]
; never cut an answer silently; kgraph sends its own time limit with every request
ResultSetMaxRows = 100000000
MaxQueryExecutionTime = 0
MaxQueryCostEstimationTime = 0
EOF
  virtuoso-t +foreground +configfile "$dir/virtuoso.ini" &
  local pid=$!
  trap 'kill $pid 2>/dev/null; wait $pid' INT TERM
  for _ in $(seq 1 120); do
    curl -sf -o /dev/null "http://127.0.0.1:$port/sparql?query=ASK%7B%7D" && break
    sleep 0.5
  done
  # A database created just now still has the default password; change it.
  isql-vt "127.0.0.1:$sql" dba dba "exec=user_set_password('dba', '$password');" >/dev/null 2>&1 \
    && echo "engines: Virtuoso dba password set to: $password" >&2 \
    || echo "engines: dba password unchanged (database not new?)" >&2
  local base="http://127.0.0.1:$port"
  echo "kgraph: KGRAPH_STORE_AUTH=digest KGRAPH_STORE_USER=dba KGRAPH_STORE_PASSWORD=... \\" >&2
  echo "  python server.py --store $base/sparql --update-endpoint $base/sparql-auth --graph-store $base/sparql-graph-crud-auth" >&2
  wait $pid
}

case "${1:-}" in
  install) install ;;
  oxigraph) shift; oxigraph "${1:?DIR}" "${2:-}" ;;
  virtuoso) shift; virtuoso "${1:?DIR}" "${2:-}" "${3:-}" ;;
  *) sed -n '2,10p' "$0"; exit 2 ;;
esac
