"""The wait-for graph of a snapshot: who waits for whom, deadlocks, pile-ups.

A blocked thread whose dump line carries `owner=TID` waits for that thread:
the holder of the mutex, the writer holding the rwlock, or the thread it
joins. That is an edge waiter -> owner. `owner=0` means unknown (glibc clears
the owner field for an instant right after acquisition): no edge. Each thread
blocks in one call, so it has at most one outgoing edge, and every cycle is a
deadlock (a thread relocking a mutex it holds is a cycle of one).

Threads of different processes (merged reports) never share an edge: nodes are
(pid, tid). Standard library only.
"""

_SLEEP_CALLS = ("nanosleep", "clock_nanosleep", "usleep", "sleep", "pause", "sigsuspend",
                "sigwait", "sigwaitinfo", "sigtimedwait")
_FD_CALLS = ("read", "readv", "pread", "pread64", "recv", "recvfrom", "recvmsg", "recvmmsg",
             "accept", "accept4", "connect", "write", "writev", "send", "sendto", "sendmsg",
             "poll", "ppoll", "select", "pselect", "epoll_wait", "epoll_pwait", "epoll_pwait2",
             "wait", "waitpid", "waitid", "flock", "fcntl", "lockf", "msgrcv", "msgsnd",
             "open", "openat", "fsync", "fdatasync")


# The kinds the library writes (`kind=`, from the kind column of its table of
# wrapped calls, base/calls.def): mutex rwlock condvar thread barrier semaphore
# fd sleep signal child exec futex.


def thread_wait_kind(t):
    """What blocked thread t waits on: the dump's `kind=`, or, in dumps from
    before that key, wait_kind()'s guess from the call's name."""
    kind = t.extra.get("kind") if t.extra else None
    return kind or wait_kind(t.call)


def wait_kind(call):
    """For dumps without `kind=` only: a guess from the call's name. What a
    blocking call waits on: mutex, rwlock, condvar, thread, semaphore, barrier,
    futex, fd, sleep, or object."""
    if not call:
        return None
    c = call
    if "rwlock" in c:
        return "rwlock"
    if "mutex" in c or c.startswith("mtx_"):
        return "mutex"
    if c.startswith("pthread_cond") or c.startswith("cnd_"):
        return "condvar"
    if "join" in c or c.startswith("thrd_join"):
        return "thread"
    if c.startswith("sem_"):
        return "semaphore"
    if "barrier" in c:
        return "barrier"
    if "spin" in c:
        return "spinlock"
    if "futex" in c or c == "syscall":
        return "futex"
    if c in _SLEEP_CALLS:
        return "sleep"
    if c in _FD_CALLS or c.endswith("64") and c[:-2] in _FD_CALLS:
        return "fd"
    return "object"


LOCK_KINDS = ("mutex", "rwlock", "spinlock")


NO_FD = (None, -1, (1 << 64) - 1, (1 << 32) - 1)
_POLL_CALLS = ("poll", "ppoll", "select", "pselect", "pselect6", "epoll_wait", "epoll_pwait",
               "epoll_pwait2")


def obj_text(kind, obj):
    if obj is None:
        return ""
    if kind == "fd":
        if obj in NO_FD or obj < 0:
            return ""
        return "fd %d" % obj
    if kind == "child":  # waitpid's pid; wait() and waitpid(-1, ...): any child
        return "child %d" % obj if 0 < obj < (1 << 31) else ""
    return "0x%x" % obj


def thread_ref(pid, tid, threads_by_key, with_pid=False):
    """'thread 4250 "worker-2"', or 'thread 4250 (not in this snapshot)'."""
    t = threads_by_key.get((pid, tid))
    pre = "thread %d" % tid if not with_pid else "thread %d/%d" % (pid, tid)
    if t is None:
        return pre + " (not in this snapshot)"
    return pre + (' "%s"' % t.name if t.name else "")


class WaitGraph:
    def __init__(self, threads):
        self.threads = threads
        self.by_key = {(t.pid, t.tid): t for t in threads}
        self.multi_pid = len({t.pid for t in threads}) > 1
        self.edges = []          # (waiter Thread, owner tid, kind)
        self.next = {}           # (pid, tid) -> (pid, owner)
        self.holds = {}          # (pid, tid) -> [(kind, obj)]
        for t in threads:
            if t.state != "blocked" or not t.owner:
                continue
            kind = thread_wait_kind(t)
            self.edges.append((t, t.owner, kind))
            self.next[(t.pid, t.tid)] = (t.pid, t.owner)
            held = self.holds.setdefault((t.pid, t.owner), [])
            if kind != "thread" and (kind, t.obj) not in held:
                held.append((kind, t.obj))
        self.cycles = self._find_cycles()
        in_cycle = {k for c in self.cycles for k in c}
        self.behind = {}         # cycle index -> [Thread] waiting (transitively) on it
        cycle_of = {k: i for i, c in enumerate(self.cycles) for k in c}
        for key in self.next:
            if key in in_cycle:
                continue
            seen = set()
            cur = key
            while cur in self.next and cur not in seen and cur not in in_cycle:
                seen.add(cur)
                cur = self.next[cur]
            if cur in in_cycle:
                self.behind.setdefault(cycle_of[cur], []).append(self.by_key[key])
        self.pileups = self._find_pileups()

    def _find_cycles(self):
        """Every cycle once, each rotated to start at its smallest (pid, tid)."""
        state = {}
        cycles = []
        for start in sorted(self.next):
            if start in state:
                continue
            path, pos = [], {}
            cur = start
            while cur in self.next and cur in self.by_key and cur not in state:
                state[cur] = "open"
                pos[cur] = len(path)
                path.append(cur)
                cur = self.next[cur]
            if cur in pos and state.get(cur) == "open" and cur in self.by_key:
                cyc = path[pos[cur]:]
                i = cyc.index(min(cyc))
                cycles.append(cyc[i:] + cyc[:i])
            for k in path:
                state[k] = "done"
        cycles.sort(key=lambda c: (-len(c), c[0]))
        return cycles

    def _find_pileups(self):
        groups = {}
        for t in self.threads:
            kind = thread_wait_kind(t)
            if t.state != "blocked" or kind not in LOCK_KINDS or t.obj is None:
                continue
            groups.setdefault((t.pid, kind, t.obj), []).append(t)
        piles = []
        for (pid, kind, obj), waiters in groups.items():
            if len(waiters) < 2:
                continue
            owners = {}
            for w in waiters:
                if w.owner:
                    owners[w.owner] = owners.get(w.owner, 0) + 1
            owner = max(owners, key=lambda o: (owners[o], -o)) if owners else None
            piles.append({"pid": pid, "kind": kind, "obj": obj, "owner": owner,
                          "waiters": sorted(waiters, key=lambda w: w.tid)})
        piles.sort(key=lambda p: (-len(p["waiters"]), p["pid"], p["obj"]))
        return piles

    def ref(self, pid, tid):
        return thread_ref(pid, tid, self.by_key, self.multi_pid)

    def describe_wait(self, t):
        """What a blocked thread waits for, in words; None for a running one."""
        if t.state != "blocked":
            return None
        kind = thread_wait_kind(t)
        obj = obj_text(kind, t.obj)
        owner = self.ref(t.pid, t.owner) if t.owner else None
        if kind == "mutex":
            s = "waiting for mutex %s" % obj
            return s + (" held by " + owner if owner else "")
        if kind == "rwlock":
            s = "waiting for rwlock %s" % obj
            return s + (" held for writing by " + owner if owner else "")
        if kind == "thread":
            return "waiting for %s to exit" % (owner or "a thread")
        if kind == "condvar":
            s = "waiting on condvar %s" % obj
            if t.mutex is not None:
                s += " with mutex 0x%x" % t.mutex
            return s + (" (signalled by %s)" % owner if owner else "")
        if kind in ("sleep", "signal"):
            return "sleeping in %s" % t.call
        if kind == "child":
            return "waiting for %s in %s" % (obj or "a child", t.call)
        if kind == "fd" and obj:
            return "waiting on %s in %s" % (obj, t.call)
        if kind == "fd" and t.call in _POLL_CALLS:
            return "sleeping in %s" % t.call   # no fd: poll(NULL, 0, ms) and the like
        if kind in ("semaphore", "barrier", "futex", "spinlock"):
            s = "waiting on %s %s" % (kind, obj)
            return s + (" held by " + owner if owner else "")
        s = "blocked in %s" % t.call
        if obj:
            s += " on " + obj
        return s + (" (waiting for %s)" % owner if owner else "")

    def held_text(self, t):
        held = self.holds.get((t.pid, t.tid), [])
        if not held:
            return None
        return ", ".join("%s %s" % (k, obj_text(k, o)) for k, o in held)

    def to_json(self, frames_json):
        def tref(t):
            return {"pid": t.pid, "tid": t.tid}
        edges = [{"pid": t.pid, "from": t.tid, "to": owner, "kind": kind, "call": t.call,
                  "obj": None if t.obj is None else "0x%x" % t.obj,
                  "to_known": (t.pid, owner) in self.by_key}
                 for t, owner, kind in self.edges]
        cycles = []
        for i, cyc in enumerate(self.cycles):
            members = []
            for key in cyc:
                t = self.by_key[key]
                members.append({
                    "pid": t.pid, "tid": t.tid, "name": t.name, "call": t.call,
                    "waits_for": {"kind": thread_wait_kind(t),
                                  "obj": None if t.obj is None else "0x%x" % t.obj,
                                  "owner": t.owner},
                    "holds": [{"kind": k, "obj": None if o is None else "0x%x" % o}
                              for k, o in self.holds.get(key, [])],
                    "frames": frames_json(t)})
            cycles.append({"threads": members,
                           "behind": [tref(t) for t in self.behind.get(i, [])]})
        piles = [{"pid": p["pid"], "kind": p["kind"], "obj": "0x%x" % p["obj"],
                  "owner": p["owner"], "count": len(p["waiters"]),
                  "waiters": [tref(w) for w in p["waiters"]]} for p in self.pileups]
        return {"edges": edges, "cycles": cycles, "pileups": piles}


def lock_table(threads, frames_json):
    """The lock table of one snapshot (or merged ones), in the shape of
    `threadsnap record`'s json "locks": per lock (process, object), the
    threads waiting for it, the thread-seconds they had waited so far (their
    blocked_ns), the condvar waits that use it as their mutex, and the
    owners' stacks; most expensive first. Owners: a waiter's owner= thread."""
    by_key = {(t.pid, t.tid): t for t in threads}
    locks = {}

    def entry(pid, obj):
        e = locks.get((pid, obj))
        if e is None:
            e = locks[(pid, obj)] = {"pid": pid, "obj": "0x%x" % obj, "kind": None,
                                     "wait_samples": 0, "wait_ns": 0, "waiters": 0,
                                     "cond_wait_ns": 0, "cond_waiters": 0,
                                     "owner_unknown_samples": 0, "owners": {}}
        return e
    for t in threads:
        if t.state != "blocked" or not t.call:
            continue
        kind = thread_wait_kind(t)
        if kind in LOCK_KINDS and t.obj is not None:
            e = entry(t.pid, t.obj)
            e["kind"] = e["kind"] or kind
            e["wait_samples"] += 1
            e["waiters"] += 1
            e["wait_ns"] += t.blocked_ns or 0
            o = by_key.get((t.pid, t.owner)) if t.owner else None
            if o is None:
                e["owner_unknown_samples"] += 1
            else:
                e["owners"][o.tid] = e["owners"].get(o.tid, 0) + 1
        elif kind == "condvar" and t.mutex is not None:
            e = entry(t.pid, t.mutex)
            e["cond_waiters"] += 1
            e["cond_wait_ns"] += t.blocked_ns or 0
    out = []
    for e in sorted(locks.values(), key=lambda e: (-e["wait_ns"], -e["waiters"], e["obj"])):
        owners = []
        for tid, n in sorted(e["owners"].items(), key=lambda kv: (-kv[1], kv[0])):
            o = by_key[(e["pid"], tid)]
            owners.append({"samples": n, "share": n / e["wait_samples"], "tid": tid,
                           "name": o.name, "state": o.state, "call": o.call,
                           "frames": frames_json(o)})
        e["kind"] = e["kind"] or "condvar mutex"
        e["wait_thread_seconds"] = e.pop("wait_ns") / 1e9
        e["cond_wait_thread_seconds"] = e.pop("cond_wait_ns") / 1e9
        e["owners"] = owners
        out.append(e)
    return out
