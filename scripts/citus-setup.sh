#!/usr/bin/env bash
# Builds and installs Citus into PostgreSQL 15 from a source tarball, for pg_clip's own tests and demo.
# Real deployments install Citus from its packages (postgresql-15-citus-13.2 from Citus's or PGDG's apt
# repository); this script exists because no registry these machines reach ships Citus for bookworm
# (../shared/vendor/README.md).
#
#   CITUS_SRC    the tarball (default ../shared/vendor/citus-13.2.2.tar.gz, next to the repository)
#   CITUS_PATCH  a patch applied with -p1 in the source tree; default: the shared PG 15.20 header patch when
#                it sits beside the default tarball, none otherwise; "none" disables it
#   PG_CONFIG    default /usr/lib/postgresql/15/bin/pg_config
#
# Idempotent: does nothing when citus.so of the tarball's version is installed. Needs root (apt-get, make
# install into the server's directories). Prints "citus-setup: unavailable: <why>" and exits 3 when the
# tarball is absent, so callers can tell "cannot" from "failed".
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
vendor=$(cd "$here/.." && pwd)/shared/vendor
CITUS_SRC=${CITUS_SRC:-$vendor/citus-13.2.2.tar.gz}
if [[ -z ${CITUS_PATCH+x} ]]; then
  CITUS_PATCH=
  [[ $CITUS_SRC == "$vendor/citus-13.2.2.tar.gz" && -f $vendor/citus-13.2.2-pg15-have_createdb_privilege.patch ]] \
    && CITUS_PATCH=$vendor/citus-13.2.2-pg15-have_createdb_privilege.patch
fi
[[ $CITUS_PATCH == none ]] && CITUS_PATCH=

if [[ ! -f $CITUS_SRC ]]; then
  echo "citus-setup: unavailable: no Citus source tarball at $CITUS_SRC (set CITUS_SRC)" >&2
  exit 3
fi
# The version is the tarball's top directory (git archive --prefix=citus-X.Y.Z/).
# `|| true`: head closes the pipe early, and tar dying of SIGPIPE is not a failure here.
top=$(tar tzf "$CITUS_SRC" 2>/dev/null | head -1 | cut -d/ -f1 || true)
version=${top#citus-}
[[ $version =~ ^[0-9]+\.[0-9]+(\.[0-9]+)?$ ]] || { echo "citus-setup: cannot tell the version of $CITUS_SRC ($top)" >&2; exit 2; }

installed_version() {
  local control
  control="$("$PG_CONFIG" --sharedir)/extension/citus.control"
  [[ -f $control && -f "$("$PG_CONFIG" --pkglibdir)/citus.so" ]] || return 0
  # citus.control's default_version is the extension version ("13.2-1"); the library knows the release.
  strings "$("$PG_CONFIG" --pkglibdir)/citus.so" | sed -n 's/^Citus \([0-9][0-9.]*\) on .*/\1/p' | head -1
}
if [[ $(installed_version) == "$version" ]]; then
  echo "citus-setup: Citus $version already installed for $("$PG_CONFIG" --version)"
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive
DEPS=(autoconf flex libicu-dev libkrb5-dev liblz4-dev libpam0g-dev libreadline-dev libselinux1-dev libssl-dev
      libxslt1-dev libzstd-dev uuid-dev postgresql-server-dev-15 binutils make gcc)
missing=()
for p in "${DEPS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

work=$(mktemp -d /tmp/citus-build.XXXXXX)
trap 'rm -rf "$work"' EXIT
tar xzf "$CITUS_SRC" -C "$work"
cd "$work/$top"
if [[ -n $CITUS_PATCH ]]; then
  patch -s -p1 < "$CITUS_PATCH"
fi
# libcurl only serves Citus's anonymous usage statistics, which a test cluster must not send anyway.
./configure -q --without-libcurl PG_CONFIG="$PG_CONFIG" >/dev/null
make -s -j"$(nproc)" >/dev/null
make -s install >/dev/null
echo "citus-setup: installed Citus $(installed_version) into $("$PG_CONFIG" --pkglibdir)"
