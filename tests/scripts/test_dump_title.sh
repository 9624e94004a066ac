#!/usr/bin/env bash
# Issue 12 with the real library: a PostgreSQL-like program (ps_title.c, built
# here) that owns SIGUSR2 (its handler exits) and overwrites its argv+environ
# area with a process title in every process (a parent and two children).
# - Started with `threadsnap run --signal 40`: `threadsnap dump PID` works
#   although /proc/PID/environ no longer names threadsnap (it must not fall
#   back to SIGUSR2 and /tmp); --tree --merge dumps all three and the report
#   names each by its title and parent.
# - Started with the defaults: SIGUSR2 is the program's, so the library steps
#   aside from it. A library with a control record is dumped through its wake
#   signal; an older one is refused ("stepped aside"). Either way the
#   program's SIGUSR2 handler never runs and every process lives.
# - With a control record, no wait of a program thread ends with EINTR once
#   the dumper runs (before, the wake signal goes to the main thread, once).
source "$(dirname "$0")/lib.sh"
need_lib
command -v cc > /dev/null || skip "no C compiler (cc) to build ps_title.c"
cc -O1 -g -Wall -pthread -o "$TMP/ps_title" "$HERE/ps_title.c" || fail "cannot build ps_title.c"
record=0
lib_has_record && record=1
echo "library publishes a control record: $record"


# start NAME RUN-OPTIONS...: starts ps_title with 2 children, sets PID.
start() {
  local name=$1; shift
  mkdir -p "$TMP/$name.d"
  "$TS" run --dir "$TMP/$name.d" "$@" -- "$TMP/ps_title" "$TMP/$name.st" 2 \
    > "$TMP/$name.out" 2> "$TMP/$name.err" &
  PID=$!; started "$PID"
  local i
  for ((i = 0; i < 200; i++)); do
    [ "$(grep -c '^ready ' "$TMP/$name.st" 2>/dev/null)" = 3 ] && break
    sleep 0.05
  done
  [ "$(grep -c '^ready ' "$TMP/$name.st" 2>/dev/null)" = 3 ] || fail "$name: not 3 ready processes: $(cat "$TMP/$name.st" "$TMP/$name.err")"
  for p in $(sed -n 's/^ready \([0-9]*\) .*/\1/p' "$TMP/$name.st"); do started "$p"; done
  tr '\0' '\n' < "/proc/$PID/environ" | grep -q 'LD_PRELOAD\|THREADSNAP' &&
    fail "$name: /proc/$PID/environ was not overwritten"
  grep -q "kill -" "$TMP/$name.err" && fail "run's banner still suggests kill: $(cat "$TMP/$name.err")"
  return 0
}

all_alive() {  # all_alive NAME
  local p
  for p in $(sed -n 's/^ready \([0-9]*\) .*/\1/p' "$TMP/$1.st"); do
    kill -0 "$p" 2> /dev/null || fail "$1: process $p died: $(cat "$TMP/$1.st")"
  done
  grep -q 'USR2 HANDLER RAN' "$TMP/$1.st" && fail "$1: the program's SIGUSR2 handler ran"
  return 0
}

start sig40 --signal 40
sig40_pid=$PID
"$TS" dump "$PID" > "$TMP/sig40.txt" 2> "$TMP/sig40.dumperr" || fail "dump with --signal 40 run: $(cat "$TMP/sig40.dumperr")"
grep -q "dump of $PID: $TMP/sig40.d/threadsnap.$PID.1.txt" "$TMP/sig40.dumperr" || fail "dump not found in the run's --dir: $(cat "$TMP/sig40.dumperr")"
grep -q '^  title "pgtitle: postmaster"$' "$TMP/sig40.txt" || fail "no title in the report: $(head -n 3 "$TMP/sig40.txt")"
grep -q 'thread [0-9]* "poller": sleeping in poll' "$TMP/sig40.txt" || fail "poll(NULL, 0, ms) is not 'sleeping in poll'"
if [ "$record" = 1 ]; then
  log=$TMP/sig40.d/threadsnap.$PID.log
  grep -qF "library messages: $log" "$TMP/sig40.err" || fail "run's banner does not name the log: $(cat "$TMP/sig40.err")"
  grep -q 'threadsnap: wrote' "$log" || fail "the log the banner names has no line for the dump"
fi
ok "--signal 40, environ overwritten: dumped, titled"

"$TS" dump --tree --merge "$PID" > "$TMP/tree.txt" 2> "$TMP/tree.err" || fail "dump --tree: $(cat "$TMP/tree.err")"
[ "$(grep -c '^threadsnap: dump of' "$TMP/tree.err")" = 3 ] || fail "--tree did not dump 3 processes: $(cat "$TMP/tree.err")"
merged=$(sed -n '/^MERGED$/,$p' "$TMP/tree.txt")
for t in postmaster checkpointer walwriter; do
  grep -q "^  title \"pgtitle: $t\"$" <<< "$merged" || fail "merged report lacks the $t: $merged"
done
grep -q "^  pid [0-9]* (parent $PID), exe $TMP/ps_title$" <<< "$merged" || fail "merged report lacks the parent PID"
grep -q '^  3 threads named bgworker: ' <<< "$merged" || fail "same-named threads not counted: $merged"
all_alive sig40
ok "--tree --merge: 3 processes, each with its title and parent"

start usr2
usr2_pid=$PID
rc=0
"$TS" dump --timeout 5 "$PID" > "$TMP/usr2.txt" 2> "$TMP/usr2.err" || rc=$?
if [ "$record" = 1 ]; then
  [ "$rc" = 0 ] || fail "defaults, control record: dump failed: $(cat "$TMP/usr2.err")"
  grep -q '^  title "pgtitle: postmaster"$' "$TMP/usr2.txt" || fail "defaults: no report"
  ok "defaults: the program owns SIGUSR2, dumped through the wake signal"
else
  [ "$rc" = 1 ] || fail "defaults, old library: want a refusal, got exit $rc: $(cat "$TMP/usr2.err")"
  grep -q 'stepped aside' "$TMP/usr2.err" || fail "refusal does not say the library stepped aside: $(cat "$TMP/usr2.err")"
  ok "defaults, library without a control record: refused ($(cat "$TMP/usr2.err"))"
fi
rc=0; "$TS" dump --signal USR2 --timeout 2 "$PID" > /dev/null 2> "$TMP/usr2b.err" || rc=$?
[ "$rc" = 1 ] || fail "--signal USR2 to a program that owns it: exit $rc: $(cat "$TMP/usr2b.err")"
ok "--signal USR2 refused: $(cat "$TMP/usr2b.err")"
sleep 0.3
all_alive usr2
ok "the program's SIGUSR2 handler never ran; every process alive"

if [ "$record" = 1 ]; then
  # While the library has not started its dumper (dumper_tid 0), the wake
  # signal goes to the main thread, once: its wait may end with EINTR then.
  # After that only threadsnap's own thread is signalled.
  sleep 1.2
  grep -h '^EINTR' "$TMP/sig40.st" "$TMP/usr2.st" | grep -v 'poll(pipe)$' &&
    fail "a thread other than main saw EINTR"
  for p in $(sed -n 's/^ready \([0-9]*\) .*/\1/p' "$TMP/sig40.st" "$TMP/usr2.st"); do
    [ "$(cat "$TMP/sig40.st" "$TMP/usr2.st" | grep -c "^EINTR $p " || true)" -le 1 ] ||
      fail "process $p: the main thread was interrupted more than once"
  done
  before=$(cat "$TMP/sig40.st" "$TMP/usr2.st" | grep -c '^EINTR' || true)
  "$TS" dump --tree --no-report "$sig40_pid" "$usr2_pid" > /dev/null 2> "$TMP/again.err" || fail "dump again: $(cat "$TMP/again.err")"
  sleep 1.2
  after=$(cat "$TMP/sig40.st" "$TMP/usr2.st" | grep -c '^EINTR' || true)
  [ "$before" = "$after" ] || fail "dumps with the dumper running interrupted a program thread: $(grep -h '^EINTR' "$TMP/sig40.st" "$TMP/usr2.st")"
  ok "no program thread saw EINTR once the dumper ran (the main thread at most once before: $before)"
else
  echo "note: old library (process-directed trigger): $(grep -hc '^EINTR' "$TMP/sig40.st") EINTR(s) in program threads, as documented"
fi
