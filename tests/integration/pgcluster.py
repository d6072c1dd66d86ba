"""A throwaway PostgreSQL cluster for integration tests (15, or the major whose binaries PG_CLIP_PG_BIN
names, e.g. /opt/pg_clip-pg17/bin), run as the unprivileged `postgres` user (PostgreSQL refuses to run as
root, and CI is root). Clients connect over a Unix socket with trust auth."""

import os
import shlex
import shutil
import subprocess
import time

PG_BIN = os.environ.get("PG_CLIP_PG_BIN", "/usr/lib/postgresql/15/bin")
BASE = os.environ.get("PG_CLIP_IT_DIR", "/var/tmp/pg_clip-it")
PORT = int(os.environ.get("PG_CLIP_IT_PORT", "54329"))


def as_postgres(args, **kw):
    prefix = [] if os.getuid() != 0 else ["runuser", "-u", "postgres", "--"]
    return subprocess.run(prefix + args, check=True, capture_output=True, text=True, **kw)


# Address-space cap for Cluster(as_limit_mb=...) runs (test_hostile.py): a hostile image that makes a decoder
# allocate what a lying header claims then gets a failed allocation (which Rust turns into an abort of the
# backend: SIGABRT, crash recovery) instead of an overcommitted mapping nobody notices.
# Measured with tests/hostile/measure_vm_peak.py (tiny models, shared_buffers = 32MB, default settings, 2 cores),
# as VmPeak, which is what RLIMIT_AS bounds: postmaster 107 MiB; a backend with pg_clip loaded 175 MiB, after
# embedding a small image 365 MiB (worker threads, their stacks and malloc arenas); the largest valid images
# the default clip.max_image_pixels admits (40e6 px: WebP 6324x6324, PNG RGBA 8000x5000, lossy WebP 6320x6320,
# progressive JPEG 8000x5000) 415-570 MiB; clip_try_embed_images over every valid corpus file (two 40e6 px
# images decoded at once on two threads) 754 MiB. 1 GiB keeps ~270 MiB over the worst legitimate peak, while
# anything sized from a lying 32-bit length (up to 4 GiB) fails. Raise it if clip.max_image_pixels is raised.
CAPPED_BASE = os.environ.get("PG_CLIP_IT_CAPPED_DIR", "/var/tmp/pg_clip-it-capped")
CAPPED_PORT = int(os.environ.get("PG_CLIP_IT_CAPPED_PORT", "54339"))
CAPPED_AS_LIMIT_MB = int(os.environ.get("PG_CLIP_IT_AS_LIMIT_MB", "1024"))


class Cluster:
    def __init__(self, extra_conf="", as_limit_mb=None, base=None, port=None):
        """as_limit_mb: start the postmaster (and so every backend) under `ulimit -v` of that many MiB.
        base/port: a separate directory and port, so a cluster can run beside the default one."""
        self.base = base or BASE
        self.port = int(port or PORT)
        self.data = os.path.join(self.base, "data")
        self.extra_conf = extra_conf
        self.as_limit_mb = as_limit_mb

    def start(self):
        self.stop(quiet=True)
        shutil.rmtree(self.base, ignore_errors=True)
        os.makedirs(self.base)
        shutil.chown(self.base, "postgres", "postgres")
        as_postgres([f"{PG_BIN}/initdb", "-D", self.data, "-A", "trust", "-U", "postgres", "--no-sync"])
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write(
                f"\nport = {self.port}\nlisten_addresses = ''\nunix_socket_directories = '{self.base}'\n"
                "fsync = off\nmax_connections = 40\n" + self.extra_conf + "\n"
            )
        return self.launch()

    def relaunch(self, as_limit_mb):
        """Stops the server and starts it again on the same data directory under another address-space cap
        (None: none), for tests that sweep the cap without paying initdb each time."""
        self.stop()
        self.as_limit_mb = as_limit_mb
        return self.launch()

    def launch(self):
        pg_ctl = [f"{PG_BIN}/pg_ctl", "-D", self.data, "-l", os.path.join(self.base, "log"), "-w", "start"]
        if self.as_limit_mb:
            # pg_ctl execs the postmaster, which forks every backend: all inherit the cap.
            as_postgres(["bash", "-c", f"ulimit -v {int(self.as_limit_mb) * 1024}; exec " + " ".join(map(shlex.quote, pg_ctl))])
        else:
            as_postgres(pg_ctl)
        return self

    def stop(self, quiet=False):
        if os.path.exists(os.path.join(self.data, "postmaster.pid")):
            try:
                as_postgres([f"{PG_BIN}/pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop"])
            except subprocess.CalledProcessError:
                if not quiet:
                    raise

    def postmaster_pid(self):
        """The postmaster's pid from postmaster.pid (None when it is not running)."""
        try:
            with open(os.path.join(self.data, "postmaster.pid")) as f:
                return int(f.readline())
        except (OSError, ValueError):
            return None

    def log(self):
        try:
            with open(os.path.join(self.base, "log")) as f:
                return f.read()
        except OSError:
            return ""

    def psql_args(self, db="postgres", user="postgres"):
        return ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", self.base, "-p", str(self.port), "-U", user, "-d", db]

    def sql(self, query, db="postgres", user="postgres", check=True, timeout=300):
        """Runs SQL in a new session; returns (returncode, stdout, stderr). Tuples unaligned, '|'-separated."""
        p = subprocess.run(
            self.psql_args(db, user) + ["-At", "-c", query],
            capture_output=True, text=True, timeout=timeout,
        )
        if check and p.returncode != 0:
            raise AssertionError(f"SQL failed: {query}\n{p.stderr}")
        return p.returncode, p.stdout.strip(), p.stderr.strip()

    def script(self, text, db="postgres", user="postgres", on_error_stop=False, timeout=300):
        """Runs a multi-statement script in ONE session (so SETs and errors carry over)."""
        args = self.psql_args(db, user)
        if not on_error_stop:
            args = [a if a != "ON_ERROR_STOP=1" else "ON_ERROR_STOP=0" for a in args]
        p = subprocess.run(args + ["-At"], input=text, capture_output=True, text=True, timeout=timeout)
        return p.returncode, p.stdout.strip(), p.stderr.strip()

    def popen(self, text, db="postgres", user="postgres"):
        args = [a if a != "ON_ERROR_STOP=1" else "ON_ERROR_STOP=0" for a in self.psql_args(db, user)] + ["-At"]
        p = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # Flushed, not closed: communicate() later sends EOF, and psql runs the statements meanwhile.
        p.stdin.write(text if text.endswith("\n") else text + "\n")
        p.stdin.flush()
        return p

    def backend_alive(self):
        return self.sql("SELECT 1")[1] == "1"


def share_dir():
    return subprocess.run([f"{PG_BIN}/pg_config", "--sharedir"], capture_output=True, text=True, check=True).stdout.strip()


def fixture(name):
    return os.path.join(share_dir(), "pg_clip", "fixtures", name)
