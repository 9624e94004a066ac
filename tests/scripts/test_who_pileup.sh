#!/usr/bin/env bash
# Who holds what, end to end: a pile-up of 50 threads on one mutex held by one
# named thread (tests/programs/who_pileup.c). `threadsnap dump` until all 50
# are blocked on the mutex with owner= the holder; then the text report has one
# PILE-UP of 50 held by thread TID "pile-holder", one group of the 50 identical
# stacks that says who holds their mutex, and no deadlock; --format json has
# exactly one pile-up (count 50, owner, the 50 waiters) and the group; the
# threads format says the holder holds the mutex while it waits in read.
source "$(dirname "$0")/lib.sh"
source "$HERE/who_lib.sh"

start_who pileup who_pileup 50
h=$(val tid pile-holder); m=$(val mutex pile); fd=$(val fd pipe)
waiters=()
for ((i = 1; i <= 50; i++)); do waiters+=("$(val tid "pile-$i")"); done
res=("^thread tid=$h .*state=blocked call=read obj=0x$(printf %x "$fd") ")
for t in "${waiters[@]}"; do
  res+=("^thread tid=$t .*state=blocked call=pthread_mutex_lock obj=$m .*owner=$h ")
done
dump_until 10 "${res[@]}"
ok "dump: 50 threads blocked on $m with owner=$h, pile-holder in read"

text_report
grep -q '^DEADLOCK' "$TMP/text" && fail "a deadlock reported: $(grep -A3 '^DEADLOCK' "$TMP/text")"
[ "$(grep -c '^PILE-UP' "$TMP/text")" = 1 ] || fail "not one pile-up: $(grep '^PILE-UP' "$TMP/text")"
expect_first_section "PILE-UP: 50 threads waiting for mutex $m held by thread $h \"pile-holder\""
grep -A1 '^PILE-UP' "$TMP/text" | grep -qE '^  threads: .*, \.\.\. and 42 more$' || fail "pile-up waiters line"
grep -A3 -E '^50 threads \[pthread_mutex_lock, blocked' "$TMP/text" |
  grep -qxF "  50 threads: waiting for mutex $m held by thread $h \"pile-holder\"" || fail "group of 50 and its wait:
$(cat "$TMP/text")"
ok "text: one PILE-UP of 50 held by $h \"pile-holder\", one group of 50, no deadlock"

"$TS" report --format threads "$DUMP" > "$TMP/threads" || fail "threads report failed"
grep -qE "^thread $h \"pile-holder\" \[read on fd $fd, [^]]*, holds mutex $m\]:" "$TMP/threads" ||
  fail "holder entry: $(grep "^thread $h " "$TMP/threads")"
ok "threads: pile-holder waits in read and holds $m"

json_report
python3 - "$TMP/json" "$h" "$m" "${waiters[@]}" <<'PY' || fail "json pile-up"
import json, sys
doc = json.load(open(sys.argv[1]))
h, m = int(sys.argv[2]), sys.argv[3]
waiters = sorted(map(int, sys.argv[4:]))
w = doc["wait_for"]
assert w["cycles"] == [], w["cycles"]
assert len(w["pileups"]) == 1, w["pileups"]
p = w["pileups"][0]
assert (p["kind"], p["obj"], p["owner"], p["count"]) == ("mutex", m, h, 50), p
assert [r["tid"] for r in p["waiters"]] == waiters, p["waiters"]
assert sorted((e["from"], e["to"]) for e in w["edges"]) == [(t, h) for t in waiters]
g = doc["groups"][0]
assert g["count"] == 50 and sorted(r["tid"] for r in g["threads"]) == waiters, g["summary"]
funcs = [s["function"] for f in g["frames"] for s in f["symbols"]]
assert "pile_on" in funcs and "waiter_main" in funcs, funcs
names = {t["tid"]: t["name"] for t in doc["dumps"][0]["threads"]}
assert names[h] == "pile-holder", names[h]
print("pile-up ok")
PY
ok "json: one pile-up of 50 on $m owned by $h, the biggest group is the 50 waiters"
