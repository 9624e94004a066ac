"""A wall-clock profile built from a series of threadsnap dumps (`threadsnap record`).

Aggregation happens as dumps arrive, so that a recording costs memory per
distinct stack, not per sample, and each dump file can be deleted as soon as
it is read (a 10,000-thread host sampled 20 times a second writes megabytes
a second). Each thread of each dump is one thread-sample that weighs one
sampling interval; samples are keyed by (raw stack, thread name, state, call,
lock) and counted. Frames stay raw addresses until the end, when every
distinct frame is symbolized once (threadsnap_symbolize, as `report` does).

Lock table: a thread blocked in a lock call (mutex, rwlock, spinlock) on
object O whose dump line names owner=T waited for O while T held it; T's
stack in the same dump is the owner's stack at that moment. Condition
variable waits are counted under their mutex (`cond_wait`), apart from lock
waits: a condvar wait is not time lost to the lock.

Standard library only. Not thread-safe.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from threadsnap_dumpfile import PC_FIRST_VIA, Dump, DumpError, Frame, _parse_module, decode  # noqa: E402,E501
from threadsnap_waitfor import LOCK_KINDS, wait_kind  # noqa: E402

_LOCK_CALL = {}    # call -> whether it is a lock wait (cached wait_kind)


def is_lock_call(call):
    hit = _LOCK_CALL.get(call)
    if hit is None:
        hit = _LOCK_CALL[call] = wait_kind(call) in LOCK_KINDS
    return hit


class LockStats:
    """What one lock cost: waits (thread-samples), waiters, owners' stacks."""
    __slots__ = ("obj", "kind", "waits", "cond_waits", "waiters", "cond_waiters", "owners",
                 "no_owner")

    def __init__(self, obj):
        self.obj = obj
        self.kind = None
        self.waits = 0          # thread-samples blocked acquiring it
        self.cond_waits = 0     # thread-samples in a condvar wait with it as the mutex
        self.waiters = set()    # tids
        self.cond_waiters = set()
        self.owners = {}        # (stack id, name, state, call) of the owner -> waiter-samples
        self.no_owner = 0       # waiter-samples whose owner was not known (owner=0 / absent)


class Aggregate:
    """Thread-samples of many dumps of one process, by stack, name and state."""

    def __init__(self, period_ns):
        self.period_ns = period_ns
        self.pid = None
        self.exe = None
        self.samples = 0             # dumps taken in
        self.first_ns = self.last_ns = None
        self.stack_ids = {}          # (frames text, first frame is a PC) -> id
        self.stack_list = []         # id -> (frames text, first is PC)
        self.counts = {}             # (stack id, name, state, call, lock obj) -> thread-samples
        self.tids = set()
        self.max_threads = 0
        self.module_lines = {}       # module line -> Module
        self.locks = {}              # obj -> LockStats
        self.stop_ns = []            # stop1 + stop2 of each dump (the pause)

    def _stack(self, text, pc):
        key = (text, pc)
        sid = self.stack_ids.get(key)
        if sid is None:
            sid = self.stack_ids[key] = len(self.stack_list)
            self.stack_list.append(key)
        return sid

    def add_dump(self, path, text):
        """Takes in one whole dump (its text). DumpError if it is not one."""
        if not text.startswith("threadsnap 1\n") or not text.endswith("\nend\n"):
            raise DumpError(path, 0, "not a whole threadsnap v1 dump")
        head, sep, body = text.partition("\nthread ")
        declared = None
        stops = 0
        for line in head.split("\n")[1:]:
            key, _, value = line.partition(" ")
            if key == "module":
                if line not in self.module_lines:
                    self.module_lines[line] = _parse_module(path, 0, line.split()[1:])
            elif key == "pid" and self.pid is None:
                self.pid = int(value)
            elif key == "exe" and self.exe is None:
                self.exe = decode(value)
            elif key == "threads":
                declared = int(value)
            elif key == "time_ns":
                t = int(value)
                self.first_ns = t if self.first_ns is None else self.first_ns
                self.last_ns = t
            elif key in ("stop1_ns", "stop2_ns"):
                stops += int(value)
        chunks = body[:-4].split("\nthread ") if sep else []   # [:-4]: the "end\n"
        if declared is not None and declared != len(chunks):
            raise DumpError(path, 0, "header says 'threads %d' but %d thread records follow"
                            % (declared, len(chunks)))
        self.samples += 1
        self.stop_ns.append(stops)
        self.max_threads = max(self.max_threads, len(chunks))
        by_tid = {}
        waits = []
        counts = self.counts
        for chunk in chunks:
            nl = chunk.find("\n")
            if nl < 0:
                nl = len(chunk)
            f = {}
            for kv in chunk[:nl].split():
                k, _, v = kv.partition("=")
                f[k] = v
            via = f.get("via")
            sid = self._stack(chunk[nl + 1:], via in PC_FIRST_VIA)
            name = decode(f.get("name", ""))
            state = f.get("state", "running")
            call = f.get("call") if state == "blocked" else None
            if via == "timeout":
                state, call = "no answer", None
            tid = int(f["tid"])
            self.tids.add(tid)
            by_tid[tid] = (sid, name, state, call)
            lock = None
            if call is not None:
                if is_lock_call(call):
                    lock = f.get("obj")
                    waits.append((lock, tid, f.get("owner")))
                elif "mutex" in f and wait_kind(call) == "condvar":
                    st = self._lock(f["mutex"])
                    st.cond_waits += 1
                    st.cond_waiters.add(tid)
            key = (sid, name, state, call, lock)
            counts[key] = counts.get(key, 0) + 1
        for obj, tid, owner in waits:
            st = self._lock(obj)
            st.kind = st.kind or wait_kind(by_tid[tid][3])
            st.waits += 1
            st.waiters.add(tid)
            o = by_tid.get(int(owner)) if owner and owner.isdigit() else None
            if o is None:
                st.no_owner += 1
            else:
                st.owners[o] = st.owners.get(o, 0) + 1

    def _lock(self, obj):
        st = self.locks.get(obj)
        if st is None:
            st = self.locks[obj] = LockStats(obj)
        return st

    # --- after the recording ------------------------------------------------------

    def frames(self, symbolizer="auto", debug_dirs=None):
        """Symbolizes every distinct frame once; returns [id -> [Frame]], innermost first."""
        from threadsnap_symbolize import DEFAULT_DEBUG_DIRS, resolve_modules, symbolize
        dump = Dump("<recording>")
        dump.pid, dump.exe = self.pid, self.exe
        # The union of the mappings seen; a range mapped by two files over
        # the recording (dlclose, then dlopen) keeps the first one.
        last_end = 0
        for m in sorted(self.module_lines.values(), key=lambda m: m.start):
            if m.start >= last_end:
                dump.modules.append(m)
                last_end = m.end
        interned = {}
        stacks = []
        for text, pc in self.stack_list:
            frames = []
            for word in text.split():
                if word[:2] != "0x":
                    continue
                is_pc = pc and not frames
                a = int(word, 16)
                fr = interned.get((a, is_pc))
                if fr is None:
                    fr = interned[(a, is_pc)] = Frame(a, is_pc)
                    dump.unique_frames.append(fr)
                frames.append(fr)
            stacks.append(frames)
        dirs = debug_dirs or DEFAULT_DEBUG_DIRS
        if symbolizer == "none":
            resolve_modules(dump, dirs)
            self.symbolizer = None
        else:
            self.symbolizer = symbolize([dump], symbolizer, dirs)
        self.modules = dump.modules
        return stacks
