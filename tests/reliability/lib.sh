# Sourced by the reliability shell tests (tests/scripts/test_rel_*.sh and
# tests/reliability/*.sh), after tests/scripts/lib.sh: start a test program
# under the library with a command pipe on its stdin, wait for lines, check
# that dump files are whole.

# rel_start NAME [VAR=VALUE...] [-- PREFIX_CMD...]: starts
# $PROGRAMS/NAME under LD_PRELOAD=$LIB with the given environment, stdin from
# a pipe kept open on fd 7 (rel_cmd writes to it), stdout to $TMP/NAME.out,
# stderr to $TMP/NAME.err. Anything after "--" is put in front of the
# command (e.g. setpriv ...). Sets REL_PID (the program's pid, also after the
# prefix execs it) and registers it for cleanup.
rel_start() {
  local name=$1
  shift
  local envs=() prefix=()
  while [ $# -gt 0 ]; do
    if [ "$1" = "--" ]; then shift; prefix=("$@"); break; fi
    envs+=("$1")
    shift
  done
  need_program "$name"
  mkfifo "$TMP/$name.in"
  # The library's lines (wrote ..., errors) on stderr, where these tests read
  # them (by default they go to a log file in the dump directory).
  ${prefix[@]+"${prefix[@]}"} env LD_PRELOAD="$LIB" THREADSNAP_LOG=stderr ${envs[@]+"${envs[@]}"} "$PROGRAMS/$name" \
    < "$TMP/$name.in" > "$TMP/$name.out" 2> "$TMP/$name.err" &
  REL_PID=$!
  started "$REL_PID"
  exec 7> "$TMP/$name.in"
  REL_OUT=$TMP/$name.out
  REL_ERR=$TMP/$name.err
}

# rel_cmd LINE: sends one command line to the program's stdin.
rel_cmd() { echo "$1" >&7; }

# rel_count_lines FILE REGEX: how many lines of FILE match.
rel_count_lines() { grep -c -E "$2" "$1" 2>/dev/null || true; }

# rel_wait_count FILE REGEX N SECONDS: until FILE has N lines matching REGEX.
rel_wait_count() {
  local i
  for ((i = 0; i < $4 * 50; i++)); do
    [ "$(rel_count_lines "$1" "$2")" -ge "$3" ] && return 0
    sleep 0.02
  done
  fail "fewer than $3 lines matching '$2' in $1 after $4 s: $(tail -n 5 "$1" 2>/dev/null)"
}

# rel_ping: the program answers "ping" with a "pong" line within 10 s.
rel_ping() {
  local before
  before=$(rel_count_lines "$REL_OUT" '^pong')
  rel_cmd ping
  rel_wait_count "$REL_OUT" '^pong' $((before + 1)) 10
  kill -0 "$REL_PID" 2>/dev/null || fail "the program died"
}

# rel_dumps DIR PID: the names of PID's dump files in DIR, one per line.
rel_dumps() { (cd "$1" && ls -1 2>/dev/null | grep -E "^threadsnap\.$2\.[0-9]+\.txt$") || true; }

# rel_check_dump FILE: fails unless FILE is a regular file (not a link) and a
# whole dump: "threadsnap 1" first, "end" last, as many thread records as its
# "threads" header says.
rel_check_dump() {
  [ -f "$1" ] && [ ! -L "$1" ] || fail "$1 is not a regular file"
  awk 'NR == 1 && $0 != "threadsnap 1" { bad = "first line " $0 }
       $1 == "threads" && !h { want = $2; h = 1 }
       /^thread / { n++ }
       { last = $0 }
       END {
         if (!bad && last != "end") bad = "last line is not end: " last
         if (!bad && (!h || n != want)) bad = "threads header " want " but " n " records"
         if (bad) { print bad; exit 1 }
       }' "$1" || fail "$1 is not a whole dump"
}

# rel_wait_new_dump DIR PID SECONDS KNOWN...: waits for a dump file of PID in
# DIR that is not among KNOWN (names), checks it is whole, prints its path.
rel_wait_new_dump() {
  local dir=$1 pid=$2 secs=$3 i f k known
  shift 3
  for ((i = 0; i < secs * 50; i++)); do
    for f in $(rel_dumps "$dir" "$pid"); do
      known=0
      for k in "$@"; do [ "$k" = "$f" ] && known=1; done
      if [ $known = 0 ]; then
        rel_check_dump "$dir/$f"
        echo "$dir/$f"
        return 0
      fi
    done
    sleep 0.02
  done
  fail "no new dump of $pid in $dir after $secs s; stderr: $(tail -n 5 "$REL_ERR")"
}

# rel_quit: asks the program to quit; it must exit 0.
rel_quit() {
  rel_cmd quit
  exec 7>&-
  local st=0
  wait "$REL_PID" || st=$?
  [ "$st" = 0 ] || fail "the program exited with status $st; stderr: $(tail -n 5 "$REL_ERR")"
}
