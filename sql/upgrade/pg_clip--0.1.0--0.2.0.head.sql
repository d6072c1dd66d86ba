-- pg_clip 0.1.0 -> 0.2.0, hand-written head (scripts/gen_upgrade.py puts the code parts of sql/*.sql after it).
--
-- 0.2.0 acts on users' tables as their owners (clip_as_table_owner), puts row-level security on the
-- registries, checks column types exactly, keeps a vector when its re-embed fails, fingerprints sources,
-- counts only rows actually written, and revokes clip_fetch_url from PUBLIC (docs/security.md).
--
-- Kept as they are: the tables (and their data), clip_owns_table (the CHECK of clip_scene_tables uses it) and
-- the view clip_current_tenants (the tenant policies on users' tables use it). Everything else of 0.1.0's
-- SQL code is dropped here and created again, as a fresh 0.2.0 install creates it, by the code parts below.

-- ---------------------------------------------------------------------------------------------------------
-- The new Rust function (exactly as pgrx generates it for the fresh install).
CREATE  FUNCTION "clip_as_table_owner"(
	"tbl" oid, /* pg_sys :: Oid */
	"func" oid, /* pg_sys :: Oid */
	"args" jsonb /* JsonB */
) RETURNS jsonb /* JsonB */
STRICT VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'clip_as_table_owner_wrapper';

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

-- Registries: no blanket grants to PUBLIC; row-level security (the policies are in the code parts).
REVOKE ALL ON clip_scene_tables FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON clip_scene_tables TO PUBLIC;
ALTER TABLE clip_scene_tables ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON clip_backfill_sources FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON clip_backfill_sources TO PUBLIC;
ALTER TABLE clip_backfill_sources ENABLE ROW LEVEL SECURITY;
ALTER TABLE clip_backfill_runs ADD COLUMN suppressed bigint NOT NULL DEFAULT 0;
REVOKE ALL ON clip_backfill_runs FROM PUBLIC;
GRANT SELECT, INSERT ON clip_backfill_runs TO PUBLIC;
ALTER TABLE clip_backfill_runs ENABLE ROW LEVEL SECURITY;

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
    source_changed           bigint
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
