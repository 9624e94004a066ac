#!/usr/bin/env bash
# What a fork costs a process that has the library (issue 11: fork + _exit +
# waitpid within 1.2x of plain), plain and preloaded, alternating in one run
# (`make fork-bench`, about 6 minutes; not part of make test or make bench):
#   1. build/tests/programs/fork_faults (four idle threads, 1,000 forks a
#      round, its loop mid-page as in the page-fault test),
#      pinned to one CPU; per round the p10 of its fork+exit+wait times
#      (noise from other jobs only ever adds time), then the median and
#      range over rounds of lib/plain. "after a dump": the process was
#      dumped once first, so the dump's helpers (libunwind, mimalloc) are
#      loaded.
#   2. PostgreSQL's pgbench -C (a new connection, so a postmaster fork and a
#      backend's whole life, per transaction; -S, one client), where
#      postgresql and the user postgres exist: connections a second, and
#      the ratio of time per connection. "after a dump": the postmaster was
#      dumped once with `threadsnap dump` before the run.
# Prints a markdown section for bench/RESULTS.md on stdout (`make fork-bench`
# puts it there, between <!-- fork:begin --> and <!-- fork:end -->).
#   bench/fork_bench.sh [BUILD_DIR]   (env: ROUNDS=12 PG_ROUNDS=4 PG_SECONDS=8)
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$TOP/build}
LOOP=$BUILD/tests/programs/fork_faults
ROUNDS=${ROUNDS:-12}
PG_ROUNDS=${PG_ROUNDS:-4}
PG_SECONDS=${PG_SECONDS:-8}
[ -x "$LOOP" ] || { echo "fork_bench: $LOOP is missing (make bench-build)" >&2; exit 1; }
TMP=$(mktemp -d /tmp/threadsnap-forkbench.XXXXXX)
chmod 755 "$TMP"
LIB=$TMP/libthreadsnap.so  # a private copy: others may rebuild build/ meanwhile
cp "$BUILD/libthreadsnap.so" "$LIB"
chmod 755 "$LIB"
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)
cleanup() {
  [ -n "${PGBIN:-}" ] && [ -d "$TMP/pg/data" ] &&
    su postgres -s /bin/bash -c "$PGBIN/pg_ctl -D $TMP/pg/data -m fast -w stop" > /dev/null 2>&1 || true
  rm -rf "$TMP"
}
trap cleanup EXIT
pin=()
command -v taskset > /dev/null && pin=(taskset -c 0)

# median [min, max] of the numbers on stdin, as "m [lo, hi]" with 3 decimals
stats() { sort -g | awk '{v[NR]=$1} END {m = NR % 2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2; printf "%.3f [%.3f, %.3f]", m, v[1], v[NR]}'; }
# the median alone, as an integer
median() { stats | awk '{printf "%.0f", $1}'; }
# p10 FIRST CMD...: runs fork_faults (CMD...), first asking it for a dump
# when FIRST is "dump"; prints the p10 of 1,000 rounds in ns
p10() {
  local first=$1 out
  shift
  out=$({ [ "$first" = dump ] && echo dump; printf 'time 1000\nquit\n'; } | "$@")
  if [ "$first" = dump ] && ! grep -qx dumped <<<"$out"; then
    echo "fork_bench: no dump from fork_faults" >&2
    exit 1
  fi
  awk '$1 == "times" {print $3}' <<<"$out"
}

echo "fork_bench: fork_faults, $ROUNDS rounds" >&2
mkdir -p "$TMP/dumps"
: > "$TMP/loop"
for ((r = 1; r <= ROUNDS; r++)); do
  p=$(p10 "" "${pin[@]}" "$LOOP")
  l=$(p10 "" env LD_PRELOAD="$LIB" THREADSNAP_DIR="$TMP/dumps" "${pin[@]}" "$LOOP")
  d=$(p10 dump env LD_PRELOAD="$LIB" THREADSNAP_DIR="$TMP/dumps" "${pin[@]}" "$LOOP")
  rm -f "$TMP"/dumps/*
  echo "$p $l $d" >> "$TMP/loop"
done

echo "## Fork cost (\`make fork-bench\`, bench/fork_bench.sh), on $(git -C "$TOP" rev-parse --short HEAD 2>/dev/null || echo "an unknown commit")"
echo
echo "Library $(sha256sum "$LIB" | cut -c1-12), $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, load average at the end $(cut -d' ' -f1-3 /proc/loadavg)."
echo
echo "fork + _exit + waitpid from a process with four idle threads (build/tests/programs/fork_faults), pinned to one CPU, $ROUNDS rounds of 1,000 forks, p10 of each round:"
echo
echo "| | plain | with library | after a dump |"
echo "|---|---:|---:|---:|"
echo "| p10 per round, median | $(cut -d' ' -f1 "$TMP/loop" | median) ns | $(cut -d' ' -f2 "$TMP/loop" | median) ns | $(cut -d' ' -f3 "$TMP/loop" | median) ns |"
echo "| ratio to plain, median [min, max] | 1 | $(awk '{print $2/$1}' "$TMP/loop" | stats) | $(awk '{print $3/$1}' "$TMP/loop" | stats) |"
echo

if [ -z "$PGBIN" ] || ! id postgres > /dev/null 2>&1; then
  echo "pgbench -C: skipped (no postgresql or no user postgres)."
  exit 0
fi
echo "fork_bench: pgbench -C, $PG_ROUNDS rounds" >&2
W=$TMP/pg
mkdir -p "$W/dumps"
chown -R postgres "$W"
as_pg() { su postgres -s /bin/bash -c "$*"; }
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
as_pg "$PGBIN/initdb -D $W/data -A trust > $W/initdb.log 2>&1"
start() {
  as_pg "cd $W && THREADSNAP_DIR=$W/dumps LD_PRELOAD=$1 $PGBIN/postgres -D $W/data -p $port -k $W \
    -c listen_addresses= > $W/server.log 2>&1 &"
  for ((i = 0; i < 100; i++)); do as_pg "$PGBIN/pg_isready -h $W -p $port -q" && return 0; sleep 0.1; done
  echo "fork_bench: the server did not start" >&2
  exit 1
}
stop() { as_pg "$PGBIN/pg_ctl -D $W/data -m fast -w stop" > /dev/null 2>&1; }
start ""
as_pg "$PGBIN/pgbench -i -q -h $W -p $port postgres" > /dev/null 2>&1
stop
: > "$TMP/pg.tps"
for ((r = 1; r <= PG_ROUNDS; r++)); do
  line=""
  for mode in plain lib dump; do
    if [ $mode = plain ]; then start ""; else start "$LIB"; fi
    if [ $mode = dump ]; then
      "$TOP/scripts/threadsnap" dump --no-report --timeout 5 "$(head -n1 "$W/data/postmaster.pid")" > /dev/null
    fi
    tps=$(as_pg "$PGBIN/pgbench -C -S -n -c 1 -T $PG_SECONDS -h $W -p $port postgres" |
      grep -o 'tps = [0-9.]*' | head -n1 | cut -d' ' -f3)
    line="$line $tps"
    stop
  done
  echo "$line" >> "$TMP/pg.tps"
done
echo "PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}'): pgbench -C -S -n -c 1 -T $PG_SECONDS, $PG_ROUNDS rounds (connections a second; ratio: time per connection, lib/plain per round):"
echo
echo "| | plain | with library | after a dump of the postmaster |"
echo "|---|---:|---:|---:|"
echo "| connections/s, median | $(cut -d' ' -f2 "$TMP/pg.tps" | median) | $(cut -d' ' -f3 "$TMP/pg.tps" | median) | $(cut -d' ' -f4 "$TMP/pg.tps" | median) |"
echo "| ratio to plain, median [min, max] | 1 | $(awk '{print $1/$2}' "$TMP/pg.tps" | stats) | $(awk '{print $1/$3}' "$TMP/pg.tps" | stats) |"
