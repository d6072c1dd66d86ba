-- pg_clip: the scene schema — adopting an application's scene table (`video_scenes`), its indexes, and
-- tenant isolation with Row-Level Security.
--
-- Included into the extension's install script (pgrx `extension_sql_file!`) after the Rust-generated
-- functions and BEFORE sql/search.sql. Runs inside CREATE EXTENSION pg_clip: no CREATE EXTENSION, no psql
-- meta-commands, and nothing here may reference the application table, which need not exist yet — every
-- function takes the table as a `regclass` and builds its statements with format() / EXECUTE at call time.
--
-- Every function is SECURITY INVOKER: it acts with the caller's privileges (ALTER TABLE needs ownership,
-- searches see only the rows the caller's RLS policies let through). Their search_path is pinned at the end
-- of the file to the schemas of pg_clip and pgvector, so they work whatever the caller's search_path is.
--
-- Objects (all in the extension's schema):
--   clip_owns_table(regclass)             true when the current role has the privileges of the table's owner
--   clip_scene_tables                     registry: one row per adopted table, with its column mapping
--   clip_scene_table_config(regclass)     the registry row of a table (NULL = the only adopted table)
--   clip_adopt_scene_table(...)           adds the columns (no rewrite), creates the indexes, registers
--   clip_tenant_roles                     which role may see which tenant of which table (admin-only)
--   clip_current_tenants                  view: the mappings that apply to the current role
--   clip_map_tenant_role(...)/clip_unmap_tenant_role(...)   manage clip_tenant_roles
--   clip_enable_tenant_rls(...)/clip_disable_tenant_rls(...) the tenant policy on the scene table

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
-- The registry of adopted scene tables. Readable by everyone (it holds column names only); a row can be
-- written by the owner of the table it describes (the CHECK), which is who runs clip_adopt_scene_table.
-- No DELETE for PUBLIC: a stale row (dropped table) is harmless and replaced by a new adoption.
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
GRANT SELECT, INSERT ON clip_scene_tables TO PUBLIC;
GRANT UPDATE (id_column, tenant_column, video_column, start_column, end_column, thumbnail_url_column,
              thumbnail_column, adopted_at) ON clip_scene_tables TO PUBLIC;

-- The registry row for a table; NULL means "the only adopted table of this database".
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
        SELECT count(*), string_agg(r.scene_table::text, ', ' ORDER BY r.scene_table::text)
          INTO v_n, v_all
          FROM clip_scene_tables r
         WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid = r.scene_table);
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
         WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid = r.scene_table);
    ELSE
        SELECT r.* INTO v_cfg FROM clip_scene_tables r WHERE r.scene_table = v_tbl;
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

-- ---------------------------------------------------------------------------------------------------------
-- Adoption: adds `embedding_visual_clip vector(512)` and `visual_clip_metadata jsonb` (nullable, no default:
-- a catalog-only change, the table is not rewritten), creates the indexes the search needs unless equivalent
-- valid ones exist, and records the column mapping. Idempotent: a re-run adds nothing, builds nothing and
-- takes no ACCESS EXCLUSIVE lock. Returns a jsonb report of what it did.
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
#variable_conflict use_column
DECLARE
    c_emb      CONSTANT name := 'embedding_visual_clip';
    c_meta     CONSTANT name := 'visual_clip_metadata';
    v_tbl      regclass := clip_adopt_scene_table.scene_table;
    v_tenant   name := clip_adopt_scene_table.tenant_column;
    v_id       name := clip_adopt_scene_table.id_column;
    v_video    name := clip_adopt_scene_table.video_column;
    v_start    name := clip_adopt_scene_table.start_column;
    v_end      name := clip_adopt_scene_table.end_column;
    v_turl     name := clip_adopt_scene_table.thumbnail_url_column;
    v_thumb    name := clip_adopt_scene_table.thumbnail_column;
    v_relkind  "char";
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
    -- The table.
    IF v_tbl IS NULL THEN
        RAISE EXCEPTION 'scene_table must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT c.relkind, c.relname, n.nspname INTO v_relkind, v_relname, v_nsp
      FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     WHERE c.oid = v_tbl;
    IF v_relkind IS NULL THEN
        RAISE EXCEPTION 'relation with OID % does not exist', v_tbl::oid USING ERRCODE = 'undefined_table';
    END IF;
    IF v_relkind NOT IN ('r', 'p') THEN
        RAISE EXCEPTION '"%" is not a table', v_tbl
            USING ERRCODE = 'wrong_object_type', DETAIL = 'Only ordinary and partitioned tables can be adopted.';
    END IF;
    IF NOT clip_owns_table(v_tbl) THEN
        RAISE EXCEPTION 'must be owner of table %', v_tbl
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Run clip_adopt_scene_table as the role that owns the table (or a member of it).';
    END IF;

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

    -- The two new columns: if they exist they must have the right type; if not, add them.
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
    SELECT pg_catalog.format_type(a.atttypid, a.atttypmod) INTO v_type FROM pg_catalog.pg_attribute a
     WHERE a.attrelid = v_tbl AND a.attname = c_meta AND a.attnum > 0 AND NOT a.attisdropped;
    IF v_type IS NULL THEN
        v_add := v_add || format('ADD COLUMN IF NOT EXISTS %I jsonb', c_meta);
        v_added := v_added || c_meta::text;
    ELSIF v_type <> 'jsonb' THEN
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

    IF create_indexes THEN
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
-- Tenant isolation.
--
-- A login role is mapped to the tenant(s) it may see in clip_tenant_roles. The mapping is not writable by
-- PUBLIC (a role that could write it could give itself any tenant): the superuser, or a role granted
-- INSERT/UPDATE/DELETE on it, administers it. A role sees the mappings of every role it is a member of
-- (so a group role `tenant_acme` can carry the mapping for many login roles), through the view
-- clip_current_tenants, which is what the RLS policy reads. A session setting (e.g. app.user_id) is NOT
-- used: any role can SET it.
CREATE TABLE clip_tenant_roles (
    scene_table regclass NOT NULL,
    role_name   name     NOT NULL,
    tenant_id   text     NOT NULL,
    PRIMARY KEY (scene_table, role_name, tenant_id)
);
SELECT pg_catalog.pg_extension_config_dump('clip_tenant_roles', '');
REVOKE ALL ON clip_tenant_roles FROM PUBLIC;

CREATE VIEW clip_current_tenants WITH (security_barrier) AS
    SELECT t.scene_table, t.tenant_id, t.role_name
      FROM clip_tenant_roles t
     WHERE t.role_name IN (SELECT r.rolname FROM pg_catalog.pg_roles r
                            WHERE pg_catalog.pg_has_role(r.oid, 'MEMBER'));
GRANT SELECT ON clip_current_tenants TO PUBLIC;

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
    v_type text;
BEGIN
    IF v_role IS NULL OR v_ten IS NULL THEN
        RAISE EXCEPTION 'role_name and tenant_id must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = v_role) THEN
        RAISE EXCEPTION 'role "%" does not exist', v_role USING ERRCODE = 'undefined_object';
    END IF;
    SELECT pg_catalog.format_type(a.atttypid, a.atttypmod) INTO v_type FROM pg_catalog.pg_attribute a
     WHERE a.attrelid = v_cfg.scene_table AND a.attname = v_cfg.tenant_column AND NOT a.attisdropped;
    EXECUTE format('SELECT $1::%s', v_type) USING v_ten;   -- fails (e.g. 22P02) if not a valid tenant id
    INSERT INTO clip_tenant_roles (scene_table, role_name, tenant_id)
    VALUES (v_cfg.scene_table, v_role, v_ten)
    ON CONFLICT DO NOTHING;
    RETURN FOUND;
END
$fn$;

-- Removes a role's mapping to one tenant (or, with tenant_id NULL, to all); returns the number removed.
CREATE FUNCTION clip_unmap_tenant_role(role_name name, tenant_id text DEFAULT NULL, scene_table regclass DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
AS $fn$
#variable_conflict use_column
DECLARE
    v_cfg  clip_scene_tables := clip_scene_table_config(clip_unmap_tenant_role.scene_table);
    v_n    integer;
BEGIN
    DELETE FROM clip_tenant_roles t
     WHERE t.scene_table = v_cfg.scene_table AND t.role_name = clip_unmap_tenant_role.role_name
       AND (clip_unmap_tenant_role.tenant_id IS NULL OR t.tenant_id = clip_unmap_tenant_role.tenant_id);
    GET DIAGNOSTICS v_n = ROW_COUNT;
    RETURN v_n;
END
$fn$;

-- Turns on the tenant policy of an adopted scene table: ENABLE ROW LEVEL SECURITY, the policy
-- `clip_tenant_isolation` (FOR ALL: reads, and writes' new rows, limited to the tenants mapped to the
-- current role), and FORCE ROW LEVEL SECURITY when `force` (the default): then even the table's owner is
-- filtered, so an application that connects as the owner is isolated too; it needs a mapping of its own or
-- a BYPASSRLS role for cross-tenant jobs (superusers and BYPASSRLS roles always bypass RLS). Idempotent.
-- Other permissive policies on the table would widen access (policies are OR-ed); a WARNING lists them.
CREATE FUNCTION clip_enable_tenant_rls(scene_table regclass DEFAULT NULL, tenant_column name DEFAULT NULL,
                                       force boolean DEFAULT true)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
AS $fn$
#variable_conflict use_column
DECLARE
    v_cfg    clip_scene_tables := clip_scene_table_config(clip_enable_tenant_rls.scene_table);
    v_tenant name := coalesce(clip_enable_tenant_rls.tenant_column, v_cfg.tenant_column);
    v_type   text;
    v_expr   text;
    v_others text;
BEGIN
    IF NOT clip_owns_table(v_cfg.scene_table) THEN
        RAISE EXCEPTION 'must be owner of table %', v_cfg.scene_table USING ERRCODE = 'insufficient_privilege';
    END IF;
    SELECT pg_catalog.format_type(a.atttypid, a.atttypmod) INTO v_type FROM pg_catalog.pg_attribute a
     WHERE a.attrelid = v_cfg.scene_table AND a.attname = v_tenant AND a.attnum > 0 AND NOT a.attisdropped;
    IF v_type IS NULL THEN
        RAISE EXCEPTION 'column "%" of relation % does not exist', v_tenant, v_cfg.scene_table
            USING ERRCODE = 'undefined_column';
    END IF;
    -- ARRAY(subquery) is an InitPlan: the role's tenants are looked up once per query, and `col = ANY(...)`
    -- can use the tenant b-tree.
    v_expr := format('%I = ANY (ARRAY(SELECT ct.tenant_id::%s FROM clip_current_tenants ct WHERE ct.scene_table = %L::regclass))',
                     v_tenant, v_type, v_cfg.scene_table::oid);
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_policy p
                WHERE p.polrelid = v_cfg.scene_table AND p.polname = 'clip_tenant_isolation') THEN
        EXECUTE format('DROP POLICY clip_tenant_isolation ON %s', v_cfg.scene_table);
    END IF;
    EXECUTE format('CREATE POLICY clip_tenant_isolation ON %s AS PERMISSIVE FOR ALL TO PUBLIC USING (%s) WITH CHECK (%s)',
                   v_cfg.scene_table, v_expr, v_expr);
    EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', v_cfg.scene_table);
    EXECUTE format('ALTER TABLE %s %s ROW LEVEL SECURITY', v_cfg.scene_table, CASE WHEN force THEN 'FORCE' ELSE 'NO FORCE' END);
    SELECT string_agg(p.polname::text, ', ') INTO v_others FROM pg_catalog.pg_policy p
     WHERE p.polrelid = v_cfg.scene_table AND p.polpermissive AND p.polname <> 'clip_tenant_isolation';
    IF v_others IS NOT NULL THEN
        RAISE WARNING 'table % has other permissive policies (%), which widen what clip_tenant_isolation allows',
            v_cfg.scene_table, v_others;
    END IF;
END
$fn$;

-- Drops the tenant policy and disables row-level security on the table.
CREATE FUNCTION clip_disable_tenant_rls(scene_table regclass DEFAULT NULL) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
AS $fn$
DECLARE
    v_cfg clip_scene_tables := clip_scene_table_config(clip_disable_tenant_rls.scene_table);
BEGIN
    EXECUTE format('DROP POLICY IF EXISTS clip_tenant_isolation ON %s', v_cfg.scene_table);
    EXECUTE format('ALTER TABLE %s NO FORCE ROW LEVEL SECURITY', v_cfg.scene_table);
    EXECUTE format('ALTER TABLE %s DISABLE ROW LEVEL SECURITY', v_cfg.scene_table);
END
$fn$;
