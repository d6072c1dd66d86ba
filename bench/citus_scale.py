#!/usr/bin/env python3
"""Backfill throughput and search latency of pg_clip on Citus (docs/scale-out.md, "Measured"): one node
(a plain table on the coordinator) vs a distributed table on 1 worker vs on 2 workers, same rows, same
tiny models; and a tenant's text search through the coordinator vs on one node. Run as root after
installing pg_clip and Citus (scripts/citus-setup.sh):

    python3 bench/citus_scale.py [ROWS]        # default 480 rows, 4 shards

On this 2-core box the nodes share the cores, so the 2-worker figure measures parallel dispatch, not two
machines: docs/scale-out.md turns the per-node rate into the expected scaling.
"""
import os
import re
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
from citus_cluster import CitusCluster  # noqa: E402
import test_citus  # noqa: E402  (make_table and friends)

N = int(sys.argv[1]) if len(sys.argv) > 1 else 480


def timed(cluster, statement):
    t0 = time.monotonic()
    cluster.coordinator.sql(statement, timeout=1800)
    return time.monotonic() - t0


def latencies(node, statement, n=40):
    """Server round trips of one statement in one session, from psql's \\timing (ms)."""
    script = "\\timing on\n" + "".join(statement + ";\n" for _ in range(n + 5))
    _, out, _ = node.script(script)
    ms = [float(m.group(1)) for m in re.finditer(r"Time: ([0-9.]+) ms", out)][5:]
    return statistics.median(ms), sorted(ms)[int(0.9 * len(ms)) - 1]


def run(workers):
    c = CitusCluster(workers=workers).start()
    test_citus.CLUSTER = c
    try:
        test_citus.make_table("bench_dist", N, source="dist")
        test_citus.make_table("bench_local", N, distributed=False, source="local")
        local = timed(c, "CALL clip_backfill_run(batch => 40, source => 'local')")
        dist = timed(c, "CALL clip_backfill_run(batch => 10, source => 'dist')")
        idle_dist = latencies(c.coordinator, "SELECT * FROM clip_backfill(source => 'dist')", n=20)
        idle_local = latencies(c.coordinator, "SELECT * FROM clip_backfill(source => 'local')", n=20)
        search = "SELECT count(*) FROM clip_search_scenes_by_text('a cat', tenant => '3', scene_table => '{}')"
        s_dist = latencies(c.coordinator, search.format("bench_dist"))
        s_local = latencies(c.coordinator, search.format("bench_local"))
        return dict(workers=workers, local_s=local, dist_s=dist, idle_dist=idle_dist, idle_local=idle_local,
                    s_dist=s_dist, s_local=s_local)
    finally:
        c.stop()


def main():
    print(f"{N} rows, 4 shards, tiny models, batch 10 rows per shard (40 per call) distributed, 40 on one node")
    for w in (1, 2):
        r = run(w)
        print(f"workers={w}: one node {N / r['local_s']:.1f} img/s ({r['local_s']:.1f} s); "
              f"distributed {N / r['dist_s']:.1f} img/s ({r['dist_s']:.1f} s); "
              f"idle clip_backfill call p50/p90 distributed {r['idle_dist'][0]:.1f}/{r['idle_dist'][1]:.1f} ms, "
              f"one node {r['idle_local'][0]:.1f}/{r['idle_local'][1]:.1f} ms; "
              f"tenant text search p50/p90 through the coordinator {r['s_dist'][0]:.1f}/{r['s_dist'][1]:.1f} ms, "
              f"one node {r['s_local'][0]:.1f}/{r['s_local'][1]:.1f} ms", flush=True)


if __name__ == "__main__":
    main()
