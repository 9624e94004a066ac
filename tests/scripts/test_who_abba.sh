#!/usr/bin/env bash
# Who holds what, end to end: a real two-thread ABBA deadlock under the real
# library (tests/programs/who_deadlock.c abba). dl-a holds m0 and locks m1,
# dl-b holds m1 and locks m0, "behind" waits for m0 too. `threadsnap dump`
# until all three are blocked with owners; then the text report starts with
# the deadlock (both threads, what each holds and waits for, the thread behind
# it) and --format json has exactly that one cycle, with its frames.
source "$(dirname "$0")/lib.sh"
source "$HERE/who_lib.sh"

start_who abba who_deadlock abba
a=$(val tid dl-a); b=$(val tid dl-b); c=$(val tid behind)
m0=$(val mutex dl-a); m1=$(val mutex dl-b)

dump_until 10 "^thread tid=$a .*state=blocked call=pthread_mutex_lock obj=$m1 .*owner=$b " \
              "^thread tid=$b .*state=blocked call=pthread_mutex_lock obj=$m0 .*owner=$a " \
              "^thread tid=$c .*state=blocked call=pthread_mutex_lock obj=$m0 .*owner=$a "
ok "dump: dl-a waits for $m1 owned by $b, dl-b and behind wait for $m0 owned by $a"

text_report
expect_first_section "DEADLOCK: 2 threads wait for each other"
[ "$(grep -c '^DEADLOCK' "$TMP/text")" = 1 ] || fail "more than one deadlock: $(grep '^DEADLOCK' "$TMP/text")"
grep -qF "  thread $a \"dl-a\" holds mutex $m0, waiting for mutex $m1 held by thread $b \"dl-b\" [pthread_mutex_lock, blocked" "$TMP/text" ||
  fail "deadlock line of dl-a: $(grep -F "thread $a " "$TMP/text")"
grep -qF "  thread $b \"dl-b\" holds mutex $m1, waiting for mutex $m0 held by thread $a \"dl-a\" [pthread_mutex_lock, blocked" "$TMP/text" ||
  fail "deadlock line of dl-b: $(grep -F "thread $b " "$TMP/text")"
grep -qF "  1 more thread waits behind this deadlock: thread: $c \"behind\"" "$TMP/text" || fail "thread behind the deadlock"
ok "text: DEADLOCK first, dl-a and dl-b with what they hold and wait for, behind"

json_report
python3 - "$TMP/json" "$a" "$b" "$c" "$m0" "$m1" <<'PY' || fail "json cycles"
import json, sys
w = json.load(open(sys.argv[1]))["wait_for"]
a, b, c = map(int, sys.argv[2:5])
m0, m1 = sys.argv[5:7]
assert len(w["cycles"]) == 1, w["cycles"]
cyc = w["cycles"][0]
got = [(t["tid"], t["name"], t["call"], t["waits_for"], t["holds"]) for t in cyc["threads"]]
want = sorted([
    (a, "dl-a", "pthread_mutex_lock", {"kind": "mutex", "obj": m1, "owner": b},
     [{"kind": "mutex", "obj": m0}]),
    (b, "dl-b", "pthread_mutex_lock", {"kind": "mutex", "obj": m0, "owner": a},
     [{"kind": "mutex", "obj": m1}]),
])
assert got == want, got
assert [r["tid"] for r in cyc["behind"]] == [c], cyc["behind"]
for t in cyc["threads"]:
    funcs = [s["function"] for f in t["frames"] for s in f["symbols"]]
    assert "lock_next" in funcs and "cycle_main" in funcs, (t["tid"], funcs)
print("cycle ok")
PY
ok "json: one cycle [dl-a, dl-b] with objects, owners, holds, behind and frames"
kill -0 "$PID" || fail "the program died"
