"""What `threadsnap record` writes from an Aggregate: text, json and folded.

text: the split by state and by thread name, the lock table (per lock: the
thread-seconds waited for it, its distinct waiters, the stacks of its owners
at the moments others waited; most expensive first), then the top stacks by
wall time. json: the same, complete (no top-N cut). folded: one
`frame;frame;...;[call] COUNT` line per stack (outermost first, the state
as the leaf for a blocked thread), COUNT in thread-samples (one sample is
1/hz seconds), for flamegraph.pl, speedscope or inferno.

Standard library only.
"""

import json
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from threadsnap_dumpfile import Thread  # noqa: E402
from threadsnap_report import folded_stack, frame_lines, frames_json  # noqa: E402
from threadsnap_waitfor import obj_text, wait_kind  # noqa: E402

TOP_STACKS = 20
TOP_LOCKS = 10
TOP_OWNERS = 3


class Entry:
    """One stack in one state, the thread names that were in it, its weight."""

    def __init__(self, thread, count):
        self.thread = thread          # a dumpfile.Thread carrying frames, state, call
        self.count = count
        self.names = {}               # thread name -> thread-samples
        self.lock = None


def _thread(frames, name, state, call):
    t = Thread()
    t.frames, t.name, t.call = frames, name, call
    t.state = "blocked" if call else state
    t.via = "timeout" if state == "no answer" else None
    return t


class Profile:
    """An Aggregate with its frames symbolized, in the shapes the outputs need."""

    def __init__(self, agg, stacks, info):
        self.agg = agg
        self.stacks = stacks
        self.info = info              # hz, wall_ns, lost, command...
        self.period_ns = agg.period_ns
        self.total = sum(agg.counts.values())
        merged = {}
        for (sid, name, state, call, lock), n in agg.counts.items():
            key = (sid, state, call, lock)
            e = merged.get(key)
            if e is None:
                e = merged[key] = Entry(_thread(stacks[sid], name, state, call), 0)
                e.lock = lock
            e.count += n
            e.names[name] = e.names.get(name, 0) + n
        self.entries = sorted(merged.values(), key=lambda e: (-e.count, folded_stack(e.thread)))
        self.locks = sorted(agg.locks.values(),
                            key=lambda s: (-s.waits, -s.cond_waits, s.obj))

    def secs(self, n):
        return n * self.period_ns / 1e9

    def by(self, what):
        """[(state or name, thread-samples)], largest first."""
        out = {}
        for (sid, name, state, call, lock), n in self.agg.counts.items():
            k = name if what == "name" else (call or state)
            out[k] = out.get(k, 0) + n
        return sorted(out.items(), key=lambda kv: (-kv[1], kv[0]))

    def owner_thread(self, key):
        sid, name, state, call = key
        return _thread(self.stacks[sid], name, state, call)


def _rank(v, q):
    """Nearest-rank quantile q (0..1) of a sorted list."""
    return v[min(len(v) - 1, max(0, math.ceil(q * len(v)) - 1))] if v else None


def timings(p):
    """Pause (stop1+stop2) and trigger-to-file latency quantiles, in ns."""
    pause = sorted(p.agg.stop_ns)
    lat = sorted(int(x * 1e9) for x in p.info.get("latency_s", ()))
    if not pause:
        return None
    return {"pause_p50_ns": _rank(pause, 0.5), "pause_p99_ns": _rank(pause, 0.99),
            "pause_max_ns": pause[-1], "latency_p50_ns": _rank(lat, 0.5),
            "latency_max_ns": lat[-1] if lat else None}


def _us(ns):
    if ns is None:
        return "?"
    if ns < 1000000:
        return "%d us" % (ns // 1000)
    return "%.1f ms" % (ns / 1e6) if ns < 10000000 else "%d ms" % (ns // 1000000)


def _pct(n, total):
    return 100.0 * n / total if total else 0.0


def _names_text(names):
    parts = ['"%s"' % n if n else "(no name)" for n, _ in
             sorted(names.items(), key=lambda kv: (-kv[1], kv[0]))[:4]]
    if len(names) > 4:
        parts.append("+%d more" % (len(names) - 4))
    return ", ".join(parts)


def lock_title(st):
    kind = st.kind or "mutex"
    return "%s %s" % (kind, obj_text(kind, int(st.obj, 16) if st.obj.startswith("0x")
                                     else int(st.obj)))


def render_text(p):
    a, info = p.agg, p.info
    out = ["threadsnap record: pid %s, exe %s" % (a.pid, a.exe or "?"),
           "  %d samples at %g Hz over %.1f s (%d ticks lost), up to %d threads"
           % (a.samples, info["hz"], info["wall_ns"] / 1e9, info["lost"], a.max_threads),
           "  each thread-sample weighs %g ms; %.1f thread-seconds in all; %s"
           % (p.period_ns / 1e6, p.secs(p.total),
              "symbolized with %s" % a.symbolizer if a.symbolizer else "not symbolized")]
    t = timings(p)
    if t:
        out.append("  pause per snapshot (stop1+stop2) p50 %s, p99 %s, max %s; trigger to dump "
                   "file p50 %s, max %s" % (_us(t["pause_p50_ns"]), _us(t["pause_p99_ns"]),
                                            _us(t["pause_max_ns"]), _us(t["latency_p50_ns"]),
                                            _us(t["latency_max_ns"])))
    if info.get("ended"):
        out.append("  ended: %s" % info["ended"])
    out.append("")
    out.append("Wall time by state (share of all thread-seconds):")
    for k, n in p.by("state"):
        out.append("  %6.1f%%  %8.2f s  %s" % (_pct(n, p.total), p.secs(n), k))
    out.append("")
    out.append("Wall time by thread name:")
    for k, n in p.by("name")[:TOP_STACKS]:
        out.append("  %6.1f%%  %8.2f s  %s" % (_pct(n, p.total), p.secs(n), k or "(no name)"))
    out.append("")
    locks = [s for s in p.locks if s.waits]
    out.append("Locks (thread-seconds waited for each, most expensive first):" if locks
               else "Locks: no thread was seen waiting for a lock.")
    for i, st in enumerate(locks[:TOP_LOCKS]):
        out.append("  %d. %s: %.2f thread-s waited (%.1f%% of all), %d distinct waiter%s%s"
                   % (i + 1, lock_title(st), p.secs(st.waits), _pct(st.waits, p.total),
                      len(st.waiters), "" if len(st.waiters) == 1 else "s",
                      ", also %.2f thread-s of condvar waits on it" % p.secs(st.cond_waits)
                      if st.cond_waits else ""))
        owners = sorted(st.owners.items(), key=lambda kv: -kv[1])
        if not owners:
            out.append("     owner never known (glibc had not yet recorded it)")
        for key, n in owners[:TOP_OWNERS]:
            t = p.owner_thread(key)
            out.append('     %5.1f%% of its waits: held by "%s" [%s]'
                       % (_pct(n, st.waits), t.name, t.call or key[2]))
            out += frame_lines(t, indent="         ")
        rest = sum(n for _, n in owners[TOP_OWNERS:]) + st.no_owner
        if rest and owners:
            out.append("     %5.1f%% of its waits: other owners or owner unknown"
                       % _pct(rest, st.waits))
    if len(locks) > TOP_LOCKS:
        out.append("  ... and %d more locks (--format json has them all)" % (len(locks) - TOP_LOCKS))
    out.append("")
    out.append("Top stacks by wall time:")
    for i, e in enumerate(p.entries[:TOP_STACKS]):
        t = e.thread
        what = t.call or ("no answer" if t.via == "timeout" else "running")
        out.append("  %d. %.2f thread-s (%.1f%%) [%s%s] in %s"
                   % (i + 1, p.secs(e.count), _pct(e.count, p.total), what,
                      " " + lock_title(p.agg.locks[e.lock]) if e.lock in p.agg.locks else "",
                      _names_text(e.names)))
        out += frame_lines(t, indent="      ")
    if len(p.entries) > TOP_STACKS:
        out.append("  ... and %d more stacks (--format json or folded has them all)"
                   % (len(p.entries) - TOP_STACKS))
    return "\n".join(out) + "\n"


def profile_json(p):
    """The whole profile as a JSON-ready dict (also `report`'s "locks" shape)."""
    a, info = p.agg, p.info
    doc = {"format": "threadsnap-record", "version": 1, "pid": a.pid, "exe": a.exe,
           "hz": info["hz"], "samples": a.samples, "wall_ns": info["wall_ns"],
           "lost_ticks": info["lost"], "record_dumps": a.rec_samples,
           "sample_weight_ns": p.period_ns,
           "thread_seconds": p.secs(p.total), "max_threads": a.max_threads, "symbolizer": a.symbolizer,
           "ended": info.get("ended"), "timings": timings(p),
           "states": [{"state": k, "thread_seconds": p.secs(n), "share": n / p.total}
                      for k, n in p.by("state")],
           "names": [{"name": k, "thread_seconds": p.secs(n), "share": n / p.total}
                     for k, n in p.by("name")],
           "locks": locks_json(p),
           "stacks": []}
    for e in p.entries:
        t = e.thread
        doc["stacks"].append({
            "thread_seconds": p.secs(e.count), "samples": e.count, "share": e.count / p.total,
            "state": "blocked" if t.call else ("no answer" if t.via == "timeout" else "running"),
            "call": t.call, "lock": e.lock,
            "names": [{"name": k, "samples": n} for k, n in
                      sorted(e.names.items(), key=lambda kv: (-kv[1], kv[0]))],
            "frames": frames_json(t)})
    return doc


def locks_json(p):
    out = []
    for st in p.locks:
        owners = sorted(st.owners.items(), key=lambda kv: -kv[1])
        out.append({
            "pid": p.agg.pid, "obj": st.obj, "kind": st.kind or ("mutex" if st.waits else "condvar mutex"),
            "wait_thread_seconds": p.secs(st.waits), "wait_samples": st.waits,
            "share": st.waits / p.total if p.total else 0.0,
            "waiters": len(st.waiters),
            "cond_wait_thread_seconds": p.secs(st.cond_waits), "cond_waiters": len(st.cond_waiters),
            "owner_unknown_samples": st.no_owner,
            "owners": [{"samples": n, "thread_seconds": p.secs(n), "share": n / st.waits,
                        "name": key[1], "state": key[2], "call": key[3],
                        "frames": frames_json(p.owner_thread(key))} for key, n in owners]})
    return out


def render_json(p):
    return json.dumps(profile_json(p), separators=(",", ":")) + "\n"


def folded_lines(p):
    """[(folded stack, thread-samples)], heaviest first."""
    acc = {}
    for e in p.entries:
        s = folded_stack(e.thread)
        acc[s] = acc.get(s, 0) + e.count
    return sorted(acc.items(), key=lambda kv: (-kv[1], kv[0]))


def render_folded(p):
    return "".join("%s %d\n" % (s, n) for s, n in folded_lines(p))


def state_class(call):
    """The colour class of a state: running, lock, condvar, io, sleep, other."""
    if not call:
        return "running"
    k = wait_kind(call)
    if k in ("mutex", "rwlock", "spinlock"):
        return "lock"
    if k in ("condvar", "semaphore", "barrier", "futex"):
        return "condvar"
    if k == "fd":
        return "io"
    if k in ("sleep", "thread"):
        return "sleep"
    return "other"
