#!/usr/bin/env bash
# make demo: start the demo thread pool (tests/programs/demo_pool.c) under
# libthreadsnap, take a snapshot with `threadsnap dump`, print the report.
# Arguments go to `threadsnap dump` (e.g. --format threads).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
ts=$top/scripts/threadsnap
prog=$top/build/tests/programs/demo_pool
[ -x "$prog" ] || { echo "demo: $prog is missing; run 'make' first" >&2; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/threadsnap-demo.XXXXXX")
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

echo "\$ threadsnap run -- demo_pool &"
: > "$tmp/out"
"$ts" run --dir "$tmp" -- "$prog" > "$tmp/out" 2> "$tmp/err" &
pid=$!
for ((i = 0; i < 200; i++)); do
  grep -q '^ready' "$tmp/out" && break
  kill -0 "$pid" 2>/dev/null || { cat "$tmp/err" >&2; echo "demo: demo_pool exited" >&2; exit 1; }
  sleep 0.05
done
grep -q '^ready' "$tmp/out" || { cat "$tmp/err" >&2; echo "demo: demo_pool did not get ready" >&2; exit 1; }
cat "$tmp/err"
echo
echo "\$ threadsnap dump $pid"
"$ts" dump "$@" "$pid" 2>&1
