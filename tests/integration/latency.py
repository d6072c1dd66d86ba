"""Server-side latency of stopping a long pg_clip call, shared by the interrupt tests (which assert on the
median of a few trials) and bench/run.py (which reports the distribution). Every figure is taken on the
server's clock: the cluster must log with log_line_prefix = '%n [%p] ' (epoch with milliseconds)."""

import os
import re
import time

LOG_LINE_PREFIX = "log_line_prefix = '%n [%p] '\n"
SMALL_IMAGE = "cat-tiny-20x14.png"   # a few hundred bytes: a big array of it is cheap to build, slow to embed
_ERROR = re.compile(r"(\d+\.\d+) \[(\d+)\] ERROR:  (?:57014: )?(.*)")


def long_call(fixture, n=4000):
    """A call that runs for seconds: n small images in forward passes of 256."""
    return ("SET clip.max_batch_size = 256;\n"
            f"SELECT cardinality(clip_embed_images(array_fill(pg_read_binary_file('{fixture(SMALL_IMAGE)}'), "
            f"ARRAY[{n}])));\n")


def large_image_calls(fixture, name, n=30):
    """A call that runs for seconds on one image at the pixel limit: n separate clip_embed_image calls on
    it, so a cancel lands inside one image's decoding or resize, not between the rows of a batch."""
    return ("SET clip.threads = 1;\n"
            f"SELECT count(clip_embed_image(b)) FROM (SELECT pg_read_binary_file('{fixture(name)}') AS b) s, "
            f"generate_series(1, {n});\n")


def error_logged_at(cluster, pid, message, wait_s=10):
    """Epoch of the last log line where backend `pid` reported `message` as an ERROR (waits for it)."""
    deadline = time.monotonic() + wait_s
    while True:
        found = [float(m.group(1)) for m in map(_ERROR.match, cluster.log().splitlines())
                 if m and int(m.group(2)) == pid and message in m.group(3)]
        if found:
            return found[-1]
        if time.monotonic() > deadline:
            raise AssertionError(f"no '{message}' from backend {pid} in the server log")
        time.sleep(0.05)


def timed_out_after(cluster, fixture, setup, message, call=None):
    """(seconds from the start of a long call (or `call`) to its logged error, psql stdout, psql stderr) with
    `setup` (a timeout) in force; the start is clock_timestamp() read just before the call."""
    script = (setup + "SELECT pg_backend_pid(), extract(epoch FROM clock_timestamp());\n"
              + (call or long_call(fixture)) + "SELECT 'alive';\n")
    _, out, err = cluster.script(script)
    first = out.splitlines()[0] if out else ""
    if "|" not in first or message not in err:
        raise AssertionError(f"the call was not stopped by the timeout: {err}")
    pid, started = first.split("|")
    return error_logged_at(cluster, int(pid), message) - float(started), out, err


def start_victim(cluster, fixture, setup="", then="", call=None):
    """Starts the long call (or `call`) in a new session; returns (process, backend pid) once it runs."""
    p = cluster.popen("\\set VERBOSITY verbose\nSET application_name = 'victim';\n" + setup
                      + (call or long_call(fixture)) + "SELECT 'alive';\n" + then)
    pid = ""
    deadline = time.monotonic() + 10
    while not pid and time.monotonic() < deadline:
        _, pid, _ = cluster.sql(
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'victim' AND state = 'active' "
            "AND query LIKE '%clip_embed_image%'")
        time.sleep(0.05)
    if not pid:
        p.kill()
        raise AssertionError("victim query never started")
    return p, int(pid)


def cancel(cluster, pid):
    """Sends pg_cancel_backend; returns the server's clock when the signal was sent (clock_timestamp() is
    read in the target list before the signal goes out)."""
    _, out, _ = cluster.sql(f"SELECT extract(epoch FROM clock_timestamp()), pg_cancel_backend({pid})")
    sent_at, ok = out.split("|")
    if ok != "t":
        raise AssertionError(f"pg_cancel_backend({pid}) found no backend")
    return float(sent_at)


def cancel_after(cluster, fixture, delay_s=0.5, setup="", then="", call=None):
    """Runs a victim, cancels it after `delay_s`; returns (seconds from signal to logged error, process,
    pid, stdout, stderr)."""
    p, pid = start_victim(cluster, fixture, setup, then, call)
    time.sleep(delay_s)
    sent_at = cancel(cluster, pid)
    out, err = p.communicate(timeout=60)
    return error_logged_at(cluster, pid, "canceling statement due to user request") - sent_at, pid, out, err


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def percentile(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def cpu_seconds(pid):
    """utime + stime of every thread of a process."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_after_cancel(cluster, fixture, setup="SET clip.threads = 2;\n"):
    """Cancels a long call whose session then idles in pg_sleep; returns (CPU seconds every thread of the
    backend used in 0.5 s starting 0.3 s after the cancel, psql stdout, psql stderr)."""
    p, pid = start_victim(cluster, fixture, setup, then="SELECT pg_sleep(2);\n")
    time.sleep(0.5)
    cancel(cluster, pid)
    time.sleep(0.3)
    before = cpu_seconds(pid)
    time.sleep(0.5)
    spent = cpu_seconds(pid) - before
    out, err = p.communicate(timeout=60)
    return spent, out, err
