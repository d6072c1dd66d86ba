"""One line over both test levels of scripts/test.sh: `N passed, N failed` (plus skipped), from cargo's
`test result:` lines and unittest's `Ran N tests` / `FAILED (...)` trailer. Exits non-zero if either level
failed, including a level that failed before it could report (a build error counts as one failure)."""

import re
import sys


def cargo(log, rc):
    passed = failed = 0
    for m in re.finditer(r"test result: \w+\. (\d+) passed; (\d+) failed", log):
        passed, failed = passed + int(m.group(1)), failed + int(m.group(2))
    if rc != 0 and failed == 0:
        failed = 1   # compilation or harness failure: no per-test figures
    return passed, failed, 0


def unittest_(log, rc):
    ran = re.findall(r"^Ran (\d+) tests? in", log, re.M)
    if not ran:
        return 0, 1 if rc else 0, 0
    total = int(ran[-1])
    counts = {k: 0 for k in ("failures", "errors", "skipped", "expected failures", "unexpected successes")}
    tail = re.findall(r"^(?:OK|FAILED)(?: \((.*)\))?$", log, re.M)
    for part in (tail[-1] if tail else "").split(","):
        if "=" in part:
            k, v = part.strip().split("=")
            counts[k] = int(v)
    failed = counts["failures"] + counts["errors"] + counts["unexpected successes"]
    if rc != 0 and failed == 0:
        failed = 1
    return total - failed - counts["skipped"], failed, counts["skipped"]


def main():
    """test_summary.py RUST_LOG RC IT_LOG RC [IT_LOG RC]...: each further pair is one more unittest run (the
    PG17 integration modules), counted in the integration total."""
    rust_log, rust_rc = sys.argv[1], int(sys.argv[2])
    r = cargo(open(rust_log, errors="replace").read(), rust_rc)
    runs = [unittest_(open(log, errors="replace").read(), int(rc)) for log, rc in zip(sys.argv[3::2], sys.argv[4::2])]
    i = tuple(sum(run[k] for run in runs) for k in range(3))
    passed, failed, skipped = r[0] + i[0], r[1] + i[1], r[2] + i[2]
    print(f"== summary: {passed} passed, {failed} failed, {skipped} skipped "
          f"(Rust/pg: {r[0]} passed, {r[1]} failed; integration: {i[0]} passed, {i[1]} failed, {i[2]} skipped)")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
