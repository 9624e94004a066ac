#!/usr/bin/env python3
"""Checks a JSON report of a symtest dump against symtest.cc's MARK: lines.

    check_golden.py REPORT.json SYMTEST_SOURCE PER_KIND [--addr2line]

For every thread of each kind (plain, inline, method, deep, noreturn), the
first frames that belong to symtest.cc must name the expected functions, at
the lines of the markers, with the inlined function flagged as inlined. Also:
return addresses are looked up at address - 1, the PC frame at the address,
and glibc's start_thread is named with its source file (libc6-dbg, found by
build-id). --addr2line: binutils addr2line names an inlined function after its
caller, so function names of inlined frames are not compared.
"""
import json
import re
import sys


def markers(source):
    lines = {}
    with open(source) as f:
        for n, line in enumerate(f, 1):
            m = re.search(r"MARK:(\w+)$", line.rstrip())
            if m:
                lines[m.group(1)] = n
    return lines


def main():
    report_path, source, per_kind = sys.argv[1], sys.argv[2], int(sys.argv[3])
    addr2line = "--addr2line" in sys.argv
    L = markers(source)
    # A static function in an anonymous namespace has no linkage name in DWARF:
    # eu-addr2line names it by its DW_AT_name.
    thread_main = ("(anonymous namespace)::run_kind(long)", "run_kind")
    expect = {
        "plain": [("plain_wait", L["plain_wait"], False), (thread_main, None, False)],
        "inline": [("inlined_wait", L["inlined_wait"], True),
                   ("inline_caller", L["inline_caller"], False), (thread_main, None, False)],
        "method": [("symtest::Pool::run_method(int)", L["run_method"], False),
                   (thread_main, None, False)],
        "deep": [("plain_wait", L["plain_wait"], False), ("recurse_wait", L["recurse"], False),
                 ("recurse_wait", L["recurse"], False), ("recurse_wait", L["recurse"], False)],
        "noreturn": [("wait_forever", L["wait_forever"], False),
                     ("noreturn_caller", L["noreturn_caller"], False),
                     (thread_main, None, False)],
    }
    with open(report_path) as f:
        doc = json.load(f)
    threads = doc["dumps"][0]["threads"]
    errors = []
    seen = {k: 0 for k in expect}
    for t in threads:
        frames = t["frames"]
        for i, fr in enumerate(frames):
            addr, lookup = int(fr["address"], 16), int(fr["lookup"], 16)
            pc = i == 0 and t["via"] in ("signal", "start")
            if fr["pc"] != pc or lookup != (addr if pc else addr - 1):
                errors.append("thread %d frame %d: pc=%s lookup=%s address=%s"
                              % (t["tid"], i, fr["pc"], fr["lookup"], fr["address"]))
        kind = t["name"]
        if kind not in expect:
            continue
        seen[kind] += 1
        flat = [(s["function"], s["file"] or "", s["line"], s["inlined"])
                for fr in frames for s in fr["symbols"]]
        first = next((i for i, s in enumerate(flat) if s[1].endswith("symtest.cc")), None)
        if first is None:
            errors.append("thread %d (%s): no frame in symtest.cc: %r" % (t["tid"], kind, flat))
            continue
        got = flat[first:first + len(expect[kind])]
        for (func, line, inlined), g in zip(expect[kind], got):
            names = func if isinstance(func, tuple) else (func,)
            if not (addr2line and inlined) and g[0] not in names:
                errors.append("thread %d (%s): expected %s, got %r" % (t["tid"], kind, func, g))
            if line is not None and (g[2] != line or not g[1].endswith("symtest.cc")):
                errors.append("thread %d (%s): %s expected at symtest.cc:%d, got %r"
                              % (t["tid"], kind, func, line, g))
            if g[3] != inlined:
                errors.append("thread %d (%s): %s inlined should be %s: %r"
                              % (t["tid"], kind, func, inlined, g))
        if len(got) < len(expect[kind]):
            errors.append("thread %d (%s): too few frames: %r" % (t["tid"], kind, got))
        if not any(s[0] == "start_thread" and "pthread_create.c" in s[1] for s in flat):
            errors.append("thread %d (%s): no start_thread at pthread_create.c (libc6-dbg): %r"
                          % (t["tid"], kind, flat[-3:]))
    for kind, n in seen.items():
        if n != per_kind:
            errors.append("%d threads of kind %s, expected %d" % (n, kind, per_kind))
    if errors:
        print("\n".join(errors[:30]))
        sys.exit(1)
    print("golden: %d threads match symtest.cc's markers" % sum(seen.values()))


if __name__ == "__main__":
    main()
