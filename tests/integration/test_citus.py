"""pg_clip on a real Citus cluster (coordinator + 2 workers on localhost, tests/integration/citus_cluster.py):
the distributed backfill runs on the workers and gives the single-node vectors; a killed worker backend and a
worker node that is down lose only their uncommitted batch, and the work resumes; a tenant's search is a router
query to its shard and returns what one node returns; tenant isolation through the coordinator.

Citus comes from scripts/citus-setup.sh (built from ../shared/vendor when Citus is not installed). When it
cannot be installed the test says so loudly: it is skipped only when the vendored tarball is absent.

    cd tests/integration && python3 -m unittest -v test_citus
"""

import json
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from citus_cluster import CitusCluster, citus_installed  # noqa: E402
from pgcluster import share_dir  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENDOR = os.path.join(os.path.dirname(ROOT), "shared", "vendor", "citus-13.2.2.tar.gz")
CLUSTER = None
SKIP = None

IMAGES = ["cat.bmp", "chelsea-rgb.png", "coffee-progressive.jpg", "astronaut-baseline.jpg", "rocket-lossy.webp",
          "camera-gray.jpg", "coins-gray.png", "hubble-wide-1200x150.jpg", "rocket-portrait.jpg", "coffee-rgba.png",
          "astronaut-palette.png", "cat-exif-rot6.jpg"]
TENANTS = 6


def loud(msg):
    bar = "!" * 100
    print(f"\n{bar}\n!! test_citus: {msg}\n{bar}", file=sys.stderr, flush=True)


def setUpModule():
    global CLUSTER, SKIP
    if not citus_installed():
        if os.environ.get("CITUS_SRC") is None and not os.path.exists(VENDOR):
            SKIP = f"Citus is not installed and there is no Citus source tarball at {VENDOR} (or CITUS_SRC)"
            loud("DID NOT RUN: " + SKIP)
            return
        p = subprocess.run(["bash", os.path.join(ROOT, "scripts", "citus-setup.sh")], capture_output=True, text=True)
        if p.returncode != 0:
            # The tarball is there, so not being able to build it is a failure, not a skip.
            raise RuntimeError(f"scripts/citus-setup.sh failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    CLUSTER = CitusCluster().start()


def tearDownModule():
    if CLUSTER is not None:
        CLUSTER.stop()


def sql(query, node=None, user="postgres", check=True):
    return (node or CLUSTER.coordinator).sql(query, user=user, check=check)


def rows(query, node=None, user="postgres"):
    out = sql(query, node, user)[1]
    return [line.split("|") for line in out.splitlines()] if out else []


def value(query, node=None, user="postgres"):
    return sql(query, node, user)[1]


def make_table(name, n, distributed=True, source=None):
    """A scene table of n rows over TENANTS tenants, each tenant with every test image; distributed by tenant
    over 4 shards (2 per worker), adopted, and registered as backfill source `source`."""
    fixtures = os.path.join(share_dir(), "pg_clip", "fixtures")
    imgs = ", ".join(f"'{f}'" for f in IMAGES)
    sql(f"""
        CREATE TABLE {name} (
            id bigint NOT NULL, user_id bigint NOT NULL, video_id bigint NOT NULL, thumbnail bytea,
            start_time numeric, end_time numeric, {"PRIMARY KEY (user_id, id)" if distributed else "PRIMARY KEY (id)"});
        {f"SELECT create_distributed_table('{name}', 'user_id', shard_count => 4);" if distributed else ""}
        INSERT INTO {name} (id, user_id, video_id, thumbnail, start_time, end_time)
            SELECT i, 1 + i % {TENANTS}, i / 10,
                   pg_read_binary_file('{fixtures}/' || (ARRAY[{imgs}])[1 + (i / {TENANTS}) % {len(IMAGES)}]),
                   i * 2.5, i * 2.5 + 2.5
              FROM generate_series(1, {n}) i;
        SELECT clip_adopt_scene_table('{name}', id_column => 'id', tenant_column => 'user_id',
                                      video_column => 'video_id', start_column => 'start_time', end_column => 'end_time');
        SELECT clip_register_source('{source or name}', '{name}', NULL, 'thumbnail');
    """)


def shard_placements(table):
    """{shardid: worker node} for the table's shards."""
    ports = {w.port: w for w in CLUSTER.workers}
    return {int(s): ports[int(p)] for s, p in rows(
        f"SELECT shardid, nodeport FROM citus_shards WHERE table_name = '{table}'::regclass ORDER BY shardid")}


def shard_sql(node, query):
    # Citus hides shards from ordinary sessions on a worker; this session wants to see them.
    return rows("SET citus.override_table_visibility = off; " + query, node)


def embedded_state(table):
    """{(tenant, id): (generated_at, attempts)} of the embedded rows, through the coordinator."""
    return {(int(t), int(i)): (g, a) for t, i, g, a in rows(
        f"SELECT user_id, id, visual_clip_metadata->>'generated_at', visual_clip_metadata->>'attempts' "
        f"FROM {table} WHERE embedding_visual_clip IS NOT NULL")}


class CitusTest(unittest.TestCase):
    def setUp(self):
        if SKIP:
            self.skipTest(SKIP)


class DistributedBackfill(CitusTest):
    N = 96

    @classmethod
    def setUpClass(cls):
        if SKIP:
            return
        make_table("video_scenes", cls.N, source="scenes")
        make_table("local_scenes", cls.N, distributed=False, source="local")
        t0 = time.monotonic()
        sql("CALL clip_backfill_run(batch => 8, source => 'scenes')")
        cls.dist_s = time.monotonic() - t0
        t0 = time.monotonic()
        sql("CALL clip_backfill_run(batch => 8, source => 'local')")
        cls.local_s = time.monotonic() - t0
        print(f"\n[citus] backfill of {cls.N} rows: distributed {cls.dist_s:.2f} s, one node {cls.local_s:.2f} s",
              file=sys.stderr)

    def test_vectors_equal_single_node(self):
        diff = rows("SELECT count(*), count(*) FILTER (WHERE d.embedding_visual_clip IS NULL), "
                    "max(d.embedding_visual_clip <-> l.embedding_visual_clip) "
                    "FROM local_scenes l JOIN video_scenes d USING (user_id, id)")
        self.assertEqual(diff[0][:2], [str(self.N), "0"])
        self.assertLess(float(diff[0][2]), 1e-6)

    def test_metadata_as_on_one_node(self):
        meta = rows("SELECT DISTINCT visual_clip_metadata - 'generated_at' - 'inference_time_ms' - 'source' "
                    "FROM video_scenes WHERE id = 7")
        local = rows("SELECT DISTINCT visual_clip_metadata - 'generated_at' - 'inference_time_ms' - 'source' "
                     "FROM local_scenes WHERE id = 7")
        self.assertEqual(meta, local)
        m = json.loads(meta[0][0])
        self.assertEqual((m["status"], m["attempts"]), ("ok", 1))
        self.assertEqual(value("SELECT count(DISTINCT visual_clip_metadata->>'source') FROM video_scenes"), "1")

    def test_every_shard_did_its_own_rows(self):
        # Rows were embedded on the node that stores them: both workers' shards hold embedded rows (the
        # coordinator only sent clip_citus_shard_call; its own table is empty).
        per_node = {}
        for shard, node in shard_placements("video_scenes").items():
            n = shard_sql(node, f"SELECT count(*) FROM video_scenes_{shard} WHERE embedding_visual_clip IS NOT NULL")
            per_node[node.port] = per_node.get(node.port, 0) + int(n[0][0])
        self.assertEqual(len(per_node), 2)
        self.assertTrue(all(v > 0 for v in per_node.values()), per_node)
        self.assertEqual(sum(per_node.values()), self.N)

    def test_status_reports_the_whole_table(self):
        st = rows("SELECT total_rows, embedded, up_to_date, pending, coverage_pct, problem IS NULL, "
                  "last_run->>'processed' IS NOT NULL FROM clip_backfill_status('scenes')")
        self.assertEqual(st[0], [str(self.N), str(self.N), str(self.N), "0", "100.00", "t", "t"])

    def test_run_log_on_the_coordinator(self):
        self.assertEqual(value("SELECT sum(processed) FROM clip_backfill_runs WHERE source = 'scenes'"), str(self.N))

    def test_only_the_call_travels(self):
        # What the coordinator sends for a backfill: one clip_citus_shard_call per shard, nothing else (the
        # images are read on the workers; the answers are JSON counts).
        _, out, log = sql("SET citus.log_remote_commands = on; SET client_min_messages = log; "
                          "SELECT processed FROM clip_backfill(source => 'scenes', dry_run => true)")
        # Each new connection first gets Citus's own SET application_name.
        sent = [line for line in log.splitlines() if line.startswith("NOTICE:  issuing")
                and not line.startswith("NOTICE:  issuing SET application_name TO 'citus_run_command")]
        self.assertEqual(len(sent), 4, log)
        self.assertTrue(all("clip_citus_shard_call($clip_shard$" in line for line in sent), sent)
        self.assertEqual(out, "0")

    def test_model_mismatch_on_a_worker_is_refused(self):
        # The coordinator's model is another one in this session: every shard refuses, nothing is claimed.
        rc, _, err = sql("SET clip.image_model = 'pg_clip/clip-tiny-text.onnx'; "
                         "SELECT * FROM clip_backfill(source => 'scenes', force => true)", check=False)
        self.assertNotEqual(rc, 0)
        self.assertTrue("not the coordinator" in err or "image model" in err, err)


class Failures(CitusTest):
    """A killed worker backend and a stopped worker node: nothing committed is lost or repeated, the rest of
    the cluster carries on, the work resumes."""

    def wait_for(self, cond, timeout=60, what="condition"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = cond()
            if got:
                return got
            time.sleep(0.2)
        self.fail(f"timed out waiting for {what}")

    def test_kill_worker_backend_mid_batch(self):
        make_table("kill_scenes", 48, source="kill")
        placements = shard_placements("kill_scenes")
        shard, node = next(iter(placements.items()))
        # Hold the shard in SHARE mode: its batch claims and embeds its rows, then waits to write them; that
        # backend is killed mid-batch.
        locker = node.popen(f"SET citus.enable_manual_changes_to_shards = on; BEGIN; "
                            f"LOCK TABLE kill_scenes_{shard} IN SHARE MODE; SELECT 'locked'; SELECT pg_sleep(120);")
        self.wait_for(lambda: value(f"SELECT count(*) FROM pg_locks WHERE mode = 'ShareLock' AND locktype = 'relation' "
                                    f"AND relation = 'kill_scenes_{shard}'::regclass",
                                    node) == "1", what="the shard lock")
        run = CLUSTER.coordinator.popen("SELECT processed, succeeded FROM clip_backfill(source => 'kill', batch => 100);")
        pid = self.wait_for(lambda: value("SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                          "AND query LIKE '%clip_citus_shard_call%'", node), what="the blocked batch")
        self.assertEqual(value(f"SELECT pg_terminate_backend({pid})", node), "t")
        out, err = run.communicate(timeout=120)
        locker.kill()
        locker.communicate()
        self.assertIn(f"backfill of shard {shard} of kill_scenes failed", err)
        rows_of_shard = int(shard_sql(node, f"SELECT count(*) FROM kill_scenes_{shard}")[0][0])
        self.assertGreater(rows_of_shard, 0)
        processed = int(out.split("|")[0])
        self.assertEqual(processed, 48 - rows_of_shard)   # the other shards committed theirs
        before = embedded_state("kill_scenes")
        self.assertEqual(len(before), 48 - rows_of_shard)
        self.assertEqual(int(shard_sql(node, f"SELECT count(*) FROM kill_scenes_{shard} "
                                             f"WHERE visual_clip_metadata IS NOT NULL")[0][0]), 0)
        # Resume: only the lost batch is done again; what was committed is neither lost nor redone.
        sql("CALL clip_backfill_run(batch => 100, source => 'kill')")
        after = embedded_state("kill_scenes")
        self.assertEqual(len(after), 48)
        for k, v in before.items():
            self.assertEqual(after[k], v)
        self.assertEqual({a for _, a in after.values()}, {"1"})
        self.assertEqual(value("SELECT sum(processed) FROM clip_backfill_runs WHERE source = 'kill'"), "48")

    def test_worker_node_down_then_back(self):
        make_table("down_scenes", 48, source="down")
        down = CLUSTER.workers[1]
        on_down = [s for s, n in shard_placements("down_scenes").items() if n is down]
        on_up = [s for s, n in shard_placements("down_scenes").items() if n is not down]
        CLUSTER.stop_node(down)
        try:
            rc, out, err = sql("CALL clip_backfill_run(batch => 5, source => 'down')", check=False)
            self.assertEqual(rc, 0, err)
            self.assertIn("failed", err)
            up = CLUSTER.workers[0]
            done = sum(int(shard_sql(up, f"SELECT count(*) FROM down_scenes_{s} WHERE embedding_visual_clip IS NOT NULL")[0][0])
                       for s in on_up)
            total_up = sum(int(shard_sql(up, f"SELECT count(*) FROM down_scenes_{s}")[0][0]) for s in on_up)
            self.assertEqual(done, total_up)   # the rest of the cluster carried on to the end
            # The status cannot count a shard it cannot reach, and says so instead of partial numbers.
            st = rows("SELECT total_rows IS NULL, problem FROM clip_backfill_status('down')")
            self.assertEqual(st[0][0], "t")
            self.assertIn("shards", st[0][1])
        finally:
            CLUSTER.restart_node(down)
        before = embedded_state("down_scenes")
        self.assertEqual(len(before), total_up)
        sql("CALL clip_backfill_run(batch => 5, source => 'down')")
        after = embedded_state("down_scenes")
        self.assertEqual(len(after), 48)
        for k, v in before.items():
            self.assertEqual(after[k], v)
        self.assertEqual({a for _, a in after.values()}, {"1"})
        self.assertEqual(rows("SELECT total_rows, embedded, pending FROM clip_backfill_status('down')")[0], ["48", "48", "0"])
        self.assertTrue(on_down)


class DistributedSearch(CitusTest):
    N = 120

    @classmethod
    def setUpClass(cls):
        if SKIP:
            return
        make_table("search_scenes", cls.N, source="search")
        make_table("search_local", cls.N, distributed=False, source="search_local")
        sql("CALL clip_backfill_run(batch => 50, source => 'search')")
        sql("CALL clip_backfill_run(batch => 50, source => 'search_local')")

    def search(self, fn, first, table, args=""):
        return rows(f"SELECT scene_id, similarity FROM {fn}({first}, scene_table => '{table}', match_count => 10{args})")

    def assert_same(self, got, expected):
        self.assertEqual([r[0] for r in got], [r[0] for r in expected])
        for g, e in zip(got, expected):
            self.assertAlmostEqual(float(g[1]), float(e[1]), places=6)

    def test_tenant_search_equals_single_node(self):
        for tenant in (1, 4):
            for fn, first in (("clip_search_scenes_by_text", "'a cat'"), ("clip_search_similar_scenes", "'25'")):
                args = f", tenant => '{tenant}'"
                if fn == "clip_search_similar_scenes":
                    first = f"'{6 * 3 + tenant - 1}'"   # a scene of that tenant (tenant = 1 + id % 6)
                got = self.search(fn, first, "search_scenes", args)
                self.assertEqual(len(got), 10, (fn, first, args, rows("SELECT user_id, count(embedding_visual_clip) FROM search_scenes GROUP BY 1")))
                self.assert_same(got, self.search(fn, first, "search_local", args))

    def test_cross_tenant_search_merges_shards(self):
        got = self.search("clip_search_scenes_by_text", "'a rocket'", "search_scenes")
        self.assert_same(got, self.search("clip_search_scenes_by_text", "'a rocket'", "search_local"))
        self.assertGreater(len({value(f"SELECT user_id FROM search_scenes WHERE id = {r[0]}") for r in got}), 1)

    def test_tenant_search_is_a_router_query(self):
        plan = value("EXPLAIN (COSTS OFF) SELECT id FROM search_scenes WHERE user_id = 4 "
                     "AND embedding_visual_clip IS NOT NULL ORDER BY embedding_visual_clip <=> "
                     "(SELECT embedding_visual_clip FROM search_scenes WHERE user_id = 4 AND id = 9) LIMIT 5")
        self.assertIn("Task Count: 1", plan)
        # What the search function itself sends: one statement, to the tenant's node.
        _, _, log = sql("SET citus.log_remote_commands = on; SET client_min_messages = log; "
                        "SELECT count(*) FROM clip_search_similar_scenes('9', tenant => '4', scene_table => 'search_scenes')")
        sent = [line for line in log.splitlines() if line.startswith("NOTICE:  issuing")]
        sent = [s for s in sent if "search_scenes_" in s]
        self.assertEqual(len(sent), 2, log)   # the source scene, then the search: both routed
        shard = value("SELECT get_shard_id_for_distribution_column('search_scenes', 4)")
        self.assertTrue(all(f"search_scenes_{shard} " in s for s in sent), sent)
        print(f"\n[citus] routed search plan:\n{plan}", file=sys.stderr)


class TenantIsolation(CitusTest):
    """Two tenant roles through the coordinator, the tenant policy on every shard (Citus refuses pg_clip's
    single-node policy, which has subqueries), and pg_clip's own backfill exempt from it on the workers."""

    @classmethod
    def setUpClass(cls):
        if SKIP:
            return
        # One statement per call: Citus propagates a DDL statement with its query string.
        # LOGIN: DDL that pg_clip runs as the owner (the policy) reaches the workers over a connection as the owner.
        for stmt in ("CREATE ROLE iso_owner LOGIN", "CREATE ROLE tenant_a LOGIN", "CREATE ROLE tenant_b LOGIN"):
            sql(stmt)
        make_table("iso_scenes", 60, source="iso")
        sql("ALTER TABLE iso_scenes OWNER TO iso_owner")
        sql("GRANT SELECT ON iso_scenes TO tenant_a, tenant_b")
        sql("SELECT clip_map_tenant_role('tenant_a', '1', 'iso_scenes')")
        sql("SELECT clip_map_tenant_role('tenant_b', '2', 'iso_scenes')")
        sql("SELECT clip_enable_tenant_rls('iso_scenes')")   # FORCE: the owner is filtered too
        # The backfill runs as the owner (not a superuser) on the shards: exempt from the forced policy there.
        sql("CALL clip_backfill_run(batch => 50, source => 'iso')")

    def test_single_node_policy_is_refused_by_citus(self):
        # pg_clip's single-node policy has subqueries. On a distributed table Citus 13.2 refuses them: CREATE
        # POLICY fails (XX000: Citus transforms the expression a second time), and distributing a table that
        # has such a policy fails with 0A000 and the documented reason.
        rc, _, err = sql("CREATE POLICY p ON iso_scenes USING (user_id = ANY (ARRAY(SELECT 1::bigint)))", check=False)
        self.assertNotEqual(rc, 0)
        self.assertIn("unexpected non-SELECT command in SubLink", err)
        sql("CREATE TABLE iso_plain (id bigint, user_id bigint)")
        sql("ALTER TABLE iso_plain ENABLE ROW LEVEL SECURITY")
        sql("CREATE POLICY p ON iso_plain USING (user_id = ANY (ARRAY(SELECT 1::bigint)))")
        rc, _, err = sql("SELECT create_distributed_table('iso_plain', 'user_id')", check=False)
        self.assertNotEqual(rc, 0)
        self.assertIn("Subqueries are not supported in policies on distributed tables", err)

    def test_policy_on_every_shard_and_mappings_on_every_worker(self):
        n = value("SELECT count(*) FROM run_command_on_shards('iso_scenes', $$SELECT count(*) FROM pg_policy "
                  "WHERE polrelid = '%s'::regclass AND polname = 'clip_tenant_isolation'$$) WHERE result = '1'")
        self.assertEqual(n, "4")
        for node in CLUSTER.workers:
            self.assertEqual(rows("SELECT role_name, tenant_id FROM clip_tenant_roles ORDER BY 1", node),
                             [["tenant_a", "1"], ["tenant_b", "2"]])

    def test_rolled_back_mapping_never_reaches_the_workers(self):
        # The workers apply a sync in their own transactions: made before COMMIT, a mapping the coordinator
        # rolls back would still grant the tenant there. Both ways of rolling back: ROLLBACK, a later error.
        mapped = [["tenant_a", "1"], ["tenant_b", "2"]]
        sql("BEGIN; SELECT clip_map_tenant_role('tenant_a', '2', 'iso_scenes'); ROLLBACK;")
        rc, _, _ = sql("SELECT clip_map_tenant_role('tenant_a', '3', 'iso_scenes'), 1 / 0", check=False)
        self.assertNotEqual(rc, 0)
        sql("BEGIN; SELECT clip_unmap_tenant_role('tenant_b', '2', 'iso_scenes'); ROLLBACK;")
        for node in [CLUSTER.coordinator] + CLUSTER.workers:
            self.assertEqual(rows("SELECT role_name, tenant_id FROM clip_tenant_roles ORDER BY 1, 2", node), mapped)
        self.assertEqual(rows("SELECT DISTINCT user_id FROM iso_scenes", user="tenant_a"), [["1"]])
        # A committed change reaches every worker at COMMIT, once per table however many rows changed.
        try:
            _, _, log = sql("SET client_min_messages = log; SET citus.log_remote_commands = on; BEGIN; "
                            "SELECT clip_map_tenant_role('tenant_a', '3', 'iso_scenes'); "
                            "SELECT clip_map_tenant_role('tenant_a', '4', 'iso_scenes'); COMMIT;")
            self.assertEqual(sum("clip_citus_apply_tenant_roles" in line for line in log.splitlines()
                                 if line.startswith("NOTICE:  issuing")), len(CLUSTER.workers), log)
            for node in CLUSTER.workers:
                self.assertEqual(rows("SELECT tenant_id FROM clip_tenant_roles WHERE role_name = 'tenant_a' ORDER BY 1", node),
                                 [["1"], ["3"], ["4"]])
            self.assertEqual(rows("SELECT DISTINCT user_id FROM iso_scenes ORDER BY 1", user="tenant_a"), [["1"], ["3"], ["4"]])
        finally:
            sql("SELECT clip_unmap_tenant_role('tenant_a', '3', 'iso_scenes'); "
                "SELECT clip_unmap_tenant_role('tenant_a', '4', 'iso_scenes');")
        for node in CLUSTER.workers:
            self.assertEqual(rows("SELECT role_name, tenant_id FROM clip_tenant_roles ORDER BY 1, 2", node), mapped)

    def test_owner_backfill_exempt_on_the_shards(self):
        self.assertEqual(rows("SELECT total_rows, embedded FROM clip_backfill_status('iso')"), [["60", "60"]])

    def test_tenants_see_only_their_rows(self):
        for role, tenant, other in (("tenant_a", "1", "2"), ("tenant_b", "2", "1")):
            self.assertEqual(rows("SELECT DISTINCT user_id FROM iso_scenes", user=role), [[tenant]])
            got = rows("SELECT scene_id FROM clip_search_scenes_by_text('a cat', scene_table => 'iso_scenes', match_count => 50)",
                       user=role)
            self.assertEqual(len(got), 10)   # the 10 of the tenant's rows, and no other tenant's
            self.assertEqual({1 + int(r[0]) % TENANTS for r in got}, {int(tenant)})
            # Another tenant's scenes, by tenant or by "more like this", behave like missing ones.
            self.assertEqual(rows(f"SELECT count(*) FROM clip_search_scenes_by_text('a cat', tenant => '{other}', "
                                  "scene_table => 'iso_scenes')", user=role), [["0"]])
            their = 6 + int(other) - 1
            self.assertEqual(rows(f"SELECT count(*) FROM clip_search_similar_scenes('{their}', tenant => '{other}', "
                                  "scene_table => 'iso_scenes')", user=role), [["0"]])

    def test_unmapped_role_sees_nothing_and_unmap_reaches_workers(self):
        sql("CREATE ROLE tenant_c LOGIN")
        sql("GRANT SELECT ON iso_scenes TO tenant_c")
        self.assertEqual(rows("SELECT count(*) FROM iso_scenes", user="tenant_c"), [["0"]])
        sql("SELECT clip_map_tenant_role('tenant_c', '3', 'iso_scenes')")
        self.assertEqual(rows("SELECT DISTINCT user_id FROM iso_scenes", user="tenant_c"), [["3"]])
        sql("SELECT clip_unmap_tenant_role('tenant_c', NULL, 'iso_scenes')")
        self.assertEqual(rows("SELECT count(*) FROM iso_scenes", user="tenant_c"), [["0"]])


if __name__ == "__main__":
    unittest.main()
