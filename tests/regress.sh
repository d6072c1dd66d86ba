#!/usr/bin/env bash
# pg_regress expected-output tests of the SQL surface (tests/sql/*.sql against tests/expected/*.out), run
# against a running server: tests/regress.sh HOST_OR_SOCKET_DIR PORT [USER]. Output and diffs go to
# $REGRESS_OUT (default: a temporary directory), printed on failure.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
host=$1 port=$2 user=${3:-postgres}
out=${REGRESS_OUT:-$(mktemp -d)}
chmod 777 "$out"
pg_regress="$("${PG_CLIP_PG_BIN:-/usr/lib/postgresql/15/bin}/pg_config" --pkglibdir)/pgxs/src/test/regress/pg_regress"
tests=$(cd "$here/sql" && ls *.sql | sed 's/\.sql$//')
# shellcheck disable=SC2086  # a list of test names
if ! "$pg_regress" --host="$host" --port="$port" --user="$user" --inputdir="$here" --outputdir="$out" \
       --dbname=clip_regress $tests; then
  cat "$out/regression.diffs" >&2
  exit 1
fi
