# Sourced by tests/scripts/test_*.sh (not a test itself): paths, a private
# temporary directory, cleanup of every process a test starts, small helpers.
set -euo pipefail
TOP=${THREADSNAP_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
PROGRAMS=${THREADSNAP_PROGRAMS:-$TOP/build/tests/programs}
LIB=${THREADSNAP_LIB:-$TOP/build/libthreadsnap.so}
TS=$TOP/scripts/threadsnap
HERE=$TOP/tests/scripts
TMP=$(mktemp -d "${TMPDIR:-/tmp}/threadsnap-test.XXXXXX")
# Symbolized frames are cached per build-id (~/.cache/threadsnap): each test
# starts with its own empty cache, so no test sees another's answers.
export THREADSNAP_CACHE_DIR=$TMP/cache
STARTED=()

cleanup() {
  local p
  exec 2>/dev/null   # no "Killed" notices from the shell for what we kill here
  for p in ${STARTED[@]+"${STARTED[@]}"}; do
    kill -9 "$p" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }

# started PID: kill PID when the test ends.
started() { STARTED+=("$1"); }

# marker_line FILE NAME: the line number of the comment MARK:NAME / DEMO:NAME.
marker_line() {
  local n
  n=$(grep -n -E "(MARK|DEMO):$2\$" "$1" | cut -d: -f1)
  [ "$(echo "$n" | wc -w)" = 1 ] || fail "marker $2 not found exactly once in $1"
  echo "$n"
}

# skip WHY: ends the test as skipped (run_tests.sh counts exit 77 apart).
skip() { echo "skip: $*"; exit 77; }

# lib_has_record: whether $LIB publishes a control record (the command then
# reaches the dumper through it; an older library does not).
lib_has_record() { LC_ALL=C grep -aq 'threadsnap-control' "$LIB"; }

need_lib() {
  [ -f "$LIB" ] || fail "library not built: $LIB (run make)"
}

need_program() {
  [ -x "$PROGRAMS/$1" ] || fail "test program not built: $PROGRAMS/$1 (run make programs)"
}

# wait_for_line FILE REGEX SECONDS: until FILE has a line matching REGEX.
wait_for_line() {
  local i
  for ((i = 0; i < $3 * 20; i++)); do
    grep -q -E "$2" "$1" 2>/dev/null && return 0
    sleep 0.05
  done
  fail "no line matching '$2' in $1 after $3 s: $(tail -n 5 "$1" 2>/dev/null)"
}

# free_port: a TCP port on 127.0.0.1 nobody listens on (never 11211).
free_port() {
  python3 - <<'PY'
import socket
while True:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    if port != 11211:
        print(port)
        break
PY
}

# memcached_answers PORT: memcached answers "version" on PORT now.
memcached_answers() {
  local reply
  reply=$(timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1; printf 'version\r\n' >&3; head -n1 <&3" 2>/dev/null) || return 1
  [[ $reply == VERSION* ]]
}

# wait_memcached PORT: waits up to 10 s for memcached to answer on PORT, or
# fails with its stderr ($TMP/mc.err).
wait_memcached() {
  local i
  for ((i = 0; i < 100; i++)); do memcached_answers "$1" && return 0; sleep 0.1; done
  memcached_answers "$1" || fail "memcached does not answer on port $1: $(cat "$TMP/mc.err")"
}

# start_memcached DIR: Debian's memcached -t 4 under `threadsnap run --dir
# DIR`, on a free port of 127.0.0.1, as this user; returns once it answers.
# Sets MC_PORT and MC_PID (killed when the test ends); its output goes to
# $TMP/mc.out and $TMP/mc.err.
start_memcached() {
  command -v memcached > /dev/null || fail "memcached not installed (make deps)"
  MC_PORT=$(free_port)
  mkdir -p "$1"
  "$TS" run --dir "$1" -- memcached -t 4 -p "$MC_PORT" -l 127.0.0.1 -U 0 -u "$(id -un)" \
    > "$TMP/mc.out" 2> "$TMP/mc.err" &
  MC_PID=$!; started "$MC_PID"
  wait_memcached "$MC_PORT"
}

need_go() {
  command -v go > /dev/null || fail "go (golang-go) is not installed: make deps"
}

# pprof OUT PROFILE ARGS...: `go tool pprof ARGS PROFILE` into OUT, or fails
# with what it said.
pprof() {
  local out=$1 profile=$2
  shift 2
  go tool pprof "$@" "$profile" > "$out" 2> "$out.err" || fail "go tool pprof $*: $(cat "$out.err")"
}
