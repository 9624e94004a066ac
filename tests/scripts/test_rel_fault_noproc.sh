#!/usr/bin/env bash
# Fault: no /proc (an empty tmpfs mounted over it in a private mount
# namespace) and a user without CAP_DAC_READ_SEARCH (nobody): the unnamed
# O_TMPFILE dump cannot be linked (neither AT_EMPTY_PATH nor
# /proc/self/fd/N), so the writer falls back to a named temporary file. The
# dumps are written whole, nothing is left behind, no error is printed, and
# the program runs on.
source "$(dirname "$0")/../reliability/mount_ns.sh" root
source "$(dirname "$0")/lib.sh"
source "$TOP/tests/reliability/lib.sh"
need_lib
# ASan reads /proc/self/maps to start at all: nothing to test there.
readelf -d "$LIB" | grep -q 'NEEDED.*libasan' && skip "an ASan build cannot start without /proc"
D=$TMP/d
mkdir "$D"
chmod 755 "$TMP"
chmod 777 "$D"
mount -t tmpfs -o size=64k tmpfs /proc || fail "cannot mount a tmpfs over /proc"
[ ! -e /proc/self ] || fail "/proc is still there"

rel_start rel_workers THREADSNAP_DIR="$D" -- setpriv --reuid=65534 --regid=65534 --clear-groups
wait_for_line "$REL_OUT" '^ready$' 10
known=()
for n in 1 2; do
  f=$(rel_wait_new_dump "$D" "$REL_PID" 10 ${known[@]+"${known[@]}"} & kill -USR2 "$REL_PID"; wait)
  [ -n "$f" ] || fail "no dump $n without /proc: $(cat "$REL_ERR")"
  known+=("$(basename "$f")")
  rel_ping
done
[ "$(grep -c '^thread ' "$f")" -ge 10 ] || fail "$f lists fewer than the program's 10 threads"
! grep -q '^threadsnap: error' "$REL_ERR" || fail "errors without /proc: $(grep error "$REL_ERR")"
left=$(ls -A "$D" | grep -v '^threadsnap\.' || true)
[ -z "$left" ] || fail "left in the dump directory: $left"
rel_quit
ok "no /proc, as nobody: ${known[*]} whole (named temporary file), nothing left, no error"
