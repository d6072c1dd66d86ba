"""Security and integrity tests of pg_clip's SQL layer (issue 10), with real roles against a real server.

Each class reproduces one finding of the 0.1.0 review and checks it is fixed; every test fails on 0.1.0
(PG_CLIP_TEST_VERSION=0.1.0) and passes on 0.2.0, fresh or upgraded (PG_CLIP_TEST_UPGRADE_FROM=0.1.0).

Roles: postgres (superuser), sec_owner (owns the victim tables), sec_attacker (owns tables it fills with
traps: casts, policies, triggers, domains), sec_monitor (a monitoring role), sec_admin (a delegated tenant
administrator), sec_tenant_a / sec_tenant_b (tenants), sec_group (a NOLOGIN group role that owns a table)
with members sec_member1 and sec_member2.

A trap records `current_user` into a log table its owner owns (INSERT granted to PUBLIC) and tries
`ALTER ROLE sec_attacker SUPERUSER`; the tests check who ran it and that nobody gained SUPERUSER.

Run: cd tests/integration && python3 -m unittest -v test_security
"""

import os
import re
import time
import unittest

from pgcluster import Cluster, fixture

CONF = (
    "clip.image_model = 'pg_clip/clip-tiny-image.onnx'\n"
    "clip.text_model = 'pg_clip/clip-tiny-text.onnx'\n"
)
HF_MODEL = "pg_clip/clip-tiny-hf-image.onnx"
SMALL = "cat-tiny-20x14.png"
GOOD = ["cat-tiny-20x14.png", "rocket-lossy.webp", "rocket-portrait.jpg"]
ROLES = ("sec_owner", "sec_attacker", "sec_monitor", "sec_admin", "sec_tenant_a", "sec_tenant_b",
         "sec_member1", "sec_member2")
# The version under test: by default the control file's; PG_CLIP_TEST_VERSION names another one, and
# PG_CLIP_TEST_UPGRADE_FROM installs that version first and then runs ALTER EXTENSION pg_clip UPDATE.
VERSION = os.environ.get("PG_CLIP_TEST_VERSION")
UPGRADE_FROM = os.environ.get("PG_CLIP_TEST_UPGRADE_FROM")

cluster = None


def rows(sql, db, user="postgres"):
    rc, out, err = cluster.script(sql, db=db, user=user, on_error_stop=True)
    if rc != 0:
        raise AssertionError(f"SQL failed ({user}@{db}): {sql}\n{err}")
    return [line.split("|") for line in out.splitlines() if line]


def value(sql, db, user="postgres"):
    r = rows(sql, db, user)
    return r[-1][0] if r else None


def run(sql, db, user="postgres"):
    """(SQLSTATE of the first error or None, stdout, stderr) of a script stopped at its first error."""
    rc, out, err = cluster.script("\\set VERBOSITY verbose\n" + sql + "\n", db=db, user=user, on_error_stop=True)
    m = re.search(r"ERROR:\s+([0-9A-Z]{5}):", err)
    return (m.group(1) if m else None), out, err


def sqlstate(sql, db, user="postgres"):
    return run(sql, db, user)[0]


def img(name):
    """A fixture image as a bytea literal (the roles of these tests may not read server files)."""
    with open(fixture(name), "rb") as f:
        return f"'\\x{f.read().hex()}'::bytea"


def new_db(name):
    cluster.sql(f"CREATE DATABASE {name}")
    if UPGRADE_FROM:
        cluster.sql(f"CREATE EXTENSION pg_clip VERSION '{UPGRADE_FROM}' CASCADE", db=name)
        cluster.sql("ALTER EXTENSION pg_clip UPDATE" + (f" TO '{VERSION}'" if VERSION else ""), db=name)
    elif VERSION:
        cluster.sql(f"CREATE EXTENSION pg_clip VERSION '{VERSION}' CASCADE", db=name)
    else:
        cluster.sql("CREATE EXTENSION pg_clip CASCADE", db=name)
    # Tables of their own for the roles (PostgreSQL 15 gives PUBLIC no CREATE on schema public).
    cluster.sql("GRANT CREATE ON SCHEMA public TO " + ", ".join(ROLES + ("sec_group",)), db=name)


# A trap: logs who runs it, tries to make its owner a superuser, returns true.
TRAP = """
CREATE TABLE {log} (who name, what text, at timestamptz DEFAULT clock_timestamp());
GRANT INSERT ON {log} TO PUBLIC;
CREATE FUNCTION {fn}(what text) RETURNS boolean LANGUAGE plpgsql VOLATILE AS $t$
BEGIN
    INSERT INTO {log} (who, what) VALUES (current_user, what);
    BEGIN
        EXECUTE 'ALTER ROLE {victim} SUPERUSER';
    EXCEPTION WHEN OTHERS THEN NULL;
    END;
    RETURN true;
END $t$;
GRANT EXECUTE ON FUNCTION {fn}(text) TO PUBLIC;
"""


def trap(log, fn, victim="sec_attacker"):
    return TRAP.format(log=log, fn=fn, victim=victim)


def setUpModule():
    global cluster
    cluster = Cluster(CONF).start()
    stmts = [f"CREATE ROLE {r} LOGIN" for r in ROLES] + [
        "CREATE ROLE sec_group NOLOGIN",
        "GRANT sec_group TO sec_member1, sec_member2",
    ]
    cluster.sql(";\n".join(stmts))


def tearDownModule():
    cluster.stop()


class SecurityCase(unittest.TestCase):
    DB = None

    def assertNobodyEscalated(self):
        got = rows("SELECT rolname FROM pg_roles WHERE rolsuper AND rolname LIKE 'sec\\_%' ORDER BY 1", self.DB)
        self.assertEqual(got, [], "a role made itself SUPERUSER")

    def tearDown(self):
        # A finding that let a role escalate must not spill over into the next test.
        rows("DO $$ DECLARE r name; BEGIN FOR r IN SELECT rolname FROM pg_roles WHERE rolsuper AND rolname LIKE 'sec\\_%' "
             "LOOP EXECUTE format('ALTER ROLE %I NOSUPERUSER', r); END LOOP; END $$", self.DB)

    def log(self, table, user="postgres"):
        return sorted({r[0] for r in rows(f"SELECT who FROM {table}", self.DB, user)})


# ---------------------------------------------------------------------------------------------------------
class StatusTrojanTest(SecurityCase):
    """Finding 1: clip_backfill_status() ran a registered table's code (a cast of a retyped metadata column,
    an RLS policy function) with the rights of whoever called it: a superuser, a monitoring role."""
    DB = "sec_status"

    @classmethod
    def setUpClass(cls):
        new_db(cls.DB)
        thumb = img(SMALL)
        rows(f"""
            SET ROLE sec_attacker;
            {trap('att_log', 'att_trap')}
            CREATE TABLE att_scenes (id bigint PRIMARY KEY, thumbnail bytea, embedding_visual_clip vector(512),
                                     visual_clip_metadata jsonb);
            INSERT INTO att_scenes (id, thumbnail, visual_clip_metadata)
                SELECT g, {thumb}, '{{"status": "failed", "error_sqlstate": "22P03"}}' FROM generate_series(1, 3) g;
            GRANT SELECT ON att_scenes TO sec_monitor;
            SELECT clip_register_source('att', 'att_scenes', NULL, 'thumbnail');
            -- Retype the metadata column to a composite type with an implicit cast to jsonb.
            CREATE TYPE att_meta AS (j jsonb);
            CREATE FUNCTION att_cast(att_meta) RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $c$
                BEGIN PERFORM att_trap('cast'); RETURN ($1).j; END $c$;
            CREATE CAST (att_meta AS jsonb) WITH FUNCTION att_cast(att_meta) AS IMPLICIT;
            ALTER TABLE att_scenes ALTER COLUMN visual_clip_metadata TYPE att_meta USING ROW(visual_clip_metadata)::att_meta;

            -- A second table whose RLS policy runs the trap for every reader.
            CREATE TABLE att_policy (id bigint PRIMARY KEY, thumbnail bytea, embedding_visual_clip vector(512),
                                     visual_clip_metadata jsonb);
            INSERT INTO att_policy (id, thumbnail) SELECT g, {thumb} FROM generate_series(1, 3) g;
            GRANT SELECT ON att_policy TO sec_monitor;
            SELECT clip_register_source('att_policy', 'att_policy', NULL, 'thumbnail');
            ALTER TABLE att_policy ENABLE ROW LEVEL SECURITY;
            ALTER TABLE att_policy FORCE ROW LEVEL SECURITY;
            CREATE POLICY p ON att_policy USING (att_trap('policy'));
            RESET ROLE;
            """, cls.DB)

    def test_superuser_status_runs_no_trap_as_superuser(self):
        rows("SELECT source, problem FROM clip_backfill_status()", self.DB)
        self.assertNobodyEscalated()
        self.assertNotIn("postgres", self.log("att_log"))
        # The retyped column is refused (exact types), not read.
        problem = value("SELECT problem FROM clip_backfill_status('att')", self.DB)
        self.assertIn("expected jsonb", problem or "")

    def test_monitoring_role_runs_no_trap(self):
        rows("SELECT * FROM clip_backfill_status()", self.DB, "sec_monitor")
        self.assertNotIn("sec_monitor", self.log("att_log"))
        self.assertNobodyEscalated()

    def test_policy_runs_as_the_owner_only(self):
        # The superuser's status of the policy table: counted as its owner, through its FORCEd policy.
        st = rows("SELECT total_rows, problem FROM clip_backfill_status('att_policy')", self.DB)
        self.assertEqual(st, [["3", ""]])
        self.assertEqual(set(self.log("att_log")) - {"sec_attacker"}, set())
        self.assertNobodyEscalated()


# ---------------------------------------------------------------------------------------------------------
class SessionSettingsTest(SecurityCase):
    """The owner's code runs as the owner, but in the CALLER's session: a plain SET in a trigger (which
    PostgreSQL lets persist after a function's SET clause) must not leak into the caller's session, or the
    next statement of a superuser would resolve names in the owner's schema. clip_as_table_owner must roll
    back every setting changed inside it, as REFRESH MATERIALIZED VIEW does (AtEOXact_GUC(false, ...))."""
    DB = "sec_guc"

    def test_settings_changed_by_the_owners_code_do_not_leak(self):
        new_db(self.DB)
        rows(f"""
            GRANT CREATE ON DATABASE {self.DB} TO sec_attacker;
            SET ROLE sec_attacker;
            CREATE SCHEMA sec_evil;
            CREATE TABLE l_scenes (id bigint PRIMARY KEY, thumbnail bytea, embedding_visual_clip vector(512),
                                   visual_clip_metadata jsonb);
            INSERT INTO l_scenes (id, thumbnail) SELECT g, {img(SMALL)} FROM generate_series(1, 2) g;
            CREATE FUNCTION l_set() RETURNS trigger LANGUAGE plpgsql AS $s$
            BEGIN
                PERFORM set_config('search_path', 'sec_evil, public', false);
                PERFORM set_config('application_name', 'pwned', false);
                RETURN NEW;
            END $s$;
            CREATE TRIGGER l_set BEFORE UPDATE ON l_scenes FOR EACH ROW EXECUTE FUNCTION l_set();
            SELECT clip_register_source('l', 'l_scenes', NULL, 'thumbnail');
            RESET ROLE;
            """, self.DB)
        got = rows("SET application_name = 'mine';\nSELECT processed, succeeded FROM clip_backfill(10, 'l');\n"
                   "SHOW search_path;\nSHOW application_name;\n"
                   "SELECT count(*) FROM clip_backfill_status('l');\nSHOW search_path;\nSHOW application_name;", self.DB)
        self.assertEqual(got[0], ["2", "2"])
        self.assertEqual([r[0] for r in got[1:3]], ['"$user", public', "mine"])
        self.assertEqual([r[0] for r in got[4:6]], ['"$user", public', "mine"])


# ---------------------------------------------------------------------------------------------------------
class GroupAndSuperuserJobTest(SecurityCase):
    """Finding 2: clip_backfill() without a source ran sources "registered by" any role the caller belongs
    to with the caller's rights, and a superuser's scheduled job ran every table it had registered, firing
    their owners' triggers as the superuser."""
    DB = "sec_group_db"

    @classmethod
    def setUpClass(cls):
        new_db(cls.DB)
        rows(f"""
            SET ROLE sec_group;
            {trap('g_log', 'g_trap')}
            CREATE TABLE g_scenes (id bigint PRIMARY KEY, thumbnail bytea, embedding_visual_clip vector(512),
                                   visual_clip_metadata jsonb);
            INSERT INTO g_scenes (id, thumbnail) SELECT g, {img(SMALL)} FROM generate_series(1, 4) g;
            CREATE FUNCTION g_hit() RETURNS trigger LANGUAGE plpgsql AS $h$ BEGIN PERFORM g_trap('trigger'); RETURN NEW; END $h$;
            CREATE TRIGGER g_hit AFTER UPDATE ON g_scenes FOR EACH ROW EXECUTE FUNCTION g_hit();
            SELECT clip_register_source('g', 'g_scenes', NULL, 'thumbnail');
            RESET ROLE;
            SET ROLE sec_attacker;
            {trap('a_log', 'a_trap')}
            CREATE TABLE a_scenes (id bigint PRIMARY KEY, thumbnail bytea, embedding_visual_clip vector(512),
                                   visual_clip_metadata jsonb);
            INSERT INTO a_scenes (id, thumbnail) SELECT g, {img(SMALL)} FROM generate_series(1, 4) g;
            CREATE FUNCTION a_hit() RETURNS trigger LANGUAGE plpgsql AS $h$ BEGIN PERFORM a_trap('trigger'); RETURN NEW; END $h$;
            CREATE TRIGGER a_hit AFTER UPDATE ON a_scenes FOR EACH ROW EXECUTE FUNCTION a_hit();
            RESET ROLE;
            -- The superuser registers the attacker's table itself (as a DBA setting up a pg_cron job would).
            SELECT clip_register_source('a', 'a_scenes', NULL, 'thumbnail');
            """, cls.DB)

    def test_member_without_source_runs_only_its_own_tables(self):
        got = rows("SELECT source, processed FROM clip_backfill(10)", self.DB, "sec_member2")
        self.assertEqual(got, [])
        self.assertEqual(value("SELECT count(*) FROM g_scenes WHERE embedding_visual_clip IS NOT NULL", self.DB), "0")
        self.assertNotIn("sec_member2", self.log("g_log"))

    def test_superuser_job_runs_only_its_own_tables(self):
        got = rows("SELECT source, processed FROM clip_backfill(10)", self.DB)
        self.assertEqual([r[0] for r in got if r[0] == "a"], [], "the superuser's unnamed run took another owner's table")
        self.assertNotIn("postgres", self.log("a_log"))
        self.assertNobodyEscalated()

    def test_named_source_runs_as_its_owner(self):
        try:
            got = rows("SELECT source, processed, succeeded FROM clip_backfill(10, 'g')", self.DB, "sec_member2")
            self.assertEqual(got, [["g", "4", "4"]])
            self.assertEqual(self.log("g_log"), ["sec_group"])      # the owner, not the member who called
            got = rows("SELECT source, processed, succeeded FROM clip_backfill(10, 'a')", self.DB)
            self.assertEqual(got, [["a", "4", "4"]])
            self.assertEqual(self.log("a_log"), ["sec_attacker"])   # the owner, not the superuser
            self.assertNobodyEscalated()
        finally:
            # Reset without firing the traps (as the superuser, triggers off).
            rows("SET session_replication_role = replica; UPDATE g_scenes SET embedding_visual_clip = NULL, "
                 "visual_clip_metadata = NULL; UPDATE a_scenes SET embedding_visual_clip = NULL, visual_clip_metadata = NULL; "
                 "DELETE FROM g_log; DELETE FROM a_log", self.DB)

    def test_other_roles_may_not_run_or_see_a_source(self):
        self.assertIn(sqlstate("SELECT * FROM clip_backfill(10, 'g')", self.DB, "sec_monitor"), ("42704", "42501"))
        self.assertEqual(value("SELECT count(*) FROM clip_backfill_sources", self.DB, "sec_monitor"), "0")
        self.assertEqual(value("SELECT count(*) FROM g_scenes WHERE embedding_visual_clip IS NOT NULL", self.DB), "0")


# ---------------------------------------------------------------------------------------------------------
class TenantMappingTest(SecurityCase):
    """Finding 3: clip_map_tenant_role validated the tenant with a cast to the column's type as the caller,
    so a domain CHECK written by the table's owner ran as the superuser (or the tenant administrator).
    Finding 10 (last part): unmapping '42' after mapping '042' removed nothing."""
    DB = "sec_tenant"

    @classmethod
    def setUpClass(cls):
        new_db(cls.DB)
        rows(f"""
            GRANT SELECT, INSERT, UPDATE, DELETE ON clip_tenant_roles TO sec_admin;
            SET ROLE sec_attacker;
            {trap('d_log', 'd_trap')}
            CREATE DOMAIN tenant_dom AS text CHECK (d_trap(VALUE));
            CREATE TABLE d_scenes (id bigint PRIMARY KEY, user_id tenant_dom NOT NULL);
            SELECT clip_adopt_scene_table('d_scenes', video_column => NULL, start_column => NULL, end_column => NULL,
                                          create_indexes => false);
            GRANT SELECT ON d_scenes TO sec_admin;
            RESET ROLE;
            SET ROLE sec_owner;
            CREATE TABLE n_scenes (id bigint PRIMARY KEY, user_id bigint NOT NULL);
            SELECT clip_adopt_scene_table('n_scenes', video_column => NULL, start_column => NULL, end_column => NULL,
                                          create_indexes => false);
            GRANT SELECT ON n_scenes TO sec_admin;
            RESET ROLE;
            DELETE FROM d_log;
            """, cls.DB)

    def test_superuser_mapping_does_not_run_the_owners_domain_as_superuser(self):
        rows("SELECT clip_map_tenant_role('sec_tenant_a', 'acme', 'd_scenes')", self.DB)
        self.assertNobodyEscalated()
        self.assertNotIn("postgres", self.log("d_log"))
        self.assertEqual(value("SELECT count(*) FROM clip_tenant_roles WHERE scene_table = 'd_scenes'::regclass", self.DB), "1")

    def test_delegated_admin_does_not_run_the_owners_domain(self):
        state, _, _ = run("SELECT clip_map_tenant_role('sec_tenant_b', 'globex', 'd_scenes')", self.DB, "sec_admin")
        self.assertNotIn("sec_admin", self.log("d_log"))
        self.assertNobodyEscalated()
        # A built-in tenant type needs no owner: the delegated admin maps it.
        self.assertEqual(value("SELECT clip_map_tenant_role('sec_tenant_b', '7', 'n_scenes')", self.DB, "sec_admin"), "t")
        self.assertEqual(state, "42501")

    def test_unmap_compares_canonical_tenant_ids(self):
        rows("SELECT clip_map_tenant_role('sec_tenant_a', '042', 'n_scenes')", self.DB)
        self.assertEqual(value("SELECT clip_unmap_tenant_role('sec_tenant_a', '42', 'n_scenes')", self.DB), "1")
        self.assertEqual(value("SELECT count(*) FROM clip_tenant_roles WHERE role_name = 'sec_tenant_a' "
                               "AND scene_table = 'n_scenes'::regclass", self.DB), "0")


# ---------------------------------------------------------------------------------------------------------
class TempTableTest(SecurityCase):
    """Finding 4: a temporary table adopted by any role broke every other session's default-table search
    ("more than one scene table"), and a temp-table registration squatted a source name for good."""
    DB = "sec_temp"

    @classmethod
    def setUpClass(cls):
        new_db(cls.DB)
        rows(f"""
            SET ROLE sec_owner;
            CREATE TABLE video_scenes (id bigint PRIMARY KEY, video_id bigint, user_id text, thumbnail bytea,
                                       start_time float8, end_time float8);
            SELECT clip_adopt_scene_table();
            INSERT INTO video_scenes (id, video_id, user_id, thumbnail) VALUES (1, 1, 'u', {img(SMALL)});
            RESET ROLE;
            """, cls.DB)

    def test_temp_tables_are_refused_and_break_nothing(self):
        temp = ("CREATE TEMP TABLE tmp_scenes (id bigint PRIMARY KEY, video_id bigint, user_id text, thumbnail bytea, "
                "embedding_visual_clip vector(512), visual_clip_metadata jsonb);\n")
        p = cluster.popen("\\set VERBOSITY verbose\n" + temp
                          + "SELECT clip_adopt_scene_table('pg_temp.tmp_scenes', start_column => NULL, end_column => NULL);\n"
                          + "SELECT clip_register_source('squat', 'pg_temp.tmp_scenes', NULL, 'thumbnail');\n"
                          + "SELECT 'ready';\nSELECT pg_sleep(60);\n", db=self.DB, user="sec_attacker")
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and value(
                    f"SELECT count(*) FROM pg_stat_activity WHERE datname = '{self.DB}' AND query LIKE 'SELECT pg_sleep%'",
                    self.DB) == "0":
                time.sleep(0.1)
            # While the attacker's session lives, another role's default-table search still works.
            st, out, err = run("SELECT count(*) FROM clip_search_scenes_by_text('a cat')", self.DB, "sec_owner")
            self.assertIsNone(st, err)
            st, out, err = run("SELECT scene_table FROM clip_scene_table_config()", self.DB, "postgres")
            self.assertIsNone(st, err)
        finally:
            rows(f"SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE datname = '{self.DB}' "
                 f"AND query LIKE 'SELECT pg_sleep%'", self.DB)
            _, err = p.communicate(timeout=60)
        self.assertEqual(re.findall(r"ERROR:\s+([0-9A-Z]{5}):", err)[:2], ["0A000", "0A000"], err)
        # The name was not squatted: the owner registers a source under it.
        rows("SELECT clip_register_source('squat', 'video_scenes', NULL, 'thumbnail')", self.DB, "sec_owner")
        self.assertEqual(value("SELECT tbl FROM clip_backfill_sources WHERE name = 'squat'", self.DB), "video_scenes")


# ---------------------------------------------------------------------------------------------------------
class RegistryTest(SecurityCase):
    """Finding 5: the registries were writable (and wholly readable) by PUBLIC: anyone could forge another
    source's last run, or grow the run log without bound."""
    DB = "sec_registry"

    @classmethod
    def setUpClass(cls):
        new_db(cls.DB)
        rows(f"""
            SET ROLE sec_owner;
            CREATE TABLE v_scenes (id bigint PRIMARY KEY, thumbnail bytea, embedding_visual_clip vector(512),
                                   visual_clip_metadata jsonb, user_id text);
            INSERT INTO v_scenes (id, thumbnail) SELECT g, {img(SMALL)} FROM generate_series(1, 2) g;
            SELECT clip_register_source('victim', 'v_scenes', NULL, 'thumbnail');
            SELECT * FROM clip_backfill(10, 'victim');
            SELECT clip_adopt_scene_table('v_scenes', video_column => NULL, start_column => NULL, end_column => NULL,
                                          create_indexes => false);
            RESET ROLE;
            """, cls.DB)

    def test_run_log_is_not_writable_by_others(self):
        forge = ("INSERT INTO clip_backfill_runs (source, started_at, finished_at, batch, processed, succeeded, failed, "
                 "regenerated, ms, forced) VALUES ('victim', now(), now() + interval '1 day', 1, 999, 999, 0, 0, 1, false)")
        self.assertEqual(sqlstate(forge, self.DB, "sec_attacker"), "42501")
        self.assertEqual(value("SELECT max(processed) FROM clip_backfill_runs", self.DB), "2")
        self.assertEqual(value("SELECT last_run->>'processed' FROM clip_backfill_status('victim')", self.DB), "2")

    def test_registries_show_each_role_its_own_rows(self):
        self.assertEqual(value("SELECT count(*) FROM clip_backfill_sources", self.DB, "sec_attacker"), "0")
        self.assertEqual(value("SELECT count(*) FROM clip_backfill_runs", self.DB, "sec_attacker"), "0")
        self.assertEqual(value("SELECT count(*) FROM clip_backfill_status()", self.DB, "sec_attacker"), "0")
        self.assertEqual(value("SELECT count(*) FROM clip_backfill_sources", self.DB, "sec_owner"), "1")
        self.assertEqual(value("SELECT count(*) FROM clip_scene_tables", self.DB, "sec_attacker"), "0")

    def test_registries_are_not_changed_by_others(self):
        for sql in ("UPDATE clip_backfill_sources SET enabled = false",
                    "DELETE FROM clip_backfill_sources",
                    "UPDATE clip_scene_tables SET tenant_column = 'id'",
                    "DELETE FROM clip_scene_tables",
                    "SELECT clip_unregister_source('victim')"):
            with self.subTest(sql=sql):
                run(sql, self.DB, "sec_attacker")
        self.assertEqual(rows("SELECT name, enabled FROM clip_backfill_sources", self.DB), [["victim", "t"]])
        self.assertEqual(rows("SELECT tenant_column FROM clip_scene_tables", self.DB), [["user_id"]])
        self.assertIn(sqlstate("INSERT INTO clip_scene_tables (scene_table, key_column, tenant_column) "
                               "VALUES ('v_scenes', 'id', 'id')", self.DB, "sec_attacker"), ("42501", "23505", "23514"))


# ---------------------------------------------------------------------------------------------------------
class PartitionedTableTest(SecurityCase):
    """Finding 6: adoption accepted a partitioned table but RLS covered only the parent, so a tenant with
    SELECT on a partition read every tenant's rows through it. 0.2.0 refuses partitioned tables and
    partitions (and inheritance) with 0A000."""
    DB = "sec_part"

    @classmethod
    def setUpClass(cls):
        new_db(cls.DB)
        rows("""
            SET ROLE sec_owner;
            CREATE TABLE p_scenes (id bigint NOT NULL, user_id text NOT NULL, thumbnail bytea,
                                   embedding_visual_clip vector(512), visual_clip_metadata jsonb) PARTITION BY LIST (user_id);
            CREATE TABLE p_acme PARTITION OF p_scenes FOR VALUES IN ('acme');
            CREATE TABLE p_globex PARTITION OF p_scenes FOR VALUES IN ('globex');
            CREATE UNIQUE INDEX ON p_acme (id);
            INSERT INTO p_scenes VALUES (1, 'acme'), (2, 'globex');
            GRANT SELECT ON p_scenes, p_globex TO sec_tenant_a;
            CREATE TABLE i_parent (id bigint PRIMARY KEY, user_id text, thumbnail bytea,
                                   embedding_visual_clip vector(512), visual_clip_metadata jsonb);
            CREATE TABLE i_child () INHERITS (i_parent);
            RESET ROLE;
            """, cls.DB)

    def test_partitioned_tables_and_partitions_are_refused(self):
        cases = {
            "adopt partitioned": "SELECT clip_adopt_scene_table('p_scenes', id_column => 'id', video_column => NULL, "
                                 "start_column => NULL, end_column => NULL)",
            "adopt partition": "SELECT clip_adopt_scene_table('p_acme', id_column => 'id', video_column => NULL, "
                               "start_column => NULL, end_column => NULL)",
            "adopt inheritance parent": "SELECT clip_adopt_scene_table('i_parent', video_column => NULL, "
                                        "start_column => NULL, end_column => NULL)",
            "register partition": "SELECT clip_register_source('pa', 'p_acme', 'id', 'thumbnail')",
            "register inheritance child": "SELECT clip_register_source('ic', 'i_child', 'id', 'thumbnail')",
        }
        for case, sql in cases.items():
            with self.subTest(case):
                self.assertEqual(sqlstate(sql, self.DB, "sec_owner"), "0A000")
        # Nothing was adopted, so no policy pretends to protect the partitions.
        self.assertEqual(value("SELECT count(*) FROM clip_scene_tables", self.DB), "0")
        self.assertEqual(value("SELECT count(*) FROM pg_policy WHERE polname = 'clip_tenant_isolation'", self.DB), "0")


# ---------------------------------------------------------------------------------------------------------
class FetchUrlTest(SecurityCase):
    """Finding 7: clip_fetch_url was executable by PUBLIC, so any tenant could read whatever the server can
    reach (allowlisted object stores included), past RLS."""
    DB = "sec_fetch"

    @classmethod
    def setUpClass(cls):
        new_db(cls.DB)
        rows("""
            SET ROLE sec_owner;
            CREATE TABLE u_scenes (id bigint PRIMARY KEY, thumbnail_url text, embedding_visual_clip vector(512),
                                   visual_clip_metadata jsonb);
            INSERT INTO u_scenes VALUES (1, 'http://127.0.0.1:9/nothing.jpg');
            SELECT clip_register_source('u', 'u_scenes', NULL, 'thumbnail_url');
            RESET ROLE;
            """, cls.DB)

    def test_not_executable_by_public(self):
        self.assertEqual(value("SELECT has_function_privilege('sec_tenant_a', 'clip_fetch_url(text)', 'EXECUTE')",
                               self.DB), "f")
        self.assertEqual(sqlstate("SELECT clip_fetch_url('http://127.0.0.1:9/x')", self.DB, "sec_tenant_a"), "42501")
        # The variant with the cache validators is gated by the same GRANT (it checks clip_fetch_url's).
        st, _, err = run("SELECT * FROM clip_fetch_url_with_validators('http://127.0.0.1:9/x')", self.DB, "sec_tenant_a")
        self.assertEqual(st, "42501", err)
        self.assertIn("may not execute clip_fetch_url(text)", err)

    def test_url_backfill_needs_the_documented_grant(self):
        st, _, err = run("SELECT * FROM clip_backfill(10, 'u')", self.DB, "sec_owner")
        self.assertEqual(st, "42501", err)
        self.assertIn("GRANT EXECUTE ON FUNCTION clip_fetch_url(text) TO sec_owner", err)
        self.assertEqual(value("SELECT count(*) FROM u_scenes WHERE visual_clip_metadata IS NOT NULL", self.DB), "0")
        try:
            rows("GRANT EXECUTE ON FUNCTION clip_fetch_url(text) TO sec_owner", self.DB)
            self.assertEqual(rows("SELECT processed, succeeded, failed FROM clip_backfill(10, 'u')", self.DB, "sec_owner"),
                             [["1", "0", "1"]])
            self.assertEqual(value("SELECT visual_clip_metadata->>'stage' FROM u_scenes", self.DB), "fetch")
            # The grant let the fetch itself run: the row failed on the address rules, not on a privilege.
            self.assertRegex(value("SELECT visual_clip_metadata->>'error_message' FROM u_scenes", self.DB),
                             r"^refusing to fetch from 127\.0\.0\.1")
            st, _, err = run("SELECT * FROM clip_fetch_url_with_validators('http://127.0.0.1:9/x')", self.DB, "sec_owner")
            self.assertEqual(st, "42501", err)
            self.assertIn("refusing to fetch", err)
        finally:
            rows("REVOKE EXECUTE ON FUNCTION clip_fetch_url(text) FROM sec_owner", self.DB)


# ---------------------------------------------------------------------------------------------------------
class ReembedFailureTest(SecurityCase):
    """Finding 8: a failed re-embed (force, a model change, a tighter limit) erased a good vector."""
    DB = "sec_reembed"

    @classmethod
    def setUpClass(cls):
        new_db(cls.DB)
        good = ", ".join(img(g) for g in GOOD)
        rows(f"""
            SET ROLE sec_owner;
            CREATE TABLE r_scenes (id bigint PRIMARY KEY, thumbnail bytea, embedding_visual_clip vector(512),
                                   visual_clip_metadata jsonb);
            INSERT INTO r_scenes (id, thumbnail) SELECT g, (ARRAY[{good}])[g] FROM generate_series(1, 3) g;
            SELECT clip_register_source('r', 'r_scenes', NULL, 'thumbnail');
            SELECT * FROM clip_backfill(10, 'r');
            RESET ROLE;
            """, cls.DB)
        cls.sha = value("SELECT clip_image_model_identity()->>'sha256'", cls.DB)

    def snapshot(self):
        return rows("SELECT id, md5(embedding_visual_clip::text), visual_clip_metadata->>'model_sha256', "
                    "visual_clip_metadata->>'generated_at' FROM r_scenes ORDER BY id", self.DB)

    def test_failed_reembed_keeps_vector_and_identity(self):
        before = self.snapshot()
        self.assertEqual({r[2] for r in before}, {self.sha})
        # Another model, and a limit every image now exceeds: every re-embed fails.
        swap = f"SET clip.image_model = '{HF_MODEL}'; SET clip.max_image_bytes = 16;\n"
        got = rows(swap + "SELECT processed, succeeded, failed FROM clip_backfill(10, 'r')", self.DB)
        self.assertEqual(got[-1], ["3", "0", "3"])
        self.assertEqual(self.snapshot(), before, "a failed re-embed changed the stored vector or its identity")
        failure = rows("SELECT DISTINCT visual_clip_metadata->'last_failure'->>'error_sqlstate', "
                       "visual_clip_metadata->'last_failure'->>'status' FROM r_scenes", self.DB)
        self.assertEqual(failure, [["54000", "failed"]])
        st = rows(swap + "SELECT embedded, stale, stale_retrying, failed_retrying, pending FROM clip_backfill_status('r')",
                  self.DB)
        self.assertEqual(st[-1], ["3", "3", "3", "0", "0"])
        # Backoff: not retried before it is due.
        self.assertEqual(rows(swap + "SELECT processed FROM clip_backfill(10, 'r')", self.DB)[-1], ["0"])
        # With the limit lifted and the retry due, the re-embed lands and clears the failure.
        rows("UPDATE r_scenes SET visual_clip_metadata = jsonb_set(visual_clip_metadata, '{last_failure,next_retry_at}', "
             "to_jsonb(now() - interval '1 s'))", self.DB)
        got = rows(f"SET clip.image_model = '{HF_MODEL}';\nSELECT processed, succeeded FROM clip_backfill(10, 'r')", self.DB)
        self.assertEqual(got[-1], ["3", "3"])
        self.assertEqual(value("SELECT count(*) FROM r_scenes WHERE visual_clip_metadata ? 'last_failure'", self.DB), "0")

    def test_failed_forced_regeneration_keeps_vectors(self):
        before = self.snapshot()
        got = rows("SET clip.max_image_bytes = 16;\nSELECT processed, succeeded, failed FROM clip_backfill(10, 'r', force => true)",
                   self.DB)
        self.assertEqual(got[-1][0], "3")
        self.assertEqual([r[:2] for r in self.snapshot()], [r[:2] for r in before])
        self.assertEqual(value("SELECT count(*) FROM r_scenes WHERE embedding_visual_clip IS NULL", self.DB), "0")


# ---------------------------------------------------------------------------------------------------------
class SourceFingerprintTest(SecurityCase):
    """Finding 9: a changed source was never re-embedded; status said the row was up to date."""
    DB = "sec_fingerprint"

    def test_changed_source_is_stale_and_reembedded(self):
        new_db(self.DB)
        rows(f"""
            CREATE TABLE f_scenes (id bigint PRIMARY KEY, thumbnail bytea, embedding_visual_clip vector(512),
                                   visual_clip_metadata jsonb);
            INSERT INTO f_scenes (id, thumbnail) SELECT g, {img(GOOD[0])} FROM generate_series(1, 3) g;
            SELECT clip_register_source('f', 'f_scenes', NULL, 'thumbnail');
            SELECT * FROM clip_backfill(10, 'f');
            """, self.DB)
        self.assertEqual(value("SELECT count(*) FROM f_scenes WHERE visual_clip_metadata->>'source_sha256' = "
                               "encode(sha256(thumbnail), 'hex')", self.DB), "3")
        rows(f"UPDATE f_scenes SET thumbnail = {img(GOOD[1])} WHERE id = 2", self.DB)
        self.assertEqual(rows("SELECT up_to_date, stale FROM clip_backfill_status('f')", self.DB), [["2", "1"]])
        self.assertEqual(rows("SELECT processed, succeeded FROM clip_backfill(10, 'f')", self.DB), [["1", "1"]])
        self.assertEqual(value(f"SELECT embedding_visual_clip <-> clip_embed_image({img(GOOD[1])}) < 1e-5 "
                               "FROM f_scenes WHERE id = 2", self.DB), "t")
        self.assertEqual(rows("SELECT up_to_date, stale FROM clip_backfill_status('f')", self.DB), [["3", "0"]])


# ---------------------------------------------------------------------------------------------------------
class AccountingTest(SecurityCase):
    """Finding 10: `succeeded` counted computed vectors, not rows written, so a row whose UPDATE a trigger
    suppresses was claimed forever; a NULL key was counted pending forever."""
    DB = "sec_accounting"

    @classmethod
    def setUpClass(cls):
        new_db(cls.DB)
        rows(f"""
            CREATE TABLE s_scenes (id bigint PRIMARY KEY, thumbnail bytea, embedding_visual_clip vector(512),
                                   visual_clip_metadata jsonb);
            INSERT INTO s_scenes (id, thumbnail) SELECT g, {img(SMALL)} FROM generate_series(1, 3) g;
            -- The application refuses embeddings (but lets the metadata be written).
            CREATE FUNCTION s_refuse() RETURNS trigger LANGUAGE plpgsql AS $r$ BEGIN RETURN NULL; END $r$;
            CREATE TRIGGER s_refuse BEFORE UPDATE ON s_scenes FOR EACH ROW
                WHEN (NEW.embedding_visual_clip IS NOT NULL) EXECUTE FUNCTION s_refuse();
            SELECT clip_register_source('s', 's_scenes', NULL, 'thumbnail');
            CREATE TABLE all_refused (id bigint PRIMARY KEY, thumbnail bytea, embedding_visual_clip vector(512),
                                      visual_clip_metadata jsonb);
            INSERT INTO all_refused (id, thumbnail) SELECT g, {img(SMALL)} FROM generate_series(1, 3) g;
            CREATE TRIGGER s_refuse BEFORE UPDATE ON all_refused FOR EACH ROW EXECUTE FUNCTION s_refuse();
            SELECT clip_register_source('all_refused', 'all_refused', NULL, 'thumbnail');
            CREATE TABLE nullkey (k bigint UNIQUE, thumbnail bytea, embedding_visual_clip vector(512),
                                  visual_clip_metadata jsonb);
            """, cls.DB)

    def test_suppressed_writes_are_not_counted_and_not_reclaimed(self):
        self.assertEqual(rows("SELECT processed, succeeded, failed FROM clip_backfill(10, 's')", self.DB), [["3", "0", "3"]])
        self.assertEqual(rows("SELECT DISTINCT visual_clip_metadata->>'stage', visual_clip_metadata->>'status' "
                              "FROM s_scenes", self.DB), [["write", "failed"]])
        self.assertEqual(rows("SELECT processed FROM clip_backfill(10, 's')", self.DB), [["0"]])

    def test_backfill_run_ends_when_nothing_can_be_written(self):
        rc, _, err = cluster.script("SET statement_timeout = '60s';\n"
                                    "CALL clip_backfill_run(batch => 10, source => 'all_refused');", db=self.DB)
        self.assertEqual(rc, 0, err)
        self.assertIn("could be written", err)

    def test_nullable_key_refused_at_registration(self):
        self.assertEqual(sqlstate("SELECT clip_register_source('nk', 'nullkey', 'k', 'thumbnail')", self.DB), "42P10")


# ---------------------------------------------------------------------------------------------------------
class PoisonRowTest(SecurityCase):
    """Finding 11: for bytea and URL sources an error of the batch call that is not a per-image error
    (here clip.timeout_ms, spent by the batch as a whole) failed every row of the batch, on every run."""
    DB = "sec_poison"
    N = 24

    def test_batch_error_isolated_per_row(self):
        new_db(self.DB)
        rows(f"""
            CREATE TABLE b_scenes (id bigint PRIMARY KEY, thumbnail bytea, embedding_visual_clip vector(512),
                                   visual_clip_metadata jsonb);
            INSERT INTO b_scenes (id, thumbnail) SELECT g, {img(SMALL)} FROM generate_series(1, {self.N}) g;
            SELECT clip_register_source('b', 'b_scenes', NULL, 'thumbnail');
            """, self.DB)
        # Calibrate: a limit one image stays well under and the whole batch exceeds.
        timing = (f"SET clip.threads = 1; SELECT clip_embed_image({img(SMALL)});\n"
                  "\\timing on\n"
                  f"SELECT count(*) FROM clip_try_embed_images((SELECT array_agg(thumbnail) FROM b_scenes));\n"
                  f"SELECT count(*) FROM clip_try_embed_images(ARRAY[{img(SMALL)}]);\n")
        rc, out, err = cluster.script(timing, db=self.DB)
        ms = [float(x) for x in re.findall(r"Time: ([0-9.]+) ms", out)]
        batch_ms, one_ms = ms[-2], ms[-1]
        limit = int(max(4 * one_ms, batch_ms / 3, 1))
        if batch_ms < 2 * limit:
            self.skipTest(f"cannot calibrate clip.timeout_ms (one image {one_ms} ms, batch {batch_ms} ms)")
        st, out, err = run(f"SET clip.threads = 1; SET clip.timeout_ms = {limit};\n"
                           "SELECT processed, succeeded + failed, succeeded FROM clip_backfill(100, 'b');",
                           self.DB)
        self.assertIsNone(st, err)
        processed, accounted, succeeded = [int(x) for x in out.splitlines()[-1].split("|")]
        self.assertEqual((processed, accounted), (self.N, self.N))
        self.assertGreaterEqual(succeeded, self.N // 2, out)


if __name__ == "__main__":
    unittest.main()
