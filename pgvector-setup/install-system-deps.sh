#!/usr/bin/env bash
# Installs the Debian packages pg_clip builds and tests against: PostgreSQL 15 (server, headers, pg_cron),
# sudo (the test harness runs the cluster as the unprivileged postgres user) and the tools to build
# pgvector from Debian's source package. Idempotent; needs root.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
PKGS=(postgresql-15 postgresql-server-dev-15 postgresql-15-cron postgresql-client-15 libclang-dev clang
      sudo dpkg-dev build-essential pkg-config ca-certificates curl)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# Debian's postgresql-common creates a default 'main' cluster on install; pg_clip never uses it and it would
# hold port 5432, so stop it (harmless when absent).
if command -v pg_ctlcluster >/dev/null && pg_lsclusters -h 2>/dev/null | grep -q '^15 main'; then
  pg_ctlcluster 15 main stop 2>/dev/null || true
fi
