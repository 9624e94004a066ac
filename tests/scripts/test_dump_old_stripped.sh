#!/usr/bin/env bash
# An older library (no control record) that is stripped: `threadsnap dump`
# cannot read whether the library still owns its trigger signal or the
# program took it over (as a JVM does with SIGUSR2), so it refuses and says
# how to insist; with an explicit --signal it sends it, with a warning, and
# the dump arrives. Skipped when the library publishes a control record.
source "$(dirname "$0")/lib.sh"
need_lib; need_program symtest
lib_has_record &&
  skip "the library publishes a control record, so the older-library fallback is not used (THREADSNAP_LIB=an older build tests it)"
command -v strip > /dev/null || skip "no strip (binutils)"
strip -o "$TMP/libthreadsnap-stripped.so" "$LIB" || fail "strip"
mkdir -p "$TMP/d"
THREADSNAP_LIB=$TMP/libthreadsnap-stripped.so "$TS" run --dir "$TMP/d" -- "$PROGRAMS/symtest" \
  > "$TMP/s.out" 2> "$TMP/s.err" &
PID=$!; started "$PID"
wait_for_line "$TMP/s.out" '^ready ' 10
grep -q libthreadsnap-stripped "/proc/$PID/maps" || fail "the stripped library is not loaded"
rc=0; "$TS" dump --timeout 2 "$PID" > /dev/null 2> "$TMP/err" || rc=$?
[ "$rc" = 1 ] || fail "stripped old library: want a refusal, got $rc: $(cat "$TMP/err")"
grep -q "cannot tell whether signal 12 (SIGUSR2) of .* is still threadsnap's.*no symbol table.*pass --signal 12" "$TMP/err" ||
  fail "refusal does not say why and how to insist: $(cat "$TMP/err")"
[ -z "$(ls "$TMP/d" | grep "^threadsnap\..*\.txt$" || true)" ] || fail "a dump was taken"
ok "refused: $(cat "$TMP/err")"
"$TS" dump --no-report --signal USR2 "$PID" > "$TMP/path" 2> "$TMP/err2" || fail "--signal USR2: $(cat "$TMP/err2")"
grep -q "warning: .*cannot verify" "$TMP/err2" || fail "no warning: $(cat "$TMP/err2")"
grep -qx "$TMP/d/threadsnap.$PID.1.txt" "$TMP/path" || fail "no dump: $(cat "$TMP/path" "$TMP/err2")"
kill -0 "$PID" || fail "symtest died"
ok "--signal USR2 insists: sent with a warning, dumped"
