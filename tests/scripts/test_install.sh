#!/usr/bin/env bash
# `make install PREFIX=...` gives a threadsnap that works from its installed
# place (also through a symlink): it finds the installed library and its
# Python half, runs a program under the library, dumps and reports it.
source "$(dirname "$0")/lib.sh"
need_lib; need_program symtest
build=$(realpath --relative-to="$TOP" "$(dirname "$LIB")")
make -C "$TOP" --no-print-directory -s install PREFIX="$TMP/prefix" BUILD="$build" > "$TMP/make.log" 2>&1 ||
  fail "make install failed: $(tail -n 20 "$TMP/make.log")"
for f in bin/threadsnap lib/threadsnap/libthreadsnap.so lib/threadsnap/threadsnap_report.py \
         lib/threadsnap/threadsnap_dumpfile.py lib/threadsnap/threadsnap_symbolize.py \
         lib/threadsnap/threadsnap_waitfor.py; do
  [ -f "$TMP/prefix/$f" ] || fail "not installed: $f"
done
mkdir -p "$TMP/elsewhere" "$TMP/d"
ln -s "$TMP/prefix/bin/threadsnap" "$TMP/elsewhere/threadsnap"
its=$TMP/elsewhere/threadsnap
"$its" help | grep -q '^Usage: threadsnap' || fail "installed help"

env -u THREADSNAP_LIB "$its" run --dir "$TMP/d" -- "$PROGRAMS/symtest" > "$TMP/s.out" 2> "$TMP/s.err" &
started $!
wait_for_line "$TMP/s.out" '^ready ' 10
grep -qF "with $TMP/prefix/lib/threadsnap/libthreadsnap.so" "$TMP/s.err" || fail "installed run did not use the installed library: $(cat "$TMP/s.err")"
pid=$(awk '/^ready/ { print $2 }' "$TMP/s.out")
env -u THREADSNAP_LIB "$its" dump "$pid" > "$TMP/report" 2> "$TMP/dump.err" || fail "installed dump: $(cat "$TMP/dump.err")"
grep -q "symtest::Pool::run_method(int) at .*symtest.cc:$(marker_line "$TOP/tests/programs/symtest.cc" run_method)" "$TMP/report" ||
  fail "installed report lacks the symbolized method: $(head -n 30 "$TMP/report")"
ok "installed threadsnap: run, dump, report"
