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
import re
import sys
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from threadsnap_dumpfile import PC_FIRST_VIA, Dump, DumpError, Frame, _parse_module, decode  # noqa: E402,E501
from threadsnap_waitfor import LOCK_KINDS, wait_kind  # noqa: E402

_LOCK_CALL = {}    # call -> whether it is a lock wait (cached wait_kind)


def is_lock_call(call):
    hit = _LOCK_CALL.get(call)
    if hit is None:
        hit = _LOCK_CALL[call] = wait_kind(call) in LOCK_KINDS
    return hit


_BLOCKED_NS = re.compile(r" blocked_ns=\d+")
_THREAD_TID = re.compile(r"\nthread tid=(\d+) ")


class BaseMismatch(Exception):
    """A record dump relative to a dump this aggregate did not take in as
    its last record dump (preload/writer.h): ask for a whole one."""


def _parse_rest(path, rest):
    """(name, state, call, first frame is a PC, lock obj, kind, condvar's mutex,
    owner tid) of a thread line without its tid and blocked_ns; kind is
    "lock" or "cond" for the waits the lock table counts, else None."""
    f = {}
    for kv in rest.split():
        k, sep, v = kv.partition("=")
        if not sep:
            raise DumpError(path, 0, "thread field %r is not key=value" % kv)
        f[k] = v
    via = f.get("via")
    state = f.get("state", "running")
    call = f.get("call") if state == "blocked" else None
    if via == "timeout":
        state, call = "no answer", None
    lock = kind = mutex = owner = None
    if call is not None:
        if is_lock_call(call):
            lock, kind = f.get("obj"), "lock"
            o = f.get("owner")
            owner = o if o and o.isdigit() and o != "0" else None
        elif "mutex" in f and wait_kind(call) == "condvar":
            kind, mutex = "cond", f["mutex"]
    return (decode(f.get("name", "")), state, call, via in PC_FIRST_VIA, lock, kind, mutex, owner)


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
        self.owners = {}        # the owner's (line, frames), after finish() its
                                # (stack id, name, state, call) -> waiter-samples
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
        self.raw = {}                # thread record less tid and blocked_ns -> [samples, _split]
        self.rests = {}              # that line -> its fields (_parse_rest)
        self._waiting = set()        # (tid, line) of every thread seen in a lock or condvar wait
        self.counts = {}             # after finish(): (stack id, name, state, call, lock) -> samples
        self.max_threads = 0
        self.module_lines = {}       # module line -> Module
        self.locks = {}              # obj -> LockStats
        self.stop_ns = []            # stop1 + stop2 of each dump (the pause)
        self.rec_samples = 0         # dumps taken in that were record dumps
        self.rec_seq = 0             # the last record dump taken in (its SEQ)...
        self.rec_last = {}           # ...and its records by tid

    def _stack(self, text, pc):
        key = (text, pc)
        sid = self.stack_ids.get(key)
        if sid is None:
            sid = self.stack_ids[key] = len(self.stack_list)
            self.stack_list.append(key)
        return sid

    def add_dump(self, path, text, token=None, seq=0):
        """Takes in one whole dump (its text). DumpError if it is not one.
        token: that of the recorder, for a record dump (.rec, SEQ seq):
        threads listed in its `same` line are as in the record dump before
        it (record_base), which must be the last one taken in here, else
        BaseMismatch (and nothing is counted).

        The fast path (a 1,000-thread dump is 330 KB, 20 of them a second)
        has no Python code per thread: blocked_ns, the one field that differs
        between threads in the same place besides the tid, is cut out by one
        re.sub; re.split cuts the records from their tids; Counter counts
        equal ones. Python code runs per distinct record (a line is parsed
        once per distinct text, in _parse_rest)."""
        if not text.startswith("threadsnap 1\n") or not text.endswith("\nend\n"):
            raise DumpError(path, 0, "not a whole threadsnap v1 dump")
        same = []
        if token is not None:
            last = text.rfind("\n", 0, len(text) - 5)
            if text.startswith("same ", last + 1):
                same = text[last + 6:len(text) - 5].split(",")
                text = text[:last] + "\nend\n"
        head, sep, body = text.partition("\nthread tid=")
        declared = None
        stops = 0
        rec_token = rec_base = None
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
            elif key == "record_token":
                rec_token = int(value)
            elif key == "record_base":
                rec_base = int(value)
        body = _BLOCKED_NS.sub("", body[:-5]) if sep else ""   # [:-5]: the "\nend\n"
        # Each thread's record less its "thread tid=N " (re.split, C code):
        # equal for threads in the same place, so Counter (C code) counts them.
        parts = _THREAD_TID.split("\nthread tid=" + body) if sep else [""]
        tids, records = parts[1::2], parts[2::2]
        # Threads written out in this dump: the others (`same`) are as in the
        # last record dump, where their (tid, line) waits were counted.
        changed = len(records)
        if token is not None:
            if rec_token != token or rec_base is None:
                raise DumpError(path, 0, "not a record dump of this recording")
            if rec_base and rec_base != self.rec_seq or not rec_base and same:
                raise BaseMismatch("%s: relative to dump %d, the last taken in is %d"
                                   % (path, rec_base, self.rec_seq))
            try:
                records += map(self.rec_last.__getitem__, same)
            except KeyError:
                raise BaseMismatch("%s: a thread listed as the same was not in dump %d"
                                   % (path, rec_base)) from None
            tids += same
        if declared is not None and declared != len(records):
            raise DumpError(path, 0, "header says 'threads %d' but %d thread records follow"
                            % (declared, len(records)))
        if token is not None:
            self.rec_last = dict(zip(tids, records))
            self.rec_seq = seq
            self.rec_samples += 1
        self.samples += 1
        self.stop_ns.append(stops)
        self.max_threads = max(self.max_threads, len(records))
        per = Counter(records)
        raw = self.raw
        special = None
        for key, n in per.items():
            r = raw.get(key)
            if r is None:
                r = raw[key] = [0, self._split(path, key)]
            r[0] += n
            if r[1][2][5]:
                special = special or {}
                special[key] = (r[1], n)
        if special:
            by_tid = self.rec_last if token is not None else dict(zip(tids, records))
            self._add_waits(tids[:changed], records[:changed], by_tid, special)

    def _split(self, path, key):
        """(line less tid, frames, parsed line) of a record less its tid."""
        nl = key.find("\n")
        rest, frames = (key, "") if nl < 0 else (key[:nl], key[nl + 1:])
        r = self.rests.get(rest)
        if r is None:
            r = self.rests[rest] = _parse_rest(path, rest)
        return rest, frames, r

    def _add_waits(self, tids, records, by_tid, special):
        """Lock and condvar waits of one dump (special: {record: ((line,
        frames, fields), count in this dump)}; tids and records: its threads
        whose (tid, line) pair may be new; by_tid: all its records by tid,
        for the owners' stacks)."""
        self._waiting.update((tid, special[rec][0][0]) for tid, rec in zip(tids, records)
                             if rec in special)     # {(tid, line)}: distinct waiters, at finish()
        for (rest, frames, r), n in special.values():
            name, state, call, pc, lock, kind, cond_mutex, owner = r
            if kind == "cond":
                st = self._lock(cond_mutex)
                st.cond_waits += n
                continue
            st = self._lock(lock)
            st.kind = st.kind or wait_kind(call)
            st.waits += n
            o = None
            if owner is not None:
                rec = by_tid.get(owner)
                if rec is not None:
                    line, _, frames_text = rec.partition("\n")
                    o = (line, frames_text)
            if o is None:
                st.no_owner += n
            else:
                st.owners[o] = st.owners.get(o, 0) + n

    def finish(self):
        """Turns the raw counts into (stack id, name, state, call, lock) counts,
        the owners' keys into (stack id, name, state, call), and the waiting
        (tid, line) pairs into each lock's distinct waiters."""
        for tid, rest in self._waiting:
            r = self.rests[rest]
            if r[5] == "cond":
                self._lock(r[6]).cond_waiters.add(tid)
            else:
                self._lock(r[4]).waiters.add(tid)
        self._waiting = set()
        self.counts = {}
        for n, (rest, frames, r) in self.raw.values():
            k = self._key(rest, frames)
            self.counts[k] = self.counts.get(k, 0) + n
        for st in self.locks.values():
            owners = {}
            for (rest, frames), n in st.owners.items():
                k = self._key(rest, frames)[:4]
                owners[k] = owners.get(k, 0) + n
            st.owners = owners

    def _key(self, rest, frames):
        name, state, call, pc, lock = self.rests[rest][:5]
        return (self._stack(frames, pc), name, state, call, lock)

    def _lock(self, obj):
        st = self.locks.get(obj)
        if st is None:
            st = self.locks[obj] = LockStats(obj)
        return st

    # --- after the recording ------------------------------------------------------

    def frames(self, symbolizer="auto", debug_dirs=None):
        """Symbolizes every distinct frame once; returns [id -> [Frame]], innermost first."""
        self.finish()
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
