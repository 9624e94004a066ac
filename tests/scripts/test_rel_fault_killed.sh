#!/usr/bin/env bash
# Fault: the process dies or execs while a dump is being written (the dumper
# holds the written file open, not yet named: THREADSNAP_TEST_WRITE_DELAY_MS
# keeps it there). Nothing may be left in the dump directory: no dump, no
# temporary file. Negative control: with the named-temporary fallback
# (THREADSNAP_TEST_NAMED_TEMP=1) the same kill does leave a .tmp file, which
# shows that this test sees a leftover when there is one.
source "$(dirname "$0")/lib.sh"
source "$TOP/tests/reliability/lib.sh"
need_lib

# mid_write NAMED HOW DIR: starts rel_workers, triggers a dump, waits until the
# dumper has the file open in DIR, then ends the process HOW (kill or exec).
mid_write() {
  local named=$1 how=$2 D=$3 i
  rm -f "$TMP"/rel_workers.*
  mkdir "$D"
  rel_start rel_workers THREADSNAP_DIR="$D" THREADSNAP_TEST_NAMED_TEMP="$named" \
    THREADSNAP_TEST_WRITE_DELAY_MS=60000
  wait_for_line "$REL_OUT" '^ready$' 10
  kill -USR2 "$REL_PID"
  for ((i = 0; i < 500; i++)); do
    ls -l "/proc/$REL_PID/fd" 2>/dev/null | grep -qF -- "-> $D/" && break
    sleep 0.02
  done
  ls -l "/proc/$REL_PID/fd" | grep -F -- "-> $D/" ||
    fail "the dumper never had a file open in $D: $(cat "$REL_ERR")"
  case $how in
    kill) kill -9 "$REL_PID" ;;
    exec) rel_cmd "exec /bin/true" ;;
  esac
  local st=0
  wait "$REL_PID" 2>/dev/null || st=$?
  exec 7>&-
  if [ "$how" = exec ]; then
    [ "$st" = 0 ] || fail "the exec'ed /bin/true exited $st: $(cat "$REL_ERR")"
  fi
}

for how in kill exec; do
  mid_write 0 "$how" "$TMP/$how"
  left=$(ls -A "$TMP/$how")
  [ -z "$left" ] || fail "$how during the write left files behind: $left"
  ok "$how during the write: nothing left in the dump directory"
done

mid_write 1 kill "$TMP/control"
ls -A "$TMP/control" | grep -qE '^\.threadsnap\.[0-9]+\.1\.tmp$' ||
  fail "negative control: the named temporary file was not seen after the kill: $(ls -A "$TMP/control")"
ok "negative control: the named-temporary fallback leaves $(ls -A "$TMP/control") (this test would see it)"
