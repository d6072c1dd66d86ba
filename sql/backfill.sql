-- pg_clip: the embedding backfill — registering what to embed, embedding pending rows in batches (by hand,
-- from pg_cron, or from a long-running procedure), per-row metadata with retries, and status.
--
-- Included into the extension's install script (pgrx `extension_sql_file!`) after the Rust-generated
-- functions. Runs inside CREATE EXTENSION pg_clip: no CREATE EXTENSION, no psql meta-commands; nothing here
-- references an application table — every function takes names and builds its statements with format()
-- (%I / %s of a regclass) and EXECUTE at call time.
--
-- Uses these Rust functions: clip_try_embed_images(bytea[]), clip_embed_frames(bytea[]), clip_fetch_url(text),
-- clip_image_model_identity(); and the settings clip.backfill_max_attempts / clip.backfill_retry_base_s.
--
-- Security model (docs/backfill.md, "Security"):
--   * Every function and the procedure is SECURITY INVOKER: a backfill reads and writes the application table
--     with the caller's privileges, RLS policies and triggers. There is no SECURITY DEFINER path.
--   * The registry clip_backfill_sources is readable by everyone (it holds names only). PUBLIC may write it,
--     but a trigger (clip_backfill_sources_guard) only lets a row be written by a role that holds the
--     privileges the backfill needs on that table (SELECT on key/source/embedding/metadata/filter columns,
--     UPDATE on embedding and metadata), and changed or removed only by members of the role that registered it
--     (or, for removal, the table's owner). A registration therefore never grants anything: it only names work
--     its registrant could do by hand. Every run re-validates the source against the caller.
--   * clip_backfill(source => NULL) runs only the enabled sources registered by the caller or a role it is a
--     member of; for a superuser only its own, so an unattended superuser job never fires another role's
--     table triggers with superuser rights. Name a source to run it explicitly.
--
-- Objects (all in the extension's schema):
--   clip_backfill_sources              registry: one row per source (config table, kept by pg_dump)
--   clip_backfill_runs                 log of runs that processed rows (not dumped)
--   clip_register_source(...)          validate + register / re-register a source
--   clip_unregister_source(name)       remove a registration (and its run log)
--   clip_backfill(...)                 one batch per source, in the caller's transaction (pg_cron calls this)
--   clip_backfill_run(...)             procedure: batches with COMMIT in between until done, NOTICE progress
--   clip_backfill_status(source)       coverage, pending, stale, failures, timings, last run; bigint counts
--   clip_backfill_impl / clip_backfill_status_impl / clip_backfill_source_batch / clip_backfill_validate /
--   clip_backfill_privilege_problem / clip_backfill_coltype / clip_backfill_sources_guard /
--   clip_backfill_runs_stamp           internal helpers

-- ---------------------------------------------------------------------------------------------------------
-- The registry.
CREATE TABLE clip_backfill_sources (
    name             text        PRIMARY KEY CHECK (name <> ''),
    tbl              regclass    NOT NULL,
    key_column       name        NOT NULL,
    source_column    name        NOT NULL,
    source_kind      text        NOT NULL CHECK (source_kind IN ('bytea', 'url', 'frames')),
    embedding_column name        NOT NULL DEFAULT 'embedding_visual_clip',
    metadata_column  name        NOT NULL DEFAULT 'visual_clip_metadata',
    video_column     name,
    user_column      name,
    enabled          boolean     NOT NULL DEFAULT true,
    registered_by    name        NOT NULL DEFAULT current_user,
    registered_at    timestamptz NOT NULL DEFAULT now(),
    -- Two sources writing one embedding column would undo each other's work.
    CONSTRAINT clip_backfill_sources_target_key UNIQUE (tbl, embedding_column)
);
SELECT pg_catalog.pg_extension_config_dump('clip_backfill_sources', '');
GRANT SELECT, INSERT, UPDATE, DELETE ON clip_backfill_sources TO PUBLIC;

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
    run_by       name        NOT NULL DEFAULT current_user
);
CREATE INDEX clip_backfill_runs_source_idx ON clip_backfill_runs (source, id DESC);
GRANT SELECT, INSERT ON clip_backfill_runs TO PUBLIC;

-- ---------------------------------------------------------------------------------------------------------
-- format_type() of a column, or NULL when the table or column does not exist.
CREATE FUNCTION clip_backfill_coltype(tbl regclass, col name) RETURNS text
LANGUAGE sql STABLE SECURITY INVOKER
AS $fn$
    SELECT pg_catalog.format_type(a.atttypid, a.atttypmod) FROM pg_catalog.pg_attribute a
     WHERE a.attrelid = tbl AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped
$fn$;

-- Why the CURRENT role may not run this source (a message), or NULL when it may: the table exists, USAGE on
-- its schema, SELECT on every column the backfill reads, UPDATE on the two it writes. With for_write false,
-- what the status needs: SELECT on the source, embedding and metadata columns.
CREATE FUNCTION clip_backfill_privilege_problem(s clip_backfill_sources, for_write boolean DEFAULT true) RETURNS text
LANGUAGE plpgsql STABLE SECURITY INVOKER
AS $fn$
DECLARE
    v_nsp name;
    v_col name;
BEGIN
    SELECT n.nspname INTO v_nsp FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     WHERE c.oid = s.tbl;
    IF v_nsp IS NULL THEN
        RETURN format('relation with OID %s does not exist', s.tbl::oid);
    END IF;
    IF NOT pg_catalog.has_schema_privilege(v_nsp, 'USAGE') THEN
        RETURN format('permission denied for schema %s', v_nsp);
    END IF;
    FOREACH v_col IN ARRAY CASE WHEN for_write
                                THEN ARRAY[s.key_column, s.source_column, s.embedding_column, s.metadata_column,
                                           s.video_column, s.user_column]
                                ELSE ARRAY[s.source_column, s.embedding_column, s.metadata_column] END LOOP
        CONTINUE WHEN v_col IS NULL;
        IF clip_backfill_coltype(s.tbl, v_col) IS NULL THEN
            RETURN format('column "%s" of relation %s does not exist', v_col, s.tbl);
        END IF;
        IF NOT pg_catalog.has_column_privilege(s.tbl, v_col, 'SELECT') THEN
            RETURN format('permission denied: SELECT on column "%s" of %s', v_col, s.tbl);
        END IF;
    END LOOP;
    IF NOT for_write THEN
        RETURN NULL;
    END IF;
    FOREACH v_col IN ARRAY ARRAY[s.embedding_column, s.metadata_column] LOOP
        IF NOT pg_catalog.has_column_privilege(s.tbl, v_col, 'UPDATE') THEN
            RETURN format('permission denied: UPDATE on column "%s" of %s', v_col, s.tbl);
        END IF;
    END LOOP;
    RETURN NULL;
END
$fn$;

-- Access control on the registry, for every write (the registration functions and direct DML alike).
CREATE FUNCTION clip_backfill_sources_guard() RETURNS trigger
LANGUAGE plpgsql SECURITY INVOKER
AS $fn$
DECLARE
    v_problem text;
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r
                        WHERE r.rolname = OLD.registered_by AND pg_catalog.pg_has_role(r.oid, 'MEMBER'))
           AND NOT (TG_OP = 'DELETE' AND EXISTS (
                        SELECT 1 FROM pg_catalog.pg_class c
                         WHERE c.oid = OLD.tbl AND pg_catalog.pg_has_role(c.relowner, 'USAGE'))) THEN
            RAISE EXCEPTION 'backfill source "%" was registered by role "%"', OLD.name, OLD.registered_by
                USING ERRCODE = 'insufficient_privilege',
                      HINT = 'Only members of the registering role may change a registration; the table''s owner may also remove it.';
        END IF;
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r
                    WHERE r.rolname = NEW.registered_by AND pg_catalog.pg_has_role(r.oid, 'MEMBER')) THEN
        RAISE EXCEPTION 'cannot register a backfill source on behalf of role "%"', NEW.registered_by
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    v_problem := clip_backfill_privilege_problem(NEW);
    IF v_problem IS NOT NULL THEN
        RAISE EXCEPTION 'cannot register backfill source "%": %', NEW.name, v_problem
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'The registering role needs SELECT on the key, source, embedding, metadata and filter columns and UPDATE on the embedding and metadata columns.';
    END IF;
    RETURN NEW;
END
$fn$;
CREATE TRIGGER clip_backfill_sources_guard BEFORE INSERT OR UPDATE OR DELETE ON clip_backfill_sources
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
-- Full validation of a source against the current role; returns it normalised (key_column defaulted to the
-- single-column primary key, source_kind inferred from the column type). Raises with SQLSTATEs:
-- 42P01/42809 table, 42703 column, 42804 type, 42P10 key not unique, 22023 bad kind, 42501 privileges.
CREATE FUNCTION clip_backfill_validate(s clip_backfill_sources) RETURNS clip_backfill_sources
LANGUAGE plpgsql STABLE SECURITY INVOKER
AS $fn$
DECLARE
    v_relkind "char";
    v_col     name;
    v_type    text;
    v_base    regtype;
    v_kind    text;
    v_vecok   boolean;
    v_problem text;
BEGIN
    IF s.name IS NULL OR s.name = '' THEN
        RAISE EXCEPTION 'source name must not be empty' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF s.tbl IS NULL THEN
        RAISE EXCEPTION 'tbl must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT c.relkind INTO v_relkind FROM pg_catalog.pg_class c WHERE c.oid = s.tbl;
    IF v_relkind IS NULL THEN
        RAISE EXCEPTION 'relation with OID % does not exist (backfill source "%")', s.tbl::oid, s.name
            USING ERRCODE = 'undefined_table';
    END IF;
    IF v_relkind NOT IN ('r', 'p') THEN
        RAISE EXCEPTION '"%" is not a table', s.tbl
            USING ERRCODE = 'wrong_object_type', DETAIL = 'Only ordinary and partitioned tables can be backfilled.';
    END IF;

    -- The key: given, or the single-column primary key; must be unique (a valid, non-partial unique index).
    IF s.key_column IS NULL THEN
        SELECT a.attname INTO s.key_column
          FROM pg_catalog.pg_index i
          JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
         WHERE i.indrelid = s.tbl AND i.indisprimary AND i.indnkeyatts = 1;
        IF s.key_column IS NULL THEN
            RAISE EXCEPTION 'table % has no single-column primary key', s.tbl
                USING ERRCODE = 'invalid_column_reference', HINT = 'Pass key_column => ''...''.';
        END IF;
    END IF;
    IF s.source_column IS NULL OR s.embedding_column IS NULL OR s.metadata_column IS NULL THEN
        RAISE EXCEPTION 'source_column, embedding_column and metadata_column must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    FOREACH v_col IN ARRAY ARRAY[s.key_column, s.source_column, s.embedding_column, s.metadata_column,
                                 s.video_column, s.user_column] LOOP
        CONTINUE WHEN v_col IS NULL;
        IF clip_backfill_coltype(s.tbl, v_col) IS NULL THEN
            RAISE EXCEPTION 'column "%" of relation % does not exist', v_col, s.tbl USING ERRCODE = 'undefined_column';
        END IF;
    END LOOP;
    IF s.embedding_column IN (s.key_column, s.source_column, s.metadata_column)
       OR s.metadata_column IN (s.key_column, s.source_column) THEN
        RAISE EXCEPTION 'the embedding and metadata columns must be two columns distinct from the key and source columns'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT EXISTS (
        SELECT 1 FROM pg_catalog.pg_index i
          JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
         WHERE i.indrelid = s.tbl AND i.indisunique AND i.indisvalid AND i.indnkeyatts = 1
           AND i.indpred IS NULL AND i.indexprs IS NULL AND a.attname = s.key_column) THEN
        RAISE EXCEPTION 'key column "%" of % is not unique', s.key_column, s.tbl
            USING ERRCODE = 'invalid_column_reference',
                  HINT = 'The key must have a primary key or a unique index of its own (one column, no predicate).';
    END IF;

    -- Types.
    SELECT a.atttypid = 'vector'::regtype AND a.atttypmod IN (-1, 512), pg_catalog.format_type(a.atttypid, a.atttypmod)
      INTO STRICT v_vecok, v_type
      FROM pg_catalog.pg_attribute a WHERE a.attrelid = s.tbl AND a.attname = s.embedding_column AND NOT a.attisdropped;
    IF NOT v_vecok THEN
        RAISE EXCEPTION 'column "%" of relation % is of type %, expected vector(512)', s.embedding_column, s.tbl, v_type
            USING ERRCODE = 'datatype_mismatch';
    END IF;
    v_type := clip_backfill_coltype(s.tbl, s.metadata_column);
    IF v_type <> 'jsonb' THEN
        RAISE EXCEPTION 'column "%" of relation % is of type %, expected jsonb', s.metadata_column, s.tbl, v_type
            USING ERRCODE = 'datatype_mismatch';
    END IF;
    -- The source column's type, through domains, decides (or checks) the kind.
    SELECT CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END::regtype,
           pg_catalog.format_type(a.atttypid, a.atttypmod)
      INTO v_base, v_type
      FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
     WHERE a.attrelid = s.tbl AND a.attname = s.source_column AND NOT a.attisdropped;
    v_kind := CASE WHEN v_base = 'bytea'::regtype THEN 'bytea'
                   WHEN v_base IN ('text'::regtype, 'character varying'::regtype) THEN 'url'
                   WHEN v_base = 'bytea[]'::regtype THEN 'frames' END;
    IF s.source_kind IS NOT NULL AND s.source_kind NOT IN ('bytea', 'url', 'frames') THEN
        RAISE EXCEPTION 'invalid source_kind "%"', s.source_kind
            USING ERRCODE = 'invalid_parameter_value', HINT = 'One of: bytea, url, frames (or NULL to infer it).';
    END IF;
    IF v_kind IS NULL OR v_kind <> coalesce(s.source_kind, v_kind) THEN
        RAISE EXCEPTION 'column "%" of relation % is of type %, which cannot be a % source',
                        s.source_column, s.tbl, v_type, coalesce(s.source_kind, 'backfill')
            USING ERRCODE = 'datatype_mismatch',
                  HINT = 'bytea: an encoded image; text/varchar: an http(s) URL; bytea[]: the frames of a multi-frame scene.';
    END IF;
    s.source_kind := v_kind;

    v_problem := clip_backfill_privilege_problem(s);
    IF v_problem IS NOT NULL THEN
        RAISE EXCEPTION 'backfill source "%": %', s.name, v_problem USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN s;
END
$fn$;

-- ---------------------------------------------------------------------------------------------------------
-- Registers (or re-registers, replacing the columns) a source. Returns the registry row.
CREATE FUNCTION clip_register_source(
    name             text,
    tbl              regclass,
    key_column       name,                                   -- NULL: the single-column primary key
    source_column    name,
    source_kind      text    DEFAULT NULL,                   -- 'bytea' | 'url' | 'frames'; NULL: from the type
    embedding_column name    DEFAULT 'embedding_visual_clip',
    metadata_column  name    DEFAULT 'visual_clip_metadata',
    video_column     name    DEFAULT NULL,                   -- enables clip_backfill(video_id => ...)
    user_column      name    DEFAULT NULL,                   -- enables clip_backfill(user_id => ...)
    enabled          boolean DEFAULT true                    -- false: skipped by clip_backfill(source => NULL)
) RETURNS clip_backfill_sources
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
AS $fn$
DECLARE
    s       clip_backfill_sources;
    v_other text;
BEGIN
    s.name := clip_register_source.name;
    s.tbl := clip_register_source.tbl;
    s.key_column := clip_register_source.key_column;
    s.source_column := clip_register_source.source_column;
    s.source_kind := lower(clip_register_source.source_kind);
    s.embedding_column := clip_register_source.embedding_column;
    s.metadata_column := clip_register_source.metadata_column;
    s.video_column := clip_register_source.video_column;
    s.user_column := clip_register_source.user_column;
    s.enabled := coalesce(clip_register_source.enabled, true);
    s := clip_backfill_validate(s);

    SELECT r.name INTO v_other FROM clip_backfill_sources r
     WHERE r.tbl = s.tbl AND r.embedding_column = s.embedding_column AND r.name <> s.name;
    IF v_other IS NOT NULL THEN
        RAISE EXCEPTION 'column "%" of % is already filled by backfill source "%"', s.embedding_column, s.tbl, v_other
            USING ERRCODE = 'duplicate_object', HINT = 'Unregister that source first, or use another embedding column.';
    END IF;

    INSERT INTO clip_backfill_sources AS r
           (name, tbl, key_column, source_column, source_kind, embedding_column, metadata_column,
            video_column, user_column, enabled)
    VALUES (s.name, s.tbl, s.key_column, s.source_column, s.source_kind, s.embedding_column, s.metadata_column,
            s.video_column, s.user_column, s.enabled)
    ON CONFLICT ON CONSTRAINT clip_backfill_sources_pkey DO UPDATE
       SET tbl = EXCLUDED.tbl, key_column = EXCLUDED.key_column, source_column = EXCLUDED.source_column,
           source_kind = EXCLUDED.source_kind, embedding_column = EXCLUDED.embedding_column,
           metadata_column = EXCLUDED.metadata_column, video_column = EXCLUDED.video_column,
           user_column = EXCLUDED.user_column, enabled = EXCLUDED.enabled,
           registered_by = current_user, registered_at = now()
    RETURNING r.* INTO s;
    RETURN s;
END
$fn$;

-- Removes a registration and its run log (the embeddings and metadata in the table stay). True if removed.
CREATE FUNCTION clip_unregister_source(name text) RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
AS $fn$
BEGIN
    DELETE FROM clip_backfill_sources r WHERE r.name = clip_unregister_source.name;
    RETURN FOUND;
END
$fn$;

-- ---------------------------------------------------------------------------------------------------------
-- One batch of one (validated) source: claims up to p_batch rows — first rows without an embedding (never
-- tried, or a failed row whose retry is due), then rows embedded with another model or preprocessing
-- (stale) — with FOR NO KEY UPDATE SKIP LOCKED, embeds them in batched calls, and writes embedding +
-- metadata in one UPDATE. With p_force, every row with a source that was not generated/attempted since
-- p_force_before. With p_dry_run, counts (p_batch NULL: no limit) without locking or writing.
-- Dynamic statement parameters: $1 video_id, $2 user_id, $3 force_before, $4 current-model containment
-- document, $5 limit.
-- Attempt number of the next try of a row, from its previous metadata (failures count up, anything else
-- starts again at 1).
CREATE FUNCTION clip_backfill_attempt(prev jsonb) RETURNS integer
LANGUAGE sql IMMUTABLE SECURITY INVOKER
AS $fn$
    SELECT CASE WHEN prev->>'status' IN ('failed', 'failed_permanently')
                THEN coalesce((prev->>'attempts')::integer, 0) ELSE 0 END + 1
$fn$;

-- The metadata of a failed row: retried with exponential backoff until max_attempts, then left alone.
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

CREATE FUNCTION clip_backfill_source_batch(
    s              clip_backfill_sources,
    p_ident        jsonb,
    p_batch        integer,
    p_dry_run      boolean,
    p_video_id     text,
    p_user_id      text,
    p_force        boolean,
    p_force_before timestamptz,
    OUT processed   bigint,
    OUT succeeded   bigint,
    OUT failed      bigint,
    OUT skipped     bigint,
    OUT regenerated bigint)
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
AS $fn$
DECLARE
    c_fetch_ms   CONSTANT text := 'fetch_ms';
    v_emb        text := quote_ident(s.embedding_column);
    v_meta       text := quote_ident(s.metadata_column);
    v_src        text := quote_ident(s.source_column);
    v_model      jsonb := jsonb_build_object('model_sha256', p_ident->'sha256',
                                             'preprocess_version', p_ident->'preprocess_version');
    v_max        integer := coalesce(nullif(current_setting('clip.backfill_max_attempts', true), '')::integer, 5);
    v_base       interval := coalesce(nullif(current_setting('clip.backfill_retry_base_s', true), '')::interval,
                                      interval '60 seconds');
    v_has_src    text;
    v_filter     text := '';
    v_missing    text;
    v_stale      text;
    v_cols       text;
    v_sql        text;
    r            record;
    v_keys       text[] := '{}';
    v_prev       jsonb[] := '{}';
    v_imgs       bytea[] := '{}';
    v_urls       text[] := '{}';
    v_extra      jsonb[] := '{}';   -- per-row additions to the success metadata (frames, fetch time)
    v_out_emb    vector[] := '{}';
    v_out_meta   jsonb[] := '{}';
    v_done       boolean[] := '{}'; -- outcome already decided (a failed fetch)
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
BEGIN
    processed := 0; succeeded := 0; failed := 0; skipped := 0; regenerated := 0;
    IF v_max < 1 THEN v_max := 1; END IF;

    v_has_src := format('%s IS NOT NULL AND %I IS NOT NULL', v_src, s.key_column)
              || CASE WHEN s.source_kind = 'frames' THEN format(' AND cardinality(%s) > 0', v_src) ELSE '' END;
    IF p_video_id IS NOT NULL THEN
        v_filter := v_filter || format(' AND %I = $1::%s', s.video_column, clip_backfill_coltype(s.tbl, s.video_column));
    END IF;
    IF p_user_id IS NOT NULL THEN
        v_filter := v_filter || format(' AND %I = $2::%s', s.user_column, clip_backfill_coltype(s.tbl, s.user_column));
    END IF;
    IF p_force THEN
        v_missing := format('%1$s IS NULL AND %2$s AND (%3$s IS NULL'
                            ' OR coalesce(%3$s->>''status'', '''') NOT IN (''failed'', ''failed_permanently'')'
                            ' OR coalesce((%3$s->>''failed_at'')::timestamptz, ''-infinity'') < $3)',
                            v_emb, v_has_src, v_meta);
        v_stale := format('%1$s IS NOT NULL AND %2$s AND (%3$s IS NULL'
                          ' OR coalesce((%3$s->>''generated_at'')::timestamptz, ''-infinity'') < $3)',
                          v_emb, v_has_src, v_meta);
    ELSE
        v_missing := format('%1$s IS NULL AND %2$s AND (%3$s IS NULL'
                            ' OR coalesce(%3$s->>''status'', '''') NOT IN (''failed'', ''failed_permanently'')'
                            ' OR (%3$s->>''status'' = ''failed'''
                            '     AND coalesce((%3$s->>''next_retry_at'')::timestamptz, ''-infinity'') <= now()))',
                            v_emb, v_has_src, v_meta);
        v_stale := format('%1$s IS NOT NULL AND %2$s AND (%3$s IS NULL OR NOT %3$s @> $4)', v_emb, v_has_src, v_meta);
    END IF;

    IF p_dry_run THEN
        EXECUTE format('SELECT count(*), count(*) FILTER (WHERE had) FROM ('
                       '(SELECT false AS had FROM %1$s WHERE %2$s%4$s LIMIT $5)'
                       ' UNION ALL (SELECT true FROM %1$s WHERE %3$s%4$s LIMIT $5) LIMIT $5) c',
                       s.tbl, v_missing, v_stale, v_filter)
           INTO processed, regenerated
           USING p_video_id, p_user_id, p_force_before, v_model, p_batch;
        skipped := processed;
        RETURN;
    END IF;

    -- Claim. Each branch locks only the rows it returns; the outer LIMIT stops the stale branch from running
    -- when the missing one filled the batch. Rows another session holds are skipped, never waited for.
    v_cols := format('%I::text AS k, %s AS img, %s AS url, %s AS meta, (%s IS NOT NULL) AS had',
                     s.key_column,
                     CASE WHEN s.source_kind = 'bytea' THEN v_src || '::bytea' ELSE 'NULL::bytea' END,
                     CASE WHEN s.source_kind = 'url' THEN v_src || '::text' ELSE 'NULL::text' END,
                     v_meta, v_emb);
    v_sql := format('SELECT * FROM (SELECT %1$s FROM %2$s WHERE %3$s%5$s LIMIT $5 FOR NO KEY UPDATE SKIP LOCKED) m'
                    ' UNION ALL SELECT * FROM (SELECT %1$s FROM %2$s WHERE %4$s%5$s LIMIT $5 FOR NO KEY UPDATE SKIP LOCKED) s'
                    ' LIMIT $5',
                    v_cols, s.tbl, v_missing, v_stale, v_filter);
    FOR r IN EXECUTE v_sql USING p_video_id, p_user_id, p_force_before, v_model, p_batch LOOP
        v_keys := array_append(v_keys, r.k);
        v_prev := array_append(v_prev, r.meta);
        v_imgs := array_append(v_imgs, r.img);
        v_urls := array_append(v_urls, r.url);
        v_done := array_append(v_done, false);
        v_extra := array_append(v_extra, '{}'::jsonb);
        v_out_emb := array_append(v_out_emb, NULL::vector);
        v_out_meta := array_append(v_out_meta, NULL::jsonb);
        IF r.had THEN regenerated := regenerated + 1; END IF;
    END LOOP;
    v_n := cardinality(v_keys);
    processed := v_n;
    IF v_n = 0 THEN
        RETURN;
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
                v_imgs[v_i] := clip_fetch_url(v_urls[v_i]);
                v_extra[v_i] := jsonb_build_object(c_fetch_ms,
                    round((extract(epoch FROM clock_timestamp() - v_t0) * 1000)::numeric, 3));
            EXCEPTION WHEN OTHERS THEN
                GET STACKED DIAGNOSTICS v_code = RETURNED_SQLSTATE, v_msg = MESSAGE_TEXT;
                IF left(v_code, 2) IN ('53', '58', 'F0', 'XX') THEN
                    RAISE;   -- the server, not the row: fail the batch
                END IF;
                v_imgs[v_i] := NULL;
                v_done[v_i] := true;
                v_attempts := clip_backfill_attempt(v_prev[v_i]);
                v_out_meta[v_i] := clip_backfill_failure(s.name, 'fetch', v_code, v_msg, v_attempts, v_max, v_base,
                                                       p_ident->'sha256');
            END;
        END LOOP;
    END IF;

    IF s.source_kind IN ('bytea', 'url') THEN
        -- One call: forward passes of clip.max_batch_size images; a bad image is a row with its error, a
        -- missing or broken model raises (nothing is written). NULL elements (failed fetches) give NULL rows.
        v_t0 := clock_timestamp();
        FOR r IN SELECT t.ord, t.embedding, t.error_sqlstate, t.error_message FROM clip_try_embed_images(v_imgs) t LOOP
            CONTINUE WHEN v_done[r.ord];
            v_out_emb[r.ord] := r.embedding;
            IF r.embedding IS NULL THEN
                v_code := coalesce(r.error_sqlstate, '22004');
                v_msg := coalesce(r.error_message, 'no image to embed');
                v_attempts := clip_backfill_attempt(v_prev[r.ord]);
                v_out_meta[r.ord] := clip_backfill_failure(s.name, 'embed', v_code, v_msg, v_attempts, v_max, v_base,
                                                       p_ident->'sha256');
                v_done[r.ord] := true;
            END IF;
        END LOOP;
        v_ms := extract(epoch FROM clock_timestamp() - v_t0) * 1000;
        -- The batch's time shared by the rows that went through the model.
        v_i := (SELECT count(*) FROM unnest(v_imgs) x WHERE x IS NOT NULL);
        v_ms := round(v_ms / greatest(v_i, 1), 3);
        FOR v_i IN 1 .. v_n LOOP
            CONTINUE WHEN v_done[v_i];
            v_out_meta[v_i] := v_ok_base || v_extra[v_i] || jsonb_build_object(
                'inference_time_ms', v_ms, 'frame_strategy', 'single', 'frame_count', 1,
                'attempts', clip_backfill_attempt(v_prev[v_i]));
        END LOOP;
    ELSE
        -- frames: one clip_embed_frames call per row (its frames in one batch, mean-pooled, normalised).
        FOR v_i IN 1 .. v_n LOOP
            EXECUTE format('SELECT %s::bytea[] FROM %s WHERE %I = $1::%s', v_src, s.tbl, s.key_column,
                           clip_backfill_coltype(s.tbl, s.key_column))
               INTO v_frames USING v_keys[v_i];
            v_attempts := clip_backfill_attempt(v_prev[v_i]);
            v_t0 := clock_timestamp();
            v_code := NULL;
            BEGIN
                v_vec := clip_embed_frames(v_frames);
                IF v_vec IS NULL THEN
                    v_code := '22004';
                    v_msg := 'the scene has no non-NULL frames';
                END IF;
            EXCEPTION WHEN OTHERS THEN
                GET STACKED DIAGNOSTICS v_code = RETURNED_SQLSTATE, v_msg = MESSAGE_TEXT;
                IF left(v_code, 2) IN ('53', '58', 'F0') THEN
                    RAISE;   -- missing/broken model, out of memory, I/O: not this row's fault
                END IF;
            END;
            IF v_code IS NULL THEN
                v_out_emb[v_i] := v_vec;
                v_out_meta[v_i] := v_ok_base || jsonb_build_object(
                    'inference_time_ms', round((extract(epoch FROM clock_timestamp() - v_t0) * 1000)::numeric, 3),
                    'frame_strategy', 'mean', 'frame_count', (SELECT count(*) FROM unnest(v_frames) f WHERE f IS NOT NULL),
                    'attempts', v_attempts);
            ELSE
                v_out_meta[v_i] := clip_backfill_failure(s.name, 'embed', v_code, v_msg, v_attempts, v_max, v_base,
                                                       p_ident->'sha256');
            END IF;
        END LOOP;
    END IF;

    -- A failed row keeps no vector: a stale embedding from another model is not comparable with queries
    -- embedded by the current one, and there is never a sentinel.
    EXECUTE format('UPDATE %s AS t SET %s = u.e, %s = u.m'
                   ' FROM unnest($1::text[], $2::vector[], $3::jsonb[]) AS u(k, e, m) WHERE t.%I = u.k::%s',
                   s.tbl, v_emb, v_meta, s.key_column, clip_backfill_coltype(s.tbl, s.key_column))
       USING v_keys, v_out_emb, v_out_meta;
    succeeded := (SELECT count(*) FROM unnest(v_out_emb) e WHERE e IS NOT NULL);
    failed := v_n - succeeded;
END
$fn$;

-- ---------------------------------------------------------------------------------------------------------
-- The batch runner behind clip_backfill (plpgsql cannot give an output column the name of an input
-- parameter, so the public function is a SQL wrapper over this).
CREATE FUNCTION clip_backfill_impl(
    p_batch integer, p_source text, p_dry_run boolean, p_video_id text, p_user_id text,
    p_force boolean, p_force_before timestamptz)
RETURNS TABLE(o_source text, o_processed bigint, o_succeeded bigint, o_failed bigint, o_skipped bigint, o_ms numeric)
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
AS $fn$
DECLARE
    v_ident   jsonb;
    v_super   boolean := (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = current_user);
    v_before  timestamptz := coalesce(p_force_before, now());
    s         clip_backfill_sources;
    v_ok      clip_backfill_sources;
    v_started timestamptz;
    v_res     record;
    v_code    text;
    v_msg     text;
BEGIN
    IF p_batch IS NULL AND NOT coalesce(p_dry_run, false) OR p_batch < 1 THEN
        RAISE EXCEPTION 'batch must be at least 1 (NULL only with dry_run)' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_source IS NOT NULL AND NOT EXISTS (SELECT 1 FROM clip_backfill_sources r WHERE r.name = p_source) THEN
        RAISE EXCEPTION 'backfill source "%" does not exist', p_source
            USING ERRCODE = 'undefined_object', HINT = 'Register it with clip_register_source(...).';
    END IF;

    -- Fail fast: a missing or broken model raises here, before any row is claimed or marked.
    v_ident := clip_image_model_identity();

    FOR s IN
        SELECT r.* FROM clip_backfill_sources r
         WHERE (p_source IS NOT NULL AND r.name = p_source)
            OR (p_source IS NULL AND r.enabled
                AND (r.registered_by = current_user
                     OR (NOT v_super AND EXISTS (SELECT 1 FROM pg_catalog.pg_roles x
                                                  WHERE x.rolname = r.registered_by
                                                    AND pg_catalog.pg_has_role(x.oid, 'MEMBER')))))
         ORDER BY r.name
    LOOP
        -- Re-validate against the caller every time: columns may have been dropped, privileges revoked.
        IF p_source IS NOT NULL THEN
            v_ok := clip_backfill_validate(s);
        ELSE
            BEGIN
                v_ok := clip_backfill_validate(s);
            EXCEPTION WHEN OTHERS THEN
                GET STACKED DIAGNOSTICS v_code = RETURNED_SQLSTATE, v_msg = MESSAGE_TEXT;
                RAISE WARNING 'skipping backfill source "%": % (SQLSTATE %)', s.name, v_msg, v_code;
                CONTINUE;
            END;
        END IF;
        IF (p_video_id IS NOT NULL AND v_ok.video_column IS NULL) OR (p_user_id IS NOT NULL AND v_ok.user_column IS NULL) THEN
            IF p_source IS NOT NULL THEN
                RAISE EXCEPTION 'backfill source "%" has no % column to filter on', s.name,
                                CASE WHEN p_video_id IS NOT NULL AND v_ok.video_column IS NULL THEN 'video' ELSE 'user' END
                    USING ERRCODE = 'invalid_parameter_value',
                          HINT = 'Re-register it with video_column => ... / user_column => ....';
            END IF;
            RAISE NOTICE 'skipping backfill source "%": it has no column for the video/user filter', s.name;
            CONTINUE;
        END IF;

        v_started := clock_timestamp();
        v_res := clip_backfill_source_batch(v_ok, v_ident, p_batch, coalesce(p_dry_run, false), p_video_id, p_user_id,
                                            coalesce(p_force, false), v_before);
        o_source := s.name;
        o_processed := v_res.processed;
        o_succeeded := v_res.succeeded;
        o_failed := v_res.failed;
        o_skipped := v_res.skipped;
        o_ms := round((extract(epoch FROM clock_timestamp() - v_started) * 1000)::numeric, 3);
        IF NOT coalesce(p_dry_run, false) AND v_res.processed > 0 THEN
            INSERT INTO clip_backfill_runs (source, started_at, finished_at, batch, processed, succeeded, failed,
                                            regenerated, ms, forced)
            VALUES (s.name, v_started, clock_timestamp(), p_batch, v_res.processed, v_res.succeeded, v_res.failed,
                    v_res.regenerated, o_ms, coalesce(p_force, false));
        END IF;
        RETURN NEXT;
    END LOOP;
END
$fn$;

-- Embeds up to `batch` pending rows of each source (the named one, or every enabled source registered by
-- the caller or its roles) in the caller's transaction, and returns a row per source. See docs/backfill.md.
CREATE FUNCTION clip_backfill(
    batch        integer     DEFAULT 50,     -- rows per source; NULL only with dry_run (= count them all)
    source       text        DEFAULT NULL,
    dry_run      boolean     DEFAULT false,  -- count what would be processed; locks and writes nothing
    video_id     text        DEFAULT NULL,   -- only rows of this video (source needs video_column)
    user_id      text        DEFAULT NULL,   -- only rows of this user (source needs user_column)
    force        boolean     DEFAULT false,  -- regenerate rows not generated/attempted since force_before
    force_before timestamptz DEFAULT NULL    -- NULL: the start of the current transaction
) RETURNS TABLE(source text, processed bigint, succeeded bigint, failed bigint, skipped bigint, ms numeric)
LANGUAGE sql VOLATILE SECURITY INVOKER
AS $fn$
    SELECT * FROM clip_backfill_impl($1, $2, $3, $4, $5, $6, $7)
$fn$;

-- ---------------------------------------------------------------------------------------------------------
-- Long runs: batches of clip_backfill with a COMMIT after each (a cancel or crash loses at most the batch in
-- flight), until nothing is pending or max_batches ran; NOTICE progress with rate and ETA every
-- progress_every_rows rows or progress_every_s seconds. Must be CALLed outside an explicit transaction.
-- No SET clause (a procedure with one cannot COMMIT), so every name below is schema-qualified.
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
    v_secs       numeric;
    v_rate       numeric;
BEGIN
    IF batch IS NULL OR batch < 1 THEN
        RAISE EXCEPTION 'batch must be at least 1' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- What a full run would process, for the ETA (the same predicates, no limit, no locks).
    SELECT coalesce(sum(d.processed), 0) INTO v_total
      FROM @extschema@.clip_backfill(NULL, clip_backfill_run.source, true, clip_backfill_run.video_id,
                                     clip_backfill_run.user_id, clip_backfill_run.force, v_before) d;
    RAISE NOTICE 'clip_backfill_run: % rows to process in batches of %', v_total, batch;
    COMMIT;
    LOOP
        EXIT WHEN max_batches IS NOT NULL AND v_batches >= max_batches;
        SELECT coalesce(sum(b.processed), 0), coalesce(sum(b.succeeded), 0), coalesce(sum(b.failed), 0)
          INTO b_proc, b_ok, b_fail
          FROM @extschema@.clip_backfill(batch, clip_backfill_run.source, false, clip_backfill_run.video_id,
                                         clip_backfill_run.user_id, clip_backfill_run.force, v_before) b;
        COMMIT;
        EXIT WHEN b_proc = 0;
        v_batches := v_batches + 1;
        v_proc := v_proc + b_proc;
        v_ok := v_ok + b_ok;
        v_fail := v_fail + b_fail;
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
-- Status: one row per source (the named one, or all). Counts are bigint and exact; one sequential scan of the
-- table plus one query over failed rows (which a GIN index on the metadata serves). Needs SELECT on the
-- source, embedding and metadata columns only. A source the caller cannot read, or a model that cannot be
-- loaded, gives NULL counts / NULL stale and says why in `problem`.
CREATE FUNCTION clip_backfill_status_impl(p_source text)
RETURNS TABLE(o_source text, table_name regclass, source_kind text, enabled boolean, total_rows bigint, embedded bigint,
              up_to_date bigint, stale bigint, without_embedding bigint, pending bigint, failed_retrying bigint,
              failed_permanently bigint, no_source bigint, coverage_pct numeric, failures jsonb,
              avg_inference_ms numeric, last_generated_at timestamptz, last_run_at timestamptz, last_run jsonb,
              model_sha256 text, problem text)
LANGUAGE plpgsql STABLE SECURITY INVOKER
AS $fn$
DECLARE
    s          clip_backfill_sources;
    v_ident    jsonb;
    v_model    jsonb;
    v_mproblem text;
    v_emb      text;
    v_meta     text;
    v_has_src  text;
    v_check    text;
    v_current  bigint;
    v_due      bigint;
    v_waiting  bigint;
BEGIN
    IF p_source IS NOT NULL AND NOT EXISTS (SELECT 1 FROM clip_backfill_sources r WHERE r.name = p_source) THEN
        RAISE EXCEPTION 'backfill source "%" does not exist', p_source USING ERRCODE = 'undefined_object';
    END IF;
    BEGIN
        v_ident := clip_image_model_identity();
        v_model := jsonb_build_object('model_sha256', v_ident->'sha256', 'preprocess_version', v_ident->'preprocess_version');
    EXCEPTION WHEN OTHERS THEN
        v_mproblem := 'image model unavailable: ' || SQLERRM;
    END;
    FOR s IN SELECT r.* FROM clip_backfill_sources r WHERE p_source IS NULL OR r.name = p_source ORDER BY r.name LOOP
        o_source := s.name; table_name := s.tbl; source_kind := s.source_kind; enabled := s.enabled;
        model_sha256 := v_ident->>'sha256';
        total_rows := NULL; embedded := NULL; up_to_date := NULL; stale := NULL; without_embedding := NULL;
        pending := NULL; failed_retrying := NULL; failed_permanently := NULL; no_source := NULL;
        coverage_pct := NULL; failures := NULL; avg_inference_ms := NULL; last_generated_at := NULL;
        problem := v_mproblem;
        SELECT x.finished_at, to_jsonb(x) - 'id' - 'source' INTO last_run_at, last_run
          FROM clip_backfill_runs x WHERE x.source = s.name ORDER BY x.id DESC LIMIT 1;
        BEGIN
            -- Reading is enough for the status (a monitoring role needs no UPDATE); a source whose columns
            -- changed type fails in the query below and says so in `problem`.
            v_check := clip_backfill_privilege_problem(s, false);
            IF v_check IS NOT NULL THEN
                RAISE EXCEPTION '%', v_check USING ERRCODE = 'insufficient_privilege';
            END IF;
            v_emb := quote_ident(s.embedding_column);
            v_meta := quote_ident(s.metadata_column);
            v_has_src := format('%I IS NOT NULL', s.source_column)
                      || CASE WHEN s.source_kind = 'frames' THEN format(' AND cardinality(%I) > 0', s.source_column) ELSE '' END;
            EXECUTE format(
                'SELECT count(*),'
                '       count(*) FILTER (WHERE %1$s IS NOT NULL),'
                '       count(*) FILTER (WHERE %1$s IS NOT NULL AND %2$s @> $1),'
                '       count(*) FILTER (WHERE %1$s IS NULL AND NOT (%3$s)),'
                '       count(*) FILTER (WHERE %1$s IS NULL AND %3$s AND %2$s @> ''{"status": "failed"}'''
                '                          AND coalesce((%2$s->>''next_retry_at'')::timestamptz, ''-infinity'') <= now()),'
                '       count(*) FILTER (WHERE %1$s IS NULL AND %3$s AND %2$s @> ''{"status": "failed"}'''
                '                          AND coalesce((%2$s->>''next_retry_at'')::timestamptz, ''-infinity'') > now()),'
                '       count(*) FILTER (WHERE %1$s IS NULL AND %3$s AND %2$s @> ''{"status": "failed_permanently"}''),'
                '       round(avg((%2$s->>''inference_time_ms'')::numeric) FILTER (WHERE %1$s IS NOT NULL AND %2$s @> ''{"status": "ok"}''), 3),'
                '       max((%2$s->>''generated_at'')::timestamptz) FILTER (WHERE %1$s IS NOT NULL)'
                '  FROM %4$s',
                v_emb, v_meta, v_has_src, s.tbl)
               INTO total_rows, embedded, v_current, no_source, v_due, v_waiting, failed_permanently,
                    avg_inference_ms, last_generated_at
               USING v_model;
            without_embedding := total_rows - embedded;
            failed_retrying := v_due + v_waiting;
            -- Eligible for the next run: no embedding, something to embed, not failed-and-waiting/given up.
            pending := without_embedding - no_source - v_waiting - failed_permanently;
            IF v_model IS NOT NULL THEN
                up_to_date := v_current;
                stale := embedded - v_current;
            END IF;
            coverage_pct := CASE WHEN total_rows > 0 THEN round(100.0 * embedded / total_rows, 2) END;
            EXECUTE format(
                'SELECT coalesce(jsonb_object_agg(code, jsonb_build_object(''rows'', n, ''example'', example)), ''{}'')'
                '  FROM (SELECT %2$s->>''error_sqlstate'' AS code, count(*) AS n, min(%2$s->>''error_message'') AS example'
                '          FROM %3$s WHERE %2$s ? ''error_sqlstate'' AND %1$s IS NULL GROUP BY 1) f',
                v_emb, v_meta, s.tbl)
               INTO failures;
        EXCEPTION WHEN OTHERS THEN
            problem := concat_ws('; ', problem, SQLERRM);
        END;
        RETURN NEXT;
    END LOOP;
END
$fn$;

CREATE FUNCTION clip_backfill_status(source text DEFAULT NULL)
RETURNS TABLE(source text, table_name regclass, source_kind text, enabled boolean, total_rows bigint, embedded bigint,
              up_to_date bigint, stale bigint, without_embedding bigint, pending bigint, failed_retrying bigint,
              failed_permanently bigint, no_source bigint, coverage_pct numeric, failures jsonb,
              avg_inference_ms numeric, last_generated_at timestamptz, last_run_at timestamptz, last_run jsonb,
              model_sha256 text, problem text)
LANGUAGE sql STABLE SECURITY INVOKER
AS $fn$
    SELECT * FROM clip_backfill_status_impl($1)
$fn$;
