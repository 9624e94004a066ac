#!/usr/bin/env bash
# Who holds what, end to end: self-deadlocks under the real library
# (tests/programs/who_deadlock.c self). self-default relocks a mutex from
# PTHREAD_MUTEX_INITIALIZER, self-normal one of type PTHREAD_MUTEX_NORMAL:
# glibc blocks both forever. The library keeps owner=self for them (they are
# still in that wait after the dump); the text report starts with two
# "DEADLOCK: 1 thread waits for itself", and --format json has two cycles of
# one thread each, each holding and waiting for its own mutex.
source "$(dirname "$0")/lib.sh"
source "$HERE/who_lib.sh"

start_who self who_deadlock self
d=$(val tid self-default); n=$(val tid self-normal)
md=$(val mutex self-default); mn=$(val mutex self-normal)

dump_until 10 "^thread tid=$d .*state=blocked call=pthread_mutex_lock obj=$md .*owner=$d " \
              "^thread tid=$n .*state=blocked call=pthread_mutex_lock obj=$mn .*owner=$n "
ok "dump: self-default and self-normal each wait for their own mutex, owner=self"

text_report
expect_first_section "DEADLOCK: 1 thread waits for itself"
[ "$(grep -c '^DEADLOCK: 1 thread waits for itself$' "$TMP/text")" = 2 ] || fail "not two self-deadlocks"
[ "$(grep -c '^DEADLOCK' "$TMP/text")" = 2 ] || fail "other deadlocks reported"
grep -qF "  thread $d \"self-default\" holds mutex $md, waiting for mutex $md held by thread $d \"self-default\" [pthread_mutex_lock" "$TMP/text" || fail "line of self-default"
grep -qF "  thread $n \"self-normal\" holds mutex $mn, waiting for mutex $mn held by thread $n \"self-normal\" [pthread_mutex_lock" "$TMP/text" || fail "line of self-normal"
# Every deadlock comes before any other section.
last_deadlock=$(grep -n '^DEADLOCK' "$TMP/text" | tail -n1 | cut -d: -f1)
first_other=$(grep -n -m1 -E '^(PILE-UP:|[0-9]+ threads? )' "$TMP/text" | cut -d: -f1)
[ "$last_deadlock" -lt "$first_other" ] || fail "a deadlock is reported after other sections"
ok "text: two self-deadlocks first, each holding and waiting for its own mutex"

json_report
python3 - "$TMP/json" "$d" "$n" "$md" "$mn" <<'PY' || fail "json cycles"
import json, sys
w = json.load(open(sys.argv[1]))["wait_for"]
d, n = map(int, sys.argv[2:4])
md, mn = sys.argv[4:6]
got = sorted([(t["tid"], t["name"], t["waits_for"], t["holds"])
              for c in w["cycles"] for t in c["threads"]])
assert all(len(c["threads"]) == 1 for c in w["cycles"]), w["cycles"]
want = sorted([(d, "self-default", {"kind": "mutex", "obj": md, "owner": d}, [{"kind": "mutex", "obj": md}]),
               (n, "self-normal", {"kind": "mutex", "obj": mn, "owner": n}, [{"kind": "mutex", "obj": mn}])])
assert got == want, got
print("cycles ok")
PY
ok "json: two one-thread cycles"
