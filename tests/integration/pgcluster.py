"""A throwaway PostgreSQL 15 cluster for integration tests, run as the unprivileged `postgres` user
(PostgreSQL refuses to run as root, and CI is root). Clients connect over a Unix socket with trust auth."""

import os
import shutil
import subprocess
import time

PG_BIN = "/usr/lib/postgresql/15/bin"
BASE = os.environ.get("PG_CLIP_IT_DIR", "/var/tmp/pg_clip-it")
PORT = int(os.environ.get("PG_CLIP_IT_PORT", "54329"))


def as_postgres(args, **kw):
    prefix = [] if os.getuid() != 0 else ["runuser", "-u", "postgres", "--"]
    return subprocess.run(prefix + args, check=True, capture_output=True, text=True, **kw)


class Cluster:
    def __init__(self, extra_conf=""):
        self.base = BASE
        self.data = os.path.join(BASE, "data")
        self.extra_conf = extra_conf

    def start(self):
        self.stop(quiet=True)
        shutil.rmtree(self.base, ignore_errors=True)
        os.makedirs(self.base)
        shutil.chown(self.base, "postgres", "postgres")
        as_postgres([f"{PG_BIN}/initdb", "-D", self.data, "-A", "trust", "-U", "postgres", "--no-sync"])
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write(
                f"\nport = {PORT}\nlisten_addresses = ''\nunix_socket_directories = '{self.base}'\n"
                "fsync = off\nmax_connections = 40\n" + self.extra_conf + "\n"
            )
        as_postgres([f"{PG_BIN}/pg_ctl", "-D", self.data, "-l", os.path.join(self.base, "log"), "-w", "start"])
        return self

    def stop(self, quiet=False):
        if os.path.exists(os.path.join(BASE, "data", "postmaster.pid")):
            try:
                as_postgres([f"{PG_BIN}/pg_ctl", "-D", os.path.join(BASE, "data"), "-m", "fast", "-w", "stop"])
            except subprocess.CalledProcessError:
                if not quiet:
                    raise

    def log(self):
        try:
            with open(os.path.join(self.base, "log")) as f:
                return f.read()
        except OSError:
            return ""

    def psql_args(self, db="postgres", user="postgres"):
        return ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", self.base, "-p", str(PORT), "-U", user, "-d", db]

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
