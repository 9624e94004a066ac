"""Shared helpers of bench/driver: logging, statistics, environments, the
machine's description. Standard library only."""
import datetime
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time

T_START = time.monotonic()


def log(*a):
    print(f"[{time.monotonic() - T_START:6.1f}s] bench:", *a, file=sys.stderr, flush=True)


# --- statistics ------------------------------------------------------------------


def pct(v, p):
    """Nearest-rank percentile of a list (p in 0..100)."""
    if not v:
        return float("nan")
    s = sorted(v)
    return s[min(len(s) - 1, max(0, math.ceil(p / 100 * len(s)) - 1))]


def med(v):
    return statistics.median(v) if v else float("nan")


def co_corrected(samples, period):
    """Round trips as a pinger that starts one every `period` us would see
    them: a trip of length L also delays the L/period trips that should have
    started meanwhile (HdrHistogram's coordinated-omission correction)."""
    out = list(samples)
    if period <= 0:
        return out
    for v in samples:
        k = v - period
        while k > 0:
            out.append(k)
            k -= period
    return out


def fmt_us(v):
    if v != v:  # nan
        return "n/a"
    if v >= 1e6:
        return f"{v / 1e6:.2f} s"
    if v >= 1e4:
        return f"{v / 1e3:.0f} ms"
    if v >= 1e3:
        return f"{v / 1e3:.1f} ms"
    if v >= 100:
        return f"{v:.0f} us"
    return f"{v:.1f} us"


def ratio(a, b):
    if not b or b != b or a != a:
        return "n/a"
    r = a / b
    return f"{r:.2f}x" if r < 100 else f"{r:.0f}x"


def lib_env(ctx, mode, dumpdir):
    env = dict(os.environ)
    env.update(LD_PRELOAD=ctx.lib, THREADSNAP_MODE=mode, THREADSNAP_DIR=dumpdir,
               THREADSNAP_QUIET="1")
    return env


def plain_env():
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    return env


def gbench(argv, env):
    p = subprocess.run(argv + ["--benchmark_format=json"], capture_output=True, text=True, env=env)
    if p.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed: {p.stderr[-2000:]}")
    return json.loads(p.stdout)["benchmarks"]


# --- machine ---------------------------------------------------------------------------------------


def machine():
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    hv = ""
    try:
        hv = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        hv = next((l.split(":", 1)[1].strip() for l in hv.splitlines() if l.startswith("Hypervisor vendor")), "")
    except OSError:
        pass
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            mem = f"{int(f.readline().split()[1]) / 1024 / 1024:.0f} GiB"
    except (OSError, ValueError):
        pass

    def ver(argv):
        try:
            return subprocess.run(argv, capture_output=True, text=True).stdout.splitlines()[0]
        except (OSError, IndexError):
            return "missing"
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--",
                                "preload", "shim", "unwind"], capture_output=True, text=True).stdout.strip()
        commit += " (library sources modified in the work tree)" if dirty else ""
    except OSError:
        commit = "unknown"
    return dict(nproc=os.cpu_count(), model=model, hypervisor=hv, mem=mem, kernel=platform.release(),
                glibc=platform.libc_ver()[1], gdb=ver(["gdb", "--version"]),
                eustack=ver(["eu-stack", "--version"]), commit=commit)


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


# Sections of RESULTS.md that another command writes (`make record-bench`,
# `make fork-bench`), each between "<!-- NAME:begin -->" and
# "<!-- NAME:end -->": the driver rewrites the file and keeps them.
def section_markers(name):
    return f"<!-- {name}:begin -->", f"<!-- {name}:end -->"


def read_section(path, name):
    """The section NAME of the file at path, markers included, or ""."""
    begin, end = section_markers(name)
    try:
        text = open(path).read()
    except OSError:
        return ""
    if begin not in text or end not in text.split(begin, 1)[1]:
        return ""
    return begin + text.split(begin, 1)[1].split(end, 1)[0] + end + "\n"


def splice_section(path, name, section):
    """Puts section (markers added where it has none) in place of the file's
    section NAME, or at its end."""
    begin, end = section_markers(name)
    section = section.strip("\n")
    if not section.startswith(begin):
        section = f"{begin}\n{section}\n{end}"
    section += "\n"
    try:
        text = open(path).read()
    except OSError:
        text = ""
    if begin in text and end in text.split(begin, 1)[1]:
        a, rest = text.split(begin, 1)
        b = rest.split(end, 1)[1].lstrip("\n")
        text = a + section + ("\n" + b if b else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    with open(path, "w") as f:
        f.write(text)


if __name__ == "__main__":
    # bench/bench_common.py splice NAME FILE < section
    if len(sys.argv) != 4 or sys.argv[1] != "splice":
        sys.exit("usage: bench/bench_common.py splice NAME FILE < section")
    text = sys.stdin.read()
    if not text.strip():
        sys.exit("bench_common: empty section, FILE left as it was")
    splice_section(sys.argv[3], sys.argv[2], text)
