#!/usr/bin/env bash
# Soak with a real server under real load (`make soak`, not `make test`):
# Debian's memcached with 4 worker threads under the library, loaded by
# Debian's memaslap (memcaslap in libmemcached-tools) for REL_MEMCACHED_SECONDS
# (default 60) with a dump every 100 ms. Passes if:
#   - memaslap reports no errors (verify_failed 0, no error lines),
#   - its throughput is within 5% of the same load on the same server under
#     the library without dumps: blocks of REL_MEMCACHED_BLOCK (3) s with and
#     without dumps, interleaved off/on/on/off/..., each adjacent off/on pair
#     gives one ratio, and the median ratio must be >= 0.95 (other jobs on a
#     shared machine swing the throughput by 2-4x over seconds; a pair shares
#     its background, and the median ignores the pairs a burst split),
#   - every dump is whole and lists the 4 workers (the kernel's mc-worker
#     threads) and memcached answers afterwards.
# memcached and memaslap share this machine's cores, so each is pinned to its
# own half of them when there are at least 2.
source "$(dirname "$0")/../scripts/lib.sh"
source "$TOP/tests/reliability/lib.sh"
need_lib
SECS=${REL_MEMCACHED_SECONDS:-60}
command -v memcached > /dev/null || fail "memcached not installed (make deps)"
SLAP=$(command -v memaslap || command -v memcaslap || true)
[ -n "$SLAP" ] || fail "memaslap/memcaslap not installed (libmemcached-tools; make deps)"

ncpu=$(nproc)
server_cpus=0-$(( ncpu / 2 - 1 )); client_cpus=$(( ncpu / 2 ))-$(( ncpu - 1 ))
[ "$ncpu" -ge 2 ] || { server_cpus=0; client_cpus=0; }
D=$TMP/d
mkdir -p "$D"
port=$(free_port)
LD_PRELOAD="$LIB" THREADSNAP_DIR="$D" THREADSNAP_QUIET=1 \
  taskset -c "$server_cpus" memcached -t 4 -p "$port" -l 127.0.0.1 -U 0 -u "$(id -un)" -c 4096 \
  > "$TMP/mc.out" 2> "$TMP/mc.err" &
mc=$!
started "$mc"
wait_memcached "$port"
grep -q libthreadsnap "/proc/$mc/maps" || fail "memcached runs without the library"
workers=$(grep -lx mc-worker /proc/"$mc"/task/*/comm | cut -d/ -f5 | sort -n | tr '\n' ' ')
[ "$(echo $workers | wc -w)" = 4 ] || fail "expected 4 mc-worker threads, got: $workers"

# load NAME SECONDS: one memaslap run; prints its TPS, fails on any error.
load() {
  local out=$TMP/slap.$1
  taskset -c "$client_cpus" timeout $(( $2 + 60 )) "$SLAP" -s "127.0.0.1:$port" -T 2 -c 64 \
    -t "${2}s" -v 0.01 > "$out" 2>&1 || fail "memaslap ($1) failed: $(tail -n 5 "$out")"
  grep -q '^verify_failed: 0$' "$out" || fail "memaslap ($1) verification failed: $(grep verify "$out")"
  if grep -v -E '^(verify_failed|verify_misses|get_misses)' "$out" | grep -i -E 'error|fail|refused|timeout'; then
    fail "memaslap ($1) reported errors"
  fi
  local tps
  tps=$(sed -n 's/.* TPS: \([0-9]*\) .*/\1/p' "$out" | tail -n1)
  [ -n "$tps" ] && [ "$tps" -gt 0 ] || fail "no throughput from memaslap ($1): $(tail -n 3 "$out")"
  echo "$tps"
}

# Blocks of BLOCK seconds, with and without a dump every 100 ms, in the order
# off on on off off on ... (drift of a shared machine cancels out), until
# SECS seconds were run with dumps.
BLOCK=${REL_MEMCACHED_BLOCK:-3}
# memcached's CPU time so far (utime + stime of all its threads, in ticks):
# CPU per operation is much less disturbed by other jobs than throughput.
cpu_ticks() { awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$mc/stat"; }
pairs=$(( (SECS + BLOCK - 1) / BLOCK ))
load warmup 5 > /dev/null
on_sum=0 off_sum=0 series=()
for ((i = 0; i < 2 * pairs; i++)); do
  if (( (i + 1) / 2 % 2 == 1 )); then mode=on; else mode=off; fi
  if [ $mode = on ]; then
    # One process sends the trigger every 100 ms (no fork per signal).
    taskset -c "$client_cpus" python3 -c '
import os, signal, sys, time
pid, t = int(sys.argv[1]), time.monotonic()
while True:
    try:
        os.kill(pid, signal.SIGUSR2)
    except ProcessLookupError:
        sys.exit(0)
    t += 0.1
    time.sleep(max(0.0, t - time.monotonic()))' "$mc" &
    dumper=$!
    started "$dumper"
  fi
  cpu0=$(cpu_ticks)
  tps=$(load "$mode.$i" "$BLOCK")
  cpu1=$(cpu_ticks)
  if [ $mode = on ]; then
    kill "$dumper"
    wait "$dumper" 2> /dev/null || true
    on_sum=$((on_sum + tps))
  else
    off_sum=$((off_sum + tps))
  fi
  series+=("$mode:$tps:$((cpu1 - cpu0))")
  echo "block $i: $mode $tps ops/s"
done
during=$((on_sum / pairs))
base=$((off_sum / pairs))
# The last dump may still be being written: wait until the dumper has no file
# open in the dump directory (its file has no name until it is whole).
for ((i = 0; i < 250; i++)); do
  ls -l "/proc/$mc/fd" 2>/dev/null | grep -qF -- "-> $D/" || break
  sleep 0.02
done
memcached_answers "$port" || fail "memcached stopped answering"

# Every dump whole, with the 4 workers.
n=0
for f in $(rel_dumps "$D" "$mc"); do
  rel_check_dump "$D/$f"
  for w in $workers; do
    grep -q "^thread tid=$w " "$D/$f" || fail "$f does not list worker $w"
  done
  n=$((n + 1))
done
want=$(( pairs * BLOCK * 10 * 8 / 10 ))
[ "$n" -ge "$want" ] || fail "only $n dumps in $((pairs * BLOCK)) s (a dump every 100 ms should give ~$((pairs * BLOCK * 10)))"
echo "$n dumps, each whole and listing the 4 workers ($workers)"
[ -z "$(grep -v '^threadsnap: wrote' "$TMP/mc.err" | grep threadsnap)" ] ||
  fail "threadsnap complained: $(grep threadsnap "$TMP/mc.err" | head -n 5)"

python3 - "${series[@]}" << 'PY' || fail "throughput with dumps dropped by more than 5% (median of paired ratios)"
import statistics, sys
blocks = [b.split(":") for b in sys.argv[1:]]
ratios, cpu = [], []
for k in range(0, len(blocks) - 1, 2):
    pair = {m: (int(t), int(c)) for m, t, c in blocks[k:k + 2]}
    ratios.append(pair["on"][0] / pair["off"][0])
    # CPU ticks per operation, with dumps / without
    if min(pair["on"][1], pair["off"][1]) > 0:
        cpu.append((pair["on"][1] / pair["on"][0]) / (pair["off"][1] / pair["off"][0]))
def dist(v):
    v = sorted(v)
    q = lambda f: v[min(len(v) - 1, int(f * len(v)))]
    return "median %.3f, p10 %.3f, p90 %.3f" % (statistics.median(v), q(0.1), q(0.9))
on = sum(int(t) for m, t, c in blocks if m == "on")
off = sum(int(t) for m, t, c in blocks if m == "off")
med = statistics.median(ratios)
print("throughput with dumps / without, %d pairs of blocks: %s; ratio of totals %.3f"
      % (len(ratios), dist(ratios), on / off))
if cpu:
    print("memcached CPU per operation with dumps / without: %s" % dist(cpu))
sys.exit(0 if med >= 0.95 else 1)
PY
ok "memcached soak: $n dumps, throughput $during vs $base ops/s, no load errors"
