#!/usr/bin/env bash
# Adds the one apt entry pg_clip's source builds use: Debian trixie's *source* packages (deb-src only; a
# trixie `deb` entry would let apt mix releases into the bookworm system), then refreshes the index.
# Sourced or run by pgvector-setup/install.sh and scripts/pg17-setup.sh; idempotent; needs root.
set -euo pipefail
list=/etc/apt/sources.list.d/pg_clip-trixie-src.sources
if [[ ! -f $list ]]; then
  cat > "$list" <<SRC
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi
apt-get update -qq
