#!/usr/bin/env bash
# Who holds what, end to end: a real three-thread lock cycle under the real
# library (tests/programs/who_deadlock.c cycle3): dl-a holds m0 and locks m1,
# dl-b holds m1 and locks m2, dl-c holds m2 and locks m0. The text report
# starts with "DEADLOCK: 3 threads wait for each other", each thread holding
# its own mutex and waiting for the next; --format json has that one cycle,
# starting at its smallest tid, in wait-for order.
source "$(dirname "$0")/lib.sh"
source "$HERE/who_lib.sh"

start_who cycle3 who_deadlock cycle3
t0=$(val tid dl-a); t1=$(val tid dl-b); t2=$(val tid dl-c)
m0=$(val mutex dl-a); m1=$(val mutex dl-b); m2=$(val mutex dl-c)

dump_until 10 "^thread tid=$t0 .*state=blocked call=pthread_mutex_lock obj=$m1 .*owner=$t1 " \
              "^thread tid=$t1 .*state=blocked call=pthread_mutex_lock obj=$m2 .*owner=$t2 " \
              "^thread tid=$t2 .*state=blocked call=pthread_mutex_lock obj=$m0 .*owner=$t0 "
ok "dump: each of dl-a, dl-b, dl-c waits for the next one's mutex, with its owner"

text_report
expect_first_section "DEADLOCK: 3 threads wait for each other"
[ "$(grep -c '^DEADLOCK' "$TMP/text")" = 1 ] || fail "more than one deadlock"
grep -qF "  thread $t0 \"dl-a\" holds mutex $m0, waiting for mutex $m1 held by thread $t1 \"dl-b\" [pthread_mutex_lock" "$TMP/text" || fail "line of dl-a"
grep -qF "  thread $t1 \"dl-b\" holds mutex $m1, waiting for mutex $m2 held by thread $t2 \"dl-c\" [pthread_mutex_lock" "$TMP/text" || fail "line of dl-b"
grep -qF "  thread $t2 \"dl-c\" holds mutex $m2, waiting for mutex $m0 held by thread $t0 \"dl-a\" [pthread_mutex_lock" "$TMP/text" || fail "line of dl-c"
grep -q 'behind this deadlock' "$TMP/text" && fail "no thread waits behind this deadlock"
ok "text: DEADLOCK of 3 first, each holding its mutex and waiting for the next"

json_report
python3 - "$TMP/json" "$t0" "$t1" "$t2" "$m0" "$m1" "$m2" <<'PY' || fail "json cycles"
import json, sys
w = json.load(open(sys.argv[1]))["wait_for"]
tids = list(map(int, sys.argv[2:5]))
mus = sys.argv[5:8]
names = ["dl-a", "dl-b", "dl-c"]
assert len(w["cycles"]) == 1, w["cycles"]
cyc = w["cycles"][0]
got = [(t["tid"], t["name"], t["waits_for"], t["holds"]) for t in cyc["threads"]]
want = [(tids[i], names[i], {"kind": "mutex", "obj": mus[(i + 1) % 3], "owner": tids[(i + 1) % 3]},
         [{"kind": "mutex", "obj": mus[i]}]) for i in range(3)]
# The cycle starts at its smallest tid and follows the wait-for edges.
k = tids.index(min(tids))
want = want[k:] + want[:k]
assert got == want, (got, want)
assert cyc["behind"] == [], cyc["behind"]
print("cycle ok")
PY
ok "json: one cycle of dl-a, dl-b, dl-c in wait-for order"
