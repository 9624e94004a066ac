"""The idle-cost benchmarks: wrapped calls with and without the library,
resident memory per idle thread, unwind cost by depth, and the report
benchmark (bench/report_bench.sh)."""
import os
import subprocess
import tempfile

from bench_common import gbench, lib_env, log, med, plain_env
from bench_scenarios import Scenario


MICRO_TIME = {  # which clock a benchmark is judged on
    "BM_MutexLockUnlock": "cpu_time", "BM_MutexTrylockUnlock": "cpu_time",
    "BM_SemPostWait": "cpu_time", "BM_ReadReadyPipe": "cpu_time",
    "BM_CondPingPong/real_time": "real_time", "BM_CondPingPongSameCpu/real_time": "real_time",
    "BM_CreateJoin/real_time": "real_time", "BM_CreateJoinSameCpu/real_time": "real_time",
    "BM_ForkExitWait/real_time": "real_time", "BM_ForkExitWaitAfterADump/real_time": "real_time",
}


def run_micro(ctx):
    """overhead_bench plain and preloaded, alternating. Per run, the best
    (lowest) of its repetitions: noise from other jobs only ever adds time.
    Then the median over runs, and the ratio library/plain per round."""
    runs = {"plain": {}, "lib": {}}
    ratios = {}
    env_lib = plain_env()
    env_lib["LD_PRELOAD"] = ctx.lib
    env_lib["THREADSNAP_QUIET"] = "1"
    argv = [ctx.overhead, f"--benchmark_repetitions={ctx.micro_reps}", "--benchmark_min_time=0.1",
            "--benchmark_enable_random_interleaving=true"]
    for r in range(ctx.micro_rounds):
        this = {}
        for cfg in (("plain", "lib") if r % 2 == 0 else ("lib", "plain")):
            per = {}
            env = plain_env() if cfg == "plain" else env_lib
            # The fork after a dump runs in a process of its own: the dump
            # would change what every later benchmark of a process measures.
            after = dict(env, THREADSNAP_BENCH_AFTER_DUMP="1")
            for b in (gbench(argv, env) +
                      gbench(argv + ["--benchmark_filter=BM_ForkExitWaitAfterADump"], after)):
                if b.get("run_type") != "iteration":
                    continue
                name = b["run_name"]
                per.setdefault(name, []).append(b[MICRO_TIME.get(name, "cpu_time")])
            for name, v in per.items():
                runs[cfg].setdefault(name, []).append(min(v))
            this[cfg] = {k: min(v) for k, v in per.items()}
        for name in this["plain"]:
            ratios.setdefault(name, []).append(this["lib"][name] / this["plain"][name])
        log(f"micro round {r + 1}/{ctx.micro_rounds} done")
    return runs, ratios


def run_rss(ctx):
    """VmRSS of 1,000 idle blocked threads (and nothing else) without the
    library, with it, and without it but with one malloc per thread (what
    a malloc in the library's thread start would cost), alternating."""
    n = 1000
    cfgs = ("plain", "lib", "plain_malloc")
    out = {k: [] for k in cfgs + ("lib_after_dump",)}
    base = {k: [] for k in cfgs}
    for r in range(ctx.rss_rounds):
        for cfg in cfgs[r % 3:] + cfgs[:r % 3]:
            with tempfile.TemporaryDirectory(prefix="threadsnap-bench.") as d:
                env = lib_env(ctx, "concurrent", d) if cfg == "lib" else plain_env()
                args = ["--blocked", str(n), "--no-aux"] + (["--touch-malloc"] if cfg == "plain_malloc" else [])
                s = Scenario(ctx.scenario, args, env)
                try:
                    rd = s.ready
                    out[cfg].append((rd["rss_kb"] - rd["rss_before_kb"]) / n)
                    base[cfg].append(rd["rss_before_kb"])
                    if cfg == "lib":
                        s.cmd("dumps 1 0")
                        out["lib_after_dump"].append((s.cmd("rss")["rss_kb"] - rd["rss_before_kb"]) / n)
                finally:
                    s.close()
    out["base_plain"], out["base_lib"] = base["plain"], base["lib"]
    return out, n


def run_unwind(ctx):
    res = {}
    for b in gbench([ctx.unwind, "--benchmark_repetitions=5", "--benchmark_min_time=0.1"], plain_env()):
        if b.get("run_type") != "iteration" or b.get("error_occurred"):
            continue
        e = res.setdefault(b["run_name"], {"ns": [], "frames": b.get("frames"), "bytes": b.get("bytes")})
        e["ns"].append(b["cpu_time"])
    return res


def run_report_bench(ctx):
    """bench/report_bench.sh: symbolize and report a real 10,000-thread dump."""
    log("report_bench.sh (symbolize + report a 10,000-thread dump)")
    env = plain_env()
    env["THREADSNAP_LIB"] = ctx.lib
    env["THREADSNAP_PROGRAMS"] = os.path.join(ctx.build, "tests", "programs")
    p = subprocess.run(["bench/report_bench.sh"], capture_output=True, text=True, env=env)
    lines = [l for l in (p.stdout + p.stderr).splitlines() if l.startswith("report_bench:")]
    return dict(rc=p.returncode, lines=lines)
