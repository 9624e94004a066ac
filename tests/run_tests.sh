#!/usr/bin/env bash
# Runs every test suite and ends with one line "N passed, N failed".
# Usage: tests/run_tests.sh BUILD_DIR [gtest filter]
set -u
build=${1:-build}
filter=${2:-*}
top=$(cd "$(dirname "$0")/.." && pwd)
export THREADSNAP_LIB="$top/$build/libthreadsnap.so"
export THREADSNAP_PROGRAMS="$top/$build/tests/programs"
export THREADSNAP_TOP="$top"
passed=0 failed=0 skipped=0
log=$(mktemp); trap 'rm -f "$log"' EXIT

run_gtest() {
  local bin=$1
  [ -x "$bin" ] || return 0
  "$bin" --gtest_brief=1 --gtest_filter="$filter" >"$log" 2>&1
  cat "$log"
  # --gtest_brief prints the total and the passed count; failed = the rest.
  # A skipped test (GTEST_SKIP, which says why) is neither.
  local total p s
  total=$(sed -n 's/^\[==========\] \([0-9]*\) tests\{0,1\} from.*ran.*/\1/p' "$log" | tail -n1)
  p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) tests\{0,1\}\..*/\1/p' "$log" | tail -n1)
  s=$(sed -n 's/^\[  SKIPPED \] \([0-9]*\) tests\{0,1\}[.,].*/\1/p' "$log" | tail -n1)
  if [ -z "$total" ]; then echo "FAILED: $bin did not finish"; failed=$((failed + 1)); return; fi
  passed=$((passed + ${p:-0})); skipped=$((skipped + ${s:-0}))
  failed=$((failed + total - ${p:-0} - ${s:-0}))
}

run_gtest "$top/$build/tests/unit_tests"
run_gtest "$top/$build/tests/integration_tests"

# Script tests: each tests/scripts/test_*.sh is one test; exit 0 is a pass,
# 77 a skip (its last line says why).
if [ "$filter" = "*" ]; then
  for t in "$top"/tests/scripts/test_*.sh; do
    [ -f "$t" ] || continue
    rc=0
    timeout 300 bash "$t" >"$log" 2>&1 || rc=$?
    if [ "$rc" = 0 ]; then
      passed=$((passed + 1)); echo "[ OK ] $(basename "$t")"
    elif [ "$rc" = 77 ]; then
      skipped=$((skipped + 1)); echo "[SKIP] $(basename "$t"): $(tail -n 1 "$log")"
    else
      failed=$((failed + 1)); echo "[FAIL] $(basename "$t")"; sed 's/^/    /' "$log" | tail -n 40
    fi
  done
fi
[ "$skipped" -eq 0 ] || echo "$skipped skipped (each says why above)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
