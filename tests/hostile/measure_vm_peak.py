#!/usr/bin/env python3
"""Measures the address space (VmPeak) a backend needs to embed the hostile corpus' valid images, to choose
the `ulimit -v` cap test_hostile.py runs its cluster under (pgcluster.CAPPED_AS_LIMIT_MB).

    python3 tests/hostile/measure_vm_peak.py [--all]

Starts an UNcapped throwaway cluster (tiny models, shared_buffers = 32MB, as test_hostile.py) on its own
directory and port, and for every valid file of tests/images/hostile/MANIFEST.json (--all: every file that
is not expected to be refused from its header) runs, in a fresh session, clip_embed_image() and then reads the
backend's own /proc/self/status, printing VmPeak (the peak of what RLIMIT_AS limits) and VmHWM (peak RSS).
It also measures an idle backend with pg_clip loaded, one whole-corpus clip_try_embed_images() call of the
valid files, and the postmaster. Without a cap, a lying file can make a decoder reserve gigabytes that are
never touched (overcommit), which is exactly what the cap exists to turn into a visible failure; --all
shows those too, so read its outliers as findings, not as the size the cap needs.
"""

import argparse
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

from pgcluster import Cluster, fixture  # noqa: E402

MODEL_CONF = (
    "clip.image_model = 'pg_clip/clip-tiny-image.onnx'\n"
    "clip.text_model = 'pg_clip/clip-tiny-text.onnx'\n"
    "shared_buffers = 32MB\n"
)
MANIFEST = os.path.join(HERE, "..", "images", "hostile", "MANIFEST.json")
STATUS = "SELECT pg_read_file('/proc/self/status')"


def peaks(text):
    out = {}
    for key in ("VmPeak", "VmHWM", "VmSize"):
        m = re.search(rf"^{key}:\s+(\d+) kB", text, re.M)
        out[key] = int(m.group(1)) // 1024 if m else None
    return out


def measure(cluster, sql):
    _, out, err = cluster.script("\\set VERBOSITY verbose\n" + sql + ";\n" + STATUS + ";\n", timeout=600)
    state = re.search(r"ERROR:  ([0-9A-Z]{5})", err)
    if state:
        return peaks(out), state.group(1)
    if "VmPeak" not in out:
        return peaks(out), "no answer: " + err.strip()[:80]
    return peaks(out), "-> " + out.splitlines()[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--all", action="store_true", help="every file, not only the valid ones")
    args = ap.parse_args()
    with open(MANIFEST) as f:
        files = json.load(f)["files"]
    chosen = [e for e in files if e["valid"] or (args.all and not e.get("expect"))]
    cluster = Cluster(MODEL_CONF, base="/var/tmp/pg_clip-it-measure", port=54349).start()
    try:
        cluster.sql("CREATE EXTENSION pg_clip CASCADE")
        p, _ = measure(cluster, "SELECT clip_tokenize('x') IS NOT NULL")
        print(f"{'idle backend, pg_clip loaded':60s} VmPeak {p['VmPeak']:6d} MiB  VmHWM {p['VmHWM']:5d} MiB")
        rows = []
        for e in chosen:
            path = fixture("hostile/" + e["name"])
            p, state = measure(cluster, f"SELECT vector_dims(clip_embed_image(pg_read_binary_file('{path}')))")
            rows.append((p["VmPeak"] or 0, e["name"], p, state))
        for vm, name, p, state in sorted(rows, reverse=True)[:25]:
            print(f"{name:60s} VmPeak {vm:6d} MiB  VmHWM {p['VmHWM'] or 0:5d} MiB  {state}")
        valid = ", ".join(f"pg_read_binary_file('{fixture('hostile/' + e['name'])}')" for e in files if e["valid"])
        p, state = measure(cluster, f"SELECT count(embedding) FROM clip_try_embed_images(ARRAY[{valid}])")
        print(f"{'clip_try_embed_images(every valid file)':60s} VmPeak {p['VmPeak']:6d} MiB  VmHWM {p['VmHWM']:5d} MiB  {state}")
        with open(f"/proc/{cluster.postmaster_pid()}/status") as f:
            p = peaks(f.read())
        print(f"{'postmaster':60s} VmPeak {p['VmPeak']:6d} MiB  VmHWM {p['VmHWM']:5d} MiB")
    finally:
        cluster.stop(quiet=True)


if __name__ == "__main__":
    main()
