#!/usr/bin/env bash
# Symbolizing and reporting a 10,000-thread dump must take at most 10 s.
# The dump is real: symtest with 10,000 threads (5 kinds of stacks under 0..23
# levels of recursion: 120 distinct stacks, 5-31 frames each) snapshotted by the library (or, with --selfdump or without the
# library, written by symtest itself from backtrace(3)). Prints one line per
# step and "report_bench: ... PASS|FAIL"; exits 1 over the budget.
#
#   bench/report_bench.sh [--threads N] [--budget SECONDS] [--selfdump]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
threads=10000 budget=10 selfdump=""
while [ $# -gt 0 ]; do
  case $1 in
    --threads) threads=$2; shift 2;;
    --budget) budget=$2; shift 2;;
    --selfdump) selfdump=1; shift;;
    *) echo "usage: $0 [--threads N] [--budget SECONDS] [--selfdump]" >&2; exit 2;;
  esac
done
ts=$top/scripts/threadsnap
prog=${THREADSNAP_PROGRAMS:-$top/build/tests/programs}/symtest
lib=${THREADSNAP_LIB:-$top/build/libthreadsnap.so}
[ -x "$prog" ] || { echo "report_bench: $prog missing (make programs)" >&2; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/threadsnap-bench.XXXXXX")
pid=""
cleanup() { [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
per_kind=$(( (threads + 4) / 5 ))
ulimit -u unlimited 2>/dev/null || true

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

if [ -z "$selfdump" ] && [ -f "$lib" ]; then
: > "$tmp/out"
  THREADSNAP_LIB=$lib "$ts" run --quiet --dir "$tmp" -- "$prog" --per-kind "$per_kind" --vary-depth 24 \
    > "$tmp/out" 2> "$tmp/err" &
  pid=$!
  for ((i = 0; i < 1200; i++)); do grep -q '^ready' "$tmp/out" && break; sleep 0.05; done
  grep -q '^ready' "$tmp/out" || { cat "$tmp/err" >&2; echo "report_bench: symtest not ready" >&2; exit 1; }
  dump=$("$ts" dump --timeout 60 --no-report "$pid" 2>/dev/null)
  kill -9 "$pid"; wait "$pid" 2>/dev/null || true; pid=""
  source="library"
else
  "$prog" --per-kind "$per_kind" --vary-depth 24 --selfdump "$tmp/self.txt"
  dump=$tmp/self.txt
  source="symtest --selfdump"
fi
n=$(sed -n 's/^threads //p' "$dump")
frames=$(grep -c '^  0x' "$dump" || true)
uniq=$(grep '^  0x' "$dump" | sort -u | wc -l)
echo "report_bench: dump from $source: $n threads, $frames frames, $uniq distinct addresses, $(du -h "$dump" | cut -f1)"

t0=$(now); "$ts" symbolize "$dump" > "$tmp/sym.txt"; t1=$(now)
echo "report_bench: symbolize                $(elapsed "$t0" "$t1") s"
total=0
for fmt in text threads folded json; do
  t0=$(now); "$ts" report --format "$fmt" "$dump" > "$tmp/r.$fmt"; t1=$(now)
  echo "report_bench: report --format $(printf %-8s "$fmt") $(elapsed "$t0" "$t1") s  ($(wc -l < "$tmp/r.$fmt") lines)"
  [ "$fmt" = text ] && total=$(elapsed "$t0" "$t1")
done
t0=$(now); "$ts" report "$tmp/sym.txt" > /dev/null; t1=$(now)
echo "report_bench: report of the symbolized dump (no symbolizer) $(elapsed "$t0" "$t1") s"
verdict=$(awk -v t="$total" -v b="$budget" 'BEGIN { print (t <= b) ? "PASS" : "FAIL" }')
echo "report_bench: symbolize+report (text) of $n threads: $total s, budget $budget s: $verdict"
[ "$verdict" = PASS ]
