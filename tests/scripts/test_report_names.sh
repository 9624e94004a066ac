#!/usr/bin/env bash
# The report on what real programs look like (issue 12), from a hand-written
# dump: 24 threads of one name are counted under it with their tids folded
# ("24 threads named mariadbd: ..."); a poll with no fd (obj absent, -1 or
# 2^64-1) is "sleeping in poll", never "fd 18446744073709551615"; the optional
# header keys title and ppid reach the text, threads and json reports and
# survive symbolize; --format threads prints an unresolved frame once, and a
# function name that has its parameters gets no "(...)".
source "$(dirname "$0")/lib.sh"
d=$TMP/dump.txt
{
  echo "threadsnap 1"
  echo "pid 500"
  echo "exe /opt/fake/mariadbd"
  echo "title postgres:%20checkpointer%20%20"
  echo "ppid 77"
  echo "time_ns 1764240000123456789"
  echo "mode concurrent"
  echo "threads 28"
  echo "module 0x400000 0x500000 0x0 /nonexistent/mariadbd build-id=abcd bias=0x400000"
  for i in $(seq 1 24); do
    printf 'thread tid=%d name=mariadbd state=blocked call=pthread_cond_wait obj=0x7f00 blocked_ns=1000 via=sweep\n' $((600 + i))
    printf '  0x401000\n  0x402000\n'
  done
  printf 'thread tid=700 name=p1 state=blocked call=poll blocked_ns=1000 via=sweep\n  0x403000\n'
  printf 'thread tid=701 name=p2 state=blocked call=poll obj=-1 blocked_ns=1000 via=sweep\n  0x403000\n'
  printf 'thread tid=702 name=p3 state=blocked call=poll obj=0xffffffffffffffff blocked_ns=1000 via=sweep\n  0x403000\n'
  printf 'thread tid=500 name=main state=blocked call=poll obj=0x5 blocked_ns=1000 via=sweep\n'
  printf '  0x404000\tmariadbd+0x4000\tns::f(int)\tsrc.cc:10\n'
  printf '  0x405000\tmariadbd+0x5000\tg\tsrc.cc:20\n'
  printf '  0x406000\n'
  echo "end"
} > "$d"

"$TS" report --symbolizer none "$d" > "$TMP/text" || fail "report"
cat "$TMP/text"
grep -q '^threadsnap report: pid 500 (parent 77), exe /opt/fake/mariadbd$' "$TMP/text" || fail "header: pid and parent"
grep -q '^  title "postgres: checkpointer"$' "$TMP/text" || fail "header: title"
grep -q '^24 threads \[pthread_cond_wait, blocked 1 us\]$' "$TMP/text" || fail "group head"
grep -q '^  24 threads named mariadbd: 601, 602, 603, 604, 605, 606, ... and 18 more$' "$TMP/text" || fail "same-named threads not counted and folded"
grep -q '^  3 threads: sleeping in poll$' "$TMP/text" || fail "poll with no fd"
grep -q '18446744073709551615\|fd -1' "$TMP/text" && fail "a missing fd printed as a number"
grep -q 'thread 500 "main": waiting on fd 5 in poll' "$TMP/text" || fail "poll with an fd"
ok "text: 24 threads named mariadbd, folded tids; poll with no fd is a sleep; title and parent"

"$TS" report --symbolizer none --format threads "$d" > "$TMP/threads" || fail "threads report"
grep -q '^# pid 500 (parent 77), exe /opt/fake/mariadbd, title "postgres: checkpointer", 28 threads' "$TMP/threads" || fail "threads header"
grep -q '^thread 702 "p3" \[sleeping in poll, 1 us\]:$' "$TMP/threads" || fail "threads: poll with no fd"
grep -q '^ns::f(int)$' "$TMP/threads" || fail "threads: f(int) mangled: $(grep 'f(int)' "$TMP/threads")"
grep -q '^g(...)$' "$TMP/threads" || fail "threads: bare name without (...)"
[ "$(grep -c 'mariadbd+0x6000' "$TMP/threads")" = 1 ] || fail "threads: an unresolved frame printed more than once: $(grep -n 'mariadbd+0x6000' "$TMP/threads")"
[ "$(grep -c 'mariadbd+0x1000' "$TMP/threads")" = 24 ] || fail "threads: one line per unresolved frame per thread"
ok "threads: unresolved frames once, f(int) as is, g(...)"

"$TS" report --symbolizer none --format json "$d" > "$TMP/json" || fail "json report"
python3 "$HERE/json_shape.py" "$TOP/scripts/report.schema.json" "$TMP/json" || fail "json shape"
python3 - "$TMP/json" <<'PY' || fail "json title/ppid"
import json, sys
d = json.load(open(sys.argv[1]))["dumps"][0]
assert d["title"] == "postgres: checkpointer" and d["ppid"] == 77, (d["title"], d["ppid"])
PY
"$TS" symbolize --symbolizer none "$d" > "$TMP/sym.txt" || fail "symbolize"
grep -qx 'title postgres:%20checkpointer' "$TMP/sym.txt" || fail "symbolize lost the title: $(head -n 5 "$TMP/sym.txt")"
grep -qx 'ppid 77' "$TMP/sym.txt" || fail "symbolize lost the ppid"
grep -q 'obj=-1' "$TMP/sym.txt" || fail "symbolize changed obj=-1"
"$TS" report --symbolizer none "$TMP/sym.txt" | grep -q '^  24 threads named mariadbd' || fail "report of the symbolized dump"
ok "json and symbolize carry title and ppid"
