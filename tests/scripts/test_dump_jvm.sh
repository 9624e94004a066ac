#!/usr/bin/env bash
# Issue 12: the JVM owns SIGUSR2 (HotSpot suspends and resumes threads with
# it; a stray one killed it in its SR_handler). A small Java program
# (Snap.java, compiled here) with threads in a monitor, in LockSupport.park
# and in Thread.sleep, under `threadsnap run` with the defaults:
# `threadsnap dump PID` must not hurt it: with a library that publishes a
# control record it is dumped through threadsnap's wake signal and the report
# shows its threads; with an older library it is refused ("stepped aside").
# Under `threadsnap run --signal 40` it is dumped with either library. In
# every case the JVM lives on, `kill -3` still prints its own thread dump,
# and it exits normally (status 0). Skipped without java/javac.
source "$(dirname "$0")/lib.sh"
need_lib
command -v java > /dev/null && command -v javac > /dev/null ||
  skip "java/javac not installed (apt-get install -y openjdk-17-jdk-headless)"
javac -d "$TMP/classes" "$HERE/Snap.java" 2> "$TMP/javac.err" || fail "javac: $(cat "$TMP/javac.err")"
record=0
lib_has_record && record=1
echo "library publishes a control record: $record"


# start NAME RUN-OPTIONS...: starts the JVM under threadsnap run; sets PID.
start() {
  local name=$1; shift
  mkdir -p "$TMP/$name.d"
  "$TS" run --dir "$TMP/$name.d" "$@" -- java -XX:+UseSerialGC -Xshare:auto -cp "$TMP/classes" \
    Snap "$TMP/$name.stop" > "$TMP/$name.out" 2> "$TMP/$name.err" &
  PID=$!; started "$PID"
  eval "${name}_pid=$PID"
}

wait_ready() {  # wait_ready NAME
  wait_for_line "$TMP/$1.out" '^ready ' 90
}

check_report() {  # check_report NAME FILE: the report shows the Java threads
  local t
  for t in mon-holder mon-waiter-0 mon-waiter-1 mon-waiter-2 parker-0 parker-1 sleeper; do
    grep -q "\"$t\"" "$2" || fail "$1: thread $t not in the report: $(head -n 40 "$2")"
  done
}

finish() {  # finish NAME: alive, kill -3 answered by the JVM, normal exit
  local name=$1 pid rc=0 i
  pid=$(eval echo "\$${name}_pid")
  kill -0 "$pid" || fail "$name: the JVM died: $(tail -n 20 "$TMP/$name.err")"
  kill -3 "$pid"
  wait_for_line "$TMP/$name.out" '^Full thread dump' 30
  touch "$TMP/$name.stop"
  wait "$pid" || rc=$?
  [ "$rc" = 0 ] || fail "$name: the JVM exited with $rc: $(tail -n 20 "$TMP/$name.err")"
  grep -q '^bye$' "$TMP/$name.out" || fail "$name: no normal exit"
  ok "$name: the JVM lived, answered kill -3 with its thread dump, exited 0"
}

start usr2
start sig40 --signal 40
wait_ready usr2
wait_ready sig40

rc=0
"$TS" dump --timeout 20 "$usr2_pid" > "$TMP/usr2.txt" 2> "$TMP/usr2.dumperr" || rc=$?
if [ "$record" = 1 ]; then
  [ "$rc" = 0 ] || fail "defaults, control record: dump failed: $(cat "$TMP/usr2.dumperr")"
  check_report usr2 "$TMP/usr2.txt"
  ok "defaults: dumped through threadsnap's wake signal, Java threads in the report"
else
  [ "$rc" = 1 ] || fail "defaults, old library: want a refusal, got $rc: $(cat "$TMP/usr2.dumperr")"
  grep -q 'stepped aside' "$TMP/usr2.dumperr" || fail "refusal does not say why: $(cat "$TMP/usr2.dumperr")"
  ok "defaults, library without a control record: refused, nothing sent"
fi
rc=0; "$TS" dump --signal USR2 --timeout 2 "$usr2_pid" > /dev/null 2> "$TMP/usr2b.err" || rc=$?
[ "$rc" = 1 ] || fail "--signal USR2 to the JVM was not refused: $(cat "$TMP/usr2b.err")"
ok "--signal USR2 refused: $(cat "$TMP/usr2b.err")"

"$TS" dump --timeout 20 "$sig40_pid" > "$TMP/sig40.txt" 2> "$TMP/sig40.dumperr" || fail "--signal 40 JVM: dump failed: $(cat "$TMP/sig40.dumperr")"
check_report sig40 "$TMP/sig40.txt"
ok "--signal 40: dumped, Java threads in the report"

finish usr2
finish sig40
