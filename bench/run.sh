#!/usr/bin/env bash
# One command for the benchmark: set-up (scripts/setup.sh), the reference Python stack in /opt/clipref
# (torch, open_clip, onnxruntime, tract's Python wheel, psycopg), a release build of pg_clip in its own target
# dir (so test builds cannot replace the library under a running benchmark), then bench/run.py.
# Needs root and the package registries; the first run downloads a few GB (torch) and builds for ~20 min.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH="$HOME/.cargo/bin:$PATH"
bash scripts/setup.sh
if [[ ! -x /opt/clipref/bin/python3 ]]; then
  python3 -m venv /opt/clipref
fi
/opt/clipref/bin/pip install -q "torch" "open_clip_torch==3.3.0" "onnxruntime==1.32.0" "onnx" "onnxscript" \
  "tract==0.23.9" "psycopg[binary]" "pillow" "numpy"
CARGO_TARGET_DIR=${PG_CLIP_RELEASE_TARGET:-/var/tmp/pgclip-release} \
  cargo pgrx install --release --pg-config /usr/lib/postgresql/15/bin/pg_config >/dev/null
exec python3 bench/run.py "$@"
