#!/usr/bin/env bash
# `threadsnap dump` sends nothing to a process it has not verified: one
# without the library (SIGUSR2 would kill it) is refused and lives on, and so
# are one whose trigger is off (older library; with a control record it may be
# woken through threadsnap's own signal), one that does not catch the requested signal,
# and a PID that does not exist. One bad PID among good ones: nothing is sent
# to any of them.
source "$(dirname "$0")/lib.sh"
need_lib; need_program symtest

expect_refusal() {  # expect_refusal TEXT ARGS...: dump ARGS fails, saying TEXT
  local text=$1 rc=0; shift
  "$TS" dump --timeout 2 "$@" > "$TMP/out" 2> "$TMP/err" || rc=$?
  [ "$rc" = 1 ] || fail "dump $*: exit $rc, want 1: $(cat "$TMP/err")"
  grep -qF "$text" "$TMP/err" || fail "dump $*: no '$text' in: $(cat "$TMP/err")"
  ok "refused ($*): $(cat "$TMP/err")"
}

sleep 300 & plain=$!; started "$plain"
expect_refusal "does not have libthreadsnap loaded" "$plain"
sleep 0.2
kill -0 "$plain" || fail "the process without the library died"
[ "$(awk '{ print $3 }' "/proc/$plain/stat")" != Z ] || fail "the process without the library is a zombie"
ok "process without the library is alive"

sh -c 'exit 0' & gone=$!; wait "$gone"
expect_refusal "no process $gone" "$gone"
expect_refusal "is not a PID" 0
expect_refusal "is not a PID" 12abc

mkdir -p "$TMP/d"
"$TS" run --dir "$TMP/d" -- "$PROGRAMS/symtest" > "$TMP/s.out" 2> "$TMP/s.err" & live=$!; started "$live"
wait_for_line "$TMP/s.out" '^ready ' 10
expect_refusal "does not have libthreadsnap loaded" "$live" "$plain"
expect_refusal "no handler for signal" --signal WINCH "$live"
sleep 0.5
dumps=$(ls "$TMP/d" | grep "^threadsnap\..*\.txt$" || true)   # (the library's log file may be there)
[ -z "$dumps" ] || fail "a dump was taken although the command was refused: $dumps"
kill -0 "$live" && kill -0 "$plain" || fail "a process died"
ok "one bad PID: nothing sent to the good one either"

mkdir -p "$TMP/n"
"$TS" run --signal none --dir "$TMP/n" -- "$PROGRAMS/symtest" > "$TMP/n.out" 2> "$TMP/n.err" & off=$!; started "$off"
wait_for_line "$TMP/n.out" '^ready ' 10
if lib_has_record; then
  # A control record: threadsnap's own wake signal may still be there (the
  # trigger signal is what `none` turns off); dumped or refused, never hurt.
  rc=0; "$TS" dump --no-report --timeout 5 "$off" > "$TMP/out" 2> "$TMP/err" || rc=$?
  [ "$rc" = 0 ] || grep -q "trigger is off" "$TMP/err" || fail "trigger none: $(cat "$TMP/err")"
  ok "trigger none with a control record: exit $rc ($(cat "$TMP/err"))"
else
  expect_refusal "THREADSNAP_SIGNAL=none" "$off"
fi
sleep 0.2
kill -0 "$off" || fail "the process with the trigger off died"
ok "trigger off: refused or woken through threadsnap's own signal, alive"
