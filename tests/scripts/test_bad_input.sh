#!/usr/bin/env bash
# Bad input: truncated, corrupt, foreign and future-version dumps give an
# error naming the file and line and a non-zero exit (never a traceback);
# bad options give a usage message and exit 2.
source "$(dirname "$0")/lib.sh"
good=$TMP/good.txt
cat > "$good" <<'DUMP'
threadsnap 1
pid 42
exe /bin/fake
threads 2
module 0x1000 0x2000 0x0 /nonexistent/fake bias=0x0
thread tid=42 name=main state=running via=signal
  0x1100
  0x1200
thread tid=43 name=w state=blocked call=read obj=0x3 blocked_ns=5 via=sweep
  0x1300
end
DUMP
"$TS" report "$good" > /dev/null || fail "the good dump is refused"

# expect_error FILE LINE TEXT: report and symbolize FILE both fail with
# 'threadsnap: error: FILE:LINE: ...TEXT...', exit 1, no Python traceback.
expect_error() {
  local f=$1 line=$2 text=$3 cmd rc
  for cmd in report symbolize; do
    rc=0; "$TS" $cmd "$f" > "$TMP/out" 2> "$TMP/err" || rc=$?
    [ "$rc" = 1 ] || fail "$cmd $(basename "$f"): exit $rc, want 1: $(cat "$TMP/err")"
    local where="$f:$line"; [ "$line" = 0 ] && where=$f   # no line: the file itself
    grep -qF "threadsnap: error: $where: " "$TMP/err" || fail "$cmd $(basename "$f"): no '$where:' in: $(cat "$TMP/err")"
    grep -qF "$text" "$TMP/err" || fail "$cmd $(basename "$f"): no '$text' in: $(cat "$TMP/err")"
    grep -q Traceback "$TMP/err" && fail "$cmd $(basename "$f"): traceback"
  done
  ok "$(basename "$f"): $(head -n1 "$TMP/err")"
}

head -n 8 "$good" > "$TMP/truncated.txt"
expect_error "$TMP/truncated.txt" 8 "truncated dump: no 'end' line"
{ head -n 10 "$good"; printf '  0x13'; } > "$TMP/cut-mid-line.txt"
expect_error "$TMP/cut-mid-line.txt" 11 "truncated"
sed '8s/.*/  0xZZ12/' "$good" > "$TMP/bad-frame.txt"
expect_error "$TMP/bad-frame.txt" 8 "bad frame address '0xZZ12'"
sed '9s/tid=43/tid=4x3/' "$good" > "$TMP/bad-tid.txt"
expect_error "$TMP/bad-tid.txt" 9 "bad tid '4x3'"
sed '9s/tid=43 //' "$good" > "$TMP/no-tid.txt"
expect_error "$TMP/no-tid.txt" 9 "without tid"
sed '5s/0x2000/0x800/' "$good" > "$TMP/bad-module.txt"
expect_error "$TMP/bad-module.txt" 5 "module end"
sed '4s/2/3/' "$good" > "$TMP/count.txt"
expect_error "$TMP/count.txt" 11 "'threads 3' but 2 thread records"
sed '1s/1/2/' "$good" > "$TMP/v2.txt"
expect_error "$TMP/v2.txt" 1 "unsupported dump format version 2"
sed '9a\@@@ garbage @@@' "$good" > "$TMP/garbage.txt"
expect_error "$TMP/garbage.txt" 10 "unexpected line in thread section"
{ head -n 9 "$good"; printf '  0x1\xff\xfe\n'; tail -n 2 "$good"; } > "$TMP/binary.txt"
expect_error "$TMP/binary.txt" 10 "not UTF-8"
{ cat "$good"; echo "thread tid=99 state=running"; } > "$TMP/after-end.txt"
expect_error "$TMP/after-end.txt" 12 "text after 'end'"
printf 'hello\nworld\n' > "$TMP/foreign.txt"
expect_error "$TMP/foreign.txt" 1 "not a threadsnap dump"
: > "$TMP/empty.txt"
expect_error "$TMP/empty.txt" 1 "empty file"
expect_error "$TMP/missing.txt" 0 "cannot read"

# A bad dump among good ones still fails the whole report.
rc=0; "$TS" report "$good" "$TMP/truncated.txt" > /dev/null 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "report with one bad dump of two: exit $rc"

# Forward compatibility: unknown keys and header lines are ignored.
sed -e '3a\new_header_key some value' -e 's/^thread tid=43 /thread tid=43 color=blue /' \
    -e 's|bias=0x0|bias=0x0 flavor=x|' "$good" > "$TMP/newer.txt"
"$TS" report "$TMP/newer.txt" > /dev/null || fail "unknown keys are not ignored"
ok "unknown keys ignored"

# Options: usage message and exit 2.
usage_case() {
  local rc=0
  "$TS" "$@" > "$TMP/out" 2> "$TMP/err" < /dev/null || rc=$?
  [ "$rc" = 2 ] || fail "'threadsnap $*': exit $rc, want 2: $(cat "$TMP/err")"
  grep -qiE "usage|try 'threadsnap help'" "$TMP/err" || fail "'threadsnap $*': no usage message: $(cat "$TMP/err")"
  grep -q Traceback "$TMP/err" && fail "'threadsnap $*': traceback"
  ok "usage error: threadsnap $*"
}
usage_case
usage_case frobnicate
usage_case report
usage_case report --format xml "$good"
usage_case report --symbolizer gdb "$good"
usage_case report --bogus "$good"
usage_case symbolize
usage_case symbolize "$good" "$good"
usage_case dump
usage_case dump --format xml 1
usage_case dump --timeout soon 1
usage_case dump --signal NOTASIG 1
usage_case dump --bogus 1
usage_case run
usage_case run --mode fast -- true
usage_case run --unwind magic -- true
usage_case run --signal KILL -- true
usage_case run --dir
