#!/usr/bin/env bash
# Fault: the file system of the dump directory is full (a 256 KiB tmpfs,
# filled up, in a private mount namespace). A dump gives one clear stderr line
# ("threadsnap: error: cannot write dump PATH: STEP: no space left on device
# (errno 28)"), leaves neither a final nor a temporary file, the program runs
# on, and once space is freed the next dump is written whole. Both ways of
# writing: the unnamed O_TMPFILE file (default) and the named temporary file
# (the fallback, forced by THREADSNAP_TEST_NAMED_TEMP=1).
source "$(dirname "$0")/../reliability/mount_ns.sh"
source "$(dirname "$0")/lib.sh"
source "$TOP/tests/reliability/lib.sh"
need_lib
D=$TMP/d
mkdir "$D"
mount -t tmpfs -o size=256k,mode=0777 tmpfs "$D" || fail "cannot mount a tmpfs on $D"
trap 'umount -l "$D" 2>/dev/null; cleanup' EXIT

run_mode() {
  local named=$1 f before line
  rm -f "$TMP"/rel_workers.*   # the previous run's pipe and output
  rel_start rel_workers THREADSNAP_DIR="$D" THREADSNAP_TEST_NAMED_TEMP=$named
  wait_for_line "$REL_OUT" '^ready$' 10
  f=$(rel_wait_new_dump "$D" "$REL_PID" 10 & kill -USR2 "$REL_PID"; wait)
  rm -f "$f"

  # Fill it up.
  head -c 1M /dev/zero > "$D/filler" 2>/dev/null || true
  for i in $(seq 1 64); do echo x > "$D/small.$i" 2>/dev/null || break; done
  echo something-longer-than-nothing > "$D/probe" 2>/dev/null && fail "the tmpfs is not full"
  before=$(rel_count_lines "$REL_ERR" '^threadsnap: error: cannot write dump')
  kill -USR2 "$REL_PID"
  rel_wait_count "$REL_ERR" '^threadsnap: error: cannot write dump' $((before + 1)) 10
  [ -z "$(rel_dumps "$D" "$REL_PID")" ] || fail "a dump file appeared on the full file system"
  [ -z "$(ls -A "$D" | grep threadsnap)" ] || fail "files left on the full file system: $(ls -A "$D")"
  rel_ping
  line=$(grep '^threadsnap: error' "$REL_ERR" | tail -n1)
  echo "$line" | grep -qE "cannot write dump $D/[^ ]+: (create|write|link|rename): no space left on device \(errno 28\)$" ||
    fail "the error line does not say what failed: $line"
  ok "full (named temp $named): $line"

  # Space again: the next dump works.
  rm -f "$D/filler" "$D"/small.*
  f=$(rel_wait_new_dump "$D" "$REL_PID" 10 & kill -USR2 "$REL_PID"; wait)
  [ -n "$f" ] || fail "no dump after space was freed"
  rel_ping
  rel_quit
  ok "after the fault (named temp $named): $f is whole, the program ran on and exited 0"
  rm -f "$D"/threadsnap.* "$D"/.threadsnap.*
}

run_mode 0
run_mode 1
