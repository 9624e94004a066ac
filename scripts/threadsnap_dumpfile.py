"""Reads threadsnap dump files (DESIGN.md, "Dump format v1") into objects.

The reader is strict about what v1 promises and lenient about what it may
grow: a missing header, an unknown version, a malformed field, a bad frame
address, a thread count that does not match, or a missing `end` line is an
error naming the file and line (DumpError); an unknown key, or an unknown line
before the first thread, is ignored.

A symbolized dump (what `threadsnap symbolize` writes) is a v1 dump whose frame
lines carry tab-separated annotations after the address:

    <indent>ADDRESS<TAB>MODULE+0xVADDR<TAB>FUNCTION<TAB>FILE:LINE[:COL][<TAB>inlined]

One address may take several lines: each line flagged `inlined` is a function
inlined into the one on the next line, which has the same address. Fields are
percent-encoded (`%`, tab, newline); `??` is unknown. A v1 reader that only
takes the first token of a frame line reads it as the raw dump.

Standard library only. Not thread-safe (plain objects, no locking needed).
"""

import re

FORMAT_VERSION = 1

# Frame lookup: a thread line with `first=pc` has a PC as its first frame (the
# interrupted PC, or the start routine); every other frame is a return address
# (look up address - 1). Dumps from before that key: the first frame of these
# captures is a PC.
PC_FIRST_VIA = ("signal", "start")


def first_is_pc(thread):
    """Whether the thread's first frame is a PC to look up as is."""
    first = thread.extra.get("first")
    if first is not None:
        return first == "pc"
    return thread.via in PC_FIRST_VIA

_HEX = re.compile(r"0x[0-9a-fA-F]+\Z")
_KEYWORD = re.compile(r"[a-z_][a-z0-9_-]*\Z")
_INT_FIELDS = ("tid", "blocked_ns", "owner")
_HEX_FIELDS = ("obj", "mutex")


class DumpError(Exception):
    """A dump that is not a whole, well-formed v1 dump. str() is 'FILE:LINE: why'."""

    def __init__(self, path, lineno, message):
        where = "%s:%d" % (path, lineno) if lineno else path
        super().__init__("%s: %s" % (where, message))
        self.path, self.lineno, self.message = path, lineno, message


def decode(text):
    """Undoes percent-encoding (%XX) of names, paths and annotation fields."""
    if "%" not in text:
        return text
    raw = bytearray()
    i = 0
    b = text.encode("utf-8")
    while i < len(b):
        if b[i] == 0x25 and i + 2 < len(b) and re.match(rb"[0-9a-fA-F]{2}", b[i + 1:i + 3]):
            raw.append(int(b[i + 1:i + 3], 16))
            i += 3
        else:
            raw.append(b[i])
            i += 1
    return raw.decode("utf-8", "replace")


def encode(text):
    """Percent-encodes what would break a line or a field: %, tab, newline, space."""
    out = []
    for ch in text:
        if ch in "% \t\n\r":
            out.append("%%%02X" % ord(ch))
        else:
            out.append(ch)
    return "".join(out)


def encode_field(text):
    """Like encode() but keeps spaces (annotation fields are tab-separated)."""
    out = []
    for ch in text:
        if ch in "%\t\n\r":
            out.append("%%%02X" % ord(ch))
        else:
            out.append(ch)
    return "".join(out)


class Module:
    __slots__ = ("start", "end", "offset", "path", "build_id", "bias", "extra")

    def __init__(self, start, end, offset, path, build_id=None, bias=None, extra=None):
        self.start, self.end, self.offset, self.path = start, end, offset, path
        self.build_id, self.bias, self.extra = build_id, bias, extra or {}

    @property
    def name(self):
        return self.path.rsplit("/", 1)[-1] if self.path else "?"


class Symbol:
    """One function at one address; several for an inline chain, innermost first."""
    __slots__ = ("function", "file", "line", "column", "inlined")

    def __init__(self, function=None, file=None, line=None, column=None, inlined=False):
        self.function, self.file, self.line = function, file, line
        self.column, self.inlined = column, inlined

    def location(self):
        if not self.file:
            return None
        return "%s:%d" % (self.file, self.line) if self.line else self.file


class Frame:
    __slots__ = ("address", "is_pc", "module", "vaddr", "symbols", "module_text")

    def __init__(self, address, is_pc=False):
        self.address = address
        self.is_pc = is_pc
        self.module = None      # Module, once resolved
        self.vaddr = None       # address - bias within the module
        self.symbols = []       # [Symbol], innermost (most inlined) first
        self.module_text = None  # "name+0xoff" as read from a symbolized dump

    @property
    def lookup(self):
        """The address a symbolizer should look up (inside the call instruction)."""
        return self.address if self.is_pc else self.address - 1

    def module_offset(self):
        if self.module is not None and self.vaddr is not None:
            return "%s+0x%x" % (self.module.name, self.vaddr)
        if self.module_text:
            return self.module_text
        return "0x%x" % self.address

    def key(self):
        """Identity across processes (ASLR-free) when the module is known."""
        if self.module is not None and self.vaddr is not None:
            return (self.module.path, self.vaddr)
        if self.module_text:
            return (self.module_text, 0)
        return ("", self.address)


class Thread:
    __slots__ = ("tid", "name", "state", "call", "obj", "blocked_ns", "via", "owner",
                 "mutex", "extra", "frames", "lineno", "pid", "group")

    def __init__(self):
        self.tid = 0
        self.name = ""
        self.state = "running"
        self.call = self.obj = self.blocked_ns = self.owner = self.mutex = None
        self.via = None
        self.extra = {}
        self.frames = []
        self.lineno = 0
        self.pid = 0
        self.group = None  # id of its stack group, set by the report


class Dump:
    def __init__(self, path):
        self.path = path
        self.version = FORMAT_VERSION
        self.pid = None
        self.exe = None
        self.time_ns = None
        self.mode = None
        self.declared_threads = None
        self.stop1_ns = self.sweep_ns = self.stop2_ns = None
        self.symbolizer = None
        self.title = None       # the process title (cmdline as the program set it)
        self.ppid = None
        self.extra = {}
        self.modules = []
        self.threads = []
        self.unique_frames = []  # every distinct Frame object of the threads, once
        self._starts = None

    def find_module(self, address):
        """The module mapping `address`, or None. Modules must not overlap."""
        import bisect
        if self._starts is None:
            self.modules.sort(key=lambda m: m.start)
            self._starts = [m.start for m in self.modules]
        i = bisect.bisect_right(self._starts, address) - 1
        if i >= 0 and address < self.modules[i].end:
            return self.modules[i]
        return None

    def thread_by_tid(self):
        return {t.tid: t for t in self.threads}


def _parse_int(path, lineno, what, text, base=10):
    try:
        if base == 16:
            if not _HEX.match(text):
                raise ValueError
            return int(text, 16)
        return int(text, 10)
    except ValueError:
        raise DumpError(path, lineno, "bad %s %r" % (what, text)) from None


def _parse_annotation(path, lineno, fields):
    """fields after the address -> (module_text, Symbol)"""
    module_text = decode(fields[0]) if fields and fields[0] not in ("", "?") else None
    function = decode(fields[1]) if len(fields) > 1 and fields[1] != "??" else None
    file = line = column = None
    if len(fields) > 2 and fields[2] != "??":
        loc = decode(fields[2])
        m = re.match(r"(.*?):(\d+)(?::(\d+))?\Z", loc)
        if m:
            file, line = m.group(1), int(m.group(2))
            column = int(m.group(3)) if m.group(3) else None
        else:
            file = loc
    inlined = len(fields) > 3 and fields[3] == "inlined"
    return module_text, Symbol(function, file, line or None, column, inlined)


def parse(path, text=None):
    """Reads the dump at `path` (or `text`, named `path` in errors). Raises DumpError."""
    if text is None:
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            raise DumpError(path, 0, "cannot read: %s" % e.strerror) from None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            lineno = data.count(b"\n", 0, e.start) + 1
            raise DumpError(path, lineno, "not UTF-8 (corrupt dump?)") from None
    dump = Dump(path)
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if not lines:
        raise DumpError(path, 1, "empty file, not a threadsnap dump")
    first = lines[0].split()
    if len(first) != 2 or first[0] != "threadsnap":
        raise DumpError(path, 1, "not a threadsnap dump (first line must be 'threadsnap 1')")
    version = _parse_int(path, 1, "format version", first[1])
    if version != FORMAT_VERSION:
        raise DumpError(path, 1, "unsupported dump format version %d (this threadsnap reads "
                        "version %d; use a newer threadsnap)" % (version, FORMAT_VERSION))
    thread = None
    ended = False
    interned = {}
    pending_inline = None  # Frame whose last symbol was flagged inlined
    for lineno in range(2, len(lines) + 1):
        line = lines[lineno - 1]
        if ended:
            if line.strip():
                raise DumpError(path, lineno, "text after 'end'")
            continue
        if not line.strip():
            continue
        if line[0] in " \t":
            # Frame line.
            if thread is None:
                raise DumpError(path, lineno, "frame line outside a thread record")
            body = line.lstrip(" ")
            fields = body.split("\t")
            addr_text = fields[0].strip()
            try:
                if addr_text[:2] != "0x":
                    raise ValueError
                address = int(addr_text, 16)
            except ValueError:
                raise DumpError(path, lineno, "bad frame address %r" % addr_text) from None
            is_pc = not thread.frames and first_is_pc(thread)
            if len(fields) == 1:
                # Raw frame: threads share one Frame per (address, kind), so that
                # resolving and symbolizing work once per distinct frame.
                frame = interned.get((address, is_pc))
                if frame is None:
                    frame = interned[(address, is_pc)] = Frame(address, is_pc)
                    dump.unique_frames.append(frame)
                pending_inline = None
                thread.frames.append(frame)
                continue
            # Annotated frame (a symbolized dump): one line per inline level.
            module_text, sym = _parse_annotation(path, lineno, fields[1:])
            if pending_inline is not None and pending_inline.address == address:
                pending_inline.symbols.append(sym)
                pending_inline = pending_inline if sym.inlined else None
                continue
            frame = Frame(address, is_pc)
            frame.module_text = module_text
            frame.symbols.append(sym)
            dump.unique_frames.append(frame)
            pending_inline = frame if sym.inlined else None
            thread.frames.append(frame)
            continue
        pending_inline = None
        parts = line.split()
        key = parts[0]
        if key == "end":
            if len(parts) != 1:
                raise DumpError(path, lineno, "malformed 'end' line")
            ended = True
            continue
        if key == "thread":
            thread = _parse_thread(path, lineno, parts[1:])
            dump.threads.append(thread)
            continue
        if thread is not None:
            # Only frames and threads may follow the first thread (and 'end').
            if key == "module" or not _KEYWORD.match(key):
                raise DumpError(path, lineno, "unexpected line in thread section: %r"
                                % line[:60])
            continue  # a future per-dump key after threads: ignore
        if key == "module":
            dump.modules.append(_parse_module(path, lineno, parts[1:]))
            continue
        if not _KEYWORD.match(key):
            raise DumpError(path, lineno, "corrupt header line: %r" % line[:60])
        value = line[len(key):].strip()
        if key == "pid":
            dump.pid = _parse_int(path, lineno, "pid", value)
        elif key == "exe":
            dump.exe = decode(value)
        elif key == "threads":
            dump.declared_threads = _parse_int(path, lineno, "thread count", value)
        elif key in ("time_ns", "stop1_ns", "sweep_ns", "stop2_ns"):
            setattr(dump, key, _parse_int(path, lineno, key, value))
        elif key == "mode":
            dump.mode = value
        elif key == "symbolized":
            dump.symbolizer = value
        elif key == "title":
            dump.title = decode(value).rstrip() or None  # padded titles (PostgreSQL)
        elif key == "ppid" and value.isdigit():
            dump.ppid = int(value)
        else:
            dump.extra[key] = value
    last = len(lines)
    if not ended:
        raise DumpError(path, last, "truncated dump: no 'end' line (the dump was cut short "
                        "or is still being written)")
    if dump.pid is None:
        raise DumpError(path, last, "no 'pid' line")
    if dump.declared_threads is not None and dump.declared_threads != len(dump.threads):
        raise DumpError(path, last, "header says 'threads %d' but %d thread records follow"
                        % (dump.declared_threads, len(dump.threads)))
    for t in dump.threads:
        t.pid = dump.pid
    dump.modules.sort(key=lambda m: m.start)
    return dump


def _parse_module(path, lineno, fields):
    if len(fields) < 4:
        raise DumpError(path, lineno, "module line needs START END FILE_OFFSET PATH")
    start = _parse_int(path, lineno, "module start", fields[0], 16)
    end = _parse_int(path, lineno, "module end", fields[1], 16)
    offset = _parse_int(path, lineno, "module file offset", fields[2], 16)
    if end <= start:
        raise DumpError(path, lineno, "module end 0x%x is not above its start 0x%x" % (end, start))
    mod = Module(start, end, offset, decode(fields[3]))
    for kv in fields[4:]:
        k, sep, v = kv.partition("=")
        if not sep:
            mod.extra[k] = ""
        elif k == "build-id":
            if not re.match(r"[0-9a-fA-F]+\Z", v):
                raise DumpError(path, lineno, "bad build-id %r" % v)
            mod.build_id = v.lower()
        elif k == "bias":
            mod.bias = _parse_int(path, lineno, "module bias", v, 16)
        else:
            mod.extra[k] = v
    return mod


def _parse_thread(path, lineno, fields):
    t = Thread()
    t.lineno = lineno
    seen_tid = False
    for kv in fields:
        k, sep, v = kv.partition("=")
        if not sep:
            raise DumpError(path, lineno, "thread field %r is not key=value" % kv)
        if k in _INT_FIELDS:
            val = _parse_int(path, lineno, k, v)
            setattr(t, k, val)
            seen_tid = seen_tid or k == "tid"
        elif k in _HEX_FIELDS:
            # obj is usually an address; an fd may be written in hex or decimal.
            if _HEX.match(v):
                setattr(t, k, int(v, 16))
            elif v.isdigit():
                setattr(t, k, int(v))
            elif v[:1] == "-" and v[1:].isdigit():
                setattr(t, k, int(v))     # no object (poll with no fd: -1)
            else:
                raise DumpError(path, lineno, "bad %s %r" % (k, v))
        elif k == "name":
            t.name = decode(v)
        elif k == "state":
            t.state = v
        elif k == "call":
            t.call = v
        elif k == "via":
            t.via = v
        else:
            t.extra[k] = v
    if not seen_tid:
        raise DumpError(path, lineno, "thread line without tid=")
    return t
