"""The Debian package (scripts/package.sh): built, installed on this machine with `apt-get install
./pg-clip_*.deb`, and used by a cluster: CREATE EXTENSION, embeddings, the frozen 0.1.0 script and its
upgrade, the vocabulary and the models README in place.

Installing the package replaces the extension files in the system PostgreSQL directories, which every other
module of the suite tests. This module snapshots those files first and, after purging the package, puts the
snapshot back (checked by checksum), so the rest of the suite still tests the freshly built extension. Run
the suite under the machine's install lock (`flock /work/install.lock ...`) where others install builds too.

The package is built with `--profile dev`, reusing the build the suite already made (seconds, not a release
build of the whole tree); PG_CLIP_TEST_DEB=path tests a given .deb instead (e.g. a release package).

Run: cd tests/integration && python3 -m unittest -v test_package
"""

import glob
import hashlib
import os
import shutil
import subprocess
import tempfile
import unittest

from pgcluster import Cluster, fixture

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CONF = "clip.image_model = 'pg_clip/clip-tiny-image.onnx'\nclip.text_model = 'pg_clip/clip-tiny-text.onnx'\n"
VERSION = next(line.split('"')[1] for line in open(os.path.join(ROOT, "Cargo.toml")) if line.startswith("version = "))
APT = ["apt-get", "-y", "-q", "-o", "DPkg::Lock::Timeout=300"]

work = None        # temp dir: the .deb, its extracted contents, the snapshot
deb = None
files = []         # absolute paths of the files in the package
snapshot = {}      # path -> (backup path or None if absent, sha256)
cluster = None
skip_reason = None


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def run(args, **kw):
    p = subprocess.run(args, capture_output=True, text=True, **kw)
    if p.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({p.returncode}):\n{p.stdout[-4000:]}\n{p.stderr[-4000:]}")
    return p.stdout


def installed():
    p = subprocess.run(["dpkg-query", "-W", "-f=${Status}", "pg-clip"], capture_output=True, text=True)
    return p.returncode == 0 and "installed" in p.stdout.split()


def restore():
    """Purges the package and puts the snapshot back: what the other modules test."""
    if installed():
        run(APT + ["purge", "pg-clip"], env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    for path, (backup, _) in snapshot.items():
        if backup is None:
            if os.path.exists(path):
                os.unlink(path)
            continue
        os.makedirs(os.path.dirname(path), exist_ok=True)
        # Copied beside the target and renamed over it, as dpkg and install(1) do: a backend that has the
        # old library mapped keeps its mapping.
        tmp = path + ".pg_clip-restore"
        shutil.copy2(backup, tmp)
        os.replace(tmp, path)
    changed = [p for p, (backup, sha) in snapshot.items() if backup and sha256(p) != sha]
    if changed:
        raise AssertionError(f"the suite's extension files were not restored: {changed}")


def setUpModule():
    global work, deb, files, cluster, skip_reason
    if os.getuid() != 0:
        skip_reason = "installs a package: needs root"
        return
    if installed():
        skip_reason = "a pg-clip package is already installed on this machine; not replacing it"
        return
    work = tempfile.mkdtemp(prefix="pg_clip-package-")
    deb = os.environ.get("PG_CLIP_TEST_DEB")
    if not deb:
        run(["bash", os.path.join(ROOT, "scripts", "package.sh"), "--profile", "dev", "--out", work], timeout=3600)
        deb = glob.glob(os.path.join(work, f"pg-clip_{VERSION}_*.deb"))[0]
    run(["dpkg-deb", "-x", deb, os.path.join(work, "contents")])
    files = ["/" + line.split(None, 5)[5].lstrip("./") for line in run(["dpkg-deb", "-c", deb]).splitlines()
             if line.startswith("-")]
    os.makedirs(os.path.join(work, "snapshot"))
    for i, path in enumerate(files):
        if os.path.exists(path):
            backup = os.path.join(work, "snapshot", str(i))
            shutil.copy2(path, backup)
            snapshot[path] = (backup, sha256(path))
        else:
            snapshot[path] = (None, None)
    try:
        # apt resolves the Depends (postgresql-15 and the libraries); a ./ path is what makes it a file.
        run(APT + ["install", os.path.abspath(deb)], cwd=os.path.dirname(os.path.abspath(deb)),
            env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
        cluster = Cluster(CONF, base="/var/tmp/pg_clip-it-package", port=54349).start()
    except BaseException:
        restore()
        raise


def tearDownModule():
    if skip_reason:
        return
    try:
        if cluster:
            cluster.stop()
    finally:
        restore()
        shutil.rmtree(work, ignore_errors=True)


class PackageTest(unittest.TestCase):
    def setUp(self):
        if skip_reason:
            self.skipTest(skip_reason)

    def test_control_fields(self):
        info = run(["dpkg-deb", "-f", deb, "Package", "Version", "Architecture", "Depends"])
        fields = dict(line.split(": ", 1) for line in info.splitlines())
        self.assertEqual(fields["Package"], "pg-clip")
        self.assertEqual(fields["Version"], VERSION)
        self.assertEqual(fields["Architecture"], run(["dpkg", "--print-architecture"]).strip())
        deps = [d.strip().split()[0] for d in fields["Depends"].split(",")]
        self.assertEqual(deps[0], "postgresql-15")
        # bookworm has no pgvector package; CREATE EXTENSION reports it through the control file's requires.
        self.assertNotIn("postgresql-15-pgvector", deps)
        self.assertIn("libc6", deps)
        self.assertEqual(os.path.basename(deb), f"pg-clip_{VERSION}_{fields['Architecture']}.deb")

    def test_contents(self):
        ext = "/usr/share/postgresql/15/extension/"
        expected = {
            "/usr/lib/postgresql/15/lib/pg_clip.so",
            ext + "pg_clip.control", ext + f"pg_clip--{VERSION}.sql",
            ext + "pg_clip--0.1.0.sql", ext + "pg_clip--0.1.0--0.2.0.sql",
            "/usr/share/postgresql/15/pg_clip/bpe_simple_vocab_16e6.txt.gz",
            "/usr/share/postgresql/15/pg_clip/bpe_simple_vocab_16e6.LICENSE",
            "/usr/share/postgresql/15/pg_clip/README.models",
        }
        self.assertLessEqual(expected, set(files))
        # Every SQL script of the repo (frozen installs, upgrades) is in the package.
        for f in glob.glob(os.path.join(ROOT, "sql", "pg_clip--*.sql")):
            self.assertIn(ext + os.path.basename(f), files)
        with open(ext + "pg_clip.control") as f:
            control = f.read()
        self.assertIn("requires = 'vector'", control)
        self.assertIn(f"default_version = '{VERSION}'", control)
        with open("/usr/share/postgresql/15/pg_clip/README.models") as f:
            self.assertIn("export_clip.py", f.read())

    def test_installed_files_are_the_packages(self):
        self.assertTrue(installed())
        listed = set(run(["dpkg", "-L", "pg-clip"]).splitlines())
        for path in files:
            self.assertIn(path, listed)
            self.assertEqual(sha256(path), sha256(os.path.join(work, "contents", path.lstrip("/"))), path)
        # The packaged (stripped) library is not the one the suite installed: the cluster below used the package's.
        lib = "/usr/lib/postgresql/15/lib/pg_clip.so"
        if snapshot[lib][0]:
            self.assertNotEqual(sha256(lib), snapshot[lib][1])

    def test_smoke(self):
        cluster.sql("CREATE DATABASE pkg_smoke")
        cluster.sql("CREATE EXTENSION pg_clip CASCADE", db="pkg_smoke")
        img = fixture("cat.bmp")
        got = cluster.sql(
            "SELECT extversion, vector_dims(e), round(vector_norm(e)::numeric, 4), "
            "round((1 - (e <=> clip_embed_image(pg_read_binary_file(%s))))::numeric, 4), "
            "vector_dims(clip_embed_text('a photo of a cat')) "
            "FROM pg_extension, clip_embed_image(pg_read_binary_file(%s)) e WHERE extname = 'pg_clip'"
            % (repr(img), repr(img)), db="pkg_smoke")[1]
        self.assertEqual(got, f"{VERSION}|512|1.0000|1.0000|512")
        # The library the backend mapped is the package's file (same inode), not a leftover of the suite's.
        rc, out, err = cluster.script("SELECT clip_embed_text('x') IS NOT NULL;\n"
                                      "SELECT pg_read_file('/proc/self/maps');\n", db="pkg_smoke", on_error_stop=True)
        self.assertEqual(rc, 0, err)
        inodes = {int(line.split()[4]) for line in out.splitlines() if line.endswith("/pg_clip.so")}
        self.assertEqual(inodes, {os.stat("/usr/lib/postgresql/15/lib/pg_clip.so").st_ino})

    def test_frozen_install_script_and_upgrade(self):
        cluster.sql("CREATE DATABASE pkg_upgrade")
        cluster.sql("CREATE EXTENSION pg_clip VERSION '0.1.0' CASCADE", db="pkg_upgrade")
        cluster.sql("ALTER EXTENSION pg_clip UPDATE", db="pkg_upgrade")
        self.assertEqual(cluster.sql("SELECT extversion FROM pg_extension WHERE extname = 'pg_clip'",
                                     db="pkg_upgrade")[1], VERSION)
        self.assertEqual(cluster.sql("SELECT vector_dims(clip_embed_text('a dog'))", db="pkg_upgrade")[1], "512")
