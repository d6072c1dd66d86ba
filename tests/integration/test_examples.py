"""The client examples (examples/python with psycopg 3, examples/node with node-postgres) run against a
throwaway cluster, each in a database of its own, and their output is checked against the database:

- every upload is embedded (512 dimensions) and stored by the tenant's own role;
- the tenant sees only its rows, and every search returns only its scenes;
- "more like this" by the uploaded bytes puts the image's own stored row first (similarity 1), then its
  re-encoded copy (rocket-lossy.webp); by the stored scene, the scene itself is excluded;
- another tenant's scene as the source gives nothing;
- every similarity printed is 1 - cosine distance recomputed here by the superuser from the stored vectors,
  and both clients print the same numbers.

Run: cd tests/integration && python3 -m unittest -v test_examples
"""

import json
import os
import subprocess
import unittest

from pgcluster import Cluster

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
EXAMPLES = os.path.join(ROOT, "examples")
CONF = "clip.image_model = 'pg_clip/clip-tiny-image.onnx'\nclip.text_model = 'pg_clip/clip-tiny-text.onnx'\n"
CLIENTS = {
    "python": [os.path.join(EXAMPLES, "python", ".venv", "bin", "python"),
               os.path.join(EXAMPLES, "python", "pg_clip_example.py")],
    "node": ["node", os.path.join(EXAMPLES, "node", "pg_clip_example.js")],
}
TENANT1 = ["rocket-portrait.jpg", "rocket-lossy.webp", "cat-exif-rot6.jpg", "coffee-progressive.jpg",
           "astronaut-baseline.jpg"]
TENANT2 = ["rocket-cmyk.jpg", "cat.bmp", "coffee-rgba.png"]

cluster = None
outputs = {}


def setUpModule():
    global cluster
    # Idempotent; installs psycopg / pg on a fresh machine (scripts/setup.sh already ran it in the suite).
    subprocess.run(["bash", os.path.join(EXAMPLES, "setup.sh")], check=True, capture_output=True, text=True)
    cluster = Cluster(CONF).start()


def tearDownModule():
    cluster.stop()


def run_example(client, db):
    env = dict(os.environ, PGHOST=cluster.base, PGPORT=str(cluster.port), PGUSER="postgres", PGDATABASE=db)
    env.pop("PG_CLIP_DSN", None)
    p = subprocess.run(CLIENTS[client] + [os.path.join(ROOT, "tests", "images")], env=env,
                       capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        raise AssertionError(f"{client} example failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    steps = [json.loads(line) for line in p.stdout.splitlines() if line.strip()]
    return steps


class ExampleTest:
    CLIENT = None

    @classmethod
    def setUpClass(cls):
        cls.db = f"examples_{cls.CLIENT}"
        cluster.sql(f"CREATE DATABASE {cls.db}")
        cls.steps = run_example(cls.CLIENT, cls.db)
        outputs[cls.CLIENT] = cls.steps

    def step(self, name):
        found = [s for s in self.steps if s["step"] == name]
        self.assertEqual(len(found), 1, f"{name}: {self.steps}")
        return found[0]

    def ids(self):
        return {(s["tenant"], s["name"]): s["scene_id"] for s in self.steps if s["step"] == "upload"}

    def stored_similarity(self, a, b):
        """1 - cosine distance between two stored scenes, as the superuser (RLS does not apply)."""
        return float(cluster.sql(
            "SELECT 1 - (a.embedding_visual_clip <=> b.embedding_visual_clip) FROM video_scenes a, video_scenes b "
            f"WHERE a.id = {int(a)} AND b.id = {int(b)}", db=self.db)[1])

    def test_uploads_embedded_and_stored_per_tenant(self):
        uploads = [s for s in self.steps if s["step"] == "upload"]
        self.assertEqual([(s["tenant"], s["name"]) for s in uploads],
                         [("1", n) for n in TENANT1] + [("2", n) for n in TENANT2])
        self.assertTrue(all(s["dims"] == 512 for s in uploads))
        got = cluster.sql("SELECT user_id, name, round(vector_norm(embedding_visual_clip)::numeric, 4), "
                          "thumbnail = pg_read_binary_file(" + repr(os.path.join(ROOT, "tests", "images")) +
                          " || '/' || name) FROM video_scenes ORDER BY id", db=self.db)[1]
        # The stored thumbnail is the file's bytes (bytea round trip) and the vector is unit length.
        self.assertEqual(got.splitlines(), [f"1|{n}|1.0000|t" for n in TENANT1] + [f"2|{n}|1.0000|t" for n in TENANT2])

    def test_tenant_sees_only_its_rows(self):
        self.assertEqual(self.step("visible"), {"step": "visible", "tenant": "1", "rows": 5, "tenants": ["1"]})

    def test_text_search_returns_the_tenants_scenes_ranked(self):
        s = self.step("text_search")
        ids = self.ids()
        self.assertEqual({r["scene_id"] for r in s["results"]}, {ids[("1", n)] for n in TENANT1})
        sims = [r["similarity"] for r in s["results"]]
        self.assertEqual(sims, sorted(sims, reverse=True))
        emb = cluster.sql("SELECT clip_embed_text('a photo of a rocket')::text", db=self.db)[1]
        for r in s["results"]:
            want = float(cluster.sql(f"SELECT 1 - (embedding_visual_clip <=> '{emb}') FROM video_scenes "
                                     f"WHERE id = {int(r['scene_id'])}", db=self.db)[1])
            self.assertAlmostEqual(r["similarity"], want, places=5)

    def test_more_like_an_upload_puts_its_own_row_first(self):
        s = self.step("similar_to_upload")
        ids = self.ids()
        first, second = s["results"][:2]
        self.assertEqual((first["scene_id"], first["name"]), (ids[("1", "rocket-portrait.jpg")], "rocket-portrait.jpg"))
        self.assertGreater(first["similarity"], 0.9999)
        # The same photo re-encoded as lossy WebP is the nearest other scene.
        self.assertEqual(second["name"], "rocket-lossy.webp")
        self.assertAlmostEqual(second["similarity"], self.stored_similarity(first["scene_id"], second["scene_id"]),
                               places=5)
        self.assertTrue(all(r["scene_id"] in {ids[("1", n)] for n in TENANT1} for r in s["results"]))

    def test_more_like_a_stored_scene_excludes_it(self):
        s = self.step("similar_to_scene")
        ids = self.ids()
        src = ids[("1", "rocket-portrait.jpg")]
        self.assertEqual(s["scene_id"], src)
        self.assertEqual({r["scene_id"] for r in s["results"]}, {ids[("1", n)] for n in TENANT1} - {src})
        self.assertEqual(s["results"][0]["name"], "rocket-lossy.webp")
        for r in s["results"]:
            self.assertAlmostEqual(r["similarity"], self.stored_similarity(src, r["scene_id"]), places=5)

    def test_another_tenants_scene_gives_nothing(self):
        s = self.step("similar_to_other_tenants_scene")
        self.assertEqual(s["scene_id"], self.ids()[("2", "rocket-cmyk.jpg")])
        self.assertEqual(s["results"], [])

    def test_rerun_replaces_the_demo_rows(self):
        # A database of its own: the other tests compare this class's output with its database's rows.
        db = f"{self.db}_rerun"
        cluster.sql(f"CREATE DATABASE {db}")
        run_example(self.CLIENT, db)
        again = run_example(self.CLIENT, db)
        self.assertEqual(cluster.sql("SELECT count(*) FROM video_scenes", db=db)[1], "8")
        self.assertEqual([r["name"] for r in [s for s in again if s["step"] == "similar_to_upload"][0]["results"]],
                         [r["name"] for r in self.step("similar_to_upload")["results"]])


class PythonExampleTest(ExampleTest, unittest.TestCase):
    CLIENT = "python"


class NodeExampleTest(ExampleTest, unittest.TestCase):
    CLIENT = "node"

    def test_same_numbers_as_the_python_client(self):
        python = outputs.get("python")
        if python is None:   # a narrowed run (or an order) that has not run the Python class yet
            cluster.sql("CREATE DATABASE examples_python_cmp")
            python = run_example("python", "examples_python_cmp")

        def ranked(steps):
            return [(s["step"], [(r["name"], round(r["similarity"], 5)) for r in s.get("results", [])
                                 if isinstance(r, dict)]) for s in steps if s["step"] != "upload"]
        self.assertEqual(ranked(self.steps), ranked(python))
