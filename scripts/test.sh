#!/usr/bin/env bash
# The whole test suite from a clean clone, as root: set-up, Rust unit + golden parity tests and
# #[pg_test]s (cargo pgrx test, server run as `postgres`), then integration tests against a real cluster.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH="$HOME/.cargo/bin:$PATH"
export PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config

bash scripts/setup.sh

# The test cluster's data directory must be writable by postgres (not under a root-owned target/).
testdir=/var/tmp/pg_clip-test
mkdir -p "$testdir"
chown postgres:postgres "$testdir"
rm -rf "$testdir/pgdata"

echo "== cargo pgrx test (unit, golden parity, #[pg_test])"
cargo pgrx test pg15 --runas postgres --pgdata "$testdir/pgdata"

echo "== install the extension for integration tests"
cargo pgrx install --pg-config "$PG_CONFIG" >/dev/null

echo "== integration tests (real cluster, psql clients)"
cd tests/integration
# PG_CLIP_IT_TESTS narrows the run, e.g. PG_CLIP_IT_TESTS="test_embed test_search.RlsTest".
if [[ -n ${PG_CLIP_IT_TESTS:-} ]]; then
  # shellcheck disable=SC2086  # a list of module names
  python3 -m unittest -v $PG_CLIP_IT_TESTS
else
  python3 -m unittest discover -v -s . -p 'test_*.py'
fi
