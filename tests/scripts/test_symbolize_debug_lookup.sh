#!/usr/bin/env bash
# Where debug information is found, and what happens when it is not: a
# stripped copy of symtest is symbolized through its build-id debug file,
# through a debug file next to it, and not at all when none exists, when the
# module is missing, when its file has another build-id, or when no symbolizer
# is installed (module+offset, exit 0). One symbolizer process per module.
source "$(dirname "$0")/lib.sh"
need_program symtest
"$PROGRAMS/symtest" --selfdump "$TMP/self.txt" --per-kind 1
orig=$(sed -n 's/^exe //p' "$TMP/self.txt")
bid=$(awk -v p="$orig" '$1 == "module" && $5 == p { for (i = 6; i <= NF; i++) if ($i ~ /^build-id=/) print substr($i, 10) }' "$TMP/self.txt")
[ -n "$bid" ] || fail "no build-id for $orig in the dump"

# with_module PATH: the dump, with symtest's module path replaced by PATH.
with_module() {
  sed "s|^\(module [^ ]* [^ ]* [^ ]* \)$orig |\1$1 |" "$TMP/self.txt" > "$TMP/d.txt"
  grep -q " $1 " "$TMP/d.txt" || fail "could not rewrite the module path"
}

# named N OPTS...: N = how many symtest frames got a function name and a line.
named() {
  "$TS" report --format json "$@" "$TMP/d.txt" > "$TMP/r.json" 2> "$TMP/err" ||
    fail "report failed: $(cat "$TMP/err")"
  python3 - "$TMP/r.json" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
n = sum(1 for t in doc["dumps"][0]["threads"] for f in t["frames"]
        if f["module"] and f["module"].endswith("/symtest")
        and f["symbols"] and f["symbols"][0]["function"] and f["symbols"][0]["line"])
print(n)
PY
}

strip_copy() { mkdir -p "$(dirname "$1")"; cp "$orig" "$1"; strip --strip-all "$1"; }
total=$(with_module "$orig"; named)
[ "$total" -ge 10 ] || fail "unstripped symtest: only $total named frames"

strip_copy "$TMP/a/symtest"; with_module "$TMP/a/symtest"
[ "$(named)" = 0 ] || fail "a stripped module without debug file still got names?"
grep -q "symtest+0x" <("$TS" report "$TMP/d.txt") || fail "no module+offset for the stripped module"
ok "stripped, no debug file: module+offset"

strip_copy "$TMP/b/symtest"; objcopy --only-keep-debug "$orig" "$TMP/b/symtest.debug"
with_module "$TMP/b/symtest"
[ "$(named)" = "$total" ] || fail "debug file next to the module not used"
ok "debug file next to the module"

strip_copy "$TMP/c/symtest"; mkdir -p "$TMP/c/.debug"
objcopy --only-keep-debug "$orig" "$TMP/c/.debug/symtest.debug"
with_module "$TMP/c/symtest"
[ "$(named)" = "$total" ] || fail "debug file in .debug/ not used"
ok "debug file in .debug/ next to the module"

strip_copy "$TMP/e/symtest"; mkdir -p "$TMP/dbg/.build-id/${bid:0:2}"
objcopy --only-keep-debug "$orig" "$TMP/dbg/.build-id/${bid:0:2}/${bid:2}.debug"
with_module "$TMP/e/symtest"
[ "$(named)" = 0 ] || fail "build-id debug file found without --debug-dir?"
[ "$(named --debug-dir "$TMP/dbg")" = "$total" ] || fail "build-id debug file not used"
with_module "$TMP/gone/symtest"
[ "$(named --debug-dir "$TMP/dbg")" = "$total" ] || fail "build-id debug file not used for a missing module"
ok "debug file by build-id (even with the module gone)"

[ "$(named)" = 0 ] || fail "missing module got names"
"$TS" symbolize "$TMP/d.txt" > "$TMP/s.txt" || fail "symbolize fails on a missing module"
grep -q $'\tsymtest+0x[0-9a-f]*\t??\t??' "$TMP/s.txt" || fail "missing module: no module+offset annotation"
ok "missing module: module+offset, exit 0"

# Another build of symtest (other code, other build-id) at the module's path.
mkdir -p "$TMP/f"
g++ -std=c++20 -O1 -g -o "$TMP/f/symtest" "$TOP/tests/programs/symtest.cc" -lpthread
with_module "$TMP/f/symtest"
[ "$(named)" = 0 ] || fail "symbolized with a file whose build-id differs"
grep -q "changed on disk" "$TMP/err" || fail "no warning about the build-id mismatch"
ok "build-id mismatch: not symbolized from the wrong file"

# No symbolizer on PATH at all.
with_module "$orig"
py=$(python3 -c 'import sys; print(sys.executable)')
PATH=/nonexistent "$py" "$TOP/scripts/threadsnap_report.py" report "$TMP/d.txt" > "$TMP/none.txt" 2> "$TMP/err" ||
  fail "report fails without a symbolizer"
grep -q "no symbolizer found" "$TMP/err" || fail "no warning about the missing symbolizer"
grep -q "symtest+0x" "$TMP/none.txt" || fail "no module+offset without a symbolizer"
"$TS" report --symbolizer none "$TMP/d.txt" | grep -q "symtest+0x" || fail "--symbolizer none"
ok "no symbolizer: module+offset, exit 0"

# One batch process per module, whatever the number of addresses.
mkdir -p "$TMP/shim"
for s in llvm-symbolizer eu-addr2line addr2line; do
  real=$(command -v "$s") || continue
  printf '#!/bin/sh\necho "$*" >> %s/calls.%s\nexec %s "$@"\n' "$TMP" "$s" "$real" > "$TMP/shim/$s"
  chmod +x "$TMP/shim/$s"
  PATH="$TMP/shim:$PATH" "$TS" report --symbolizer "$s" "$TMP/d.txt" > /dev/null
  mods=$(awk '/^  0x/ { print $1 }' "$TMP/d.txt" | sort -u | wc -l)
  calls=$(wc -l < "$TMP/calls.$s")
  modules_used=$(cut -d' ' -f1-3 "$TMP/calls.$s" | sort -u | wc -l)
  [ "$calls" = "$modules_used" ] || fail "$s ran $calls times for $modules_used modules"
  [ "$calls" -le 3 ] || fail "$s ran $calls times for $mods addresses"
  ok "$s: $calls processes for $mods distinct addresses"
done
