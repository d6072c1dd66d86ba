#!/usr/bin/env bash
# The whole test suite from a clean clone, as root: set-up, the core crate's tests without PostgreSQL
# (decoding, golden parity, tokenizer, fuzz regression replay: cargo test -p pg_clip_core), the
# extension's #[pg_test]s (cargo pgrx test, server run as `postgres`), then integration tests against a
# real cluster.
# Both levels always run (a failure in the first does not hide the second); the last line is one summary
# over both, and the exit status is non-zero if anything failed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH="$HOME/.cargo/bin:$PATH"
# cargo-pgrx's own --no-gc-sections RUSTFLAGS would make `cargo pgrx install` build the whole dependency tree a
# second time (RUSTFLAGS apply to every crate); build.rs gives the flag to the extension's link only.
export CARGO_PGRX_DISABLE_GC_SECTIONS_WORKAROUND=1
export PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config

bash scripts/setup.sh

# The test cluster's data directory must be writable by postgres (not under a root-owned target/).
testdir=/var/tmp/pg_clip-test
mkdir -p "$testdir"
chown postgres:postgres "$testdir"
rm -rf "$testdir/pgdata"
logs=$(mktemp -d)

echo "== cargo test -p pg_clip_core (no PostgreSQL: decoders, golden parity, tokenizer, fuzz regressions)"
rust_rc=0
cargo test -p pg_clip_core --features onnxruntime 2>&1 | tee "$logs/core.log" || rust_rc=$?

echo "== cargo pgrx test (#[pg_test]s of the SQL surface)"
cargo pgrx test pg15 --runas postgres --pgdata "$testdir/pgdata" 2>&1 | tee "$logs/pg.log" || rust_rc=$?
cat "$logs/core.log" "$logs/pg.log" > "$logs/rust.log"

echo "== install the extension for integration tests"
cargo pgrx install --pg-config "$PG_CONFIG" >/dev/null
# cargo-pgrx installs the generated script of this version and sql/pg_clip--A--B.sql upgrades, not the frozen
# install scripts of earlier versions, which the upgrade test installs first.
install -m 644 sql/pg_clip--0.1.0.sql "$("$PG_CONFIG" --sharedir)/extension/"

echo "== integration tests (real cluster, psql clients)"
it_rc=0
(
  cd tests/integration
  # PG_CLIP_IT_TESTS narrows the run, e.g. PG_CLIP_IT_TESTS="test_embed test_search.RlsTest".
  if [[ -n ${PG_CLIP_IT_TESTS:-} ]]; then
    # shellcheck disable=SC2086  # a list of module names
    python3 -m unittest -v $PG_CLIP_IT_TESTS
  else
    python3 -m unittest discover -v -s . -p 'test_*.py'
  fi
) 2>&1 | tee "$logs/it.log" || it_rc=$?

# PostgreSQL 17, the second supported major (PG_CLIP_PG17=0 skips it): the #[pg_test]s, then the expected-
# output, upgrade and security modules against a PG17 cluster (its own directory and port).
it17=()
if [[ ${PG_CLIP_PG17:-1} != 0 ]]; then
  echo "== PostgreSQL 17: set-up (scripts/pg17-setup.sh), cargo pgrx test pg17, integration modules"
  pg17_config=/opt/pg_clip-pg17/bin/pg_config
  pg17_rc=0
  bash scripts/pg17-setup.sh || pg17_rc=$?
  rm -rf "$testdir/pgdata17"
  if [[ $pg17_rc == 0 ]]; then
    cargo pgrx test pg17 --runas postgres --pgdata "$testdir/pgdata17" 2>&1 | tee "$logs/pg17.log" || rust_rc=$?
  else
    echo "scripts/pg17-setup.sh failed ($pg17_rc): PG17 not tested" | tee "$logs/pg17.log"
    rust_rc=1
  fi
  cat "$logs/pg17.log" >> "$logs/rust.log"
  it17_rc=0
  if [[ $pg17_rc == 0 ]]; then
    (
      cargo pgrx install --pg-config "$pg17_config" --features pg17 --no-default-features >/dev/null
      install -m 644 sql/pg_clip--0.1.0.sql "$("$pg17_config" --sharedir)/extension/"
      cd tests/integration
      PG_CLIP_PG_BIN=$(dirname "$pg17_config") PG_CLIP_IT_DIR=/var/tmp/pg_clip-it17 PG_CLIP_IT_PORT=54429 \
        python3 -m unittest -v ${PG_CLIP_IT17_TESTS:-test_regress test_upgrade test_security}
    ) 2>&1 | tee "$logs/it17.log" || it17_rc=$?
  else
    echo "PG17 integration modules not run" > "$logs/it17.log"
    it17_rc=1
  fi
  it17=("$logs/it17.log" "$it17_rc")
fi

python3 "$root/scripts/test_summary.py" "$logs/rust.log" "$rust_rc" "$logs/it.log" "$it_rc" "${it17[@]}"
