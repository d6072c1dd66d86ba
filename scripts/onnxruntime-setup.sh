#!/usr/bin/env bash
# The optional ONNX Runtime engine's library (clip.engine = onnxruntime): libonnxruntime.so from the
# onnxruntime PyPI wheel, pinned by version and sha256, unpacked to /opt/pg_clip-onnxruntime where the
# server (running as postgres) can read it. Idempotent; needs PyPI, nothing else. pg_clip never downloads it
# itself: the DBA points clip.onnxruntime_library at this file (or at any libonnxruntime.so >= 1.17).
set -euo pipefail
VERSION=1.32.0
WHEEL="onnxruntime-$VERSION-cp311-cp311-manylinux_2_28_x86_64.whl"
SHA256=5a34fc4dfeb5a7b4a74c95dcba1e773d722abda720b474edf1b0c419dc6d163d
DEST=${PG_CLIP_ONNXRUNTIME_DIR:-/opt/pg_clip-onnxruntime}
LIB="$DEST/libonnxruntime.so.$VERSION"

if [[ -f "$LIB" && -f "$DEST/SHA256SUM" ]] && grep -qx "$SHA256  $WHEEL" "$DEST/SHA256SUM"; then
  echo "$LIB"
  exit 0
fi
if [[ $(uname -m) != x86_64 ]]; then
  echo "scripts/onnxruntime-setup.sh: only the x86_64 wheel is pinned here" >&2
  exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The wheel for a fixed Python/platform tag whatever the local interpreter: the library inside is the same.
python3 -m pip download -q --no-deps --only-binary :all: --python-version 3.11 \
  --platform manylinux_2_28_x86_64 "onnxruntime==$VERSION" -d "$work" >&2
echo "$SHA256  $work/$WHEEL" | sha256sum -c --quiet -
mkdir -p "$DEST"
python3 - "$work/$WHEEL" "$LIB" <<'PY'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open(f"onnxruntime/capi/{sys.argv[2].rsplit('/', 1)[1]}") as src, \
        open(sys.argv[2] + ".tmp", "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
mv "$LIB.tmp" "$LIB"
chmod 0644 "$LIB"
echo "$SHA256  $WHEEL" > "$DEST/SHA256SUM"
echo "$LIB"
