#!/usr/bin/env bash
# Soak with real MariaDB (`make soak`, not `make test`): a private server
# (its own data directory, socket and port) started under the library, loaded
# by mariadb-slap (100 clients, mixed reads and writes, one server thread per
# connection) for REL_MARIA_SECONDS (default 20), while `threadsnap dump`
# dumps it about twice a second. Passes if:
#   - every mariadb-slap run succeeds and the error log has no [ERROR] line,
#     no "got signal", no assertion;
#   - every dump is whole (as many thread records as its header says);
#   - the server still answers, and shuts down cleanly with status 0.
# Needs Debian's mariadb-server and mariadb-client; skips (77) without them.
source "$(dirname "$0")/../scripts/lib.sh"
source "$TOP/tests/reliability/lib.sh"
need_lib
SECS=${REL_MARIA_SECONDS:-20}
command -v mariadbd > /dev/null 2>&1 || PATH=$PATH:/usr/sbin
for c in mariadbd mariadb-install-db mariadb-slap mariadb mariadb-admin; do
  command -v $c > /dev/null 2>&1 || skip "$c not installed (apt-get install mariadb-server mariadb-client)"
done

W=$TMP/maria
mkdir -p "$W/data" "$W/dumps"
mariadb-install-db --no-defaults --datadir="$W/data" --user="$(id -un)" \
  --auth-root-authentication-method=normal > "$W/install.log" 2>&1 ||
  fail "mariadb-install-db: $(tail -n 5 "$W/install.log")"
port=$(free_port)
sql() { mariadb --no-defaults --socket="$W/sock" -uroot "$@"; }
THREADSNAP_DIR=$W/dumps LD_PRELOAD=$LIB mariadbd --no-defaults --datadir="$W/data" \
  --socket="$W/sock" --port="$port" --bind-address=127.0.0.1 --user="$(id -un)" \
  --log-error="$W/err.log" --pid-file="$W/pid" --max-connections=300 \
  --innodb-buffer-pool-size=64M > "$W/server.out" 2>&1 &
server=$!
started "$server"
for ((i = 0; i < 150; i++)); do
  sql -e 'select 1' > /dev/null 2>&1 && break
  kill -0 "$server" 2>/dev/null || fail "the server exited: $(tail -n 20 "$W/err.log")"
  sleep 0.2
done
sql -e 'select 1' > /dev/null 2>&1 || fail "the server did not start: $(tail -n 20 "$W/err.log")"
grep -q libthreadsnap "/proc/$server/maps" || fail "the server does not have the library"

# mariadb-slap again and again until SECS have passed, each run checked.
(
  end=$((SECONDS + SECS)) runs=0
  while [ $SECONDS -lt $end ]; do
    mariadb-slap --no-defaults --socket="$W/sock" -uroot --concurrency=100 --iterations=1 \
      --auto-generate-sql --auto-generate-sql-load-type=mixed --auto-generate-sql-add-autoincrement \
      --number-of-queries=20000 > "$W/slap.log" 2>&1 || { cat "$W/slap.log"; exit 1; }
    runs=$((runs + 1))
  done
  echo "$runs" > "$W/slap.runs"
) > "$W/slap.err" 2>&1 &
load=$!
dumps=0
while kill -0 "$load" 2>/dev/null; do
  out=$(timeout 30 "$TS" dump --no-report --timeout 10 "$server" 2>&1) ||
    fail "threadsnap dump failed: $out"
  dumps=$((dumps + 1))
  kill -0 "$server" 2>/dev/null || fail "the server died after dump $dumps: $(tail -n 20 "$W/err.log")"
  sleep 0.5
done
wait "$load" || fail "mariadb-slap failed: $(tail -n 20 "$W/slap.err")"
if grep -E "\[ERROR\]|got signal|Assertion|assertion" "$W/err.log"; then
  fail "the server was harmed: $(tail -n 20 "$W/err.log")"
fi
[ "$dumps" -gt 0 ] || fail "no dump taken"
whole=0 most=0
for f in "$W"/dumps/threadsnap.*.txt; do
  rel_check_dump "$f"
  whole=$((whole + 1))
  n=$(awk '$1 == "threads" {print $2; exit}' "$f")
  [ "$n" -gt "$most" ] && most=$n
done
[ "$whole" = "$dumps" ] || fail "$dumps dumps taken but $whole files"
[ "$most" -gt 100 ] || fail "no dump saw the 100 connection threads (at most $most threads)"
sql -e 'select count(*) from information_schema.processlist' > /dev/null ||
  fail "the server does not answer after the dumps"
mariadb-admin --no-defaults --socket="$W/sock" -uroot shutdown || fail "mariadb-admin shutdown failed"
st=0
wait "$server" || st=$?
[ "$st" = 0 ] || fail "the server exited with status $st: $(tail -n 20 "$W/err.log")"
ok "mariadb: $(cat "$W/slap.runs") mariadb-slap runs of 100 clients, $dumps dumps (all whole, up to $most threads), clean shutdown"
