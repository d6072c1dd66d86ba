#!/usr/bin/env bash
# PostgreSQL 17 as the second supported major, on Debian bookworm (which ships only 15): the server built
# from Debian trixie's postgresql-17 *source* package (the same deb-src entry pgvector-setup adds; never a
# trixie `deb` entry) into a prefix of its own, pgvector 0.8.0 for it from its source package, and cargo-pgrx
# initialised for both majors. Only the server, its headers and pg_regress are built (no contrib, no docs,
# no LLVM JIT): what an extension is built and tested against. Idempotent; needs root.
#
#   scripts/pg17-setup.sh            # -> /opt/pg_clip-pg17/bin/pg_config
#   PG17_PREFIX=/somewhere scripts/pg17-setup.sh
#
# Real users install postgresql-17 and postgresql-server-dev-17 from their distribution or PGDG instead.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
PG17_PREFIX=${PG17_PREFIX:-/opt/pg_clip-pg17}
DEB_VERSION=${PG17_DEB_VERSION:-17.11-0+deb13u1}
export PATH="$HOME/.cargo/bin:$PATH" DEBIAN_FRONTEND=noninteractive
pg_config=$PG17_PREFIX/bin/pg_config
stamp=$PG17_PREFIX/.pg_clip-built-from

# The source package through apt when the index and the pool agree; otherwise (seen here: the index already
# listed 17.12 while the pool still served 17.9-17.11) the files straight from the pool, each checked
# against the sha256 the .dsc lists for it.
fetch_source() {
  local v=$1 pool=http://deb.debian.org/debian/pool/main/p/postgresql-17 f sum
  if apt-get source --download-only "postgresql-17=$v" >/dev/null 2>&1; then
    return 0
  fi
  curl -fsS -O "$pool/postgresql-17_${v}.dsc"
  sed -n '/^Checksums-Sha256:/,/^[A-Z]/p' "postgresql-17_${v}.dsc" | awk 'NF == 3 {print $1, $3}' |
    while read -r sum f; do
      curl -fsS -O "$pool/$f"
      echo "$sum  $f" | sha256sum -c --quiet -
    done
}

if [[ -x $pg_config && $(cat "$stamp" 2>/dev/null) == "$DEB_VERSION" ]]; then
  echo "PostgreSQL $("$pg_config" --version) already built in $PG17_PREFIX"
else
  bash "$root/pgvector-setup/trixie-src.sh"
  # The server's own build dependencies that configure needs with the options below (all in bookworm).
  apt-get install -y -qq --no-install-recommends dpkg-dev build-essential bison flex curl libicu-dev \
    libreadline-dev zlib1g-dev libssl-dev liblz4-dev libzstd-dev pkgconf >/dev/null
  work=$(mktemp -d /var/tmp/pg17-build.XXXXXX)
  trap 'rm -rf "$work"' EXIT
  cd "$work"
  fetch_source "$DEB_VERSION"
  # Upstream layout (--skip-patches): Debian's patches move pkglibdir to /usr/lib/postgresql/17/lib, outside
  # the prefix, where a real postgresql-17 package would later put its own files.
  dpkg-source --no-check --skip-patches -x "postgresql-17_${DEB_VERSION}.dsc" src >/dev/null
  cd src
  ./configure --prefix="$PG17_PREFIX" --without-llvm --with-icu --with-openssl --with-lz4 --with-zstd >/dev/null
  make -s -j"$(nproc)" >/dev/null
  make -s install >/dev/null
  # pg_regress for the expected-output tests (pgxs looks for it under lib/pgxs).
  make -s -C src/test/regress install >/dev/null 2>&1 || true
  echo "$DEB_VERSION" > "$stamp"
  echo "built $("$pg_config" --version) into $PG17_PREFIX"
  cd "$root"
fi

# pgvector for PG17 (same source package and script as for PG15).
PG_CONFIG=$pg_config bash "$root/pgvector-setup/install.sh"

# cargo-pgrx knows both majors (init writes ~/.pgrx/config.toml; it does not download anything).
if ! grep -q "^pg17 = \"$pg_config\"" "$HOME/.pgrx/config.toml" 2>/dev/null; then
  cargo pgrx init --pg15 /usr/lib/postgresql/15/bin/pg_config --pg17 "$pg_config" >/dev/null
fi

# The server runs as postgres: the test models and fixtures where PG17 looks for them (as scripts/setup.sh
# does for PG15).
PG_CONFIG=$pg_config bash "$root/models/install.sh" "$root/models/tiny" >/dev/null
fixtures="$("$pg_config" --sharedir)/pg_clip/fixtures"
rm -rf "$fixtures"
mkdir -p "$fixtures"
cp -r "$root/tests/images/." "$fixtures/"
chmod -R a+rX "$("$pg_config" --sharedir)/pg_clip"
echo "PG17 ready: $pg_config"
