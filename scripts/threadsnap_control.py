"""What `threadsnap dump` knows about a live process, read from /proc.

The library (v2 and later) publishes a CONTROL RECORD: a 4096-byte shared
memfd mapping whose line in /proc/PID/maps ends with
`/memfd:threadsnap-control (deleted)`. It holds `key value` lines:

    threadsnap-control 1
    seq N                 odd while the library updates the record
    version ...           pid, dumper_tid, wake_signal, trigger_signal,
    trigger on|off|none   dir, log, dumps, last_dump, last_message,
                          record_dumps (1: it writes record dumps when asked,
                          see ask_record_dump)
    end

It is read through /proc/PID/map_files/START-END (root, CAP_SYS_ADMIN) or
/proc/PID/mem at START (same user with ptrace read access), until two
consecutive reads are identical, with an even seq and the `end` line.

A process of an older library has no record. For those, the trigger signal
really in force is read from the library's own variable (`g_trigger_signal`,
0 once the library stepped aside because the program installed a handler
for it) through /proc/PID/mem and the library's symbol table, since the
environment cannot be trusted (PostgreSQL overwrites it for its process title).

Standard library only.
"""

import os
import re
import signal
import struct
import time

CONTROL_SUFFIX = "/memfd:threadsnap-control (deleted)"
CONTROL_SIZE = 4096
CONTROL_VERSION = 1
LIB_RE = re.compile(r"/libthreadsnap[^/ ]*\.so")
# The old library's trigger signal in force (std::atomic<int>): 0 = off.
OLD_TRIGGER_SYMBOL = b"_ZN10threadsnap6detail16g_trigger_signalE"


class Unreadable(Exception):
    """The record exists but cannot be read (permissions, or it never settles)."""


class BadRecord(Exception):
    """The record is of an unknown version or malformed."""


# --- /proc helpers ------------------------------------------------------------------

def read_text(path, limit=1 << 20):
    with open(path, "rb") as f:
        return f.read(limit).decode("utf-8", "replace")


def maps_lines(pid):
    return read_text("/proc/%d/maps" % pid, 64 << 20).splitlines()


def library_mappings(lines):
    """[(start, end, offset, path)] of mappings of libthreadsnap*.so."""
    out = []
    for line in lines:
        parts = line.split(None, 5)
        if len(parts) == 6 and LIB_RE.search(parts[5]):
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            out.append((lo, hi, int(parts[2], 16), parts[5], parts[0]))
    return out


def control_ranges(lines):
    """['START-END' (as /proc/PID/maps writes it)] of every control record
    mapping: a forked child may still map its parent's besides its own."""
    return [line.split(None, 1)[0] for line in lines if line.endswith(CONTROL_SUFFIX)]


def control_range(lines):
    """The first control record mapping, or None."""
    r = control_ranges(lines)
    return r[0] if r else None


def own_control(pid, lines):
    """(range, record) of pid's own control record, (None, None) when it maps
    none. A record whose pid is another process's (inherited across fork) is
    not pid's: Unreadable if that is all there is."""
    ranges = control_ranges(lines)
    if not ranges:
        return None, None
    others = []
    for rng in ranges:
        rec = read_control(pid, rng)
        if rec_int(rec, "pid", -1) == pid:
            return rng, rec
        others.append(rec.get("pid", "?"))
    raise Unreadable("it is process %s's, not this one's (inherited across fork, and the "
                     "library published none of its own)" % ", ".join(others))


def status_field(pid, name, tid=None):
    path = "/proc/%d/status" % pid if tid is None else "/proc/%d/task/%d/status" % (pid, tid)
    for line in read_text(path).splitlines():
        if line.startswith(name + ":"):
            return line.split(":", 1)[1].strip()
    return None


def catches(pid, sig):
    """Whether process `pid` has a handler installed for `sig` (SigCgt)."""
    try:
        cgt = status_field(pid, "SigCgt")
    except OSError:
        return False
    return bool(cgt) and bool((int(cgt, 16) >> (sig - 1)) & 1)


def blocks(pid, tid, sig):
    """Whether thread tid of pid blocks sig (SigBlk); False when unknown."""
    try:
        blk = status_field(pid, "SigBlk", tid)
    except OSError:
        return False
    return bool(blk) and bool((int(blk, 16) >> (sig - 1)) & 1)


def stat_fields(pid):
    """Fields of /proc/PID/stat after the comm, numbered as in proc(5) minus 3
    (so [0] is state, [1] ppid, [19] starttime)."""
    text = read_text("/proc/%d/stat" % pid)
    return text[text.rindex(")") + 2:].split()


def start_time(pid):
    try:
        return stat_fields(pid)[19]
    except (OSError, ValueError, IndexError):
        return None


def ppid_of(pid):
    try:
        return int(stat_fields(pid)[1])
    except (OSError, ValueError, IndexError):
        return None


def comm_of(pid):
    try:
        return read_text("/proc/%d/comm" % pid).strip() or "?"
    except OSError:
        return "?"


def title_of(pid):
    """/proc/PID/cmdline as the program set it: NULs as spaces, trailing blanks
    cut (PostgreSQL pads its title), or None when unreadable (kernel thread)."""
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            raw = f.read(4096)
    except OSError:
        return None
    text = raw.replace(b"\0", b" ").decode("utf-8", "replace").rstrip()
    return text or None


def environ_of(pid):
    """{name: value} of /proc/PID/environ, or None when unreadable."""
    try:
        with open("/proc/%d/environ" % pid, "rb") as f:
            raw = f.read(1 << 20)
    except OSError:
        return None
    env = {}
    for item in raw.split(b"\0"):
        k, sep, v = item.partition(b"=")
        if sep and k:
            env.setdefault(k.decode("utf-8", "replace"), v.decode("utf-8", "replace"))
    return env


def children_map():
    """{ppid: [pid, ...]} of every process now."""
    kids = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        pp = ppid_of(int(name))
        if pp is not None:
            kids.setdefault(pp, []).append(int(name))
    return kids


def descendants(pid):
    """pid's descendants, breadth first, each once."""
    kids = children_map()
    out, todo, seen = [], list(sorted(kids.get(pid, []))), {pid}
    while todo:
        p = todo.pop(0)
        if p in seen:
            continue
        seen.add(p)
        out.append(p)
        todo += sorted(kids.get(p, []))
    return out


# --- the control record ------------------------------------------------------------

def _read_range(pid, rng, size=CONTROL_SIZE):
    """Bytes of the mapping `rng` of pid: map_files first, then mem."""
    lo = int(rng.split("-")[0], 16)
    errors = []
    try:
        with open("/proc/%d/map_files/%s" % (pid, rng), "rb") as f:
            return f.read(size)
    except OSError as e:
        errors.append("map_files: %s" % (e.strerror or e))
    try:
        with open("/proc/%d/mem" % pid, "rb", buffering=0) as f:
            f.seek(lo)
            return f.read(size)
    except (OSError, OverflowError, ValueError) as e:
        errors.append("mem: %s" % (getattr(e, "strerror", None) or e))
    hint = "run as the process's user with ptrace access, or as root"
    try:
        with open("/proc/sys/kernel/yama/ptrace_scope") as f:
            scope = f.read().strip()
        if scope != "0" and os.geteuid() != 0:
            hint = ("kernel.yama.ptrace_scope is %s, so only root (or CAP_SYS_PTRACE) may "
                    "read another process's memory: run threadsnap dump as root" % scope)
    except OSError:
        pass
    raise Unreadable("cannot read it (%s): %s" % ("; ".join(errors), hint))


def parse_record(data):
    """{key: value} of a whole, settled record; None while it is being updated
    or incomplete. Raises BadRecord for another version or garbage."""
    text = data.split(b"\0", 1)[0].decode("utf-8", "replace")
    lines = text.split("\n")
    first = lines[0].split()
    if len(first) != 2 or first[0] != "threadsnap-control":
        raise BadRecord("not a threadsnap control record (first line %r)" % lines[0][:40])
    if first[1] != str(CONTROL_VERSION):
        raise BadRecord("control record version %s (this threadsnap reads version %d; use a "
                        "newer threadsnap)" % (first[1], CONTROL_VERSION))
    if len(lines) < 2 or not lines[1].startswith("seq "):
        return None
    rec = {}
    ended = False
    for line in lines[1:]:
        if line == "end":
            ended = True
            break
        if not line:
            continue
        k, _, v = line.partition(" ")
        rec.setdefault(k, v)
    if not ended:
        return None
    try:
        seq = int(rec["seq"])
    except ValueError:
        raise BadRecord("bad seq %r" % rec["seq"]) from None
    if seq % 2:
        return None
    return rec


def read_control(pid, rng, tries=40, pause=0.01):
    """The settled record of pid at mapping `rng` as {key: value}."""
    prev = None
    for i in range(tries):
        data = _read_range(pid, rng)
        if data == prev:
            rec = parse_record(data)
            if rec is not None:
                return rec
        prev = data
        time.sleep(0.001 if i == 0 else pause)
    raise Unreadable("it did not settle (seq odd, no 'end' line or changing) in %d reads"
                     % tries)


def rec_int(rec, key, default=0):
    try:
        return int(rec.get(key, ""))
    except ValueError:
        return default


# --- old libraries: the trigger in force, from the library's memory ----------------

def _elf_symbol(f, name, table=2):
    """st_value of `name` in the .symtab (table 2; 11: .dynsym) of the 64-bit
    little-endian ELF file f."""
    f.seek(0)
    hdr = f.read(64)
    if hdr[:4] != b"\x7fELF" or hdr[4] != 2 or hdr[5] != 1:
        return None
    e_shoff, = struct.unpack_from("<Q", hdr, 40)
    e_shentsize, e_shnum = struct.unpack_from("<HH", hdr, 58)
    if not e_shoff or not e_shnum:
        return None
    f.seek(e_shoff)
    raw = f.read(e_shentsize * e_shnum)
    shdrs = [struct.unpack_from("<IIQQQQIIQQ", raw, i * e_shentsize) for i in range(e_shnum)]
    for sh in shdrs:
        if sh[1] != table:  # SHT_SYMTAB or SHT_DYNSYM
            continue
        strtab = shdrs[sh[6]]
        f.seek(strtab[4])
        strings = f.read(strtab[5])
        f.seek(sh[4])
        syms = f.read(sh[5])
        at = strings.find(b"\0" + name + b"\0")
        if at < 0:
            return None
        want = at + 1
        for i in range(0, len(syms) - 23, 24):
            st_name, = struct.unpack_from("<I", syms, i)
            if st_name == want:
                return struct.unpack_from("<Q", syms, i + 8)[0]
    return None


def _mapped_symbol(pid, lines, path_re, name, table):
    """Address of symbol `name` in the process, in the module whose path
    matches path_re (read from the mapping itself, or its file)."""
    for line in lines:
        parts = line.split(None, 5)
        if len(parts) == 6 and int(parts[2], 16) == 0 and re.search(path_re, parts[5]):
            lo = int(parts[0].split("-")[0], 16)
            for source in ("/proc/%d/map_files/%s" % (pid, parts[0]), parts[5]):
                try:
                    with open(source, "rb") as f:
                        value = _elf_symbol(f, name, table)
                    return None if value is None else lo + value
                except (OSError, struct.error, IndexError):
                    continue
            return None
    return None


def _read_mem(f, addr, size):
    f.seek(addr)
    return f.read(size)


def live_environ(pid, lines):
    """{name: value} of the environment the program sees now (libc's environ,
    read from its memory): a program that rewrites /proc/PID/environ for its
    process title (PostgreSQL) moves its environment there first. None when
    it cannot be read."""
    # libc's __environ, unless the program refers to environ itself: then the
    # variable lives in the executable (a copy relocation) and libc's is unused.
    try:
        exe = re.escape(os.readlink("/proc/%d/exe" % pid).replace(" (deleted)", "")) + r"( \(deleted\))?\Z"
    except OSError:
        exe = None
    arr = 0
    try:
        with open("/proc/%d/mem" % pid, "rb", buffering=0) as f:
            for where, name in ((r"/libc[.-][^/]*so", b"__environ"), (exe, b"environ"),
                                (exe, b"__environ")):
                addr = _mapped_symbol(pid, lines, where, name, 11) if where else None
                if addr is not None:
                    arr, = struct.unpack("<Q", _read_mem(f, addr, 8))
                    if arr:
                        break
    except (OSError, OverflowError, ValueError, struct.error):
        return None
    if not arr:
        return None
    env = {}
    try:
        with open("/proc/%d/mem" % pid, "rb", buffering=0) as f:
            for i in range(4096):
                ptr, = struct.unpack("<Q", _read_mem(f, arr + 8 * i, 8))
                if not ptr:
                    break
                raw = _read_mem(f, ptr, 4096).split(b"\0", 1)[0]
                k, sep, v = raw.partition(b"=")
                if sep and k:
                    env.setdefault(k.decode("utf-8", "replace"), v.decode("utf-8", "replace"))
    except (OSError, OverflowError, ValueError, struct.error):
        return None
    return env


def old_trigger_in_force(pid, lines):
    """The trigger signal the (pre-control-record) library has in force in pid:
    0 when it stepped aside or is off. Raises Unreadable saying why when it
    cannot be read (no symbol table, or no access to the process's memory)."""
    maps = library_mappings(lines)
    base = next((m for m in maps if m[2] == 0), None)
    if base is None:
        raise Unreadable("the library's first mapping is not in /proc/%d/maps" % pid)
    lo, _hi, _off, path, rng = base
    value = None
    for source in ("/proc/%d/map_files/%s" % (pid, rng), path):
        try:
            with open(source, "rb") as f:
                value = _elf_symbol(f, OLD_TRIGGER_SYMBOL)
            break
        except (OSError, struct.error, IndexError):
            continue
    if value is None:
        raise Unreadable("%s has no symbol table (stripped?)" % path)
    try:
        with open("/proc/%d/mem" % pid, "rb", buffering=0) as f:
            f.seek(lo + value)
            raw = f.read(4)
    except (OSError, OverflowError, ValueError) as e:
        raise Unreadable("its memory cannot be read (%s; needs ptrace access: root, or "
                         "kernel.yama.ptrace_scope 0)" % (getattr(e, "strerror", None) or e)) \
            from None
    if len(raw) != 4:
        raise Unreadable("short read of its memory")
    sig, = struct.unpack("<i", raw)
    if not 0 <= sig <= 64:
        raise Unreadable("the library's trigger variable holds %d" % sig)
    return sig


# --- signals ---------------------------------------------------------------------------

def signal_number(spec):
    """Number of a signal name (USR2, SIGUSR2, RTMIN+1) or number; None if not
    a signal that can carry a trigger (not KILL, STOP, or glibc's 32/33)."""
    s = str(spec).strip()
    if s.isdigit():
        n = int(s)
    else:
        s = s.upper()
        if s.startswith("SIG"):
            s = s[3:]
        m = re.match(r"RTM(IN|AX)([+-]\d+)?\Z", s)
        if m:
            base = signal.SIGRTMIN if m.group(1) == "IN" else signal.SIGRTMAX
            n = int(base) + int(m.group(2) or 0)
        else:
            try:
                n = int(signal.Signals["SIG" + s])
            except KeyError:
                return None
    if not 1 <= n <= int(signal.SIGRTMAX) or n in (9, 19, 32, 33):
        return None
    return n


def signal_name(n):
    try:
        return "%d (%s)" % (n, signal.Signals(n).name)
    except ValueError:
        if int(signal.SIGRTMIN) <= n <= int(signal.SIGRTMAX):
            return "%d (SIGRTMIN+%d)" % (n, n - int(signal.SIGRTMIN))
        return str(n)


_SYS_TGKILL = {"x86_64": 234, "aarch64": 131, "riscv64": 131, "ppc64le": 250, "s390x": 241}
_SYS_RT_TGSIGQUEUEINFO = {"x86_64": 297, "aarch64": 240, "riscv64": 240, "ppc64le": 322,
                          "s390x": 330}
_SYS_IOPRIO_SET = {"x86_64": 251, "aarch64": 30, "riscv64": 30, "ppc64le": 273, "s390x": 282}
_libc = None


def _syscall(table, *args):
    global _libc
    import ctypes
    nr = table.get(os.uname().machine)
    if nr is None:
        raise OSError(38, "unknown syscall number on %s" % os.uname().machine)
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    rc = _libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) for a in args])
    if rc < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return rc


def tgkill(pid, tid, sig):
    """Sends sig to thread tid of process pid only (never process-directed)."""
    _syscall(_SYS_TGKILL, pid, tid, sig)


RECORD_MAGIC = 0x74737263   # "tsrc": preload/writer.h, kRecordRequestMagic


def ask_record_dump(pid, tid, sig, token):
    """Asks the library's dumper (thread tid of pid, woken by sig) for a
    record dump for the recorder with this token (1..2^32-1): sig queued
    with si_code SI_QUEUE and the value RECORD_MAGIC << 32 | token."""
    import ctypes
    import struct
    info = ctypes.create_string_buffer(128)
    struct.pack_into("=iii", info, 0, sig, 0, -1)             # signo, errno, SI_QUEUE
    struct.pack_into("=iIQ", info, 16, os.getpid(), os.getuid(), (RECORD_MAGIC << 32) | token)
    _syscall(_SYS_RT_TGSIGQUEUEINFO, pid, tid, sig, ctypes.addressof(info))


def lower_priority():
    """nice 19 and the idle I/O class, for this process and what it starts."""
    try:
        os.nice(19 - os.nice(0))
    except OSError:
        pass
    try:
        _syscall(_SYS_IOPRIO_SET, 1, 0, 3 << 13)  # IOPRIO_WHO_PROCESS, self, IDLE
    except OSError:
        pass
