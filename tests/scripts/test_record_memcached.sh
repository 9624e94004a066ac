#!/usr/bin/env bash
# threadsnap record on an unmodified Debian memcached -t 4 under load
# (memcaslap, 4 s): recorded by PID at 20 Hz for 3 s. The profile's worker
# threads (the kernel's "mc-worker" threads) spend most of their time in
# epoll_wait, under libevent's event_base_loop (libevent's own module), and
# go tool pprof -traces shows that stack; memcached keeps serving.
source "$(dirname "$0")/lib.sh"
need_lib
command -v memcaslap > /dev/null || fail "memcaslap not installed (make deps: libmemcached-tools)"
need_go
start_memcached "$TMP/d"
port=$MC_PORT pid=$MC_PID

memcaslap -s "127.0.0.1:$port" -T 2 -c 16 -t 4s > "$TMP/load.out" 2>&1 &
load=$!; started "$load"
cd "$TMP"
"$TS" record --hz 20 --duration 3 -o mc.json -o mc.pb.gz "$pid" 2> rec.err &
rec=$!; started "$rec"
# Someone takes a dump of their own meanwhile: the recording may use it as
# a sample, but leaves it where it is (it deletes only its record dumps).
until grep -qs '\.rec ' "$TMP/d/threadsnap.$pid.log"; do   # the library's "wrote ...rec"
  kill -0 "$rec" 2> /dev/null || fail "record ended early: $(cat rec.err)"
  sleep 0.05
done
"$TS" dump --format json "$pid" > own.json 2> own.err || fail "dump during the recording: $(cat own.err)"
own=$(sed -n 's/^threadsnap: dump of [0-9]*: //p' own.err)
[ -n "$own" ] || fail "no dump file named by threadsnap dump: $(cat own.err)"
wait "$rec" || fail "record failed: $(cat rec.err)"
cat rec.err
[ -s "$own" ] || fail "the recording deleted someone else's dump $own"
rm -f "$own"
wait "$load" || fail "memcaslap failed: $(tail -n 5 load.out)"
grep -E '^Run time|TPS' load.out | tail -n 2
pprof traces.txt mc.pb.gz -traces -tagfocus=thread=mc-worker

python3 - <<'PY' || fail "memcached profile"
import json
d = json.load(open("mc.json"))
assert d["samples"] >= 30, d["samples"]
w = {}
libevent = 0
for s in d["stacks"]:
    n = sum(x["samples"] for x in s["names"] if x["name"] == "mc-worker")
    if not n:
        continue
    key = s["call"] or s["state"]
    w[key] = w.get(key, 0) + n
    funcs = [y["function"] for f in s["frames"] for y in f["symbols"]]
    mods = [f["module"] or "" for f in s["frames"]]
    if s["call"] == "epoll_wait" and "event_base_loop" in funcs and \
            any("libevent" in m for m in mods):
        libevent += n
tot = sum(w.values())
assert tot >= 4 * d["samples"], ("4 workers in every sample", tot, d["samples"])
print("mc-worker time by state:", {k: "%.1f%%" % (100.0 * v / tot) for k, v in w.items()})
assert max(w, key=w.get) == "epoll_wait", w
assert libevent > 0.5 * tot, ("epoll_wait under libevent's event_base_loop", libevent, tot)
PY
grep -q '\[epoll_wait\]' traces.txt && grep -q 'event_base_loop' traces.txt ||
  fail "go tool pprof -traces lacks the workers' epoll_wait stack: $(head -n 30 traces.txt)"
memcached_answers "$port" || fail "memcached stopped answering after the recording"
left=$(ls "$TMP/d" | grep -c '^threadsnap\..*\.\(txt\|rec\)$' || true)
[ "$left" = 0 ] || fail "$left dumps left behind in the dump directory: $(ls "$TMP/d")"
python3 -c 'import json, sys; d = json.load(open("mc.json")); sys.exit(d["record_dumps"] < d["samples"] - 3)' ||
  fail "the recording did not use record dumps: $(python3 -c 'import json; d = json.load(open("mc.json")); print(d["record_dumps"], "of", d["samples"])')"
ok "memcached recorded: workers in epoll_wait under event_base_loop, still serving"
