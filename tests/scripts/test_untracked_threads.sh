#!/usr/bin/env bash
# Threads the library did not see start (created before it was loaded, or
# by a raw clone) are found in /proc/self/task at dump time and captured by
# signal: each appears once, tracked=0, with its own stack.
source "$(dirname "$0")/lib.sh"
need_lib
need_program late_load
out=$TMP/out
THREADSNAP_DIR=$TMP "$PROGRAMS/late_load" "$LIB" >"$out" 2>"$TMP/err" &
pid=$!
started $pid
wait_for_line "$out" '^ready$' 10
# The early threads print their tid before blocking; wait until both sit in read.
for name in early-1 early-2; do
  tid=$(awk -v n=$name '$1 == "tid" && $2 == n {print $3}' "$out")
  [ -n "$tid" ] || fail "no tid for $name"
  for ((i = 0; i < 200; i++)); do
    [ "$(awk '{print $3}' /proc/$pid/task/$tid/stat)" = S ] && break
    sleep 0.05
  done
done
kill -USR2 $pid
dump=$TMP/threadsnap.$pid.1.txt
for ((i = 0; i < 200; i++)); do [ -f "$dump" ] && break; sleep 0.05; done
[ -f "$dump" ] || fail "no dump: $(cat "$TMP/err")"
tail -n1 "$dump" | grep -qx end || fail "dump not whole"
kill -0 $pid || fail "the program died"

for name in early-1 early-2 raw; do
  tid=$(awk -v n=$name '$1 == "tid" && $2 == n {print $3}' "$out")
  n=$(grep -c "^thread tid=$tid " "$dump" || true)
  [ "$n" = 1 ] || fail "$name (tid $tid) listed $n times"
  grep "^thread tid=$tid " "$dump" | grep -q "tracked=0" || fail "$name not marked tracked=0"
  grep "^thread tid=$tid " "$dump" | grep -q "via=signal" || fail "$name not captured by signal"
done
# Every task of the process except the dumper is listed, once.
tasks=$(ls /proc/$pid/task | wc -l)
listed=$(grep -c '^thread ' "$dump")
[ "$listed" = $((tasks - 1)) ] || fail "listed $listed threads, the process has $tasks tasks (one is the dumper)"
# Their stacks: early_wait for the early threads, raw_spin for the clone.
bias=$(awk '$1 == "module" && $5 ~ /late_load$/ {print $NF; exit}' "$dump" | sed 's/bias=//')
check_frame() {  # NAME FUNCTION
  local tid addr found=no
  tid=$(awk -v n=$1 '$1 == "tid" && $2 == n {print $3}' "$out")
  for addr in $(awk -v t="thread tid=$tid" 'index($0, t " ") == 1 {on = 1; next} /^thread|^end/ {on = 0} on {print $1}' "$dump"); do
    fn=$(printf '%x\n' $((addr - bias - 1)) | addr2line -f -e "$PROGRAMS/late_load" | head -n1)
    [ "$fn" = "$2" ] && found=yes
  done
  [ $found = yes ] || fail "$1's stack has no $2"
}
check_frame early-1 early_wait
check_frame early-2 early_wait
check_frame raw raw_spin
ok "untracked threads listed once each with their stacks"
