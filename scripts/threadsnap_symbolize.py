"""Symbolizes the frames of threadsnap dumps offline.

For every module it finds the file that has its debug information, in this
order: by build-id (DIR/.build-id/xx/yyyy.debug under each debug directory,
/usr/lib/debug by default), next to the module (PATH.debug, DIR/.debug/NAME.debug,
its .gnu_debuglink name in DIR, DIR/.debug or DEBUGDIR/DIR), or the module
itself. It then runs ONE batch process of the chosen symbolizer per module
(llvm-symbolizer, eu-addr2line or addr2line), never one per address, several
modules in parallel. Return addresses are looked up at address - 1.

What it never does: fail because a module, a debug file or a symbolizer is
missing, or because a symbolizer crashed. Such frames keep `module+0xoffset`
(or the raw address when no module maps them), with one warning on stderr.
A module whose file on disk has another build-id than the dump says (upgraded
since the process started) is not symbolized from that file.

Standard library only.
"""

import concurrent.futures
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile

from threadsnap_dumpfile import Symbol, encode, encode_field

BACKENDS = ("llvm-symbolizer", "eu-addr2line", "addr2line")
DEFAULT_DEBUG_DIRS = ("/usr/lib/debug",)
_TIMEOUT_S = 120


def warn(msg):
    sys.stderr.write("threadsnap: warning: %s\n" % msg)


# --- ELF --------------------------------------------------------------------

class ElfInfo:
    """What we need from an ELF file's headers: load segments, build-id, sections."""

    def __init__(self, path):
        self.path = path
        self.segments = []      # (p_offset, p_vaddr, p_filesz, p_memsz)
        self.build_id = None
        self.sections = set()
        self.debuglink = None
        with open(path, "rb") as f:
            data = f.read(64)
            if len(data) < 52 or data[:4] != b"\x7fELF":
                raise ValueError("not an ELF file")
            cls64 = data[4] == 2
            end = "<" if data[5] == 1 else ">"
            if cls64:
                (e_phoff, e_shoff, _flags, _ehsize, e_phentsize, e_phnum, e_shentsize,
                 e_shnum, e_shstrndx) = struct.unpack(end + "QQIHHHHHH", data[32:64])
            else:
                (e_phoff, e_shoff, _flags, _ehsize, e_phentsize, e_phnum, e_shentsize,
                 e_shnum, e_shstrndx) = struct.unpack(end + "IIIHHHHHH", data[28:52])
            notes = []
            for i in range(e_phnum):
                f.seek(e_phoff + i * e_phentsize)
                ph = f.read(e_phentsize)
                if cls64:
                    p_type, _fl, p_offset, p_vaddr, _pa, p_filesz, p_memsz, _al = \
                        struct.unpack(end + "IIQQQQQQ", ph[:56])
                else:
                    p_type, p_offset, p_vaddr, _pa, p_filesz, p_memsz, _fl, _al = \
                        struct.unpack(end + "IIIIIIII", ph[:32])
                if p_type == 1:
                    self.segments.append((p_offset, p_vaddr, p_filesz, p_memsz))
                elif p_type == 4:
                    notes.append((p_offset, p_filesz))
            shdrs = []
            if e_shoff and e_shnum:
                f.seek(e_shoff)
                raw = f.read(e_shnum * e_shentsize)
                for i in range(e_shnum):
                    sh = raw[i * e_shentsize:(i + 1) * e_shentsize]
                    if cls64:
                        name, typ, _fl, _addr, off, size = struct.unpack(end + "IIQQQQ", sh[:40])
                    else:
                        name, typ, _fl, _addr, off, size = struct.unpack(end + "IIIIII", sh[:24])
                    shdrs.append((name, typ, off, size))
                if e_shstrndx < len(shdrs):
                    f.seek(shdrs[e_shstrndx][2])
                    strtab = f.read(shdrs[e_shstrndx][3])
                    for name, typ, off, size in shdrs:
                        sname = strtab[name:strtab.find(b"\0", name)].decode("ascii", "replace")
                        if typ == 8:  # SHT_NOBITS: the section is not really here
                            continue
                        self.sections.add(sname)
                        if sname == ".gnu_debuglink":
                            f.seek(off)
                            link = f.read(size)
                            self.debuglink = link[:link.find(b"\0")].decode("utf-8", "replace")
                        elif typ == 7:  # SHT_NOTE (debug files keep notes as sections)
                            notes.append((off, size))
            for off, size in notes:
                if self.build_id:
                    break
                f.seek(off)
                self.build_id = _find_build_id(f.read(size), end)

    def has_symbols(self):
        return ".debug_info" in self.sections or ".symtab" in self.sections

    def bias_for(self, start, file_offset):
        """Load bias of a mapping of this file at `start` from `file_offset`."""
        for p_offset, p_vaddr, p_filesz, _ in self.segments:
            if p_offset <= file_offset < p_offset + max(p_filesz, 1):
                return start - (p_vaddr - p_offset + file_offset)
        return None


def _find_build_id(blob, end):
    i = 0
    while i + 12 <= len(blob):
        namesz, descsz, typ = struct.unpack(end + "III", blob[i:i + 12])
        name_at = i + 12
        desc_at = name_at + ((namesz + 3) & ~3)
        if typ == 3 and blob[name_at:name_at + namesz].rstrip(b"\0") == b"GNU":
            return blob[desc_at:desc_at + descsz].hex()
        i = desc_at + ((descsz + 3) & ~3)
    return None


_elf_cache = {}


def elf_info(path):
    """ElfInfo for `path`, or None when it is missing or not ELF. Cached."""
    if path not in _elf_cache:
        try:
            _elf_cache[path] = ElfInfo(path)
        except (OSError, ValueError, struct.error):
            _elf_cache[path] = None
    return _elf_cache[path]


_vdso_file = None


def _own_vdso():
    """Our own vdso, written to a temporary file (it is the same image as the
    target's when the kernel is the same; the build-id says whether it is)."""
    global _vdso_file
    if _vdso_file is None:
        _vdso_file = ""
        try:
            with open("/proc/self/maps") as f:
                for line in f:
                    if line.rstrip().endswith("[vdso]"):
                        lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
                        with open("/proc/self/mem", "rb") as mem:
                            mem.seek(lo)
                            image = mem.read(hi - lo)
                        fd, path = tempfile.mkstemp(prefix="threadsnap-vdso-")
                        with os.fdopen(fd, "wb") as out:
                            out.write(image)
                        import atexit
                        atexit.register(os.unlink, path)
                        _vdso_file = path
                        break
        except (OSError, ValueError):
            pass
    return _vdso_file or None


# --- finding debug information ------------------------------------------------

def find_debug_file(module, debug_dirs=DEFAULT_DEBUG_DIRS):
    """(file to symbolize with, ElfInfo of the module or None, why).

    The file is None when nothing usable exists."""
    bid = module.build_id
    path = module.path
    if path == "[vdso]":
        own = _own_vdso()
        info = elf_info(own) if own else None
        if info and bid and info.build_id == bid:
            return own, info, "own vdso"
        return None, None, "vdso of another kernel"
    if path.endswith(" (deleted)"):
        path = path[:-len(" (deleted)")]
    mod_info = elf_info(path) if path.startswith("/") else None
    if mod_info is not None and bid and mod_info.build_id and mod_info.build_id != bid:
        warn("%s has changed on disk since the dump (build-id %s, dump says %s); "
             "only its build-id debug file can be used" % (path, mod_info.build_id, bid))
        mod_info = None
    if bid is None and mod_info is not None:
        bid = mod_info.build_id
    if bid and len(bid) > 2:
        for d in debug_dirs:
            cand = os.path.join(d, ".build-id", bid[:2], bid[2:] + ".debug")
            if os.path.isfile(cand):
                return cand, mod_info, "build-id"
    if mod_info is not None:
        d, name = os.path.split(path)
        cands = [path + ".debug", os.path.join(d, ".debug", name + ".debug")]
        if mod_info.debuglink:
            link = mod_info.debuglink
            cands += [os.path.join(d, link), os.path.join(d, ".debug", link)]
            cands += [os.path.join(dd + d, link) for dd in debug_dirs]
        for cand in cands:
            if cand == path or not os.path.isfile(cand):
                continue
            info = elf_info(cand)
            if info is None or not info.has_symbols():
                continue
            if bid and info.build_id and info.build_id != bid:
                continue
            return cand, mod_info, "next to the module"
        return path, mod_info, "module itself"
    return None, None, "module file missing"


# --- symbolizer back ends (one batch process per file) -------------------------

def _run(argv, vaddrs):
    """Runs a symbolizer on all addresses at once; stdout, or None on failure."""
    text = "".join("0x%x\n" % a for a in vaddrs)
    try:
        res = subprocess.run(argv, input=text, capture_output=True, text=True,
                             errors="replace", timeout=_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as e:
        warn("%s failed: %s" % (argv[0], e))
        return None
    return res.stdout


def _unknown(name):
    return None if name in ("", "??") else name


def run_llvm(tool, objfile, vaddrs):
    out = _run([tool, "--obj=" + objfile, "--output-style=JSON", "--functions=linkage",
                "--inlines", "--demangle"], vaddrs)
    results = []
    for line in (out or "").splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            rec = json.loads(line)
        except ValueError:
            results.append([])
            continue
        syms = []
        for s in rec.get("Symbol", []) or []:
            syms.append(Symbol(_unknown(s.get("FunctionName", "")), _unknown(s.get("FileName", "")),
                               s.get("Line") or None, s.get("Column") or None))
        results.append(syms)
    return results


def _parse_addr2line(out, eu):
    """Both tools with -a -f -i: an address line, then (function, file:line) pairs."""
    results = []
    lines = (out or "").splitlines()
    i = 0
    addr_re = re.compile(r"0x[0-9a-f]+\Z")
    while i < len(lines):
        if not addr_re.match(lines[i]):
            i += 1
            continue
        i += 1
        syms = []
        while i < len(lines) and not addr_re.match(lines[i]):
            func = lines[i]
            loc = lines[i + 1] if i + 1 < len(lines) else "??:0"
            i += 2
            if eu:
                func = func.split(" inlined at ", 1)[0]
            loc = re.sub(r" \(discriminator \d+\)$", "", loc)
            m = re.match(r"(.*?):(\d+|\?)(?::(\d+))?\Z", loc)
            file = line = col = None
            if m:
                file = _unknown(m.group(1))
                line = int(m.group(2)) if m.group(2).isdigit() and m.group(2) != "0" else None
                col = int(m.group(3)) if m.group(3) and m.group(3) != "0" else None
            syms.append(Symbol(_unknown(func), file, line, col))
        results.append(syms)
    return results


def run_addr2line(tool, objfile, vaddrs):
    return _parse_addr2line(_run([tool, "-e", objfile, "-a", "-f", "-i", "-C"], vaddrs), False)


def run_eu_addr2line(tool, objfile, vaddrs):
    return _parse_addr2line(_run([tool, "-e", objfile, "-a", "-f", "-i", "-C"], vaddrs), True)


_RUNNERS = {"llvm-symbolizer": run_llvm, "eu-addr2line": run_eu_addr2line,
            "addr2line": run_addr2line}


def pick_backend(choice):
    """(name, tool path) for `choice` ('auto' or a back-end name), or (None, None)."""
    if choice == "none":
        return None, None
    names = BACKENDS if choice in (None, "", "auto") else (choice,)
    for name in names:
        tool = shutil.which(name)
        if tool is None and name == "llvm-symbolizer":
            for v in range(30, 10, -1):
                tool = shutil.which("llvm-symbolizer-%d" % v)
                if tool:
                    break
        if tool:
            return name, tool
    if choice not in (None, "", "auto"):
        warn("symbolizer %s not found; frames stay module+offset" % choice)
    else:
        warn("no symbolizer found (install llvm, elfutils or binutils); "
             "frames stay module+offset")
    return None, None


# --- the cache: symbolized frames per build-id, across dumps ----------------------

def cache_root():
    """$THREADSNAP_CACHE_DIR, else $XDG_CACHE_HOME/threadsnap or ~/.cache/threadsnap;
    None when turned off (THREADSNAP_CACHE_DIR=none) or there is no home."""
    d = os.environ.get("THREADSNAP_CACHE_DIR")
    if d is not None:
        return None if d in ("", "none", "off") else d
    base = os.environ.get("XDG_CACHE_HOME")
    if not base:
        home = os.environ.get("HOME")
        if not home:
            return None
        base = os.path.join(home, ".cache")
    return os.path.join(base, "threadsnap")


class SymCache:
    """ROOT/sym/BACKEND/xx/BUILDID.json: {"source": what was read, "frames":
    {"0xVADDR": [[function, file, line, column], ...]}}. An entry is used only
    while the file it came from (path, size, mtime) is the same, so installing
    a debug package later gives better answers. Each update writes a whole new
    file and renames it over the old one: readers never see half a file, and
    two dumps at once lose at most each other's additions."""

    def __init__(self, root, backend):
        self.dir = os.path.join(root, "sym", backend) if root else None

    @staticmethod
    def source(objfile):
        try:
            st = os.stat(objfile)
        except OSError:
            return None
        if os.path.basename(objfile).startswith("threadsnap-vdso-"):
            return None  # our own temporary copy of the vdso: a new file each time
        return "%s %d %d" % (os.path.realpath(objfile), st.st_size, st.st_mtime_ns)

    def _path(self, bid):
        return os.path.join(self.dir, bid[:2], bid + ".json")

    def load(self, bid, source):
        if not self.dir or not bid or not source:
            return {}
        try:
            with open(self._path(bid)) as f:
                doc = json.load(f)
            if doc.get("source") != source:
                return {}
            return {int(k, 16): [Symbol(*e[:4]) for e in v] for k, v in doc["frames"].items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return {}

    def store(self, bid, source, table):
        if not self.dir or not bid or not source or not table:
            return
        path = self._path(bid)
        frames = {}
        try:
            with open(path) as f:
                doc = json.load(f)
            if doc.get("source") == source:
                frames = dict(doc["frames"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            pass
        for addr, syms in table.items():
            frames["0x%x" % addr] = [[s.function, s.file, s.line, s.column] for s in syms]
        tmp = None
        try:
            os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=os.path.dirname(path))
            with os.fdopen(fd, "w") as f:
                json.dump({"source": source, "frames": frames}, f, separators=(",", ":"))
            os.replace(tmp, path)
            tmp = None
        except OSError:
            pass  # a cache that cannot be written is no cache, never an error
        finally:
            if tmp:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass


# --- symbolizing dumps ----------------------------------------------------------

def resolve_modules(dump, debug_dirs=DEFAULT_DEBUG_DIRS):
    """Attaches module and ELF vaddr to every frame; computes missing biases."""
    for mod in dump.modules:
        if mod.bias is None:
            info = elf_info(mod.path) if mod.path.startswith("/") else None
            if info is not None:
                mod.bias = info.bias_for(mod.start, mod.offset)
    for fr in dump.unique_frames:
        mod = dump.find_module(fr.address)
        if mod is not None:
            fr.module = mod
            if mod.bias is not None:
                fr.vaddr = fr.address - mod.bias


def symbolize(dumps, choice="auto", debug_dirs=DEFAULT_DEBUG_DIRS, jobs=None):
    """Symbolizes every frame that has no symbols yet. Returns the back end's name."""
    for d in dumps:
        resolve_modules(d, debug_dirs)
    todo = [fr for d in dumps for fr in d.unique_frames if not fr.symbols]
    if not todo:
        return next((d.symbolizer for d in dumps if d.symbolizer), None)
    name, tool = pick_backend(choice)
    if name is None:
        return None
    by_file = {}    # objfile -> {lookup vaddr}
    frame_key = []  # (frame, objfile, lookup vaddr)
    located = {}
    build_ids = {}  # objfile -> build-id of the module it symbolizes (the cache key)
    for fr in todo:
        mod = fr.module
        if mod is None or fr.vaddr is None:
            continue
        key = (mod.path, mod.build_id)
        if key not in located:
            located[key] = find_debug_file(mod, debug_dirs)[0]
        objfile = located[key]
        if objfile is None:
            continue
        lookup = fr.vaddr if fr.is_pc else fr.vaddr - 1
        by_file.setdefault(objfile, set()).add(lookup)
        if mod.build_id:
            build_ids.setdefault(objfile, mod.build_id)
        frame_key.append((fr, objfile, lookup))
    runner = _RUNNERS[name]
    answers = {}

    cache = SymCache(cache_root(), name)

    def one(objfile):
        bid, source = build_ids.get(objfile), SymCache.source(objfile)
        table = cache.load(bid, source)
        addrs = sorted(a for a in by_file[objfile] if a not in table)
        if not addrs:
            return objfile, table
        res = runner(tool, objfile, addrs)
        if len(res) != len(addrs):
            warn("%s gave %d answers for %d addresses in %s; those frames stay module+offset"
                 % (name, len(res), len(addrs), objfile))
            res = (res + [[]] * len(addrs))[:len(addrs)]
        else:
            cache.store(bid, source, dict(zip(addrs, res)))
        table.update(zip(addrs, res))
        return objfile, table

    workers = jobs or min(8, (os.cpu_count() or 2) * 2)
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        for objfile, table in pool.map(one, list(by_file)):
            answers[objfile] = table
    for fr, objfile, lookup in frame_key:
        syms = answers.get(objfile, {}).get(lookup) or []
        syms = [s for s in syms if s.function or s.file]
        if syms:
            fr.symbols = [Symbol(s.function, s.file, s.line, s.column, i < len(syms) - 1)
                          for i, s in enumerate(syms)]
    for d in dumps:
        d.symbolizer = name
    return name


# --- writing a symbolized dump ---------------------------------------------------

def frame_lines(fr):
    """The annotated lines of one frame (see threadsnap_dumpfile's docstring)."""
    mod = fr.module_offset() if (fr.module is not None or fr.module_text) else "?"
    syms = fr.symbols or [Symbol()]
    out = []
    for s in syms:
        loc = s.location()
        if loc and s.column:
            loc += ":%d" % s.column
        fields = ["  0x%x" % fr.address, encode_field(mod), encode_field(s.function or "??"),
                  encode_field(loc or "??")]
        if s.inlined:
            fields.append("inlined")
        out.append("\t".join(fields))
    return out


def write_dump(dump, out):
    """Writes `dump` (with annotations when its frames have symbols) as v1 text."""
    w = out.write
    w("threadsnap 1\npid %d\n" % dump.pid)
    if dump.exe is not None:
        w("exe %s\n" % encode(dump.exe))
    if dump.title is not None:
        w("title %s\n" % encode(dump.title))
    if dump.ppid is not None:
        w("ppid %d\n" % dump.ppid)
    if dump.time_ns is not None:
        w("time_ns %d\n" % dump.time_ns)
    if dump.mode is not None:
        w("mode %s\n" % dump.mode)
    w("threads %d\n" % len(dump.threads))
    for k in ("stop1_ns", "sweep_ns", "stop2_ns"):
        if getattr(dump, k) is not None:
            w("%s %d\n" % (k, getattr(dump, k)))
    for k, v in dump.extra.items():
        w("%s %s\n" % (k, v))
    if dump.symbolizer:
        w("symbolized %s\n" % dump.symbolizer)
    for m in dump.modules:
        extra = "".join(" %s=%s" % kv for kv in m.extra.items())
        bid = " build-id=%s" % m.build_id if m.build_id else ""
        bias = " bias=0x%x" % m.bias if m.bias is not None else ""
        w("module 0x%x 0x%x 0x%x %s%s%s%s\n" % (m.start, m.end, m.offset, encode(m.path),
                                               bid, bias, extra))
    cache = {}  # id(Frame) -> its text; threads share Frame objects
    for t in dump.threads:
        f = ["thread tid=%d" % t.tid]
        if t.name:
            f.append("name=" + encode(t.name))
        f.append("state=" + t.state)
        if t.call:
            f.append("call=" + t.call)
        if t.obj is not None:
            f.append("obj=0x%x" % t.obj if t.obj >= 0 else "obj=%d" % t.obj)
        if t.blocked_ns is not None:
            f.append("blocked_ns=%d" % t.blocked_ns)
        if t.owner is not None:
            f.append("owner=%d" % t.owner)
        if t.mutex is not None:
            f.append("mutex=0x%x" % t.mutex)
        if t.via:
            f.append("via=" + t.via)
        f += ["%s=%s" % kv for kv in t.extra.items()]
        w(" ".join(f) + "\n")
        for fr in t.frames:
            text = cache.get(id(fr))
            if text is None:
                if fr.symbols or fr.module is not None or fr.module_text:
                    text = "".join(line + "\n" for line in frame_lines(fr))
                else:
                    text = "  0x%x\n" % fr.address
                cache[id(fr)] = text
            w(text)
    w("end\n")
