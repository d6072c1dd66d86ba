"""Integration tests for the embedding backfill (issue 4), against a real server with pg_cron preloaded:

- source registration: type / column / key / kind validation with SQLSTATEs, the caller's privileges, who may
  change a registration, SECURITY INVOKER everywhere, the registry kept by pg_dump;
- one registry (OneRegistryTest): a source and an adopted table share one clip_scene_tables row per embedding
  column, registration agrees with the adopted mapping, one validation for both, suppressed rows wait;
- clip_backfill: fills rows and their metadata, dry run, video/user filters, force, stale-model detection,
  bad rows recorded with retries and backoff (never a sentinel vector) while good rows of the same batch
  commit, a missing or broken model failing fast without marking rows;
- clip_backfill_run: resumable (cancelled mid-run, nothing committed is lost or redone);
- 8 concurrent callers over 2,000 rows: every row embedded exactly once;
- multi-frame sources (mean pooling), URL sources against a local HTTP server (failures, retries, backoff);
- clip_backfill_status on 100,000 rows (exact bigint counts);
- pg_cron 1.4.2: a `* * * * *` job fills a table. Its job is scheduled in setUpModule and checked by the
  last test class (ZzPgCronTest; unittest runs classes in name order), so the minute-granular wait overlaps
  the other tests.

Run: cd tests/integration && python3 -m unittest -v test_backfill
"""

import hashlib
import http.server
import os
import re
import subprocess
import threading
import time
import unittest

from pgcluster import PG_BIN, PORT, Cluster, fixture

CONF = (
    "shared_preload_libraries = 'pg_cron'\n"
    "cron.database_name = 'postgres'\n"
    "cron.use_background_workers = on\n"
    "max_worker_processes = 16\n"
    "clip.image_model = 'pg_clip/clip-tiny-image.onnx'\n"
    "clip.text_model = 'pg_clip/clip-tiny-text.onnx'\n"
    "clip.http_allow_hosts = '127.0.0.1'\n"
)
HF_MODEL = "pg_clip/clip-tiny-hf-image.onnx"
SMALL = "cat-tiny-20x14.png"
GOOD = ["cat-tiny-20x14.png", "rocket-lossy.webp", "rocket-portrait.jpg", "cat-exif-rot6.jpg", "camera-gray.jpg"]
BAD = {"malformed/not-an-image.txt": "22P03", "malformed/empty.jpg": "22023", "malformed/cat.tiff": "0A000"}
ROLES = ("bf_owner", "bf_writer", "bf_reader", "bf_nobody")
CRON_ROWS = 60
CRON_BATCH = 40          # two scheduled runs are needed to fill the table

cluster = None
cron_scheduled_at = None


def rows(sql, db="postgres", user="postgres"):
    """The result rows of a script run in one session (ON_ERROR_STOP), as lists of strings."""
    rc, out, err = cluster.script(sql, db=db, user=user, on_error_stop=True)
    if rc != 0:
        raise AssertionError(f"SQL failed ({user}@{db}): {sql}\n{err}")
    return [line.split("|") for line in out.splitlines() if line]


def value(sql, db="postgres", user="postgres"):
    r = rows(sql, db, user)
    return r[-1][0] if r else None


def sqlstate(sql, db="postgres", user="postgres"):
    """The SQLSTATE of the first error of a script, or None if it ran clean."""
    rc, out, err = cluster.script("\\set VERBOSITY verbose\n" + sql + "\n", db=db, user=user, on_error_stop=True)
    m = re.search(r"ERROR:\s+([0-9A-Z]{5}):", err)
    return m.group(1) if m else None


def img(name):
    return f"pg_read_binary_file('{fixture(name)}')"


def new_db(name):
    cluster.sql(f"CREATE DATABASE {name}")
    cluster.sql("CREATE EXTENSION pg_clip CASCADE", db=name)


def make_table(db, table, n, image_expr=None, extra_cols="", hits=False, sleep_s=0):
    """A scene table with n rows (id 1..n, video_id = id % 4, user_id = 'u' || id % 3) and the two clip columns.
    With hits, a trigger logs every update of the embedding into <table>_hits (id, backend pid), optionally
    sleeping per row to make a run slow."""
    image_expr = image_expr or img(SMALL)
    sql = f"""
        CREATE TABLE {table} (id bigint PRIMARY KEY, video_id bigint, user_id text, thumbnail bytea {extra_cols},
                              embedding_visual_clip vector(512), visual_clip_metadata jsonb);
        INSERT INTO {table} (id, video_id, user_id, thumbnail)
            SELECT g, g % 4, 'u' || (g % 3), {image_expr} FROM generate_series(1, {n}) g;
    """
    if hits:
        sql += f"""
        CREATE TABLE {table}_hits (id bigint, pid int);
        CREATE FUNCTION {table}_hit() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO {table}_hits VALUES (NEW.id, pg_backend_pid());
            PERFORM pg_sleep({sleep_s});
            RETURN NEW;
        END $$;
        CREATE TRIGGER {table}_hit AFTER UPDATE OF embedding_visual_clip ON {table}
            FOR EACH ROW WHEN (NEW.embedding_visual_clip IS NOT NULL) EXECUTE FUNCTION {table}_hit();
        """
    rows(sql, db)


def register(db, name, table, column="thumbnail", user="postgres", **kw):
    args = "".join(f", {k} => {v}" for k, v in kw.items())
    return rows(f"SELECT name, source_kind, key_column FROM clip_register_source('{name}', '{table}', NULL, '{column}'{args})",
                db, user)[0]


def backfill(db, args, prefix=""):
    """clip_backfill(args) -> (processed, succeeded, failed, skipped) summed over the returned rows."""
    r = rows(f"{prefix}SELECT coalesce(sum(processed), 0), coalesce(sum(succeeded), 0), coalesce(sum(failed), 0), "
             f"coalesce(sum(skipped), 0) FROM clip_backfill({args})", db)
    return tuple(int(x) for x in r[-1])


def finish(p, timeout):
    """Ends a cluster.popen() session (communicate() sends the EOF psql waits for) -> (returncode, stderr)."""
    _, err = p.communicate(timeout=timeout)
    return p.returncode, err


def setUpModule():
    global cluster, cron_scheduled_at
    cluster = Cluster(CONF).start()
    cluster.sql(";\n".join(f"CREATE ROLE {r} LOGIN" for r in ROLES))
    # pg_cron's job, started first so that its minute-granular schedule overlaps the other tests.
    cluster.sql("CREATE EXTENSION pg_cron")
    cluster.sql("CREATE EXTENSION pg_clip CASCADE")
    make_table("postgres", "cron_scenes", CRON_ROWS)
    register("postgres", "cron_scenes", "cron_scenes")
    cluster.sql(f"SELECT cron.schedule('clip-backfill', '* * * * *', 'SELECT * FROM clip_backfill({CRON_BATCH})')")
    cron_scheduled_at = time.monotonic()


def tearDownModule():
    cluster.stop()


# ---------------------------------------------------------------------------------------------------------
class RegistrationTest(unittest.TestCase):
    DB = "bf_reg"

    @classmethod
    def setUpClass(cls):
        new_db(cls.DB)
        rows("""
            CREATE DOMAIN meta_domain AS jsonb;
            CREATE TABLE scenes (id bigint PRIMARY KEY, video_id bigint, user_id text, thumbnail bytea,
                                 thumbnail_url varchar(500), frames bytea[], n int,
                                 embedding_visual_clip vector(512), visual_clip_metadata jsonb,
                                 emb2 vector(512), meta2 jsonb, emb3 vector(512), meta3 jsonb,
                                 emb_small vector(3), emb_text text, meta_json json, emb_any vector,
                                 meta_dom meta_domain, nkey bigint UNIQUE);
            CREATE TABLE nokey (id bigint, thumbnail bytea, embedding_visual_clip vector(512), visual_clip_metadata jsonb);
            CREATE TABLE partial_key (id bigint, thumbnail bytea, embedding_visual_clip vector(512), visual_clip_metadata jsonb);
            CREATE UNIQUE INDEX ON partial_key (id) WHERE id > 0;
            CREATE VIEW scenes_v AS SELECT * FROM scenes;
            ALTER TABLE scenes OWNER TO bf_owner;
            GRANT SELECT ON scenes TO bf_writer, bf_reader;
            GRANT UPDATE (embedding_visual_clip, visual_clip_metadata) ON scenes TO bf_writer;
            GRANT UPDATE (embedding_visual_clip) ON scenes TO bf_reader;   -- but not the metadata
            INSERT INTO scenes (id, thumbnail) SELECT g, pg_read_binary_file('%s') FROM generate_series(1, 5) g;
            """ % fixture(SMALL), cls.DB)

    def err(self, sql, user="postgres"):
        return sqlstate(sql, self.DB, user)

    def test_kinds_inferred_and_key_defaulted(self):
        try:
            self.assertEqual(register(self.DB, "k_bytea", "scenes"), ["k_bytea", "bytea", "id"])
            # One source per embedding column.
            self.assertEqual(sqlstate("SELECT clip_register_source('dup', 'scenes', 'id', 'thumbnail_url')", self.DB),
                             "42710")
            self.assertEqual(register(self.DB, "k_url", "scenes", "thumbnail_url", embedding_column="'emb2'",
                                      metadata_column="'meta2'"), ["k_url", "url", "id"])
            self.assertEqual(register(self.DB, "k_frames", "scenes", "frames", embedding_column="'emb3'",
                                      metadata_column="'meta3'", source_kind="'frames'"), ["k_frames", "frames", "id"])
            self.assertEqual(value("SELECT registered_by FROM clip_backfill_sources WHERE name = 'k_url'", self.DB),
                             "postgres")
        finally:
            rows("SELECT clip_unregister_source(name) FROM clip_backfill_sources", self.DB)

    def test_validation_errors(self):
        reg = "SELECT clip_register_source('bad', %s)"
        cases = {
            "42804 vector(3)": reg % "'scenes', 'id', 'thumbnail', embedding_column => 'emb_small'",
            "42804 text embedding": reg % "'scenes', 'id', 'thumbnail', embedding_column => 'emb_text'",
            "42804 json metadata": reg % "'scenes', 'id', 'thumbnail', metadata_column => 'meta_json'",
            "42804 unconstrained vector": reg % "'scenes', 'id', 'thumbnail', embedding_column => 'emb_any'",
            "42804 domain over jsonb": reg % "'scenes', 'id', 'thumbnail', metadata_column => 'meta_dom'",
            "42P10 nullable key": reg % "'scenes', 'nkey', 'thumbnail'",
            "42804 int source": reg % "'scenes', 'id', 'n'",
            "42804 kind vs type": reg % "'scenes', 'id', 'thumbnail', 'url'",
            "22023 unknown kind": reg % "'scenes', 'id', 'thumbnail', 'pdf'",
            "42703 missing source": reg % "'scenes', 'id', 'thumb'",
            "42703 missing embedding": reg % "'scenes', 'id', 'thumbnail', embedding_column => 'nope'",
            "42703 missing filter": reg % "'scenes', 'id', 'thumbnail', video_column => 'video'",
            "42P10 key not unique": reg % "'scenes', 'video_id', 'thumbnail'",
            "42P10 partial unique": reg % "'partial_key', 'id', 'thumbnail'",
            "42P10 no primary key": reg % "'nokey', NULL, 'thumbnail'",
            "42809 view": reg % "'scenes_v', 'id', 'thumbnail'",
            "42P01 no such table": reg % "'no_such_table', 'id', 'thumbnail'",
            "22023 same column twice": reg % "'scenes', 'id', 'thumbnail', metadata_column => 'embedding_visual_clip'",
        }
        for case, sql in cases.items():
            with self.subTest(case):
                self.assertEqual(self.err(sql), case.split()[0])
        self.assertEqual(value("SELECT count(*) FROM clip_backfill_sources", self.DB), "0")

    def test_caller_privileges(self):
        # 0.2.0: a source is registered, run and inspected by its table's owner (or a superuser), and every
        # run and status acts as the owner (docs/security.md). Column grants are not enough any more.
        reg = "SELECT clip_register_source('p', 'scenes', 'id', 'thumbnail')"
        self.assertEqual(self.err(reg, "bf_nobody"), "42501")
        self.assertEqual(self.err(reg, "bf_writer"), "42501")      # SELECT + UPDATE grants, but not the owner
        # Direct DML is held to the same rule (row-level security on the registry).
        self.assertEqual(self.err("INSERT INTO clip_backfill_sources (name, tbl, source_column, source_kind) "
                                  "VALUES ('p', 'scenes', 'thumbnail', 'bytea')", "bf_writer"), "42501")
        self.assertEqual(self.err("INSERT INTO clip_scene_tables (scene_table, key_column) VALUES ('scenes', 'id')",
                                  "bf_writer"), "42501")
        try:
            self.assertEqual(register(self.DB, "p", "scenes", user="bf_owner"), ["p", "bytea", "id"])
            # Only the owner (and superusers) see the registration; nobody else changes or removes it.
            self.assertEqual(value("SELECT registered_by FROM clip_backfill_sources", self.DB, "bf_owner"), "bf_owner")
            self.assertEqual(value("SELECT registered_by FROM clip_backfill_sources", self.DB), "bf_owner")
            self.assertEqual(rows("SELECT * FROM clip_backfill_sources", self.DB, "bf_nobody"), [])
            self.assertEqual(self.err("SELECT clip_register_source('p', 'scenes', 'id', 'thumbnail', enabled => false)",
                                      "bf_writer"), "42501")
            rows("UPDATE clip_backfill_sources SET source_column = 'n'; DELETE FROM clip_backfill_sources", self.DB,
                 "bf_writer")
            self.assertEqual(value("SELECT clip_unregister_source('p')", self.DB, "bf_writer"), "f")
            self.assertEqual(rows("SELECT source_column, enabled FROM clip_backfill_sources", self.DB), [["thumbnail", "t"]])
            self.assertEqual(self.err("UPDATE clip_backfill_sources SET registered_by = 'bf_nobody'", "bf_owner"), "42501")
            # Running it: a role that cannot see it gets "does not exist"; nothing is written.
            self.assertEqual(self.err("SELECT * FROM clip_backfill(5, 'p')", "bf_writer"), "42704")
            self.assertEqual(self.err("SELECT * FROM clip_backfill(5, 'p')", "bf_nobody"), "42704")
            self.assertEqual(value("SELECT count(*) FROM scenes WHERE embedding_visual_clip IS NOT NULL", self.DB), "0")
            # Without a name, a role runs only the sources of tables it owns itself; a superuser too.
            self.assertEqual(rows("SELECT * FROM clip_backfill(5)", self.DB, "bf_writer"), [])
            self.assertEqual(rows("SELECT * FROM clip_backfill(5)", self.DB), [])
            r = rows("SELECT source, processed, succeeded FROM clip_backfill(5)", self.DB, "bf_owner")
            self.assertEqual(r, [["p", "5", "5"]])
            # The owner's status; other roles see no source (a monitoring role gets a wrapper, docs/security.md).
            self.assertEqual(rows("SELECT total_rows, embedded, problem IS NULL FROM clip_backfill_status('p')",
                                  self.DB, "bf_owner"), [["5", "5", "t"]])
            self.assertEqual(self.err("SELECT * FROM clip_backfill_status('p')", "bf_reader"), "42704")
            self.assertEqual(rows("SELECT * FROM clip_backfill_status()", self.DB, "bf_reader"), [])
            # The owner of the table may remove a registration on it.
            self.assertEqual(value("SELECT clip_unregister_source('p')", self.DB, "bf_owner"), "t")
        finally:
            rows("DELETE FROM clip_backfill_sources; UPDATE scenes SET embedding_visual_clip = NULL, "
                 "visual_clip_metadata = NULL", self.DB)

    def test_security_invoker_everywhere(self):
        self.assertEqual(value("""
            SELECT count(*) FROM pg_proc p JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
             WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pg_clip') AND p.prosecdef""", self.DB), "0")
        self.assertEqual(value("SELECT prokind FROM pg_proc WHERE proname = 'clip_backfill_run'", self.DB), "p")

    def test_registry_is_dumped(self):
        try:
            register(self.DB, "dumped", "scenes")
            self.assertIn("clip_backfill_sources", value(
                "SELECT array_agg(c::regclass::text) FROM pg_extension, unnest(extconfig) c WHERE extname = 'pg_clip'",
                self.DB))
            dump = subprocess.run([f"{PG_BIN}/pg_dump", "-h", cluster.base, "-p", str(PORT), "-U", "postgres",
                                   "--data-only", "-d", self.DB], capture_output=True, text=True, check=True).stdout
            self.assertRegex(dump, r"COPY public\.clip_backfill_sources .*\n(.*\n)*dumped\t(public\.)?scenes\tthumbnail\tbytea\t"
                                   r"embedding_visual_clip\t")
            # ... and its column mapping, in the one registry.
            self.assertRegex(dump, r"COPY public\.clip_scene_tables .*\n(.*\n)*(public\.)?scenes\tid\t")
        finally:
            rows("DELETE FROM clip_backfill_sources", self.DB)


# ---------------------------------------------------------------------------------------------------------
class OneRegistryTest(unittest.TestCase):
    """Issue 10 (0.2.0): one registry. A table's column mapping lives in one clip_scene_tables row per
    (table, embedding column), shared by adoption (search) and backfill sources; clip_check_columns is the
    one validation; a row whose every write is suppressed is not claimed again until its source changes."""
    DB = "bf_one"

    @classmethod
    def setUpClass(cls):
        new_db(cls.DB)
        rows("""
            CREATE TABLE one_scenes (id bigint PRIMARY KEY, alt_id bigint NOT NULL UNIQUE, video_id bigint,
                                     user_id text NOT NULL, start_time double precision, end_time double precision,
                                     thumbnail bytea, meta2 jsonb);
            INSERT INTO one_scenes (id, alt_id, video_id, user_id, thumbnail)
                SELECT g, 100 + g, g %% 2, 'u' || (g %% 2), %s FROM generate_series(1, 4) g;
            ALTER TABLE one_scenes OWNER TO bf_owner;
            GRANT SELECT ON one_scenes TO bf_reader;
            """ % img(SMALL), cls.DB)

    def reset(self):
        rows("DELETE FROM clip_backfill_sources; DELETE FROM clip_scene_tables; "
             "ALTER TABLE one_scenes DROP COLUMN IF EXISTS embedding_visual_clip, "
             "DROP COLUMN IF EXISTS visual_clip_metadata", self.DB)

    def registry(self, table, user="postgres"):
        return rows(f"SELECT key_column, tenant_column, video_column, embedding_column, metadata_column, "
                    f"adopted_at IS NOT NULL FROM clip_scene_tables WHERE scene_table = '{table}'::regclass "
                    f"ORDER BY embedding_column", self.DB, user)

    def test_a_source_and_the_adoption_share_one_row(self):
        rows("ALTER TABLE one_scenes ADD COLUMN embedding_visual_clip vector(512), ADD COLUMN visual_clip_metadata jsonb",
             self.DB)
        try:
            register(self.DB, "one", "one_scenes", user="bf_owner", video_column="'video_id'", user_column="'user_id'")
            # A backfill-only row: the mapping of the source, not adopted, so not searched.
            self.assertEqual(self.registry("one_scenes"),
                             [["id", "user_id", "video_id", "embedding_visual_clip", "visual_clip_metadata", "f"]])
            self.assertEqual(sqlstate("SELECT clip_scene_table_config('one_scenes')", self.DB), "55000")
            self.assertEqual(sqlstate("SELECT clip_scene_table_config()", self.DB), "42P01")
            # Only the owner sees a backfill-only row, as it sees the source; a reader of the table does not.
            self.assertEqual(self.registry("one_scenes", "bf_reader"), [])
            # Adoption takes the row over: still one row, now adopted, visible to the table's readers.
            rows("SELECT clip_adopt_scene_table('one_scenes', create_indexes => false)", self.DB, "bf_owner")
            self.assertEqual(self.registry("one_scenes"),
                             [["id", "user_id", "video_id", "embedding_visual_clip", "visual_clip_metadata", "t"]])
            self.assertEqual(len(self.registry("one_scenes", "bf_reader")), 1)
            self.assertEqual(rows("SELECT name, key_column, metadata_column, video_column, user_column "
                                  "FROM clip_backfill_source_config", self.DB),
                             [["one", "id", "visual_clip_metadata", "video_id", "user_id"]])
            # The source runs on the adopted mapping (its filters included).
            self.assertEqual(backfill(self.DB, "10, 'one', user_id => 'u1'"), (2, 2, 0, 0))
            self.assertEqual(backfill(self.DB, "10, 'one'"), (2, 2, 0, 0))
            # Unregistering a source of an adopted table leaves it adopted.
            self.assertEqual(value("SELECT clip_unregister_source('one')", self.DB, "bf_owner"), "t")
            self.assertEqual(len(self.registry("one_scenes")), 1)
        finally:
            self.reset()

    def test_a_registration_agrees_with_the_adopted_mapping(self):
        try:
            rows("SELECT clip_adopt_scene_table('one_scenes', create_indexes => false)", self.DB, "bf_owner")
            reg = "SELECT clip_register_source('two', 'one_scenes', %s, 'thumbnail'%s)"
            for case, sql in {
                "another key": reg % ("'alt_id'", ""),
                "another metadata column": reg % ("NULL", ", metadata_column => 'meta2'"),
                "another video column": reg % ("NULL", ", video_column => 'alt_id'"),
                "another user column": reg % ("NULL", ", user_column => 'video_id'"),
            }.items():
                with self.subTest(case):
                    self.assertEqual(sqlstate(sql, self.DB, "bf_owner"), "22023")
            # Columns left NULL are the adopted table's; the same ones given explicitly agree.
            self.assertEqual(rows("SELECT key_column, video_column, user_column FROM "
                                  "clip_register_source('two', 'one_scenes', 'id', 'thumbnail', user_column => 'user_id')",
                                  self.DB, "bf_owner"), [["id", "video_id", "user_id"]])
            self.assertEqual(len(self.registry("one_scenes")), 1)
        finally:
            self.reset()

    def test_adoption_refuses_a_backfill_mapping_it_cannot_take_over(self):
        rows("ALTER TABLE one_scenes ADD COLUMN embedding_visual_clip vector(512)", self.DB)
        try:
            register(self.DB, "three", "one_scenes", user="bf_owner", metadata_column="'meta2'")
            self.assertEqual(sqlstate("SELECT clip_adopt_scene_table('one_scenes', create_indexes => false)", self.DB,
                                      "bf_owner"), "22023")
            self.assertEqual(self.registry("one_scenes"),
                             [["id", "", "", "embedding_visual_clip", "meta2", "f"]])
            # Unregistering the only source of a backfill-only row removes the row: nothing is left behind.
            self.assertEqual(value("SELECT clip_unregister_source('three')", self.DB, "bf_owner"), "t")
            self.assertEqual(self.registry("one_scenes"), [])
        finally:
            self.reset()

    def test_one_validation_for_adoption_and_registration(self):
        # The same checks, the same SQLSTATEs, whether a table is adopted or registered.
        rows("""
            CREATE TABLE dup_key (id bigint, user_id text, thumbnail bytea, embedding_visual_clip vector(512),
                                  visual_clip_metadata jsonb);
            CREATE TABLE null_key (id bigint UNIQUE, user_id text, thumbnail bytea, embedding_visual_clip vector(512),
                                   visual_clip_metadata jsonb);
            CREATE TABLE any_vec (id bigint PRIMARY KEY, user_id text, thumbnail bytea, embedding_visual_clip vector,
                                  visual_clip_metadata jsonb);
            """, self.DB)
        try:
            adopt = ("SELECT clip_adopt_scene_table('%s', id_column => 'id', video_column => NULL, start_column => NULL, "
                     "end_column => NULL, create_indexes => false)")
            reg = "SELECT clip_register_source('v', '%s', 'id', 'thumbnail')"
            for table, code in (("dup_key", "42P10"), ("null_key", "42P10"), ("any_vec", "42804")):
                with self.subTest(table):
                    self.assertEqual(sqlstate(adopt % table, self.DB), code)
                    self.assertEqual(sqlstate(reg % table, self.DB), code)
            self.assertEqual(value("SELECT count(*) FROM clip_scene_tables", self.DB), "0")
        finally:
            rows("DROP TABLE dup_key, null_key, any_vec", self.DB)

    def test_deleting_the_registry_row_removes_its_source(self):
        rows("ALTER TABLE one_scenes ADD COLUMN embedding_visual_clip vector(512), ADD COLUMN visual_clip_metadata jsonb",
             self.DB)
        try:
            register(self.DB, "four", "one_scenes", user="bf_owner")
            rows("DELETE FROM clip_scene_tables WHERE scene_table = 'one_scenes'::regclass", self.DB, "bf_owner")
            self.assertEqual(value("SELECT count(*) FROM clip_backfill_sources", self.DB), "0")
        finally:
            self.reset()

    def test_suppressed_rows_wait_for_a_changed_source(self):
        rows(f"""
            CREATE TABLE supp (id bigint PRIMARY KEY, thumbnail bytea, embedding_visual_clip vector(512),
                               visual_clip_metadata jsonb);
            INSERT INTO supp (id, thumbnail) SELECT g, {img(SMALL)} FROM generate_series(1, 3) g;
            -- The application lets nothing of pg_clip's through, neither the embedding nor the failure record.
            CREATE FUNCTION supp_refuse() RETURNS trigger LANGUAGE plpgsql AS $r$ BEGIN RETURN NULL; END $r$;
            CREATE TRIGGER supp_refuse BEFORE UPDATE ON supp FOR EACH ROW
                WHEN (NEW.embedding_visual_clip IS DISTINCT FROM OLD.embedding_visual_clip
                      OR NEW.visual_clip_metadata IS DISTINCT FROM OLD.visual_clip_metadata)
                EXECUTE FUNCTION supp_refuse();
            SELECT clip_register_source('supp', 'supp', NULL, 'thumbnail');
            """, self.DB)
        try:
            self.assertEqual(backfill(self.DB, "10, 'supp'"), (3, 0, 3, 0))
            self.assertEqual(value("SELECT suppressed FROM clip_backfill_runs WHERE source = 'supp'", self.DB), "3")
            # Not claimed again (nor counted by a dry run), not pending, counted suppressed.
            self.assertEqual(backfill(self.DB, "10, 'supp'"), (0, 0, 0, 0))
            self.assertEqual(backfill(self.DB, "NULL, 'supp', dry_run => true"), (0, 0, 0, 0))
            self.assertEqual(rows("SELECT pending, suppressed FROM clip_backfill_status('supp')", self.DB), [["0", "3"]])
            # A changed source is tried again (once).
            rows(f"UPDATE supp SET thumbnail = {img(GOOD[1])} WHERE id = 2", self.DB)
            self.assertEqual(rows("SELECT pending, suppressed FROM clip_backfill_status('supp')", self.DB), [["1", "2"]])
            self.assertEqual(backfill(self.DB, "10, 'supp'"), (1, 0, 1, 0))
            self.assertEqual(backfill(self.DB, "10, 'supp'"), (0, 0, 0, 0))
            # force tries every row again, once per forced run.
            self.assertEqual(backfill(self.DB, "10, 'supp', force => true"), (3, 0, 3, 0))
            self.assertEqual(rows("BEGIN; SELECT processed FROM clip_backfill(10, 'supp', force => true); "
                                  "SELECT processed FROM clip_backfill(10, 'supp', force => true); COMMIT", self.DB),
                             [["3"], ["0"]])
            # Once writes are let through, the rows are embedded and forgotten.
            rows("DROP TRIGGER supp_refuse ON supp", self.DB)
            self.assertEqual(backfill(self.DB, "10, 'supp', force => true"), (3, 3, 0, 0))
            self.assertEqual(value("SELECT count(*) FROM clip_backfill_suppressed", self.DB), "0")
            self.assertEqual(rows("SELECT pending, suppressed, embedded FROM clip_backfill_status('supp')", self.DB),
                             [["0", "0", "3"]])
            # Re-registering forgets what was suppressed.
            rows("INSERT INTO clip_backfill_suppressed VALUES ('supp', '1', 'x')", self.DB)
            register(self.DB, "supp", "supp")
            self.assertEqual(value("SELECT count(*) FROM clip_backfill_suppressed", self.DB), "0")
        finally:
            rows("SELECT clip_unregister_source('supp'); DROP TABLE supp; DROP FUNCTION supp_refuse()", self.DB)


# ---------------------------------------------------------------------------------------------------------
class BackfillTest(unittest.TestCase):
    DB = "bf_fill"

    @classmethod
    def setUpClass(cls):
        new_db(cls.DB)
        cls.sha = value("SELECT clip_image_model_identity()->>'sha256'", cls.DB)

    def mixed_table(self, table, n_good=20):
        """n_good good images (cycling through GOOD), then one row per BAD file, then a row without thumbnail."""
        good = ", ".join(img(g) for g in GOOD)
        make_table(self.DB, table, n_good, image_expr=f"(ARRAY[{good}])[1 + g % {len(GOOD)}]", hits=True)
        bad = list(BAD)
        rows(f"INSERT INTO {table} (id, video_id, user_id, thumbnail) VALUES "
             + ", ".join(f"({100 + i}, 0, 'u0', {img(b)})" for i, b in enumerate(bad))
             + f", (200, 0, 'u0', NULL)", self.DB)
        register(self.DB, table, table, video_column="'video_id'", user_column="'user_id'")

    def snapshot(self, table):
        return value(f"SELECT md5(string_agg(t::text, ',' ORDER BY id)) || (SELECT count(*) FROM clip_backfill_runs) "
                     f"FROM {table} t", self.DB)

    def test_fill_metadata_and_failures(self):
        t = "mixed"
        self.mixed_table(t)
        before = self.snapshot(t)
        # Dry run: counts what a run would take, writes and locks nothing.
        self.assertEqual(backfill(self.DB, f"10, '{t}', dry_run => true"), (10, 0, 0, 10))
        self.assertEqual(backfill(self.DB, f"NULL, '{t}', dry_run => true"), (23, 0, 0, 23))
        self.assertEqual(self.snapshot(t), before)

        # One batch over everything: good rows commit next to the bad ones.
        self.assertEqual(backfill(self.DB, f"100, '{t}'"), (23, 20, 3, 0))
        self.assertEqual(value(f"SELECT count(*) FROM {t} WHERE embedding_visual_clip IS NOT NULL", self.DB), "20")
        meta = dict(rows(f"""
            SELECT k, v FROM {t}, jsonb_each_text(visual_clip_metadata) e(k, v) WHERE id = 1""", self.DB))
        self.assertEqual(meta["status"], "ok")
        self.assertEqual(meta["model_sha256"], self.sha)
        self.assertEqual(meta["model"], value("SELECT clip_image_model_identity()->>'name'", self.DB))
        for key in ("pretrained", "preprocess_version", "generated_at", "inference_time_ms"):
            self.assertIn(key, meta)
        self.assertGreater(float(meta["inference_time_ms"]), 0)
        self.assertEqual((meta["frame_strategy"], meta["frame_count"], meta["attempts"]), ("single", "1", "1"))
        # The stored vector is what clip_embed_image gives for the thumbnail.
        self.assertEqual(value(f"SELECT max(embedding_visual_clip <-> clip_embed_image(thumbnail)) < 1e-5 FROM {t} "
                               f"WHERE embedding_visual_clip IS NOT NULL", self.DB), "t")
        # Bad rows: NULL embedding (no sentinel), the error, attempt 1, a retry one base delay (60 s) later.
        bad = rows(f"""
            SELECT id, visual_clip_metadata->>'status', visual_clip_metadata->>'error_sqlstate',
                   visual_clip_metadata->>'attempts',
                   round(extract(epoch FROM (visual_clip_metadata->>'next_retry_at')::timestamptz
                                         - (visual_clip_metadata->>'failed_at')::timestamptz))
              FROM {t} WHERE id >= 100 AND id < 200 ORDER BY id""", self.DB)
        self.assertEqual(bad, [[str(100 + i), "failed", code, "1", "60"] for i, code in enumerate(BAD.values())])
        self.assertEqual(value(f"SELECT count(*) FROM {t} WHERE embedding_visual_clip IS NOT NULL "
                               f"AND visual_clip_metadata->>'status' <> 'ok'", self.DB), "0")
        self.assertEqual(value(f"SELECT visual_clip_metadata IS NULL FROM {t} WHERE id = 200", self.DB), "t")

        # Backoff: nothing is due yet.
        self.assertEqual(backfill(self.DB, f"100, '{t}'"), (0, 0, 0, 0))
        # A minute later (moved by hand) they are due; with no further delay the next retry is due at once;
        # max 3 attempts, then left alone for good.
        rows(f"UPDATE {t} SET visual_clip_metadata = jsonb_set(visual_clip_metadata, '{{next_retry_at}}', "
             f"to_jsonb(now() - interval '1 s')) WHERE id >= 100 AND id < 200", self.DB)
        settings = "SET clip.backfill_retry_base_s = 0; SET clip.backfill_max_attempts = 3;\n"
        self.assertEqual(backfill(self.DB, f"100, '{t}'", settings), (3, 0, 3, 0))
        self.assertEqual(backfill(self.DB, f"100, '{t}'", settings), (3, 0, 3, 0))
        final = rows(f"""SELECT DISTINCT visual_clip_metadata->>'status', visual_clip_metadata->>'attempts',
                                visual_clip_metadata->'next_retry_at' FROM {t} WHERE id >= 100 AND id < 200""", self.DB)
        self.assertEqual(final, [["failed_permanently", "3", "null"]])
        frozen = self.snapshot(t)
        self.assertEqual(backfill(self.DB, f"100, '{t}'", settings), (0, 0, 0, 0))
        self.assertEqual(self.snapshot(t), frozen)
        # Every good row was embedded exactly once.
        self.assertEqual(rows(f"SELECT count(*), count(DISTINCT id) FROM {t}_hits", self.DB), [["20", "20"]])

        st = dict(zip(
            ["total_rows", "embedded", "up_to_date", "stale", "pending", "failed_permanently", "no_source", "failures"],
            rows(f"SELECT total_rows, embedded, up_to_date, stale, pending, failed_permanently, no_source, failures "
                 f"FROM clip_backfill_status('{t}')", self.DB)[0]))
        self.assertEqual([st[k] for k in ("total_rows", "embedded", "up_to_date", "stale", "pending",
                                          "failed_permanently", "no_source")], ["24", "20", "20", "0", "0", "3", "1"])
        for code in BAD.values():
            self.assertIn(f'"{code}": {{"rows": 1', st["failures"])

    def test_filters(self):
        t = "filtered"
        make_table(self.DB, t, 24)
        register(self.DB, t, t, video_column="'video_id'", user_column="'user_id'")
        self.assertEqual(backfill(self.DB, f"100, '{t}', video_id => '1'"), (6, 6, 0, 0))
        self.assertEqual(value(f"SELECT string_agg(DISTINCT video_id::text, ',') FROM {t} "
                               f"WHERE embedding_visual_clip IS NOT NULL", self.DB), "1")
        self.assertEqual(backfill(self.DB, f"100, '{t}', user_id => 'u2'"), (6, 6, 0, 0))     # u2 outside video 1
        self.assertEqual(backfill(self.DB, f"100, '{t}', video_id => '2', user_id => 'u0', dry_run => true"), (2, 0, 0, 2))
        self.assertEqual(value(f"SELECT count(*) FROM {t} WHERE embedding_visual_clip IS NOT NULL", self.DB), "12")
        # A filter the source cannot apply is an error for a named source.
        rows(f"CREATE TABLE {t}2 (id int PRIMARY KEY, thumbnail bytea, embedding_visual_clip vector(512), "
             f"visual_clip_metadata jsonb)", self.DB)
        register(self.DB, f"{t}2", f"{t}2")
        self.assertEqual(sqlstate(f"SELECT * FROM clip_backfill(10, '{t}2', video_id => '1')", self.DB), "22023")
        self.assertEqual(sqlstate("SELECT * FROM clip_backfill(0)", self.DB), "22023")
        self.assertEqual(sqlstate("SELECT * FROM clip_backfill(10, 'no_such_source')", self.DB), "42704")

    def test_force_and_stale_model(self):
        t = "regen"
        make_table(self.DB, t, 30, hits=True)
        register(self.DB, t, t)
        self.assertEqual(backfill(self.DB, f"100, '{t}'"), (30, 30, 0, 0))
        self.assertEqual(backfill(self.DB, f"100, '{t}'"), (0, 0, 0, 0))
        gen1 = value(f"SELECT max(visual_clip_metadata->>'generated_at') FROM {t}", self.DB)

        # force: each row regenerated exactly once by the procedure (rows it has done are not redone).
        rc, out, err = cluster.script(f"CALL clip_backfill_run(batch => 7, source => '{t}', force => true);", db=self.DB)
        self.assertEqual(rc, 0, err)
        self.assertIn("clip_backfill_run: done: 30 rows (30 embedded, 0 failed) in 5 batches", err)
        self.assertEqual(rows(f"SELECT count(*), count(DISTINCT id) FROM {t}_hits", self.DB), [["60", "30"]])
        self.assertEqual(value(f"SELECT count(*) FROM {t} WHERE visual_clip_metadata->>'generated_at' <= '{gen1}'",
                               self.DB), "0")
        # In one transaction, force does not redo what the same transaction did.
        self.assertEqual(backfill(self.DB, f"100, '{t}', force => true",
                                  "BEGIN; SELECT * FROM clip_backfill(100, 'regen', force => true);\n")[0], 0)

        # Another model: every row is stale, the status says so, and a run re-embeds them with it.
        swap = f"SET clip.image_model = '{HF_MODEL}';\n"
        hf_sha = value(swap + "SELECT clip_image_model_identity()->>'sha256'", self.DB)
        self.assertNotEqual(hf_sha, self.sha)
        self.assertEqual(rows(swap + f"SELECT up_to_date, stale, pending FROM clip_backfill_status('{t}')", self.DB),
                         [["0", "30", "0"]])
        self.assertEqual(rows(f"SELECT up_to_date, stale FROM clip_backfill_status('{t}')", self.DB), [["30", "0"]])
        self.assertEqual(backfill(self.DB, f"NULL, '{t}', dry_run => true", swap), (30, 0, 0, 30))
        self.assertEqual(backfill(self.DB, f"20, '{t}'", swap), (20, 20, 0, 0))
        self.assertEqual(value(swap + f"SELECT stale FROM clip_backfill_status('{t}')", self.DB), "10")
        self.assertEqual(backfill(self.DB, f"20, '{t}'", swap), (10, 10, 0, 0))
        self.assertEqual(rows(f"SELECT DISTINCT visual_clip_metadata->>'model_sha256' FROM {t}", self.DB), [[hf_sha]])
        self.assertEqual(value(f"SELECT regenerated FROM clip_backfill_runs WHERE source = '{t}' ORDER BY id DESC LIMIT 1",
                               self.DB), "10")
        self.assertEqual(value(swap + f"SELECT count(*) FROM {t} "
                               f"WHERE embedding_visual_clip <-> clip_embed_image(thumbnail) < 1e-5", self.DB), "30")

    def test_missing_or_broken_model_fails_fast(self):
        t = "nomodel"
        make_table(self.DB, t, 10)
        register(self.DB, t, t)
        runs = value("SELECT count(*) FROM clip_backfill_runs", self.DB)
        for setting, code in (("pg_clip/does-not-exist.onnx", "58P01"), (f"pg_clip/fixtures/{SMALL}", "F0000")):
            with self.subTest(setting):
                swap = f"SET clip.image_model = '{setting}';\n"
                self.assertEqual(sqlstate(swap + f"SELECT * FROM clip_backfill(10, '{t}')", self.DB), code)
                self.assertEqual(sqlstate(swap + f"SELECT * FROM clip_backfill(10)", self.DB), code)
                self.assertEqual(sqlstate(swap + f"CALL clip_backfill_run(5, source => '{t}')", self.DB), code)
                self.assertEqual(value(f"SELECT count(*) FROM {t} WHERE visual_clip_metadata IS NOT NULL "
                                       f"OR embedding_visual_clip IS NOT NULL", self.DB), "0")
                # The status still answers, and says why the model-dependent numbers are missing.
                st = rows(swap + f"SELECT total_rows, pending, stale IS NULL, problem FROM clip_backfill_status('{t}')",
                          self.DB)[0]
                self.assertEqual(st[:3], ["10", "10", "t"])
                self.assertIn("image model unavailable", st[3])
        self.assertEqual(value("SELECT count(*) FROM clip_backfill_runs", self.DB), runs)
        self.assertEqual(backfill(self.DB, f"10, '{t}'"), (10, 10, 0, 0))


# ---------------------------------------------------------------------------------------------------------
class ResumeAndConcurrencyTest(unittest.TestCase):
    DB = "bf_conc"

    @classmethod
    def setUpClass(cls):
        new_db(cls.DB)

    def test_cancel_mid_run_loses_nothing_and_repeats_nothing(self):
        t = "resume"
        make_table(self.DB, t, 400, hits=True, sleep_s=0.01)     # >= 4 s for the whole run
        register(self.DB, t, t)
        p = cluster.popen(f"CALL clip_backfill_run(batch => 10, source => '{t}');", db=self.DB)
        deadline = time.monotonic() + 60
        done = 0
        while time.monotonic() < deadline and done < 50:
            time.sleep(0.1)
            done = int(value(f"SELECT count(*) FROM {t} WHERE embedding_visual_clip IS NOT NULL", self.DB))
        self.assertTrue(rows(f"SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE datname = '{self.DB}' "
                             f"AND query LIKE 'CALL clip_backfill_run%'", self.DB))
        _, err = finish(p, 60)
        self.assertIn("canceling statement due to user request", err)
        committed = int(value(f"SELECT count(*) FROM {t} WHERE embedding_visual_clip IS NOT NULL", self.DB))
        self.assertGreaterEqual(committed, 50)
        self.assertLess(committed, 400)
        self.assertEqual(value(f"SELECT count(*) FROM {t} WHERE embedding_visual_clip IS NOT NULL "
                               f"AND visual_clip_metadata->>'status' = 'ok'", self.DB), str(committed))
        self.assertEqual(rows(f"SELECT count(*), count(DISTINCT id) FROM {t}_hits", self.DB), [[str(committed)] * 2])
        # Resume: the rest, and nothing twice.
        rc, _, err = cluster.script(f"CALL clip_backfill_run(batch => 50, source => '{t}');", db=self.DB)
        self.assertEqual(rc, 0, err)
        self.assertIn(f"clip_backfill_run: {400 - committed} rows to process", err)
        self.assertEqual(rows(f"SELECT count(*), count(DISTINCT id) FROM {t}_hits", self.DB), [["400", "400"]])
        self.assertEqual(value(f"SELECT count(*) FROM {t} WHERE embedding_visual_clip IS NULL", self.DB), "0")

    def test_eight_concurrent_callers_embed_every_row_once(self):
        t = "conc"
        make_table(self.DB, t, 2000, hits=True)
        register(self.DB, t, t)
        procs = [cluster.popen(f"CALL clip_backfill_run(batch => 25, source => '{t}', progress_every_s => 3600);",
                               db=self.DB) for _ in range(8)]
        for p in procs:
            rc, err = finish(p, 300)
            self.assertEqual(rc, 0, err)
            self.assertNotIn("ERROR", err)
        self.assertEqual(value(f"SELECT count(*) FROM {t} WHERE embedding_visual_clip IS NOT NULL", self.DB), "2000")
        n, distinct, max_per_row, sessions = rows(
            f"SELECT count(*), count(DISTINCT id), (SELECT max(c) FROM (SELECT count(*) c FROM {t}_hits GROUP BY id) x), "
            f"count(DISTINCT pid) FROM {t}_hits", self.DB)[0]
        self.assertEqual((n, distinct, max_per_row), ("2000", "2000", "1"))
        self.assertGreater(int(sessions), 1, "the callers did not actually run concurrently")
        self.assertEqual(value(f"SELECT sum(processed) FROM clip_backfill_runs WHERE source = '{t}'", self.DB), "2000")


# ---------------------------------------------------------------------------------------------------------
class FramesTest(unittest.TestCase):
    DB = "bf_frames"

    def test_mean_pooled_frames(self):
        new_db(self.DB)
        g = [img(x) for x in GOOD]
        rows(f"""
            CREATE TABLE shots (id int PRIMARY KEY, frames bytea[], embedding_visual_clip vector(512),
                                visual_clip_metadata jsonb);
            INSERT INTO shots VALUES
                (1, ARRAY[{g[0]}, {g[1]}, {g[2]}]),
                (2, ARRAY[{g[3]}]),
                (3, ARRAY[{g[1]}, NULL, {g[4]}]),
                (4, ARRAY[{g[0]}, {img('malformed/not-an-image.txt')}]),
                (5, '{{}}'),
                (6, NULL);
            """, self.DB)
        self.assertEqual(register(self.DB, "shots", "shots", "frames"), ["shots", "frames", "id"])
        self.assertEqual(backfill(self.DB, "10, 'shots'"), (4, 3, 1, 0))
        got = rows("""
            SELECT id, visual_clip_metadata->>'frame_strategy', visual_clip_metadata->>'frame_count',
                   embedding_visual_clip <-> (SELECT l2_normalize(sum(clip_embed_image(f))) FROM unnest(frames) f
                                               WHERE f IS NOT NULL) < 1e-4,
                   round(vector_norm(embedding_visual_clip)::numeric, 4)
              FROM shots WHERE embedding_visual_clip IS NOT NULL ORDER BY id""", self.DB)
        self.assertEqual(got, [["1", "mean", "3", "t", "1.0000"], ["2", "mean", "1", "t", "1.0000"],
                               ["3", "mean", "2", "t", "1.0000"]])
        self.assertEqual(rows("SELECT visual_clip_metadata->>'status', visual_clip_metadata->>'error_sqlstate', "
                              "embedding_visual_clip IS NULL FROM shots WHERE id = 4", self.DB), [["failed", "22P03", "t"]])
        self.assertEqual(value("SELECT count(*) FROM shots WHERE id IN (5, 6) AND visual_clip_metadata IS NULL", self.DB), "2")
        self.assertEqual(rows("SELECT no_source, embedded, failed_retrying FROM clip_backfill_status('shots')", self.DB),
                         [["2", "3", "1"]])


# ---------------------------------------------------------------------------------------------------------
class _Images(http.server.BaseHTTPRequestHandler):
    hits = {}

    def do_GET(self):
        _Images.hits[self.path] = _Images.hits.get(self.path, 0) + 1
        # /img/<file> answers with cache validators, as object stores do; /plain/<file> without any.
        prefix = next((p for p in ("/img/", "/plain/") if self.path.startswith(p)), None)
        if prefix:
            with open(fixture(self.path[len(prefix):]), "rb") as f:
                body = f.read()
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(body)))
            if prefix == "/img/":
                self.send_header("ETag", '"%s"' % hashlib.md5(body).hexdigest())
                self.send_header("Last-Modified", "Tue, 01 Dec 2026 10:00:00 GMT")
            self.end_headers()
            self.wfile.write(body)
        else:
            self.send_error(404 if self.path == "/missing.jpg" else 500)

    def log_message(self, *args):
        pass


class UrlSourceTest(unittest.TestCase):
    DB = "bf_url"

    def setUp(self):
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Images)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"

    def tearDown(self):
        self.server.shutdown()
        self.server.server_close()

    def test_http_failures_recorded_and_retried_per_policy(self):
        new_db(self.DB)
        urls = [f"{self.base}/img/{GOOD[0]}", f"{self.base}/plain/{GOOD[1]}", f"{self.base}/missing.jpg",
                f"{self.base}/boom.jpg", f"{self.base}/img/malformed/not-an-image.txt"]
        rows("CREATE TABLE remote (id int PRIMARY KEY, thumbnail_url text, embedding_visual_clip vector(512), "
             "visual_clip_metadata jsonb);\n"
             "INSERT INTO remote VALUES " + ", ".join(f"({i + 1}, '{u}')" for i, u in enumerate(urls)), self.DB)
        self.assertEqual(register(self.DB, "remote", "remote", "thumbnail_url"), ["remote", "url", "id"])
        policy = "SET clip.backfill_max_attempts = 2; SET clip.backfill_retry_base_s = 3600;\n"

        self.assertEqual(backfill(self.DB, "10, 'remote'", policy), (5, 2, 3, 0))
        ok = rows("SELECT id, (visual_clip_metadata->>'fetch_ms')::numeric > 0, embedding_visual_clip <-> "
                  f"clip_embed_image(CASE id WHEN 1 THEN {img(GOOD[0])} ELSE {img(GOOD[1])} END) < 1e-5 "
                  "FROM remote WHERE embedding_visual_clip IS NOT NULL ORDER BY id", self.DB)
        self.assertEqual(ok, [["1", "t", "t"], ["2", "t", "t"]])
        # What was embedded: the body's sha256, and the response's validators where it sent them.
        with open(fixture(GOOD[0]), "rb") as f:
            body0 = f.read()
        with open(fixture(GOOD[1]), "rb") as f:
            body1 = f.read()
        versions = rows("SELECT id, visual_clip_metadata->>'source_sha256', visual_clip_metadata->>'etag', "
                        "visual_clip_metadata->>'last_modified', visual_clip_metadata ? 'etag' "
                        "FROM remote WHERE embedding_visual_clip IS NOT NULL ORDER BY id", self.DB)
        self.assertEqual(versions, [
            ["1", hashlib.sha256(body0).hexdigest(), '"%s"' % hashlib.md5(body0).hexdigest(),
             "Tue, 01 Dec 2026 10:00:00 GMT", "t"],
            ["2", hashlib.sha256(body1).hexdigest(), "", "", "f"]])
        failed = {r[0]: r[1:] for r in rows("""
            SELECT id, visual_clip_metadata->>'stage', visual_clip_metadata->>'error_sqlstate',
                   visual_clip_metadata->>'error_message', visual_clip_metadata->>'attempts',
                   round(extract(epoch FROM (visual_clip_metadata->>'next_retry_at')::timestamptz - now()) / 60)
              FROM remote WHERE embedding_visual_clip IS NULL ORDER BY id""", self.DB)}
        self.assertEqual(failed["3"][0], "fetch")
        self.assertRegex(failed["3"][1], r"^[0-9A-Z]{5}$")
        self.assertIn("404", failed["3"][2])
        self.assertIn("500", failed["4"][2])
        self.assertEqual(failed["5"][:2], ["embed", "22P03"])
        for r in failed.values():
            self.assertEqual(r[3:], ["1", "60"])          # first attempt; retry in base = 3600 s

        # Backoff: not retried before next_retry_at (no request reaches the server).
        self.assertEqual(backfill(self.DB, "10, 'remote'", policy), (0, 0, 0, 0))
        self.assertEqual(_Images.hits["/missing.jpg"], 1)
        # Due now: retried, and with max_attempts = 2 that was the last attempt.
        now = "SET clip.backfill_max_attempts = 2; SET clip.backfill_retry_base_s = 0;\n"
        rows("UPDATE remote SET visual_clip_metadata = jsonb_set(visual_clip_metadata, '{next_retry_at}', "
             "to_jsonb(now() - interval '1 s')) WHERE embedding_visual_clip IS NULL", self.DB)
        self.assertEqual(backfill(self.DB, "10, 'remote'", now), (3, 0, 3, 0))
        self.assertEqual((_Images.hits["/missing.jpg"], _Images.hits["/boom.jpg"]), (2, 2))
        self.assertEqual(rows("SELECT DISTINCT visual_clip_metadata->>'status', visual_clip_metadata->>'attempts', "
                              "visual_clip_metadata->'next_retry_at' FROM remote WHERE embedding_visual_clip IS NULL",
                              self.DB), [["failed_permanently", "2", "null"]])
        self.assertEqual(backfill(self.DB, "10, 'remote'", now), (0, 0, 0, 0))
        self.assertEqual(_Images.hits["/missing.jpg"], 2)


# ---------------------------------------------------------------------------------------------------------
class StatusTest(unittest.TestCase):
    DB = "bf_status"

    def test_status_counts_on_100k_rows(self):
        new_db(self.DB)
        sha = value("SELECT clip_image_model_identity()->>'sha256'", self.DB)
        pv = value("SELECT clip_image_model_identity()->'preprocess_version'", self.DB)
        # id % 100: 0 no thumbnail; 1-14 current model; 15-19 another model; 20-21 embedded, no metadata;
        # 22-23 failed, retry due; 24 failed, retry later; 25 failed for good; 26-99 never tried.
        rows(f"""
            CREATE TABLE big (id bigint PRIMARY KEY, thumbnail bytea, embedding_visual_clip vector(512),
                              visual_clip_metadata jsonb);
            INSERT INTO big
            SELECT g, CASE WHEN g % 100 = 0 THEN NULL ELSE '\\x00'::bytea END,
                   CASE WHEN g % 100 BETWEEN 1 AND 21 THEN array_fill(0.0441941738, ARRAY[512])::vector END,
                   CASE WHEN g % 100 BETWEEN 1 AND 14 THEN jsonb_build_object('status', 'ok', 'model_sha256', '{sha}',
                                'preprocess_version', '{pv}'::jsonb, 'inference_time_ms', 2 + g % 2)
                        WHEN g % 100 BETWEEN 15 AND 19 THEN jsonb_build_object('status', 'ok', 'model_sha256', 'old',
                                'preprocess_version', '{pv}'::jsonb, 'inference_time_ms', 2 + g % 2)
                        WHEN g % 100 IN (22, 23) THEN jsonb_build_object('status', 'failed', 'error_sqlstate', '22P03',
                                'error_message', 'bad', 'attempts', 1, 'next_retry_at', now() - interval '1 min')
                        WHEN g % 100 = 24 THEN jsonb_build_object('status', 'failed', 'error_sqlstate', '08000',
                                'error_message', 'HTTP 404', 'attempts', 1, 'next_retry_at', now() + interval '1 h')
                        WHEN g % 100 = 25 THEN jsonb_build_object('status', 'failed_permanently',
                                'error_sqlstate', '22P03', 'error_message', 'bad', 'attempts', 5)
                   END
              FROM generate_series(1, 100000) g;
            CREATE INDEX ON big USING gin (visual_clip_metadata);
            ANALYZE big;
            """, self.DB)
        register(self.DB, "big", "big")
        started = time.monotonic()
        st = rows("""
            SELECT total_rows, embedded, up_to_date, stale, without_embedding, pending, failed_retrying,
                   failed_permanently, no_source, coverage_pct, avg_inference_ms, failures,
                   pg_typeof(total_rows), pg_typeof(pending)
              FROM clip_backfill_status('big')""", self.DB)[0]
        elapsed = time.monotonic() - started
        self.assertEqual(st[:11], ["100000", "21000", "14000", "7000", "79000", "76000", "3000", "1000", "1000",
                                   "21.00", "2.526"])
        self.assertIn('"08000": {"rows": 1000', st[11])
        self.assertIn('"22P03": {"rows": 3000', st[11])
        self.assertEqual(st[12:], ["bigint", "bigint"])
        self.assertLess(elapsed, 30)
        # The claim predicates agree with the status: a full run would take the pending and the stale rows.
        self.assertEqual(backfill(self.DB, "NULL, 'big', dry_run => true"), (83000, 0, 0, 83000))


# ---------------------------------------------------------------------------------------------------------
class ZzPgCronTest(unittest.TestCase):
    """Runs last (name order): the job was scheduled in setUpModule."""

    def test_scheduled_runs_fill_the_table(self):
        self.assertEqual(value("SELECT extversion FROM pg_extension WHERE extname = 'pg_cron'"), "1.4-1")
        # Two runs of a minute-granular schedule need up to ~2 min; the bound leaves a busy box a minute more.
        deadline = cron_scheduled_at + 200
        done = 0
        while time.monotonic() < deadline:
            done = int(value("SELECT count(*) FROM cron_scenes WHERE embedding_visual_clip IS NOT NULL"))
            if done == CRON_ROWS:
                break
            time.sleep(2)
        details = rows("SELECT status, return_message FROM cron.job_run_details "
                       "WHERE status NOT IN ('starting', 'running') ORDER BY runid")
        self.assertEqual(done, CRON_ROWS, f"cron runs: {details}\n{cluster.log()[-3000:]}")
        self.assertGreaterEqual(len(details), 2)
        self.assertEqual({d[0] for d in details}, {"succeeded"}, details)
        runs = rows("SELECT processed, run_by FROM clip_backfill_runs WHERE source = 'cron_scenes' ORDER BY id")
        self.assertEqual(runs, [[str(CRON_BATCH), "postgres"], [str(CRON_ROWS - CRON_BATCH), "postgres"]])
        self.assertEqual(value("SELECT cron.unschedule('clip-backfill')"), "t")


if __name__ == "__main__":
    unittest.main()
