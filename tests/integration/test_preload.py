"""clip.preload: with shared_preload_libraries = 'pg_clip' the postmaster loads both towers before any
backend forks; every new connection then finds them loaded (no per-backend load), and a missing model
only logs a WARNING instead of stopping the server."""

import os
import re
import unittest

from pgcluster import Cluster, fixture

PHOTO = "astronaut-baseline.jpg"


class PreloadTest(unittest.TestCase):
    def tearDown(self):
        self.cluster.stop()

    def test_models_are_loaded_before_the_first_call(self):
        self.cluster = Cluster(
            "shared_preload_libraries = 'pg_clip'\nclip.preload = on\n"
            "clip.image_model = 'pg_clip/clip-tiny-image.onnx'\nclip.text_model = 'pg_clip/clip-tiny-text.onnx'\n"
        ).start()
        self.cluster.sql("CREATE EXTENSION pg_clip CASCADE")
        self.assertIn("preloaded image model", self.cluster.log())
        self.assertIn("preloaded text model", self.cluster.log())
        # One single-threaded pass per tower in the postmaster, so new backends skip first-pass set-up.
        self.assertIn("warmed up the image model", self.cluster.log())
        self.assertIn("warmed up the text model", self.cluster.log())
        # A brand-new backend that has embedded nothing already holds both towers.
        _, out, _ = self.cluster.sql(
            "SELECT clip_model_info()->'image'->>'preloaded', clip_model_info()->'text'->>'preloaded'")
        self.assertEqual(out, "true|true")
        _, out, _ = self.cluster.sql(
            f"SELECT vector_dims(clip_embed_image(pg_read_binary_file('{fixture(PHOTO)}'))), "
            "vector_dims(clip_embed_text('a cat'))")
        self.assertEqual(out, "512|512")
        _, out, _ = self.cluster.sql("SHOW clip.preload")
        self.assertEqual(out, "on")

    def test_preloaded_memory_is_put_on_huge_pages(self):
        self.cluster = Cluster(
            "shared_preload_libraries = 'pg_clip'\nclip.preload = on\n"
            "clip.image_model = 'pg_clip/clip-tiny-image.onnx'\nclip.text_model = 'pg_clip/clip-tiny-text.onnx'\n"
        ).start()
        m = re.search(r"pg_clip: (\d+) (?:of (\d+) )?MiB of preloaded memory on 2 MiB pages", self.cluster.log())
        self.assertIsNotNone(m, self.cluster.log())
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
            thp = f.read()
        if "[never]" in thp:
            self.skipTest("transparent huge pages are disabled on this kernel")
        with open(os.path.join(self.cluster.data, "postmaster.pid")) as f:
            pid = int(f.readline())
        with open(f"/proc/{pid}/smaps_rollup") as f:
            huge_kb = int(re.search(r"AnonHugePages:\s+(\d+) kB", f.read()).group(1))
        # The tiny test models leave ~20 MiB of heap to collapse (the full-size ones ~750 MiB,
        # docs/benchmarks.md). The kernel may refuse single huge pages of it, not all of them, and what the
        # postmaster reports collapsed really is on huge pages (less than reported: start-up frees some).
        collapsed = int(m.group(1))
        eligible = int(m.group(2) or collapsed)
        if eligible >= 4:
            self.assertGreater(collapsed, 0, self.cluster.log())
            self.assertGreater(huge_kb, 0)

    def test_missing_model_does_not_stop_the_server(self):
        self.cluster = Cluster(
            "shared_preload_libraries = 'pg_clip'\nclip.preload = on\n"
            "clip.image_model = '/nonexistent/image.onnx'\nclip.text_model = 'pg_clip/clip-tiny-text.onnx'\n"
        ).start()
        self.assertIn("could not preload image model", self.cluster.log())
        self.cluster.sql("CREATE EXTENSION pg_clip CASCADE")
        rc, _, err = self.cluster.script(
            f"SELECT clip_embed_image(pg_read_binary_file('{fixture(PHOTO)}'));\n")
        self.assertIn("does not exist", err)
        _, out, _ = self.cluster.sql("SELECT vector_dims(clip_embed_text('a cat'))")
        self.assertEqual(out, "512")


if __name__ == "__main__":
    unittest.main()
