#!/usr/bin/env bash
# `make demo` (scripts/demo.sh) end to end with the real library: the report
# of demo_pool shows the deadlock first, the pile-up of 6 requests behind the
# holder, the 8 idle workers, the I/O threads, the ticker and main joining the
# holder, each at the source line marked DEMO:... in demo_pool.c.
source "$(dirname "$0")/lib.sh"
need_lib; need_program demo_pool
src=$TOP/tests/programs/demo_pool.c

"$TOP/scripts/demo.sh" > "$TMP/text" 2>&1 || fail "demo.sh failed: $(tail -n 20 "$TMP/text")"
cat "$TMP/text"
grep -q '^\$ threadsnap run -- demo_pool &$' "$TMP/text" || fail "no run line"
grep -q '^\$ threadsnap dump [0-9]*$' "$TMP/text" || fail "no dump line"
first=$(grep -m1 -E '^(DEADLOCK:|PILE-UP:|[0-9]+ threads? )' "$TMP/text")
[ "$first" = "DEADLOCK: 2 threads wait for each other" ] || fail "first section: $first"
grep -qE '^PILE-UP: 6 threads waiting for mutex 0x[0-9a-f]+ held by thread [0-9]+' "$TMP/text" || fail "no pile-up of 6"
grep -qE '^8 threads \[pthread_cond_wait, blocked' "$TMP/text" || fail "no group of 8 idle workers"
grep -q "transfer at .*demo_pool.c:$(marker_line "$src" deadlock) (inlined)" "$TMP/text" || fail "deadlock frame line"
ok "text report: deadlock first, pile-up, idle workers"

"$TOP/scripts/demo.sh" --format json > "$TMP/out" 2>&1 || fail "demo.sh --format json failed"
grep '^{' "$TMP/out" > "$TMP/json" || fail "no json in: $(tail "$TMP/out")"
python3 "$HERE/json_shape.py" "$TOP/scripts/report.schema.json" "$TMP/json" || fail "json shape"
python3 - "$TMP/json" "$src" <<'PY' || fail "demo report content"
import json, re, sys
doc = json.load(open(sys.argv[1]))
mark = {}
for n, line in enumerate(open(sys.argv[2]), 1):
    m = re.search(r"DEMO:(\w+)$", line.rstrip())
    if m:
        mark[m.group(1)] = n

def at(t, func, marker):
    """whether thread t has func at the marked line among its first frames"""
    for f in t["frames"][:3]:
        for s in f["symbols"]:
            if s["function"] == func and (s["file"] or "").endswith("demo_pool.c") \
                    and s["line"] == mark[marker]:
                return True
    return False

threads = doc["dumps"][0]["threads"]
pid = doc["dumps"][0]["pid"]
assert len(threads) == 21, len(threads)  # 8+2+1+1+6+2 workers and main
kinds = {
    "idle": [t for t in threads if at(t, "pool_take", "idle")],
    "io": [t for t in threads if at(t, "io_thread", "io")],
    "ticker": [t for t in threads if at(t, "ticker", "ticker")],
    "holder": [t for t in threads if at(t, "slow_refresh", "holder")],
    "request": [t for t in threads if at(t, "handle_request", "request")],
    "deadlock": [t for t in threads if at(t, "transfer", "deadlock")],
    "join": [t for t in threads if at(t, "main", "join")],
}
want = {"idle": 8, "io": 2, "ticker": 1, "holder": 1, "request": 6, "deadlock": 2, "join": 1}
got = {k: len(v) for k, v in kinds.items()}
assert got == want, got
holder = kinds["holder"][0]["tid"]
assert all(t["call"] == "pthread_cond_wait" for t in kinds["idle"])
assert all(t["call"] == "read" for t in kinds["io"] + kinds["holder"])
assert kinds["ticker"][0]["call"] == "nanosleep"
assert all(t["owner"] == holder for t in kinds["request"]), [t["owner"] for t in kinds["request"]]
assert kinds["join"][0]["tid"] == pid and kinds["join"][0]["owner"] == holder
w = doc["wait_for"]
assert [sorted(m["tid"] for m in c["threads"]) for c in w["cycles"]] == \
    [sorted(t["tid"] for t in kinds["deadlock"])], w["cycles"]
piles = [(p["count"], p["owner"]) for p in w["pileups"]]
assert (6, holder) in piles, piles
print("demo report ok:", got)
PY
ok "json report: every kind of thread at its marked line, owners, the cycle"
