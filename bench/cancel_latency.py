#!/usr/bin/env python3
"""How fast pg_clip stops: the distribution of server-side stop latencies on every interruptible path,
over more trials than the interrupt tests take (they assert on the median of 3-5; this reports p50, p95
and max). Part of bench/run.py (its "Cancel and timeout latency" section); also runs alone, with the
Python standard library only and the committed tiny models (the stop latency of a forward pass is bounded
by the interrupt checkpoints between operators, which the tiny models have as many of as the full ones):

    sudo python3 bench/cancel_latency.py [--trials 15]

Every figure is taken on the server's clock (tests/integration/latency.py): from the statement's start
(a timeout: the figure is what passed after the deadline) or from the moment pg_cancel_backend() was
sent, to the moment the backend logged its error."""

import argparse
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))

import latency  # noqa: E402
import pgcluster  # noqa: E402

CONF = ("clip.image_model = 'pg_clip/clip-tiny-image.onnx'\n"
        "clip.text_model = 'pg_clip/clip-tiny-text.onnx'\n" + latency.LOG_LINE_PREFIX)
# 10 MB of text that ftfy cleaning and BPE work hard on (the tokenizer's checkpoints are what is measured).
HUGE_TEXT = ("SET clip.max_text_bytes = '64MB';\n"
             "SELECT cardinality(clip_tokenize(repeat('caf\u00c3\u00a9 &amp; na\u00efve \u201cquote\u201d ', 400000)));\n")


def machine():
    model, flags = "?", []
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name") and model == "?":
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and not flags:
                flags = line.split(":", 1)[1].split()
    isa = [f for f in flags if f.startswith(("avx", "amx", "fma", "sse4", "f16c", "bmi"))]
    return f"{model}, {os.cpu_count()} cores; ISA: {' '.join(sorted(isa))}"


def measure(cluster, trials):
    fixture = pgcluster.fixture
    paths = [
        ("pg_cancel_backend, image batch, clip.threads = 1",
         lambda: latency.cancel_after(cluster, fixture, setup="SET clip.threads = 1;\n")[0]),
        ("pg_cancel_backend, image batch, clip.threads = 2",
         lambda: latency.cancel_after(cluster, fixture, setup="SET clip.threads = 2;\n")[0]),
        ("statement_timeout 500 ms, image batch",
         lambda: latency.timed_out_after(cluster, fixture, "\\set VERBOSITY verbose\nSET statement_timeout = '500ms';\n",
                                         "canceling statement due to statement timeout")[0] - 0.5),
        ("clip.timeout_ms 400, image batch",
         lambda: latency.timed_out_after(cluster, fixture, "\\set VERBOSITY verbose\nSET clip.timeout_ms = 400;\n",
                                         "clip.timeout_ms")[0] - 0.4),
        *[(f"pg_cancel_backend inside one 40 MP image ({name.split('-')[0]}: {what})",
           lambda name=name: latency.cancel_after(cluster, fixture, delay_s=0.45,
                                                  call=latency.large_image_calls(fixture, "hostile/" + name))[0])
          for name, what in [("png-valid-at-pixel-limit-8000x5000-rgba.png", "RGBA 8000x5000"),
                             ("webp-valid-at-pixel-limit-vp8l-6324x6324.webp", "lossless 6324x6324"),
                             ("webp-valid-at-pixel-limit-vp8-6320x6320.webp", "lossy 6320x6320"),
                             ("jpeg-valid-at-pixel-limit-8000x5000-progressive-gray.jpg", "progressive 8000x5000")]],
        ("statement_timeout 1 s, 10 MB text (tokenizer)",
         lambda: latency.timed_out_after(cluster, fixture, "\\set VERBOSITY verbose\nSET statement_timeout = '1s';\n",
                                         "canceling statement due to statement timeout", call=HUGE_TEXT)[0] - 1.0),
    ]
    rows = []
    for name, once in paths:
        ms = [1000 * once() for _ in range(trials)]
        rows.append({"path": name, "trials": trials, "p50_ms": latency.median(ms),
                     "p95_ms": latency.percentile(ms, 0.95), "max_ms": max(ms)})
    return rows


def print_table(rows):
    print("| path | trials | p50 ms | p95 ms | max ms |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['path']} | {r['trials']} | {r['p50_ms']:.0f} | {r['p95_ms']:.0f} | {r['max_ms']:.0f} |")
    print("\n(ms from the signal, or past the deadline, to the logged error, on the server's clock; "
          "the promise is p50 < 200 ms on every path)")


def run(trials=15, base="/var/tmp/pg_clip-bench-cancel", port=54349):
    cluster = pgcluster.Cluster(CONF, base=base, port=port).start()
    try:
        cluster.sql("CREATE EXTENSION pg_clip CASCADE")
        return measure(cluster, trials)
    finally:
        cluster.stop(quiet=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=15)
    args = ap.parse_args()
    if os.getuid() != 0:
        sys.exit("run as root (the cluster runs as postgres through runuser)")
    print(f"machine: {machine()}")
    print(f"load before: {open('/proc/loadavg').read().strip()}\n")
    rows = run(args.trials)
    print_table(rows)
    print(f"\nload after: {open('/proc/loadavg').read().strip()}")


if __name__ == "__main__":
    main()
