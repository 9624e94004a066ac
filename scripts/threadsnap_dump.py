#!/usr/bin/env python3
"""`threadsnap dump`: ask running processes for a snapshot, wait, report.

    threadsnap_dump.py [--dir D] [--signal S] [--timeout SEC] [--format F]
                       [--merge] [--no-report] [--tree] [--symbolizer S]
                       [--debug-dir D] PID...

Rules (issue 12: a dump must never hurt a process):
- Nothing is sent to a PID that is not verified; one bad PID among several:
  nothing is sent to any (with --tree, processes without the library or that
  refuse are skipped, and each is named).
- With a control record: threadsnap's own wake signal, thread-directed with
  tgkill to the dumper thread (or to the main thread while the library has
  not started its dumper): no program thread is interrupted. A --signal the
  record gives to the program is refused.
- Without one (older library): the process-directed trigger, only when it is
  the trigger the library has in force (read from its memory, else from an
  environment that still names the library), and the process catches it.
- Never a signal whose handler belongs to the program.

Exit status: 0 all dumps reported, 1 a refusal or a failure, 2 bad usage.
Standard library only.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import threadsnap_control as ctl  # noqa: E402


class Refused(Exception):
    pass


def note(msg):
    sys.stderr.write("threadsnap: %s\n" % msg)


class Target:
    def __init__(self, pid):
        self.pid = pid
        self.comm = ctl.comm_of(pid)
        self.start = None
        self.dir = None
        self.how = None        # "wake" (tgkill) or "kill" (process-directed)
        self.sig = None
        self.record = None     # the control record, when there is one
        self.rng = None
        self.seq = 0
        self.sent_ns = None
        self.file = None
        self.title = None
        self.ppid = None

    @property
    def who(self):
        return "process %d (%s)" % (self.pid, self.comm)


# --- deciding what may be sent ---------------------------------------------------

def check_target(pid, args, override):
    """A Target with its channel decided, or Refused saying why."""
    t = Target(pid)
    if not os.path.isdir("/proc/%d" % pid):
        raise Refused("no process %d" % pid)
    try:
        lines = ctl.maps_lines(pid)
        if not lines:
            raise OSError("empty")
    except OSError:
        raise Refused("cannot read /proc/%d/maps of %s: run as its user or root; nothing "
                      "sent" % (pid, t.who)) from None
    t.start = ctl.start_time(pid)
    has_record = ctl.control_range(lines) is not None
    if not has_record and not ctl.library_mappings(lines):
        raise Refused("%s does not have libthreadsnap loaded; a signal would kill it, so "
                      "nothing was sent. Start it with: threadsnap run -- CMD" % t.who)
    if has_record:
        try:
            t.rng, t.record = ctl.own_control(pid, lines)
        except ctl.Unreadable as e:
            raise Refused("%s has a threadsnap control record but %s; nothing sent (without "
                          "it threadsnap cannot tell which signal is safe)" % (t.who, e)) from None
        except ctl.BadRecord as e:
            raise Refused("%s: %s; nothing sent" % (t.who, e)) from None
        decide_with_record(t, override)
    else:
        decide_without_record(t, lines, override)
    if args.dir:
        t.dir = os.path.abspath(args.dir)   # ours: --dir is a path here
    else:
        if not t.dir:
            t.dir = "/tmp"
        if not t.dir.startswith("/"):
            t.dir = "/proc/%d/cwd/%s" % (pid, t.dir)
        # A process with another root (a container) writes under its own root.
        inside = "/proc/%d/root%s" % (pid, t.dir)
        if t.dir.startswith("/") and not t.dir.startswith("/proc/") and \
                (not same_root(pid) or not os.path.isdir(t.dir)) and os.path.isdir(inside):
            t.dir = inside
    if not os.path.isdir(t.dir):
        raise Refused("dump directory %s of %s does not exist here (use --dir); nothing sent"
                      % (t.dir, t.who))
    t.seq = last_seq(t.dir, pid)
    return t


def same_root(pid):
    """Whether pid sees the same / as we do (not in a container or chroot)."""
    try:
        a, b = os.stat("/"), os.stat("/proc/%d/root/" % pid)
        return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)
    except OSError:
        return True


def decide_with_record(t, override):
    rec = t.record
    wake = ctl.rec_int(rec, "wake_signal")
    trig_sig = ctl.rec_int(rec, "trigger_signal")
    trig = rec.get("trigger", "")
    t.dir = rec.get("dir") or None
    if override is not None and override != wake:
        if override == trig_sig and trig == "on":
            if not ctl.catches(t.pid, override):
                raise Refused("%s has no handler for signal %s; nothing sent"
                              % (t.who, ctl.signal_name(override)))
            note("note: %s: signal %d is threadsnap's trigger, sent to the process as asked; "
                 "the thread the kernel hands it to may see EINTR (without --signal, "
                 "threadsnap's own thread is woken instead)" % (t.who, override))
            t.how, t.sig = "kill", override
            return
        if override == trig_sig and trig == "off":
            raise Refused("signal %s belongs to the program in %s: it installed its own "
                          "handler, so threadsnap stepped aside; nothing sent (without --signal, "
                          "threadsnap dump uses threadsnap's own wake signal%s)"
                          % (ctl.signal_name(override), t.who,
                             " %d" % wake if wake else ", which this process lacks"))
        raise Refused("threadsnap has no handler for signal %s in %s (its trigger: %s, "
                      "its wake signal: %s); nothing sent"
                      % (ctl.signal_name(override), t.who,
                         "signal %d (%s)" % (trig_sig, trig or "?") if trig_sig else trig or "none",
                         wake or "none"))
    if wake <= 0:
        why = {"off": "its trigger signal %d belongs to the program (threadsnap stepped aside)"
                      % trig_sig,
               "none": "its trigger is off (THREADSNAP_SIGNAL=none)"}.get(
                   trig, "its trigger is %s" % (trig or "unknown"))
        raise Refused("%s publishes no wake signal, and %s; nothing sent" % (t.who, why))
    if wake == trig_sig and trig == "off":
        raise Refused("%s: the control record names signal %d as threadsnap's wake signal but "
                      "also as the program's; nothing sent" % (t.who, wake))
    if not ctl.catches(t.pid, wake):
        raise Refused("%s has no handler for threadsnap's wake signal %s (library "
                      "disabled?); nothing sent" % (t.who, ctl.signal_name(wake)))
    t.how, t.sig = "wake", wake


def decide_without_record(t, lines, override):
    """An older library: the process-directed trigger, if it is provably its own."""
    env = ctl.environ_of(t.pid)
    # An environment that no longer names the library was rewritten (a process
    # title): nothing in it can be trusted. The environment the program sees
    # now (libc's environ, in its memory) may still be whole.
    trusted = env is not None and ctl.LIB_RE.search(env.get("LD_PRELOAD", "")) is not None
    if not trusted:
        env = ctl.live_environ(t.pid, lines)
        trusted = env is not None and ctl.LIB_RE.search(env.get("LD_PRELOAD", "")) is not None
    env_sig = env.get("THREADSNAP_SIGNAL") if trusted else None
    try:
        in_force, unknown_why = ctl.old_trigger_in_force(t.pid, lines), None
    except ctl.Unreadable as e:
        in_force, unknown_why = None, str(e)
    if trusted:
        t.dir = env.get("THREADSNAP_DIR") or env.get("TMPDIR") or "/tmp"
    if in_force == 0 or (in_force is None and env_sig == "none"):
        if env_sig == "none":
            raise Refused("%s runs with THREADSNAP_SIGNAL=none: its signal trigger is off; "
                          "nothing sent" % t.who)
        raise Refused("%s: libthreadsnap stepped aside (the program installed its own handler "
                      "for its trigger signal, which now belongs to the program) or its trigger "
                      "is off; nothing sent. This library is too old for a safe channel; "
                      "start the program with a newer threadsnap, or under threadsnap run "
                      "--signal SIG with a signal the program does not use" % t.who)
    configured = in_force
    if configured is None and trusted:
        configured = ctl.signal_number(env_sig) if env_sig else int(ctl.signal.SIGUSR2)
        if configured is None:
            raise Refused("%s has THREADSNAP_SIGNAL=%s, which is not a usable signal; nothing "
                          "sent (use --signal)" % (t.who, env_sig))
    sig = override if override is not None else configured
    if sig is None:
        raise Refused("cannot tell which trigger signal %s takes: its environment was "
                      "rewritten (a process title?) and the library's state cannot be read; "
                      "nothing sent. Pass --signal SIG if you know it" % t.who)
    if not ctl.catches(t.pid, sig):
        raise Refused("%s has libthreadsnap but no handler for signal %s (library disabled, "
                      "or another trigger signal: see --signal); nothing sent"
                      % (t.who, ctl.signal_name(sig)))
    if configured is not None and sig != configured:
        raise Refused("signal %s is not the trigger of %s (it is %s); its handler may be the "
                      "program's, so nothing was sent"
                      % (ctl.signal_name(sig), t.who, ctl.signal_name(configured)))
    if in_force is None:
        # Whether the library still owns the signal or the program took it
        # over (a JVM, PostgreSQL) cannot be seen: only an explicit --signal.
        if override is None:
            raise Refused("cannot tell whether signal %s of %s is still threadsnap's or was "
                          "taken over by the program: this library publishes no control "
                          "record and %s; nothing sent. If you know the program does not "
                          "handle signal %d itself, pass --signal %d"
                          % (ctl.signal_name(sig), t.who, unknown_why, sig, sig))
        note("warning: %s: cannot verify that signal %s is still threadsnap's (%s); sending "
             "it because --signal says so" % (t.who, ctl.signal_name(sig), unknown_why))
    if t.dir is None:
        note("warning: %s: its environment was rewritten, so its dump directory is unknown; "
             "looking in /tmp (use --dir)" % t.who)
    t.how, t.sig = "kill", sig


# --- dump files ------------------------------------------------------------------------

def last_seq(d, pid, suffixes=(".txt",)):
    """The highest SEQ of a threadsnap.PID.SEQ file with one of suffixes
    (all four letters long: .txt dumps, .rec record dumps) in d."""
    prefix = "threadsnap.%d." % pid
    best = 0
    try:
        names = os.listdir(d)
    except OSError:
        return 0
    for n in names:
        if n.startswith(prefix) and n[-4:] in suffixes:
            mid = n[len(prefix):-4]
            if mid.isdigit():
                best = max(best, int(mid))
    return best


def new_dump(t, suffixes=(".txt",)):
    """The first whole dump of t after its seq whose stop 1 is not older than
    the signal (a dump under way when we signalled is not ours)."""
    last = last_seq(t.dir, t.pid, suffixes)
    for n in range(t.seq + 1, last + 1):
        for sfx in suffixes:
            path = os.path.join(t.dir, "threadsnap.%d.%d%s" % (t.pid, n, sfx))
            if whole_and_new(t, path):
                return path
    return None


def whole_and_new(t, path):
    """Whether path is a whole dump whose stop 1 is not older than t's signal."""
    try:
        with open(path, "rb") as f:   # a 10k-thread dump is megabytes: head and tail only
            head = f.read(8192)
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 5))
            tail = f.read(5)
    except OSError:
        return False
    if tail != b"\nend\n":
        return False
    tns = None
    for line in head.split(b"\n", 40)[:40]:
        if line.startswith(b"time_ns "):
            try:
                tns = int(line[8:])
            except ValueError:
                pass
            break
    return not (tns and tns < t.sent_ns)


# --- sending -----------------------------------------------------------------------------

def send(t):
    if ctl.start_time(t.pid) != t.start:
        raise Refused("%s changed while checking it (exited?); nothing sent to it" % t.who)
    lines = ctl.maps_lines(t.pid)
    rng = ctl.control_range(lines)
    if t.how == "kill":
        if t.record is None:
            if rng is not None or not ctl.library_mappings(lines):
                raise Refused("%s changed while checking it; nothing sent to it" % t.who)
        else:
            # --signal naming the trigger the record says is threadsnap's: still so?
            rec = ctl.own_control(t.pid, lines)[1] if rng else None
            rec = rec or {}
            if rec.get("trigger") != "on" or ctl.rec_int(rec, "trigger_signal") != t.sig:
                raise Refused("%s: signal %d is no longer threadsnap's trigger; nothing sent"
                              % (t.who, t.sig))
        t.sent_ns = time.time_ns()
        os.kill(t.pid, t.sig)
        return
    # Re-read the record just before: the dumper may have started since.
    if rng is None:
        raise Refused("%s no longer has its control record (exec?); nothing sent" % t.who)
    for attempt in range(2):
        rng, rec = ctl.own_control(t.pid, lines)
        if ctl.rec_int(rec, "wake_signal") != t.sig:
            raise Refused("%s changed its wake signal while checking it; nothing sent" % t.who)
        tid = ctl.rec_int(rec, "dumper_tid") or t.pid
        if tid == t.pid and ctl.blocks(t.pid, tid, t.sig):
            # No dumper yet, and the main thread would leave it pending forever.
            raise Refused("%s: the library has not started its dumper thread yet and the "
                          "main thread blocks threadsnap's wake signal %d; nothing sent"
                          % (t.who, t.sig))
        t.sent_ns = time.time_ns()
        try:
            ctl.tgkill(t.pid, tid, t.sig)
            return
        except OSError as e:
            if e.errno != 3 or attempt:  # ESRCH: the dumper thread just went; read again
                raise Refused("cannot signal thread %d of %s: %s" % (tid, t.who, e.strerror))
            time.sleep(0.05)


def wait_dump(t, timeout):
    deadline = time.monotonic() + timeout
    pause = 0.002   # most dumps are written within milliseconds: look soon, then less often
    while True:
        f = new_dump(t)
        if f:
            return f
        if not os.path.isdir("/proc/%d" % t.pid) or ctl.start_time(t.pid) != t.start:
            note("error: process %d exited before writing its dump" % t.pid)
            return None
        if time.monotonic() > deadline:
            break
        time.sleep(pause)
        pause = min(pause * 2, 0.05)
    extra = ""
    if t.rng is not None:
        try:
            rec = ctl.read_control(t.pid, t.rng)
            if ctl.rec_int(rec, "pid", -1) != t.pid:
                rec = {}
            if rec.get("last_message"):
                extra += "; the library says: %s" % rec["last_message"]
            if rec.get("log"):
                extra += "; its log: %s" % rec["log"]
        except (ctl.Unreadable, ctl.BadRecord, OSError):
            pass
    else:
        extra = " (see the process's stderr; does the program handle signal %d itself?)" % t.sig
    note("error: no dump from %d in %s within %gs%s" % (t.pid, t.dir, timeout, extra))
    return None


def library_says(t):
    """The library's latest warning or error, when it is new since we looked
    (its messages go to its log file, not the program's stderr)."""
    if t.record is None or t.rng is None:
        return
    try:
        rec = ctl.read_control(t.pid, t.rng)
    except (ctl.Unreadable, ctl.BadRecord, OSError):
        return
    msg = rec.get("last_message", "")
    if msg and msg != t.record.get("last_message", ""):
        note("process %d's library says: %s (its log: %s)" % (t.pid, msg, rec.get("log") or "?"))


# --- main ----------------------------------------------------------------------------------

class Usage(argparse.ArgumentParser):
    def error(self, message):
        sys.stderr.write("threadsnap: error: dump: %s\nTry 'threadsnap help'.\n" % message)
        sys.exit(2)


def main(argv=None):
    ap = Usage(prog="threadsnap dump", add_help=True, allow_abbrev=False)
    ap.add_argument("--dir")
    ap.add_argument("--signal")
    ap.add_argument("--timeout", default="10")
    ap.add_argument("--format", "-f", default="text")
    ap.add_argument("--merge", action="store_true")
    ap.add_argument("--no-report", action="store_true")
    ap.add_argument("--tree", action="store_true")
    ap.add_argument("--symbolizer")
    ap.add_argument("--debug-dir", action="append")
    ap.add_argument("pids", nargs="*")
    args = ap.parse_args(argv)
    if not args.pids:
        ap.error("no PID given (threadsnap dump [OPTIONS] PID...)")
    try:
        timeout = float(args.timeout)
        if timeout < 0 or not args.timeout.replace(".", "", 1).isdigit():
            raise ValueError
    except ValueError:
        ap.error("--timeout must be seconds, not '%s'" % args.timeout)
    if args.format not in ("text", "threads", "folded", "json"):
        ap.error("--format must be text, threads, folded or json")
    override = None
    if args.signal is not None:
        override = ctl.signal_number(args.signal)
        if override is None:
            ap.error("--signal %s is not a usable signal" % args.signal)
    pids = []
    for p in args.pids:
        if not p.isdigit() or int(p) <= 0 or p.startswith("0"):
            note("error: dump: '%s' is not a PID" % p)
            return 1
        pids.append(int(p))

    # 1. Verify every PID; refuse all if one fails: nothing is sent unverified.
    targets = []
    if args.tree:
        seen = set()
        for root in pids:
            if not os.path.isdir("/proc/%d" % root):
                note("error: dump: no process %d" % root)
                return 1
            for pid in [root] + ctl.descendants(root):
                if pid in seen:
                    continue
                seen.add(pid)
                try:
                    targets.append(check_target(pid, args, override))
                except Refused as e:
                    note("skipping %d (%s): %s" % (pid, ctl.comm_of(pid), e))
        if not targets:
            note("error: dump: no process of the tree%s %s can be dumped; nothing sent"
                 % ("s" if len(pids) > 1 else "", " ".join(map(str, pids))))
            return 1
    else:
        for pid in pids:
            try:
                targets.append(check_target(pid, args, override))
            except Refused as e:
                note("error: dump: %s" % e)
                return 1

    # 2. Trigger them all (close together in time), re-checking each just before.
    status = 0
    for t in targets:
        try:
            send(t)
        except Refused as e:
            note("error: %s" % e)
            status = 1
        except (OSError, ctl.Unreadable, ctl.BadRecord) as e:
            note("error: cannot trigger %s: %s" % (t.who, e))
            status = 1

    # 3. Wait for each new, complete dump file; the title as it is now.
    files = []
    for t in targets:
        if t.sent_ns is None:
            continue
        t.file = wait_dump(t, timeout)
        if t.file is None:
            status = 1
            continue
        t.title = ctl.title_of(t.pid)
        t.ppid = ctl.ppid_of(t.pid)
        note("dump of %d: %s" % (t.pid, t.file))
        library_says(t)
        files.append(t)
    if not files:
        return 1
    if args.no_report:
        for t in files:
            print(t.file)
        sys.stdout.flush()
        return status

    # 4. Symbolize and report, at low priority: the box may be busy.
    ctl.lower_priority()
    import threadsnap_report as rep
    meta = {t.file: {"title": t.title, "ppid": t.ppid} for t in files}
    rc = rep.run_report([t.file for t in files], args.format, merge=False,
                        also_merge=args.merge,
                        symbolizer=args.symbolizer or os.environ.get("THREADSNAP_SYMBOLIZER",
                                                                     "auto"),
                        debug_dirs=tuple(args.debug_dir) if args.debug_dir else None,
                        meta=meta)
    return status or rc


if __name__ == "__main__":
    sys.exit(main())
