"""The pg_regress expected-output tests of the SQL surface (tests/sql/*.sql against tests/expected/*.out),
run by tests/regress.sh against a throwaway cluster, as pgvector and pgmq run theirs."""

import os
import subprocess
import unittest

from pgcluster import Cluster

HERE = os.path.dirname(os.path.abspath(__file__))


class RegressTest(unittest.TestCase):
    def test_sql_surface_matches_expected_output(self):
        cluster = Cluster("clip.image_model = 'pg_clip/clip-tiny-image.onnx'\n"
                          "clip.text_model = 'pg_clip/clip-tiny-text.onnx'\n").start()
        try:
            p = subprocess.run(["bash", os.path.join(HERE, "..", "regress.sh"), cluster.base, str(cluster.port)],
                               capture_output=True, text=True, timeout=600)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        finally:
            cluster.stop()


if __name__ == "__main__":
    unittest.main()
