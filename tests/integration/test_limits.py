"""Resource limits a tenant cannot lift, one bounded thread pool per backend, and cancel of a huge text:
the Rust-layer findings of the bounded-resources issue, tested as an unprivileged role on a real server."""

import os
import statistics
import time
import unittest

import latency
from pgcluster import Cluster, fixture

CONF = (
    "clip.image_model = 'pg_clip/clip-tiny-image.onnx'\n"
    "clip.text_model = 'pg_clip/clip-tiny-text.onnx'\n"
    + latency.LOG_LINE_PREFIX
)
LIMITS = {   # GUC -> a value above its default
    "clip.max_image_pixels": "2147483647",
    "clip.max_image_bytes": "2147483647",
    "clip.max_text_bytes": "2147483647",
    "clip.max_batch_size": "1024",
    "clip.http_max_bytes": "2147483647",
    "clip.http_timeout_ms": "2147483647",
    "clip.http_connect_timeout_ms": "2147483647",
    "clip.http_max_redirects": "20",
}
cluster = None


def setUpModule():
    global cluster
    cluster = Cluster(CONF).start()
    cluster.sql("CREATE EXTENSION pg_clip CASCADE")
    cluster.sql("CREATE ROLE tenant LOGIN")


def tearDownModule():
    cluster.stop()


class CeilingTest(unittest.TestCase):
    def test_a_tenant_cannot_raise_a_limit(self):
        for guc, high in LIMITS.items():
            with self.subTest(guc=guc):
                # A pg_clip call first loads the library (non-superusers cannot LOAD it): before that the
                # setting is a placeholder, and a value set then must not survive the load (checked below).
                _, _, err = cluster.script(f"\\set VERBOSITY verbose\nSELECT clip_tokenize('x') IS NOT NULL;\nSET {guc} = {high};\n",
                                           user="tenant")
                self.assertIn("ERROR:  42501", err)
                self.assertIn("may lower it below the server's setting", err)

    def test_a_tenant_may_lower_a_limit_and_it_is_enforced(self):
        _, out, err = cluster.script(
            "\\set VERBOSITY verbose\nSELECT clip_tokenize('x') IS NOT NULL;\nSET clip.max_text_bytes = 10;\nSHOW clip.max_text_bytes;\n"
            "SELECT clip_tokenize(repeat('x', 11));\nRESET clip.max_text_bytes;\n"
            "SELECT cardinality(clip_tokenize(repeat('x', 11)));\n", user="tenant")
        self.assertEqual(out.splitlines()[1], "10B")
        self.assertIn("ERROR:  54000", err)
        self.assertEqual(out.splitlines()[-1], "77")

    def test_a_placeholder_set_before_loading_does_not_survive_the_load(self):
        # A session SETs the limit while pg_clip is not yet loaded in its backend (a custom placeholder
        # accepts anything), then the first pg_clip call loads the library: the value must be refused.
        _, out, err = cluster.script("SET clip.max_image_pixels = 2147483647;\nSELECT clip_tokenize('x') IS NOT NULL;\n"
                                     "SHOW clip.max_image_pixels;\n", user="tenant")
        self.assertEqual(out.splitlines()[-1], "40000000", err)

    def test_alter_role_cannot_raise_it_either(self):
        _, _, err = cluster.script("\\set VERBOSITY verbose\nSELECT clip_tokenize('x') IS NOT NULL;\n"
                                   "ALTER ROLE tenant SET clip.max_image_pixels = 2147483647;\n", user="tenant")
        self.assertIn("42501", err)

    def test_a_superuser_sets_the_ceiling(self):
        _, out, err = cluster.script("SELECT clip_tokenize('x') IS NOT NULL;\nSET clip.max_image_pixels = 2147483647;\n"
                                     "SHOW clip.max_image_pixels;\n")
        self.assertEqual(out.splitlines()[-1], "2147483647", err)
        # ALTER SYSTEM raises it for everyone; a tenant may then use up to the new value, not above.
        # ALTER SYSTEM only knows the parameter in a session that has loaded the library.
        rc, _, err = cluster.script("LOAD 'pg_clip';\nALTER SYSTEM SET clip.max_text_bytes = '1MB';\n"
                                    "SELECT pg_reload_conf();\n", on_error_stop=True)
        self.assertEqual(rc, 0, err)
        try:
            time.sleep(0.5)
            _, out, err = cluster.script("SELECT clip_tokenize('x') IS NOT NULL;\nSET clip.max_text_bytes = '512kB';\nSHOW clip.max_text_bytes;\n"
                                         "SET clip.max_text_bytes = '2MB';\n", user="tenant")
            self.assertEqual(out.splitlines()[-1], "512kB", err)
            self.assertIn("may lower it below the server's setting (1048576)", err)
        finally:
            cluster.script("LOAD 'pg_clip';\nALTER SYSTEM RESET clip.max_text_bytes;\nSELECT pg_reload_conf();\n")


def backend_threads(pid):
    return len(os.listdir(f"/proc/{pid}/task"))


class ThreadBoundTest(unittest.TestCase):
    def test_cycling_clip_threads_leaves_one_bounded_pool(self):
        cores = len(os.sched_getaffinity(0))
        # A superuser may set any value up to 64; whatever it sets, a backend never has more workers than
        # cores, and a new size replaces the old pool instead of adding one.
        script = "SET application_name = 'thread_cycler';\n"
        for n in [1, 2, 3, 4, 8, 16, 64] * 6:
            script += (f"SET clip.threads = {n};\n"
                       "SELECT cardinality(clip_embed_images(array_fill(pg_read_binary_file("
                       "(SELECT setting FROM pg_config WHERE name = 'SHAREDIR') || '/pg_clip/fixtures/cat-tiny-20x14.png'), ARRAY[4])));\n")
        script += "SELECT pg_sleep(1);\nSELECT 'done';\n"
        p = cluster.popen(script)
        p.stdin.close()   # psql runs the script and exits at its end
        pid = ""
        deadline = time.monotonic() + 10
        while not pid and time.monotonic() < deadline:
            _, pid, _ = cluster.sql("SELECT pid FROM pg_stat_activity WHERE application_name = 'thread_cycler'")
            time.sleep(0.01)
        self.assertTrue(pid, "the session never started")
        pid = int(pid)
        counts = []
        while p.poll() is None:
            try:
                counts.append(backend_threads(pid))
            except FileNotFoundError:
                break
            time.sleep(0.02)
        self.assertTrue(counts)
        out, err = p.stdout.read(), p.stderr.read()
        p.wait(timeout=120)
        p.stdout.close()
        p.stderr.close()
        self.assertIn("done", out, err)
        self.assertNotIn("ERROR", err)
        print(f"\nbackend threads while cycling clip.threads over 42 calls: max {max(counts)}, cores {cores}")
        # The backend's own thread + one pool; a pool being replaced may briefly overlap its successor
        # while rayon's old workers exit.
        self.assertLessEqual(statistics.median(counts), 1 + cores)
        self.assertLessEqual(max(counts), 1 + 2 * cores)

    def test_an_idle_session_holds_no_worker_threads(self):
        # Workers live for one transaction at most: after the embedding statement, while the session
        # sleeps in its next one, the backend is back to its own thread.
        script = ("SET application_name = 'idle_after_embed';\nSET clip.threads = 2;\n"
                  "SELECT cardinality(clip_embed_images(array_fill(pg_read_binary_file("
                  "(SELECT setting FROM pg_config WHERE name = 'SHAREDIR') || '/pg_clip/fixtures/cat-tiny-20x14.png'), ARRAY[8])));\n"
                  "SELECT 'embedded';\nSELECT pg_sleep(3);\nSELECT 'done';\n")
        p = cluster.popen(script)
        pid, deadline = "", time.monotonic() + 20
        # The sleeping statement is what we sample in: wait until the backend is in it.
        while time.monotonic() < deadline:
            _, pid, _ = cluster.sql("SELECT pid FROM pg_stat_activity WHERE application_name = 'idle_after_embed' "
                                    "AND query LIKE '%pg_sleep%' AND state = 'active'")
            if pid:
                break
            time.sleep(0.01)
        self.assertTrue(pid, "the session never reached its sleep")
        counts = []
        for _ in range(40):
            try:
                counts.append(backend_threads(int(pid)))
            except FileNotFoundError:
                break
            time.sleep(0.05)
        out, err = p.communicate(timeout=60)
        self.assertIn("done", out, err)
        self.assertNotIn("ERROR", err)
        self.assertGreaterEqual(len(counts), 10)
        # rayon's workers exit asynchronously after the pool is dropped: allow the first samples.
        self.assertEqual(statistics.median(counts), 1, counts)


class TextCancelTest(unittest.TestCase):
    def test_statement_timeout_stops_tokenizing_a_huge_text(self):
        took = []
        for _ in range(3):
            # A superuser lifted the text limit; 10 MB of text that ftfy and BPE work hard on.
            t, out, err = latency.timed_out_after(
                cluster, fixture, "\\set VERBOSITY verbose\nSET clip.max_text_bytes = '64MB';\nSET statement_timeout = '1s';\n",
                "canceling statement due to statement timeout",
                call="SELECT cardinality(clip_tokenize(repeat('caf\u00c3\u00a9 &amp; na\u00efve \u201cquote\u201d ', 400000)));\n")
            self.assertIn("57014", err, err)
            self.assertTrue(out.endswith("alive"))
            took.append(t)
        print(f"\n10 MB text, statement_timeout 1 s: errors after {', '.join(f'{t:.3f}' for t in took)} s")
        self.assertLess(latency.median(took), 1.0 + 0.2)


if __name__ == "__main__":
    unittest.main()
