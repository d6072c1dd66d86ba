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
CREATE TABLE scenes (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name text NOT NULL,
  thumbnail bytea NOT NULL,
  embedding vector(512)
);
-- Load every sample image shipped with the tests.
INSERT INTO scenes (name, thumbnail)
SELECT f, pg_read_binary_file(:'fixtures' || '/' || f)
  FROM pg_ls_dir(:'fixtures') AS f
 WHERE f ~ '\.(jpe?g|png|webp|gif|bmp)$'
 ORDER BY f;
\echo == embedding the sample images in one batched call
\timing on
WITH batch AS (
  SELECT array_agg(id ORDER BY id) AS ids, clip_embed_images(array_agg(thumbnail ORDER BY id)) AS vecs FROM scenes
)
UPDATE scenes s SET embedding = b.vecs[i]
  FROM batch b, generate_subscripts(b.ids, 1) AS i
 WHERE s.id = b.ids[i];
\timing off
CREATE INDEX scenes_embedding_hnsw ON scenes USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64);
SELECT count(*) AS scenes, count(embedding) AS embedded FROM scenes;
\echo == more like this: the 5 scenes nearest to the first one (cosine similarity)
SET enable_seqscan = off;
SELECT q.name AS query, s.name AS match, round((1 - (s.embedding <=> q.embedding))::numeric, 4) AS similarity
  FROM (SELECT name, embedding FROM scenes ORDER BY id LIMIT 1) q,
       LATERAL (SELECT name, embedding FROM scenes ORDER BY embedding <=> q.embedding LIMIT 5) s;
\echo == text to image: 'a photo of a cat'
SELECT name, round((1 - (embedding <=> clip_embed_text('a photo of a cat')))::numeric, 4) AS similarity
  FROM scenes ORDER BY embedding <=> clip_embed_text('a photo of a cat') LIMIT 5;
SQL
