#!/usr/bin/env bash
# Fault: symlinks planted at the names of the next dump (the final name and
# the temporary one) point at a file of someone else's and at a file that does
# not exist. No file may be written through a link (the target keeps its
# content, the missing one is not created, the links stay as they were), a
# clear stderr line must name the planted path, the program runs on, and once
# the links are gone the next dump is written whole.
source "$(dirname "$0")/lib.sh"
source "$TOP/tests/reliability/lib.sh"
need_lib
run_mode() {
  local named=$1 D=$TMP/d$1 final temp f known
  rm -f "$TMP"/rel_workers.*   # the previous run's pipe and output
  mkdir "$D"
  echo precious > "$TMP/victim"
  rel_start rel_workers THREADSNAP_DIR="$D" THREADSNAP_TEST_NAMED_TEMP=$named
  wait_for_line "$REL_OUT" '^ready$' 10
  final=$D/threadsnap.$REL_PID.1.txt
  temp=$D/.threadsnap.$REL_PID.1.tmp
  ln -s "$TMP/victim" "$final"
  ln -s "$TMP/absent" "$temp"

  kill -USR2 "$REL_PID"
  # A dump attempt ends with a "wrote" or an "error" line; anything the library
  # says about the links comes before it.
  rel_wait_count "$REL_ERR" '^threadsnap: (wrote|error)' 1 10
  rel_ping
  [ "$(cat "$TMP/victim")" = precious ] || fail "the victim file was written through the link"
  [ ! -e "$TMP/absent" ] || fail "a file was created through the link at $temp"
  [ "$(readlink "$final")" = "$TMP/victim" ] || fail "the planted link $final was replaced"
  [ "$(readlink "$temp")" = "$TMP/absent" ] || fail "the planted link $temp was replaced"
  for f in $(rel_dumps "$D" "$REL_PID"); do
    [ "$D/$f" = "$final" ] || rel_check_dump "$D/$f"
  done
  echo "stderr after the planted links:"; sed 's/^/  /' "$REL_ERR"
  grep -E '^threadsnap: ' "$REL_ERR" | grep -qF -e "$final" -e "$temp" ||
    fail "no stderr line names the planted link ($final or $temp): $(cat "$REL_ERR")"

  # Links removed: the next dump works.
  rm -f "$final" "$temp"
  known=$(rel_dumps "$D" "$REL_PID")
  f=$(rel_wait_new_dump "$D" "$REL_PID" 10 $known & kill -USR2 "$REL_PID"; wait)
  [ -n "$f" ] || fail "no dump after the links were removed"
  rel_ping
  rel_quit
  ok "symlink (named temp $named): nothing written through the links, $f whole afterwards"
}

run_mode 0
run_mode 1
