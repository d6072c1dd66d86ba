#!/usr/bin/env bash
# The client libraries the examples use, idempotent: psycopg 3 in a virtualenv of its own (examples/python/.venv,
# so neither the system's nor pyenv's Python is modified) and node-postgres from package-lock.json
# (examples/node/node_modules). Needs PyPI and npm the first time only.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

venv="$here/python/.venv"
want=$(sed -n 's/^psycopg\[binary\]==//p' "$here/python/requirements.txt")
if [[ "$("$venv/bin/python" -c 'import psycopg; print(psycopg.__version__)' 2>/dev/null)" != "$want" ]]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/python/requirements.txt"
fi

# npm ci installs exactly the lock file; skipped when the installed pg is the locked one.
locked=$(node -e 'console.log(require(process.argv[1]).packages["node_modules/pg"].version)' "$here/node/package-lock.json")
if [[ "$(node -e 'console.log(require(process.argv[1]).version)' "$here/node/node_modules/pg/package.json" 2>/dev/null)" != "$locked" ]]; then
  (cd "$here/node" && npm ci --no-audit --no-fund --loglevel=error)
fi
