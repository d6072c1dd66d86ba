#!/usr/bin/env bash
# Builds a Debian package of pg_clip for one PostgreSQL major: pg-clip_<version>_<arch>.deb with the library,
# the control file, the install script of this version, the frozen install scripts of earlier versions and
# the upgrade scripts, the BPE vocabulary (with its licence) and a README saying where the models go.
#
#   scripts/package.sh [--profile release|dev|NAME] [--out DIR]
#
# --profile release (the default) is what to ship: fat LTO, one codegen unit, a build of its own (measured in
# README "Packages"). --profile dev packages the build the test suite already has (deps at opt-level 3, pg_clip
# itself at 1, no LTO): seconds instead of a second full build, which is what the suite's package test uses; do
# not ship it. Needs cargo-pgrx (scripts/setup.sh) and dpkg-dev. Runs as any user that can build.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH="$HOME/.cargo/bin:$PATH"
# cargo-pgrx's own --no-gc-sections RUSTFLAGS would make `cargo pgrx install` build the whole dependency tree a
# second time (RUSTFLAGS apply to every crate); build.rs gives the flag to the extension's link only.
export CARGO_PGRX_DISABLE_GC_SECTIONS_WORKAROUND=1
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
profile=release
out="$root/dist"
while (($#)); do
  case $1 in
    --profile) profile=${2:?}; shift 2 ;;
    --out) out=${2:?}; shift 2 ;;
    *) echo "usage: $0 [--profile release|dev|NAME] [--out DIR]" >&2; exit 2 ;;
  esac
done

pgmajor=$("$PG_CONFIG" --version | sed -E 's/^PostgreSQL ([0-9]+).*/\1/')
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
arch=$(dpkg --print-architecture)
pkglibdir=$("$PG_CONFIG" --pkglibdir)
sharedir=$("$PG_CONFIG" --sharedir)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
stage="$work/root"

echo "== cargo pgrx package --profile $profile (PostgreSQL $pgmajor)"
start=$SECONDS
cargo pgrx package --pg-config "$PG_CONFIG" --profile "$profile" --out-dir "$stage" >"$work/build.log" 2>&1 ||
  { tail -40 "$work/build.log" >&2; exit 1; }
echo "   built in $((SECONDS - start)) s"

lib="$stage$pkglibdir/pg_clip.so"
ext="$stage$sharedir/extension"
test -f "$lib" && test -f "$ext/pg_clip.control" && test -f "$ext/pg_clip--$version.sql" ||
  { echo "cargo pgrx package did not produce the library, control file and pg_clip--$version.sql" >&2; exit 1; }
# cargo-pgrx packages the generated script of this version and the sql/pg_clip--A--B.sql upgrades, not the
# frozen install scripts of released versions: without them CREATE EXTENSION ... VERSION '0.1.0' (and so a
# dump of a 0.1.0 database) would fail on a packaged server.
for f in sql/pg_clip--*.sql; do
  [[ -e $ext/${f#sql/} ]] || install -m 644 "$f" "$ext/"
done
# Debuginfo is most of a dev build's size and nothing in a server uses it; the symbols PostgreSQL looks up stay.
strip --strip-debug "$lib"
chmod 644 "$lib"

share="$stage$sharedir/pg_clip"
install -d "$share" "$stage/usr/share/doc/pg-clip"
# The tokenizer has the vocabulary compiled in; the file ships for reference next to its licence.
install -m 644 models/bpe_simple_vocab_16e6.txt.gz models/bpe_simple_vocab_16e6.LICENSE "$share/"
cat >"$share/README.models" <<EOF
pg_clip $version: no model weights are packaged.

clip.image_model / clip.text_model (defaults pg_clip/clip-vit-b-32-openai-{image,text}.onnx) are resolved
relative to this directory ($sharedir). Export the OpenAI ViT-B/32 towers with the project's
models/export_clip.py and install them here with models/install.sh (README "Real weights"), e.g.

    python3 models/export_clip.py --mode pretrained --out models/openai && models/install.sh models/openai

bpe_simple_vocab_16e6.txt.gz is the tokenizer's vocabulary (compiled into pg_clip.so; licence alongside).
EOF
install -m 644 README.md "$stage/usr/share/doc/pg-clip/README.md"
{
  echo "pg_clip: MIT licence."
  echo
  echo "bpe_simple_vocab_16e6.txt.gz (OpenAI CLIP):"
  cat models/bpe_simple_vocab_16e6.LICENSE
} >"$stage/usr/share/doc/pg-clip/copyright"
chmod 644 "$stage/usr/share/doc/pg-clip/copyright"

# Library dependencies as Debian computes them (libc6, libgcc-s1), from the library's NEEDED entries; the
# PostgreSQL symbols it uses come from the server binary and are not a library dependency.
mkdir -p "$work/src/debian"
printf 'Source: pg-clip\n\nPackage: pg-clip\nArchitecture: any\n' >"$work/src/debian/control"
shlibs=$(cd "$work/src" && dpkg-shlibdeps -O --warnings=0 -e"$lib" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')

install -d "$stage/DEBIAN"
cat >"$stage/DEBIAN/control" <<EOF
Package: pg-clip
Version: $version
Architecture: $arch
Maintainer: pg_clip developers <pg-clip@localhost>
Installed-Size: $(du -sk --exclude=DEBIAN "$stage" | cut -f1)
Depends: postgresql-$pgmajor${shlibs:+, $shlibs}
Section: database
Priority: optional
Description: CLIP ViT-B/32 image and text embeddings inside PostgreSQL $pgmajor
 pg_clip computes CLIP embeddings of images (bytea) and texts in the server, as pgvector vectors,
 with scene search, tenant isolation and backfill. CREATE EXTENSION pg_clip CASCADE also needs
 pgvector 0.8 (not packaged for Debian bookworm: build it from source). No model weights are
 included: see $sharedir/pg_clip/README.models.
EOF

mkdir -p "$out"
deb="$out/pg-clip_${version}_${arch}.deb"
start=$SECONDS
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
echo "   packed in $((SECONDS - start)) s"
echo "$deb ($(du -h "$deb" | cut -f1))"
