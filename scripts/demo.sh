#!/usr/bin/env bash
# The main job, from a clean clone, as root: set everything up, build and install pg_clip,
# start a throwaway PG15 cluster, load the sample images into a scenes table, embed them, build the HNSW
# index, and print image-to-image (and text-to-image) search results.
#
# Uses real CLIP weights when they are installed (models/install.sh after export_clip.py --mode
# pretrained); otherwise the committed tiny fixed-seed model, whose rankings are not meaningful.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH="$HOME/.cargo/bin:$PATH"
# cargo-pgrx's own --no-gc-sections RUSTFLAGS would make `cargo pgrx install` build the whole dependency tree a
# second time (RUSTFLAGS apply to every crate); build.rs gives the flag to the extension's link only.
export CARGO_PGRX_DISABLE_GC_SECTIONS_WORKAROUND=1
export PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
PG_BIN=/usr/lib/postgresql/15/bin

bash scripts/setup.sh
# The dev profile already compiles every dependency (tract, decoders) at opt-level 3 and shares its build
# with scripts/test.sh; PG_CLIP_RELEASE=1 builds the fat-LTO release profile instead (longer build).
if [[ ${PG_CLIP_RELEASE:-0} == 1 ]]; then
  echo "== building and installing pg_clip (release profile)"
  cargo pgrx install --release --pg-config "$PG_CONFIG" >/dev/null
else
  echo "== building and installing pg_clip"
  cargo pgrx install --pg-config "$PG_CONFIG" >/dev/null
fi

share="$("$PG_CONFIG" --sharedir)/pg_clip"
if [[ -f $share/clip-vit-b-32-image.onnx ]]; then
  image_model=pg_clip/clip-vit-b-32-openai-image.onnx; text_model=pg_clip/clip-vit-b-32-openai-text.onnx
else
  image_model=pg_clip/clip-tiny-image.onnx; text_model=pg_clip/clip-tiny-text.onnx
  echo "NOTE: no real CLIP weights installed; using the tiny fixed-seed test model (rankings are arbitrary)."
  echo "      See README 'Real weights' to export and install ViT-B/32 with one command."
fi

# The cluster lives under the repo when the postgres user can reach it, else under /var/tmp.
demo="$root/.demo"
if ! runuser -u postgres -- test -x "$root" 2>/dev/null; then demo=/var/tmp/pg_clip-demo; fi
pgdata="$demo/data"
if [[ -f $pgdata/postmaster.pid ]]; then runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$pgdata" -m fast -w stop || true; fi
rm -rf "$demo"; mkdir -p "$demo"; chown postgres:postgres "$demo"
runuser -u postgres -- "$PG_BIN/initdb" -D "$pgdata" -A trust -U postgres --no-sync >/dev/null
cat >> "$pgdata/postgresql.conf" <<CONF
port = 54330
listen_addresses = ''
unix_socket_directories = '$demo'
clip.image_model = '$image_model'
clip.text_model = '$text_model'
CONF
runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$pgdata" -l "$demo/log" -w start >/dev/null
trap 'runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$pgdata" -m fast -w stop >/dev/null' EXIT
echo "== throwaway cluster in $pgdata (socket $demo, port 54330)"

psql -X -q -v ON_ERROR_STOP=1 -h "$demo" -p 54330 -U postgres -d postgres -v fixtures="$share/fixtures" <<'SQL'
CREATE EXTENSION pg_clip CASCADE;
-- The application's scene table: two tenants, a few videos, thumbnails as bytea.
CREATE TABLE video_scenes (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  video_id bigint NOT NULL,
  user_id bigint NOT NULL,
  name text NOT NULL,
  thumbnail bytea,
  start_time double precision,
  end_time double precision
);
INSERT INTO video_scenes (video_id, user_id, name, thumbnail, start_time, end_time)
SELECT 100 + (n % 3), 1 + ((n - 1) % 2), f, pg_read_binary_file(:'fixtures' || '/' || f), n * 10, n * 10 + 9.5
  FROM (SELECT f, row_number() OVER (ORDER BY f) AS n
          FROM pg_ls_dir(:'fixtures') AS f WHERE f ~ '\.(jpe?g|png|webp|gif|bmp)$') s;
\echo == adopt the table: embedding + metadata columns, HNSW / GIN / tenant indexes (no table rewrite)
SELECT jsonb_pretty(clip_adopt_scene_table() - 'columns');
\echo == register the thumbnails as a backfill source, then backfill (batched forward passes)
SELECT name, source_kind FROM clip_register_source('scenes', 'video_scenes', NULL, 'thumbnail',
                                                   video_column => 'video_id', user_column => 'user_id');
SELECT * FROM clip_backfill(50);
SELECT source, total_rows, embedded, stale, pending, failed_retrying, avg_inference_ms FROM clip_backfill_status();
\echo == per-row metadata of one scene
SELECT name, jsonb_pretty(visual_clip_metadata - 'frame_strategy') FROM video_scenes ORDER BY id LIMIT 1;
\echo == more like this: tenant 1, the 5 scenes nearest to scene 1
SELECT s.scene_id, v.name, round(s.similarity::numeric, 4) AS similarity, s.start_time
  FROM clip_search_similar_scenes('1', tenant => '1', match_count => 5) s
  JOIN video_scenes v ON v.id = s.scene_id::bigint;
\echo == text to image: 'a photo of a cat', tenant 2
SELECT s.scene_id, v.name, round(s.similarity::numeric, 4) AS similarity
  FROM clip_search_scenes_by_text('a photo of a cat', tenant => '2', match_count => 5) s
  JOIN video_scenes v ON v.id = s.scene_id::bigint;
SQL
