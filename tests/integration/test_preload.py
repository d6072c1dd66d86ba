"""clip.preload: with shared_preload_libraries = 'pg_clip' the postmaster loads both towers before any
backend forks; every new connection then finds them loaded (no per-backend load), and a missing model
only logs a WARNING instead of stopping the server."""

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
