#!/usr/bin/env bash
# Who holds what, end to end: heavy contention without deadlock
# (tests/programs/who_contention.c: 16 threads take 3 mutexes in one global
# order, short critical sections). 100 dumps with `threadsnap dump`, one
# `threadsnap report --format json` over them all; in every report:
#   - no cycle (no false deadlock, no false self-deadlock);
#   - a lock waiter without owner= (glibc writes __owner just after it takes
#     the lock word, and a thread caught inside its just-succeeded lock call has
#     its owner=self dropped) gives no edge: counted and printed;
#   - every edge T -> U on mutex mJ points at a thread of the program, and if U
#     is itself in a lock call on mK then K > J (it holds mJ and takes mutexes in
#     order), or K == J with no owner (U's lock of mJ had just succeeded).
# Contention must really have been seen: at least 100 edges over the 100 dumps.
source "$(dirname "$0")/lib.sh"
source "$HERE/who_lib.sh"

WHO_NICE=19 start_who contention who_contention 16
m0=$(val mutex m0); m1=$(val mutex m1); m2=$(val mutex m2)
files=()
for ((i = 0; i < 100; i++)); do
  files+=("$("$TS" dump --no-report "$PID" 2>> "$TMP/dump.err")") || fail "dump $i failed: $(tail -n 3 "$TMP/dump.err")"
done
kill -0 "$PID" || fail "who_contention died"
ok "100 dumps of 16 threads contending for 3 mutexes"

"$TS" report --format json --symbolizer none "${files[@]}" > "$TMP/json" || fail "report of the dumps failed"
python3 - "$TMP/json" "$m0" "$m1" "$m2" <<'PY' || fail "wait-for graphs under contention"
import json, sys
order = {m: k for k, m in enumerate(sys.argv[2:5])}
docs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
assert len(docs) == 100, len(docs)
LOCKS = ("pthread_mutex_lock",)
waiters = with_owner = ownerless = edges_seen = 0
bad = []
involved = {}   # dump path -> tids to show from the raw dump
def flag(path, text, *tids):
    bad.append("%s: %s" % (path.rsplit("/", 1)[-1], text))
    involved.setdefault(path, set()).update(tids)
for doc in docs:
    d = doc["dumps"][0]
    g = doc["wait_for"]
    where = d["path"]
    th = {t["tid"]: t for t in d["threads"]}
    if g["cycles"]:
        flag(where, "cycles %s" % [[t["tid"] for t in c["threads"]] for c in g["cycles"]],
             *[t["tid"] for c in g["cycles"] for t in c["threads"]])
    lock_waiters = [t for t in d["threads"] if t["state"] == "blocked" and t["call"] in LOCKS]
    for t in lock_waiters:
        assert t["obj"] in order, t
        waiters += 1
        if t["owner"]:
            with_owner += 1
        else:
            ownerless += 1
    from_tids = [e["from"] for e in g["edges"]]
    assert len(from_tids) == len(set(from_tids)), "a thread with two edges"
    for e in g["edges"]:
        edges_seen += 1
        t = th[e["from"]]
        if not t["owner"]:
            flag(where, "edge from ownerless waiter %d" % t["tid"], t["tid"])
            continue
        if e["from"] == e["to"]:
            flag(where, "%d in %s on %s has owner=itself" % (t["tid"], t["call"], t["obj"]), t["tid"])
            continue
        if not e["to_known"]:
            flag(where, "edge %d -> %d, not a thread of the program" % (e["from"], e["to"]), e["from"])
            continue
        u = th[e["to"]]
        if u["state"] == "blocked" and u["call"] in LOCKS:
            j, k = order[e["obj"]], order[u["obj"]]
            if not (k > j or (k == j and not u["owner"])):
                flag(where, "%d waits for m%d held by %d, which waits for m%d (owner %s)"
                     % (e["from"], j, e["to"], k, u["owner"]), e["from"], e["to"])
print("100 reports: %d lock waiters, %d with owner=, %d without (no edge); %d edges"
      % (waiters, with_owner, ownerless, edges_seen))
assert edges_seen >= 100, "too little contention seen to mean anything"
if bad:
    print("%d problems:\n  %s" % (len(bad), "\n  ".join(bad)))
    for path, tids in involved.items():
        print("raw lines of %s:" % path)
        for line in open(path):
            if line.startswith("thread ") and int(line.split()[1][4:]) in tids:
                print("  " + line.rstrip())
    sys.exit(1)
PY
ok "no cycle in 100 reports; ownerless waiters give no edge; every edge fits the lock order"
