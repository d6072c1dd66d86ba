"""clip_fetch_url through SQL against a local HTTP server on 127.0.0.1: refused unless allowlisted (and only a
superuser may allowlist), streaming size limit, timeout, HTTP errors, redirect into the metadata service,
and query cancel during a slow download."""

import http.server
import threading
import time
import unittest

from pgcluster import Cluster, fixture

PHOTO = "astronaut-baseline.jpg"
cluster = None


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/photo.jpg":
            with open(fixture(PHOTO), "rb") as f:
                body = f.read()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif self.path == "/endless":          # no Content-Length: only the streaming check can stop it
            self.send_response(200)
            self.end_headers()
            try:
                for _ in range(10_000):
                    self.wfile.write(b"x" * 65536)
            except OSError:
                pass
        elif self.path == "/slow-photo":       # a thumbnail behind a slow object store
            time.sleep(3)
            with open(fixture(PHOTO), "rb") as f:
                body = f.read()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif self.path == "/slow":
            time.sleep(5)
            self.send_error(500)
        elif self.path == "/to-metadata":
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self.send_error(404)

    def log_message(self, *args):
        pass


def setUpModule():
    global cluster
    cluster = Cluster("clip.image_model = 'pg_clip/clip-tiny-image.onnx'\n").start()
    cluster.sql("CREATE EXTENSION pg_clip CASCADE")
    cluster.sql("CREATE ROLE app LOGIN")


def tearDownModule():
    cluster.stop()


class FetchTest(unittest.TestCase):
    def setUp(self):
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"

    def tearDown(self):
        self.server.shutdown()
        self.server.server_close()

    def run_sql(self, sql, allow=True, user="postgres"):
        pre = "\\set VERBOSITY verbose\n" + ("SET clip.http_allow_hosts = '127.0.0.1';\n" if allow else "")
        return cluster.script(pre + sql)

    def test_loopback_is_refused_without_allowlist(self):
        for url in (f"{self.base}/photo.jpg", "http://localhost:9/x.jpg", "http://169.254.169.254/latest/"):
            _, _, err = self.run_sql(f"SELECT clip_fetch_url('{url}');\n", allow=False)
            self.assertIn("ERROR:  42501", err, url)
            self.assertIn("non-public address", err)

    def test_allowlisted_fetch_embeds_like_the_file(self):
        _, out, err = self.run_sql(
            f"SELECT clip_embed_image(clip_fetch_url('{self.base}/photo.jpg')) <=> "
            f"clip_embed_image(pg_read_binary_file('{fixture(PHOTO)}'));\n")
        self.assertEqual(out, "0", err)

    def test_only_superuser_may_allowlist(self):
        _, _, err = cluster.script("SELECT clip_tokenize('x') IS NOT NULL;\nSET clip.http_allow_hosts = '127.0.0.1';\n",
                                   user="app")
        self.assertIn("permission denied to set parameter", err)

    def test_body_limit_while_streaming(self):
        _, _, err = self.run_sql(f"SET clip.http_max_bytes = '1MB';\nSELECT clip_fetch_url('{self.base}/endless');\n")
        self.assertIn("ERROR:  54000", err)
        self.assertIn("clip.http_max_bytes", err)

    def test_http_errors_and_non_http(self):
        _, _, err = self.run_sql(f"SELECT clip_fetch_url('{self.base}/missing.jpg');\n")
        self.assertIn("HTTP 404", err)
        _, _, err = self.run_sql("SELECT clip_fetch_url('file:///etc/passwd');\n")
        self.assertIn("ERROR:  22023", err)

    def test_redirect_into_metadata_service_is_refused(self):
        _, _, err = self.run_sql(f"SELECT clip_fetch_url('{self.base}/to-metadata');\n")
        self.assertIn("ERROR:  42501", err)
        self.assertIn("169.254.169.254", err)

    def test_timeout_and_cancel(self):
        started = time.monotonic()
        _, _, err = self.run_sql(f"SET clip.http_timeout_ms = 300;\nSELECT clip_fetch_url('{self.base}/slow');\n")
        self.assertIn("timed out", err)
        self.assertLess(time.monotonic() - started, 2.5)
        started = time.monotonic()
        _, out, err = self.run_sql(
            f"SET statement_timeout = '300ms';\nSELECT clip_fetch_url('{self.base}/slow');\nSELECT 'alive';\n")
        self.assertIn("57014", err)
        self.assertTrue(out.endswith("alive"))
        self.assertLess(time.monotonic() - started, 2.5)

    def test_harmless_interrupts_do_not_end_a_fetch(self):
        # Only a cancel or a termination may stop a fetch. A memory-context dump request is an interrupt
        # too (as is the barrier of a DROP DATABASE anywhere in the cluster): it is served and the fetch
        # goes on.
        p = cluster.popen("\\set VERBOSITY verbose\nSET application_name = 'slow_fetch';\n"
                          "SET clip.http_allow_hosts = '127.0.0.1';\n"
                          f"SELECT length(clip_fetch_url('{self.base}/slow-photo'));\n")
        pid = ""
        deadline = time.monotonic() + 10
        while not pid and time.monotonic() < deadline:
            _, pid, _ = cluster.sql("SELECT pid FROM pg_stat_activity WHERE application_name = 'slow_fetch' "
                                    "AND state = 'active' AND query LIKE '%clip_fetch_url%'")
            time.sleep(0.05)
        self.assertTrue(pid, "the fetch never started")
        for _ in range(3):
            time.sleep(0.2)
            self.assertEqual(cluster.sql(f"SELECT pg_log_backend_memory_contexts({pid})")[1], "t")
        cluster.sql("CREATE DATABASE fetch_barrier")
        cluster.sql("DROP DATABASE fetch_barrier")   # waits for every backend to absorb its barrier
        out, err = p.communicate(timeout=60)
        with open(fixture(PHOTO), "rb") as f:
            self.assertEqual(out.strip(), str(len(f.read())), err)
        self.assertNotIn("ERROR", err)


if __name__ == "__main__":
    unittest.main()
