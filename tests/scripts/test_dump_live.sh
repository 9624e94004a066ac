#!/usr/bin/env bash
# End to end with the real library: `threadsnap run` starts symtest, `threadsnap
# dump PID` signals it, waits for the dump and reports it. The report must
# name symtest's marked functions and lines (golden), the process must live on,
# a second dump gets the next sequence number, the trigger signal and dump
# directory come from the target's environment, --merge groups two
# processes' identical stacks together, and run's --mode/--unwind reach the
# library while an LD_PRELOAD already set is kept.
source "$(dirname "$0")/lib.sh"
need_lib; need_program symtest
src=$TOP/tests/programs/symtest.cc

# start_symtest NAME RUN-OPTIONS...: starts symtest under threadsnap run, sets PID.
start_symtest() {
  local name=$1; shift
  "$TS" run "$@" -- "$PROGRAMS/symtest" --per-kind 2 > "$TMP/$name.out" 2> "$TMP/$name.err" &
  started $!
  PID=$!
  wait_for_line "$TMP/$name.out" '^ready ' 10
  [ "$(awk '/^ready/ { print $2 }' "$TMP/$name.out")" = "$PID" ] || fail "run did not exec in place (pid changed)"
  grep -q "to dump it: threadsnap dump $PID" "$TMP/$name.err" || fail "run did not print how to dump it"
}

mkdir -p "$TMP/dumps"
start_symtest one --dir "$TMP/dumps"
p1=$PID
"$TS" dump --format json "$p1" > "$TMP/one.json" 2> "$TMP/one.dumperr" || fail "dump failed: $(cat "$TMP/one.dumperr")"
grep -q "dump of $p1: $TMP/dumps/threadsnap.$p1.1.txt" "$TMP/one.dumperr" || fail "dump path not reported: $(cat "$TMP/one.dumperr")"
python3 "$HERE/json_shape.py" "$TOP/scripts/report.schema.json" "$TMP/one.json" || fail "json shape"
python3 "$HERE/check_golden.py" "$TMP/one.json" "$src" 2 || fail "golden check of a real dump"
python3 - "$TMP/one.json" <<'PY' || fail "thread count"
import json, sys
d = json.load(open(sys.argv[1]))["dumps"][0]
assert d["thread_count"] == 11 == len(d["threads"]), d["thread_count"]  # 10 workers + main
assert sum(1 for t in d["threads"] if t["name"] == "symtest") == 1
PY
kill -0 "$p1" || fail "the process died after the dump"
ok "real dump: golden functions and lines, 11 threads, process alive"

"$TS" dump "$p1" > "$TMP/two.txt" 2> "$TMP/two.err" || fail "second dump failed: $(cat "$TMP/two.err")"
grep -q "threadsnap.$p1.2.txt" "$TMP/two.err" || fail "second dump is not seq 2: $(cat "$TMP/two.err")"
grep -q '^2 threads \[pthread_cond_wait, blocked' "$TMP/two.txt" || fail "text report of the second dump"
grep -q 'symtest::Pool::run_method(int) at .*symtest.cc:' "$TMP/two.txt" || fail "C++ method in the text report"
ok "second dump: seq 2, text report"

# Trigger signal and directory from the target's environment (no --signal/--dir).
mkdir -p "$TMP/usr1"
start_symtest usr1 --signal USR1 --dir "$TMP/usr1" --quiet
p2=$PID
tr '\0' '\n' < "/proc/$p2/environ" | grep -q '^THREADSNAP_SIGNAL=10$' || fail "run did not set THREADSNAP_SIGNAL"
"$TS" dump --merge "$p1" "$p2" > "$TMP/merge.txt" 2> "$TMP/merge.err" || fail "dump of two PIDs failed: $(cat "$TMP/merge.err")"
ls "$TMP/usr1/threadsnap.$p2.1.txt" > /dev/null || fail "no dump in the target's THREADSNAP_DIR"
# The library logs to DIR/threadsnap.PID.log, a line per dump unless quiet.
grep -q "threadsnap: wrote" "$TMP/dumps/threadsnap.$p1.log" || fail "no line per dump in the log of $p1"
grep -q "threadsnap: wrote" "$TMP/usr1.err" "$TMP/usr1/threadsnap.$p2.log" 2>/dev/null && fail "--quiet not passed on"
[ "$(grep -c '^threadsnap report: pid' "$TMP/merge.txt")" = 2 ] || fail "not one report per PID"
grep -q '^threadsnap report: 2 dumps merged, 22 threads$' "$TMP/merge.txt" || fail "no merged report"
grep -q '^4 threads in 2 processes \[pthread_cond_wait' "$TMP/merge.txt" || fail "merged groups do not span the processes"
kill -0 "$p1" && kill -0 "$p2" || fail "a process died"
ok "signal and dir from the target's environment; one report per PID plus the merged one"

# --mode and --unwind reach the library; an LD_PRELOAD already set is kept.
keep=$(ls /lib/x86_64-linux-gnu/libgcc_s.so.1 /usr/lib/x86_64-linux-gnu/libgcc_s.so.1 2>/dev/null | head -n1)
mkdir -p "$TMP/stw"
LD_PRELOAD=$keep start_symtest stw --mode stw --unwind fp --dir "$TMP/stw"
p3=$PID
env3=$(tr '\0' '\n' < "/proc/$p3/environ")
grep -qx 'THREADSNAP_MODE=stw' <<< "$env3" || fail "--mode not passed on"
grep -qx 'THREADSNAP_UNWIND=fp' <<< "$env3" || fail "--unwind not passed on"
grep -qx "LD_PRELOAD=$(readlink -f "$LIB"):$keep" <<< "$env3" || fail "LD_PRELOAD: $(grep LD_PRELOAD <<< "$env3")"
grep -q "$(basename "$keep")" "/proc/$p3/maps" || fail "the earlier LD_PRELOAD library is not loaded"
"$TS" dump --no-report "$p3" > "$TMP/stw.path" 2> /dev/null || fail "dump of the stw process"
grep -qx 'mode stw' "$(cat "$TMP/stw.path")" || fail "the dump is not in stw mode"
ok "--mode/--unwind reach the library; the earlier LD_PRELOAD is kept after ours"
