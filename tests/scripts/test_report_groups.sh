#!/usr/bin/env bash
# Grouping and the four formats on a hand-written dump (fake addresses, a
# module that does not exist): group counts and order, what each group does,
# folded output parsed back, json validated against scripts/report.schema.json,
# unknown keys ignored, and --merge grouping across two processes (ASLR).
source "$(dirname "$0")/lib.sh"

# make_dump PID BASE: 11 threads: 5 on stack A, 3 on stack B, 1 main, 1 timeout,
# 1 created but not started (via=start: its one frame is a PC).
make_dump() {
  local pid=$1 base=$2 i
  {
    echo "threadsnap 1"
    echo "pid $pid"
    echo "exe /opt/fake/server"
    echo "time_ns 1764240000123456789"
    echo "mode concurrent"
    echo "threads 11"
    echo "stop1_ns 41000"
    echo "sweep_ns 3100000"
    echo "stop2_ns 9000"
    echo "some_future_key 42 and more"
    printf 'module 0x%x 0x%x 0x0 /nonexistent/fake%%20server build-id=abcd bias=0x%x future=x\n' \
      "$base" $((base + 0x100000)) "$base"
    printf 'thread tid=%d name=main state=blocked call=epoll_wait obj=0x5 blocked_ns=5000000 via=sweep\n' "$pid"
    printf '  0x%x\n  0x%x\n' $((base + 0x1000)) $((base + 0x2000))
    for i in 1 2 3 4 5; do
      printf 'thread tid=%d name=pool%%20w%d state=blocked call=pthread_cond_wait obj=0x7f0000001000 blocked_ns=%d via=sweep future=1\n' \
        $((pid + i)) "$i" $((i == 1 ? 2100000000 : 185000000000))
      printf '  0x%x\n  0x%x\n  0x%x\n' $((base + 0x3000)) $((base + 0x4000)) $((base + 0x5000))
    done
    for i in 6 7 8; do
      printf 'thread tid=%d name=cpu%d state=running via=signal\n' $((pid + i)) "$i"
      printf '  0x%x\n  0x%x\n' $((base + 0x6000)) $((base + 0x5000))
    done
    printf 'thread tid=%d name=stuck state=running via=timeout\n' $((pid + 9))
    printf 'thread tid=%d name=newborn state=running via=start\n  0x%x\n' $((pid + 10)) $((base + 0x7000))
    echo "end"
  } > "$TMP/dump.$pid.txt"
}
make_dump 1000 $((0x400000))
make_dump 2000 $((0x7f0000000000))
d1=$TMP/dump.1000.txt d2=$TMP/dump.2000.txt

"$TS" report "$d1" > "$TMP/text" || fail "report failed"
cat "$TMP/text"
heads=$(grep -E '^[0-9]+ threads? ' "$TMP/text" | tr '\n' '|')
expect='5 threads [pthread_cond_wait, blocked 2.1 s .. 3 min]|3 threads [running]|1 thread [epoll_wait, blocked 5 ms]|1 thread [no answer (timeout)]|1 thread [not started yet]|'
[ "$heads" = "$expect" ] || fail "group heads: got '$heads', want '$expect'"
grep -q '^threadsnap report: pid 1000, exe /opt/fake/server$' "$TMP/text" || fail "header pid/exe"
grep -q '^  11 threads, taken 2025-11-27 10:40:00.123 UTC, mode concurrent$' "$TMP/text" || fail "header threads/time"
grep -q '^  stop1 41 us, sweep 3 ms, stop2 9 us$' "$TMP/text" || fail "header stop times"
grep -q 'threads: 1001 "pool w1", 1002 "pool w2"' "$TMP/text" || fail "thread names (percent-decoded)"
grep -q '#0 fake server+0x3000' "$TMP/text" || fail "frames as module+offset"
ok "text: groups, order, summaries, header"

"$TS" report --format folded "$d1" > "$TMP/folded"
python3 - "$TMP/folded" <<'PY' || fail "folded"
import sys
lines = open(sys.argv[1]).read().splitlines()
counts = {}
for line in lines:
    stack, _, n = line.rpartition(" ")
    assert stack and n.isdigit(), line
    counts[stack] = counts.get(stack, 0) + int(n)
assert len(counts) == len(lines), "a stack appears on two lines"
assert sum(counts.values()) == 11, counts
a = "fake server+0x5000;fake server+0x4000;fake server+0x3000;[pthread_cond_wait]"
assert counts.get(a) == 5, (a, counts)
assert counts.get("fake server+0x5000;fake server+0x6000") == 3, counts
assert counts.get("[no answer]") == 1, counts
print("folded ok:", sorted(counts.values()))
PY
ok "folded parses back: one line per stack, counts sum to the thread count"

"$TS" report --format json "$d1" > "$TMP/json"
python3 "$HERE/json_shape.py" "$TOP/scripts/report.schema.json" "$TMP/json" || fail "json shape"
python3 - "$TMP/json" <<'PY' || fail "json content"
import json, sys
doc = json.load(open(sys.argv[1]))
g = doc["groups"]
assert [x["count"] for x in g] == [5, 3, 1, 1, 1], g
assert all(x["count"] == len(x["threads"]) for x in g)
ths = {t["tid"]: t for t in doc["dumps"][0]["threads"]}
for x in g:
    for r in x["threads"]:
        assert ths[r["tid"]]["group"] == x["id"]
assert ths[1001]["extra"] == {"future": "1"}, ths[1001]["extra"]
assert ths[1001]["name"] == "pool w1"
assert ths[1006]["frames"][0]["pc"] and ths[1006]["frames"][0]["lookup"] == ths[1006]["frames"][0]["address"]
assert not ths[1001]["frames"][0]["pc"]
assert ths[1010]["frames"][0]["pc"] and ths[1010]["frames"][0]["lookup"] == "0x407000", ths[1010]
assert ths[1010]["via"] == "start"
assert int(ths[1001]["frames"][0]["lookup"], 16) == int(ths[1001]["frames"][0]["address"], 16) - 1
assert ths[1001]["frames"][0]["offset"] == "0x3000"
print("json ok")
PY
ok "json: valid shape, groups agree with threads, unknown keys kept in extra"

"$TS" report --format threads "$d1" > "$TMP/threads"
[ "$(grep -c '^thread ' "$TMP/threads")" = 11 ] || fail "threads format: not 11 entries"
grep -q '^thread 1001 "pool w1" \[pthread_cond_wait on 0x7f0000001000, 2.1 s\]:$' "$TMP/threads" ||
  fail "threads format entry: $(grep '^thread 1001' "$TMP/threads")"
grep -q '^thread 1006 "cpu6" \[running\]:$' "$TMP/threads" || fail "threads format running entry"
ok "threads: one entry per thread"

"$TS" report --merge "$d1" "$d2" > "$TMP/merged"
grep -q '^10 threads in 2 processes \[pthread_cond_wait, blocked 2.1 s .. 3 min\]$' "$TMP/merged" ||
  fail "merge did not group across processes: $(grep -E '^[0-9]+ thread' "$TMP/merged")"
grep -q '^threadsnap report: 2 dumps merged, 22 threads$' "$TMP/merged" || fail "merged header"
"$TS" report "$d1" "$d2" > "$TMP/separate"
[ "$(grep -c '^5 threads \[' "$TMP/separate")" = 2 ] || fail "separate reports"
"$TS" report --format json --merge "$d1" "$d2" > "$TMP/mjson"
python3 "$HERE/json_shape.py" "$TOP/scripts/report.schema.json" "$TMP/mjson" || fail "merged json shape"
ok "merge: one report, stacks grouped across processes"
