"""Upgrade tests (issue 10): 0.1.0 -> 0.2.0 with real state, against a real server.

- installs the frozen 0.1.0 (sql/pg_clip--0.1.0.sql), creates real state with it: an adopted table owned by
  an ordinary role with tenant RLS (FORCE), a registered source, tenant mappings (one of them '042' of a
  bigint column), embedded and failed rows, run-log entries;
- runs ALTER EXTENSION pg_clip UPDATE;
- compares every object of the extension (functions with their bodies, settings, ACLs and comments;
  tables with columns, constraints, indexes, triggers, policies, ACLs, RLS flags; types; views; the config
  tables) with a fresh install of the new version: they must be identical;
- checks that no state was lost and that the upgraded database works (status, backfill as the owner through
  its FORCEd tenant policy, tenant isolation, canonical tenant ids);
- runs the security suite (test_security) against databases that were upgraded from 0.1.0.

PG_CLIP_UPGRADE_FROM / PG_CLIP_UPGRADE_TO name other versions (default: 0.1.0 and the control file's default).
Run: cd tests/integration && python3 -m unittest -v test_upgrade
"""

import os
import subprocess
import sys
import unittest

import pgcluster
from pgcluster import Cluster, fixture

CONF = (
    "clip.image_model = 'pg_clip/clip-tiny-image.onnx'\n"
    "clip.text_model = 'pg_clip/clip-tiny-text.onnx'\n"
)
FROM = os.environ.get("PG_CLIP_UPGRADE_FROM", "0.1.0")
TO = os.environ.get("PG_CLIP_UPGRADE_TO")
GOOD = ["cat-tiny-20x14.png", "rocket-lossy.webp", "rocket-portrait.jpg", "cat-exif-rot6.jpg"]
BAD = "malformed/not-an-image.txt"
ROLES = ("up_owner", "up_tenant_a", "up_tenant_b")

cluster = None

# Every object of the extension, described by name and definition (never by OID), one line each.
CATALOG = r"""
WITH ext AS (SELECT oid FROM pg_extension WHERE extname = 'pg_clip'),
m AS (SELECT d.classid, d.objid FROM pg_depend d, ext
       WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e'),
procs AS (
    SELECT 'function ' || p.oid::regprocedure::text
           || E'\n' || pg_get_functiondef(p.oid)
           || E'\nacl ' || coalesce(p.proacl::text, '-')
           || E'\ncomment ' || coalesce(obj_description(p.oid, 'pg_proc'), '-') AS line
      FROM m JOIN pg_proc p ON m.classid = 'pg_proc'::regclass AND p.oid = m.objid),
rels AS (
    SELECT c.oid, c.relname, c.relkind FROM m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid),
tables AS (
    SELECT 'relation ' || r.relname || ' kind ' || r.relkind::text
           || ' rls ' || c.relrowsecurity || ' force ' || c.relforcerowsecurity
           || E'\nacl ' || coalesce(c.relacl::text, '-')
           || E'\ncomment ' || coalesce(obj_description(c.oid, 'pg_class'), '-')
           || E'\ncolumns ' || coalesce((SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
                                   || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
                                   || coalesce(' default ' || pg_get_expr(ad.adbin, ad.adrelid), '')
                                   || coalesce(' identity ' || nullif(a.attidentity::text, ''), '')
                                   || coalesce(' acl ' || nullif(a.attacl::text, '{}'), '')
                                   || coalesce(' comment ' || col_description(c.oid, a.attnum), ''), ', ' ORDER BY a.attnum)
                                 FROM pg_attribute a LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
                                WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '-')
           || E'\nconstraints ' || coalesce((SELECT string_agg(k.conname || ' ' || pg_get_constraintdef(k.oid), '; ' ORDER BY k.conname)
                                 FROM pg_constraint k WHERE k.conrelid = c.oid), '-')
           || E'\nindexes ' || coalesce((SELECT string_agg(pg_get_indexdef(i.indexrelid), '; ' ORDER BY 1)
                                 FROM pg_index i WHERE i.indrelid = c.oid), '-')
           || E'\ntriggers ' || coalesce((SELECT string_agg(pg_get_triggerdef(t.oid), '; ' ORDER BY t.tgname)
                                 FROM pg_trigger t WHERE t.tgrelid = c.oid AND NOT t.tgisinternal), '-')
           || E'\npolicies ' || coalesce((SELECT string_agg(p.polname || ' ' || p.polcmd::text || ' ' || p.polpermissive
                                   || ' to ' || (SELECT string_agg(CASE WHEN x = 0 THEN 'public' ELSE x::regrole::text END, ',')
                                                   FROM unnest(p.polroles) x)
                                   || ' using ' || coalesce(pg_get_expr(p.polqual, p.polrelid), '-')
                                   || ' check ' || coalesce(pg_get_expr(p.polwithcheck, p.polrelid), '-'), '; ' ORDER BY p.polname)
                                 FROM pg_policy p WHERE p.polrelid = c.oid), '-')
           || CASE WHEN c.relkind = 'v' THEN E'\nview ' || pg_get_viewdef(c.oid) ELSE '' END AS line
      FROM rels r JOIN pg_class c ON c.oid = r.oid),
types AS (
    SELECT 'type ' || format_type(t.oid, NULL) || ' ' || t.typtype::text
           || E'\ncomment ' || coalesce(obj_description(t.oid, 'pg_type'), '-')
           || E'\nattributes ' || coalesce((SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod), ', ' ORDER BY a.attnum)
                                   FROM pg_attribute a WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped), '-')
           AS line
      FROM m JOIN pg_type t ON m.classid = 'pg_type'::regclass AND t.oid = m.objid),
other AS (
    SELECT 'member ' || pg_describe_object(m.classid, m.objid, 0) AS line FROM m
     WHERE m.classid NOT IN ('pg_proc'::regclass, 'pg_class'::regclass, 'pg_type'::regclass)),
config AS (
    SELECT 'config ' || coalesce((SELECT string_agg(x::regclass::text || ' ' || coalesce(e.extcondition[i], ''), ', ' ORDER BY 1)
                                  FROM unnest(e.extconfig) WITH ORDINALITY u(x, i)), '-') AS line
      FROM pg_extension e WHERE e.extname = 'pg_clip')
SELECT line FROM (SELECT line FROM procs UNION ALL SELECT line FROM tables UNION ALL SELECT line FROM types
                  UNION ALL SELECT line FROM other UNION ALL SELECT line FROM config) x
 ORDER BY line
"""


def rows(sql, db, user="postgres"):
    rc, out, err = cluster.script(sql, db=db, user=user, on_error_stop=True)
    if rc != 0:
        raise AssertionError(f"SQL failed ({user}@{db}): {sql}\n{err}")
    return [line.split("|") for line in out.splitlines() if line]


def value(sql, db, user="postgres"):
    r = rows(sql, db, user)
    return r[-1][0] if r else None


def catalog(db):
    rc, out, err = cluster.script("\\pset recordsep '\\n====\\n'\n" + CATALOG + ";\n", db=db, on_error_stop=True)
    if rc != 0:
        raise AssertionError(err)
    # A `cargo pgrx test` build adds its #[pg_test] functions (schema `tests`) to the fresh install only.
    objects = [o for o in out.split("\n====\n")
               if not o.startswith("function tests.") and o != "member schema tests"]
    return "\n====\n".join(objects)


def img(name):
    """A fixture image as a bytea literal (the roles of these tests may not read server files)."""
    with open(fixture(name), "rb") as f:
        return f"'\\x{f.read().hex()}'::bytea"


STATE_010 = f"""
GRANT CREATE ON SCHEMA public TO up_owner;
SET ROLE up_owner;
CREATE TABLE video_scenes (id bigint PRIMARY KEY, video_id bigint NOT NULL, user_id bigint NOT NULL,
                           thumbnail bytea, start_time double precision, end_time double precision);
INSERT INTO video_scenes (id, video_id, user_id, thumbnail, start_time, end_time)
SELECT g, g / 4, 40 + g % 3,
       CASE WHEN g IN (5, 6) THEN {img(BAD)} ELSE (ARRAY[{', '.join(img(x) for x in GOOD)}])[1 + g % {len(GOOD)}] END,
       g, g + 1
  FROM generate_series(1, 12) g;
SELECT clip_adopt_scene_table();
SELECT clip_register_source('scenes', 'video_scenes', NULL, 'thumbnail', video_column => 'video_id',
                            user_column => 'user_id');
SELECT * FROM clip_backfill(8, 'scenes');
SELECT clip_enable_tenant_rls();
GRANT SELECT ON video_scenes TO up_tenant_a, up_tenant_b;
RESET ROLE;
SELECT clip_map_tenant_role('up_tenant_a', '041'), clip_map_tenant_role('up_tenant_b', '42');
"""


def setUpModule():
    global cluster
    cluster = Cluster(CONF).start()
    cluster.sql(";\n".join(f"CREATE ROLE {r} LOGIN" for r in ROLES))


def tearDownModule():
    cluster.stop()


class UpgradeTest(unittest.TestCase):
    UP = "upg_upgraded"
    FRESH = "upg_fresh"

    @classmethod
    def setUpClass(cls):
        cluster.sql(f"CREATE DATABASE {cls.UP}")
        cluster.sql(f"CREATE EXTENSION pg_clip VERSION '{FROM}' CASCADE", db=cls.UP)
        rows(STATE_010, cls.UP)
        cls.before = cls.state(cls.UP, old=True)
        rc, out, err = cluster.script("ALTER EXTENSION pg_clip UPDATE" + (f" TO '{TO}'" if TO else "") + ";",
                                      db=cls.UP, on_error_stop=True)
        cls.update_output = (rc, err)
        cluster.sql(f"CREATE DATABASE {cls.FRESH}")
        cluster.sql("CREATE EXTENSION pg_clip" + (f" VERSION '{TO}'" if TO else "") + " CASCADE", db=cls.FRESH)

    @classmethod
    def state(cls, db, old=False):
        # 0.2.0 has one registry: the adopted tables are its adopted rows (key_column was id_column), and a
        # source with its column mapping is clip_backfill_source_config, in 0.1.0's clip_backfill_sources shape.
        return {
            "scene_tables": rows("SELECT scene_table, " + ("id_column" if old else "key_column") + ", tenant_column, "
                                 "video_column, start_column, end_column, thumbnail_url_column, thumbnail_column, "
                                 "embedding_column, metadata_column, adopted_at FROM clip_scene_tables "
                                 + ("" if old else "WHERE adopted_at IS NOT NULL ") + "ORDER BY 1", db),
            "sources": rows("SELECT name, tbl, key_column, source_column, source_kind, embedding_column, metadata_column, "
                            "video_column, user_column, enabled, registered_by, registered_at FROM "
                            + ("clip_backfill_sources" if old else "clip_backfill_source_config") + " ORDER BY 1", db),
            "runs": rows("SELECT id, source, started_at, finished_at, batch, processed, succeeded, failed, regenerated, ms, "
                         "forced, run_by FROM clip_backfill_runs ORDER BY 1", db),
            "tenants": rows("SELECT scene_table, role_name, tenant_id FROM clip_tenant_roles ORDER BY 1, 2, 3", db),
            "rows": rows("SELECT id, md5(embedding_visual_clip::text), visual_clip_metadata FROM video_scenes ORDER BY id", db),
            "policy": rows("SELECT polname, polcmd FROM pg_policy WHERE polrelid = 'video_scenes'::regclass", db),
            "rls": rows("SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = 'video_scenes'::regclass", db),
        }

    def test_update_ran_clean(self):
        rc, err = self.update_output
        self.assertEqual(rc, 0, err)
        self.assertNotIn("WARNING", err)
        self.assertEqual(value("SELECT extversion FROM pg_extension WHERE extname = 'pg_clip'", self.UP),
                         value("SELECT extversion FROM pg_extension WHERE extname = 'pg_clip'", self.FRESH))

    def test_schema_equals_a_fresh_install(self):
        up, fresh = catalog(self.UP), catalog(self.FRESH)
        if up != fresh:
            import difflib
            diff = "\n".join(difflib.unified_diff(fresh.splitlines(), up.splitlines(), "fresh", "upgraded", lineterm="", n=1))
            self.fail("the upgraded schema differs from a fresh install:\n" + diff[:20000])
        self.assertGreater(up.count("function "), 40)

    def test_no_state_lost(self):
        after = self.state(self.UP)
        self.assertEqual(after["scene_tables"], self.before["scene_tables"])
        # One registry: the source shares the adopted table's row (no row of its own).
        self.assertEqual(value("SELECT count(*) FROM clip_scene_tables", self.UP), "1")
        self.assertEqual(after["sources"], self.before["sources"])
        self.assertEqual(after["runs"], self.before["runs"])
        self.assertEqual(after["rows"], self.before["rows"])
        self.assertEqual(after["policy"], self.before["policy"])
        self.assertEqual(after["rls"], self.before["rls"])
        # Tenant mappings: the same roles and tenants, ids now in canonical form ('041' -> '41').
        self.assertEqual(after["tenants"], [["video_scenes", "up_tenant_a", "41"], ["video_scenes", "up_tenant_b", "42"]])
        self.assertEqual(len(self.before["rows"]), 12)
        self.assertEqual(sum(1 for r in self.before["rows"] if r[1]), 6)       # 8 claimed: 6 embedded, 2 failed
        self.assertEqual(sum(1 for r in self.before["rows"] if '"failed"' in r[2]), 2)

    def test_upgraded_database_works(self):
        # The tenants see their own rows (canonical ids match the bigint column) ...
        self.assertEqual(value("SELECT count(*) FROM video_scenes", self.UP, "up_tenant_a"), "4")
        self.assertEqual(value("SELECT string_agg(DISTINCT user_id::text, ',') FROM video_scenes", self.UP, "up_tenant_b"), "42")
        # ... unmapping works on the canonical id ...
        self.assertEqual(value("SELECT clip_unmap_tenant_role('up_tenant_a', '0041')", self.UP), "1")
        rows("SELECT clip_map_tenant_role('up_tenant_a', '41')", self.UP)
        # ... and the backfill, as the owner through its FORCEd policy, finishes the table.
        st = rows("SELECT total_rows, embedded, pending, failed_retrying, problem FROM clip_backfill_status('scenes')", self.UP,
                  "up_owner")
        self.assertEqual(st, [["12", "6", "4", "2", ""]])
        got = rows("SELECT processed, succeeded FROM clip_backfill(50)", self.UP, "up_owner")
        self.assertEqual(got, [["4", "4"]])
        self.assertEqual(value("SELECT count(*) FROM video_scenes WHERE embedding_visual_clip IS NOT NULL", self.UP), "10")
        # The owner itself is still filtered by the FORCEd policy outside pg_clip's maintenance.
        self.assertEqual(value("SELECT count(*) FROM video_scenes", self.UP, "up_owner"), "0")


class ConflictingRegistrationsTest(unittest.TestCase):
    """The two 0.1.0 registries could disagree about a table; the one registry of 0.2.0 cannot. The upgrade
    keeps every registration, warns about each one it had to change or that 0.2.0's one check refuses, and
    never fails because of one."""
    DB = "upg_conflicts"

    @classmethod
    def setUpClass(cls):
        cluster.sql(f"CREATE DATABASE {cls.DB}")
        cluster.sql(f"CREATE EXTENSION pg_clip VERSION '{FROM}' CASCADE", db=cls.DB)
        rows(f"""
            CREATE TABLE c_scenes (id bigint PRIMARY KEY, alt_id bigint NOT NULL UNIQUE, user_id bigint NOT NULL,
                                   thumbnail bytea, emb_any vector, meta2 jsonb);
            INSERT INTO c_scenes (id, alt_id, user_id, thumbnail) VALUES (1, 101, 40, {img(GOOD[0])});
            SELECT clip_adopt_scene_table('c_scenes', video_column => NULL, start_column => NULL, end_column => NULL,
                                          create_indexes => false);
            -- The adopted column, registered for backfill with another key: a conflict.
            SELECT clip_register_source('conflict', 'c_scenes', 'alt_id', 'thumbnail');
            -- Another column, which 0.1.0's backfill accepted unconstrained (0.2.0: exactly vector(512)).
            SELECT clip_register_source('loose', 'c_scenes', NULL, 'thumbnail', embedding_column => 'emb_any',
                                        metadata_column => 'meta2');
            -- Adopted by 0.1.0 with a key that is neither unique nor NOT NULL.
            CREATE TABLE nk_scenes (id bigint, user_id bigint, thumbnail bytea);
            SELECT clip_adopt_scene_table('nk_scenes', id_column => 'id', video_column => NULL, start_column => NULL,
                                          end_column => NULL, create_indexes => false);
            """, cls.DB)
        rc, out, err = cluster.script("ALTER EXTENSION pg_clip UPDATE" + (f" TO '{TO}'" if TO else "") + ";",
                                      db=cls.DB, on_error_stop=True)
        cls.update_output = (rc, err)

    def test_update_warns_and_succeeds(self):
        rc, err = self.update_output
        self.assertEqual(rc, 0, err)
        self.assertRegex(err, r'WARNING:  pg_clip upgrade: backfill source "conflict" of c_scenes conflicts with the '
                              r"adopted table's column mapping: key column alt_id \(the adopted table's: id\)")
        self.assertRegex(err, r"WARNING:  pg_clip upgrade: c_scenes \(column emb_any\) does not pass the checks of "
                              r"0\.2\.0: .*expected vector\(512\)")
        self.assertRegex(err, r'WARNING:  pg_clip upgrade: nk_scenes \(column embedding_visual_clip\) does not pass '
                              r'the checks of 0\.2\.0: key column "id" of nk_scenes is not unique')

    def test_registrations_kept_in_one_registry(self):
        # The conflicting source now uses the adopted mapping and waits, disabled, for its owner.
        self.assertEqual(rows("SELECT name, key_column, embedding_column, metadata_column, enabled "
                              "FROM clip_backfill_source_config ORDER BY 1", self.DB),
                         [["conflict", "id", "embedding_visual_clip", "visual_clip_metadata", "f"],
                          ["loose", "id", "emb_any", "meta2", "t"]])
        self.assertEqual(rows("SELECT scene_table, embedding_column, adopted_at IS NOT NULL FROM clip_scene_tables "
                              "ORDER BY 1, 2", self.DB),
                         [["c_scenes", "emb_any", "f"], ["c_scenes", "embedding_visual_clip", "t"],
                          ["nk_scenes", "embedding_visual_clip", "t"]])
        # The refused ones say why in their status; the search of a table with a bad key still works.
        self.assertRegex(value("SELECT problem FROM clip_backfill_status('loose')", self.DB), r"vector\(512\)")
        self.assertEqual(value("SELECT count(*) FROM clip_search_scenes(array_fill(0.1, ARRAY[512])::vector, "
                               "scene_table => 'nk_scenes')", self.DB), "0")
        # Registering the conflicting source again, on the adopted mapping, enables it.
        self.assertEqual(rows("SELECT key_column, enabled FROM clip_register_source('conflict', 'c_scenes', NULL, "
                              "'thumbnail')", self.DB), [["id", "t"]])
        self.assertEqual(rows("SELECT processed, succeeded FROM clip_backfill(5, 'conflict')", self.DB), [["1", "1"]])


class GeneratedScriptTest(unittest.TestCase):
    def test_upgrade_script_is_generated_from_the_sources(self):
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        p = subprocess.run([sys.executable, os.path.join(root, "scripts", "gen_upgrade.py"), "0.1.0", "0.2.0", "--check"],
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)


class UpgradedSecurityTest(unittest.TestCase):
    """The security suite, every database of it upgraded from the old version (its own cluster)."""

    def test_security_suite_on_upgraded_databases(self):
        env = dict(os.environ, PG_CLIP_TEST_UPGRADE_FROM=FROM,
                   PG_CLIP_IT_DIR=pgcluster.BASE + "-upgraded", PG_CLIP_IT_PORT=str(pgcluster.PORT + 1))
        if TO:
            env["PG_CLIP_TEST_VERSION"] = TO
        p = subprocess.run([sys.executable, "-m", "unittest", "test_security"], cwd=os.path.dirname(os.path.abspath(__file__)),
                           env=env, capture_output=True, text=True, timeout=1800)
        self.assertEqual(p.returncode, 0, p.stderr[-8000:])


if __name__ == "__main__":
    unittest.main()
