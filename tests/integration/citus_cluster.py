"""A throwaway Citus cluster for the Citus integration test and scripts/citus-demo.sh: one coordinator and N
workers, each a pgcluster.Cluster (PostgreSQL 15 run as the `postgres` user under /var/tmp), talking to each
other over TCP on localhost (Citus connects to nodes by host name and port).

What each node gets, and why:
  * shared_preload_libraries = 'citus' first (Citus refuses to load otherwise), plus pg_cron on the
    coordinator, which drives the backfill there;
  * clip.image_model / clip.text_model in its own postgresql.conf: settings made in the coordinator's session
    do not travel to the workers, which embed next to their shards;
  * hnsw.iterative_scan / hnsw.ef_search as the search functions SET them on one node: Citus does not send a
    function's SET clauses or set_config() to the worker that runs a routed query (docs/scale-out.md);
  * citus, vector and pg_clip created on every node before the workers are added.

    python3 citus_cluster.py start|stop   (used by scripts/citus-demo.sh)
"""

import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pgcluster import PG_BIN, Cluster, as_postgres  # noqa: E402

BASE = os.environ.get("PG_CLIP_CITUS_DIR", "/var/tmp/pg_clip-citus")
PORT = int(os.environ.get("PG_CLIP_CITUS_PORT", "55432"))   # coordinator; workers PORT+1, PORT+2, ...
WORKERS = int(os.environ.get("PG_CLIP_CITUS_WORKERS", "2"))

NODE_CONF = (
    "listen_addresses = 'localhost'\n"
    "max_connections = 100\n"
    "shared_buffers = 32MB\n"
    "clip.image_model = 'pg_clip/clip-tiny-image.onnx'\n"
    "clip.text_model = 'pg_clip/clip-tiny-text.onnx'\n"
    "hnsw.iterative_scan = 'relaxed_order'\n"
    "hnsw.ef_search = 100\n"
    # Citus's anonymous statistics collection: never from a test cluster.
    "citus.enable_statistics_collection = off\n"
)
COORDINATOR_CONF = "shared_preload_libraries = 'citus,pg_cron'\ncron.database_name = 'postgres'\n"
WORKER_CONF = "shared_preload_libraries = 'citus'\n"
# PG_CLIP_CITUS_PRELOAD=1: the workers load the models in the postmaster. run_command_on_shards opens a new
# connection per shard on every call, so without it every shard batch starts a backend that loads the model.
PRELOAD_CONF = "shared_preload_libraries = 'citus,pg_clip'\nclip.preload = on\n"


def citus_installed():
    """Whether the server has a Citus build (scripts/citus-setup.sh installs one)."""
    pkglib = subprocess.run([f"{PG_BIN}/pg_config", "--pkglibdir"], capture_output=True, text=True).stdout.strip()
    share = subprocess.run([f"{PG_BIN}/pg_config", "--sharedir"], capture_output=True, text=True).stdout.strip()
    return os.path.exists(os.path.join(pkglib, "citus.so")) and os.path.exists(
        os.path.join(share, "extension", "citus.control"))


class CitusCluster:
    def __init__(self, workers=WORKERS, base=BASE, port=PORT, preload=None):
        if preload is None:
            preload = os.environ.get("PG_CLIP_CITUS_PRELOAD") == "1"
        worker_conf = PRELOAD_CONF if preload else WORKER_CONF
        self.coordinator = Cluster(NODE_CONF + COORDINATOR_CONF, base=os.path.join(base, "coordinator"), port=port)
        self.workers = [Cluster(NODE_CONF + worker_conf, base=os.path.join(base, f"worker{i + 1}"), port=port + 1 + i)
                        for i in range(workers)]
        self.base = base

    @property
    def nodes(self):
        return [self.coordinator] + self.workers

    def start(self, db="postgres"):
        os.makedirs(self.base, exist_ok=True)
        for node in self.nodes:
            node.start()
        for node in self.workers:
            self.setup_node(node, db)
        self.setup_node(self.coordinator, db)
        # pg_cron only runs where it is preloaded (the coordinator); Citus would otherwise create it on every
        # node it adds, and fail there.
        self.coordinator.sql("SET citus.enable_ddl_propagation = off; CREATE EXTENSION IF NOT EXISTS pg_cron", db=db)
        self.coordinator.sql(f"SELECT citus_set_coordinator_host('localhost', {self.coordinator.port})", db=db)
        for w in self.workers:
            self.coordinator.sql(f"SELECT citus_add_node('localhost', {w.port})", db=db)
        return self

    @staticmethod
    def setup_node(node, db):
        if db != "postgres":
            node.sql(f"CREATE DATABASE {db}")
        node.sql("CREATE EXTENSION IF NOT EXISTS citus; CREATE EXTENSION IF NOT EXISTS pg_clip CASCADE", db=db)

    @staticmethod
    def stop_node(node):
        """Stops one node, keeping its data (a node that goes down and comes back)."""
        as_postgres([f"{PG_BIN}/pg_ctl", "-D", node.data, "-m", "immediate", "-w", "stop"])

    @staticmethod
    def restart_node(node):
        as_postgres([f"{PG_BIN}/pg_ctl", "-D", node.data, "-l", os.path.join(node.base, "log"), "-w", "start"])

    def stop(self, quiet=True):
        for node in self.nodes:
            node.stop(quiet=quiet)

    def sql(self, query, **kw):
        return self.coordinator.sql(query, **kw)


def main():
    cmd = sys.argv[1] if len(sys.argv) > 1 else "start"
    c = CitusCluster()
    if cmd == "start":
        c.start()
        ports = ", ".join(str(n.port) for n in c.workers)
        print(f"coordinator: psql -h {c.coordinator.base} -p {c.coordinator.port} -U postgres; workers on ports {ports}")
    elif cmd == "stop":
        c.stop()
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
