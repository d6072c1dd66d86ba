#!/usr/bin/env bash
# Everything pg_clip needs on a fresh Debian bookworm machine, as root, idempotent:
# Debian packages (PG15, pg_cron, headers, clang), pgvector 0.8.0 from Debian source, cargo-pgrx 0.18.1,
# `cargo pgrx init` against the system PG15, and the committed test models + fixtures in the server's
# share directory (the server runs as `postgres` and must be able to read them wherever the repo lives).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
PGRX_VERSION=0.18.1

if [[ $(id -u) -ne 0 ]]; then
  echo "scripts/setup.sh must run as root (it installs Debian packages)" >&2
  exit 1
fi

bash "$root/pgvector-setup/install-system-deps.sh"
bash "$root/pgvector-setup/install.sh"

export PATH="$HOME/.cargo/bin:$PATH"
if [[ "$(cargo pgrx --version 2>/dev/null)" != "cargo-pgrx $PGRX_VERSION" ]]; then
  # 0.19.x needs rustc 1.96; pin the CLI to the library version in Cargo.toml.
  cargo install cargo-pgrx --version "=$PGRX_VERSION" --locked
fi
# Re-running init rewrites ~/.pgrx/config.toml, which makes pgrx-pg-sys regenerate its bindings: skip it
# when the config already names this pg_config.
if ! grep -qx "pg15 = \"$PG_CONFIG\"" "$HOME/.pgrx/config.toml" 2>/dev/null; then
  cargo pgrx init --pg15 "$PG_CONFIG" >/dev/null
fi

bash "$root/models/install.sh" "$root/models/tiny"
fixtures="$("$PG_CONFIG" --sharedir)/pg_clip/fixtures"
rm -rf "$fixtures"
mkdir -p "$fixtures"
cp -r "$root/tests/images/." "$fixtures/"
chmod -R a+rX "$("$PG_CONFIG" --sharedir)/pg_clip"
# The optional ONNX Runtime engine's library (pinned wheel, sha256-checked), which its tests load.
bash "$root/scripts/onnxruntime-setup.sh" >/dev/null
# The client examples' libraries (psycopg 3, node-postgres), which tests/integration/test_examples.py runs.
bash "$root/examples/setup.sh"
