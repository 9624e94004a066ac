#!/usr/bin/env bash
# Who holds what, end to end: an error-checking mutex relocked by its owner
# (tests/programs/who_errcheck.c). The issue asks for "a self-deadlock on an
# error-checking mutex", but that relock cannot block: glibc returns EDEADLK at
# once. So this tests that (1) under the library lock, timedlock, trylock and
# unlock return exactly what they return without it, and (2) a thread relocking
# its error-checking mutex in a loop while it is dumped 30 times is never
# reported as deadlocked with itself (no owner= on its own relock, no cycle in
# any report), every relock still returns EDEADLK, and a second thread waiting
# for that mutex is an ordinary wait-for edge to the holder.
source "$(dirname "$0")/lib.sh"
source "$HERE/who_lib.sh"
need_lib; need_program who_errcheck

want="result lock=35/EDEADLK timedlock=35/EDEADLK trylock=16/EBUSY unlock=0/0 unlock-again=1/EPERM"
plain=$("$PROGRAMS/who_errcheck" once | grep '^result') || fail "who_errcheck once failed"
[ "$plain" = "$want" ] || fail "without the library: $plain"
under=$(THREADSNAP_LIB=$LIB "$TS" run --quiet -- "$PROGRAMS/who_errcheck" once 2> "$TMP/once.err" | grep '^result') ||
  fail "who_errcheck once under threadsnap run failed: $(cat "$TMP/once.err")"
[ "$under" = "$plain" ] || fail "under the library: '$under', without: '$plain'"
ok "relock of an errorcheck mutex: same results with and without the library ($under)"

start_who errcheck who_errcheck loop
h=$(val tid ec-holder); w=$(val tid ec-waiter); m=$(val mutex ec)
dump_until 10 "^thread tid=$w .*state=blocked call=pthread_mutex_lock obj=$m .*owner=$h "
files=("$DUMP")
for ((i = 1; i < 30; i++)); do
  files+=("$("$TS" dump --no-report "$PID" 2>> "$TMP/dump.err")") || fail "dump $i failed: $(tail -n 3 "$TMP/dump.err")"
done
grep -q '^fatal' "$OUT" && fail "$(grep '^fatal' "$OUT")"
kill -0 "$PID" || fail "who_errcheck died"
ok "30 dumps while ec-holder relocks: every relock returned EDEADLK"

"$TS" report --format json --symbolizer none "${files[@]}" > "$TMP/json" || fail "report of the dumps failed"
python3 - "$TMP/json" "$h" "$w" "$m" <<'PY' || fail "wait-for graph of the errorcheck dumps"
import json, sys
h, w = int(sys.argv[2]), int(sys.argv[3])
m = sys.argv[4]
docs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
assert len(docs) == 30, len(docs)
in_relock = 0
bad = []
for i, doc in enumerate(docs):
    g = doc["wait_for"]
    th = {t["tid"]: t for t in doc["dumps"][0]["threads"]}
    hold = th[h]
    if hold["state"] == "blocked":
        assert hold["call"] in ("pthread_mutex_lock", "pthread_mutex_timedlock"), hold
        assert hold["obj"] == m, hold
        in_relock += 1
        if hold["owner"] is not None:
            bad.append("%s: ec-holder in %s has owner=%s (via=%s)"
                       % (doc["dumps"][0]["path"], hold["call"], hold["owner"], hold["via"]))
    if g["cycles"]:
        bad.append("%s: cycles %s" % (doc["dumps"][0]["path"],
                                      [[t["tid"] for t in c["threads"]] for c in g["cycles"]]))
    edges = [(e["from"], e["to"], e["obj"]) for e in g["edges"] if e["from"] != h]
    assert edges == [(w, h, m)], edges
print("ec-holder seen inside its relock in %d of 30 dumps; ec-waiter -> ec-holder on %s in each"
      % (in_relock, m))
if bad:
    print("false self-deadlock (ec-holder is not blocked: each relock returns EDEADLK):\n  %s"
          % "\n  ".join(bad))
    sys.exit(1)
PY
ok "no report has a cycle; ec-holder's relock never gets owner="
