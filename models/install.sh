#!/usr/bin/env bash
# Installs exported CLIP models (the .onnx files and their .json manifests from export_clip.py) into
# $(pg_config --sharedir)/pg_clip/, where clip.image_model / clip.text_model look for relative paths.
# Usage: models/install.sh DIR   (needs write access to the share directory, usually root)
set -euo pipefail
src=${1:?usage: models/install.sh DIR}
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
dest="$("$PG_CONFIG" --sharedir)/pg_clip"
mkdir -p "$dest"
shopt -s nullglob
files=("$src"/*.onnx "$src"/*.json)
if ((${#files[@]} == 0)); then
  echo "no .onnx or .json files in $src" >&2
  exit 1
fi
install -m 0644 "${files[@]}" "$dest/"
echo "installed ${#files[@]} files into $dest"
