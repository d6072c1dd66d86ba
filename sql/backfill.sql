-- pg_clip: the embedding backfill — registering what to embed, embedding pending rows in batches (by hand,
-- from pg_cron, or from a long-running procedure), per-row metadata with retries, and status.
--
-- Included into the extension's install script (pgrx `extension_sql_file!`) after the Rust-generated
-- functions. Runs inside CREATE EXTENSION pg_clip: no CREATE EXTENSION, no psql meta-commands; nothing here
-- references an application table — every function takes names and builds its statements with format()
-- (%I / %s of a regclass) and EXECUTE at call time.
--
-- Uses these Rust functions: clip_try_embed_images(bytea[]), clip_embed_frames(bytea[]), clip_fetch_url(text),
-- clip_fetch_url_with_validators(text),
-- clip_image_model_identity(), clip_as_table_owner(oid, oid, jsonb); and the settings
-- clip.backfill_max_attempts / clip.backfill_retry_base_s.
--
-- Security model (docs/security.md):
--   * Every read or write of a registered table (the backfill batch, the status counts) runs as THAT TABLE'S
--     OWNER inside a security-restricted operation (clip_as_table_owner -> the *_as_owner functions), so the
--     table's triggers, policies and casts never run with the caller's rights. Only a superuser or a role with
--     the owner's privileges may run or inspect a source; a role the owner wants to let in gets a SECURITY
--     DEFINER wrapper of the owner's (docs/security.md). Every function is SECURITY INVOKER.
--   * The registries have row-level security: a role sees and writes only the sources of tables it owns (or
--     whose table is gone). clip_backfill_runs is written by clip_backfill only for a source the caller owns.
--   * One registry: a source names a row of clip_scene_tables (sql/scene_schema.sql: the table, embedding
--     column and column mapping, shared with the search) and clip_check_columns is the one validation.
--   * clip_backfill(source => NULL) runs only the enabled sources whose table the caller owns ITSELF (not
--     through a group), so a superuser's pg_cron job runs only the superuser's own tables.
--   * Column types are checked exactly (embedding vector(512), metadata jsonb; clip_check_columns) at
--     registration and before every run and status, so a retyped column cannot smuggle a cast into pg_clip's
--     statements.
--   * clip_fetch_url is not executable by PUBLIC: GRANT it to the owners of tables with URL sources.
--
-- Layout: `-- @@ schema` (tables and types: migrated by hand in upgrade scripts) and `-- @@ code` (dropped
-- and created again by upgrade scripts, see scripts/gen_upgrade.py).

-- @@ schema
-- ---------------------------------------------------------------------------------------------------------
-- The sources: what to embed into which registered embedding column. The column mapping of the table (key,
-- metadata, video and user columns) is the registry's (clip_scene_tables, one row per table and embedding
-- column, shared with the search), which the foreign key points at; clip_backfill_source_config shows a
-- source joined with its mapping.
CREATE TABLE clip_backfill_sources (
    name             text        PRIMARY KEY CHECK (name <> ''),
    tbl              regclass    NOT NULL,
    source_column    name        NOT NULL,
    source_kind      text        NOT NULL CHECK (source_kind IN ('bytea', 'url', 'frames')),
    embedding_column name        NOT NULL DEFAULT 'embedding_visual_clip',
    enabled          boolean     NOT NULL DEFAULT true,
    registered_by    name        NOT NULL DEFAULT current_user,
    registered_at    timestamptz NOT NULL DEFAULT now(),
    -- Two sources writing one embedding column would undo each other's work.
    CONSTRAINT clip_backfill_sources_target_key UNIQUE (tbl, embedding_column),
    CONSTRAINT clip_backfill_sources_registry_fkey FOREIGN KEY (tbl, embedding_column)
        REFERENCES clip_scene_tables (scene_table, embedding_column) ON DELETE CASCADE
);
SELECT pg_catalog.pg_extension_config_dump('clip_backfill_sources', '');
REVOKE ALL ON clip_backfill_sources FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON clip_backfill_sources TO PUBLIC;
ALTER TABLE clip_backfill_sources ENABLE ROW LEVEL SECURITY;

-- One row per (run, source) that processed at least one row; a dry run or an idle run writes nothing, so the
-- log grows with the work done, not with the schedule. Removed with its source. Not dumped (history).
CREATE TABLE clip_backfill_runs (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source       text        NOT NULL REFERENCES clip_backfill_sources (name) ON UPDATE CASCADE ON DELETE CASCADE,
    started_at   timestamptz NOT NULL,
    finished_at  timestamptz NOT NULL,
    batch        integer     NOT NULL,
    processed    bigint      NOT NULL,
    succeeded    bigint      NOT NULL,
    failed       bigint      NOT NULL,
    regenerated  bigint      NOT NULL,   -- of processed: rows that had an embedding (stale model or force)
    ms           numeric     NOT NULL,
    forced       boolean     NOT NULL,
    run_by       name        NOT NULL DEFAULT current_user,
    suppressed   bigint      NOT NULL DEFAULT 0   -- of processed: rows whose UPDATE did not take effect at all
);
CREATE INDEX clip_backfill_runs_source_idx ON clip_backfill_runs (source, id DESC);
REVOKE ALL ON clip_backfill_runs FROM PUBLIC;
GRANT SELECT, INSERT ON clip_backfill_runs TO PUBLIC;
ALTER TABLE clip_backfill_runs ENABLE ROW LEVEL SECURITY;

-- Rows of a source whose writes (the embedding AND the failure recorded in their metadata) were all
-- suppressed, by a trigger returning NULL or a policy hiding the row: nothing in the row can record that it
-- was tried, so without this it would be claimed again by every batch, forever. A row here is not claimed
-- again until its source changes (the fingerprint of what was claimed differs) or a forced run started after
-- it was suppressed; an entry goes when a later write of the row takes effect. Removed with its source; not
-- dumped (a restored database tries such rows once more and records them again).
CREATE TABLE clip_backfill_suppressed (
    source        text        NOT NULL REFERENCES clip_backfill_sources (name) ON UPDATE CASCADE ON DELETE CASCADE,
    row_key       text        NOT NULL,   -- the key column's value as text
    fingerprint   text,                   -- clip_backfill_fingerprint_sql of the source when it was claimed
    suppressed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, row_key)
);
REVOKE ALL ON clip_backfill_suppressed FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON clip_backfill_suppressed TO PUBLIC;
ALTER TABLE clip_backfill_suppressed ENABLE ROW LEVEL SECURITY;

-- What clip_backfill returns, one row per source.
CREATE TYPE clip_backfill_result AS (
    source    text,
    processed bigint,
    succeeded bigint,
    failed    bigint,
    skipped   bigint,
    ms        numeric
);

-- What clip_backfill_status returns, one row per source.
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

-- @@ code
-- ---------------------------------------------------------------------------------------------------------
-- A source with its registry row: the shape clip_backfill_sources had in 0.1.0 (user_column is the
-- registry's tenant_column), which clip_register_source returns and the batch and status work on.
-- security_invoker: read with the caller's privileges, so both tables' row-level security applies.
CREATE VIEW clip_backfill_source_config WITH (security_invoker = true) AS
    SELECT s.name, s.tbl, r.key_column, s.source_column, s.source_kind, s.embedding_column, r.metadata_column,
           r.video_column, r.tenant_column AS user_column, s.enabled, s.registered_by, s.registered_at
      FROM clip_backfill_sources s
      JOIN clip_scene_tables r ON r.scene_table = s.tbl AND r.embedding_column = s.embedding_column;
GRANT SELECT ON clip_backfill_source_config TO PUBLIC;

-- Row-level security of the registries: the sources of tables the current role owns, and orphans.
CREATE FUNCTION clip_backfill_source_visible(tbl regclass) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE SECURITY INVOKER
AS $fn$
    SELECT clip_owns_table(tbl) OR clip_registry_orphan(tbl)
$fn$;

CREATE POLICY clip_backfill_sources_select ON clip_backfill_sources FOR SELECT TO PUBLIC
    USING (clip_backfill_source_visible(tbl));
CREATE POLICY clip_backfill_sources_insert ON clip_backfill_sources FOR INSERT TO PUBLIC
    WITH CHECK (clip_owns_table(tbl));
CREATE POLICY clip_backfill_sources_update ON clip_backfill_sources FOR UPDATE TO PUBLIC
    USING (clip_owns_table(tbl)) WITH CHECK (clip_owns_table(tbl));
CREATE POLICY clip_backfill_sources_delete ON clip_backfill_sources FOR DELETE TO PUBLIC
    USING (clip_backfill_source_visible(tbl));
-- The run log: visible with its source; written (by clip_backfill) only for a source whose table the writer owns.
CREATE POLICY clip_backfill_runs_select ON clip_backfill_runs FOR SELECT TO PUBLIC
    USING (EXISTS (SELECT 1 FROM clip_backfill_sources s WHERE s.name = clip_backfill_runs.source));
CREATE POLICY clip_backfill_runs_insert ON clip_backfill_runs FOR INSERT TO PUBLIC
    WITH CHECK (EXISTS (SELECT 1 FROM clip_backfill_sources s WHERE s.name = clip_backfill_runs.source
                                 AND clip_owns_table(s.tbl)));
-- Suppressed rows: visible with their source, written (by the batch, as the table's owner) only for a source
-- whose table the writer owns.
CREATE POLICY clip_backfill_suppressed_select ON clip_backfill_suppressed FOR SELECT TO PUBLIC
    USING (EXISTS (SELECT 1 FROM clip_backfill_sources s WHERE s.name = clip_backfill_suppressed.source));
CREATE POLICY clip_backfill_suppressed_write ON clip_backfill_suppressed FOR ALL TO PUBLIC
    USING (EXISTS (SELECT 1 FROM clip_backfill_sources s WHERE s.name = clip_backfill_suppressed.source
                            AND clip_owns_table(s.tbl)))
    WITH CHECK (EXISTS (SELECT 1 FROM clip_backfill_sources s WHERE s.name = clip_backfill_suppressed.source
                                 AND clip_owns_table(s.tbl)));

-- Access control on the registry beyond the policies: a registration is recorded under a role the writer
-- belongs to (clip_register_source records current_user). Kept free of table validation, so that a
-- pg_restore of the registry (before the application's unique indexes exist) works.
CREATE FUNCTION clip_backfill_sources_guard() RETURNS trigger
LANGUAGE plpgsql SECURITY INVOKER
AS $fn$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r
                    WHERE r.rolname = NEW.registered_by AND pg_catalog.pg_has_role(r.oid, 'MEMBER')) THEN
        RAISE EXCEPTION 'cannot register a backfill source on behalf of role "%"', NEW.registered_by
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END
$fn$;
CREATE TRIGGER clip_backfill_sources_guard BEFORE INSERT OR UPDATE ON clip_backfill_sources
    FOR EACH ROW EXECUTE FUNCTION clip_backfill_sources_guard();

-- The run log records who ran, whatever the inserter says.
CREATE FUNCTION clip_backfill_runs_stamp() RETURNS trigger
LANGUAGE plpgsql SECURITY INVOKER
AS $fn$
BEGIN
    NEW.run_by := current_user;
    RETURN NEW;
END
$fn$;
CREATE TRIGGER clip_backfill_runs_stamp BEFORE INSERT ON clip_backfill_runs
    FOR EACH ROW EXECUTE FUNCTION clip_backfill_runs_stamp();

-- ---------------------------------------------------------------------------------------------------------
-- Registers (or re-registers) a source: what to embed (source_column, source_kind) into which embedding
-- column. The column mapping is the registry's: on an adopted table (or a column registered before) the key,
-- metadata, video and user columns are the registry row's, and one given explicitly must agree with it
-- (22023 otherwise: one table, one mapping); on a table pg_clip does not know yet, a registry row is created
-- for backfill only (adopted_at NULL) with the given mapping, and a re-registration replaces it. Returns the
-- source joined with its mapping. Only a superuser or a role with the privileges of the table's owner may
-- register a table: every run and status of the source runs as that owner.
CREATE FUNCTION clip_register_source(
    name             text,
    tbl              regclass,
    key_column       name,                                   -- NULL: the registry's, or the single-column primary key
    source_column    name,
    source_kind      text    DEFAULT NULL,                   -- 'bytea' | 'url' | 'frames'; NULL: from the type
    embedding_column name    DEFAULT 'embedding_visual_clip',
    metadata_column  name    DEFAULT 'visual_clip_metadata',
    video_column     name    DEFAULT NULL,                   -- enables clip_backfill(video_id => ...)
    user_column      name    DEFAULT NULL,                   -- enables clip_backfill(user_id => ...)
    enabled          boolean DEFAULT true                    -- false: skipped by clip_backfill(source => NULL)
) RETURNS clip_backfill_source_config
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
AS $fn$
DECLARE
    v_name  text := clip_register_source.name;
    v_tbl   regclass := clip_register_source.tbl;
    v_key   name := clip_register_source.key_column;
    v_src   name := clip_register_source.source_column;
    v_kind  text := lower(clip_register_source.source_kind);
    v_emb   name := clip_register_source.embedding_column;
    v_meta  name := clip_register_source.metadata_column;
    v_video name := clip_register_source.video_column;
    v_user  name := clip_register_source.user_column;
    v_reg   clip_scene_tables;
    v_old   clip_backfill_sources;
    v_other text;
    v_diff  text[] := '{}';
    v_out   clip_backfill_source_config;
BEGIN
    IF v_name IS NULL OR v_name = '' THEN
        RAISE EXCEPTION 'source name must not be empty' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF v_tbl IS NULL THEN
        RAISE EXCEPTION 'tbl must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF v_src IS NULL OR v_emb IS NULL OR v_meta IS NULL THEN
        RAISE EXCEPTION 'source_column, embedding_column and metadata_column must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM clip_check_table(v_tbl, 'backfilled');

    -- The registry row of the column, if any (visible: the caller must own the table anyway).
    SELECT r.* INTO v_reg FROM clip_scene_tables r
     WHERE r.scene_table = v_tbl AND r.embedding_column = v_emb AND NOT clip_registry_orphan(r.scene_table);
    IF FOUND AND v_reg.adopted_at IS NOT NULL THEN
        IF v_key IS NOT NULL AND v_key <> v_reg.key_column THEN
            v_diff := v_diff || format('key_column %I (the table''s is %I)', v_key, v_reg.key_column);
        END IF;
        IF v_meta <> v_reg.metadata_column THEN
            v_diff := v_diff || format('metadata_column %I (the table''s is %I)', v_meta, v_reg.metadata_column);
        END IF;
        IF v_video IS NOT NULL AND v_video IS DISTINCT FROM v_reg.video_column THEN
            v_diff := v_diff || format('video_column %I (the table''s is %s)', v_video, coalesce(quote_ident(v_reg.video_column), 'none'));
        END IF;
        IF v_user IS NOT NULL AND v_user IS DISTINCT FROM v_reg.tenant_column THEN
            v_diff := v_diff || format('user_column %I (the table''s tenant column is %I)', v_user, v_reg.tenant_column);
        END IF;
        IF cardinality(v_diff) > 0 THEN
            RAISE EXCEPTION '% is adopted with another column mapping: %', v_tbl, array_to_string(v_diff, ', ')
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Pass NULL for these columns to use the adopted table''s (clip_scene_tables).';
        END IF;
        v_key := v_reg.key_column;
        v_video := v_reg.video_column;
        v_user := v_reg.tenant_column;
    END IF;

    SELECT c.key_column, c.source_kind INTO v_key, v_kind
      FROM clip_check_columns(v_tbl, 'backfilled', v_key, v_emb, v_meta, tenant_column => v_user,
                              video_column => v_video, source_column => v_src, source_kind => v_kind) c;
    PERFORM clip_assert_may_act_as_owner(v_tbl, 'register it as a backfill source');

    -- A registration whose table is gone (or a 0.1.0 registration of a temporary table) holds no name.
    DELETE FROM clip_backfill_sources r WHERE r.name = v_name AND clip_registry_orphan(r.tbl);

    SELECT r.name INTO v_other FROM clip_backfill_sources r
     WHERE r.tbl = v_tbl AND r.embedding_column = v_emb AND r.name <> v_name;
    IF v_other IS NOT NULL THEN
        RAISE EXCEPTION 'column "%" of % is already filled by backfill source "%"', v_emb, v_tbl, v_other
            USING ERRCODE = 'duplicate_object', HINT = 'Unregister that source first, or use another embedding column.';
    END IF;
    SELECT r.* INTO v_old FROM clip_backfill_sources r WHERE r.name = v_name;

    BEGIN
        -- The mapping: a new backfill-only row, or the replaced mapping of one; an adopted row is left alone.
        INSERT INTO clip_scene_tables AS r (scene_table, key_column, tenant_column, video_column, embedding_column,
                                            metadata_column, adopted_at)
        VALUES (v_tbl, v_key, v_user, v_video, v_emb, v_meta, NULL)
        ON CONFLICT ON CONSTRAINT clip_scene_tables_pkey DO UPDATE
           SET key_column = EXCLUDED.key_column, tenant_column = EXCLUDED.tenant_column,
               video_column = EXCLUDED.video_column, metadata_column = EXCLUDED.metadata_column
         WHERE r.adopted_at IS NULL;
        INSERT INTO clip_backfill_sources AS r (name, tbl, source_column, source_kind, embedding_column, enabled,
                                                registered_by)
        VALUES (v_name, v_tbl, v_src, v_kind, v_emb, coalesce(clip_register_source.enabled, true), current_user)
        ON CONFLICT ON CONSTRAINT clip_backfill_sources_pkey DO UPDATE
           SET tbl = EXCLUDED.tbl, source_column = EXCLUDED.source_column, source_kind = EXCLUDED.source_kind,
               embedding_column = EXCLUDED.embedding_column, enabled = EXCLUDED.enabled,
               registered_by = current_user, registered_at = now();
    EXCEPTION WHEN insufficient_privilege THEN
        -- The name belongs to a source on a table the caller does not own (row-level security).
        RAISE EXCEPTION 'backfill source name "%" is taken', v_name
            USING ERRCODE = 'duplicate_object', HINT = 'Choose another name.';
    WHEN unique_violation THEN
        RAISE EXCEPTION 'column "%" of % is already filled by another backfill source', v_emb, v_tbl
            USING ERRCODE = 'duplicate_object', HINT = 'Unregister that source first, or use another embedding column.';
    END;
    -- What was suppressed under the previous registration says nothing about this one.
    DELETE FROM clip_backfill_suppressed x WHERE x.source = v_name;
    -- The previous registration's column, if it moved, keeps no backfill-only registry row.
    IF v_old.name IS NOT NULL AND (v_old.tbl, v_old.embedding_column) IS DISTINCT FROM (v_tbl, v_emb) THEN
        DELETE FROM clip_scene_tables r
         WHERE r.scene_table = v_old.tbl AND r.embedding_column = v_old.embedding_column AND r.adopted_at IS NULL;
    END IF;
    SELECT c.* INTO v_out FROM clip_backfill_source_config c WHERE c.name = v_name;
    RETURN v_out;
END
$fn$;

-- Removes a registration, its run log and its registry row if that existed for backfill only (the
-- embeddings and metadata in the table stay; an adopted table stays adopted). True if removed.
CREATE FUNCTION clip_unregister_source(name text) RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
AS $fn$
DECLARE
    v_tbl regclass;
    v_emb name;
BEGIN
    DELETE FROM clip_backfill_sources r WHERE r.name = clip_unregister_source.name
    RETURNING r.tbl, r.embedding_column INTO v_tbl, v_emb;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    DELETE FROM clip_scene_tables r WHERE r.scene_table = v_tbl AND r.embedding_column = v_emb AND r.adopted_at IS NULL;
    RETURN true;
END
$fn$;

-- ---------------------------------------------------------------------------------------------------------
-- Per-row metadata.
--
-- A row with a new embedding: {"status": "ok", "source", "model", "pretrained", "model_sha256",
-- "preprocess_version", "generated_at", "inference_time_ms", "frame_strategy", "frame_count", "attempts",
-- "source_sha256" (sha256 of what was embedded: the bytes, the frames, the fetched body) and for URL sources
-- "url_sha256", "fetch_ms" and, when the response carried them, "etag" and "last_modified"}.
-- A row without an embedding whose embedding failed: {"status": "failed" | "failed_permanently", "stage",
-- "error_sqlstate", "error_message", "attempts", "failed_at", "next_retry_at", "model_sha256"}.
-- A row WITH an embedding whose re-embedding failed keeps its vector and the metadata that describes it, plus
-- "last_failure": {the same failure keys}; it is counted stale and retried with the same backoff.

-- Attempt number of the next try of a row, from its previous metadata (failures count up, anything else
-- starts again at 1).
CREATE FUNCTION clip_backfill_attempt(prev jsonb) RETURNS integer
LANGUAGE sql IMMUTABLE SECURITY INVOKER
AS $fn$
    SELECT CASE WHEN prev->>'status' IN ('failed', 'failed_permanently')
                THEN coalesce((prev->>'attempts')::integer, 0)
                WHEN prev ? 'last_failure'
                THEN coalesce((prev->'last_failure'->>'attempts')::integer, 0)
                ELSE 0 END + 1
$fn$;

-- The metadata of a failed attempt: retried with exponential backoff until max_attempts, then left alone.
CREATE FUNCTION clip_backfill_failure(source text, stage text, error_sqlstate text, error_message text,
                                      attempts integer, max_attempts integer, retry_base interval,
                                      model_sha256 jsonb) RETURNS jsonb
LANGUAGE sql STABLE SECURITY INVOKER
AS $fn$
    SELECT jsonb_build_object(
        'status', CASE WHEN attempts >= max_attempts THEN 'failed_permanently' ELSE 'failed' END,
        'source', source, 'stage', stage, 'error_sqlstate', error_sqlstate, 'error_message', left(error_message, 1000),
        'attempts', attempts, 'failed_at', now(),
        'next_retry_at', CASE WHEN attempts < max_attempts
                              THEN now() + retry_base * power(2, least(attempts - 1, 20)) END,
        'model_sha256', model_sha256)
$fn$;

-- The metadata a failed row gets: without an embedding, the failure itself; with one (a failed re-embed),
-- the previous metadata, which describes the vector that is kept, with the failure beside it.
CREATE FUNCTION clip_backfill_failed_meta(prev jsonb, had_embedding boolean, failure jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE SECURITY INVOKER
AS $fn$
    SELECT CASE WHEN had_embedding
                THEN (coalesce(prev, '{}'::jsonb) - 'last_failure') || jsonb_build_object('last_failure', failure - 'source')
                ELSE failure END
$fn$;

-- A failure that is not the row's: configuration (missing or unusable model: 58xxx, F0xxx) or privileges.
-- These fail the batch, once; everything else (a bad image, a refused or failed fetch, an internal error,
-- a degenerate output, clip.timeout_ms) is the row's failure.
CREATE FUNCTION clip_backfill_batch_error(sqlstate text, stage text) RETURNS boolean
LANGUAGE sql IMMUTABLE SECURITY INVOKER
AS $fn$
    SELECT left(sqlstate, 2) IN ('58', 'F0') OR (sqlstate = '42501' AND stage <> 'fetch')
$fn$;

-- The SQL expression (over the source column `col`) of a source's fingerprint: what a row's metadata
-- remembers of the embedded source to notice that the application replaced it. bytea: sha256 of the bytes;
-- frames: sha256 of the frames' sha256s in order; url: sha256 of the URL text (the fetched body's sha256 is
-- recorded too, but a remote change cannot be seen without fetching).
CREATE FUNCTION clip_backfill_fingerprint_sql(kind text, col text) RETURNS text
LANGUAGE sql IMMUTABLE SECURITY INVOKER
AS $fn$
    SELECT CASE kind
        WHEN 'bytea' THEN format('pg_catalog.encode(pg_catalog.sha256(%s::bytea), ''hex'')', col)
        WHEN 'url' THEN format('pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(%s::text, ''UTF8'')), ''hex'')', col)
        ELSE format('(SELECT pg_catalog.encode(pg_catalog.sha256(pg_catalog.string_agg(pg_catalog.sha256(coalesce(clip_f, ''\x''::bytea)), ''\x''::bytea ORDER BY clip_o)), ''hex'')'
                    ' FROM pg_catalog.unnest(%s::bytea[]) WITH ORDINALITY AS clip_u(clip_f, clip_o))', col)
    END
$fn$;

-- The metadata key that holds the fingerprint compared with the current source.
CREATE FUNCTION clip_backfill_fingerprint_key(kind text) RETURNS text
LANGUAGE sql IMMUTABLE SECURITY INVOKER
AS $fn$
    SELECT CASE kind WHEN 'url' THEN 'url_sha256' ELSE 'source_sha256' END
$fn$;

-- ---------------------------------------------------------------------------------------------------------
-- One batch of one source, run by clip_as_table_owner AS THE TABLE'S OWNER. args: {"source": the registry
-- row, "ident": clip_image_model_identity(), "batch", "dry_run", "video_id", "user_id", "force",
-- "force_before"}. Claims up to `batch` rows — first rows without an embedding (never tried, or a failed row
-- whose retry is due), then stale rows (embedded with another model or preprocessing, or whose source
-- changed since; a failed re-embed waits for its retry) — with FOR NO KEY UPDATE SKIP LOCKED, embeds them,
-- and writes each row's outcome. With force, every row with a source that was not generated/attempted since
-- force_before. With dry_run, counts (batch NULL: no limit) without locking or writing.
-- Returns {"processed", "succeeded" (rows written with a new embedding), "failed" (rows whose failure was
-- recorded, or whose write did not take effect), "suppressed" (of failed: rows where nothing could be
-- written), "skipped", "regenerated"}.
-- Dynamic statement parameters: $1 video_id, $2 user_id, $3 force_before, $4 current-model containment
-- document, $5 limit.
CREATE FUNCTION clip_backfill_source_batch_as_owner(tbl regclass, args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
AS $fn$
DECLARE
    s            clip_backfill_source_config := jsonb_populate_record(NULL::clip_backfill_source_config, args->'source');
    p_ident      jsonb := args->'ident';
    p_batch      integer := (args->>'batch')::integer;
    p_dry_run    boolean := coalesce((args->>'dry_run')::boolean, false);
    p_video_id   text := args->>'video_id';
    p_user_id    text := args->>'user_id';
    p_force      boolean := coalesce((args->>'force')::boolean, false);
    p_force_before timestamptz := (args->>'force_before')::timestamptz;
    v_emb        text;
    v_meta       text;
    v_src        text;
    v_fp_sql     text;
    v_fp_key     text;
    v_keytype    text;
    v_model      jsonb := jsonb_build_object('model_sha256', p_ident->'sha256',
                                             'preprocess_version', p_ident->'preprocess_version');
    v_sha        text := p_ident->>'sha256';
    v_max        integer := coalesce(nullif(current_setting('clip.backfill_max_attempts', true), '')::integer, 5);
    v_base       interval := coalesce(nullif(current_setting('clip.backfill_retry_base_s', true), '')::interval,
                                      interval '60 seconds');
    v_has_src    text;
    v_filter     text := '';
    v_missing    text;
    v_stale      text;
    v_retry_ok   text;
    v_changed    text;
    v_cols       text;
    v_sql        text;
    r            record;
    v_keys       text[] := '{}';
    v_prev       jsonb[] := '{}';
    v_had        boolean[] := '{}';
    v_imgs       bytea[] := '{}';
    v_urls       text[] := '{}';
    v_fps        text[] := '{}';    -- the source fingerprint at claim time
    v_tids       tid[] := '{}';     -- where each claimed row is: locked by the claim, so it cannot move
    v_extra      jsonb[] := '{}';   -- per-row additions to the success metadata (frames, fetch time, sha256)
    v_body       bytea;
    v_etag       text;              -- a fetched URL's ETag and Last-Modified (NULL when absent)
    v_last_modified text;
    v_out_emb    vector[] := '{}';
    v_out_meta   jsonb[] := '{}';
    v_done       boolean[] := '{}'; -- outcome already decided (a failed fetch, a failed embed)
    v_try_emb    vector[];
    v_try_code   text[];
    v_try_msg    text[];
    v_batch_ok   boolean;
    v_frames     bytea[];
    v_vec        vector;
    v_t0         timestamptz;
    v_ms         numeric;
    v_n          integer;
    v_i          integer;
    v_code       text;
    v_msg        text;
    v_attempts   integer;
    v_ok_base    jsonb;
    v_written    text[];
    v_recorded   text[];
    v_w_keys     text[];
    v_w_emb      vector[];
    v_w_meta     jsonb[];
    v_w_fps      text[];
    v_w_tids     tid[];
    v_f_keys     text[];
    v_f_meta     jsonb[];
    v_f_fps      text[];
    v_f_tids     tid[];
    processed    bigint := 0;
    succeeded    bigint := 0;
    failed       bigint := 0;
    suppressed   bigint := 0;
    regenerated  bigint := 0;
BEGIN
    IF s.tbl IS DISTINCT FROM tbl THEN
        RAISE EXCEPTION 'pg_clip internal error: batch of source "%" called for table %', s.name, tbl
            USING ERRCODE = 'internal_error';
    END IF;
    -- Again, as the owner, right before the claim.
    PERFORM clip_check_columns(s.tbl, 'backfilled', s.key_column, s.embedding_column, s.metadata_column,
                               tenant_column => s.user_column, video_column => s.video_column,
                               source_column => s.source_column, source_kind => s.source_kind);
    IF v_max < 1 THEN v_max := 1; END IF;
    -- pg_clip's own maintenance as the owner: exempt from the owner's FORCEd tenant policy, for this call only.
    PERFORM pg_catalog.set_config('pg_clip.maintenance_table', (tbl)::oid::text, true);

    IF s.source_kind = 'url' AND NOT p_dry_run
       AND NOT pg_catalog.has_function_privilege('clip_fetch_url(text)'::regprocedure, 'EXECUTE') THEN
        RAISE EXCEPTION 'the owner of % may not execute clip_fetch_url', tbl
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'A backfill runs as the table''s owner; clip_fetch_url is not executable by PUBLIC.',
                  HINT = format('GRANT EXECUTE ON FUNCTION clip_fetch_url(text) TO %I;',
                                (SELECT pg_catalog.pg_get_userbyid(c.relowner) FROM pg_catalog.pg_class c WHERE c.oid = tbl));
    END IF;

    v_emb := quote_ident(s.embedding_column);
    v_meta := quote_ident(s.metadata_column);
    v_src := quote_ident(s.source_column);
    v_keytype := clip_column_type(s.tbl, s.key_column);
    v_fp_sql := clip_backfill_fingerprint_sql(s.source_kind, v_src);
    v_fp_key := clip_backfill_fingerprint_key(s.source_kind);
    v_has_src := format('%s IS NOT NULL AND %I IS NOT NULL', v_src, s.key_column)
              || CASE WHEN s.source_kind = 'frames' THEN format(' AND cardinality(%s) > 0', v_src) ELSE '' END;
    IF p_video_id IS NOT NULL THEN
        v_filter := v_filter || format(' AND %I = $1::%s', s.video_column, clip_column_type(s.tbl, s.video_column));
    END IF;
    IF p_user_id IS NOT NULL THEN
        v_filter := v_filter || format(' AND %I = $2::%s', s.user_column, clip_column_type(s.tbl, s.user_column));
    END IF;
    -- Rows whose every write was suppressed (clip_backfill_suppressed) wait for a change of their source, or
    -- for a forced run that started after they were suppressed. The columns are qualified (alias clip_t):
    -- the table may have columns named like clip_backfill_suppressed's.
    IF EXISTS (SELECT 1 FROM clip_backfill_suppressed x WHERE x.source = s.name) THEN
        v_filter := v_filter || format(' AND NOT EXISTS (SELECT 1 FROM clip_backfill_suppressed clip_x'
                                       ' WHERE clip_x.source = $6 AND clip_x.row_key = clip_t.%I::text AND %s)',
                                       s.key_column,
                                       CASE WHEN p_force THEN 'clip_x.suppressed_at >= $3'
                                            ELSE format('clip_x.fingerprint IS NOT DISTINCT FROM %s',
                                                        clip_backfill_fingerprint_sql(s.source_kind, 'clip_t.' || v_src)) END);
    END IF;
    -- A changed source: the row remembers a fingerprint (rows embedded before 0.2.0 do not) that differs.
    v_changed := format('(%1$s ? %2$L AND %1$s->>%2$L IS DISTINCT FROM %3$s)', v_meta, v_fp_key, v_fp_sql);
    IF p_force THEN
        v_missing := format('%1$s IS NULL AND %2$s AND (%3$s IS NULL'
                            ' OR coalesce(%3$s->>''status'', '''') NOT IN (''failed'', ''failed_permanently'')'
                            ' OR coalesce((%3$s->>''failed_at'')::timestamptz, ''-infinity'') < $3)',
                            v_emb, v_has_src, v_meta);
        v_stale := format('%1$s IS NOT NULL AND %2$s AND (%3$s IS NULL'
                          ' OR coalesce((%3$s->>''generated_at'')::timestamptz, ''-infinity'') < $3)'
                          ' AND coalesce((%3$s->''last_failure''->>''failed_at'')::timestamptz, ''-infinity'') < $3',
                          v_emb, v_has_src, v_meta);
    ELSE
        v_missing := format('%1$s IS NULL AND %2$s AND (%3$s IS NULL'
                            ' OR coalesce(%3$s->>''status'', '''') NOT IN (''failed'', ''failed_permanently'')'
                            ' OR (%3$s->>''status'' = ''failed'''
                            '     AND coalesce((%3$s->>''next_retry_at'')::timestamptz, ''-infinity'') <= now()))',
                            v_emb, v_has_src, v_meta);
        -- A failed re-embed is retried when due, or at once for another model than the one that failed.
        v_retry_ok := format('(NOT %1$s ? ''last_failure'''
                             ' OR %1$s->''last_failure''->>''model_sha256'' IS DISTINCT FROM $4->>''model_sha256'''
                             ' OR (%1$s->''last_failure''->>''status'' = ''failed'''
                             '     AND coalesce((%1$s->''last_failure''->>''next_retry_at'')::timestamptz, ''-infinity'') <= now()))',
                             v_meta);
        v_stale := format('%1$s IS NOT NULL AND %2$s AND (%3$s IS NULL OR ((NOT %3$s @> $4 OR %4$s) AND %5$s))',
                          v_emb, v_has_src, v_meta, v_changed, v_retry_ok);
    END IF;

    IF p_dry_run THEN
        EXECUTE format('SELECT count(*), count(*) FILTER (WHERE had) FROM ('
                       '(SELECT false AS had FROM %1$s AS clip_t WHERE %2$s%4$s LIMIT $5)'
                       ' UNION ALL (SELECT true FROM %1$s AS clip_t WHERE %3$s%4$s LIMIT $5) LIMIT $5) c',
                       s.tbl, v_missing, v_stale, v_filter)
           INTO processed, regenerated
           USING p_video_id, p_user_id, p_force_before, v_model, p_batch, s.name;
        RETURN jsonb_build_object('processed', processed, 'succeeded', 0, 'failed', 0, 'suppressed', 0,
                                  'skipped', processed, 'regenerated', regenerated);
    END IF;

    -- Claim. Each branch locks only the rows it returns; the outer LIMIT stops the stale branch from running
    -- when the missing one filled the batch. Rows another session holds are skipped, never waited for.
    -- The row's ctid too: writes find the claimed row by key AND ctid, so a key that is unique only with the
    -- distribution column (a Citus shard, docs/scale-out.md) still names exactly the row that was claimed.
    v_cols := format('%I::text AS k, %s AS img, %s AS url, %s AS meta, (%s IS NOT NULL) AS had, %s AS fp, clip_t.ctid AS tid',
                     s.key_column,
                     CASE WHEN s.source_kind = 'bytea' THEN v_src || '::bytea' ELSE 'NULL::bytea' END,
                     CASE WHEN s.source_kind = 'url' THEN v_src || '::text' ELSE 'NULL::text' END,
                     v_meta, v_emb, v_fp_sql);
    v_sql := format('SELECT * FROM (SELECT %1$s FROM %2$s AS clip_t WHERE %3$s%5$s LIMIT $5 FOR NO KEY UPDATE OF clip_t SKIP LOCKED) m'
                    ' UNION ALL SELECT * FROM (SELECT %1$s FROM %2$s AS clip_t WHERE %4$s%5$s LIMIT $5 FOR NO KEY UPDATE OF clip_t SKIP LOCKED) s'
                    ' LIMIT $5',
                    v_cols, s.tbl, v_missing, v_stale, v_filter);
    FOR r IN EXECUTE v_sql USING p_video_id, p_user_id, p_force_before, v_model, p_batch, s.name LOOP
        v_keys := array_append(v_keys, r.k);
        v_prev := array_append(v_prev, r.meta);
        v_had := array_append(v_had, r.had);
        v_imgs := array_append(v_imgs, r.img);
        v_urls := array_append(v_urls, r.url);
        v_fps := array_append(v_fps, r.fp);
        v_tids := array_append(v_tids, r.tid);
        v_done := array_append(v_done, false);
        v_extra := array_append(v_extra, '{}'::jsonb);
        v_out_emb := array_append(v_out_emb, NULL::vector);
        v_out_meta := array_append(v_out_meta, NULL::jsonb);
        IF r.had THEN regenerated := regenerated + 1; END IF;
    END LOOP;
    v_n := cardinality(v_keys);
    processed := v_n;
    IF v_n = 0 THEN
        RETURN jsonb_build_object('processed', 0, 'succeeded', 0, 'failed', 0, 'suppressed', 0, 'skipped', 0,
                                  'regenerated', 0);
    END IF;

    v_ok_base := jsonb_build_object(
        'status', 'ok', 'source', s.name,
        'model', p_ident->'name', 'pretrained', p_ident->'pretrained',
        'model_sha256', p_ident->'sha256', 'preprocess_version', p_ident->'preprocess_version',
        'generated_at', now());

    IF s.source_kind = 'url' THEN
        -- Fetch one by one; a refused/failed/oversized/timed-out fetch is that row's failure. Cancel and
        -- statement_timeout (57014) are not caught (WHEN OTHERS excludes them) and end the batch.
        FOR v_i IN 1 .. v_n LOOP
            v_t0 := clock_timestamp();
            BEGIN
                SELECT f.body, f.etag, f.last_modified INTO v_body, v_etag, v_last_modified
                  FROM clip_fetch_url_with_validators(v_urls[v_i]) f;
                v_imgs[v_i] := v_body;
                -- The validators identify the remote version beside source_sha256 (of the body); absent
                -- ones are left out rather than stored as null.
                v_extra[v_i] := jsonb_strip_nulls(jsonb_build_object('fetch_ms',
                    round((extract(epoch FROM clock_timestamp() - v_t0) * 1000)::numeric, 3),
                    'url_sha256', v_fps[v_i], 'etag', v_etag, 'last_modified', v_last_modified));
            EXCEPTION WHEN OTHERS THEN
                GET STACKED DIAGNOSTICS v_code = RETURNED_SQLSTATE, v_msg = MESSAGE_TEXT;
                IF clip_backfill_batch_error(v_code, 'fetch') THEN
                    RAISE;
                END IF;
                v_imgs[v_i] := NULL;
                v_done[v_i] := true;
                v_out_meta[v_i] := clip_backfill_failed_meta(v_prev[v_i], v_had[v_i],
                    clip_backfill_failure(s.name, 'fetch', v_code, v_msg, clip_backfill_attempt(v_prev[v_i]), v_max,
                                          v_base, p_ident->'sha256'));
            END;
        END LOOP;
    END IF;

    IF s.source_kind IN ('bytea', 'url') THEN
        -- Fast path: one call for the batch (forward passes of clip.max_batch_size images); a bad image is a
        -- row with its error. If the call itself fails (an internal error, a degenerate output,
        -- clip.timeout_ms on the whole batch), each row is embedded again on its own, in its own
        -- subtransaction, so a poison row fails alone. A missing or broken model fails the batch.
        v_try_emb := array_fill(NULL::vector, ARRAY[v_n]);
        v_try_code := array_fill(NULL::text, ARRAY[v_n]);
        v_try_msg := array_fill(NULL::text, ARRAY[v_n]);
        v_t0 := clock_timestamp();
        v_batch_ok := true;
        BEGIN
            FOR r IN SELECT t.ord, t.embedding, t.error_sqlstate, t.error_message FROM clip_try_embed_images(v_imgs) t LOOP
                v_try_emb[r.ord] := r.embedding;
                v_try_code[r.ord] := r.error_sqlstate;
                v_try_msg[r.ord] := r.error_message;
            END LOOP;
        EXCEPTION
            WHEN query_canceled THEN
                GET STACKED DIAGNOSTICS v_msg = MESSAGE_TEXT;
                IF v_msg NOT LIKE '%clip.timeout_ms%' THEN
                    RAISE;   -- a cancel or statement_timeout ends the batch
                END IF;
                v_batch_ok := false;
            WHEN OTHERS THEN
                GET STACKED DIAGNOSTICS v_code = RETURNED_SQLSTATE;
                IF clip_backfill_batch_error(v_code, 'embed') THEN
                    RAISE;
                END IF;
                v_batch_ok := false;
        END;
        IF v_batch_ok THEN
            v_ms := extract(epoch FROM clock_timestamp() - v_t0) * 1000;
            -- The batch's time shared by the rows that went through the model.
            v_ms := round(v_ms / greatest((SELECT count(*) FROM unnest(v_imgs) x WHERE x IS NOT NULL), 1), 3);
        ELSE
            v_ms := NULL;
            FOR v_i IN 1 .. v_n LOOP
                CONTINUE WHEN v_done[v_i] OR v_imgs[v_i] IS NULL;
                v_t0 := clock_timestamp();
                BEGIN
                    SELECT t.embedding, t.error_sqlstate, t.error_message INTO v_vec, v_code, v_msg
                      FROM clip_try_embed_images(ARRAY[v_imgs[v_i]]) t;
                    v_try_emb[v_i] := v_vec; v_try_code[v_i] := v_code; v_try_msg[v_i] := v_msg;
                EXCEPTION
                    WHEN query_canceled THEN
                        GET STACKED DIAGNOSTICS v_code = RETURNED_SQLSTATE, v_msg = MESSAGE_TEXT;
                        IF v_msg NOT LIKE '%clip.timeout_ms%' THEN
                            RAISE;
                        END IF;
                        v_try_emb[v_i] := NULL; v_try_code[v_i] := v_code; v_try_msg[v_i] := v_msg;
                    WHEN OTHERS THEN
                        GET STACKED DIAGNOSTICS v_code = RETURNED_SQLSTATE, v_msg = MESSAGE_TEXT;
                        IF clip_backfill_batch_error(v_code, 'embed') THEN
                            RAISE;
                        END IF;
                        v_try_emb[v_i] := NULL; v_try_code[v_i] := v_code; v_try_msg[v_i] := v_msg;
                END;
                v_extra[v_i] := v_extra[v_i] || jsonb_build_object('inference_time_ms',
                    round((extract(epoch FROM clock_timestamp() - v_t0) * 1000)::numeric, 3));
            END LOOP;
        END IF;
        FOR v_i IN 1 .. v_n LOOP
            CONTINUE WHEN v_done[v_i];
            IF v_try_emb[v_i] IS NULL THEN
                v_out_meta[v_i] := clip_backfill_failed_meta(v_prev[v_i], v_had[v_i],
                    clip_backfill_failure(s.name, 'embed', coalesce(v_try_code[v_i], '22004'),
                                          coalesce(v_try_msg[v_i], 'no image to embed'),
                                          clip_backfill_attempt(v_prev[v_i]), v_max, v_base, p_ident->'sha256'));
                v_done[v_i] := true;
            ELSE
                v_out_emb[v_i] := v_try_emb[v_i];
                v_out_meta[v_i] := v_ok_base || jsonb_build_object('inference_time_ms', v_ms) || v_extra[v_i]
                    || jsonb_build_object('frame_strategy', 'single', 'frame_count', 1,
                                          'attempts', clip_backfill_attempt(v_prev[v_i]),
                                          'source_sha256', pg_catalog.encode(pg_catalog.sha256(v_imgs[v_i]), 'hex'));
            END IF;
        END LOOP;
    ELSE
        -- frames: one clip_embed_frames call per row (its frames in one batch, mean-pooled, normalised).
        FOR v_i IN 1 .. v_n LOOP
            EXECUTE format('SELECT %s::bytea[] FROM %s WHERE %I = $1::%s AND ctid = $2', v_src, s.tbl, s.key_column, v_keytype)
               INTO v_frames USING v_keys[v_i], v_tids[v_i];
            v_attempts := clip_backfill_attempt(v_prev[v_i]);
            v_t0 := clock_timestamp();
            v_code := NULL;
            BEGIN
                v_vec := clip_embed_frames(v_frames);
                IF v_vec IS NULL THEN
                    v_code := '22004';
                    v_msg := 'the scene has no non-NULL frames';
                END IF;
            EXCEPTION
                WHEN query_canceled THEN
                    GET STACKED DIAGNOSTICS v_code = RETURNED_SQLSTATE, v_msg = MESSAGE_TEXT;
                    IF v_msg NOT LIKE '%clip.timeout_ms%' THEN
                        RAISE;
                    END IF;
                WHEN OTHERS THEN
                    GET STACKED DIAGNOSTICS v_code = RETURNED_SQLSTATE, v_msg = MESSAGE_TEXT;
                    IF clip_backfill_batch_error(v_code, 'embed') THEN
                        RAISE;   -- missing/broken model: not this row's fault
                    END IF;
            END;
            IF v_code IS NULL THEN
                v_out_emb[v_i] := v_vec;
                v_out_meta[v_i] := v_ok_base || jsonb_build_object(
                    'inference_time_ms', round((extract(epoch FROM clock_timestamp() - v_t0) * 1000)::numeric, 3),
                    'frame_strategy', 'mean', 'frame_count', (SELECT count(*) FROM unnest(v_frames) f WHERE f IS NOT NULL),
                    'attempts', v_attempts, 'source_sha256', v_fps[v_i]);
            ELSE
                v_out_meta[v_i] := clip_backfill_failed_meta(v_prev[v_i], v_had[v_i],
                    clip_backfill_failure(s.name, 'embed', v_code, v_msg, v_attempts, v_max, v_base, p_ident->'sha256'));
                v_done[v_i] := true;
            END IF;
        END LOOP;
    END IF;

    -- Write. New embeddings with their metadata, only where the source still has the fingerprint that was
    -- embedded; failures by their metadata only, so a failed re-embed never touches the vector it keeps.
    -- RETURNING tells which writes took effect (a BEFORE trigger returning NULL or a policy can suppress one).
    SELECT coalesce(array_agg(v_keys[i] ORDER BY i), '{}'), coalesce(array_agg(v_out_emb[i] ORDER BY i), '{}'),
           coalesce(array_agg(v_out_meta[i] ORDER BY i), '{}'), coalesce(array_agg(v_fps[i] ORDER BY i), '{}'),
           coalesce(array_agg(v_tids[i] ORDER BY i), '{}')
      INTO v_w_keys, v_w_emb, v_w_meta, v_w_fps, v_w_tids
      FROM generate_series(1, v_n) i WHERE v_out_emb[i] IS NOT NULL;
    SELECT coalesce(array_agg(v_keys[i] ORDER BY i), '{}'), coalesce(array_agg(v_out_meta[i] ORDER BY i), '{}'),
           coalesce(array_agg(v_fps[i] ORDER BY i), '{}'), coalesce(array_agg(v_tids[i] ORDER BY i), '{}')
      INTO v_f_keys, v_f_meta, v_f_fps, v_f_tids
      FROM generate_series(1, v_n) i WHERE v_out_emb[i] IS NULL;
    EXECUTE format('WITH w AS (UPDATE %1$s AS t SET %2$s = u.e, %3$s = u.m'
                   '  FROM unnest($1::text[], $2::vector[], $3::jsonb[], $4::text[], $5::tid[]) AS u(k, e, m, fp, tid)'
                   ' WHERE t.ctid = u.tid AND t.%4$I = u.k::%5$s AND %6$s IS NOT DISTINCT FROM u.fp'
                   ' RETURNING u.k) SELECT coalesce(array_agg(k), ''{}'') FROM w',
                   s.tbl, v_emb, v_meta, s.key_column, v_keytype,
                   clip_backfill_fingerprint_sql(s.source_kind, 't.' || v_src))
       INTO v_written USING v_w_keys, v_w_emb, v_w_meta, v_w_fps, v_w_tids;
    succeeded := cardinality(v_written);

    -- A new embedding whose write did not take effect is recorded as the row's failure (stage "write"), so
    -- it is retried with backoff and given up on, not claimed again forever.
    FOR v_i IN 1 .. v_n LOOP
        IF v_out_emb[v_i] IS NOT NULL AND NOT v_keys[v_i] = ANY (v_written) THEN
            v_f_keys := v_f_keys || v_keys[v_i];
            v_f_fps := v_f_fps || v_fps[v_i];
            v_f_tids := v_f_tids || v_tids[v_i];
            v_f_meta := v_f_meta || clip_backfill_failed_meta(v_prev[v_i], v_had[v_i],
                clip_backfill_failure(s.name, 'write', '02000',
                    'the UPDATE of the row did not take effect (a trigger returned NULL, a row-level security policy hid the row, or the source changed)',
                    clip_backfill_attempt(v_prev[v_i]), v_max, v_base, p_ident->'sha256'));
        END IF;
    END LOOP;
    EXECUTE format('WITH w AS (UPDATE %1$s AS t SET %2$s = u.m'
                   '  FROM unnest($1::text[], $2::jsonb[], $3::tid[]) AS u(k, m, tid) WHERE t.ctid = u.tid AND t.%3$I = u.k::%4$s'
                   ' RETURNING u.k) SELECT coalesce(array_agg(k), ''{}'') FROM w',
                   s.tbl, v_meta, s.key_column, v_keytype)
       INTO v_recorded USING v_f_keys, v_f_meta, v_f_tids;
    failed := v_n - succeeded;
    suppressed := cardinality(v_f_keys) - cardinality(v_recorded);
    -- Rows where nothing could be written are remembered, with the fingerprint of what was claimed, so that
    -- the next batches do not claim them again; a row any write reached is forgotten.
    -- Not on a Citus worker (record_suppressed false): the source is registered on the coordinator only.
    IF suppressed > 0 AND coalesce((args->>'record_suppressed')::boolean, true) THEN
        INSERT INTO clip_backfill_suppressed AS x (source, row_key, fingerprint, suppressed_at)
        SELECT s.name, u.k, u.fp, now() FROM unnest(v_f_keys, v_f_fps) AS u(k, fp) WHERE NOT u.k = ANY (v_recorded)
        ON CONFLICT (source, row_key) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, suppressed_at = EXCLUDED.suppressed_at;
    END IF;
    DELETE FROM clip_backfill_suppressed x WHERE x.source = s.name AND x.row_key = ANY (v_written || v_recorded);
    RETURN jsonb_build_object('processed', processed, 'succeeded', succeeded, 'failed', failed,
                              'suppressed', suppressed, 'skipped', 0, 'regenerated', regenerated);
END
$fn$;

-- ---------------------------------------------------------------------------------------------------------
-- The batch runner behind clip_backfill and clip_backfill_run: for each source (the named one, or every
-- enabled source whose table the caller owns itself), validates it, runs one batch as the table's owner, and
-- logs the run. Returns per source what clip_backfill returns plus the rows whose writes were suppressed.
CREATE FUNCTION clip_backfill_impl(
    p_batch integer, p_source text, p_dry_run boolean, p_video_id text, p_user_id text,
    p_force boolean, p_force_before timestamptz)
RETURNS TABLE(o_source text, o_processed bigint, o_succeeded bigint, o_failed bigint, o_skipped bigint, o_ms numeric,
              o_suppressed bigint)
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
AS $fn$
DECLARE
    v_ident   jsonb;
    v_me      oid := (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = current_user);
    v_before  timestamptz := coalesce(p_force_before, now());
    s         clip_backfill_source_config;
    v_started timestamptz;
    v_res     jsonb;
    v_code    text;
    v_msg     text;
BEGIN
    IF p_batch IS NULL AND NOT coalesce(p_dry_run, false) OR p_batch < 1 THEN
        RAISE EXCEPTION 'batch must be at least 1 (NULL only with dry_run)' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_source IS NOT NULL AND NOT EXISTS (SELECT 1 FROM clip_backfill_sources r WHERE r.name = p_source) THEN
        RAISE EXCEPTION 'backfill source "%" does not exist', p_source
            USING ERRCODE = 'undefined_object',
                  HINT = 'Register it with clip_register_source(...). Only the sources of tables you own are visible.';
    END IF;

    -- Fail fast: a missing or broken model raises here, before any row is claimed or marked.
    v_ident := clip_image_model_identity();

    FOR s IN
        SELECT r.* FROM clip_backfill_source_config r
         WHERE (p_source IS NOT NULL AND r.name = p_source)
            OR (p_source IS NULL AND r.enabled
                AND EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid = r.tbl AND c.relowner = v_me))
         ORDER BY r.name
    LOOP
        -- Re-validate every time (columns may have been dropped or retyped); a named source raises.
        IF p_source IS NOT NULL THEN
            PERFORM clip_check_columns(s.tbl, 'backfilled', s.key_column, s.embedding_column, s.metadata_column,
                                       tenant_column => s.user_column, video_column => s.video_column,
                                       source_column => s.source_column, source_kind => s.source_kind);
            PERFORM clip_assert_may_act_as_owner(s.tbl, 'backfill it');
        ELSE
            BEGIN
                PERFORM clip_check_columns(s.tbl, 'backfilled', s.key_column, s.embedding_column, s.metadata_column,
                                           tenant_column => s.user_column, video_column => s.video_column,
                                           source_column => s.source_column, source_kind => s.source_kind);
            EXCEPTION WHEN OTHERS THEN
                GET STACKED DIAGNOSTICS v_code = RETURNED_SQLSTATE, v_msg = MESSAGE_TEXT;
                RAISE WARNING 'skipping backfill source "%": % (SQLSTATE %)', s.name, v_msg, v_code;
                CONTINUE;
            END;
        END IF;
        IF (p_video_id IS NOT NULL AND s.video_column IS NULL) OR (p_user_id IS NOT NULL AND s.user_column IS NULL) THEN
            IF p_source IS NOT NULL THEN
                RAISE EXCEPTION 'backfill source "%" has no % column to filter on', s.name,
                                CASE WHEN p_video_id IS NOT NULL AND s.video_column IS NULL THEN 'video' ELSE 'user' END
                    USING ERRCODE = 'invalid_parameter_value',
                          HINT = 'Re-register it with video_column => ... / user_column => ....';
            END IF;
            RAISE NOTICE 'skipping backfill source "%": it has no column for the video/user filter', s.name;
            CONTINUE;
        END IF;

        v_started := clock_timestamp();
        v_res := NULL;
        IF p_source IS NOT NULL THEN
            v_res := clip_backfill_dispatch((s.tbl)::oid,
                         ('clip_backfill_source_batch_as_owner(regclass,jsonb)'::regprocedure)::oid,
                         jsonb_build_object('source', to_jsonb(s), 'ident', v_ident, 'batch', p_batch,
                                            'dry_run', coalesce(p_dry_run, false), 'video_id', p_video_id,
                                            'user_id', p_user_id, 'force', coalesce(p_force, false),
                                            'force_before', v_before));
        ELSE
            -- One source's failure does not stop the others (its batch is rolled back); a configuration
            -- error (the model) would fail every source, so it fails the call.
            BEGIN
                v_res := clip_backfill_dispatch((s.tbl)::oid,
                             ('clip_backfill_source_batch_as_owner(regclass,jsonb)'::regprocedure)::oid,
                             jsonb_build_object('source', to_jsonb(s), 'ident', v_ident, 'batch', p_batch,
                                                'dry_run', coalesce(p_dry_run, false), 'video_id', p_video_id,
                                                'user_id', p_user_id, 'force', coalesce(p_force, false),
                                                'force_before', v_before));
            EXCEPTION WHEN OTHERS THEN
                GET STACKED DIAGNOSTICS v_code = RETURNED_SQLSTATE, v_msg = MESSAGE_TEXT;
                IF left(v_code, 2) IN ('58', 'F0') THEN
                    RAISE;
                END IF;
                RAISE WARNING 'backfill source "%" failed: % (SQLSTATE %)', s.name, v_msg, v_code;
                CONTINUE;
            END;
        END IF;
        o_source := s.name;
        o_processed := (v_res->>'processed')::bigint;
        o_succeeded := (v_res->>'succeeded')::bigint;
        o_failed := (v_res->>'failed')::bigint;
        o_skipped := (v_res->>'skipped')::bigint;
        o_suppressed := (v_res->>'suppressed')::bigint;
        o_ms := round((extract(epoch FROM clock_timestamp() - v_started) * 1000)::numeric, 3);
        IF NOT coalesce(p_dry_run, false) AND o_processed > 0 THEN
            INSERT INTO clip_backfill_runs (source, started_at, finished_at, batch, processed, succeeded, failed,
                                            regenerated, ms, forced, suppressed)
            VALUES (s.name, v_started, clock_timestamp(), p_batch, o_processed, o_succeeded, o_failed,
                    (v_res->>'regenerated')::bigint, o_ms, coalesce(p_force, false), o_suppressed);
        END IF;
        RETURN NEXT;
    END LOOP;
END
$fn$;

-- Embeds up to `batch` pending rows of each source (the named one, or every enabled source of a table the
-- caller owns) in the caller's transaction, and returns a row per source. See docs/backfill.md.
CREATE FUNCTION clip_backfill(
    batch        integer     DEFAULT 50,     -- rows per source; NULL only with dry_run (= count them all)
    source       text        DEFAULT NULL,
    dry_run      boolean     DEFAULT false,  -- count what would be processed; locks and writes nothing
    video_id     text        DEFAULT NULL,   -- only rows of this video (source needs video_column)
    user_id      text        DEFAULT NULL,   -- only rows of this user (source needs user_column)
    force        boolean     DEFAULT false,  -- regenerate rows not generated/attempted since force_before
    force_before timestamptz DEFAULT NULL    -- NULL: the start of the current transaction
) RETURNS SETOF clip_backfill_result
LANGUAGE sql VOLATILE SECURITY INVOKER
AS $fn$
    SELECT o_source, o_processed, o_succeeded, o_failed, o_skipped, o_ms FROM clip_backfill_impl($1, $2, $3, $4, $5, $6, $7)
$fn$;

-- ---------------------------------------------------------------------------------------------------------
-- Long runs: batches of clip_backfill with a COMMIT after each (a cancel or crash loses at most the batch in
-- flight), until nothing is pending or max_batches ran; NOTICE progress with rate and ETA every
-- progress_every_rows rows or progress_every_s seconds. Must be CALLed outside an explicit transaction.
-- Stops early when a batch could write nothing at all (every write suppressed), instead of claiming the
-- same rows forever. No SET clause (a procedure with one cannot COMMIT), so every name below is
-- schema-qualified.
CREATE PROCEDURE clip_backfill_run(
    batch               integer DEFAULT 50,
    max_batches         integer DEFAULT NULL,   -- NULL: until nothing is pending
    source              text    DEFAULT NULL,
    video_id            text    DEFAULT NULL,
    user_id             text    DEFAULT NULL,
    force               boolean DEFAULT false,  -- regenerate every row once (rows done by this run are not redone)
    progress_every_s    numeric DEFAULT 10,
    progress_every_rows bigint  DEFAULT 1000)
LANGUAGE plpgsql SECURITY INVOKER
AS $fn$
DECLARE
    v_before     timestamptz := now();
    v_t0         timestamptz := clock_timestamp();
    v_last_note  timestamptz := clock_timestamp();
    v_last_rows  bigint := 0;
    v_total      bigint;
    v_batches    integer := 0;
    v_proc       bigint := 0;
    v_ok         bigint := 0;
    v_fail       bigint := 0;
    b_proc       bigint;
    b_ok         bigint;
    b_fail       bigint;
    b_supp       bigint;
    v_secs       numeric;
    v_rate       numeric;
BEGIN
    IF batch IS NULL OR batch < 1 THEN
        RAISE EXCEPTION 'batch must be at least 1' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- What a full run would process, for the ETA (the same predicates, no limit, no locks).
    SELECT coalesce(sum(d.o_processed), 0) INTO v_total
      FROM @extschema@.clip_backfill_impl(NULL, clip_backfill_run.source, true, clip_backfill_run.video_id,
                                          clip_backfill_run.user_id, clip_backfill_run.force, v_before) d;
    RAISE NOTICE 'clip_backfill_run: % rows to process in batches of %', v_total, batch;
    COMMIT;
    LOOP
        EXIT WHEN max_batches IS NOT NULL AND v_batches >= max_batches;
        SELECT coalesce(sum(b.o_processed), 0), coalesce(sum(b.o_succeeded), 0), coalesce(sum(b.o_failed), 0),
               coalesce(sum(b.o_suppressed), 0)
          INTO b_proc, b_ok, b_fail, b_supp
          FROM @extschema@.clip_backfill_impl(batch, clip_backfill_run.source, false, clip_backfill_run.video_id,
                                              clip_backfill_run.user_id, clip_backfill_run.force, v_before) b;
        COMMIT;
        EXIT WHEN b_proc = 0;
        v_batches := v_batches + 1;
        v_proc := v_proc + b_proc;
        v_ok := v_ok + b_ok;
        v_fail := v_fail + b_fail;
        IF b_supp = b_proc THEN
            RAISE NOTICE 'clip_backfill_run: stopping: none of the % rows of the last batch could be written (a trigger or policy suppresses the UPDATE)', b_proc;
            EXIT;
        END IF;
        IF v_proc - v_last_rows >= progress_every_rows
           OR clock_timestamp() - v_last_note >= make_interval(secs => progress_every_s::double precision) THEN
            v_secs := extract(epoch FROM clock_timestamp() - v_t0);
            v_rate := v_proc / greatest(v_secs, 0.001);
            RAISE NOTICE 'clip_backfill_run: % of ~% rows (% embedded, % failed) in % s, % rows/s, ETA %',
                v_proc, greatest(v_total, v_proc), v_ok, v_fail, round(v_secs, 1), round(v_rate, 1),
                date_trunc('second', make_interval(secs => (greatest(v_total - v_proc, 0) / greatest(v_rate, 0.001))::double precision));
            v_last_note := clock_timestamp();
            v_last_rows := v_proc;
        END IF;
    END LOOP;
    v_secs := extract(epoch FROM clock_timestamp() - v_t0);
    RAISE NOTICE 'clip_backfill_run: done: % rows (% embedded, % failed) in % batches, % s, % rows/s',
        v_proc, v_ok, v_fail, v_batches, round(v_secs, 1), round(v_proc / greatest(v_secs, 0.001), 1);
END
$fn$;

-- ---------------------------------------------------------------------------------------------------------
-- Status counts of one source, run by clip_as_table_owner AS THE TABLE'S OWNER. args: {"source": the
-- registry row, "model": the current-model containment document or null}. One sequential scan of the table
-- plus one query over failed rows (which a GIN index on the metadata serves).
CREATE FUNCTION clip_backfill_status_as_owner(tbl regclass, args jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY INVOKER
AS $fn$
DECLARE
    s          clip_backfill_source_config := jsonb_populate_record(NULL::clip_backfill_source_config, args->'source');
    v_model    jsonb := nullif(args->'model', 'null'::jsonb);
    v_emb      text;
    v_meta     text;
    v_src      text;
    v_fp_key   text;
    v_has_src  text;
    v_changed  text;
    v_res      jsonb;
    v_failures jsonb;
    v_supp     jsonb;
BEGIN
    IF s.tbl IS DISTINCT FROM tbl THEN
        RAISE EXCEPTION 'pg_clip internal error: status of source "%" called for table %', s.name, tbl
            USING ERRCODE = 'internal_error';
    END IF;
    PERFORM clip_check_columns(s.tbl, 'backfilled', s.key_column, s.embedding_column, s.metadata_column,
                               tenant_column => s.user_column, video_column => s.video_column,
                               source_column => s.source_column, source_kind => s.source_kind);
    PERFORM pg_catalog.set_config('pg_clip.maintenance_table', (tbl)::oid::text, true);
    v_emb := quote_ident(s.embedding_column);
    v_meta := quote_ident(s.metadata_column);
    v_src := quote_ident(s.source_column);
    v_fp_key := clip_backfill_fingerprint_key(s.source_kind);
    v_has_src := format('%s IS NOT NULL', v_src)
              || CASE WHEN s.source_kind = 'frames' THEN format(' AND cardinality(%s) > 0', v_src) ELSE '' END;
    v_changed := format('(%1$s ? %2$L AND %1$s->>%2$L IS DISTINCT FROM %3$s)', v_meta, v_fp_key,
                        clip_backfill_fingerprint_sql(s.source_kind, v_src));
    EXECUTE format(
        'SELECT jsonb_build_object('
        '  ''total_rows'', count(*),'
        '  ''embedded'', count(*) FILTER (WHERE %1$s IS NOT NULL),'
        '  ''current'', count(*) FILTER (WHERE %1$s IS NOT NULL AND %2$s @> $1 AND NOT %4$s),'
        '  ''source_changed'', count(*) FILTER (WHERE %1$s IS NOT NULL AND %4$s),'
        '  ''stale_retrying'', count(*) FILTER (WHERE %1$s IS NOT NULL AND %2$s->''last_failure''->>''status'' = ''failed''),'
        '  ''stale_failed_permanently'', count(*) FILTER (WHERE %1$s IS NOT NULL AND %2$s->''last_failure''->>''status'' = ''failed_permanently''),'
        '  ''no_source'', count(*) FILTER (WHERE %1$s IS NULL AND NOT (%3$s)),'
        '  ''due'', count(*) FILTER (WHERE %1$s IS NULL AND %3$s AND %2$s @> ''{"status": "failed"}'''
        '                 AND coalesce((%2$s->>''next_retry_at'')::timestamptz, ''-infinity'') <= now()),'
        '  ''waiting'', count(*) FILTER (WHERE %1$s IS NULL AND %3$s AND %2$s @> ''{"status": "failed"}'''
        '                 AND coalesce((%2$s->>''next_retry_at'')::timestamptz, ''-infinity'') > now()),'
        '  ''failed_permanently'', count(*) FILTER (WHERE %1$s IS NULL AND %3$s AND %2$s @> ''{"status": "failed_permanently"}''),'
        '  ''avg_inference_ms'', round(avg((%2$s->>''inference_time_ms'')::numeric) FILTER (WHERE %1$s IS NOT NULL AND %2$s @> ''{"status": "ok"}''), 3),'
        '  ''last_generated_at'', max((%2$s->>''generated_at'')::timestamptz) FILTER (WHERE %1$s IS NOT NULL))'
        '  FROM %5$s',
        v_emb, v_meta, v_has_src, v_changed, s.tbl)
       INTO v_res
       USING coalesce(v_model, '{}'::jsonb);
    -- Failures by SQLSTATE: rows without an embedding and their failure, and kept vectors whose re-embed failed.
    EXECUTE format(
        'SELECT coalesce(jsonb_object_agg(code, jsonb_build_object(''rows'', n, ''example'', example)), ''{}'')'
        '  FROM (SELECT f->>''error_sqlstate'' AS code, count(*) AS n, min(f->>''error_message'') AS example'
        '          FROM (SELECT CASE WHEN %1$s IS NULL THEN %2$s ELSE %2$s->''last_failure'' END AS f FROM %3$s'
        '                 WHERE (%1$s IS NULL AND %2$s ? ''error_sqlstate'') OR (%1$s IS NOT NULL AND %2$s ? ''last_failure'')) x'
        '         GROUP BY 1) g',
        v_emb, v_meta, s.tbl)
       INTO v_failures;
    -- Rows whose every write was suppressed and whose source has not changed since: not claimed again, so
    -- not pending either (suppressed_pending: those that would otherwise count as pending).
    IF EXISTS (SELECT 1 FROM clip_backfill_suppressed x WHERE x.source = s.name) THEN
        EXECUTE format(
            'SELECT jsonb_build_object(''suppressed'', count(*), ''suppressed_pending'', count(*) FILTER (WHERE t.%1$s IS NULL'
            '        AND NOT coalesce(t.%2$s @> ''{"status": "failed_permanently"}'', false)'
            '        AND NOT (coalesce(t.%2$s @> ''{"status": "failed"}'', false)'
            '                 AND coalesce((t.%2$s->>''next_retry_at'')::timestamptz, ''-infinity'') > now())))'
            '  FROM clip_backfill_suppressed x JOIN %3$s AS t ON t.%4$I = x.row_key::%5$s'
            ' WHERE x.source = $1 AND x.fingerprint IS NOT DISTINCT FROM %6$s',
            v_emb, v_meta, s.tbl, s.key_column, clip_column_type(s.tbl, s.key_column),
            clip_backfill_fingerprint_sql(s.source_kind, 't.' || v_src))
           INTO v_supp USING s.name;
    ELSE
        v_supp := '{"suppressed": 0, "suppressed_pending": 0}';
    END IF;
    RETURN v_res || v_supp || jsonb_build_object('failures', v_failures);
END
$fn$;

-- Status: one row per source (the named one, or every source you can see: those of tables you own, all of
-- them for a superuser). Counts are bigint and exact, computed as the table's owner. A source whose table
-- changed (dropped, retyped columns) or a model that cannot be loaded gives NULL counts / NULL stale and
-- says why in `problem`.
CREATE FUNCTION clip_backfill_status(source text DEFAULT NULL) RETURNS SETOF clip_backfill_status_row
LANGUAGE plpgsql STABLE SECURITY INVOKER
AS $fn$
DECLARE
    s          clip_backfill_source_config;
    o          clip_backfill_status_row;
    v_ident    jsonb;
    v_model    jsonb;
    v_mproblem text;
    v_res      jsonb;
BEGIN
    IF clip_backfill_status.source IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM clip_backfill_sources r WHERE r.name = clip_backfill_status.source) THEN
        RAISE EXCEPTION 'backfill source "%" does not exist', clip_backfill_status.source
            USING ERRCODE = 'undefined_object', HINT = 'Only the sources of tables you own are visible.';
    END IF;
    BEGIN
        v_ident := clip_image_model_identity();
        v_model := jsonb_build_object('model_sha256', v_ident->'sha256', 'preprocess_version', v_ident->'preprocess_version');
    EXCEPTION WHEN OTHERS THEN
        v_mproblem := 'image model unavailable: ' || SQLERRM;
    END;
    FOR s IN SELECT r.* FROM clip_backfill_source_config r
              WHERE clip_backfill_status.source IS NULL OR r.name = clip_backfill_status.source ORDER BY r.name LOOP
        o := NULL;
        o.source := s.name; o.table_name := s.tbl; o.source_kind := s.source_kind; o.enabled := s.enabled;
        o.model_sha256 := v_ident->>'sha256';
        o.problem := v_mproblem;
        SELECT x.finished_at, to_jsonb(x) - 'id' - 'source' INTO o.last_run_at, o.last_run
          FROM clip_backfill_runs x WHERE x.source = s.name ORDER BY x.id DESC LIMIT 1;
        BEGIN
            PERFORM clip_check_columns(s.tbl, 'backfilled', s.key_column, s.embedding_column, s.metadata_column,
                                       tenant_column => s.user_column, video_column => s.video_column,
                                       source_column => s.source_column, source_kind => s.source_kind);
            PERFORM clip_assert_may_act_as_owner(s.tbl, 'read its backfill status');
            v_res := clip_backfill_dispatch((s.tbl)::oid,
                                         ('clip_backfill_status_as_owner(regclass,jsonb)'::regprocedure)::oid,
                                         jsonb_build_object('source', to_jsonb(s), 'model', v_model));
            o.total_rows := (v_res->>'total_rows')::bigint;
            o.embedded := (v_res->>'embedded')::bigint;
            o.without_embedding := o.total_rows - o.embedded;
            o.no_source := (v_res->>'no_source')::bigint;
            o.failed_permanently := (v_res->>'failed_permanently')::bigint;
            o.failed_retrying := (v_res->>'due')::bigint + (v_res->>'waiting')::bigint;
            -- Eligible for the next run: no embedding, something to embed, not failed-and-waiting/given up,
            -- not suppressed.
            o.suppressed := (v_res->>'suppressed')::bigint;
            o.pending := o.without_embedding - o.no_source - (v_res->>'waiting')::bigint - o.failed_permanently
                         - (v_res->>'suppressed_pending')::bigint;
            o.source_changed := (v_res->>'source_changed')::bigint;
            o.stale_retrying := (v_res->>'stale_retrying')::bigint;
            o.stale_failed_permanently := (v_res->>'stale_failed_permanently')::bigint;
            IF v_model IS NOT NULL THEN
                o.up_to_date := (v_res->>'current')::bigint;
                o.stale := o.embedded - o.up_to_date;
            END IF;
            o.coverage_pct := CASE WHEN o.total_rows > 0 THEN round(100.0 * o.embedded / o.total_rows, 2) END;
            o.avg_inference_ms := (v_res->>'avg_inference_ms')::numeric;
            o.last_generated_at := (v_res->>'last_generated_at')::timestamptz;
            o.failures := v_res->'failures';
        EXCEPTION WHEN OTHERS THEN
            o.problem := concat_ws('; ', o.problem, SQLERRM);
        END;
        RETURN NEXT o;
    END LOOP;
END
$fn$;

-- ---------------------------------------------------------------------------------------------------------
-- Privileges.
REVOKE ALL ON FUNCTION clip_backfill_source_batch_as_owner(regclass, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION clip_backfill_status_as_owner(regclass, jsonb) FROM PUBLIC;
-- Fetching URLs from the database server is a privilege (it reaches whatever the server reaches, allowlisted
-- hosts included): GRANT EXECUTE ON FUNCTION clip_fetch_url(text) TO <owner of a table with a URL source>.
REVOKE ALL ON FUNCTION clip_fetch_url(text) FROM PUBLIC;

COMMENT ON TABLE clip_backfill_sources IS
    'pg_clip: one row per backfill source: what to embed (source column and kind) into which registered embedding column; the column mapping is the clip_scene_tables row it references. Row-level security: a role sees and writes the sources of tables it owns; kept by pg_dump.';
COMMENT ON TABLE clip_backfill_suppressed IS
    'pg_clip: rows of a source whose every write was suppressed (trigger or policy), with the source fingerprint claimed; not claimed again until the source changes or a later forced run. Visible with its source; not dumped.';
COMMENT ON VIEW clip_backfill_source_config IS
    'pg_clip: each backfill source joined with its clip_scene_tables mapping (key, metadata, video, user = tenant column): the 0.1.0 shape of clip_backfill_sources. security_invoker: the registries'' row-level security applies.';
COMMENT ON TABLE clip_backfill_runs IS
    'pg_clip: one row per (run, source) that processed rows; visible with its source, written by clip_backfill. Not dumped.';
COMMENT ON SEQUENCE clip_backfill_runs_id_seq IS 'pg_clip: the identity of clip_backfill_runs.';
COMMENT ON TYPE clip_backfill_result IS 'pg_clip: a row of clip_backfill: per source, rows processed, written (succeeded), failed, skipped (dry run), and ms.';
COMMENT ON TYPE clip_backfill_status_row IS 'pg_clip: a row of clip_backfill_status (see docs/backfill.md, "Monitor").';
COMMENT ON FUNCTION clip_backfill_source_visible(regclass) IS
    'Row-level security of clip_backfill_sources: the table is owned by the current role (or gone).';
COMMENT ON FUNCTION clip_backfill_sources_guard() IS 'Trigger: a registration is recorded under a role the writer belongs to.';
COMMENT ON FUNCTION clip_backfill_runs_stamp() IS 'Trigger: run_by is always the inserting role.';
COMMENT ON FUNCTION clip_register_source(text, regclass, name, name, text, name, name, name, name, boolean) IS
    'Registers (or replaces) a backfill source; the column mapping is the table''s clip_scene_tables row (created for backfill only if the table is not adopted; given columns must agree with an adopted one). Needs the table owner''s privileges (or superuser). Returns the source with its mapping.';
COMMENT ON FUNCTION clip_unregister_source(text) IS 'Removes a backfill source, its run log and its backfill-only registry row (the embeddings stay, an adopted table stays adopted); true if removed.';
COMMENT ON FUNCTION clip_backfill_attempt(jsonb) IS 'Internal: the attempt number of a row''s next try, from its metadata.';
COMMENT ON FUNCTION clip_backfill_failure(text, text, text, text, integer, integer, interval, jsonb) IS
    'Internal: the failure document of an attempt (status, SQLSTATE, message, attempts, next retry with exponential backoff).';
COMMENT ON FUNCTION clip_backfill_failed_meta(jsonb, boolean, jsonb) IS
    'Internal: a failed row''s metadata; a row that keeps its embedding keeps its metadata with the failure under "last_failure".';
COMMENT ON FUNCTION clip_backfill_batch_error(text, text) IS
    'Internal: true for errors that fail a batch (model configuration, privileges) rather than one row.';
COMMENT ON FUNCTION clip_backfill_fingerprint_sql(text, text) IS 'Internal: the SQL expression of a source column''s fingerprint.';
COMMENT ON FUNCTION clip_backfill_fingerprint_key(text) IS 'Internal: the metadata key of the fingerprint compared with the source.';
COMMENT ON FUNCTION clip_backfill_source_batch_as_owner(regclass, jsonb) IS
    'Internal: one backfill batch of one source, run by clip_as_table_owner as the table''s owner.';
COMMENT ON FUNCTION clip_backfill_impl(integer, text, boolean, text, text, boolean, timestamptz) IS
    'Internal: the batch runner behind clip_backfill and clip_backfill_run.';
COMMENT ON FUNCTION clip_backfill(integer, text, boolean, text, text, boolean, timestamptz) IS
    'Embeds up to batch pending rows of the named source, or of every enabled source of a table you own, as the table''s owner; one row per source.';
COMMENT ON PROCEDURE clip_backfill_run(integer, integer, text, text, text, boolean, numeric, bigint) IS
    'Runs clip_backfill batch after batch with a COMMIT after each until nothing is pending; NOTICEs progress and ETA.';
COMMENT ON FUNCTION clip_backfill_status_as_owner(regclass, jsonb) IS
    'Internal: the status counts of one source, run by clip_as_table_owner as the table''s owner.';
COMMENT ON FUNCTION clip_backfill_status(text) IS
    'Coverage, pending, stale (other model, changed source, failed re-embeds), suppressed writes, failures by SQLSTATE, timings and last run of each visible source, counted as the table''s owner.';
COMMENT ON FUNCTION clip_fetch_url_with_validators(text) IS
    'clip_fetch_url with the response''s ETag and Last-Modified (NULL when absent or unusable); refuses (42501) a role that may not execute clip_fetch_url(text), whose GRANT governs both. Used by URL backfills.';
COMMENT ON FUNCTION clip_fetch_url(text) IS
    'Fetches an image over http(s) under the clip.http_* limits, refusing non-public addresses. Not executable by PUBLIC: GRANT EXECUTE to the roles (table owners) that need it.';
