#!/usr/bin/env bash
# pg_clip on a throwaway Citus cluster: builds Citus (scripts/citus-setup.sh, from ../shared/vendor unless
# CITUS_SRC says otherwise), starts a coordinator and two workers on localhost (ports 55432-55434, as the
# postgres user, under /var/tmp/pg_clip-citus), distributes video_scenes by tenant, adopts it (HNSW index on
# every shard), backfills it on the workers from the coordinator (and schedules the same with pg_cron),
# prints the distributed status and a routed search with its plan. Needs root and an installed pg_clip
# (scripts/setup.sh, cargo pgrx install). KEEP=1 leaves the cluster running.
#
#   scripts/citus-demo.sh            # build if needed, run, stop
#   KEEP=1 scripts/citus-demo.sh     # ... and leave it up: psql -h /var/tmp/pg_clip-citus/coordinator -p 55432 -U postgres
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/scripts/citus-setup.sh"
cd "$root/tests/integration"
python3 citus_cluster.py start
[[ ${KEEP:-0} == 1 ]] || trap 'python3 citus_cluster.py stop' EXIT
fixtures="$(/usr/lib/postgresql/15/bin/pg_config --sharedir)/pg_clip/fixtures"
psql=(psql -X -v ON_ERROR_STOP=1 -h /var/tmp/pg_clip-citus/coordinator -p 55432 -U postgres -d postgres)

"${psql[@]}" <<SQL
\echo == the scene table, distributed by tenant; the tenant-to-role mapping as a reference table
-- Citus: a unique key must include the distribution column, so the key is unique per tenant.
CREATE TABLE video_scenes (
    id bigint NOT NULL, user_id bigint NOT NULL, video_id bigint NOT NULL,
    thumbnail bytea, start_time numeric, end_time numeric,
    PRIMARY KEY (user_id, id));
SELECT create_distributed_table('video_scenes', 'user_id', shard_count => 4);
CREATE TABLE tenants (user_id bigint PRIMARY KEY, name text NOT NULL);
SELECT create_reference_table('tenants');
INSERT INTO tenants VALUES (1, 'acme'), (2, 'globex'), (3, 'initech'), (4, 'umbrella');
-- 200 scenes over 4 tenants, thumbnails from pg_clip's test images (read on the coordinator, then stored
-- in the shards; from now on they are only read next to them).
CREATE TEMP TABLE img AS
    SELECT row_number() OVER (ORDER BY f) AS n, pg_read_binary_file('$fixtures/' || f) AS b
      FROM unnest(ARRAY['cat.bmp', 'chelsea-rgb.png', 'coffee-progressive.jpg', 'astronaut-baseline.jpg', 'rocket-lossy.webp', 'camera-gray.jpg']) f;
INSERT INTO video_scenes (id, user_id, video_id, thumbnail, start_time, end_time)
    SELECT i, 1 + i % 4, i / 10, (SELECT b FROM img WHERE n = 1 + i % 6), i * 2.5, i * 2.5 + 2.5
      FROM generate_series(1, 200) i;

\echo == adopt: columns and indexes are created on every shard by Citus
SELECT clip_adopt_scene_table('video_scenes', id_column => 'id', tenant_column => 'user_id', video_column => 'video_id',
                              start_column => 'start_time', end_column => 'end_time');
SELECT nodeport, count(*) AS hnsw_indexes FROM run_command_on_shards('video_scenes',
    \$\$SELECT count(*) FROM pg_indexes WHERE tablename = '%s' AND indexdef LIKE '%%hnsw%%'\$\$) r
    JOIN citus_shards s USING (shardid) WHERE r.result = '1' GROUP BY 1 ORDER BY 1;
-- Inline vector storage: Citus refuses SET STORAGE on the distributed table, so the coordinator's table
-- (which new shards copy) and the existing shards are changed separately.
SET citus.enable_ddl_propagation = off;
ALTER TABLE video_scenes ALTER COLUMN embedding_visual_clip SET STORAGE PLAIN;
RESET citus.enable_ddl_propagation;
SELECT count(*) AS shards_set_plain FROM run_command_on_shards('video_scenes',
    \$\$ALTER TABLE %s ALTER COLUMN embedding_visual_clip SET STORAGE PLAIN\$\$) WHERE success;
SELECT clip_register_source('scenes', 'video_scenes', NULL, 'thumbnail');

\echo == backfill from the coordinator: every shard on its own node, in parallel
SELECT processed, succeeded, failed FROM clip_backfill(source => 'scenes', batch => 20);
CALL clip_backfill_run(batch => 50, source => 'scenes');
SELECT source, total_rows, embedded, pending, coverage_pct FROM clip_backfill_status('scenes');

\echo == the same, driven by pg_cron on the coordinator (every minute; this waits for the first run)
SELECT cron.schedule('clip-backfill', '* * * * *', \$\$CALL clip_backfill_run(batch => 50, source => 'scenes')\$\$);
INSERT INTO video_scenes (id, user_id, video_id, thumbnail)
    SELECT i, 1 + i % 4, i / 10, (SELECT b FROM img WHERE n = 1 + i % 6) FROM generate_series(201, 240) i;
DO \$\$
BEGIN
    FOR i IN 1 .. 90 LOOP
        EXIT WHEN EXISTS (SELECT 1 FROM cron.job_run_details WHERE status IN ('succeeded', 'failed'));
        PERFORM pg_sleep(1);
    END LOOP;
END
\$\$;
SELECT status, return_message FROM cron.job_run_details ORDER BY runid DESC LIMIT 1;
SELECT source, total_rows, embedded, pending FROM clip_backfill_status('scenes');
SELECT cron.unschedule('clip-backfill');

\echo == search for one tenant: a router query to the shard of that tenant
SELECT scene_id, round(similarity::numeric, 4) AS similarity
  FROM clip_search_scenes_by_text('a cat', tenant => '2', match_count => 5, scene_table => 'video_scenes');
SELECT scene_id, round(similarity::numeric, 4) AS similarity
  FROM clip_search_similar_scenes('7', tenant => '4', match_count => 5, scene_table => 'video_scenes');
EXPLAIN (COSTS OFF) SELECT id FROM video_scenes WHERE user_id = 4 AND embedding_visual_clip IS NOT NULL
 ORDER BY embedding_visual_clip <=> (SELECT embedding_visual_clip FROM video_scenes WHERE user_id = 4 AND id = 7) LIMIT 5;
SQL
