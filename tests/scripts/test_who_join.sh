#!/usr/bin/env bash
# Who holds what, end to end: a join cycle under the real library
# (tests/programs/who_deadlock.c join): jn-a joins jn-b and jn-b joins jn-a.
# The dump gives each pthread_join its target's tid as owner= (obj is the
# pthread_t joined); the text report starts with the deadlock, and
# --format json has that one cycle of kind "thread", holding nothing.
source "$(dirname "$0")/lib.sh"
source "$HERE/who_lib.sh"

start_who join who_deadlock join
a=$(val tid jn-a); b=$(val tid jn-b)
pa=$(val pthread jn-a); pb=$(val pthread jn-b)

dump_until 10 "^thread tid=$a .*state=blocked call=pthread_join obj=$pb .*owner=$b " \
              "^thread tid=$b .*state=blocked call=pthread_join obj=$pa .*owner=$a "
ok "dump: jn-a joins $pb (owner $b), jn-b joins $pa (owner $a)"

text_report
expect_first_section "DEADLOCK: 2 threads wait for each other"
[ "$(grep -c '^DEADLOCK' "$TMP/text")" = 1 ] || fail "more than one deadlock"
grep -qF "  thread $a \"jn-a\" waiting for thread $b \"jn-b\" to exit [pthread_join, blocked" "$TMP/text" || fail "line of jn-a"
grep -qF "  thread $b \"jn-b\" waiting for thread $a \"jn-a\" to exit [pthread_join, blocked" "$TMP/text" || fail "line of jn-b"
ok "text: DEADLOCK first, each thread waiting for the other to exit"

json_report
python3 - "$TMP/json" "$a" "$b" "$pa" "$pb" <<'PY' || fail "json cycles"
import json, sys
w = json.load(open(sys.argv[1]))["wait_for"]
a, b = map(int, sys.argv[2:4])
pa, pb = sys.argv[4:6]
assert len(w["cycles"]) == 1, w["cycles"]
got = [(t["tid"], t["name"], t["call"], t["waits_for"], t["holds"]) for t in w["cycles"][0]["threads"]]
want = sorted([(a, "jn-a", "pthread_join", {"kind": "thread", "obj": pb, "owner": b}, []),
               (b, "jn-b", "pthread_join", {"kind": "thread", "obj": pa, "owner": a}, [])])
assert got == want, got
print("cycle ok")
PY
ok "json: one join cycle [jn-a, jn-b]"
