#!/usr/bin/env bash
# Dev check (make check-flamegraph; not part of make test, it needs a
# browser): threadsnap record's SVG flame graph in a real browser, Debian's
# headless Chromium, offline. Records the demo program (demo_pool) and
# rec_split for 3 s at 50 Hz, then has Chromium load each SVG with
#   ?s=REGEX  the page's own search runs on load: the script must have run
#             (data-ready="1") and found frames (data-matched > 0);
#   ?z=REGEX  zoom into the first matching frame: its rect must then span
#             the full width (1180 px);
# and keeps screenshots in build/dev/ (docs/flamegraph-demo.png in the
# README is one of them).
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$top/build/dev}
ts=$top/scripts/threadsnap
mkdir -p "$out"
if ! command -v chromium > /dev/null; then
  echo "check-flamegraph: installing Debian's chromium"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium > /dev/null
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/threadsnap-flame.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

browse() {  # browse MODE URL [ARGS]: chromium headless, no network, no profile
  local mode=$1 url=$2; shift 2
  timeout 120 chromium --headless --no-sandbox --disable-gpu --hide-scrollbars \
    --user-data-dir="$tmp/profile" --no-first-run --disable-extensions \
    --proxy-server=127.0.0.1:9 "$mode" "$@" "$url" 2> "$tmp/chromium.err"
}

check() {  # check NAME PROGRAM SEARCH ZOOM
  local name=$1 prog=$2 search=$3 zoom=$4 svg=$out/$1.svg h
  "$ts" record --hz 50 --duration 3 -o "$svg" -- "$top/build/tests/programs/$prog" > /dev/null
  h=$(sed -n 's/.*<svg [^>]* height="\([0-9]*\)".*/\1/p' "$svg" | head -n1)
  browse --dump-dom "file://$svg?s=$search" > "$tmp/dom" || { cat "$tmp/chromium.err"; exit 1; }
  grep -q 'data-ready="1"' "$tmp/dom" || { echo "FAIL: $name: the page's script did not run"; exit 1; }
  grep -qE 'data-matched="[1-9][0-9]*"' "$tmp/dom" ||
    { echo "FAIL: $name: the search for $search matched nothing"; exit 1; }
  browse --dump-dom "file://$svg?z=$zoom" > "$tmp/zdom"
  python3 - "$tmp/zdom" "$zoom" <<'PY' || { echo "FAIL: $name: zoom"; exit 1; }
import re, sys
dom, want = open(sys.argv[1]).read(), sys.argv[2]
for g in re.findall(r'<g class="f[^"]*"[^>]*>.*?</g>', dom, re.S):
    t = re.search(r"<title>(.*?)</title>", g, re.S).group(1)
    if re.match(want, t):
        w = float(re.search(r'<rect [^>]*width="([\d.]+)"', g).group(1))
        assert abs(w - 1180) < 0.5, "zoomed frame %s is %g px wide" % (t, w)
        break
else:
    raise SystemExit("no frame %s" % want)
PY
  browse --screenshot="$out/flamegraph-$name.png" "file://$svg?s=$search" --window-size=1200,"$h" > /dev/null
  browse --screenshot="$out/flamegraph-$name-zoom.png" "file://$svg?z=$zoom" --window-size=1200,"$h" > /dev/null
  echo "ok: $name: script ran, search '$search' and zoom '$zoom' work; $out/flamegraph-$name.png"
}

check demo demo_pool pthread_mutex_lock pool_worker
check split rec_split slow_update worker_main
