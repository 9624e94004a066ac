#!/usr/bin/env bash
# Until the library publishes its control record itself: test_dump_title.sh
# and test_dump_jvm.sh again, on their control-record path, with fakectl.c
# preloaded after the real library (a memfd record, a wake signal taken by a
# thread of its own that calls threadsnap_trigger(), the trigger reported
# "off" once the program takes it). This checks `threadsnap dump`'s record
# path and those tests' expectations on real programs (a PostgreSQL-like one,
# the JVM). Skipped once the library publishes its own record (those two
# tests then run that path directly).
source "$(dirname "$0")/lib.sh"
need_lib
LC_ALL=C grep -aq 'threadsnap-control' "$LIB" &&
  skip "the library publishes its own control record: test_dump_title.sh and test_dump_jvm.sh test that path"
command -v cc > /dev/null || skip "no C compiler (cc) to build fakectl.c"
cc -O1 -g -Wall -shared -fPIC -pthread -o "$TMP/libfakectl.so" "$HERE/fakectl.c" -ldl || fail "cannot build fakectl.c"
rc=0
FAKECTL=$TMP/libfakectl.so bash "$HERE/test_dump_title.sh" || rc=$?
[ "$rc" = 0 ] || fail "test_dump_title.sh on the emulated record: exit $rc"
ok "test_dump_title.sh passes on the emulated control record"
rc=0
FAKECTL=$TMP/libfakectl.so bash "$HERE/test_dump_jvm.sh" || rc=$?
case $rc in
  0) ok "test_dump_jvm.sh passes on the emulated control record";;
  77) echo "test_dump_jvm.sh skipped (no java)";;
  *) fail "test_dump_jvm.sh on the emulated record: exit $rc";;
esac
