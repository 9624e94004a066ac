#!/usr/bin/env bash
# Fault: the dump directory is not writable. Each dump gives one clear stderr
# line ("threadsnap: error: ..." naming the directory), no file is written,
# the program runs on, and once the directory is writable again the next dump
# is written whole. As root (whom permissions do not stop) the program runs
# as nobody.
source "$(dirname "$0")/lib.sh"
source "$TOP/tests/reliability/lib.sh"
need_lib
D=$TMP/d
mkdir "$D"
prefix=()
if [ "$(id -u)" = 0 ]; then
  chmod 755 "$TMP"
  chmod 555 "$D"
  prefix=(setpriv --reuid=65534 --regid=65534 --clear-groups)
  "${prefix[@]}" touch "$D/probe" 2>/dev/null && fail "nobody can write to a 0555 directory?"
else
  chmod 555 "$D"
  touch "$D/probe" 2>/dev/null && fail "cannot make $D unwritable (CAP_DAC_OVERRIDE?)"
fi
rel_start rel_workers THREADSNAP_DIR="$D" -- ${prefix[@]+"${prefix[@]}"}
wait_for_line "$REL_OUT" '^ready$' 10

for n in 1 2; do
  kill -USR2 "$REL_PID"
  rel_wait_count "$REL_ERR" '^threadsnap: error: cannot write dump' "$n" 10
  rel_ping
done
grep '^threadsnap: error: cannot write dump' "$REL_ERR" | grep -qF "$D/" ||
  fail "the error line does not name the directory: $(grep error "$REL_ERR")"
grep '^threadsnap: error: cannot write dump' "$REL_ERR" | grep -qE ': create: permission denied \(errno 13\)$' ||
  fail "the error line does not say what failed: $(grep error "$REL_ERR")"
[ -z "$(ls -A "$D")" ] || fail "files appeared in the unwritable directory: $(ls -A "$D")"
ok "unwritable: $(grep -m1 '^threadsnap: error' "$REL_ERR")"

# Fault cleared: the next dump works.
chmod 777 "$D"
f=$(rel_wait_new_dump "$D" "$REL_PID" 10 & kill -USR2 "$REL_PID"; wait)
[ -n "$f" ] || fail "no dump after the directory became writable"
rel_ping
rel_quit
ok "after the fault: $f is whole, the program ran on and exited 0"
