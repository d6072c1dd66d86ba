#!/usr/bin/env bash
# Builds and installs pgvector 0.8.0 for PostgreSQL 15 from Debian's source package.
# Bookworm ships no pgvector binary; trixie ships 0.8.0-1 as source. Only a deb-src entry for trixie is
# added (never a deb entry: that would let apt mix releases into the system). Idempotent; needs root.
set -euo pipefail
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
VERSION=0.8.0
DEB_VERSION=0.8.0-1
here=$(cd "$(dirname "$0")" && pwd)

installed_version() {
  local control
  control="$("$PG_CONFIG" --sharedir)/extension/vector.control"
  [[ -f $control ]] && sed -n "s/^default_version = '\(.*\)'/\1/p" "$control"
}
if [[ $(installed_version) == "$VERSION" && -f "$("$PG_CONFIG" --pkglibdir)/vector.so" ]]; then
  echo "pgvector $VERSION already installed for $("$PG_CONFIG" --version)"
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive
bash "$here/trixie-src.sh"
command -v dpkg-source >/dev/null || apt-get install -y -qq dpkg-dev

work=$(mktemp -d /tmp/pgvector-build.XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$work"
# --download-only + dpkg-source -x: we need the patched tree, not a Debian build of every PG version.
apt-get source --download-only "pgvector=$DEB_VERSION"
dpkg-source --no-check -x pgvector_*.dsc src >/dev/null
cd src
make -s PG_CONFIG="$PG_CONFIG" OPTFLAGS="" -j"$(nproc)"
make -s PG_CONFIG="$PG_CONFIG" install
echo "installed pgvector $(installed_version) into $("$PG_CONFIG" --pkglibdir)"
