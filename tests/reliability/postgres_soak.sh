#!/usr/bin/env bash
# Soak with real PostgreSQL (`make soak`, not `make test`; issue 12): a small
# cluster started under the library (the postmaster and every child it forks
# have it, and rewrite their environ for the process title), loaded by
# pgbench for REL_PG_SECONDS (default 20) while `threadsnap dump` dumps every
# server process (the checkpointer, whose SIGUSR2 means "shut down", among
# them) about once a second, with the default signal settings. Passes if:
#   - pgbench reports no failed transaction and the server log has no PANIC,
#     no "terminated by signal", no crash-restart,
#   - every dump of a live server process is whole and names its process
#     title (the checkpointer's at least once),
#   - the cluster still answers and shuts down cleanly.
# Needs Debian's postgresql (15) and the user postgres (the server refuses
# root); skips (77) without them.
source "$(dirname "$0")/../scripts/lib.sh"
source "$TOP/tests/reliability/lib.sh"
need_lib
SECS=${REL_PG_SECONDS:-20}
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
[ -n "$PGBIN" ] && [ -x "$PGBIN/postgres" ] || skip "postgresql not installed (apt-get install postgresql)"
id postgres > /dev/null 2>&1 || skip "no user postgres"
as_pg() { su postgres -s /bin/bash -c "$*"; }

# The server runs as postgres: its data, socket, dumps and a copy of the
# library where that user can read them.
chmod 755 "$TMP"
W=$TMP/pg
mkdir -p "$W/dumps"
cp "$LIB" "$W/libthreadsnap.so"
chmod 755 "$W/libthreadsnap.so"
chown -R postgres "$W"
port=$(free_port)
as_pg "$PGBIN/initdb -D $W/data -A trust > $W/initdb.log 2>&1" || fail "initdb: $(tail -n 5 "$W/initdb.log")"
as_pg "cd $W && THREADSNAP_DIR=$W/dumps LD_PRELOAD=$W/libthreadsnap.so $PGBIN/postgres -D $W/data \
  -p $port -k $W -c listen_addresses= > $W/server.log 2>&1 &"
for ((i = 0; i < 100; i++)); do
  as_pg "$PGBIN/pg_isready -h $W -p $port -q" && break
  sleep 0.1
done
as_pg "$PGBIN/pg_isready -h $W -p $port -q" || fail "the server did not start: $(tail -n 20 "$W/server.log")"
stop_server() { as_pg "$PGBIN/pg_ctl -D $W/data -m fast -w stop" > /dev/null 2>&1 || true; }
trap 'stop_server; cleanup' EXIT
postmaster=$(head -n1 "$W/data/postmaster.pid")
grep -q libthreadsnap "/proc/$postmaster/maps" || fail "the postmaster does not have the library"

as_pg "$PGBIN/pgbench -i -q -h $W -p $port postgres" > "$W/init.log" 2>&1 || fail "pgbench -i: $(tail -n 5 "$W/init.log")"
as_pg "$PGBIN/pgbench -h $W -p $port -c 4 -T $SECS postgres" > "$W/bench.log" 2>&1 &
bench=$!
dumps=0 refused=0
end=$((SECONDS + SECS))
while [ $SECONDS -lt $end ]; do
  for p in $postmaster $(pgrep -P "$postmaster"); do
    out=$(timeout 20 "$TS" dump --no-report --timeout 5 "$p" 2>&1) && dumps=$((dumps + 1)) || refused=$((refused + 1))
    echo "$p: $out" >> "$W/dump.log"
  done
  sleep 1
done
wait $bench || fail "pgbench failed: $(tail -n 20 "$W/bench.log")"
grep -q "number of failed transactions: 0 " "$W/bench.log" || fail "pgbench saw failed transactions: $(grep failed "$W/bench.log")"
if grep -E "PANIC|terminated by signal|terminating any other active server processes|database system was interrupted" "$W/server.log"; then
  fail "the server was harmed: $(tail -n 20 "$W/server.log")"
fi
[ "$dumps" -gt 0 ] || fail "no dump taken: $(tail -n 20 "$W/dump.log")"
whole=0
for f in "$W"/dumps/threadsnap.*.txt; do
  [ "$(tail -n1 "$f")" = end ] || fail "dump not whole: $f"
  whole=$((whole + 1))
done
grep -l '^title postgres:%20checkpointer' "$W"/dumps/threadsnap.*.txt > /dev/null ||
  fail "no dump of the checkpointer"
as_pg "$PGBIN/psql -h $W -p $port -Atc 'select count(*) from pgbench_branches' postgres" > /dev/null ||
  fail "the server does not answer after the dumps"
stop_server
ok "postgres: $(grep -o 'tps = [0-9.]*' "$W/bench.log" | head -n1), 0 failed transactions, $dumps dumps taken ($whole whole files, $refused refused or gone: backends that ended), no PANIC or restart"
