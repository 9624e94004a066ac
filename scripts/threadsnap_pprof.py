"""A threadsnap recording as a gzipped pprof profile.proto, written by hand.

The message layout is github.com/google/pprof/proto/profile.proto; only
varints (wire type 0) and length-delimited fields (wire type 2) are needed.
What `go tool pprof` sees:
- sample types threads/count and wall/nanoseconds (the default); period
  type wall/nanoseconds, period = one sampling interval;
- one sample per (stack, thread name, state, call, lock), with labels
  `thread` (the name), `state` (running, blocked, no answer), `call` (the
  wrapped call it waited in) and `lock` (the lock's address, lock waits only),
  for -tagfocus / -tagshow;
- a blocked thread's stack ends in a pseudo-frame `[CALL]` (as in folded
  output), so -top shows the time per wait directly;
- one location per distinct frame address, its lines innermost first
  (inlined functions before the function they were inlined into), the
  address being the one symbolized (return address - 1 for callers);
- one mapping per module, with its build-id, marked as symbolized so that
  pprof does not look for the binaries.

Standard library only.
"""

import gzip


def _varint(n):
    out = bytearray()
    n &= (1 << 64) - 1          # int64 values as two's complement, as protobuf does
    while True:
        b = n & 0x7f
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _key(field, wire):
    return _varint(field << 3 | wire)


def f_int(field, n):
    """A varint field; zero is the default and is left out."""
    return _key(field, 0) + _varint(n) if n else b""


def f_bytes(field, data):
    return _key(field, 2) + _varint(len(data)) + data


def f_packed(field, values):
    return f_bytes(field, b"".join(_varint(v) for v in values)) if values else b""


class Strings:
    def __init__(self):
        self.index = {"": 0}
        self.table = [""]

    def __call__(self, s):
        s = s or ""
        i = self.index.get(s)
        if i is None:
            i = self.index[s] = len(self.table)
            self.table.append(s)
        return i


def encode(p):
    """The gzipped profile.proto bytes of a threadsnap_record_out.Profile."""
    st = Strings()
    a = p.agg
    parts = []
    value_type = lambda t, u: f_int(1, st(t)) + f_int(2, st(u))  # noqa: E731
    parts.append(f_bytes(1, value_type("threads", "count")))
    parts.append(f_bytes(1, value_type("wall", "nanoseconds")))

    symbolized = bool(a.symbolizer)
    mappings = {}
    for m in a.modules:
        mid = len(mappings) + 1
        mappings[id(m)] = mid
        parts.append(f_bytes(3, f_int(1, mid) + f_int(2, m.start) + f_int(3, m.end) +
                             f_int(4, m.offset) + f_int(5, st(m.path)) +
                             f_int(6, st(m.build_id or "")) +
                             f_int(7, symbolized) + f_int(8, symbolized) +
                             f_int(9, symbolized) + f_int(10, symbolized)))

    functions = {}     # (name, system name, file) -> id
    function_parts = []

    def function_id(name, file):
        key = (name, file)
        fid = functions.get(key)
        if fid is None:
            fid = functions[key] = len(functions) + 1
            function_parts.append(f_bytes(5, f_int(1, fid) + f_int(2, st(name)) +
                                          f_int(3, st(name)) + f_int(4, st(file or ""))))
        return fid

    locations = {}     # id(Frame) or pseudo name -> location id
    location_parts = []

    def location_id(fr):
        lid = locations.get(id(fr))
        if lid is not None:
            return lid
        lid = locations[id(fr)] = len(locations) + 1
        body = f_int(1, lid)
        if fr.module is not None:
            body += f_int(2, mappings.get(id(fr.module), 0))
        body += f_int(3, fr.lookup)
        for s in fr.symbols:
            if not s.function and not s.file:
                continue
            name = s.function or "??"
            body += f_bytes(4, f_int(1, function_id(name, s.file)) + f_int(2, s.line or 0) +
                            f_int(3, s.column or 0))
        if not fr.symbols and fr.module is not None:
            # Unsymbolized: "module+0xoffset" as the function, so that pprof
            # shows something stable instead of a bare address.
            body += f_bytes(4, f_int(1, function_id(fr.module_offset(), None)))
        location_parts.append(f_bytes(4, body))
        return lid

    def pseudo_location(name):
        lid = locations.get(name)
        if lid is None:
            lid = locations[name] = len(locations) + 1
            location_parts.append(f_bytes(4, f_int(1, lid) +
                                          f_bytes(4, f_int(1, function_id(name, None)))))
        return lid

    def label(k, v):
        return f_bytes(3, f_int(1, st(k)) + f_int(2, st(v)))

    for (sid, name, state, call, lock), n in sorted(a.counts.items(), key=lambda kv: -kv[1]):
        locs = []
        if call:
            locs.append(pseudo_location("[%s]" % call))
        elif state == "no answer":
            locs.append(pseudo_location("[no answer]"))
        locs += [location_id(fr) for fr in p.stacks[sid]]
        if not locs:
            locs.append(pseudo_location("[no frames]"))
        body = f_packed(1, locs) + f_packed(2, [n, n * p.period_ns])
        body += label("thread", name or "(no name)")
        body += label("state", "blocked" if call else state)
        if call:
            body += label("call", call)
        if lock:
            body += label("lock", lock)
        parts.append(f_bytes(2, body))

    parts += location_parts
    parts += function_parts
    tail = f_int(9, a.first_ns or 0) + f_int(10, p.info["wall_ns"])
    tail += f_bytes(11, value_type("wall", "nanoseconds")) + f_int(12, p.period_ns)
    for c in ("threadsnap record: %d samples at %g Hz of pid %s (%s)"
              % (a.samples, p.info["hz"], a.pid, a.exe or "?"),
              "wall = thread-seconds in each stack, on-CPU and off-CPU; threads = thread-samples"):
        tail += f_int(13, st(c))
    tail += f_int(14, st("wall"))
    strings = b"".join(f_bytes(6, s.encode("utf-8")) for s in st.table)
    return gzip.compress(b"".join(parts) + strings + tail, compresslevel=6)
