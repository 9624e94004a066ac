#!/usr/bin/env bash
# threadsnap record when things go wrong (issue 15, "Bad input"):
# - a PID without the library is refused, and is never signalled (it lives;
#   SIGUSR2 would have killed it);
# - a program that exits before --duration: the profile of what was sampled,
#   exit 0, and it says the program exited;
# - an output that cannot be written (missing directory, a directory) is
#   refused before anything starts, with one error line;
# - a full disk at the end: one clear error line, no partial file left;
# - SIGINT (Ctrl-C) during a recording of a PID: what was gathered is
#   written, the process lives on, and the dumps the recording consumed are
#   gone from its dump directory;
# - a progress line on a terminal, none on a pipe or file;
# - a process that stalls (SIGSTOP): after --timeout, what was gathered.
source "$(dirname "$0")/../reliability/mount_ns.sh"
source "$(dirname "$0")/lib.sh"
need_lib
need_program rec_split
cd "$TMP"

# one_error FILE: FILE holds exactly one line, a threadsnap error.
one_error() {
  [ "$(wc -l < "$1")" = 1 ] && grep -q '^threadsnap: error: record: ' "$1" ||
    fail "want one error line, got: $(cat "$1")"
}

# 1. No library: refused, never signalled.
sleep 300 & plain=$!; started "$plain"
rc=0; "$TS" record --duration 1 -o x.pb.gz "$plain" > out 2> err || rc=$?
[ "$rc" = 1 ] || fail "record of a process without the library: exit $rc"
one_error err
grep -q "does not have libthreadsnap loaded" err || fail "no reason given: $(cat err)"
kill -0 "$plain" && [ "$(awk '{ print $3 }' "/proc/$plain/stat")" != Z ] ||
  fail "the process without the library died"
grep -q '^SigPnd:\s*0*$' "/proc/$plain/status" && grep -q '^ShdPnd:\s*0*$' "/proc/$plain/status" ||
  fail "a signal is pending for the process without the library"
[ ! -e x.pb.gz ] || fail "an output was written for a refused PID"
ok "refused: $(cat err)"

# 2. The program exits (after 2 s) long before --duration 60.
start=$SECONDS
rc=0; "$TS" record --hz 20 --duration 60 -o early.json -- "$PROGRAMS/rec_split" 2 > out 2> err || rc=$?
[ "$rc" = 0 ] || fail "record of a program that exits early: exit $rc: $(cat err)"
((SECONDS - start < 30)) || fail "record waited for --duration after the program exited"
grep -q "exited with status 0" err || fail "record does not say the program exited: $(cat err)"
python3 - <<'PY' || fail "the early-exit profile"
import json
d = json.load(open("early.json"))
assert "exited with status 0" in d["ended"], d["ended"]
assert 20 <= d["samples"] <= 50, d["samples"]      # 2 s at 20 Hz, some slack for start-up
assert any("rec-worker" in [n["name"] for n in s["names"]] for s in d["stacks"])
print("early exit:", d["samples"], "samples;", d["ended"])
PY

# 3. Outputs that cannot be written, refused before the program starts.
for bad in "$TMP/no/such/dir/p.pb.gz" "$TMP"; do
  rc=0; "$TS" record --duration 1 -o "$bad" -- "$PROGRAMS/rec_split" > out 2> err || rc=$?
  [ "$rc" = 1 ] || fail "record -o $bad: exit $rc"
  one_error err
  [ ! -s out ] || fail "the program was started although -o $bad cannot be written"
  ok "-o $bad: $(cat err)"
done

# 4. A full disk when the profile is written: one error, nothing left.
mkdir full
mount -t tmpfs -o size=64k tmpfs full || fail "cannot mount a tmpfs"
trap 'umount -l "$TMP/full" 2>/dev/null; cleanup' EXIT
head -c 1M /dev/zero > full/filler 2>/dev/null || true
rc=0; "$TS" record --hz 50 --duration 1 -o full/p.svg -- "$PROGRAMS/rec_split" > out 2> err || rc=$?
[ "$rc" = 1 ] || fail "record onto a full disk: exit $rc: $(cat err)"
one_error err
grep -qi "cannot write $TMP/full/p.svg\|cannot write full/p.svg" err && grep -qi "no space left" err ||
  fail "the error does not say what failed: $(cat err)"
[ "$(ls full)" = filler ] || fail "files left on the full disk: $(ls full)"
ok "full disk: $(cat err)"

# 5. Ctrl-C (SIGINT) while recording a PID: what was gathered is written.
mkdir d
"$TS" run --dir "$TMP/d" -- "$PROGRAMS/rec_split" > prog.out 2> prog.err &
pid=$!; started "$pid"
wait_for_line prog.out '^ready$' 10
"$TS" record --hz 50 -o int.json "$pid" > rec.out 2> rec.err &
rec=$!
# Each dump the library writes is one line in its log: wait for ten.
for ((i = 0; i < 200; i++)); do
  [ "$(grep -c 'wrote' "d/threadsnap.$pid.log" 2>/dev/null || true)" -ge 10 ] && break
  sleep 0.05
done
[ "$(grep -c 'wrote' "d/threadsnap.$pid.log")" -ge 10 ] || fail "no dumps while recording: $(cat rec.err)"
kill -INT "$rec"
rc=0; wait "$rec" || rc=$?
[ "$rc" = 0 ] || fail "record after SIGINT: exit $rc: $(cat rec.err)"
kill -0 "$pid" || fail "the recorded process died"
grep -q "interrupted (SIGINT)" rec.err || fail "record does not say it was interrupted: $(cat rec.err)"
python3 - <<'PY' || fail "the interrupted profile"
import json
d = json.load(open("int.json"))
assert d["samples"] >= 10 and "SIGINT" in d["ended"], (d["samples"], d["ended"])
print("interrupted:", d["samples"], "samples")
PY
left=$(ls d | grep -c '^threadsnap\..*\.txt$' || true)
[ "$left" = 0 ] || fail "$left consumed dumps left in the dump directory: $(ls d)"
ok "SIGINT: profile written, process alive, dumps removed"

# 6. The progress line: on a terminal only (script(1) gives it a pty).
grep -q 'recording pid' rec.err && fail "a progress line on a file: $(cat rec.err)"
script -qfec "$TS record --hz 20 --duration 1 -o pty.json -- $PROGRAMS/rec_split" /dev/null > pty.out 2>&1 ||
  fail "record on a terminal failed: $(cat pty.out)"
grep -q $'\rthreadsnap: recording pid [0-9]*: [0-9]* samples, [0-9.]* s, [0-9]* lost' pty.out ||
  fail "no progress line on a terminal: $(cat -A pty.out | tail -n 3)"
ok "progress line on a terminal, none on a file"

# 7. The process stalls (SIGSTOP: no snapshot can come): the recording ends
#    after --timeout with the profile of what was gathered, and says why.
: > d/threadsnap.$pid.log
"$TS" record --hz 20 --timeout 1 -o stall.json "$pid" > rec.out 2> rec.err &
rec=$!
for ((i = 0; i < 200; i++)); do
  [ "$(grep -c 'wrote' "d/threadsnap.$pid.log" 2>/dev/null || true)" -ge 5 ] && break
  sleep 0.05
done
kill -STOP "$pid"   # (the 5th logged dump may be cut short: at least 3 are whole)
rc=0; wait "$rec" || rc=$?
kill -CONT "$pid"
[ "$rc" = 0 ] || fail "record of a stalled process: exit $rc: $(cat rec.err)"
grep -q "no snapshot from process $pid .* within" rec.err || fail "record does not say why it ended: $(cat rec.err)"
python3 - <<'PY' || fail "the stalled profile"
import json
d = json.load(open("stall.json"))
assert d["samples"] >= 3 and "no snapshot" in d["ended"], (d["samples"], d["ended"])
print("stalled:", d["samples"], "samples;", d["ended"])
PY
ok "a stalled process: what was gathered is written, and why it ended"
