#!/usr/bin/env bash
# End to end with an unmodified Debian binary: memcached -t 4 under
# `threadsnap run`, then `threadsnap dump PID`. The report must show the 4
# worker threads (the kernel's "mc-worker" threads) as one group of exactly 4,
# in libevent's event_base_loop called from memcached's own code (by name when
# memcached's debug symbols are installed), and memcached must keep serving.
source "$(dirname "$0")/lib.sh"
need_lib
start_memcached "$TMP/d"
port=$MC_PORT pid=$MC_PID

# Ground truth from the kernel: which threads are memcached's workers.
workers=$(grep -lx mc-worker /proc/"$pid"/task/*/comm | cut -d/ -f5 | sort -n | tr '\n' ' ')
[ "$(echo $workers | wc -w)" = 4 ] || fail "expected 4 mc-worker threads in /proc, got: $workers"

"$TS" dump --format json "$pid" > "$TMP/r.json" 2> "$TMP/dump.err" || fail "dump failed: $(cat "$TMP/dump.err")"
"$TS" report "$(sed -n 's/^threadsnap: dump of [0-9]*: //p' "$TMP/dump.err")" > "$TMP/r.txt"
cat "$TMP/r.txt"
bid=$(readelf -n /usr/bin/memcached | sed -n 's/.*Build ID: //p')
have_dbg=0; [ -f "/usr/lib/debug/.build-id/${bid:0:2}/${bid:2}.debug" ] && have_dbg=1
python3 - "$TMP/r.json" "$workers" "$have_dbg" <<'PY' || fail "memcached report"
import json, sys
doc = json.load(open(sys.argv[1]))
workers = sorted(int(x) for x in sys.argv[2].split())
have_dbg = sys.argv[3] == "1"
threads = {t["tid"]: t for t in doc["dumps"][0]["threads"]}
assert all(w in threads for w in workers), (workers, sorted(threads))
groups = [g for g in doc["groups"] if {r["tid"] for r in g["threads"]} & set(workers)]
assert len(groups) == 1, "workers are split over %d groups" % len(groups)
g = groups[0]
assert sorted(r["tid"] for r in g["threads"]) == workers, (g["threads"], workers)
assert g["count"] == 4, g["count"]
funcs = [s["function"] for f in g["frames"] for s in f["symbols"]]
mods = [f["module"] for f in g["frames"]]
assert "event_base_loop" in funcs, funcs
assert "/usr/bin/memcached" in mods, mods
assert "start_thread" in funcs, funcs
if have_dbg:
    assert "worker_libevent" in funcs, funcs
    print("memcached's own functions named from its debug symbols")
else:
    print("note: memcached-dbgsym is not installed (Debian's debug archive), so memcached's "
          "own frames are memcached+offset; its binary is stripped")
print("workers", workers, "grouped:", g["summary"])
PY
grep -qE '^4 threads \[epoll_wait, blocked' "$TMP/r.txt" || fail "no '4 threads [epoll_wait ...]' group in the text report"
memcached_answers "$port" || fail "memcached stopped answering after the dump"
kill -0 "$pid" || fail "memcached died"
ok "memcached: 4 workers in one group of 4, still serving"
