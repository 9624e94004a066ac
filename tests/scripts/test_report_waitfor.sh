#!/usr/bin/env bash
# The wait-for graph (owner=TID edges) on a hand-written dump: a two-thread
# deadlock and a self-deadlock reported first, with what each thread holds
# and waits for; threads queued behind the deadlock; lock pile-ups; owner=0
# gives no edge; join and rwlock owners; an owner outside the snapshot; the
# same graph in json.
source "$(dirname "$0")/lib.sh"
d=$TMP/wait.txt
cat > "$d" <<'DUMP'
threadsnap 1
pid 500
exe /opt/fake/bank
time_ns 1764240000000000000
mode concurrent
threads 13
stop1_ns 50000
sweep_ns 200000
stop2_ns 8000
module 0x400000 0x500000 0x0 /nonexistent/bank bias=0x0
thread tid=501 name=a state=blocked call=pthread_mutex_lock obj=0xb0 owner=502 blocked_ns=2000000000 via=sweep
  0x401000
  0x409000
thread tid=502 name=b state=blocked call=pthread_mutex_lock obj=0xa0 owner=501 blocked_ns=2000000000 via=sweep
  0x401000
  0x409000
thread tid=503 name=req-1 state=blocked call=pthread_mutex_lock obj=0xa0 owner=501 blocked_ns=1000000000 via=sweep
  0x402000
thread tid=504 name=req-2 state=blocked call=pthread_mutex_lock obj=0xa0 owner=501 blocked_ns=1000000000 via=self
  0x402000
thread tid=505 name=req-3 state=blocked call=pthread_mutex_lock obj=0xa0 owner=501 blocked_ns=1000000000 via=sweep
  0x402000
thread tid=506 name=c state=blocked call=pthread_mutex_lock obj=0xc0 owner=0 blocked_ns=1000 via=sweep
  0x403000
thread tid=507 name=d state=blocked call=pthread_mutex_lock obj=0xc0 owner=0 blocked_ns=1000 via=sweep
  0x403000
thread tid=508 name=cw state=blocked call=pthread_cond_wait obj=0xd0 mutex=0xe0 blocked_ns=5000000000 via=sweep
  0x404000
thread tid=509 name=j state=blocked call=pthread_join obj=0x7f00 owner=510 blocked_ns=5000000000 via=sweep
  0x405000
thread tid=510 name=r state=running via=signal
  0x406000
thread tid=511 name=self state=blocked call=pthread_mutex_lock obj=0xf0 owner=511 blocked_ns=7000000000 via=sweep
  0x407000
thread tid=512 name=rw state=blocked call=pthread_rwlock_wrlock obj=0x100 owner=510 blocked_ns=1000000 via=sweep
  0x408000
thread tid=513 name=orphan state=blocked call=pthread_mutex_lock obj=0x110 owner=9999 blocked_ns=1000000 via=sweep
  0x408000
end
DUMP

"$TS" report "$d" > "$TMP/text" || fail "report failed"
cat "$TMP/text"
first=$(grep -n -m1 -E '^(DEADLOCK:|PILE-UP:|[0-9]+ threads? )' "$TMP/text")
case $first in *"DEADLOCK: 2 threads wait for each other") ;; *) fail "first section is not the 2-thread deadlock: $first";; esac
last_deadlock=$(grep -n '^DEADLOCK' "$TMP/text" | tail -n1 | cut -d: -f1)
first_other=$(grep -n -m1 -E '^(PILE-UP:|[0-9]+ threads? )' "$TMP/text" | cut -d: -f1)
[ "$last_deadlock" -lt "$first_other" ] || fail "a deadlock is reported after other sections"
grep -q '^DEADLOCK: 1 thread waits for itself$' "$TMP/text" || fail "self-deadlock not reported"
grep -qF '  thread 501 "a" holds mutex 0xa0, waiting for mutex 0xb0 held by thread 502 "b" [pthread_mutex_lock, blocked 2.0 s]' "$TMP/text" || fail "deadlock line of 501"
grep -qF '  thread 502 "b" holds mutex 0xb0, waiting for mutex 0xa0 held by thread 501 "a" [pthread_mutex_lock, blocked 2.0 s]' "$TMP/text" || fail "deadlock line of 502"
grep -qF '  3 more threads wait behind this deadlock: threads: 503 "req-1", 504 "req-2", 505 "req-3"' "$TMP/text" || fail "threads behind the deadlock"
grep -qF 'PILE-UP: 4 threads waiting for mutex 0xa0 held by thread 501 "a"' "$TMP/text" || fail "pile-up on 0xa0"
grep -qF 'PILE-UP: 2 threads waiting for mutex 0xc0' "$TMP/text" || fail "pile-up on 0xc0 (owner unknown)"
grep -qF '3 threads: waiting for mutex 0xa0 held by thread 501 "a"' "$TMP/text" || fail "group wait line"
ok "text: deadlocks first, holds and waits, pile-ups"

"$TS" report --format threads "$d" > "$TMP/threads"
grep -qF 'thread 503 "req-1" [pthread_mutex_lock, 1.0 s, waiting for mutex 0xa0 held by thread 501 "a"]:' "$TMP/threads" || fail "threads: mutex owner"
grep -qF 'thread 509 "j" [pthread_join, 5.0 s, waiting for thread 510 "r" to exit]:' "$TMP/threads" || fail "threads: join"
grep -qF 'waiting for rwlock 0x100 held for writing by thread 510 "r"' "$TMP/threads" || fail "threads: rwlock"
grep -qF 'held by thread 9999 (not in this snapshot)' "$TMP/threads" || fail "threads: unknown owner"
grep -qF 'thread 506 "c" [pthread_mutex_lock on 0xc0, 1 us]:' "$TMP/threads" || fail "threads: owner=0 is no holder"
grep -qF 'thread 508 "cw" [pthread_cond_wait on 0xd0, 5.0 s, mutex 0xe0]:' "$TMP/threads" || fail "threads: condvar mutex"
grep -qF 'thread 501 "a" [pthread_mutex_lock, 2.0 s, waiting for mutex 0xb0 held by thread 502 "b", holds mutex 0xa0]:' "$TMP/threads" || fail "threads: holds"
ok "threads: each blocked thread says what it waits for and who holds it"

"$TS" report --format json "$d" > "$TMP/json"
python3 "$HERE/json_shape.py" "$TOP/scripts/report.schema.json" "$TMP/json" || fail "json shape"
python3 - "$TMP/json" <<'PY' || fail "json graph"
import json, sys
w = json.load(open(sys.argv[1]))["wait_for"]
edges = sorted((e["from"], e["to"]) for e in w["edges"])
assert edges == [(501, 502), (502, 501), (503, 501), (504, 501), (505, 501), (509, 510),
                 (511, 511), (512, 510), (513, 9999)], edges
assert [e["to_known"] for e in w["edges"] if e["from"] == 513] == [False]
cycles = [[m["tid"] for m in c["threads"]] for c in w["cycles"]]
assert cycles == [[501, 502], [511]], cycles
c0 = w["cycles"][0]["threads"][0]
assert c0["holds"] == [{"kind": "mutex", "obj": "0xa0"}], c0
assert c0["waits_for"] == {"kind": "mutex", "obj": "0xb0", "owner": 502}, c0
assert c0["frames"] and c0["frames"][0]["address"] == "0x401000"
assert sorted(r["tid"] for r in w["cycles"][0]["behind"]) == [503, 504, 505]
assert [(p["obj"], p["count"], p["owner"]) for p in w["pileups"]] == [("0xa0", 4, 501), ("0xc0", 2, None)]
print("graph ok")
PY
ok "json: edges, cycles, pile-ups"
