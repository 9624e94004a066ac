#!/usr/bin/env python3
"""threadsnap's offline half: `symbolize` and `report` (called by scripts/threadsnap).

    threadsnap_report.py symbolize [--symbolizer S] [--debug-dir D] [-o OUT] DUMP
    threadsnap_report.py report [--format text|threads|folded|json] [--merge]
                                [--symbolizer S] [--debug-dir D] [-o OUT] DUMP...

`report` groups threads with identical stacks (most threads first), reports
every deadlock of the wait-for graph first, then lock pile-ups, then the
groups. Formats: text (default), threads (one entry per thread, like Go's
debug=2), folded (one line per stack and its count, for flame graph tools),
json (everything; shape in scripts/report.schema.json).

Errors: a dump that is truncated, corrupt or of an unknown version exits 1
with 'threadsnap: error: FILE:LINE: why'; bad options exit 2 with usage.
Standard library only.
"""

import argparse
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from threadsnap_dumpfile import DumpError, parse  # noqa: E402
from threadsnap_symbolize import DEFAULT_DEBUG_DIRS, resolve_modules, symbolize, write_dump  # noqa: E402,E501
from threadsnap_waitfor import WaitGraph, lock_table, obj_text, thread_wait_kind  # noqa: E402

FORMATS = ("text", "threads", "folded", "json")
MAX_NAMED = 8          # threads named per group in text output
SYMBOLIZERS = ("auto", "llvm-symbolizer", "eu-addr2line", "addr2line", "none")


# --- words ------------------------------------------------------------------------

def duration(ns):
    """812 ms, 2.1 s, 3 min, 1.5 h."""
    if ns is None:
        return "?"
    if ns < 1000:
        return "%d ns" % ns
    if ns < 1000000:
        return "%d us" % (ns // 1000)
    if ns < 1000000000:
        return "%d ms" % (ns // 1000000)
    s = ns / 1e9
    if s < 60:
        return ("%.1f s" % s) if s < 10 else ("%d s" % s)
    if s < 3600:
        return "%d min" % (s // 60)
    return "%.1f h" % (s / 3600)


def name_of(t, with_pid=False):
    who = "%d/%d" % (t.pid, t.tid) if with_pid else "%d" % t.tid
    return '%s "%s"' % (who, t.name) if t.name else who


def doing(t):
    """A thread's state in one word: its blocking call, running, or no answer."""
    if t.via == "timeout":
        return "no answer (timeout)"
    if t.state == "blocked":
        return t.call or "blocked"
    if t.via == "start":
        return "not started yet"
    return t.state or "running"


def summary(threads):
    """'[pthread_cond_wait, blocked 2.1 s .. 3 min]' for a group's threads."""
    kinds = {}
    for t in threads:
        kinds.setdefault(doing(t), []).append(t)
    parts = []
    for what, ts in sorted(kinds.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        times = sorted(t.blocked_ns for t in ts if t.state == "blocked" and t.blocked_ns is not None)
        text = what
        if len(kinds) > 1:
            text += " x%d" % len(ts)
        if times:
            lo, hi = duration(times[0]), duration(times[-1])
            text += ", blocked " + (lo if lo == hi else "%s .. %s" % (lo, hi))
        parts.append(text)
    return "[%s]" % "; ".join(parts)


def frame_entries(fr):
    """(function or None, location or None, module+offset, inlined) per symbol."""
    mod = fr.module_offset()
    if not fr.symbols:
        return [(None, None, mod, False)]
    return [(s.function, s.location(), mod, s.inlined) for s in fr.symbols]


def frame_lines(t, indent="      "):
    lines = []
    n = 0
    for fr in t.frames:
        for func, loc, mod, inlined in frame_entries(fr):
            if func is None and loc is None:
                text = mod
            else:
                text = func or "??"
                if loc:
                    text += " at " + loc
                text += " (inlined)" if inlined else " [%s]" % mod
            lines.append("%s#%d %s" % (indent, n, text))
            n += 1
    if not t.frames:
        lines.append(indent + "(no frames)")
    return lines


# --- grouping ---------------------------------------------------------------------

class Group:
    def __init__(self, key, threads):
        self.key = key
        self.threads = threads
        self.id = 0

    @property
    def first(self):
        return self.threads[0]


def group_threads(threads):
    """Groups of threads with identical stacks, most threads first (ties: lowest tid)."""
    groups = {}
    for t in threads:
        key = tuple(fr.key() for fr in t.frames)
        groups.setdefault(key, []).append(t)
    out = [Group(k, sorted(ts, key=lambda t: (t.pid, t.tid))) for k, ts in groups.items()]
    out.sort(key=lambda g: (-len(g.threads), g.first.pid, g.first.tid))
    for i, g in enumerate(out):
        g.id = i + 1
        for t in g.threads:
            t.group = i + 1
    return out


# --- text ---------------------------------------------------------------------------

def utc(ns):
    if ns is None:
        return "?"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ns // 1000000000)) + \
        ".%03d UTC" % (ns // 1000000 % 1000)


def process_text(d):
    """'pid 4242 (parent 4200), exe /usr/bin/postgres' and the title line, if any."""
    head = "pid %d%s, exe %s" % (d.pid, " (parent %d)" % d.ppid if d.ppid is not None else "",
                                 d.exe or "?")
    return head, ('  title "%s"' % d.title) if d.title else None


def header_lines(dumps):
    out = []
    if len(dumps) > 1:
        out.append("threadsnap report: %d dumps merged, %d threads"
                   % (len(dumps), sum(len(d.threads) for d in dumps)))
    for d in dumps:
        head, title = process_text(d)
        out.append("%s%s" % ("threadsnap report: " if len(dumps) == 1 else "  ", head))
        if title:
            out.append(title)
        out.append("  %d threads, taken %s, mode %s" % (len(d.threads), utc(d.time_ns),
                                                       d.mode or "?"))
        out.append("  stop1 %s, sweep %s, stop2 %s" % (duration(d.stop1_ns), duration(d.sweep_ns),
                                                      duration(d.stop2_ns)))
        out.append("  dump %s%s" % (d.path, " (symbolized with %s)" % d.symbolizer
                                    if d.symbolizer else " (not symbolized)"))
    return out


def render_text(dumps, threads, groups, graph):
    multi = len(dumps) > 1
    out = header_lines(dumps)
    for i, cyc in enumerate(graph.cycles):
        out.append("")
        pid = cyc[0][0]
        out.append("DEADLOCK: %s%s" % (
            "%d threads wait for each other" % len(cyc) if len(cyc) > 1
            else "1 thread waits for itself", " (pid %d)" % pid if multi else ""))
        for key in cyc:
            t = graph.by_key[key]
            held = graph.held_text(t)
            out.append("  thread %s %s%s [%s, blocked %s]" % (
                name_of(t, multi), "holds %s, " % held if held else "",
                graph.describe_wait(t), t.call, duration(t.blocked_ns)))
            out += frame_lines(t)
        behind = graph.behind.get(i, [])
        if behind:
            out.append("  %d more %s behind this deadlock: %s" % (
                len(behind), "threads wait" if len(behind) > 1 else "thread waits",
                named_list(behind, multi)))
    for p in graph.pileups:
        out.append("")
        n = len(p["waiters"])
        owner = " held by " + graph.ref(p["pid"], p["owner"]) if p["owner"] else ""
        out.append("PILE-UP: %d threads waiting for %s %s%s" % (n, p["kind"],
                                                             obj_text(p["kind"], p["obj"]), owner))
        out.append("  " + named_list(p["waiters"], multi))
    for g in groups:
        out.append("")
        n = len(g.threads)
        procs = len({t.pid for t in g.threads})
        out.append("%d thread%s%s %s" % (n, "s" if n > 1 else "",
                                        " in %d processes" % procs if procs > 1 else "",
                                        summary(g.threads)))
        out.append("  " + named_list(g.threads, multi))
        waits = {}
        for t in g.threads:
            w = graph.describe_wait(t)
            if w:
                waits.setdefault(w, []).append(t)
        for w, ts in sorted(waits.items(), key=lambda kv: (-len(kv[1]), kv[0]))[:MAX_NAMED]:
            if len(ts) == 1:
                out.append("  thread %s: %s" % (name_of(ts[0], multi), w))
            else:
                out.append("  %d threads: %s" % (len(ts), w))
        if len(waits) > MAX_NAMED:
            out.append("  ... and %d other waits" % (len(waits) - MAX_NAMED))
        out += frame_lines(g.first)
    return "\n".join(out) + "\n"


MAX_TIDS = 6           # tids listed for threads of one name before "... and N more"


def _qname(name):
    if not name:
        return "without a name"
    if re.match(r"[\w.:@/+#-]+\Z", name):
        return "named " + name
    return 'named "%s"' % name


def _tids(threads, multi):
    shown = ", ".join(("%d/%d" % (t.pid, t.tid)) if multi else "%d" % t.tid
                      for t in threads[:MAX_TIDS])
    if len(threads) > MAX_TIDS:
        shown += ", ... and %d more" % (len(threads) - MAX_TIDS)
    return shown


def named_list(threads, multi=False):
    """'thread: 4 "a"', 'threads: 1 "a", 2 "b"', '24 threads named mariadbd: 1, 2, ...'
    (threads that share a name are counted under it, their tids folded)."""
    if len(threads) == 1:
        return "thread: " + name_of(threads[0], multi)
    by_name = {}
    for t in threads:
        by_name.setdefault(t.name, []).append(t)
    if len(by_name) == len(threads) and "" not in by_name:
        shown = ", ".join(name_of(t, multi) for t in threads[:MAX_NAMED])
        if len(threads) > MAX_NAMED:
            shown += ", ... and %d more" % (len(threads) - MAX_NAMED)
        return "threads: " + shown
    if len(by_name) == 1:
        name, ts = next(iter(by_name.items()))
        return "%d threads %s: %s" % (len(ts), _qname(name), _tids(ts, multi))
    parts = []
    order = sorted(by_name.items(), key=lambda kv: (-len(kv[1]), kv[1][0].pid, kv[1][0].tid))
    for name, ts in order[:MAX_NAMED]:
        if len(ts) == 1:
            parts.append(name_of(ts[0], multi))
        else:
            parts.append("%d %s (%s)" % (len(ts), _qname(name), _tids(ts, multi)))
    rest = sum(len(ts) for _, ts in order[MAX_NAMED:])
    if rest:
        parts.append("... and %d more" % rest)
    return "threads: " + ", ".join(parts)


# --- threads (Go debug=2 style) -----------------------------------------------------

def call_text(func):
    """'f(...)' for a bare name, the name as it is when it has its parameters."""
    return func if "(" in func else func + "(...)"


def render_threads(dumps, threads, groups, graph):
    multi = len(dumps) > 1
    out = []
    for d in dumps:
        head, title = process_text(d)
        out.append("# %s%s, %d threads, taken %s" % (head, ", title \"%s\"" % d.title if title else "",
                                                   len(d.threads), utc(d.time_ns)))
    for t in sorted(threads, key=lambda t: (t.pid, t.tid)):
        out.append("")
        what = doing(t)
        if t.state == "blocked":
            kind = thread_wait_kind(t)
            wait = graph.describe_wait(t)
            if t.owner and wait:
                what += ", %s, %s" % (duration(t.blocked_ns), wait)
            else:
                obj = obj_text(kind, t.obj)
                if obj and kind not in ("sleep", "signal"):
                    what += " on " + obj
                elif kind == "fd" and wait and wait.startswith("sleeping in "):
                    what = wait   # poll with no fd: a sleep
                what += ", " + duration(t.blocked_ns)
                if t.mutex is not None:
                    what += ", mutex 0x%x" % t.mutex
        held = graph.held_text(t)
        if held:
            what += ", holds " + held
        who = "%d" % t.tid if not multi else "%d of pid %d" % (t.tid, t.pid)
        out.append('thread %s "%s" [%s]:' % (who, t.name, what))
        for fr in t.frames:
            for func, loc, mod, inlined in frame_entries(fr):
                # An unresolved frame is its module+offset, once; a name that
                # already has its parameters ("f(int)") gets no "(...)".
                out.append(call_text(func) if func else "??")
                out.append("\t%s%s" % (loc + " " if loc else "",
                                       "(inlined)" if inlined else mod))
        if not t.frames:
            out.append("(no frames)")
    return "\n".join(out) + "\n"


# --- folded -------------------------------------------------------------------------

def folded_stack(t):
    """Outermost first, inlined functions as their own frames; ';' never in a name."""
    names = []
    for fr in reversed(t.frames):
        for func, loc, mod, inlined in reversed(frame_entries(fr)):
            names.append((func or mod).replace(";", ":").replace("\n", " "))
    if t.state == "blocked" and t.call:
        names.append("[%s]" % t.call)
    elif t.via == "timeout":
        names.append("[no answer]")
    return ";".join(names) or "[no frames]"


def render_folded(dumps, threads, groups, graph):
    counts = {}
    for t in threads:
        s = folded_stack(t)
        counts[s] = counts.get(s, 0) + 1
    lines = ["%s %d" % (s, n) for s, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    return "\n".join(lines) + ("\n" if lines else "")


# --- json ---------------------------------------------------------------------------

def hexs(v):
    return None if v is None or v < 0 else "0x%x" % v   # obj=-1: no object


_frame_json_cache = {}  # id(Frame) -> (Frame, its JSON); the Frame is kept so its id stays its own


def frame_json(fr):
    """The JSON of one frame; cached, since threads share Frame objects."""
    hit = _frame_json_cache.get(id(fr))
    if hit is not None:
        return hit[1]
    doc = {
        "address": hexs(fr.address),
        "pc": fr.is_pc,
        "lookup": hexs(fr.lookup),
        "module": fr.module.path if fr.module is not None else None,
        "offset": hexs(fr.vaddr),
        "symbols": [{"function": s.function, "file": s.file, "line": s.line,
                     "column": s.column, "inlined": s.inlined} for s in fr.symbols],
    }
    _frame_json_cache[id(fr)] = (fr, doc)
    return doc


def frames_json(t):
    return [frame_json(fr) for fr in t.frames]


def render_json(dumps, threads, groups, graph):
    doc = {"format": "threadsnap-report", "version": 1, "dumps": [], "groups": [],
           "wait_for": graph.to_json(frames_json), "locks": lock_table(threads, frames_json)}
    for d in dumps:
        doc["dumps"].append({
            "path": d.path, "pid": d.pid, "exe": d.exe, "title": d.title, "ppid": d.ppid,
            "time_ns": d.time_ns, "mode": d.mode,
            "stop1_ns": d.stop1_ns, "sweep_ns": d.sweep_ns, "stop2_ns": d.stop2_ns,
            "thread_count": len(d.threads), "symbolizer": d.symbolizer,
            "modules": [{"start": hexs(m.start), "end": hexs(m.end), "offset": hexs(m.offset),
                         "path": m.path, "build_id": m.build_id, "bias": hexs(m.bias)}
                        for m in d.modules],
            "threads": [{
                "pid": t.pid, "tid": t.tid, "name": t.name, "state": t.state, "call": t.call,
                "obj": hexs(t.obj), "blocked_ns": t.blocked_ns, "via": t.via,
                "owner": t.owner, "mutex": hexs(t.mutex), "group": t.group,
                "waiting_for": graph.describe_wait(t),
                "extra": dict(t.extra),
                "frames": frames_json(t)} for t in d.threads],
        })
    for g in groups:
        doc["groups"].append({
            "id": g.id, "count": len(g.threads), "summary": summary(g.threads),
            "threads": [{"pid": t.pid, "tid": t.tid} for t in g.threads],
            "frames": frames_json(g.first)})
    return json.dumps(doc, indent=None, separators=(",", ":")) + "\n"


RENDER = {"text": render_text, "threads": render_threads, "folded": render_folded,
          "json": render_json}


def report(dumps, fmt):
    threads = [t for d in dumps for t in d.threads]
    groups = group_threads(threads)
    graph = WaitGraph(threads)
    return RENDER[fmt](dumps, threads, groups, graph)


# --- command line ---------------------------------------------------------------------

class Usage(argparse.ArgumentParser):
    def error(self, message):
        self.print_usage(sys.stderr)
        sys.stderr.write("threadsnap: error: %s\n" % message)
        sys.exit(2)


def load(paths):
    dumps = []
    for p in paths:
        dumps.append(parse(p))
    return dumps


def main(argv=None):
    ap = Usage(prog="threadsnap", description="symbolize and report threadsnap dumps")
    sub = ap.add_subparsers(dest="cmd", required=True, parser_class=Usage)
    common = Usage(add_help=False)
    common.add_argument("--symbolizer", default=os.environ.get("THREADSNAP_SYMBOLIZER", "auto"),
                        choices=SYMBOLIZERS,
                        help="which symbolizer to run (default: the first one installed)")
    common.add_argument("--debug-dir", action="append", metavar="DIR",
                        help="where .build-id/xx/yyyy.debug files live (default /usr/lib/debug;"
                             " repeatable)")
    common.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
    s = sub.add_parser("symbolize", parents=[common], prog="threadsnap symbolize",
                       help="annotate every frame with function, file:line, inlines, module")
    s.add_argument("dump", metavar="DUMP")
    r = sub.add_parser("report", parents=[common], prog="threadsnap report",
                       help="group, explain and print dumps")
    r.add_argument("--format", "-f", default="text", choices=FORMATS)
    r.add_argument("--merge", action="store_true", help="one report for all dumps together")
    r.add_argument("--also-merge", action="store_true", help=argparse.SUPPRESS)
    r.add_argument("dumps", nargs="+", metavar="DUMP")
    args = ap.parse_args(argv)
    debug_dirs = tuple(args.debug_dir) if args.debug_dir else None
    if args.cmd == "symbolize":
        return run_symbolize(args.dump, args.symbolizer, debug_dirs, args.output)
    return run_report(args.dumps, args.format, args.merge, args.also_merge, args.symbolizer,
                      debug_dirs, output=args.output)


def _open_output(path):
    if not path:
        return sys.stdout
    try:
        return open(path, "w")
    except OSError as e:
        sys.stderr.write("threadsnap: error: cannot write %s: %s\n" % (path, e.strerror))
        return None


def _with_output(output, work):
    """Runs work(out) on the output (a path, or stdout when None) and closes
    it; the exit status: work's, 1 for a bad dump or an unwritable output, 0
    when the reader went away (a closed pipe)."""
    out = _open_output(output)
    if out is None:
        return 1
    try:
        return work(out)
    except DumpError as e:
        sys.stderr.write("threadsnap: error: %s\n" % e)
        return 1
    except BrokenPipeError:
        sys.stderr.close()
        return 0
    finally:
        if out is not sys.stdout:
            out.close()


def run_symbolize(path, symbolizer="auto", debug_dirs=None, output=None):
    def work(out):
        dump = parse(path)
        symbolize([dump], symbolizer, debug_dirs or DEFAULT_DEBUG_DIRS)
        write_dump(dump, out)
        return 0
    return _with_output(output, work)


def run_report(paths, fmt="text", merge=False, also_merge=False, symbolizer="auto",
               debug_dirs=None, meta=None, output=None):
    """Reports the dumps at `paths` (each alone, then merged if also_merge).
    meta: {path: {"title": .., "ppid": ..}} read from the live process by
    `threadsnap dump`, used where the dump itself has no such header key."""
    debug_dirs = debug_dirs or DEFAULT_DEBUG_DIRS
    if symbolizer not in SYMBOLIZERS:
        sys.stderr.write("threadsnap: error: --symbolizer must be one of %s\n"
                         % ", ".join(SYMBOLIZERS))
        return 2
    def work(out):
        dumps = load(paths)
        for d in dumps:
            m = (meta or {}).get(d.path) or {}
            if d.title is None and m.get("title"):
                d.title = m["title"]
            if d.ppid is None and m.get("ppid") is not None:
                d.ppid = m["ppid"]
        if symbolizer == "none":
            for d in dumps:
                resolve_modules(d, debug_dirs)
        else:
            symbolize(dumps, symbolizer, debug_dirs)
        if merge:
            out.write(report(dumps, fmt))
            return 0
        for i, d in enumerate(dumps):
            if i and fmt in ("text", "threads"):
                out.write("\n" + "=" * 78 + "\n\n")
            out.write(report([d], fmt))
        if also_merge and len(dumps) > 1:
            if fmt in ("text", "threads"):
                out.write("\n" + "=" * 78 + "\nMERGED\n\n")
            out.write(report(dumps, fmt))
        return 0
    return _with_output(output, work)


if __name__ == "__main__":
    sys.exit(main())
