#!/usr/bin/env bash
# report's JSON has the lock table of `threadsnap record` (issue 15), for
# one snapshot: on who_pileup (50 threads queued on one mutex held by
# "pile-holder", which waits in read), "locks" has that mutex first, 50
# waiters and distinct waiters, the thread-seconds they had waited so far
# (their blocked_ns), and one owner, pile-holder, with its stack; the JSON
# still has the schema's shape.
source "$(dirname "$0")/lib.sh"
source "$HERE/who_lib.sh"

start_who pileup who_pileup 50
h=$(val tid pile-holder); m=$(val mutex pile)
res=()
for ((i = 1; i <= 50; i++)); do
  res+=("^thread tid=$(val tid "pile-$i") .*state=blocked call=pthread_mutex_lock obj=$m .*owner=$h ")
done
dump_until 10 "${res[@]}"
json_report
python3 "$HERE/json_shape.py" "$TOP/scripts/report.schema.json" "$TMP/json" || fail "json shape"
python3 - "$TMP/json" "$h" "$m" "$DUMP" <<'PY' || fail "json locks"
import json, re, sys
doc = json.load(open(sys.argv[1]))
h, m = int(sys.argv[2]), sys.argv[3]
blocked = sum(int(x) for x in re.findall(r"call=pthread_mutex_lock obj=%s blocked_ns=(\d+)" % m,
                                         open(sys.argv[4]).read()))
l = doc["locks"][0]
assert (l["obj"], l["kind"], l["waiters"], l["wait_samples"]) == (m, "mutex", 50, 50), l
assert abs(l["wait_thread_seconds"] - blocked / 1e9) < 1e-6, (l["wait_thread_seconds"], blocked)
assert len(l["owners"]) == 1 and l["owners"][0]["tid"] == h, l["owners"]
o = l["owners"][0]
assert (o["name"], o["call"], o["samples"]) == ("pile-holder", "read", 50), o
funcs = [s["function"] for f in o["frames"] for s in f["symbols"]]
assert funcs, "no frames for the owner"
print("locks ok:", l["obj"], l["waiters"], "waiters, owner", o["name"], funcs[:3])
PY
ok "report json: locks[0] is $m with 50 waiters, owned by $h"
