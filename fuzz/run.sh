#!/usr/bin/env bash
# Runs each cargo-fuzz target for a fixed time under a memory cap and keeps what it finds.
#   fuzz/run.sh [seconds per target, default 300] [targets..., default all three]
# Needs the nightly toolchain and cargo-fuzz (installed here if missing: `cargo +nightly install
# cargo-fuzz --locked`). libFuzzer runs with -malloc_limit_mb=512 (one allocation over 512 MiB is a
# finding: the decode limits used by the targets never need one) and -rss_limit_mb=2048.
# The corpus grows in /var/tmp/pg_clip-fuzz/<target> (seeded from fuzz/regressions and, for decoding,
# from tests/images and tests/parity/corpus); every crash, leak, timeout or out-of-memory input is copied to
# fuzz/regressions/<target>/, which `cargo test -p pg_clip_core` replays on stable (commit them).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
export PATH="$HOME/.cargo/bin:$PATH"
secs=${1:-300}
shift || true
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(decode_preprocess tokenize url_policy)

cargo +nightly fuzz --version >/dev/null 2>&1 || cargo +nightly install cargo-fuzz --locked
cd "$here"
for t in "${targets[@]}"; do
  cargo +nightly fuzz build -O "$t" >/dev/null
done

work=/var/tmp/pg_clip-fuzz
printf '%-18s %8s %10s %7s %7s %-20s %s\n' target seconds execs exec/s corpus oom/timeout/crash "new files"
for t in "${targets[@]}"; do
  corpus="$work/$t"
  arts="$work/artifacts/$t/"
  mkdir -p "$corpus" "$arts"
  cp -n "$here/regressions/$t/"* "$corpus/" 2>/dev/null || true
  if [[ $t == decode_preprocess ]]; then
    # The sample images, and the parity corpus: one small file per decoder feature (BMP RLE/OS2, PNG text
    # profiles, EXIF variants, ...), so mutation starts inside every code path rather than finding it.
    find "$root/tests/images" "$root/tests/parity/corpus" -type f -size -64k ! -name '*.json' ! -name '*.md' \
      -exec cp -n {} "$corpus/" \;
  fi
  before=$(ls "$arts" | wc -l)
  log="$work/$t.log"
  # -fork keeps fuzzing after a finding (each crash is saved, the run goes on for its time);
  # -ignore_crashes etc. make the fork mode count them instead of stopping.
  "$here/target/x86_64-unknown-linux-gnu/release/$t" "$corpus" \
    -max_total_time="$secs" -malloc_limit_mb=512 -rss_limit_mb=2048 -timeout=10 -max_len=262144 \
    -fork=1 -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1 \
    -artifact_prefix="$arts" -print_final_stats=1 >"$log" 2>&1 || true
  # fork mode prints progress lines "#N: cov: ... oom/timeout/crash: a/b/c"; the last one has the totals
  last=$(grep -E '^#[0-9]+:' "$log" | tail -1 || true)
  execs=$(sed -E 's/^#([0-9]+):.*/\1/' <<<"$last")
  crashes=$(sed -nE 's|.*oom/timeout/crash: ([0-9/]+).*|\1|p' <<<"$last")
  after=$(ls "$arts" | wc -l)
  mkdir -p "$here/regressions/$t"
  for f in "$arts"*; do
    if [[ -f $f ]]; then cp -n "$f" "$here/regressions/$t/"; fi
  done
  printf '%-18s %8s %10s %7s %7s %-20s %s\n' "$t" "$secs" "${execs:-0}" "$(( ${execs:-0} / secs ))" "$(ls "$corpus" | wc -l)" "${crashes:-?}" "$((after - before))"
done
