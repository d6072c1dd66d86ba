-- pg_clip 0.1.0 -> 0.2.0, hand-written head (scripts/gen_upgrade.py puts the code parts of sql/*.sql after it).
--
-- 0.2.0 acts on users' tables as their owners (clip_as_table_owner), puts row-level security on the
-- registries, checks column types exactly, keeps a vector when its re-embed fails, fingerprints sources,
-- counts only rows actually written, and revokes clip_fetch_url from PUBLIC (docs/security.md).
--
-- It also merges the two registries that described the same user table: clip_scene_tables becomes the one
-- registry (one row per table and embedding column) and clip_backfill_sources keeps only what is a source's
-- own, referencing it; their data is migrated below.
--
-- Kept: the tables (and their data, migrated in place), clip_owns_table (clip_tenant_rls_exempt, which the
-- tenant policies on users' tables use, calls it) and the view clip_current_tenants (the tenant policies use
-- it). Everything else of 0.1.0's SQL code is dropped here and created again, as a fresh 0.2.0 install
-- creates it, by the code parts below.

-- ---------------------------------------------------------------------------------------------------------
-- The new Rust functions (exactly as pgrx generates them for the fresh install).
CREATE  FUNCTION "clip_as_table_owner"(
	"tbl" oid, /* pg_sys :: Oid */
	"func" oid, /* pg_sys :: Oid */
	"args" jsonb /* JsonB */
) RETURNS jsonb /* JsonB */
STRICT VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'clip_as_table_owner_wrapper';

CREATE  FUNCTION "clip_fetch_url_with_validators"(
	"url" TEXT /* & str */
) RETURNS TABLE (
	"body" bytea,  /* Vec < u8 > */
	"etag" TEXT,  /* Option < String > */
	"last_modified" TEXT  /* Option < String > */
)
STRICT VOLATILE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'clip_fetch_url_with_validators_wrapper';

-- ---------------------------------------------------------------------------------------------------------
-- 0.1.0's code.
DROP TRIGGER clip_backfill_sources_guard ON clip_backfill_sources;
DROP TRIGGER clip_backfill_runs_stamp ON clip_backfill_runs;
DROP FUNCTION clip_backfill_status(text);
DROP FUNCTION clip_backfill_status_impl(text);
DROP PROCEDURE clip_backfill_run(integer, integer, text, text, text, boolean, numeric, bigint);
DROP FUNCTION clip_backfill(integer, text, boolean, text, text, boolean, timestamptz);
DROP FUNCTION clip_backfill_impl(integer, text, boolean, text, text, boolean, timestamptz);
DROP FUNCTION clip_backfill_source_batch(clip_backfill_sources, jsonb, integer, boolean, text, text, boolean, timestamptz);
DROP FUNCTION clip_backfill_failure(text, text, text, text, integer, integer, interval, jsonb);
DROP FUNCTION clip_backfill_attempt(jsonb);
DROP FUNCTION clip_unregister_source(text);
DROP FUNCTION clip_register_source(text, regclass, name, name, text, name, name, name, name, boolean);
DROP FUNCTION clip_backfill_validate(clip_backfill_sources);
DROP FUNCTION clip_backfill_runs_stamp();
DROP FUNCTION clip_backfill_sources_guard();
DROP FUNCTION clip_backfill_privilege_problem(clip_backfill_sources, boolean);
DROP FUNCTION clip_backfill_coltype(regclass, name);
DROP FUNCTION clip_search_similar_scenes(text, text, integer, double precision, text, regclass, boolean, integer, text);
DROP FUNCTION clip_search_scenes_by_text(text, text, integer, double precision, text, regclass, boolean, integer, text);
DROP FUNCTION clip_search_scenes(vector, text, integer, double precision, text, regclass, boolean, integer, text, text);
DROP FUNCTION clip_column_type(regclass, name);
DROP FUNCTION clip_disable_tenant_rls(regclass);
DROP FUNCTION clip_enable_tenant_rls(regclass, name, boolean);
DROP FUNCTION clip_unmap_tenant_role(name, text, regclass);
DROP FUNCTION clip_map_tenant_role(name, text, regclass);
DROP FUNCTION clip_adopt_scene_table(regclass, name, name, name, name, name, name, name, boolean);
DROP FUNCTION clip_assert_index_name_free(name, name);
DROP FUNCTION clip_scene_table_config(regclass);

-- ---------------------------------------------------------------------------------------------------------
-- The data-carrying objects, brought to what the `-- @@ schema` parts of sql/*.sql create.

-- One registry (sql/scene_schema.sql): clip_scene_tables gets one row per (table, embedding column), the key
-- column under its new name, adopted_at NULL for rows that exist for backfill only, at most one adopted row
-- per table, and row-level security instead of the owner CHECK. Columns are changed in place (not copied
-- into a new table), so their order is the fresh install's.
ALTER TABLE clip_scene_tables DROP CONSTRAINT clip_scene_tables_owner_check;
ALTER TABLE clip_scene_tables RENAME COLUMN id_column TO key_column;
ALTER TABLE clip_scene_tables ALTER COLUMN tenant_column DROP NOT NULL;
ALTER TABLE clip_scene_tables ALTER COLUMN adopted_at DROP NOT NULL, ALTER COLUMN adopted_at DROP DEFAULT;
ALTER TABLE clip_scene_tables DROP CONSTRAINT clip_scene_tables_pkey;
ALTER TABLE clip_scene_tables ADD CONSTRAINT clip_scene_tables_pkey PRIMARY KEY (scene_table, embedding_column),
    ADD CONSTRAINT clip_scene_tables_tenant_check CHECK (adopted_at IS NULL OR tenant_column IS NOT NULL);
CREATE UNIQUE INDEX clip_scene_tables_adopted_key ON clip_scene_tables (scene_table) WHERE adopted_at IS NOT NULL;
REVOKE ALL ON clip_scene_tables FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON clip_scene_tables TO PUBLIC;
ALTER TABLE clip_scene_tables ENABLE ROW LEVEL SECURITY;

-- Each 0.1.0 source's column mapping moves into the registry: a source on a column pg_clip did not know gets
-- a backfill-only row with its mapping. A source on the embedding column of an adopted table whose mapping
-- differs (another key or metadata column, a video or user column the table maps differently) cannot keep
-- its own: it now uses the adopted table's mapping, is disabled so that clip_backfill(source => NULL) does
-- not re-embed under a mapping nobody chose, and gets a WARNING (the upgrade goes on).
DO $registry$
DECLARE
    r      record;
    v_diff text[];
BEGIN
    FOR r IN SELECT s.name, s.tbl, s.key_column, s.source_column, s.embedding_column, s.metadata_column,
                    s.video_column, s.user_column, t.scene_table IS NOT NULL AS adopted, t.key_column AS t_key,
                    t.metadata_column AS t_meta, t.video_column AS t_video, t.tenant_column AS t_tenant
               FROM clip_backfill_sources s
               LEFT JOIN clip_scene_tables t ON t.scene_table = s.tbl AND t.embedding_column = s.embedding_column
              ORDER BY s.name LOOP
        IF NOT r.adopted THEN
            INSERT INTO clip_scene_tables (scene_table, key_column, tenant_column, video_column, embedding_column,
                                           metadata_column, adopted_at)
            VALUES (r.tbl, r.key_column, r.user_column, r.video_column, r.embedding_column, r.metadata_column, NULL);
            CONTINUE;
        END IF;
        v_diff := '{}';
        IF r.key_column <> r.t_key THEN
            v_diff := v_diff || format('key column %I (the adopted table''s: %I)', r.key_column, r.t_key);
        END IF;
        IF r.metadata_column <> r.t_meta THEN
            v_diff := v_diff || format('metadata column %I (the adopted table''s: %I)', r.metadata_column, r.t_meta);
        END IF;
        IF r.video_column IS NOT NULL AND r.video_column IS DISTINCT FROM r.t_video THEN
            v_diff := v_diff || format('video column %I (the adopted table''s: %s)', r.video_column,
                                       coalesce(quote_ident(r.t_video), 'none'));
        END IF;
        IF r.user_column IS NOT NULL AND r.user_column IS DISTINCT FROM r.t_tenant THEN
            v_diff := v_diff || format('user column %I (the adopted table''s tenant column: %I)', r.user_column, r.t_tenant);
        END IF;
        IF cardinality(v_diff) > 0 THEN
            UPDATE clip_backfill_sources s SET enabled = false WHERE s.name = r.name;
            RAISE WARNING 'pg_clip upgrade: backfill source "%" of % conflicts with the adopted table''s column mapping: %',
                          r.name, r.tbl, array_to_string(v_diff, ', ')
                USING DETAIL = 'pg_clip 0.2.0 keeps one column mapping per table and embedding column (clip_scene_tables). The source now uses the adopted table''s mapping and was disabled.',
                      HINT = format('Check it, then enable it again: SELECT clip_register_source(%L, %L, NULL, %L, embedding_column => %L, metadata_column => %L);',
                                    r.name, r.tbl::text, r.source_column, r.embedding_column, r.t_meta);
        END IF;
    END LOOP;
END
$registry$;

-- clip_backfill_sources keeps what is the source's own; the mapping is the registry row it references.
ALTER TABLE clip_backfill_sources DROP COLUMN key_column, DROP COLUMN metadata_column, DROP COLUMN video_column,
    DROP COLUMN user_column;
ALTER TABLE clip_backfill_sources ADD CONSTRAINT clip_backfill_sources_registry_fkey FOREIGN KEY (tbl, embedding_column)
    REFERENCES clip_scene_tables (scene_table, embedding_column) ON DELETE CASCADE;
REVOKE ALL ON clip_backfill_sources FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON clip_backfill_sources TO PUBLIC;
ALTER TABLE clip_backfill_sources ENABLE ROW LEVEL SECURITY;
ALTER TABLE clip_backfill_runs ADD COLUMN suppressed bigint NOT NULL DEFAULT 0;
REVOKE ALL ON clip_backfill_runs FROM PUBLIC;
GRANT SELECT, INSERT ON clip_backfill_runs TO PUBLIC;
ALTER TABLE clip_backfill_runs ENABLE ROW LEVEL SECURITY;

CREATE TABLE clip_backfill_suppressed (
    source        text        NOT NULL REFERENCES clip_backfill_sources (name) ON UPDATE CASCADE ON DELETE CASCADE,
    row_key       text        NOT NULL,
    fingerprint   text,
    suppressed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, row_key)
);
REVOKE ALL ON clip_backfill_suppressed FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON clip_backfill_suppressed TO PUBLIC;
ALTER TABLE clip_backfill_suppressed ENABLE ROW LEVEL SECURITY;

CREATE TYPE clip_backfill_result AS (
    source    text,
    processed bigint,
    succeeded bigint,
    failed    bigint,
    skipped   bigint,
    ms        numeric
);

CREATE TYPE clip_backfill_status_row AS (
    source                   text,
    table_name               regclass,
    source_kind              text,
    enabled                  boolean,
    total_rows               bigint,
    embedded                 bigint,
    up_to_date               bigint,
    stale                    bigint,
    without_embedding        bigint,
    pending                  bigint,
    failed_retrying          bigint,
    failed_permanently       bigint,
    no_source                bigint,
    coverage_pct             numeric,
    failures                 jsonb,
    avg_inference_ms         numeric,
    last_generated_at        timestamptz,
    last_run_at              timestamptz,
    last_run                 jsonb,
    model_sha256             text,
    problem                  text,
    stale_retrying           bigint,
    stale_failed_permanently bigint,
    source_changed           bigint,
    suppressed               bigint
);

CREATE TYPE clip_scene_match AS (
    scene_id      text,
    video_id      text,
    similarity    double precision,
    start_time    double precision,
    end_time      double precision,
    thumbnail_url text,
    thumbnail     bytea
);

CREATE FUNCTION clip_tenant_rls_exempt(tbl regclass) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE SECURITY INVOKER
AS $fn$
    SELECT coalesce(pg_catalog.current_setting('pg_clip.maintenance_table', true) = (tbl::oid)::text, false)
           AND clip_owns_table(tbl)
$fn$;

-- The tenant policy of a Citus distributed table (clip_enable_tenant_rls) calls these two instead of
-- subqueries: Citus refuses policies with subqueries on distributed tables, and sends the policy to every
-- shard, where each node evaluates them against its own clip_tenant_roles (kept in step with the
-- coordinator's by clip_citus_sync_tenant_roles) and its own maintenance setting. Users' policies depend on
-- them: they are never dropped by an upgrade.
CREATE FUNCTION clip_current_tenant_ids(tbl regclass) RETURNS text[]
LANGUAGE sql STABLE PARALLEL SAFE SECURITY INVOKER
AS $fn$
    SELECT coalesce(pg_catalog.array_agg(ct.tenant_id), '{}') FROM clip_current_tenants ct WHERE ct.scene_table = tbl
$fn$;

-- clip_tenant_rls_exempt for a distributed table: pg_clip's maintenance runs on a worker with the shard as
-- its table, while the policy names the distributed table.
CREATE FUNCTION clip_tenant_rls_exempt_distributed(tbl regclass) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE SECURITY INVOKER
AS $fn$
    SELECT coalesce(nullif(pg_catalog.current_setting('pg_clip.maintenance_table', true), '') IS NOT NULL
                    AND clip_owns_table(tbl)
                    AND (pg_catalog.current_setting('pg_clip.maintenance_table', true) = (tbl::oid)::text
                         OR clip_citus_is_shard_of(pg_catalog.current_setting('pg_clip.maintenance_table', true)::oid, tbl)),
                    false)
$fn$;
