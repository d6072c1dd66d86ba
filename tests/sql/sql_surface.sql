-- pg_clip's SQL surface (pg_regress; expected output in tests/expected/sql_surface.out): properties,
-- privileges, comments, row-level security of the registries, and the refusals with their SQLSTATEs.
\set VERBOSITY sqlstate
CREATE EXTENSION pg_clip CASCADE;
CREATE ROLE regress_clip_owner;
CREATE ROLE regress_clip_other;
GRANT CREATE ON SCHEMA public TO regress_clip_owner;

-- The extension's objects: no SECURITY DEFINER function, every object commented.
SELECT count(*) AS security_definer
  FROM pg_depend d JOIN pg_proc p ON d.classid = 'pg_proc'::regclass AND p.oid = d.objid
 WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pg_clip') AND d.deptype = 'e' AND p.prosecdef;
-- (PG17 also records the implicit row type of each table and view, and every array type, as members: they
-- are described by their relation or element type, not commented on their own.)
SELECT pg_describe_object(d.classid, d.objid, 0) AS uncommented
  FROM pg_depend d
 WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pg_clip') AND d.deptype = 'e'
   AND obj_description(d.objid, (SELECT relname FROM pg_class WHERE oid = d.classid)) IS NULL
   AND NOT (d.classid = 'pg_type'::regclass
            AND EXISTS (SELECT 1 FROM pg_type t WHERE t.oid = d.objid AND (t.typrelid <> 0 OR t.typelem <> 0)));

-- What PUBLIC may execute among the sensitive functions.
SELECT f, has_function_privilege('regress_clip_other', f, 'EXECUTE') AS executable
  FROM unnest(ARRAY['clip_fetch_url(text)', 'clip_as_table_owner(oid,oid,jsonb)',
                    'clip_backfill_source_batch_as_owner(regclass,jsonb)', 'clip_backfill_status_as_owner(regclass,jsonb)',
                    'clip_adopt_scene_table_as_owner(regclass,jsonb)', 'clip_backfill(integer,text,boolean,text,text,boolean,timestamptz)',
                    'clip_search_scenes_by_text(text,text,integer,double precision,text,regclass,boolean,integer,text)',
                    'clip_citus_shard_call(regclass,text,jsonb)', 'clip_backfill_dispatch(oid,oid,jsonb)']) f;

-- The registries: row-level security, and what PUBLIC is granted (the policies decide which rows).
SELECT c.relname, c.relrowsecurity,
       (SELECT string_agg(a.privilege_type, ',' ORDER BY a.privilege_type) FROM aclexplode(c.relacl) a WHERE a.grantee = 0) AS public_grants
  FROM pg_class c WHERE c.relname IN ('clip_scene_tables', 'clip_backfill_sources', 'clip_backfill_runs', 'clip_tenant_roles',
                                      'clip_backfill_suppressed', 'clip_backfill_source_config')
 ORDER BY 1;
SELECT tablename, policyname, cmd FROM pg_policies WHERE tablename LIKE 'clip\_%' ORDER BY 1, 2;

-- Tables pg_clip refuses.
SET ROLE regress_clip_owner;
CREATE TEMP TABLE tmp_scenes (id bigint PRIMARY KEY, user_id text, thumbnail bytea,
                              embedding_visual_clip vector(512), visual_clip_metadata jsonb);
SELECT clip_adopt_scene_table('pg_temp.tmp_scenes', video_column => NULL, start_column => NULL, end_column => NULL);
SELECT clip_register_source('tmp', 'pg_temp.tmp_scenes', NULL, 'thumbnail');
CREATE TABLE part_scenes (id bigint, user_id text) PARTITION BY LIST (user_id);
CREATE TABLE part_a PARTITION OF part_scenes FOR VALUES IN ('a');
SELECT clip_adopt_scene_table('part_scenes', id_column => 'id', video_column => NULL, start_column => NULL, end_column => NULL);
SELECT clip_adopt_scene_table('part_a', id_column => 'id', video_column => NULL, start_column => NULL, end_column => NULL);
CREATE VIEW scenes_view AS SELECT 1 AS id;
SELECT clip_adopt_scene_table('scenes_view');

-- Exact column types and a NOT NULL key.
CREATE TABLE scenes (id bigint PRIMARY KEY, user_id text NOT NULL, thumbnail bytea, nkey bigint UNIQUE,
                     embedding_visual_clip vector(512), visual_clip_metadata jsonb, emb_any vector, meta_json json);
SELECT clip_register_source('s', 'scenes', NULL, 'thumbnail', embedding_column => 'emb_any');
SELECT clip_register_source('s', 'scenes', NULL, 'thumbnail', metadata_column => 'meta_json');
SELECT clip_register_source('s', 'scenes', 'nkey', 'thumbnail');
SELECT name, source_kind, key_column, registered_by FROM clip_register_source('s', 'scenes', NULL, 'thumbnail');
SELECT clip_adopt_scene_table('scenes', video_column => NULL, start_column => NULL, end_column => NULL,
                              create_indexes => false) -> 'columns_added' AS columns_added;
-- One registry: the source's row was taken over by the adoption (one row per table and embedding column).
SELECT scene_table, key_column, tenant_column, embedding_column, adopted_at IS NOT NULL AS adopted FROM clip_scene_tables;
SELECT name, tbl, key_column, metadata_column, user_column FROM clip_backfill_source_config;
-- Adoption, like registration, needs a unique NOT NULL key.
CREATE TABLE nokey_scenes (id bigint, user_id text);
SELECT clip_adopt_scene_table('nokey_scenes', id_column => 'id', video_column => NULL, start_column => NULL, end_column => NULL);
RESET ROLE;

-- Another role: sees no registration, forges no run, runs and fetches nothing.
SET ROLE regress_clip_other;
SELECT count(*) AS sources_seen FROM clip_backfill_sources;
SELECT count(*) AS tables_seen FROM clip_scene_tables;
SELECT count(*) AS configs_seen FROM clip_backfill_source_config;
INSERT INTO clip_backfill_runs (source, started_at, finished_at, batch, processed, succeeded, failed, regenerated, ms, forced)
VALUES ('s', now(), now(), 1, 1, 1, 0, 0, 1, false);
SELECT * FROM clip_backfill(10, 's');
SELECT clip_register_source('s2', 'scenes', NULL, 'thumbnail');
SELECT clip_adopt_scene_table('scenes');
SELECT clip_fetch_url('http://127.0.0.1:9/x');
SELECT * FROM clip_fetch_url_with_validators('http://127.0.0.1:9/x');
SELECT clip_as_table_owner('scenes'::regclass, 'clip_backfill_status_as_owner(regclass,jsonb)'::regprocedure, '{}');
RESET ROLE;

-- clip_as_table_owner runs only pg_clip's own table-owner functions.
SELECT clip_as_table_owner('scenes'::regclass, 'pg_catalog.to_jsonb(anyelement)'::regprocedure, '{}');

-- The Citus shard entry point grants nothing: it refuses a table that is not a shard (without Citus, every
-- table), and a non-shard table is never dispatched to shards.
SELECT clip_citus_shard_call('scenes', 'batch', '{}');
SELECT clip_citus_shard_call('scenes', 'drop', '{}');
SELECT clip_citus_distribution_column('scenes') IS NULL AS not_distributed;

-- Clean up (roles are cluster-wide).
DROP EXTENSION pg_clip;
DROP OWNED BY regress_clip_owner, regress_clip_other;
DROP ROLE regress_clip_owner, regress_clip_other;
