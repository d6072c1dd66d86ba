"""Integration tests for the image-embedding SQL surface against a real server: extension install,
cancel / statement_timeout / clip.timeout_ms, malformed input, model errors, concurrent sessions."""

import os
import re
import threading
import time
import unittest

import latency
from pgcluster import Cluster, fixture

MODEL_CONF = (
    "clip.image_model = 'pg_clip/clip-tiny-image.onnx'\n"
    "clip.text_model = 'pg_clip/clip-tiny-text.onnx'\n"
    # The interrupt tests read the server's own timestamps (epoch with milliseconds) off the log.
    + latency.LOG_LINE_PREFIX
)
PHOTO = "astronaut-baseline.jpg"

cluster = None


def setUpModule():
    global cluster
    cluster = Cluster(MODEL_CONF).start()
    cluster.sql("CREATE EXTENSION pg_clip CASCADE")


def tearDownModule():
    cluster.stop()


def long_call(n=4000):
    return latency.long_call(fixture, n)


class ExtensionTest(unittest.TestCase):
    def test_cascade_installs_vector(self):
        cluster.sql("CREATE DATABASE cascade_check")
        cluster.sql("CREATE EXTENSION pg_clip CASCADE", db="cascade_check")
        _, out, _ = cluster.sql("SELECT string_agg(extname, ',' ORDER BY extname) FROM pg_extension", db="cascade_check")
        self.assertEqual(out, "pg_clip,plpgsql,vector")

    def test_embedding_is_unit_vector_of_512(self):
        _, out, _ = cluster.sql(
            f"SELECT vector_dims(e), round(vector_norm(e)::numeric, 5), e <=> e "
            f"FROM (SELECT clip_embed_image(pg_read_binary_file('{fixture(PHOTO)}')) e) s"
        )
        self.assertEqual(out, "512|1.00000|0")


TRIALS = 5   # each latency is taken this many times; the median is asserted, every figure is printed


class InterruptTest(unittest.TestCase):
    """The 200 ms promise, measured on the server's clock (tests/integration/latency.py): from the moment the
    statement starts (timeouts) or the signal is sent (cancel) to the moment the backend logs the error.
    psql's start-up and exit and the scheduling of this client on a busy 2-core box are not part of what is
    promised, so they are not timed. bench/run.py reports the distribution over more trials."""

    def timed_out_after(self, setup, message):
        took, out, err = latency.timed_out_after(cluster, fixture, "\\set VERBOSITY verbose\n" + setup, message)
        self.assertIn("57014", err, err)
        self.assertTrue(out.endswith("alive"), "the session must stay usable after the cancel")
        return took

    def test_long_call_really_is_long(self):
        # Guards the tests below: without a timeout the same call takes well over a second.
        started = time.monotonic()
        _, out, _ = cluster.sql(long_call().replace("\n", " "))
        self.assertEqual(out.splitlines()[-1], "4000")
        self.assertGreater(time.monotonic() - started, 1.5)

    def test_statement_timeout_stops_within_200ms(self):
        took = [self.timed_out_after("SET statement_timeout = '500ms';\n",
                                     "canceling statement due to statement timeout") for _ in range(TRIALS)]
        print(f"\nstatement_timeout 500 ms: errors after {', '.join(f'{t:.3f}' for t in took)} s (server clock)")
        self.assertGreaterEqual(min(took), 0.5, "the error cannot come before the timeout")
        self.assertLess(latency.median(took), 0.5 + 0.2, f"took {took}")

    def test_clip_timeout_ms_stops_within_200ms(self):
        took = [self.timed_out_after("SET clip.timeout_ms = 400;\n", "clip.timeout_ms") for _ in range(TRIALS)]
        print(f"\nclip.timeout_ms 400: errors after {', '.join(f'{t:.3f}' for t in took)} s (server clock)")
        self.assertGreaterEqual(min(took), 0.4)
        self.assertLess(latency.median(took), 0.4 + 0.2, f"took {took}")

    def test_pg_cancel_backend_stops_within_200ms(self):
        stopped = []
        for _ in range(TRIALS):
            took, _, out, err = latency.cancel_after(cluster, fixture)
            self.assert_canceled(out, err)
            stopped.append(took)
        print(f"\npg_cancel_backend: errors after {', '.join(f'{t:.3f}' for t in stopped)} s (server clock)")
        self.assertLess(latency.median(stopped), 0.2, f"stopped {stopped} s after the cancel")

    def test_cancel_inside_one_image_at_the_pixel_limit_stops_within_200ms(self):
        # One 8000x5000 RGBA PNG (the largest the default clip.max_image_pixels admits) per call: its
        # decoding and resize take most of a second, so the cancel lands inside them (PNG reads, resize
        # bands), at a different point in each trial.
        call = latency.large_image_calls(fixture, "hostile/png-valid-at-pixel-limit-8000x5000-rgba.png")
        stopped = []
        for delay in [0.3, 0.45, 0.6, 0.75, 0.9]:
            took, _, out, err = latency.cancel_after(cluster, fixture, delay_s=delay, call=call)
            self.assert_canceled(out, err)
            stopped.append(took)
        print(f"\npg_cancel_backend inside a 40 MP PNG: errors after {', '.join(f'{t:.3f}' for t in stopped)} s")
        self.assertLess(latency.median(stopped), 0.2, f"stopped {stopped} s after the cancel")

    def test_cancel_stops_every_worker_thread(self):
        # Rows spread over 2 threads. After the cancel the session idles in pg_sleep, and no thread of the
        # backend may still be computing rows of the canceled call.
        spent, out, err = latency.cpu_after_cancel(cluster, fixture)
        self.assert_canceled(out, err)
        self.assertLess(spent, 0.05, f"the backend used {spent:.2f}s of CPU in 0.5s after the cancel")

    def assert_canceled(self, out, err):
        self.assertIn("57014", err)
        self.assertIn("canceling statement due to user request", err)
        self.assertIn("alive", out, "the session must stay usable after the cancel")


# file -> (SQLSTATE, words the message must contain)
MALFORMED = {
    "empty.jpg": ("22023", "empty"),
    "truncated.jpg": ("22P03", ""),
    "truncated.png": ("22P03", ""),
    "not-an-image.txt": ("22P03", "format"),
    "random-bytes.bin": ("22P03", "format"),
    "bomb-60000x60000.png": ("54000", "pixels"),
    "huge-dims-30000x30000.jpg": ("54000", "pixels"),
    "cat.tiff": ("0A000", "TIFF"),
    "corrupt-lzw.gif": ("22P03", ""),
    "zero-frames.gif": ("22P03", ""),
}


class BadInputTest(unittest.TestCase):
    def test_malformed_files_give_sqlstate_errors(self):
        present = {f for f in MALFORMED if os.path.exists(fixture("malformed/" + f))}
        self.assertGreaterEqual(len(present), 8, f"malformed fixtures missing: {set(MALFORMED) - present}")
        for name in sorted(present):
            state, words = MALFORMED[name]
            rc, _, err = cluster.script(
                "\\set VERBOSITY verbose\n"
                f"SELECT clip_embed_image(pg_read_binary_file('{fixture('malformed/' + name)}'));\n")
            self.assertIn(f"ERROR:  {state}:", err, f"{name}: {err}")
            self.assertIn(words.lower(), err.lower(), f"{name}: {err}")
        self.assertTrue(cluster.backend_alive())

    def test_batch_error_names_the_element(self):
        rc, _, err = cluster.script(
            f"SELECT clip_embed_images(ARRAY[pg_read_binary_file('{fixture(PHOTO)}'), "
            f"'\\x00'::bytea, pg_read_binary_file('{fixture(PHOTO)}')]);\n")
        self.assertIn("image 2 of the batch", err)

    def test_size_limit(self):
        rc, _, err = cluster.script(
            "\\set VERBOSITY verbose\nSET clip.max_image_bytes = 100;\n"
            f"SELECT clip_embed_image(pg_read_binary_file('{fixture(PHOTO)}'));\n")
        self.assertIn("54000", err)
        self.assertIn("clip.max_image_bytes", err)

    def test_missing_model_errors_then_recovers(self):
        rc, out, err = cluster.script(
            "\\set VERBOSITY verbose\n"
            "SET clip.image_model = '/nonexistent/model.onnx';\n"
            f"SELECT clip_embed_image(pg_read_binary_file('{fixture(PHOTO)}'));\n"
            "RESET clip.image_model;\n"
            f"SELECT vector_dims(clip_embed_image(pg_read_binary_file('{fixture(PHOTO)}')));\n")
        self.assertIn("58P01", err)
        self.assertIn("HINT:", err)
        self.assertIn("export_clip.py", err)
        self.assertEqual(out.splitlines()[-1], "512", "a fixed setting must work in the same session")

    def test_wrong_file_as_model(self):
        rc, out, err = cluster.script(
            "\\set VERBOSITY verbose\n"
            f"SET clip.image_model = '{fixture(PHOTO)}';\n"
            f"SELECT clip_embed_image(pg_read_binary_file('{fixture(PHOTO)}'));\n"
            "SET clip.image_model = 'pg_clip/clip-tiny-text.onnx';\n"
            f"SELECT clip_embed_image(pg_read_binary_file('{fixture(PHOTO)}'));\n")
        self.assertEqual(len(re.findall(r"ERROR:  F0000: .* is not a usable CLIP ViT-B/32 image model", err)), 2, err)

    def test_model_setting_needs_superuser(self):
        cluster.sql("DO $$ BEGIN CREATE ROLE app LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$")
        # Library already loaded in the session: the SUSET check applies directly.
        rc, _, err = cluster.script("SELECT clip_tokenize('x') IS NOT NULL;\nSET clip.image_model = '/etc/passwd';\n", user="app")
        self.assertIn("permission denied to set parameter", err)
        # Set as a placeholder before the library loads: Postgres drops the value when pg_clip defines it.
        rc, out, err = cluster.script(
            "SET clip.image_model = '/etc/passwd';\nSELECT clip_model_info()->'image'->>'path';\n", user="app")
        self.assertNotIn("/etc/passwd", out)
        self.assertTrue(out.endswith("pg_clip/clip-tiny-image.onnx"), out)


class ConcurrencyTest(unittest.TestCase):
    def test_sessions_embedding_at_once_agree(self):
        query = f"SELECT clip_embed_image(pg_read_binary_file('{fixture(PHOTO)}'))::text"
        results, errors = [], []

        def worker():
            try:
                results.append(cluster.sql(query)[1])
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)

        threads = [threading.Thread(target=worker) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        self.assertEqual(len(set(results)), 1)


if __name__ == "__main__":
    unittest.main()
