#!/usr/bin/env bash
# Golden test without the library: symtest records its own stacks at marked
# lines (--selfdump) into a real v1 dump; every installed symbolizer must name
# the marked functions and lines (inlined function and C++ method included),
# and `symbolize` output must read back into the same report.
source "$(dirname "$0")/lib.sh"
need_program symtest
src=$TOP/tests/programs/symtest.cc
"$PROGRAMS/symtest" --selfdump "$TMP/self.txt" --per-kind 2
tried=0
for s in llvm-symbolizer eu-addr2line addr2line; do
  command -v "$s" >/dev/null || { echo "note: $s not installed"; continue; }
  tried=$((tried + 1))
  "$TS" report --symbolizer "$s" --format json "$TMP/self.txt" > "$TMP/$s.json"
  extra=(); [ "$s" = addr2line ] && extra=(--addr2line)
  python3 "$HERE/check_golden.py" "$TMP/$s.json" "$src" 2 ${extra[@]+"${extra[@]}"} ||
    fail "symbolizer $s"
  ok "$s"
done
[ "$tried" -gt 0 ] || fail "no symbolizer installed"

# symbolize writes an annotated dump; reporting it needs no symbolizer at all.
"$TS" symbolize "$TMP/self.txt" > "$TMP/sym.txt"
grep -q $'\tplain_wait\t.*symtest.cc:'"$(marker_line "$src" plain_wait)" "$TMP/sym.txt" ||
  fail "symbolize output lacks plain_wait at its line"
grep -q $'\tinlined_wait\t.*\tinlined$' "$TMP/sym.txt" || fail "symbolize output lacks the inline frame"
"$TS" report --symbolizer none --format json "$TMP/sym.txt" > "$TMP/resym.json"
python3 "$HERE/check_golden.py" "$TMP/resym.json" "$src" 2 || fail "report of a symbolized dump"
ok "symbolized dump reads back"
