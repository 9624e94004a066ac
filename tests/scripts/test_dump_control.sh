#!/usr/bin/env bash
# `threadsnap dump` against the control record of issue 12, with a stand-in
# program (fake_control.py: a memfd threadsnap-control record and a wake
# signal that writes a dump), so the command's rules are tested apart from
# the library:
# - a running dumper gets threadsnap's wake signal thread-directed: it wakes on
#   the dumper thread, the main thread's poll is not interrupted;
# - a lazy dumper (dumper_tid 0): the wake signal goes to the main thread only;
# - the program owns SIGUSR2 (trigger off): --signal USR2 is refused naming the
#   reason, the plain dump works through the wake signal, the program's
#   handler never runs;
# - no wake signal and the trigger off: refused; a record that never settles
#   (odd seq): refused; a wake signal without a handler: refused; nothing sent.
source "$(dirname "$0")/lib.sh"
FAKE=$HERE/fake_control.py

# start_fake NAME ARGS...: starts the stand-in, sets PID, waits for 'ready'.
start_fake() {
  local name=$1; shift
  mkdir -p "$TMP/$name"
  python3 "$FAKE" "$TMP/$name" "$TMP/$name.status" "$@" 2> "$TMP/$name.err" &
  PID=$!; started "$PID"
  wait_for_line "$TMP/$name.status" '^ready ' 10
}

expect_refusal() {  # expect_refusal TEXT ARGS...
  local text=$1 rc=0; shift
  "$TS" dump --timeout 2 "$@" > "$TMP/out" 2> "$TMP/err" || rc=$?
  [ "$rc" = 1 ] || fail "dump $*: exit $rc, want 1: $(cat "$TMP/err")"
  grep -qF "$text" "$TMP/err" || fail "dump $*: no '$text' in: $(cat "$TMP/err")"
  ok "refused ($*): $(cat "$TMP/err")"
}

start_fake run --own-usr2 --trigger off
"$TS" dump --format threads "$PID" > "$TMP/run.txt" 2> "$TMP/run.dumperr" || fail "dump: $(cat "$TMP/run.dumperr")"
grep -q "^woke on tid [0-9]* (dumper)" "$TMP/run.status" || fail "not woken on the dumper thread: $(cat "$TMP/run.status")"
dtid=$(sed -n 's/^woke on tid \([0-9]*\) (dumper)/\1/p' "$TMP/run.status" | head -n1)
[ "$dtid" != "$PID" ] || fail "the dumper is the main thread?"
grep -q "dump of $PID: $TMP/run/threadsnap.$PID.1.txt" "$TMP/run.dumperr" || fail "dump path: $(cat "$TMP/run.dumperr")"
grep -q 'sleeping in poll' "$TMP/run.txt" || fail "poll with obj=-1 is not 'sleeping in poll': $(cat "$TMP/run.txt")"
grep -q "title \"[^\"]*fake_control.py $TMP/run" "$TMP/run.txt" || fail "no process title in the report: $(head -n 3 "$TMP/run.txt")"
ok "running dumper: woken by tgkill on its own thread ($dtid), dump in the record's dir"

expect_refusal "belongs to the program" --signal USR2 "$PID"
expect_refusal "threadsnap has no handler for signal 41" --signal 41 "$PID"
"$TS" dump --no-report --signal 40 "$PID" > /dev/null 2> "$TMP/err40" || fail "--signal 40 (the wake signal): $(cat "$TMP/err40")"
sleep 1.2   # a whole poll period of the main thread after the last signal
grep -q 'EINTR in main' "$TMP/run.status" && fail "the main thread's poll was interrupted"
grep -q 'USR2 HANDLER RAN' "$TMP/run.status" && fail "the program's SIGUSR2 handler ran"
kill -0 "$PID" || fail "the program died"
ok "program owns SIGUSR2: never sent; its main thread's poll never interrupted"

start_fake lazy --dumper lazy --say "threadsnap: warning: dump"
"$TS" dump --no-report "$PID" > "$TMP/lazy.path" 2> "$TMP/lazy.err" || fail "lazy dump: $(cat "$TMP/lazy.err")"
grep -qF "process $PID's library says: threadsnap: warning: dump 1 (its log: $TMP/lazy/threadsnap.log)" "$TMP/lazy.err" ||
  fail "the library's new message is not shown: $(cat "$TMP/lazy.err")"
grep -q "says" "$TMP/run.dumperr" && fail "a message shown when the library had none"
grep -q "^woke on tid $PID (main)" "$TMP/lazy.status" || fail "lazy: not woken on the main thread: $(cat "$TMP/lazy.status")"
ok "lazy dumper (dumper_tid 0): the wake signal went to the main thread"

start_fake nowake --wake 0 --trigger off --own-usr2
expect_refusal "publishes no wake signal, and its trigger signal 12 belongs to the program" "$PID"
start_fake stuck --stuck
expect_refusal "did not settle" "$PID"
start_fake nohandler --no-handler --dumper lazy
expect_refusal "no handler for threadsnap's wake signal 40" "$PID"
start_fake mainblocks --dumper lazy --main-blocks
expect_refusal "main thread blocks threadsnap's wake signal 40" "$PID"
grep -q '^SigPnd:[[:space:]]*0*$' "/proc/$PID/task/$PID/status" || fail "a signal was left pending"
sleep 0.3
for n in nowake stuck nohandler mainblocks; do
  grep -q '^woke\|USR2 HANDLER' "$TMP/$n.status" && fail "$n: something was delivered: $(cat "$TMP/$n.status")"
  [ -z "$(ls "$TMP/$n")" ] || fail "$n: a dump appeared"
done
ok "refusals sent nothing"

# --tree: the stand-in's descendants; one without the library is skipped, named.
mkdir -p "$TMP/tree"
bash -c 'python3 "$1" "$2" "$3" & sleep 300 & echo "sleep $!" >> "$3"; wait' _ "$FAKE" "$TMP/tree" "$TMP/tree.status" > /dev/null 2>&1 &
parent=$!; started "$parent"
wait_for_line "$TMP/tree.status" '^ready ' 10
wait_for_line "$TMP/tree.status" '^sleep ' 10
child=$(sed -n 's/^ready //p' "$TMP/tree.status"); started "$child"
started "$(sed -n 's/^sleep //p' "$TMP/tree.status")"
"$TS" dump --tree --no-report "$parent" > "$TMP/tree.out" 2> "$TMP/tree.err" || fail "--tree: $(cat "$TMP/tree.err")"
grep -q "skipping $parent (bash): .*does not have libthreadsnap" "$TMP/tree.err" || fail "--tree did not name the skipped parent: $(cat "$TMP/tree.err")"
grep -q "skipping [0-9]* (sleep)" "$TMP/tree.err" || fail "--tree did not name the skipped sleep: $(cat "$TMP/tree.err")"
grep -qx "$TMP/tree/threadsnap.$child.1.txt" "$TMP/tree.out" || fail "--tree did not dump the child: $(cat "$TMP/tree.out" "$TMP/tree.err")"
ok "--tree: the descendant with a record dumped, the others skipped and named"

# A process without the library that catches every signal and logs it:
# refused, with or without --signal, and it never receives anything.
python3 - "$TMP/catchall.status" <<'PY' &
import os, signal, sys, time
log = sys.argv[1]
def h(n, f):
    with open(log, "a") as out:
        out.write("got %d\n" % n)
for n in range(1, int(signal.SIGRTMAX) + 1):
    if n not in (9, 19, 32, 33):
        try:
            signal.signal(n, h)
        except (OSError, ValueError):
            pass
open(log, "a").write("ready %d\n" % os.getpid())
while True:
    time.sleep(1)
PY
PID=$!; started "$PID"
wait_for_line "$TMP/catchall.status" '^ready ' 10
expect_refusal "does not have libthreadsnap loaded" "$PID"
expect_refusal "does not have libthreadsnap loaded" --signal USR2 "$PID"
expect_refusal "does not have libthreadsnap loaded" --signal 40 "$PID"
expect_refusal "does not have libthreadsnap loaded" --tree "$PID"
sleep 0.3
grep -q '^got' "$TMP/catchall.status" && fail "a signal reached the process without the library: $(cat "$TMP/catchall.status")"
ok "no library: refused, not one signal delivered"

# A forked child still maps its parent's record: that record is not the
# child's (its pid says so). Without a record of its own: refused; with one:
# the child's own is used.
start_fake inherit --fork inherit
wait_for_line "$TMP/inherit.status" '^child ready ' 10
kid=$(sed -n 's/^child ready //p' "$TMP/inherit.status"); started "$kid"
[ "$(grep -c threadsnap-control "/proc/$kid/maps")" = 1 ] || fail "the child does not map the parent's record"
expect_refusal "inherited across fork" "$kid"
start_fake own --fork own
wait_for_line "$TMP/own.status" '^child ready ' 10
kid=$(sed -n 's/^child ready //p' "$TMP/own.status"); started "$kid"
[ "$(grep -c threadsnap-control "/proc/$kid/maps")" = 2 ] || fail "the child does not map two records"
"$TS" dump --no-report "$kid" > "$TMP/own.out" 2> "$TMP/own.err" || fail "child with its own record: $(cat "$TMP/own.err")"
grep -q "^woke on tid $kid (main)" "$TMP/own.status" || fail "the child was not woken on its main thread: $(cat "$TMP/own.status")"
grep -qx "$TMP/own/threadsnap.$kid.1.txt" "$TMP/own.out" || fail "child dump: $(cat "$TMP/own.out")"
ok "forked child: the parent's record is not taken for its own"

# Another user (nobody) dumping its own process: /proc/PID/map_files needs
# CAP_SYS_ADMIN, so the record is read through /proc/PID/mem.
chmod 755 "$TMP"; mkdir -p "$TMP/nb"; chmod 777 "$TMP/nb"
NB=(setpriv --reuid=65534 --regid=65534 --clear-groups env PATH=/usr/bin:/bin HOME=/nonexistent)
"${NB[@]}" python3 "$FAKE" "$TMP/nb" "$TMP/nb/status" 2> "$TMP/nb.err" &
PID=$!; started "$PID"
wait_for_line "$TMP/nb/status" '^ready ' 10
"${NB[@]}" "$TS" dump --no-report "$PID" > "$TMP/nb.out" 2> "$TMP/nb.dumperr" || fail "nobody dumping its own process: $(cat "$TMP/nb.dumperr")"
grep -q "^woke on tid [0-9]* (dumper)" "$TMP/nb/status" || fail "nobody: not woken on the dumper: $(cat "$TMP/nb/status")"
ok "as nobody: the record read through /proc/PID/mem, the dumper woken"
