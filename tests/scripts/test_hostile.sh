#!/usr/bin/env bash
# Never harm the host (issue 11): a differential check over the small
# hostile programs of tests/hostile. Each program runs plainly and under the
# library (LD_PRELOAD, a private THREADSNAP_DIR); the two runs must give
#   - the same exit status, or the same terminating signal (a hang, killed
#     after HOSTILE_TIMEOUT s, is a failure of its own),
#   - the same stdout and the same stderr, byte for byte,
#   - no "fail: ..." line in the program's side report ($HOSTILE_REPORT: a
#     real-time signal left pending, a dump that never came, ...; see
#     tests/hostile/hostile.h),
#   - as many complete dump files (ending with "end") as the program waited
#     for, and nothing else in the dump dir but dump files
#     (threadsnap.PID.SEQ.txt) and threadsnap's log (threadsnap*.log).
# Options per program, from a line "// HOSTILE: ..." in its source:
#   stdin=closed      start it with fd 0 closed (`prog <&-`)
#   kill=SIG          send it SIG (kill -SIG) once it printed "ready"
#   max_stop1_ms=N    every dump's stop1_ns must be under N ms
#   frames            every dump must have at least one frame
# One line per case: "PASS name" or "FAIL name: why". Exits 1 if any fails.
# Usage: test_hostile.sh [--selftest] [NAME...]   (default: every program)
#   --selftest  runs the cases against tests/hostile/selftest/null_lib.c, a
#               stand-in library that harms nothing, instead of the real one:
#               every case must pass except sigquery (the stand-in's SIGUSR2
#               handler shows). Checks the harness, not the library.
source "$(dirname "$0")/lib.sh"
selftest=0
if [ "${1:-}" = --selftest ]; then
  selftest=1; shift
  LIB=$TMP/null_lib.so
  ${CC:-cc} -O2 -Wall -fPIC -shared -o "$LIB" "$TOP/tests/hostile/selftest/null_lib.c" || fail "cannot build the stand-in library"
fi
need_lib
HOSTILE=${THREADSNAP_HOSTILE:-$(dirname "$PROGRAMS")/hostile}
SRC=$TOP/tests/hostile
TIMEOUT=${HOSTILE_TIMEOUT:-10}

opt() {  # opt NAME KEY: the value of KEY in NAME's "// HOSTILE:" line ("1" for a flag)
  local line w
  line=$(sed -n 's|^// HOSTILE: ||p' "$SRC/$1.c" | head -n1)
  for w in $line; do
    case $w in
      "$2"=*) echo "${w#*=}"; return ;;
      "$2") echo 1; return ;;
    esac
  done
}

# run_case NAME MODE: runs the program once (MODE plain or lib) with output
# in $TMP/NAME.MODE.{out,err,rc,report}, its dump dir $TMP/NAME.MODE.dir.
run_case() {
  local name=$1 mode=$2 base=$TMP/$1.$2 pid wd rc sig
  mkdir -p "$base.dir" "$base.tmp"
  : >"$base.report"
  local env=(HOSTILE_REPORT="$base.report" TMPDIR="$base.tmp")
  [ "$mode" = lib ] && env+=(LD_PRELOAD="$LIB" THREADSNAP_DIR="$base.dir")
  # make check-asan preloads an ASan build: GCC 12's libasan has no fork
  # handling, so in a forked child that ends with exit() LeakSanitizer tries
  # to stop the parent's threads, which are not there, and says so in a
  # report file ("Running thread N was not suspended"). No leak check there.
  if [ "$mode" = lib ] && [ -n "${ASAN_OPTIONS:-}" ] && [ "$(opt "$name" forks)" = 1 ]; then
    env+=(ASAN_OPTIONS="$ASAN_OPTIONS:detect_leaks=0")
  fi
  local stdin=/dev/null
  [ "$(opt "$name" stdin)" = closed ] && stdin=""
  # Only fds 0, 1 and 2 go to the program (the caller may have left others
  # open: a program that lists or counts its fds must see the same set in
  # both runs).
  (
    for fd in /proc/$BASHPID/fd/*; do
      fd=${fd##*/}
      [ "$fd" -gt 2 ] && eval "exec $fd>&-"
    done
    if [ -n "$stdin" ]; then exec <"$stdin"; else exec <&-; fi
    exec env "${env[@]}" "$HOSTILE/$name" >"$base.out" 2>"$base.err"
  ) &
  pid=$!
  started "$pid"
  # The watchdog: a hang is killed after $TIMEOUT s and marked.
  # It polls, so that it ends soon after the program does.
  (
    for ((i = 0; i < TIMEOUT * 50; i++)); do
      kill -0 "$pid" 2>/dev/null || exit 0
      sleep 0.02
    done
    touch "$base.hung"
    kill -KILL "$pid"
  ) 2>/dev/null &
  wd=$!
  sig=$(opt "$name" kill)
  if [ -n "$sig" ]; then
    local i
    for ((i = 0; i < TIMEOUT * 100; i++)); do
      grep -q '^ready$' "$base.out" 2>/dev/null && break
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.01
    done
    grep -q '^ready$' "$base.out" && kill -"$sig" "$pid" 2>/dev/null
  fi
  rc=0
  { wait "$pid"; } 2>/dev/null || rc=$?  # no "Killed" notice from the shell
  wait "$wd" 2>/dev/null || true
  echo "$rc" >"$base.rc"
  rm -rf "$base.tmp"
}

describe_rc() {  # describe_rc RC: "exit N" or "signal NAME"
  if [ "$1" -gt 128 ]; then echo "signal $(kill -l $(($1 - 128)) 2>/dev/null || echo $(($1 - 128)))"; else echo "exit $1"; fi
}

# check_case NAME: compares the two runs; prints PASS/FAIL and returns 1 on FAIL.
check_case() {
  local name=$1 p=$TMP/$1.plain l=$TMP/$1.lib why=() f n
  [ -e "$p.hung" ] && why+=("the plain run hung (test bug)")
  grep -q '^fail: ' "$p.report" && why+=("plain run reports: $(grep '^fail: ' "$p.report" | head -n1) (test bug)")
  [ -e "$l.hung" ] && why+=("hung under the library (killed after ${TIMEOUT} s)")
  local rp rl
  rp=$(cat "$p.rc"); rl=$(cat "$l.rc")
  [ -e "$l.hung" ] || [ "$rp" = "$rl" ] || why+=("$(describe_rc "$rl") under the library, $(describe_rc "$rp") plainly")
  cmp -s "$p.out" "$l.out" || why+=("stdout differs: $(diff "$p.out" "$l.out" | grep '^[<>]' | head -n 6 | tr '\n' '|')")
  cmp -s "$p.err" "$l.err" || why+=("stderr differs: $(diff "$p.err" "$l.err" | grep '^[<>]' | head -n 4 | tr '\n' '|')")
  while IFS= read -r f; do why+=("${f#fail: }"); done < <(grep '^fail: ' "$l.report")
  # Dumps: as many complete files as the program waited for.
  local want=0 have=0
  for n in $(sed -n 's/^dumps //p' "$l.report"); do want=$((want + n)); done
  local dumps=()
  while IFS= read -r f; do [ -n "$f" ] && dumps+=("$l.dir/$f"); done < <(ls -A "$l.dir" | { grep -E '^threadsnap\.[0-9]+\.[0-9]+\.txt$' || true; })
  have=${#dumps[@]}
  [ "$have" -ge "$want" ] || why+=("$have dump files, the program waited for $want")
  local max frames
  max=$(opt "$name" max_stop1_ms); frames=$(opt "$name" frames)
  for f in ${dumps[@]+"${dumps[@]}"}; do
    [ "$(tail -n 1 "$f")" = end ] || why+=("$(basename "$f") is not complete (no 'end')")
    if [ -n "$max" ]; then
      n=$(sed -n 's/^stop1_ns //p' "$f")
      [ -n "$n" ] && [ "$n" -lt $((max * 1000000)) ] || why+=("$(basename "$f"): stop1_ns ${n:-missing}, want < ${max} ms")
    fi
    if [ -n "$frames" ]; then
      grep -q -E '^  0x[0-9a-f]+' "$f" || why+=("$(basename "$f") has no frames")
    fi
  done
  local left
  left=$(ls -A "$l.dir" | { grep -v -E '^threadsnap\.[0-9]+\.[0-9]+\.txt$|^threadsnap.*\.log$' || true; } | tr '\n' ' ')
  [ -z "$left" ] || why+=("left in the dump dir: $left")
  if [ ${#why[@]} = 0 ]; then
    echo "PASS $name"
    return 0
  fi
  local IFS=';'
  echo "FAIL $name: ${why[*]}"
  return 1
}

names=("$@")
if [ ${#names[@]} = 0 ]; then
  for f in "$SRC"/*.c; do names+=("$(basename "$f" .c)"); done
fi
failed=0 failed_names=""
for name in "${names[@]}"; do
  [ -x "$HOSTILE/$name" ] || fail "hostile program not built: $HOSTILE/$name (run make programs)"
  run_case "$name" plain
  run_case "$name" lib
  check_case "$name" || { failed=$((failed + 1)); failed_names+=" $name"; }
done
echo "hostile: ${#names[@]} cases, $failed failed${failed_names:+ (${failed_names# })}"
if [ $selftest = 1 ]; then
  want=""
  for name in "${names[@]}"; do [ "$name" = sigquery ] && want=" sigquery"; done
  [ "$failed_names" = "$want" ] || fail "selftest: failed:${failed_names:- none}, expected:${want:- none}"
  ok "selftest: the harness passes every case it can with a harmless library"
  exit 0
fi
[ "$failed" = 0 ]
