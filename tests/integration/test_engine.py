"""clip.engine = onnxruntime against a real server: the same embeddings as tract (to 1e-5), the same errors,
the same 200 ms stop for cancel / statement_timeout / clip.timeout_ms, no thread left computing after a
cancel, and settings only a superuser may change. The library is the one scripts/onnxruntime-setup.sh
unpacks from the pinned onnxruntime wheel."""

import os
import re
import time
import unittest

import latency
import pgcluster
from pgcluster import Cluster, fixture

LIBRARY = os.environ.get("PG_CLIP_ONNXRUNTIME_LIBRARY", "/opt/pg_clip-onnxruntime/libonnxruntime.so.1.32.0")
CONF = (
    "clip.image_model = 'pg_clip/clip-tiny-image.onnx'\n"
    "clip.text_model = 'pg_clip/clip-tiny-text.onnx'\n"
    "clip.engine = 'onnxruntime'\n"
    f"clip.onnxruntime_library = '{LIBRARY}'\n"
    + latency.LOG_LINE_PREFIX
)
IMAGES = ["astronaut-baseline.jpg", "cat.bmp", "cat-tiny-20x14.png"]
TRIALS = 5

cluster = None


def setUpModule():
    global cluster
    cluster = Cluster(CONF).start()
    cluster.sql("CREATE EXTENSION pg_clip CASCADE")
    cluster.sql("CREATE ROLE tenant LOGIN")


def tearDownModule():
    cluster.stop()


def vectors(engine, select):
    _, out, _ = cluster.sql(f"SET clip.engine = {engine}; {select}")
    return [[float(x) for x in line.strip("[]").split(",")] for line in out.splitlines() if line.startswith("[")]


class SameResultsTest(unittest.TestCase):
    def assert_close(self, a, b):
        self.assertEqual(len(a), len(b))
        worst = max(abs(x - y) for u, v in zip(a, b) for x, y in zip(u, v))
        self.assertLessEqual(worst, 1e-5, f"engines differ by {worst}")

    def test_images_single_and_batched_match_tract(self):
        files = ", ".join(f"pg_read_binary_file('{fixture(f)}')" for f in IMAGES)
        one = "SELECT clip_embed_image(b) FROM unnest(ARRAY[" + files + "]) WITH ORDINALITY u(b, i) ORDER BY i;"
        batch = "SELECT unnest(clip_embed_images(ARRAY[" + files + "]));"
        tract = vectors("tract", one)
        self.assertEqual(len(tract), len(IMAGES))
        self.assert_close(tract, vectors("onnxruntime", one))
        self.assert_close(tract, vectors("onnxruntime", "SET clip.threads = 2; " + batch))
        self.assert_close(tract, vectors("onnxruntime", "SET clip.threads = 1; " + batch))

    def test_texts_match_tract(self):
        q = "SELECT unnest(clip_embed_texts(ARRAY['a photo of a cat', 'sunset over the ocean', '']));"
        self.assert_close(vectors("tract", q), vectors("onnxruntime", q))

    def test_model_info_names_the_engine(self):
        _, out, _ = cluster.sql("SELECT clip_embed_text('x') IS NOT NULL, clip_model_info()->'text'->>'engine', "
                                "clip_model_info()->>'engine'")
        self.assertEqual(out, "t|onnxruntime|onnxruntime")

    def test_a_bad_image_in_a_batch_is_reported_like_tract(self):
        q = (f"SELECT clip_embed_images(ARRAY[pg_read_binary_file('{fixture(IMAGES[0])}'), "
             f"pg_read_binary_file('{fixture('malformed/truncated.jpg')}')]);")
        errs = []
        for engine in ["tract", "onnxruntime"]:
            _, _, err = cluster.script(f"\\set VERBOSITY verbose\nSET clip.engine = {engine};\n{q}")
            errs.append(err.split("ERROR:")[-1].splitlines()[0].strip())
        self.assertIn("22P03", errs[1])
        self.assertEqual(errs[0], errs[1])


class SettingsTest(unittest.TestCase):
    def test_only_a_superuser_may_choose_engine_or_library(self):
        for setting in ["clip.engine = tract", "clip.onnxruntime_library = '/tmp/evil.so'"]:
            # With the library loaded first, so the SET meets the real GUC rather than a placeholder.
            rc, _, err = cluster.script(f"\\set VERBOSITY verbose\nSELECT cardinality(clip_tokenize('x'));\n"
                                        f"SET {setting};\n", user="tenant")
            self.assertIn("42501", err, setting)
            _, out, _ = cluster.script(f"SET {setting};\nSELECT cardinality(clip_tokenize('x'));\n"
                                       f"SHOW {setting.split(' ')[0]};\n", user="tenant")
            self.assertNotIn("evil", out, "a placeholder set before the library loaded must not survive")
            self.assertNotIn("tract", out.splitlines()[-1])

    def test_a_missing_library_is_a_clear_error_and_tract_still_works(self):
        rc, out, err = cluster.script(
            "\\set VERBOSITY verbose\nSET clip.onnxruntime_library = '/nonexistent/libonnxruntime.so';\n"
            "SELECT clip_embed_text('x');\nSET clip.engine = tract;\nSELECT vector_dims(clip_embed_text('x'));\n")
        self.assertIn("F0000", err)
        self.assertIn("clip.engine = onnxruntime cannot run", err)
        self.assertIn("does not exist", err)
        self.assertTrue(out.strip().endswith("512"), out)

    def test_an_unknown_engine_is_refused_at_set(self):
        # The check hook refuses the value itself: SET and ALTER SYSTEM fail, the setting keeps its value.
        # (pg_clip is loaded first: before that, SET only makes a placeholder, see the next test.)
        rc, out, err = cluster.script("\\set VERBOSITY verbose\nSELECT cardinality(clip_tokenize('x'));\n"
                                      "SHOW clip.engine;\nSET clip.engine = 'torch';\nSHOW clip.engine;\n")
        self.assertIn("22023", err)
        self.assertIn('invalid value for parameter "clip.engine": "torch"', err)
        self.assertIn("expected tract or onnxruntime", err)
        shown = [ln.strip() for ln in out.splitlines() if ln.strip() in ("tract", "onnxruntime")]
        self.assertEqual(len(shown), 2, out)
        self.assertEqual(shown[0], shown[1], "a refused SET must leave the engine as it was")
        rc, _, err = cluster.script("SELECT cardinality(clip_tokenize('x'));\nALTER SYSTEM SET clip.engine = 'onnx';\n")
        self.assertIn('invalid value for parameter "clip.engine"', err)
        _, out, err = cluster.script("SET clip.engine = ' Tract ';\nSELECT vector_dims(clip_embed_text('x'));\n")
        self.assertEqual(err.strip(), "", err)
        self.assertTrue(out.strip().endswith("512"), out)

    def test_an_unknown_engine_set_before_the_library_loads_is_dropped(self):
        # A SET before pg_clip is loaded makes a placeholder; loading the library checks it, warns, drops it.
        _, out, err = cluster.script("SET clip.engine = 'torch';\nSELECT vector_dims(clip_embed_text('x'));\n"
                                     "SHOW clip.engine;\n")
        self.assertIn('invalid value for parameter "clip.engine": "torch"', err)
        self.assertIn("512", out.splitlines(), out)
        self.assertNotEqual(out.splitlines()[-1].strip(), "torch", out)


class Int8Test(unittest.TestCase):
    """The int8 option: models/tiny's int8 files (bench/int8.py's quantize of the committed tiny towers)
    through the engine, against the f32 files they were made from."""

    IMAGE = "SET clip.image_model = 'pg_clip/clip-tiny-image-int8-dyn-all.onnx'; "
    TEXT = "SET clip.text_model = 'pg_clip/clip-tiny-text-int8-dyn-pc.onnx'; "

    def assert_near(self, f32, i8, n):
        self.assertEqual((len(f32), len(i8)), (n, n))
        for u, v in zip(f32, i8):
            cos = sum(x * y for x, y in zip(u, v))  # both are unit vectors
            self.assertGreater(cos, 0.999, "int8 moved an embedding too far")
            self.assertLess(cos, 1 - 1e-9, "the int8 file gave the f32 embedding: was it run at all?")

    def test_int8_files_embed_close_to_f32(self):
        files = ", ".join(f"pg_read_binary_file('{fixture(f)}')" for f in IMAGES)
        batch = "SELECT unnest(clip_embed_images(ARRAY[" + files + "]));"
        self.assert_near(vectors("onnxruntime", batch), vectors("onnxruntime", self.IMAGE + batch), len(IMAGES))
        texts = "SELECT unnest(clip_embed_texts(ARRAY['a photo of a cat', 'sunset over the ocean']));"
        self.assert_near(vectors("onnxruntime", texts), vectors("onnxruntime", self.TEXT + texts), 2)

    def test_an_int8_file_is_its_own_model_identity(self):
        # Rows record this sha256 (visual_clip_metadata.model_sha256), so f32 rows are stale under int8.
        q = "SELECT clip_image_model_identity()->>'sha256';"
        _, f32, _ = cluster.sql(q)
        _, i8, err = cluster.sql(self.IMAGE + q)
        self.assertEqual(len(i8.strip()), 64, err)
        self.assertNotEqual(f32.strip(), i8.strip())


class MemoryCapTest(unittest.TestCase):
    """Both engines under an address-space cap on the postmaster (`ulimit -v`, inherited by every backend;
    what test_hostile does for the decoders), swept from where pg_clip.so or ONNX Runtime cannot even be
    mapped to where a batch of 32 fits. ONNX Runtime catches its own std::bad_alloc and failed thread
    creations, pg_clip's own buffers are taken fallibly, and the headroom checks refuse what tract would
    allocate infallibly, so every refusal must be an ERROR -- 53200 (memory), 53000 (a thread, or memory
    while a model is built), F0000 (ONNX Runtime cannot be mapped), 58P01 (PostgreSQL cannot map
    pg_clip.so) -- and never an abort of the backend, which sends the whole server through crash
    recovery. Before the preprocessing buffers were fallible, a cap near 240 MiB aborted an onnxruntime
    backend in the resize of a batch. The outcome is not monotonic in the cap (glibc's per-thread arenas
    and thread stacks take address space too), so only what must hold is asserted."""

    CAPS_MB = range(152, 440, 12)
    BASE = pgcluster.BASE + "-engine-capped"
    PORT = pgcluster.PORT + 12

    def sweep(self, engine):
        # shared_buffers as test_hostile's capped cluster: the cap is then mostly the backend's own memory.
        capped = Cluster(CONF + "shared_buffers = 32MB\n" + f"clip.engine = '{engine}'\n",
                         base=self.BASE, port=self.PORT).start()
        try:
            capped.sql("CREATE EXTENSION pg_clip CASCADE")
            images = ", ".join(f"pg_read_binary_file('{fixture('astronaut-baseline.jpg')}')" for _ in range(32))
            script = ("\\set VERBOSITY verbose\nSELECT vector_dims(clip_embed_text('x'));\n"
                      "SELECT cardinality(clip_embed_images(ARRAY[" + images + "]));\n")
            outcomes = {}
            for cap in self.CAPS_MB:
                capped.relaunch(cap)
                _, out, err = capped.script(script)
                done = [ln.strip() for ln in out.splitlines() if ln.strip() in ("512", "32")]
                states = re.findall(r"ERROR:\s+([0-9A-Z]{5}):", err)
                outcomes[cap] = (done, states)
                self.assertNotIn("server closed the connection", err, f"{engine}, cap {cap} MiB: {err}")
                # 58P01 only as PostgreSQL's own "could not load library" (pg_clip.so itself cannot be mapped).
                allowed = {"53200", "53000", "F0000"} | ({"58P01"} if "could not load library" in err else set())
                self.assertLessEqual(set(states), allowed, f"{engine}, cap {cap} MiB: {err}")
            log = capped.log()
            self.assertNotIn("terminated by signal", log)
            # ONNX Runtime logged errors all along the sweep; they reach the log through elog, not its own
            # coloured stderr lines.
            self.assertNotIn("[E:onnxruntime", log)
            self.assertNotIn("\x1b[", log)
            print(f"\n{engine} engine under ulimit -v (MiB: finished / SQLSTATEs): "
                  + ", ".join(f"{c}: {'+'.join(d) or '-'} / {','.join(s) or '-'}" for c, (d, s) in outcomes.items()))
            # The sweep must cross the boundary, or it tested nothing; with room (test_hostile's cap) it all runs.
            self.assertTrue(any(s for _, s in outcomes.values()), "no cap was small enough to refuse anything")
            self.assertTrue(any(d == ["512", "32"] for d, _ in outcomes.values()), "no cap was large enough")
            capped.relaunch(pgcluster.CAPPED_AS_LIMIT_MB)
            _, out, err = capped.script(script)
            self.assertEqual([ln.strip() for ln in out.splitlines() if ln.strip() in ("512", "32")], ["512", "32"], err)
        finally:
            capped.stop(quiet=True)

    def test_onnxruntime_under_a_cap_reports_errors_and_never_aborts(self):
        self.sweep("onnxruntime")

    def test_tract_under_a_cap_reports_errors_and_never_aborts(self):
        self.sweep("tract")


class InterruptTest(unittest.TestCase):
    """As test_embed's InterruptTest, with ONNX Runtime running the passes (32 rows each)."""

    def test_long_call_really_is_long(self):
        started = time.monotonic()
        _, out, _ = cluster.sql(latency.long_call(fixture).replace("\n", " "))
        self.assertEqual(out.splitlines()[-1], "4000")
        self.assertGreater(time.monotonic() - started, 1.5)

    def timed_out_after(self, setup, message):
        took, out, err = latency.timed_out_after(cluster, fixture, "\\set VERBOSITY verbose\n" + setup, message)
        self.assertIn("57014", err, err)
        self.assertTrue(out.endswith("alive"), "the session must stay usable after the stop")
        return took

    def test_statement_timeout_stops_within_200ms(self):
        took = [self.timed_out_after("SET statement_timeout = '500ms';\n",
                                     "canceling statement due to statement timeout") for _ in range(TRIALS)]
        print(f"\nonnxruntime, statement_timeout 500 ms: errors after {', '.join(f'{t:.3f}' for t in took)} s")
        self.assertGreaterEqual(min(took), 0.5)
        self.assertLess(latency.median(took), 0.5 + 0.2, f"took {took}")

    def test_clip_timeout_ms_stops_within_200ms(self):
        took = [self.timed_out_after("SET clip.timeout_ms = 400;\n", "clip.timeout_ms") for _ in range(TRIALS)]
        print(f"\nonnxruntime, clip.timeout_ms 400: errors after {', '.join(f'{t:.3f}' for t in took)} s")
        self.assertGreaterEqual(min(took), 0.4)
        self.assertLess(latency.median(took), 0.4 + 0.2, f"took {took}")

    def test_pg_cancel_backend_stops_within_200ms_and_leaves_no_thread_computing(self):
        stopped = []
        for _ in range(TRIALS):
            took, _, out, err = latency.cancel_after(cluster, fixture)
            self.assertIn("canceling statement due to user request", err)
            self.assertIn("alive", out)
            stopped.append(took)
        print(f"\nonnxruntime, pg_cancel_backend: errors after {', '.join(f'{t:.3f}' for t in stopped)} s")
        self.assertLess(latency.median(stopped), 0.2, f"stopped {stopped} s after the cancel")

        spent, out, err = latency.cpu_after_cancel(cluster, fixture)
        self.assertIn("canceling statement due to user request", err)
        self.assertLess(spent, 0.05, f"the backend used {spent:.2f}s of CPU in 0.5s after the cancel")


if __name__ == "__main__":
    unittest.main()
