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
--   clip_scene_tables                     registry: one row per adopted table, with its column mapping (RLS)
--   clip_scene_table_config(regclass)     the registry row of a table (NULL = the only adopted table you can read)
--   clip_adopt_scene_table(...)           adds the columns (no rewrite), creates the indexes, registers
--   clip_tenant_roles                     which role may see which tenant of which table (admin-only)
--   clip_current_tenants                  view: the mappings that apply to the current role
--   clip_map_tenant_role(...)/clip_unmap_tenant_role(...)   manage clip_tenant_roles
--   clip_enable_tenant_rls(...)/clip_disable_tenant_rls(...) the tenant policy on the scene table
--   clip_tenant_rls_exempt(regclass)      the policy's exemption for pg_clip's own maintenance as the owner

-- @@ schema
-- ---------------------------------------------------------------------------------------------------------
-- Ownership test used by the registry's CHECK and the adoption checks. Ownership in PostgreSQL means having
-- the privileges of the owning role (membership with INHERIT), which pg_has_role(..., 'USAGE') tests.
CREATE FUNCTION clip_owns_table(tbl regclass) RETURNS boolean
LANGUAGE sql STABLE STRICT PARALLEL SAFE SECURITY INVOKER
AS $fn$
    SELECT EXISTS (
        SELECT 1 FROM pg_catalog.pg_class c
        WHERE c.oid = tbl AND pg_catalog.pg_has_role(c.relowner, 'USAGE')
    )
$fn$;

-- ---------------------------------------------------------------------------------------------------------
-- The registry of adopted scene tables. Row-level security: a role sees the rows of tables it owns or may
-- read, and writes only rows of tables it owns (the policies in the code part); clip_adopt_scene_table
-- writes it as the table's owner.
CREATE TABLE clip_scene_tables (
    scene_table          regclass    PRIMARY KEY,
    id_column            name        NOT NULL,
    tenant_column        name        NOT NULL,
    video_column         name,
    start_column         name,
    end_column           name,
    thumbnail_url_column name,
    thumbnail_column     name,
    embedding_column     name        NOT NULL DEFAULT 'embedding_visual_clip',
    metadata_column      name        NOT NULL DEFAULT 'visual_clip_metadata',
    adopted_at           timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT clip_scene_tables_owner_check CHECK (clip_owns_table(scene_table))
);
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

-- A registry row whose table was dropped, or is a temporary table (a 0.1.0 registration): anyone may remove it.
CREATE FUNCTION clip_registry_orphan(tbl regclass) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE SECURITY INVOKER
AS $fn$
    SELECT NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid = tbl AND c.relpersistence <> 't')
$fn$;

-- Which rows of clip_scene_tables a role sees: tables it owns or can read (a tenant searching the table needs
-- its column mapping), and orphans.
CREATE FUNCTION clip_scene_table_visible(tbl regclass) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE SECURITY INVOKER
AS $fn$
    SELECT clip_owns_table(tbl)
        OR coalesce(pg_catalog.has_any_column_privilege((tbl)::oid, 'SELECT'), false)
        OR clip_registry_orphan(tbl)
$fn$;

CREATE POLICY clip_scene_tables_select ON clip_scene_tables FOR SELECT TO PUBLIC
    USING (clip_scene_table_visible(scene_table));
CREATE POLICY clip_scene_tables_insert ON clip_scene_tables FOR INSERT TO PUBLIC
    WITH CHECK (clip_owns_table(scene_table));
CREATE POLICY clip_scene_tables_update ON clip_scene_tables FOR UPDATE TO PUBLIC
    USING (clip_owns_table(scene_table)) WITH CHECK (clip_owns_table(scene_table));
CREATE POLICY clip_scene_tables_delete ON clip_scene_tables FOR DELETE TO PUBLIC
    USING (clip_owns_table(scene_table) OR clip_registry_orphan(scene_table));

-- The registry row for a table; NULL means "the only adopted table of this database that you can see".
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
         WHERE NOT clip_registry_orphan(r.scene_table);
        IF v_n = 0 THEN
            RAISE EXCEPTION 'no scene table has been adopted in this database'
                USING ERRCODE = 'undefined_table',
                      HINT = 'Run SELECT clip_adopt_scene_table(''video_scenes''); first.';
        ELSIF v_n > 1 THEN
            RAISE EXCEPTION 'more than one scene table has been adopted (%)', v_all
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Pass scene_table => ''...'' to choose one.';
        END IF;
        SELECT r.* INTO v_cfg FROM clip_scene_tables r WHERE NOT clip_registry_orphan(r.scene_table);
    ELSE
        SELECT r.* INTO v_cfg FROM clip_scene_tables r WHERE r.scene_table = v_tbl AND NOT clip_registry_orphan(r.scene_table);
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
-- valid ones exist, and records the column mapping. Idempotent: a re-run adds nothing, builds nothing and
-- takes no ACCESS EXCLUSIVE lock. Returns a jsonb report of what it did. Runs as the table's owner.
--
-- The indexes are built with plain CREATE INDEX (a function runs in a transaction, so not CONCURRENTLY),
-- which blocks writes to the table for the build. On a big live table, build them by hand first with
-- CREATE INDEX CONCURRENTLY (docs/search.md) and then run this: it finds and reuses them.
CREATE FUNCTION clip_adopt_scene_table(
    -- The default is cast when the function is called, so `video_scenes` is looked up in the CALLER's
    -- search_path (the function's own search_path is pinned).
    scene_table          regclass DEFAULT 'video_scenes'::text::regclass,
    tenant_column        name     DEFAULT 'user_id',
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
    v_ok       boolean;
BEGIN
    PERFORM clip_check_table(v_tbl, 'adopted');
    SELECT c.relname, n.nspname INTO v_relname, v_nsp
      FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     WHERE c.oid = v_tbl;

    -- The mandatory columns: tenant and id.
    IF v_tenant IS NULL THEN
        RAISE EXCEPTION 'tenant_column must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM 1 FROM pg_catalog.pg_attribute a
     WHERE a.attrelid = v_tbl AND a.attname = v_tenant AND a.attnum > 0 AND NOT a.attisdropped;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'column "%" of relation % does not exist', v_tenant, v_tbl
            USING ERRCODE = 'undefined_column', HINT = 'Pass the tenant column: tenant_column => ''...''.';
    END IF;
    IF v_id IS NULL THEN
        SELECT a.attname INTO v_id
          FROM pg_catalog.pg_index i
          JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
         WHERE i.indrelid = v_tbl AND i.indisprimary AND i.indnkeyatts = 1;
        IF v_id IS NULL THEN
            RAISE EXCEPTION 'table % has no single-column primary key', v_tbl
                USING ERRCODE = 'invalid_column_reference', HINT = 'Pass the scene id column: id_column => ''...''.';
        END IF;
    ELSE
        PERFORM 1 FROM pg_catalog.pg_attribute a
         WHERE a.attrelid = v_tbl AND a.attname = v_id AND a.attnum > 0 AND NOT a.attisdropped;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'column "%" of relation % does not exist', v_id, v_tbl USING ERRCODE = 'undefined_column';
        END IF;
    END IF;

    -- Optional columns named explicitly (or by a default name) must exist; auto-detected ones may be absent.
    FOREACH v_col IN ARRAY ARRAY[v_video, v_start, v_end, v_turl, v_thumb] LOOP
        CONTINUE WHEN v_col IS NULL;
        PERFORM 1 FROM pg_catalog.pg_attribute a
         WHERE a.attrelid = v_tbl AND a.attname = v_col AND a.attnum > 0 AND NOT a.attisdropped;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'column "%" of relation % does not exist', v_col, v_tbl
                USING ERRCODE = 'undefined_column', HINT = 'Pass NULL for a column the table does not have.';
        END IF;
    END LOOP;
    IF v_turl IS NULL THEN
        SELECT a.attname INTO v_turl FROM pg_catalog.pg_attribute a
         WHERE a.attrelid = v_tbl AND a.attname = 'thumbnail_url' AND a.attnum > 0 AND NOT a.attisdropped;
    END IF;
    IF v_thumb IS NULL THEN
        SELECT a.attname INTO v_thumb FROM pg_catalog.pg_attribute a
         WHERE a.attrelid = v_tbl AND a.attname = 'thumbnail' AND a.attnum > 0 AND NOT a.attisdropped
           AND a.atttypid = 'bytea'::regtype;
    END IF;
    IF v_thumb IS NOT NULL THEN
        SELECT pg_catalog.format_type(a.atttypid, a.atttypmod) INTO v_type FROM pg_catalog.pg_attribute a
         WHERE a.attrelid = v_tbl AND a.attname = v_thumb AND a.attnum > 0 AND NOT a.attisdropped;
        IF v_type <> 'bytea' THEN
            RAISE EXCEPTION 'column "%" of relation % is of type %, expected bytea', v_thumb, v_tbl, v_type
                USING ERRCODE = 'datatype_mismatch';
        END IF;
    END IF;
    FOREACH v_col IN ARRAY ARRAY[v_start, v_end] LOOP
        CONTINUE WHEN v_col IS NULL;
        -- Seconds: a numeric type (or a domain over one), returned as double precision.
        SELECT pg_catalog.format_type(a.atttypid, a.atttypmod),
               (SELECT b.typcategory = 'N' FROM pg_catalog.pg_type b
                 WHERE b.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END)
          INTO v_type, v_ok
          FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
         WHERE a.attrelid = v_tbl AND a.attname = v_col AND a.attnum > 0 AND NOT a.attisdropped;
        IF NOT v_ok THEN
            RAISE EXCEPTION 'column "%" of relation % is of type %, expected a number of seconds', v_col, v_tbl, v_type
                USING ERRCODE = 'datatype_mismatch';
        END IF;
    END LOOP;

    -- The two new columns: if they exist they must have exactly the right type; if not, add them.
    v_type := NULL;
    SELECT pg_catalog.format_type(a.atttypid, a.atttypmod),
           a.atttypid = 'vector'::regtype AND a.atttypmod = 512
      INTO v_type, v_ok FROM pg_catalog.pg_attribute a
     WHERE a.attrelid = v_tbl AND a.attname = c_emb AND a.attnum > 0 AND NOT a.attisdropped;
    IF v_type IS NULL THEN
        -- STORAGE PLAIN: a 512-d vector (2,056 bytes) is just over the TOAST threshold, so by default it would
        -- live out of line; inline, exact scans and the heap checks of filtered index scans avoid a TOAST
        -- fetch per row, and the planner's costs (which ignore TOAST) match reality. Applies to rows written
        -- from now on; it does not rewrite anything.
        v_add := v_add || format('ADD COLUMN IF NOT EXISTS %I vector(512)', c_emb)
                       || format('ALTER COLUMN %I SET STORAGE PLAIN', c_emb);
        v_added := v_added || c_emb::text;
    ELSIF NOT v_ok THEN
        RAISE EXCEPTION 'column "%" of relation % is of type %, expected vector(512)', c_emb, v_tbl, v_type
            USING ERRCODE = 'datatype_mismatch';
    END IF;
    v_type := NULL;
    SELECT pg_catalog.format_type(a.atttypid, a.atttypmod), a.atttypid = 'jsonb'::regtype
      INTO v_type, v_ok FROM pg_catalog.pg_attribute a
     WHERE a.attrelid = v_tbl AND a.attname = c_meta AND a.attnum > 0 AND NOT a.attisdropped;
    IF v_type IS NULL THEN
        v_add := v_add || format('ADD COLUMN IF NOT EXISTS %I jsonb', c_meta);
        v_added := v_added || c_meta::text;
    ELSIF NOT v_ok THEN
        RAISE EXCEPTION 'column "%" of relation % is of type %, expected jsonb', c_meta, v_tbl, v_type
            USING ERRCODE = 'datatype_mismatch';
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
           (scene_table, id_column, tenant_column, video_column, start_column, end_column,
            thumbnail_url_column, thumbnail_column)
    VALUES (v_tbl, v_id, v_tenant, v_video, v_start, v_end, v_turl, v_thumb)
    ON CONFLICT ON CONSTRAINT clip_scene_tables_pkey DO UPDATE
       SET id_column = EXCLUDED.id_column, tenant_column = EXCLUDED.tenant_column,
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
    'pg_clip: one row per adopted scene table and its column mapping. Row-level security: a role sees the rows of tables it owns or can read; rows are written by clip_adopt_scene_table as the table''s owner.';
COMMENT ON TABLE clip_tenant_roles IS
    'pg_clip: which role may see which tenant of which scene table (tenant ids in the column type''s canonical form). Administered by a superuser or roles granted DML on it.';
COMMENT ON VIEW clip_current_tenants IS
    'pg_clip: the rows of clip_tenant_roles that apply to the current role (its own and those of roles it is a member of); read by the tenant policy.';
COMMENT ON FUNCTION clip_tenant_rls_exempt(regclass) IS
    'Part of the clip_tenant_isolation policy: true only inside pg_clip''s own maintenance of this table running as its owner (backfill, status).';
COMMENT ON FUNCTION clip_check_table(regclass, text) IS
    'Raises unless the relation is a permanent ordinary table outside partitioning and inheritance (42P01, 42809, 0A000).';
COMMENT ON FUNCTION clip_registry_orphan(regclass) IS
    'True when a registry row''s table was dropped or is a temporary table; anyone may remove such a row.';
COMMENT ON FUNCTION clip_scene_table_visible(regclass) IS
    'Row-level security of clip_scene_tables: the table is owned or readable by the current role, or gone.';
COMMENT ON FUNCTION clip_scene_table_config(regclass) IS
    'The clip_scene_tables row of an adopted table; NULL: the only adopted table the current role can see (22023 if several, 42P01 if none).';
COMMENT ON FUNCTION clip_assert_index_name_free(name, name) IS
    'Internal: raises 42P07 when adoption''s index name is taken by another relation.';
COMMENT ON FUNCTION clip_assert_may_act_as_owner(regclass, text) IS
    'Internal: raises 42501 unless the current role is a superuser or has the privileges of the table''s owner.';
COMMENT ON FUNCTION clip_adopt_scene_table(regclass, name, name, name, name, name, name, name, boolean) IS
    'Adopts a scene table: adds embedding_visual_clip vector(512) and visual_clip_metadata jsonb (no rewrite), creates the HNSW/GIN/tenant indexes unless present, records the column mapping. Runs as the table''s owner; returns a jsonb report.';
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
