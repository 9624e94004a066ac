# Sourced by tests/scripts/test_who_*.sh after lib.sh (not a test itself):
# start a tests/programs/who_* program under `threadsnap run`, read what it
# printed, dump it with `threadsnap dump` until the dump shows what the test
# waits for.

# start_who NAME PROGRAM ARGS...: runs PROGRAM under `threadsnap run` with its
# dumps in $TMP/NAME.d, waits for its "ready" line; sets PID, OUT (its stdout).
# WHO_NICE=N runs it at nice N (busy programs leave the test its CPU time).
start_who() {
  local name=$1 prog=$2; shift 2
  need_lib; need_program "$prog"
  mkdir -p "$TMP/$name.d"
  OUT=$TMP/$name.out
  THREADSNAP_LIB=$LIB nice -n "${WHO_NICE:-0}" "$TS" run --quiet --dir "$TMP/$name.d" -- "$PROGRAMS/$prog" "$@" \
    > "$OUT" 2> "$TMP/$name.err" &
  PID=$!
  started "$PID"
  wait_for_line "$OUT" '^(ready|fatal)' 10
  if grep -q '^fatal' "$OUT"; then fail "$prog $*: $(grep '^fatal' "$OUT")"; fi
}

# val KIND NAME: the value the program printed as "KIND NAME VALUE" on $OUT.
val() {
  local v
  v=$(awk -v k="$1" -v n="$2" '$1 == k && $2 == n { print $3 }' "$OUT")
  [ "$(echo "$v" | wc -w)" = 1 ] || fail "no single '$1 $2' line in $OUT"
  echo "$v"
}

# dump_until SECONDS REGEX...: dumps $PID with `threadsnap dump --no-report`
# until one dump has, for every REGEX, a line matching it (awk ERE, against
# the raw dump); sets DUMP to that file. Fails after SECONDS, showing the last
# dump's thread lines and the first REGEX it lacks.
dump_until() {
  local secs=$1; shift
  local deadline=$((SECONDS + secs)) f missing
  printf '%s\n' "$@" > "$TMP/want.re"
  while :; do
    kill -0 "$PID" 2>/dev/null || fail "process $PID died: $(tail -n 3 "$OUT")"
    f=$("$TS" dump --no-report --timeout 10 "$PID" 2>> "$TMP/dump.err") ||
      fail "threadsnap dump $PID failed: $(tail -n 3 "$TMP/dump.err")"
    missing=$(awk 'NR == FNR { re[++n] = $0; next }
                   { for (i = 1; i <= n; i++) if (!(i in hit) && $0 ~ re[i]) hit[i] = 1 }
                   END { for (i = 1; i <= n; i++) if (!(i in hit)) { print re[i]; exit } }' \
                  "$TMP/want.re" "$f")
    if [ -z "$missing" ]; then DUMP=$f; return 0; fi
    [ "$SECONDS" -lt "$deadline" ] ||
      fail "no dump within ${secs}s matches '$missing'; last dump $f:
$(grep '^thread ' "$f")"
  done
}

# text_report: `threadsnap report` of $DUMP into $TMP/text.
text_report() { "$TS" report "$DUMP" > "$TMP/text" || fail "text report failed"; }

# expect_first_section LINE: fails, showing the report, unless LINE is the
# first section heading of $TMP/text (a deadlock, a pile-up or a group).
expect_first_section() {
  local first
  first=$(grep -m1 -E '^(DEADLOCK:|PILE-UP:|[0-9]+ threads? )' "$TMP/text")
  [ "$first" = "$1" ] || fail "first section: '$first'
$(cat "$TMP/text")"
}

# json_report: `threadsnap report --format json` of $DUMP into $TMP/json,
# checked against scripts/report.schema.json.
json_report() {
  "$TS" report --format json "$DUMP" > "$TMP/json" || fail "json report failed"
  python3 "$HERE/json_shape.py" "$TOP/scripts/report.schema.json" "$TMP/json" || fail "json shape"
}
