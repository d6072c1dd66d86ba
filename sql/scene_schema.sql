-- pg_clip: the scene schema — adopting an application's scene table (`video_scenes`), its indexes, and
-- tenant isolation with Row-Level Security.
--
-- Included into the extension's install script (pgrx `extension_sql_file!`) after the Rust-generated
-- functions and BEFORE sql/search.sql. Runs inside CREATE EXTENSION pg_clip: no CREATE EXTENSION, no psql
-- meta-commands, and nothing here may reference the application table, which need not exist yet — every
-- function takes the table as a `regclass` and builds its statements with format() / EXECUTE at call time.
--
-- Security model (docs/security.md): every function is SECURITY INVOKER. Whatever reads or writes an
-- application table on behalf of pg_clip (adoption, enabling RLS, validating a tenant value through the
-- column's type) runs as THAT TABLE'S OWNER inside a security-restricted operation, through the Rust
-- primitive clip_as_table_owner(tbl, fn, args), which only runs the `*_as_owner(regclass, jsonb)` functions
-- below; the caller must be a superuser or hold the owner's privileges. A superuser, a monitoring role or a
-- tenant administrator therefore never runs code the table's owner wrote (triggers, policies, casts,
-- defaults, index expressions) with its own rights. Temporary, partitioned and inheritance tables are
-- refused (clip_check_table). The search_path of every function is pinned by sql/finalize.sql.
--
-- Layout: the `-- @@ schema` part holds the objects that carry data (tables, the view user policies depend
-- on); the `-- @@ code` part holds everything that an upgrade script can drop and create again. The upgrade
-- script sql/pg_clip--0.1.0--0.2.0.sql is generated from the code parts by scripts/gen_upgrade.py, so a fresh
-- install and an upgraded one are the same (tests/integration/test_upgrade.py compares them).
--
-- Objects (all in the extension's schema):
--   clip_owns_table(regclass)             true when the current role has the privileges of the table's owner
--   clip_check_table(regclass, text)      raises unless the relation is a permanent, ordinary, stand-alone table
--   clip_scene_tables                     THE registry: one row per (table, embedding column) pg_clip knows, adopted
--                                         for search (adopted_at set) or registered for backfill only (RLS)
--   clip_column_type(regclass, name)      format_type of a column, for casts in generated statements
--   clip_source_kind(regclass, name)      the backfill source kind a column's type allows (bytea, url, frames)
--   clip_check_columns(...)               THE column validation: adoption, registration, backfill and status
--   clip_scene_table_config(regclass)     the adopted row of a table (NULL = the only adopted table you can read)
--   clip_adopt_scene_table(...)           adds the columns (no rewrite), creates the indexes, registers
--   clip_tenant_roles                     which role may see which tenant of which table (admin-only)
--   clip_current_tenants                  view: the mappings that apply to the current role
--   clip_map_tenant_role(...)/clip_unmap_tenant_role(...)   manage clip_tenant_roles
--   clip_enable_tenant_rls(...)/clip_disable_tenant_rls(...) the tenant policy on the scene table
--   clip_tenant_rls_exempt(regclass)      the policy's exemption for pg_clip's own maintenance as the owner

-- @@ schema
-- ---------------------------------------------------------------------------------------------------------
-- Ownership test used by the registries' policies and the adoption checks (and by clip_tenant_rls_exempt,
-- which users' policies depend on). Ownership in PostgreSQL means having the privileges of the owning role
-- (membership with INHERIT), which pg_has_role(..., 'USAGE') tests.
CREATE FUNCTION clip_owns_table(tbl regclass) RETURNS boolean
LANGUAGE sql STABLE STRICT PARALLEL SAFE SECURITY INVOKER
AS $fn$
    SELECT EXISTS (
        SELECT 1 FROM pg_catalog.pg_class c
        WHERE c.oid = tbl AND pg_catalog.pg_has_role(c.relowner, 'USAGE')
    )
$fn$;

-- ---------------------------------------------------------------------------------------------------------
-- The one registry of the user tables pg_clip works on: one row per (table, embedding column), with the
-- table's column mapping. A row is written by clip_adopt_scene_table (adopted_at set: the table is searched)
-- or by clip_register_source (a backfill source's target; adopted_at NULL while the table is not adopted);
-- clip_backfill_sources refers to it, so a source and a search of the same table can no longer disagree on
-- the key, metadata, video or tenant column. At most one adopted row per table (the partial unique index):
-- search needs one mapping per table. tenant_column is also the user filter of clip_backfill(user_id => ...).
-- Row-level security (policies in the code part) replaces 0.1.0's CHECK (clip_owns_table(scene_table)): a
-- CHECK runs on every write, including pg_restore's and a superuser's, and cannot tell who may read a row.
CREATE TABLE clip_scene_tables (
    scene_table          regclass    NOT NULL,
    key_column           name        NOT NULL,   -- unique and NOT NULL in the table: how pg_clip finds a row again
    tenant_column        name,                   -- NOT NULL once adopted
    video_column         name,
    start_column         name,
    end_column           name,
    thumbnail_url_column name,
    thumbnail_column     name,
    embedding_column     name        NOT NULL DEFAULT 'embedding_visual_clip',
    metadata_column      name        NOT NULL DEFAULT 'visual_clip_metadata',
    adopted_at           timestamptz,            -- NULL: registered for backfill only, not searched
    CONSTRAINT clip_scene_tables_pkey PRIMARY KEY (scene_table, embedding_column),
    CONSTRAINT clip_scene_tables_tenant_check CHECK (adopted_at IS NULL OR tenant_column IS NOT NULL)
);
CREATE UNIQUE INDEX clip_scene_tables_adopted_key ON clip_scene_tables (scene_table) WHERE adopted_at IS NOT NULL;
SELECT pg_catalog.pg_extension_config_dump('clip_scene_tables', '');
REVOKE ALL ON clip_scene_tables FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON clip_scene_tables TO PUBLIC;
ALTER TABLE clip_scene_tables ENABLE ROW LEVEL SECURITY;

-- ---------------------------------------------------------------------------------------------------------
-- Tenant isolation.
--
-- A login role is mapped to the tenant(s) it may see in clip_tenant_roles. The mapping is not writable by
-- PUBLIC (a role that could write it could give itself any tenant): the superuser, or a role granted
-- INSERT/UPDATE/DELETE on it, administers it. A role sees the mappings of every role it is a member of
-- (so a group role `tenant_acme` can carry the mapping for many login roles), through the view
-- clip_current_tenants, which is what the RLS policy reads. A session setting (e.g. app.user_id) is NOT
-- used: any role can SET it. Tenant ids are stored in the canonical text form of the tenant column's type
-- (`'042'` of a bigint column is stored as `'42'`).
CREATE TABLE clip_tenant_roles (
    scene_table regclass NOT NULL,
    role_name   name     NOT NULL,
    tenant_id   text     NOT NULL,
    PRIMARY KEY (scene_table, role_name, tenant_id)
);
SELECT pg_catalog.pg_extension_config_dump('clip_tenant_roles', '');
REVOKE ALL ON clip_tenant_roles FROM PUBLIC;

-- The tenant policies of users' tables depend on this view: it is never dropped by an upgrade.
CREATE VIEW clip_current_tenants WITH (security_barrier) AS
    SELECT t.scene_table, t.tenant_id, t.role_name
      FROM clip_tenant_roles t
     WHERE t.role_name IN (SELECT r.rolname FROM pg_catalog.pg_roles r
                            WHERE pg_catalog.pg_has_role(r.oid, 'MEMBER'));
GRANT SELECT ON clip_current_tenants TO PUBLIC;

-- The exemption in the tenant policy (clip_enable_tenant_rls): pg_clip's own maintenance of a table (backfill,
-- status), running as the table's owner through clip_as_table_owner, must see every tenant's rows even when
-- FORCE ROW LEVEL SECURITY filters the owner. The maintenance functions set `pg_clip.maintenance_table` to
-- the table's OID for their own duration; the exemption also requires the owner's privileges, which a
-- tenant does not have (a role with them can turn the policy off anyway). Users' policies depend on this
-- function: it is never dropped by an upgrade.
CREATE FUNCTION clip_tenant_rls_exempt(tbl regclass) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE SECURITY INVOKER
AS $fn$
    SELECT coalesce(pg_catalog.current_setting('pg_clip.maintenance_table', true) = (tbl::oid)::text, false)
           AND clip_owns_table(tbl)
$fn$;

-- The tenant policy of a Citus distributed table (clip_enable_tenant_rls) calls these two instead of
-- subqueries: Citus refuses policies with subqueries on distributed tables, and sends the policy to every
-- shard, where each node evaluates them against its own clip_tenant_roles (kept in step with the
-- coordinator's by clip_citus_sync_tenant_roles at each commit that changes them) and its own maintenance setting. Users' policies depend on
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

-- @@ code
-- ---------------------------------------------------------------------------------------------------------
-- The one check of the relation pg_clip adopts, registers or acts on: it exists, is an ordinary permanent
-- table, and takes no part in partitioning or inheritance (row-level security on a parent does not protect
-- a partition or child read directly, and a child's triggers would run as the parent's owner).
CREATE FUNCTION clip_check_table(tbl regclass, purpose text DEFAULT 'used by pg_clip') RETURNS void
LANGUAGE plpgsql STABLE SECURITY INVOKER
AS $fn$
DECLARE
    v_kind "char";
    v_pers "char";
    v_part boolean;
BEGIN
    IF tbl IS NULL THEN
        RAISE EXCEPTION 'the table must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT c.relkind, c.relpersistence, c.relispartition INTO v_kind, v_pers, v_part
      FROM pg_catalog.pg_class c WHERE c.oid = tbl;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'relation with OID % does not exist', tbl::oid USING ERRCODE = 'undefined_table';
    END IF;
    IF v_pers = 't' THEN
        RAISE EXCEPTION '% is a temporary table, which cannot be %', tbl, purpose
            USING ERRCODE = 'feature_not_supported',
                  DETAIL = 'A temporary table exists for one session only; pg_clip adopts and registers permanent tables.';
    END IF;
    IF v_kind = 'p' THEN
        RAISE EXCEPTION '% is a partitioned table, which cannot be %', tbl, purpose
            USING ERRCODE = 'feature_not_supported',
                  DETAIL = 'Row-level security enabled on a partitioned table does not apply to its partitions read directly.',
                  HINT = 'Use an ordinary table.';
    END IF;
    IF v_kind <> 'r' THEN
        RAISE EXCEPTION '"%" is not a table', tbl
            USING ERRCODE = 'wrong_object_type', DETAIL = 'Only ordinary tables can be adopted or backfilled.';
    END IF;
    IF v_part THEN
        RAISE EXCEPTION '% is a partition, which cannot be %', tbl, purpose
            USING ERRCODE = 'feature_not_supported',
                  DETAIL = 'Its rows can also be read through the partitioned table, which row-level security on the partition does not cover.';
    END IF;
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_inherits i WHERE i.inhrelid = tbl OR i.inhparent = tbl) THEN
        RAISE EXCEPTION '% takes part in table inheritance, so it cannot be %', tbl, purpose
            USING ERRCODE = 'feature_not_supported',
                  DETAIL = 'Rows of an inheritance child are read and written through its parent with the parent''s policies and owner.';
    END IF;
END
$fn$;

-- format_type() of a column, or NULL when the table or column does not exist; for the casts in generated
-- statements and for the checks below.
CREATE FUNCTION clip_column_type(tbl regclass, col name) RETURNS text
LANGUAGE sql STABLE STRICT SECURITY INVOKER
AS $fn$
    SELECT pg_catalog.format_type(a.atttypid, a.atttypmod) FROM pg_catalog.pg_attribute a
     WHERE a.attrelid = tbl AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped
$fn$;

-- The backfill source kind a column's type allows, through domains: bytea (an encoded image), text or
-- varchar (an http(s) URL), bytea[] (the frames of a scene); NULL for any other type.
CREATE FUNCTION clip_source_kind(tbl regclass, col name) RETURNS text
LANGUAGE sql STABLE STRICT SECURITY INVOKER
AS $fn$
    SELECT CASE WHEN b = 'bytea'::regtype THEN 'bytea'
                WHEN b IN ('text'::regtype, 'character varying'::regtype) THEN 'url'
                WHEN b = 'bytea[]'::regtype THEN 'frames' END
      FROM (SELECT CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END::regtype AS b
              FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
             WHERE a.attrelid = tbl AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped) x
$fn$;

-- ---------------------------------------------------------------------------------------------------------
-- THE validation of a table and its column mapping, used by adoption, source registration, every backfill
-- batch and every status (as the caller, and again as the table's owner right before the table is read).
-- From the catalogs only: no table data is read, so no code of the table's owner runs. A NULL column is not
-- checked (absent, or not part of what the caller validates). Returns the key column (NULL: defaulted to the
-- single-column primary key) and the source kind (NULL: inferred from the source column's type).
--
-- Raises with SQLSTATEs: 42P01/42809/0A000 the table (clip_check_table), 42703 a missing column, 42P10 a key
-- that is not unique or allows NULL, 22023 the same column twice or a bad kind, 42804 a type:
--   * the embedding column is exactly vector(512). 0.1.0's backfill also accepted an unconstrained `vector`
--     (atttypmod -1) while adoption required 512; the one check keeps the strict rule on purpose: a column
--     without dimensions accepts vectors of any length (a 768-d vector written by anyone else makes every
--     search over the column fail with "different vector dimensions"), pgvector cannot build the HNSW index
--     on it, and pg_clip only ever writes 512-d vectors;
--   * the metadata column is exactly jsonb (no domain, no composite with a cast: pg_clip's statements cast
--     to and from it, and a user-defined cast would run inside them);
--   * the key is one column with a valid, non-partial, non-expression unique index, and NOT NULL: a row
--     whose key is NULL or shared could never be written back (backfill) or named (search "more like this");
--   * start/end columns are numbers of seconds (a numeric type, or a domain over one); the thumbnail column
--     is bytea; the source column is bytea, text/varchar or bytea[] (or a domain over one) matching the kind.
CREATE FUNCTION clip_check_columns(
    tbl                  regclass,
    purpose              text,
    INOUT key_column     name,
    embedding_column     name,
    metadata_column      name,
    tenant_column        name DEFAULT NULL,
    video_column         name DEFAULT NULL,
    start_column         name DEFAULT NULL,
    end_column           name DEFAULT NULL,
    thumbnail_url_column name DEFAULT NULL,
    thumbnail_column     name DEFAULT NULL,
    source_column        name DEFAULT NULL,
    INOUT source_kind    text DEFAULT NULL)
LANGUAGE plpgsql STABLE SECURITY INVOKER
AS $fn$
DECLARE
    v_col  name;
    v_type text;
    v_ok   boolean;
    v_kind text;
    v_dist name;
BEGIN
    PERFORM clip_check_table(tbl, coalesce(purpose, 'used by pg_clip'));

    IF key_column IS NULL THEN
        SELECT a.attname INTO key_column
          FROM pg_catalog.pg_index i
          JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
         WHERE i.indrelid = tbl AND i.indisprimary AND i.indnkeyatts = 1;
        IF key_column IS NULL THEN
            RAISE EXCEPTION 'table % has no single-column primary key', tbl
                USING ERRCODE = 'invalid_column_reference',
                      HINT = 'Name the key column: key_column => ''...'' (id_column => ''...'' for clip_adopt_scene_table).';
        END IF;
    END IF;
    FOREACH v_col IN ARRAY ARRAY[key_column, embedding_column, metadata_column, tenant_column, video_column,
                                 start_column, end_column, thumbnail_url_column, thumbnail_column, source_column] LOOP
        CONTINUE WHEN v_col IS NULL;
        IF clip_column_type(tbl, v_col) IS NULL THEN
            RAISE EXCEPTION 'column "%" of relation % does not exist', v_col, tbl
                USING ERRCODE = 'undefined_column', HINT = 'Pass NULL for an optional column the table does not have.';
        END IF;
    END LOOP;
    IF embedding_column IN (key_column, source_column, metadata_column)
       OR metadata_column IN (key_column, source_column) THEN
        RAISE EXCEPTION 'the embedding and metadata columns must be two columns distinct from the key and source columns'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    -- On a Citus distributed table (or a shard of one) a unique index must include the distribution column,
    -- so there the key may be unique together with it: (distribution column, key) in either order. Such a key
    -- still names one row per tenant; the backfill writes a claimed row back by key and ctid
    -- (docs/scale-out.md), and the search filters by tenant.
    v_dist := clip_citus_distribution_column(tbl);
    IF NOT EXISTS (
        SELECT 1 FROM pg_catalog.pg_index i
          JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
         WHERE i.indrelid = tbl AND i.indisunique AND i.indisvalid AND i.indnkeyatts = 1
           AND i.indpred IS NULL AND i.indexprs IS NULL AND a.attname = key_column)
       AND NOT (v_dist IS NOT NULL AND v_dist <> key_column AND EXISTS (
        SELECT 1 FROM pg_catalog.pg_index i
         WHERE i.indrelid = tbl AND i.indisunique AND i.indisvalid AND i.indnkeyatts = 2
           AND i.indpred IS NULL AND i.indexprs IS NULL
           AND (SELECT pg_catalog.array_agg(a.attname::text ORDER BY a.attname)
                  FROM pg_catalog.pg_attribute a
                 WHERE a.attrelid = tbl AND a.attnum IN (i.indkey[0], i.indkey[1]))
               = (SELECT pg_catalog.array_agg(x ORDER BY x) FROM pg_catalog.unnest(ARRAY[key_column::text, v_dist::text]) x))) THEN
        RAISE EXCEPTION 'key column "%" of % is not unique', key_column, tbl
            USING ERRCODE = 'invalid_column_reference',
                  HINT = CASE WHEN v_dist IS NULL
                              THEN 'The key must have a primary key or a unique index of its own (one column, no predicate).'
                              ELSE format('On a distributed table: a primary key or unique index on (%I, %I).', v_dist, key_column) END;
    END IF;
    IF NOT (SELECT a.attnotnull FROM pg_catalog.pg_attribute a
             WHERE a.attrelid = tbl AND a.attname = key_column AND NOT a.attisdropped) THEN
        RAISE EXCEPTION 'key column "%" of % allows NULL', key_column, tbl
            USING ERRCODE = 'invalid_column_reference',
                  DETAIL = 'A row whose key is NULL could never be written back, and would stay pending forever.',
                  HINT = format('ALTER TABLE %s ALTER COLUMN %I SET NOT NULL', tbl, key_column);
    END IF;

    IF embedding_column IS NOT NULL THEN
        SELECT a.atttypid = 'vector'::regtype AND a.atttypmod = 512, pg_catalog.format_type(a.atttypid, a.atttypmod)
          INTO v_ok, v_type
          FROM pg_catalog.pg_attribute a WHERE a.attrelid = tbl AND a.attname = embedding_column AND NOT a.attisdropped;
        IF NOT v_ok THEN
            RAISE EXCEPTION 'column "%" of relation % is of type %, expected vector(512)', embedding_column, tbl, v_type
                USING ERRCODE = 'datatype_mismatch';
        END IF;
    END IF;
    IF metadata_column IS NOT NULL THEN
        SELECT a.atttypid = 'jsonb'::regtype, pg_catalog.format_type(a.atttypid, a.atttypmod)
          INTO v_ok, v_type
          FROM pg_catalog.pg_attribute a WHERE a.attrelid = tbl AND a.attname = metadata_column AND NOT a.attisdropped;
        IF NOT v_ok THEN
            RAISE EXCEPTION 'column "%" of relation % is of type %, expected jsonb', metadata_column, tbl, v_type
                USING ERRCODE = 'datatype_mismatch';
        END IF;
    END IF;
    FOREACH v_col IN ARRAY ARRAY[start_column, end_column] LOOP
        CONTINUE WHEN v_col IS NULL;
        -- Seconds: a numeric type (or a domain over one), returned as double precision by the search.
        SELECT pg_catalog.format_type(a.atttypid, a.atttypmod),
               (SELECT b.typcategory = 'N' FROM pg_catalog.pg_type b
                 WHERE b.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END)
          INTO v_type, v_ok
          FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
         WHERE a.attrelid = tbl AND a.attname = v_col AND a.attnum > 0 AND NOT a.attisdropped;
        IF NOT v_ok THEN
            RAISE EXCEPTION 'column "%" of relation % is of type %, expected a number of seconds', v_col, tbl, v_type
                USING ERRCODE = 'datatype_mismatch';
        END IF;
    END LOOP;
    IF thumbnail_column IS NOT NULL AND clip_column_type(tbl, thumbnail_column) <> 'bytea' THEN
        RAISE EXCEPTION 'column "%" of relation % is of type %, expected bytea', thumbnail_column, tbl,
                        clip_column_type(tbl, thumbnail_column)
            USING ERRCODE = 'datatype_mismatch';
    END IF;

    IF source_kind IS NOT NULL AND source_kind NOT IN ('bytea', 'url', 'frames') THEN
        RAISE EXCEPTION 'invalid source_kind "%"', source_kind
            USING ERRCODE = 'invalid_parameter_value', HINT = 'One of: bytea, url, frames (or NULL to infer it).';
    END IF;
    IF source_column IS NOT NULL THEN
        v_kind := clip_source_kind(tbl, source_column);
        IF v_kind IS NULL OR v_kind <> coalesce(source_kind, v_kind) THEN
            RAISE EXCEPTION 'column "%" of relation % is of type %, which cannot be a % source',
                            source_column, tbl, clip_column_type(tbl, source_column), coalesce(source_kind, 'backfill')
                USING ERRCODE = 'datatype_mismatch',
                      HINT = 'bytea: an encoded image; text/varchar: an http(s) URL; bytea[]: the frames of a multi-frame scene.';
        END IF;
        source_kind := v_kind;
    END IF;
END
$fn$;

-- A registry row whose table was dropped, or is a temporary table (a 0.1.0 registration): anyone may remove it.
CREATE FUNCTION clip_registry_orphan(tbl regclass) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE SECURITY INVOKER
AS $fn$
    SELECT NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid = tbl AND c.relpersistence <> 't')
$fn$;

-- Which rows of clip_scene_tables a role sees: rows of tables it owns, orphans, and the adopted row of a
-- table it can read (a tenant searching the table needs its column mapping). A row that exists only for
-- backfill is the owner's business, as the backfill sources are: only the owner sees it.
CREATE FUNCTION clip_scene_table_visible(tbl regclass, adopted boolean) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE SECURITY INVOKER
AS $fn$
    SELECT clip_owns_table(tbl)
        OR (coalesce(adopted, false) AND coalesce(pg_catalog.has_any_column_privilege((tbl)::oid, 'SELECT'), false))
        OR clip_registry_orphan(tbl)
$fn$;

CREATE POLICY clip_scene_tables_select ON clip_scene_tables FOR SELECT TO PUBLIC
    USING (clip_scene_table_visible(scene_table, adopted_at IS NOT NULL));
CREATE POLICY clip_scene_tables_insert ON clip_scene_tables FOR INSERT TO PUBLIC
    WITH CHECK (clip_owns_table(scene_table));
CREATE POLICY clip_scene_tables_update ON clip_scene_tables FOR UPDATE TO PUBLIC
    USING (clip_owns_table(scene_table)) WITH CHECK (clip_owns_table(scene_table));
CREATE POLICY clip_scene_tables_delete ON clip_scene_tables FOR DELETE TO PUBLIC
    USING (clip_owns_table(scene_table) OR clip_registry_orphan(scene_table));

-- The adopted registry row of a table (rows registered for backfill only are not searched); NULL means "the
-- only adopted table of this database that you can see".
CREATE FUNCTION clip_scene_table_config(scene_table regclass DEFAULT NULL) RETURNS clip_scene_tables
LANGUAGE plpgsql STABLE SECURITY INVOKER
AS $fn$
#variable_conflict use_column
DECLARE
    v_tbl  regclass := clip_scene_table_config.scene_table;
    v_cfg  clip_scene_tables;
    v_all  text;
    v_n    integer;
BEGIN
    IF v_tbl IS NULL THEN
        -- Dropped tables and (0.1.0) temporary tables do not count: another session's temporary table must
        -- not break this session's default-table search.
        SELECT count(*), string_agg(r.scene_table::text, ', ' ORDER BY r.scene_table::text)
          INTO v_n, v_all
          FROM clip_scene_tables r
         WHERE r.adopted_at IS NOT NULL AND NOT clip_registry_orphan(r.scene_table);
        IF v_n = 0 THEN
            RAISE EXCEPTION 'no scene table has been adopted in this database'
                USING ERRCODE = 'undefined_table',
                      HINT = 'Run SELECT clip_adopt_scene_table(''video_scenes''); first.';
        ELSIF v_n > 1 THEN
            RAISE EXCEPTION 'more than one scene table has been adopted (%)', v_all
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Pass scene_table => ''...'' to choose one.';
        END IF;
        SELECT r.* INTO v_cfg FROM clip_scene_tables r
         WHERE r.adopted_at IS NOT NULL AND NOT clip_registry_orphan(r.scene_table);
    ELSE
        SELECT r.* INTO v_cfg FROM clip_scene_tables r
         WHERE r.scene_table = v_tbl AND r.adopted_at IS NOT NULL AND NOT clip_registry_orphan(r.scene_table);
        IF NOT FOUND THEN
            RAISE EXCEPTION 'table % has not been adopted by pg_clip', v_tbl
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      HINT = format('Run SELECT clip_adopt_scene_table(%L); first.', v_tbl::text);
        END IF;
    END IF;
    RETURN v_cfg;
END
$fn$;

-- Adoption creates indexes under fixed names; a different relation holding the name is an error, not a skip.
CREATE FUNCTION clip_assert_index_name_free(nsp name, relname name) RETURNS void
LANGUAGE plpgsql STABLE SECURITY INVOKER
AS $fn$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = nsp AND c.relname = clip_assert_index_name_free.relname) THEN
        RAISE EXCEPTION 'relation "%.%" already exists but is not a usable index for pg_clip', nsp, relname
            USING ERRCODE = 'duplicate_table',
                  HINT = 'An invalid index (a failed CREATE INDEX CONCURRENTLY) must be dropped first; or rename the relation.';
    END IF;
END
$fn$;

-- Raises 42501 unless the current role may act on the table as its owner (superuser, or the owner's
-- privileges): what clip_as_table_owner requires, checked first for a clearer message.
CREATE FUNCTION clip_assert_may_act_as_owner(tbl regclass, action text) RETURNS void
LANGUAGE plpgsql STABLE SECURITY INVOKER
AS $fn$
BEGIN
    IF NOT clip_owns_table(tbl) THEN
        RAISE EXCEPTION 'must be owner of table % to %', tbl, action
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Run it as the role that owns the table (or a member of it with its privileges), or as a superuser: pg_clip then acts as the table''s owner.';
    END IF;
END
$fn$;

-- ---------------------------------------------------------------------------------------------------------
-- Adoption: adds `embedding_visual_clip vector(512)` and `visual_clip_metadata jsonb` (nullable, no default:
-- a catalog-only change, the table is not rewritten), creates the indexes the search needs unless equivalent
-- valid ones exist, and records the column mapping in the registry (taking over the row of a backfill source
-- of the same embedding column). The key column must be unique and NOT NULL (clip_check_columns).
-- Idempotent: a re-run adds nothing, builds nothing and takes no ACCESS EXCLUSIVE lock. Returns a jsonb report of what it did. Runs as the table's owner.
--
-- The indexes are built with plain CREATE INDEX (a function runs in a transaction, so not CONCURRENTLY),
-- which blocks writes to the table for the build. On a big live table, build them by hand first with
-- CREATE INDEX CONCURRENTLY (docs/search.md) and then run this: it finds and reuses them.
CREATE FUNCTION clip_adopt_scene_table(
    -- The default is cast when the function is called, so `video_scenes` is looked up in the CALLER's
    -- search_path (the function's own search_path is pinned).
    scene_table          regclass DEFAULT 'video_scenes'::text::regclass,
    tenant_column        name     DEFAULT 'user_id',
    -- The registry's key_column; the parameter keeps its 0.1.0 name so that callers' named arguments still work.
    id_column            name     DEFAULT NULL,         -- NULL: the single-column primary key
    video_column         name     DEFAULT 'video_id',   -- NULL: none
    start_column         name     DEFAULT 'start_time', -- NULL: none; seconds, of a numeric type
    end_column           name     DEFAULT 'end_time',   -- NULL: none
    thumbnail_url_column name     DEFAULT NULL,         -- NULL: `thumbnail_url` if the table has it
    thumbnail_column     name     DEFAULT NULL,         -- NULL: `thumbnail` (bytea) if the table has it
    create_indexes       boolean  DEFAULT true
) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
AS $fn$
BEGIN
    IF scene_table IS NULL THEN
        RAISE EXCEPTION 'scene_table must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM clip_check_table(scene_table, 'adopted');
    PERFORM clip_assert_may_act_as_owner(scene_table, 'adopt it');
    RETURN clip_as_table_owner((scene_table)::oid,
                               ('clip_adopt_scene_table_as_owner(regclass,jsonb)'::regprocedure)::oid,
                               jsonb_build_object('tenant_column', tenant_column, 'id_column', id_column,
                                                  'video_column', video_column, 'start_column', start_column,
                                                  'end_column', end_column, 'thumbnail_url_column', thumbnail_url_column,
                                                  'thumbnail_column', thumbnail_column,
                                                  'create_indexes', coalesce(create_indexes, true)));
END
$fn$;

-- The work of clip_adopt_scene_table, run by clip_as_table_owner as the table's owner.
CREATE FUNCTION clip_adopt_scene_table_as_owner(tbl regclass, args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
AS $fn$
DECLARE
    c_emb      CONSTANT name := 'embedding_visual_clip';
    c_meta     CONSTANT name := 'visual_clip_metadata';
    v_tbl      regclass := tbl;
    v_tenant   name := args->>'tenant_column';
    v_id       name := args->>'id_column';
    v_video    name := args->>'video_column';
    v_start    name := args->>'start_column';
    v_end      name := args->>'end_column';
    v_turl     name := args->>'thumbnail_url_column';
    v_thumb    name := args->>'thumbnail_column';
    v_relname  name;
    v_nsp      name;
    v_type     text;
    v_col      name;
    v_add      text[] := '{}';
    v_added    text[] := '{}';
    v_created  text[] := '{}';
    v_present  text[] := '{}';
    v_idx      name;
    v_idxname  name;
    v_emb_att  smallint;
    v_meta_att smallint;
    v_ten_att  smallint;
    v_prior_meta name;
BEGIN
    PERFORM clip_check_table(v_tbl, 'adopted');
    SELECT c.relname, n.nspname INTO v_relname, v_nsp
      FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     WHERE c.oid = v_tbl;
    IF v_tenant IS NULL THEN
        RAISE EXCEPTION 'tenant_column must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    -- Thumbnail columns named explicitly must exist; by default they are used when the table has them.
    IF v_turl IS NULL THEN
        SELECT a.attname INTO v_turl FROM pg_catalog.pg_attribute a
         WHERE a.attrelid = v_tbl AND a.attname = 'thumbnail_url' AND a.attnum > 0 AND NOT a.attisdropped;
    END IF;
    IF v_thumb IS NULL THEN
        SELECT a.attname INTO v_thumb FROM pg_catalog.pg_attribute a
         WHERE a.attrelid = v_tbl AND a.attname = 'thumbnail' AND a.attnum > 0 AND NOT a.attisdropped
           AND a.atttypid = 'bytea'::regtype;
    END IF;

    -- The one validation, before anything is changed; the two new columns only if the table already has
    -- them (they are added below with exactly the right types).
    SELECT c.key_column INTO v_id
      FROM clip_check_columns(v_tbl, 'adopted', v_id,
                              CASE WHEN clip_column_type(v_tbl, c_emb) IS NOT NULL THEN c_emb END,
                              CASE WHEN clip_column_type(v_tbl, c_meta) IS NOT NULL THEN c_meta END,
                              tenant_column => v_tenant, video_column => v_video, start_column => v_start,
                              end_column => v_end, thumbnail_url_column => v_turl, thumbnail_column => v_thumb) c;

    -- A backfill source may already have registered the embedding column (a row with adopted_at NULL).
    -- Adoption takes the row over with its own mapping; a different metadata column cannot be reconciled
    -- (the search's metadata is visual_clip_metadata) and is refused rather than silently changed.
    SELECT r.metadata_column INTO v_prior_meta FROM clip_scene_tables r
     WHERE r.scene_table = v_tbl AND r.embedding_column = c_emb;
    IF v_prior_meta IS NOT NULL AND v_prior_meta <> c_meta THEN
        RAISE EXCEPTION 'column "%" of % is registered for backfill with the metadata column "%"', c_emb, v_tbl, v_prior_meta
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('An adopted table keeps the metadata of %I in %I.', c_emb, c_meta),
                  HINT = 'Unregister that backfill source (clip_unregister_source) and register it again after the adoption.';
    END IF;

    IF clip_column_type(v_tbl, c_emb) IS NULL THEN
        -- STORAGE PLAIN: a 512-d vector (2,056 bytes) is just over the TOAST threshold, so by default it would
        -- live out of line; inline, exact scans and the heap checks of filtered index scans avoid a TOAST
        -- fetch per row, and the planner's costs (which ignore TOAST) match reality. Applies to rows written
        -- from now on; it does not rewrite anything.
        -- Citus refuses SET STORAGE on a distributed table, and the shards cannot be altered from here (this
        -- transaction holds their locks): docs/scale-out.md gives the two commands to run after adoption.
        v_add := v_add || format('ADD COLUMN IF NOT EXISTS %I vector(512)', c_emb);
        IF NOT clip_citus_is_distributed(v_tbl) THEN
            v_add := v_add || format('ALTER COLUMN %I SET STORAGE PLAIN', c_emb);
        END IF;
        v_added := v_added || c_emb::text;
    END IF;
    IF clip_column_type(v_tbl, c_meta) IS NULL THEN
        v_add := v_add || format('ADD COLUMN IF NOT EXISTS %I jsonb', c_meta);
        v_added := v_added || c_meta::text;
    END IF;
    IF cardinality(v_add) > 0 THEN
        -- Nullable, no default: only the catalog changes (a brief ACCESS EXCLUSIVE lock, no rewrite).
        EXECUTE format('ALTER TABLE %s %s', v_tbl, array_to_string(v_add, ', '));
    END IF;

    SELECT a.attnum INTO v_emb_att FROM pg_catalog.pg_attribute a WHERE a.attrelid = v_tbl AND a.attname = c_emb;
    SELECT a.attnum INTO v_meta_att FROM pg_catalog.pg_attribute a WHERE a.attrelid = v_tbl AND a.attname = c_meta;
    SELECT a.attnum INTO v_ten_att FROM pg_catalog.pg_attribute a WHERE a.attrelid = v_tbl AND a.attname = v_tenant;

    IF (args->>'create_indexes')::boolean THEN
        -- HNSW, cosine, on the rows that have an embedding. Any valid HNSW cosine index on the column counts.
        SELECT ic.relname INTO v_idx
          FROM pg_catalog.pg_index i
          JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
          JOIN pg_catalog.pg_am am ON am.oid = ic.relam
          JOIN pg_catalog.pg_opclass opc ON opc.oid = i.indclass[0]
         WHERE i.indrelid = v_tbl AND i.indisvalid AND am.amname = 'hnsw' AND i.indnkeyatts = 1
           AND i.indkey[0] = v_emb_att AND opc.opcname = 'vector_cosine_ops'
         LIMIT 1;
        IF v_idx IS NULL THEN
            v_idxname := left(v_relname, 40) || '_clip_hnsw_idx';
            PERFORM clip_assert_index_name_free(v_nsp, v_idxname);
            EXECUTE format('CREATE INDEX %I ON %s USING hnsw (%I vector_cosine_ops) WITH (m = 16, ef_construction = 64) WHERE %I IS NOT NULL',
                           v_idxname, v_tbl, c_emb, c_emb);
            v_created := v_created || v_idxname::text;
        ELSE
            v_present := v_present || v_idx::text;
        END IF;

        -- GIN on the metadata.
        v_idx := NULL;
        SELECT ic.relname INTO v_idx
          FROM pg_catalog.pg_index i
          JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
          JOIN pg_catalog.pg_am am ON am.oid = ic.relam
         WHERE i.indrelid = v_tbl AND i.indisvalid AND am.amname = 'gin' AND i.indkey[0] = v_meta_att
         LIMIT 1;
        IF v_idx IS NULL THEN
            v_idxname := left(v_relname, 40) || '_clip_metadata_idx';
            PERFORM clip_assert_index_name_free(v_nsp, v_idxname);
            EXECUTE format('CREATE INDEX %I ON %s USING gin (%I)', v_idxname, v_tbl, c_meta);
            v_created := v_created || v_idxname::text;
        ELSE
            v_present := v_present || v_idx::text;
        END IF;

        -- B-tree leading with the tenant column (tenant, video): small tenants are searched exactly through
        -- it, and the video filter narrows within a tenant. Any valid b-tree leading with the tenant counts.
        v_idx := NULL;
        SELECT ic.relname INTO v_idx
          FROM pg_catalog.pg_index i
          JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
          JOIN pg_catalog.pg_am am ON am.oid = ic.relam
         WHERE i.indrelid = v_tbl AND i.indisvalid AND am.amname = 'btree' AND i.indkey[0] = v_ten_att
           AND i.indpred IS NULL
         LIMIT 1;
        IF v_idx IS NULL THEN
            v_idxname := left(v_relname, 40) || '_clip_tenant_idx';
            PERFORM clip_assert_index_name_free(v_nsp, v_idxname);
            IF v_video IS NULL THEN
                EXECUTE format('CREATE INDEX %I ON %s (%I)', v_idxname, v_tbl, v_tenant);
            ELSE
                EXECUTE format('CREATE INDEX %I ON %s (%I, %I)', v_idxname, v_tbl, v_tenant, v_video);
            END IF;
            v_created := v_created || v_idxname::text;
        ELSE
            v_present := v_present || v_idx::text;
        END IF;
    END IF;

    INSERT INTO clip_scene_tables AS r
           (scene_table, key_column, tenant_column, video_column, start_column, end_column,
            thumbnail_url_column, thumbnail_column, embedding_column, metadata_column, adopted_at)
    VALUES (v_tbl, v_id, v_tenant, v_video, v_start, v_end, v_turl, v_thumb, c_emb, c_meta, now())
    ON CONFLICT ON CONSTRAINT clip_scene_tables_pkey DO UPDATE
       SET key_column = EXCLUDED.key_column, tenant_column = EXCLUDED.tenant_column,
           video_column = EXCLUDED.video_column, start_column = EXCLUDED.start_column,
           end_column = EXCLUDED.end_column, thumbnail_url_column = EXCLUDED.thumbnail_url_column,
           thumbnail_column = EXCLUDED.thumbnail_column, adopted_at = now();

    RETURN jsonb_build_object(
        'table', v_tbl::text,
        'columns_added', to_jsonb(v_added),
        'indexes_created', to_jsonb(v_created),
        'indexes_present', to_jsonb(v_present),
        'columns', jsonb_build_object('id', v_id, 'tenant', v_tenant, 'video', v_video, 'start', v_start,
                                      'end', v_end, 'thumbnail_url', v_turl, 'thumbnail', v_thumb,
                                      'embedding', c_emb, 'metadata', c_meta));
END
$fn$;

-- ---------------------------------------------------------------------------------------------------------
-- Tenant values. A tenant id is checked, and stored, in the canonical text form of the tenant column's type
-- ((value::type)::text). A built-in type's input and output functions are PostgreSQL's own code, so the cast
-- runs as the caller; a user-defined type (a domain with a CHECK, a type with its own input function or
-- casts) is code its owner wrote, so the cast runs as the TABLE'S OWNER through clip_as_table_owner, and only
-- a superuser or a role with the owner's privileges may ask for it. With strict, an invalid value raises its
-- error (22P02, 23514, ...); without, it gives NULL.
CREATE FUNCTION clip_tenant_cast(type_oid oid, typmod integer, vals text[], strict boolean) RETURNS text[]
LANGUAGE plpgsql STABLE SECURITY INVOKER
AS $fn$
DECLARE
    v_type text := pg_catalog.format_type(type_oid, typmod);
    v_out  text[] := '{}';
    v_val  text;
    v_c    text;
BEGIN
    FOREACH v_val IN ARRAY coalesce(vals, '{}') LOOP
        IF strict THEN
            EXECUTE format('SELECT ($1::%s)::text', v_type) INTO v_c USING v_val;
        ELSE
            BEGIN
                EXECUTE format('SELECT ($1::%s)::text', v_type) INTO v_c USING v_val;
            EXCEPTION WHEN OTHERS THEN
                v_c := NULL;
            END;
        END IF;
        v_out := v_out || v_c;
    END LOOP;
    RETURN v_out;
END
$fn$;

CREATE FUNCTION clip_tenant_canonical_as_owner(tbl regclass, args jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY INVOKER
AS $fn$
DECLARE
    v_typ oid;
    v_mod integer;
BEGIN
    SELECT a.atttypid, a.atttypmod INTO v_typ, v_mod FROM pg_catalog.pg_attribute a
     WHERE a.attrelid = tbl AND a.attname = args->>'column' AND a.attnum > 0 AND NOT a.attisdropped;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'column "%" of relation % does not exist', args->>'column', tbl USING ERRCODE = 'undefined_column';
    END IF;
    RETURN to_jsonb(clip_tenant_cast(v_typ, v_mod,
                                     ARRAY(SELECT jsonb_array_elements_text(args->'values')),
                                     (args->>'strict')::boolean));
END
$fn$;

CREATE FUNCTION clip_tenant_canonical(tbl regclass, col name, vals text[], strict boolean) RETURNS text[]
LANGUAGE plpgsql STABLE SECURITY INVOKER
AS $fn$
DECLARE
    v_typ     oid;
    v_mod     integer;
    v_builtin boolean;
    v_res     jsonb;
BEGIN
    SELECT a.atttypid, a.atttypmod, t.typnamespace = 'pg_catalog'::regnamespace AND t.typtype IN ('b', 'r', 'm')
      INTO v_typ, v_mod, v_builtin
      FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
     WHERE a.attrelid = tbl AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'column "%" of relation % does not exist', col, tbl USING ERRCODE = 'undefined_column';
    END IF;
    IF v_builtin THEN
        RETURN clip_tenant_cast(v_typ, v_mod, vals, strict);
    END IF;
    IF NOT clip_owns_table(tbl) THEN
        RAISE EXCEPTION 'the tenant column "%" of % has the user-defined type %', col, tbl, pg_catalog.format_type(v_typ, v_mod)
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'Checking a tenant value runs that type''s code, which pg_clip runs as the table''s owner only.',
                  HINT = 'Map tenants of this table as a superuser or as its owner.';
    END IF;
    PERFORM clip_check_table(tbl, 'used for tenant mappings');
    v_res := clip_as_table_owner((tbl)::oid, ('clip_tenant_canonical_as_owner(regclass,jsonb)'::regprocedure)::oid,
                                 jsonb_build_object('column', col, 'values', to_jsonb(coalesce(vals, '{}')), 'strict', strict));
    RETURN ARRAY(SELECT x FROM jsonb_array_elements_text(v_res) WITH ORDINALITY e(x, o) ORDER BY o);
END
$fn$;

-- Maps a role to a tenant of a scene table (validating both); true when the mapping is new.
CREATE FUNCTION clip_map_tenant_role(role_name name, tenant_id text, scene_table regclass DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
AS $fn$
#variable_conflict use_column
DECLARE
    v_cfg  clip_scene_tables := clip_scene_table_config(clip_map_tenant_role.scene_table);
    v_role name := clip_map_tenant_role.role_name;
    v_ten  text := clip_map_tenant_role.tenant_id;
BEGIN
    IF v_role IS NULL OR v_ten IS NULL THEN
        RAISE EXCEPTION 'role_name and tenant_id must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF NOT pg_catalog.has_table_privilege('clip_tenant_roles', 'INSERT') THEN
        RAISE EXCEPTION 'permission denied for table clip_tenant_roles'
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Tenant mappings are administered by a superuser or a role granted INSERT, UPDATE, DELETE on clip_tenant_roles.';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = v_role) THEN
        RAISE EXCEPTION 'role "%" does not exist', v_role USING ERRCODE = 'undefined_object';
    END IF;
    -- Fails (e.g. 22P02) if not a valid tenant id; stores the canonical form ('042' -> '42' for a number).
    v_ten := (clip_tenant_canonical(v_cfg.scene_table, v_cfg.tenant_column, ARRAY[v_ten], true))[1];
    IF v_ten IS NULL THEN
        RAISE EXCEPTION 'tenant id % is NULL as a value of column "%"', quote_literal(tenant_id), v_cfg.tenant_column
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    INSERT INTO clip_tenant_roles (scene_table, role_name, tenant_id)
    VALUES (v_cfg.scene_table, v_role, v_ten)
    ON CONFLICT DO NOTHING;
    -- On a Citus distributed table the workers get the change when this transaction commits
    -- (clip_tenant_roles_citus_sync, sql/citus.sql), never before: a rolled-back mapping stays unmade there.
    RETURN FOUND;
END
$fn$;

-- Removes a role's mapping to one tenant (or, with tenant_id NULL, to all); returns the number removed. The
-- tenant is compared in the column type's canonical form, so unmapping '42' removes a mapping stored as '042'.
CREATE FUNCTION clip_unmap_tenant_role(role_name name, tenant_id text DEFAULT NULL, scene_table regclass DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
AS $fn$
#variable_conflict use_column
DECLARE
    v_cfg    clip_scene_tables := clip_scene_table_config(clip_unmap_tenant_role.scene_table);
    v_stored text[];
    v_canon  text[];
    v_target text;
    v_match  text[] := '{}';
    v_n      integer;
BEGIN
    IF NOT pg_catalog.has_table_privilege('clip_tenant_roles', 'DELETE') THEN
        RAISE EXCEPTION 'permission denied for table clip_tenant_roles'
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Tenant mappings are administered by a superuser or a role granted INSERT, UPDATE, DELETE on clip_tenant_roles.';
    END IF;
    IF clip_unmap_tenant_role.tenant_id IS NOT NULL THEN
        SELECT coalesce(array_agg(t.tenant_id ORDER BY t.tenant_id), '{}') INTO v_stored FROM clip_tenant_roles t
         WHERE t.scene_table = v_cfg.scene_table AND t.role_name = clip_unmap_tenant_role.role_name;
        v_target := (clip_tenant_canonical(v_cfg.scene_table, v_cfg.tenant_column,
                                           ARRAY[clip_unmap_tenant_role.tenant_id], false))[1];
        v_canon := clip_tenant_canonical(v_cfg.scene_table, v_cfg.tenant_column, v_stored, false);
        FOR v_n IN 1 .. coalesce(cardinality(v_stored), 0) LOOP
            IF v_stored[v_n] = clip_unmap_tenant_role.tenant_id OR v_canon[v_n] = v_target THEN
                v_match := v_match || v_stored[v_n];
            END IF;
        END LOOP;
    END IF;
    DELETE FROM clip_tenant_roles t
     WHERE t.scene_table = v_cfg.scene_table AND t.role_name = clip_unmap_tenant_role.role_name
       AND (clip_unmap_tenant_role.tenant_id IS NULL OR t.tenant_id = ANY (v_match));
    GET DIAGNOSTICS v_n = ROW_COUNT;
    RETURN v_n;
END
$fn$;

-- Turns on the tenant policy of an adopted scene table: ENABLE ROW LEVEL SECURITY, the policy
-- `clip_tenant_isolation` (FOR ALL: reads, and writes' new rows, limited to the tenants mapped to the
-- current role), and FORCE ROW LEVEL SECURITY when `force` (the default): then even the table's owner is
-- filtered, so an application that connects as the owner is isolated too; it needs a mapping of its own or
-- a BYPASSRLS role for cross-tenant jobs (superusers and BYPASSRLS roles always bypass RLS). pg_clip's own
-- backfill and status run as the owner and are exempt (clip_tenant_rls_exempt). Idempotent. Other permissive
-- policies on the table would widen access (policies are OR-ed); a WARNING lists them. Runs as the owner.
CREATE FUNCTION clip_enable_tenant_rls(scene_table regclass DEFAULT NULL, tenant_column name DEFAULT NULL,
                                       force boolean DEFAULT true)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
AS $fn$
#variable_conflict use_column
DECLARE
    v_cfg clip_scene_tables := clip_scene_table_config(clip_enable_tenant_rls.scene_table);
BEGIN
    PERFORM clip_check_table(v_cfg.scene_table, 'protected by row-level security');
    PERFORM clip_assert_may_act_as_owner(v_cfg.scene_table, 'enable row-level security on it');
    PERFORM clip_as_table_owner((v_cfg.scene_table)::oid,
                                ('clip_enable_tenant_rls_as_owner(regclass,jsonb)'::regprocedure)::oid,
                                jsonb_build_object('tenant_column', coalesce(clip_enable_tenant_rls.tenant_column, v_cfg.tenant_column),
                                                   'force', coalesce(clip_enable_tenant_rls.force, true)));
END
$fn$;

CREATE FUNCTION clip_enable_tenant_rls_as_owner(tbl regclass, args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
AS $fn$
DECLARE
    v_tenant name := args->>'tenant_column';
    v_type   text;
    v_expr   text;
    v_others text;
BEGIN
    PERFORM clip_check_table(tbl, 'protected by row-level security');
    SELECT pg_catalog.format_type(a.atttypid, a.atttypmod) INTO v_type FROM pg_catalog.pg_attribute a
     WHERE a.attrelid = tbl AND a.attname = v_tenant AND a.attnum > 0 AND NOT a.attisdropped;
    IF v_type IS NULL THEN
        RAISE EXCEPTION 'column "%" of relation % does not exist', v_tenant, tbl
            USING ERRCODE = 'undefined_column';
    END IF;
    -- ARRAY(subquery) is an InitPlan: the role's tenants are looked up once per query, and `col = ANY(...)`
    -- can use the tenant b-tree. The exemption is an InitPlan too (one call per query).
    v_expr := format('%I = ANY (ARRAY(SELECT ct.tenant_id::%s FROM clip_current_tenants ct WHERE ct.scene_table = %L::regclass))'
                     ' OR (SELECT clip_tenant_rls_exempt(%L::regclass))',
                     v_tenant, v_type, (tbl)::oid, (tbl)::oid);
    IF clip_citus_is_distributed(tbl) THEN
        -- Citus refuses subqueries in a distributed table's policies: function calls instead, evaluated on
        -- each node (per row where no index condition takes the tenant array; docs/scale-out.md).
        v_expr := format('%I = ANY (clip_current_tenant_ids(%L::regclass)::%s[]) OR clip_tenant_rls_exempt_distributed(%L::regclass)',
                         v_tenant, (tbl)::oid, v_type, (tbl)::oid);
    END IF;
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_policy p WHERE p.polrelid = tbl AND p.polname = 'clip_tenant_isolation') THEN
        EXECUTE format('DROP POLICY clip_tenant_isolation ON %s', tbl);
    END IF;
    EXECUTE format('CREATE POLICY clip_tenant_isolation ON %s AS PERMISSIVE FOR ALL TO PUBLIC USING (%s) WITH CHECK (%s)',
                   tbl, v_expr, v_expr);
    EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', tbl);
    EXECUTE format('ALTER TABLE %s %s ROW LEVEL SECURITY', tbl, CASE WHEN (args->>'force')::boolean THEN 'FORCE' ELSE 'NO FORCE' END);
    SELECT string_agg(p.polname::text, ', ') INTO v_others FROM pg_catalog.pg_policy p
     WHERE p.polrelid = tbl AND p.polpermissive AND p.polname <> 'clip_tenant_isolation';
    IF v_others IS NOT NULL THEN
        RAISE WARNING 'table % has other permissive policies (%), which widen what clip_tenant_isolation allows',
            tbl, v_others;
    END IF;
    RETURN jsonb_build_object('table', tbl::text, 'tenant_column', v_tenant, 'force', (args->>'force')::boolean);
END
$fn$;

-- Drops the tenant policy and disables row-level security on the table. Runs as the owner.
CREATE FUNCTION clip_disable_tenant_rls(scene_table regclass DEFAULT NULL) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
AS $fn$
DECLARE
    v_cfg clip_scene_tables := clip_scene_table_config(clip_disable_tenant_rls.scene_table);
BEGIN
    PERFORM clip_check_table(v_cfg.scene_table, 'changed by pg_clip');
    PERFORM clip_assert_may_act_as_owner(v_cfg.scene_table, 'disable row-level security on it');
    PERFORM clip_as_table_owner((v_cfg.scene_table)::oid,
                                ('clip_disable_tenant_rls_as_owner(regclass,jsonb)'::regprocedure)::oid, '{}'::jsonb);
END
$fn$;

CREATE FUNCTION clip_disable_tenant_rls_as_owner(tbl regclass, args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
AS $fn$
BEGIN
    EXECUTE format('DROP POLICY IF EXISTS clip_tenant_isolation ON %s', tbl);
    EXECUTE format('ALTER TABLE %s NO FORCE ROW LEVEL SECURITY', tbl);
    EXECUTE format('ALTER TABLE %s DISABLE ROW LEVEL SECURITY', tbl);
    RETURN jsonb_build_object('table', tbl::text);
END
$fn$;

-- The *_as_owner functions run only through clip_as_table_owner (which calls them through fmgr, without an
-- EXECUTE check, as the table's owner); nobody calls them directly.
REVOKE ALL ON FUNCTION clip_adopt_scene_table_as_owner(regclass, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION clip_tenant_canonical_as_owner(regclass, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION clip_enable_tenant_rls_as_owner(regclass, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION clip_disable_tenant_rls_as_owner(regclass, jsonb) FROM PUBLIC;

COMMENT ON FUNCTION clip_owns_table(regclass) IS
    'True when the current role has the privileges of the table''s owner (superusers always do).';
COMMENT ON TABLE clip_scene_tables IS
    'pg_clip: the one registry of user tables, one row per (table, embedding column) with its column mapping; adopted_at NULL: registered for backfill only (clip_register_source), otherwise adopted for search (clip_adopt_scene_table, at most one row per table). Row-level security: a role sees the rows of tables it owns and the adopted rows of tables it can read, and writes only rows of tables it owns.';
COMMENT ON INDEX clip_scene_tables_adopted_key IS 'pg_clip: at most one adopted row (the search mapping) per table.';
COMMENT ON TABLE clip_tenant_roles IS
    'pg_clip: which role may see which tenant of which scene table (tenant ids in the column type''s canonical form). Administered by a superuser or roles granted DML on it.';
COMMENT ON VIEW clip_current_tenants IS
    'pg_clip: the rows of clip_tenant_roles that apply to the current role (its own and those of roles it is a member of); read by the tenant policy.';
COMMENT ON FUNCTION clip_tenant_rls_exempt(regclass) IS
    'Part of the clip_tenant_isolation policy: true only inside pg_clip''s own maintenance of this table running as its owner (backfill, status).';
COMMENT ON FUNCTION clip_current_tenant_ids(regclass) IS
    'Part of the clip_tenant_isolation policy of a Citus distributed table: the tenant ids mapped to the current role on this node.';
COMMENT ON FUNCTION clip_tenant_rls_exempt_distributed(regclass) IS
    'Part of the clip_tenant_isolation policy of a Citus distributed table: clip_tenant_rls_exempt, also true inside pg_clip''s maintenance of one of its shards.';
COMMENT ON FUNCTION clip_check_table(regclass, text) IS
    'Raises unless the relation is a permanent ordinary table outside partitioning and inheritance (42P01, 42809, 0A000).';
COMMENT ON FUNCTION clip_registry_orphan(regclass) IS
    'True when a registry row''s table was dropped or is a temporary table; anyone may remove such a row.';
COMMENT ON FUNCTION clip_scene_table_visible(regclass, boolean) IS
    'Row-level security of clip_scene_tables: the table is owned by the current role, or gone, or the row is adopted and the table readable.';
COMMENT ON FUNCTION clip_column_type(regclass, name) IS 'Internal: format_type of a column (NULL when it does not exist), for casts in generated statements.';
COMMENT ON FUNCTION clip_source_kind(regclass, name) IS
    'Internal: the backfill source kind a column''s type allows (bytea, url for text/varchar, frames for bytea[], through domains), or NULL.';
COMMENT ON FUNCTION clip_check_columns(regclass, text, name, name, name, name, name, name, name, name, name, name, text) IS
    'The one validation of a table and its column mapping (adoption, registration, backfill, status), from the catalogs: table kind, columns, exact types (vector(512), jsonb), unique NOT NULL key, source kind. Returns the key column and source kind, defaulted.';
COMMENT ON FUNCTION clip_scene_table_config(regclass) IS
    'The adopted clip_scene_tables row of a table; NULL: the only adopted table the current role can see (22023 if several, 42P01 if none).';
COMMENT ON FUNCTION clip_assert_index_name_free(name, name) IS
    'Internal: raises 42P07 when adoption''s index name is taken by another relation.';
COMMENT ON FUNCTION clip_assert_may_act_as_owner(regclass, text) IS
    'Internal: raises 42501 unless the current role is a superuser or has the privileges of the table''s owner.';
COMMENT ON FUNCTION clip_adopt_scene_table(regclass, name, name, name, name, name, name, name, boolean) IS
    'Adopts a scene table (its key must be unique and NOT NULL): adds embedding_visual_clip vector(512) and visual_clip_metadata jsonb (no rewrite), creates the HNSW/GIN/tenant indexes unless present, records the column mapping in clip_scene_tables. Runs as the table''s owner; returns a jsonb report.';
COMMENT ON FUNCTION clip_adopt_scene_table_as_owner(regclass, jsonb) IS
    'Internal: the work of clip_adopt_scene_table, run by clip_as_table_owner as the table''s owner.';
COMMENT ON FUNCTION clip_tenant_cast(oid, integer, text[], boolean) IS
    'Internal: the canonical text of each value as the given type ((v::type)::text); NULL for an invalid value unless strict.';
COMMENT ON FUNCTION clip_tenant_canonical_as_owner(regclass, jsonb) IS
    'Internal: clip_tenant_cast through a user-defined tenant column type, run by clip_as_table_owner as the table''s owner.';
COMMENT ON FUNCTION clip_tenant_canonical(regclass, name, text[], boolean) IS
    'Internal: canonical tenant ids of a table''s tenant column; built-in types are cast as the caller, user-defined ones as the table''s owner.';
COMMENT ON FUNCTION clip_map_tenant_role(name, text, regclass) IS
    'Maps a role to a tenant of a scene table (the tenant id is validated and stored in canonical form); true when the mapping is new. Needs INSERT on clip_tenant_roles.';
COMMENT ON FUNCTION clip_unmap_tenant_role(name, text, regclass) IS
    'Removes a role''s mapping to a tenant (compared in canonical form), or with tenant_id NULL all its mappings of the table; returns the number removed.';
COMMENT ON FUNCTION clip_enable_tenant_rls(regclass, name, boolean) IS
    'Enables row-level security on an adopted table with the policy clip_tenant_isolation (and FORCE unless force => false). Runs as the table''s owner.';
COMMENT ON FUNCTION clip_enable_tenant_rls_as_owner(regclass, jsonb) IS
    'Internal: the work of clip_enable_tenant_rls, run by clip_as_table_owner as the table''s owner.';
COMMENT ON FUNCTION clip_disable_tenant_rls(regclass) IS
    'Drops clip_tenant_isolation and disables row-level security on an adopted table. Runs as the table''s owner.';
COMMENT ON FUNCTION clip_disable_tenant_rls_as_owner(regclass, jsonb) IS
    'Internal: the work of clip_disable_tenant_rls, run by clip_as_table_owner as the table''s owner.';
