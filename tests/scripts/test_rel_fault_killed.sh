#!/usr/bin/env bash
# Fault: the process dies or execs while a dump is being written (the dumper
# holds the written file open, not yet named: THREADSNAP_TEST_WRITE_DELAY_MS
# keeps it there). Nothing may be left in the dump directory: no dump, no
# temporary file. Negative control: with the named-temporary fallback
# (THREADSNAP_TEST_NAMED_TEMP=1) the same kill does leave a .tmp file, which
# shows that this test sees a leftover when there is one. Last, the
# contract that watchers rely on: the final name arrives by rename.
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
    ls -l /proc/$REL_PID/task/*/fd 2>/dev/null | grep -qF -- "-> $D/" && break
    sleep 0.02
  done
  ls -l /proc/$REL_PID/task/*/fd | grep -F -- "-> $D/" ||
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

# The contract watchers rely on (bench/scenario.c among them): the final name
# arrives by a rename into the directory (IN_MOVED_TO), never by a create.
D=$TMP/watch
mkdir "$D"
rm -f "$TMP"/rel_workers.*
rel_start rel_workers THREADSNAP_DIR="$D"
wait_for_line "$REL_OUT" '^ready$' 10
python3 - "$D" "$REL_PID" > "$TMP/events" << 'PY' &
import ctypes, os, struct, sys, select
d, pid = sys.argv[1], int(sys.argv[2])
libc = ctypes.CDLL(None, use_errno=True)
IN_CREATE, IN_MOVED_TO = 0x100, 0x80
fd = libc.inotify_init1(0)
libc.inotify_add_watch(fd, d.encode(), IN_CREATE | IN_MOVED_TO)
print("watching", flush=True)
final = "threadsnap.%d.1.txt" % pid
while True:
    if not select.select([fd], [], [], 20)[0]:
        print("timeout"); sys.exit(1)
    buf = os.read(fd, 65536)
    off = 0
    while off < len(buf):
        wd, mask, cookie, n = struct.unpack_from("iIII", buf, off)
        name = buf[off + 16:off + 16 + n].rstrip(b"\0").decode()
        off += 16 + n
        print("moved_to" if mask & IN_MOVED_TO else "create", name, flush=True)
        if name == final:
            sys.exit(0)
PY
watcher=$!
wait_for_line "$TMP/events" '^watching$' 10
kill -USR2 "$REL_PID"
wait "$watcher" || fail "no event for the dump's final name: $(cat "$TMP/events")"
grep -qx "moved_to threadsnap.$REL_PID.1.txt" "$TMP/events" ||
  fail "the final name did not arrive by rename: $(cat "$TMP/events")"
rel_check_dump "$D/threadsnap.$REL_PID.1.txt"
rel_quit
ok "the final name arrives by rename (IN_MOVED_TO): $(tr '\n' ';' < "$TMP/events")"
