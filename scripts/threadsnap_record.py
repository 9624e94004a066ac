#!/usr/bin/env python3
"""`threadsnap record`: a wall-clock and lock-wait profile from repeated snapshots.

    threadsnap_record.py [--hz N] [--duration S] [-o OUT]... [--format F]
                         [--timeout SEC] [--symbolizer S] [--debug-dir D]
                         (-- CMD ARGS | PID)

Takes a consistent snapshot N times a second (default 20) of CMD, started
here under the library (its dumps go to a private directory), or of PID,
which must run with the library (the refusal rules of `threadsnap dump`:
nothing is ever sent to a process that is not verified). Each snapshot is
read, added to the running aggregate (threadsnap_profile) and deleted at
once, so a long recording of a big process uses memory per distinct stack
and at most one dump file of disk. Ends after S seconds, when the process
exits, or on Ctrl-C / SIGTERM (the profile of what was gathered is written;
a second Ctrl-C abandons it). When the recording ends before CMD does, CMD
is sent SIGTERM (SIGKILL 5 s later if it is still there).

Sampling: a tick every 1/N s; a tick that comes while the previous snapshot
is still being taken is lost (counted, never queued), and every snapshot
weighs one interval per thread. A snapshot that does not come within
--timeout seconds (default 10; at least 20 times the slowest one so far)
ends the recording, and what was gathered is written. The library's stop path is the one of every
dump: recording changes nothing in it.

Formats: pprof (gzipped profile.proto, default; OUT defaults to
threadsnap.PID.pb.gz), text, json, folded, svg (those default to stdout).
Several -o write one recording in several formats, each OUT's format from
its name (.svg, .txt, .json, .folded, else pprof); --format goes with one.
A progress line (samples, elapsed, lost ticks) is drawn on a terminal only.
Exit status: 0 profile written, 1 error, 2 bad usage.
Standard library only.
"""

import argparse
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import types

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import threadsnap_control as ctl  # noqa: E402
from threadsnap_dump import Refused, check_target, last_seq, new_dump, send  # noqa: E402
from threadsnap_dumpfile import DumpError  # noqa: E402
from threadsnap_profile import Aggregate, BaseMismatch  # noqa: E402

FORMATS = ("pprof", "text", "json", "folded", "svg")
SYMBOLIZERS = ("auto", "llvm-symbolizer", "eu-addr2line", "addr2line", "none")
START_TIMEOUT = 10.0     # for CMD's library to publish its control record
DUMP_TIMEOUT = 10.0      # for one snapshot, at least


def note(msg):
    sys.stderr.write("threadsnap: %s\n" % msg)


class Fail(Exception):
    """Ends the command with 'threadsnap: error: ...' and status 1."""


class Late(Exception):
    """A snapshot did not come in time: the recording ends with what it has."""


class Usage(argparse.ArgumentParser):
    def error(self, message):
        sys.stderr.write("threadsnap: error: record: %s\nTry 'threadsnap help'.\n" % message)
        sys.exit(2)


# --- the target ---------------------------------------------------------------------

def start_command(cmd, lib):
    """Starts cmd under the library with a private dump directory: (Popen, dir)."""
    if shutil.which(cmd[0]) is None:
        raise Fail("record: command not found: %s" % cmd[0])
    d = tempfile.mkdtemp(prefix="threadsnap-record.")
    env = dict(os.environ)
    pre = env.get("LD_PRELOAD", "")
    if lib not in pre.split(":"):
        env["LD_PRELOAD"] = lib + (":" + pre if pre else "")
    env["THREADSNAP_DIR"] = d
    env["THREADSNAP_QUIET"] = "1"
    try:
        # Its own signal disposition for SIGINT: a Ctrl-C reaches it from the
        # terminal as it would without threadsnap.
        proc = subprocess.Popen(cmd, env=env)
    except OSError as e:
        shutil.rmtree(d, ignore_errors=True)
        raise Fail("record: cannot start %s: %s" % (cmd[0], e.strerror))
    return proc, d


def attach_started(proc, d, lib):
    """The Target of a command we started, once its library is ready: for a
    library that publishes a control record, once the record is there (the
    library is mapped before its constructor publishes it, and a target
    checked in between would look like an older library)."""
    with open(lib, "rb") as f:
        has_record = b"threadsnap-control" in f.read()
    deadline = time.monotonic() + START_TIMEOUT
    why = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return None
        try:
            t = check_target(proc.pid, types.SimpleNamespace(dir=d), None)
            if t.record is not None or not has_record:
                return t
            why = "its library has not published its control record yet"
        except Refused as e:
            why = e
        time.sleep(0.01)
    raise Fail("record: %s did not start libthreadsnap within %g s (%s)"
               % (proc.args[0], START_TIMEOUT, why))


def hold(t):
    """Takes a pidfd of t's process, once it is verified: from then on,
    whether it still runs is one poll (no /proc/PID/stat read, which costs
    the kernel a walk over every thread), and it is this process's exit that
    the fd reports, never that of a later process given the same PID."""
    t.pidfd = None
    try:
        fd = os.pidfd_open(t.pid)
    except (OSError, AttributeError):
        return
    if ctl.start_time(t.pid) != t.start:     # the PID was reused since check_target
        os.close(fd)
        raise Refused("process %d changed while checking it (exited?); nothing sent" % t.pid)
    t.pidfd = fd


def poke(t, proc):
    """Asks t's library for one snapshot, re-verifying what check_target
    verified (same process, same record, same wake signal) at the cost of a
    few small /proc reads, instead of re-reading all of /proc/PID/maps (20,000
    lines at 10,000 threads) as `dump` does once."""
    if not alive(t, proc):
        raise Refused("process %d is gone" % t.pid)
    if t.how != "wake" or t.rng is None:
        return send(t)
    try:
        rec = ctl.read_control(t.pid, t.rng)
    except (ctl.Unreadable, ctl.BadRecord, OSError) as e:
        raise Refused("%s: its control record cannot be read any more (%s); nothing sent"
                      % (t.who, e)) from None
    if ctl.rec_int(rec, "pid", -1) != t.pid or ctl.rec_int(rec, "wake_signal") != t.sig:
        raise Refused("%s changed its control record (exec?); nothing sent" % t.who)
    tid = ctl.rec_int(rec, "dumper_tid") or t.pid
    if tid == t.pid and ctl.blocks(t.pid, tid, t.sig):
        raise Refused("%s: no dumper thread and the main thread blocks signal %d; nothing sent"
                      % (t.who, t.sig))
    t.sent_ns = time.time_ns()
    # A record dump where the library writes them and has its dumper: only
    # the threads that changed since the last one are written out.
    t.asked_record = tid != t.pid and rec.get("record_dumps") == "1"
    try:
        if t.asked_record:
            ctl.ask_record_dump(t.pid, tid, t.sig, t.token)
        else:
            ctl.tgkill(t.pid, tid, t.sig)
    except OSError as e:
        raise Refused("cannot signal thread %d of %s: %s" % (tid, t.who, e.strerror)) from None


def alive(t, proc):
    if proc is not None:
        return proc.poll() is None
    if getattr(t, "pidfd", None) is not None:
        return not select.select([t.pidfd], [], [], 0)[0]   # readable once it exits
    return ctl.start_time(t.pid) == t.start


def exiting(t, proc, grace=1.0):
    """Whether the process is gone or going: while it exits, /proc/PID/mem
    already fails but it is not yet a zombie, so give it a moment."""
    if proc is not None:
        try:
            proc.wait(timeout=grace)
            return True
        except subprocess.TimeoutExpired:
            return False
    if getattr(t, "pidfd", None) is not None:
        return bool(select.select([t.pidfd], [], [], grace)[0])
    return not alive(t, proc)


def suffixes(t):
    """The dump files that answer what poke asked for: our record dump, or
    a plain dump (someone else's request may have coalesced with ours)."""
    return (".rec", ".txt") if getattr(t, "asked_record", False) else (".txt",)


def wait_dump(t, proc, timeout):
    """The path of the snapshot asked for, or None when the process is gone.
    Looks for the next sequence number by name (one stat) and lists the
    directory only now and then (a dump someone else triggered takes a
    number too)."""
    deadline = time.monotonic() + timeout
    pause = 0.001
    polls = 0
    sfx = suffixes(t)
    while True:
        polls += 1
        if polls % 16 == 1 or any(os.path.exists(os.path.join(
                t.dir, "threadsnap.%d.%d%s" % (t.pid, t.seq + 1, s))) for s in sfx):
            f = new_dump(t, sfx)
            if f:
                return f
        if not alive(t, proc):
            return new_dump(t, sfx)
        if time.monotonic() > deadline:
            raise Late("no snapshot from %s in %s within %.0f s (the process stalled, or the "
                       "machine is overloaded)" % (t.who, t.dir, timeout))
        time.sleep(pause)
        pause = min(pause * 1.5, 0.02)


def seq_of(path):
    return int(path.rsplit(".", 2)[-2])


def ours(t, path, text=None):
    """Whether path is a record dump of this recording (its token)."""
    if not path.endswith(".rec"):
        return False
    if text is None:
        try:
            with open(path, "rb") as f:
                text = f.read(8192).decode("utf-8", "replace")
        except OSError:
            return False
    return ("\nrecord_token %d\n" % t.token) in text[:8192]


def drop_stale_records(t, below):
    """Our record dumps numbered below `below` and above t.seq: ones that
    came too late for their tick (a later tick's request was sent first)."""
    for n in range(t.seq + 1, below):
        p = os.path.join(t.dir, "threadsnap.%d.%d.rec" % (t.pid, n))
        if os.path.exists(p) and ours(t, p):
            try:
                os.unlink(p)
            except OSError:
                pass


def new_token():
    return int.from_bytes(os.urandom(4), "little") or 1


# --- the loop ---------------------------------------------------------------------------

class Stop:
    def __init__(self):
        self.why = None

    def handler(self, signum, frame):
        if self.why is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.why = "interrupted (%s)" % signal.Signals(signum).name


def record(t, proc, args, agg, stop, progress):
    period = 1.0 / args.hz
    t0 = time.monotonic()
    end = t0 + args.duration if args.duration else None
    next_tick = t0
    lost = 0
    latency = []        # trigger to whole dump file, seconds
    shown = 0.0
    ended = None
    while stop.why is None:
        now = time.monotonic()
        if end is not None and now >= end:
            ended = "duration %g s reached" % args.duration
            break
        if now < next_tick:
            time.sleep(min(next_tick, end or next_tick) - now)
            continue
        if now - next_tick >= period:       # ticks that came while we were busy
            missed = int((now - next_tick) / period)
            lost += missed
            next_tick += missed * period
        next_tick += period
        if not alive(t, proc):
            break
        asked = time.monotonic()
        try:
            poke(t, proc)
        except Refused as e:
            if exiting(t, proc):
                break
            raise Fail("record: %s" % e)
        try:
            # A slow host gets time in proportion to its slowest snapshot so far.
            path = wait_dump(t, proc, max(args.timeout, 20 * max(latency, default=0)))
        except Late as e:
            ended = str(e)
            break
        if path is None:
            break
        latency.append(time.monotonic() - asked)
        seq = seq_of(path)
        drop_stale_records(t, seq)
        mine = False
        try:
            with open(path, "rb") as f:
                text = f.read().decode("utf-8", "replace")
            mine = ours(t, path, text)
            if path.endswith(".rec") and not mine:
                lost += 1           # another recorder's: not ours to read or delete
            else:
                agg.add_dump(path, text, t.token if mine else None, seq)
        except BaseMismatch:
            # We missed the record dump it is relative to: the next request
            # carries a new token, so the library writes every thread again.
            lost += 1
            t.token = new_token()
        except (OSError, DumpError) as e:
            raise Fail("record: %s" % e)
        finally:
            t.seq = max(t.seq, seq)
            # Ours to delete: our record dumps, and plain dumps where we ask
            # for plain dumps (not one someone else asked for meanwhile).
            if mine or not getattr(t, "asked_record", False) and path.endswith(".txt"):
                try:
                    os.unlink(path)
                except OSError:
                    pass
        if progress and time.monotonic() - shown >= 0.25:
            shown = time.monotonic()
            sys.stderr.write("\rthreadsnap: recording pid %d: %d samples, %.1f s, %d lost  "
                             % (t.pid, agg.samples, shown - t0, lost))
            sys.stderr.flush()
    wall_ns = int((time.monotonic() - t0) * 1e9)
    drop_stale_records(t, last_seq(t.dir, t.pid, (".rec",)) + 1)
    if progress:
        sys.stderr.write("\r" + " " * 70 + "\r")
    if stop.why and ended is None:
        ended = stop.why
    elif ended is None:
        if proc is not None and proc.poll() is not None:
            ended = "%s exited with status %d after %.1f s" % (proc.args[0], proc.returncode,
                                                             wall_ns / 1e9)
        else:
            ended = "process %d exited after %.1f s" % (t.pid, wall_ns / 1e9)
    return {"hz": args.hz, "wall_ns": wall_ns, "lost": lost, "ended": ended,
            "latency_s": latency}


# --- output ----------------------------------------------------------------------------

def format_of(path):
    for ext, fmt in ((".svg", "svg"), (".txt", "text"), (".json", "json"),
                     (".folded", "folded")):
        if path.endswith(ext):
            return fmt
    return "pprof"


def outputs(args):
    """[(path or None for stdout, format)]: one per -o (its format from
    --format, else from its name), or one default."""
    if not args.output:
        return [(None, args.format or "pprof")]
    if len(args.output) == 1 and args.format:
        return [(args.output[0], args.format)]
    return [(o, format_of(o)) for o in args.output]


def check_output(path):
    """Refuses, before anything starts, an output that cannot be written."""
    if path is None or path == "-":
        return
    d = os.path.dirname(os.path.abspath(path)) or "/"
    if os.path.isdir(path):
        raise Fail("record: output %s is a directory" % path)
    if not os.path.isdir(d):
        raise Fail("record: cannot write %s: directory %s does not exist" % (path, d))
    if not os.access(d, os.W_OK | os.X_OK):
        raise Fail("record: cannot write %s: directory %s is not writable" % (path, d))


def render(fmt, prof):
    if fmt == "pprof":
        from threadsnap_pprof import encode
        return encode(prof)
    if fmt == "svg":
        from threadsnap_flame import render_svg
        a = prof.agg
        title = "threadsnap record: pid %s (%s), %d samples at %g Hz" % (
            a.pid, os.path.basename(a.exe or "?"), a.samples, prof.info["hz"])
        return render_svg(prof, title).encode("utf-8")
    import threadsnap_record_out as out
    return {"text": out.render_text, "json": out.render_json,
            "folded": out.render_folded}[fmt](prof).encode("utf-8")


def write_output(path, data):
    """Writes data whole or not at all (a temporary file renamed into place)."""
    if path is None or path == "-":
        try:
            sys.stdout.buffer.write(data)
            sys.stdout.flush()
        except BrokenPipeError:
            sys.stderr.close()
        except OSError as e:
            raise Fail("record: cannot write the profile to stdout: %s" % e.strerror)
        return
    tmp = "%s.tmp.%d" % (path, os.getpid())
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise Fail("record: cannot write %s: %s" % (path, (e.strerror or str(e)).lower()))


def stop_command(proc):
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# --- main -------------------------------------------------------------------------------

def parse_args(argv):
    if "--" in argv:
        i = argv.index("--")
        opts, cmd = argv[:i], argv[i + 1:]
    else:
        opts, cmd = argv, []
    ap = Usage(prog="threadsnap record", allow_abbrev=False)
    ap.add_argument("--hz", type=float, default=20.0)
    ap.add_argument("--duration", type=float, default=0.0)
    ap.add_argument("--timeout", type=float, default=DUMP_TIMEOUT)
    ap.add_argument("-o", "--output", action="append")
    ap.add_argument("--format", "-f", choices=FORMATS)
    ap.add_argument("--symbolizer", default=os.environ.get("THREADSNAP_SYMBOLIZER", "auto"),
                    choices=SYMBOLIZERS)
    ap.add_argument("--debug-dir", action="append")
    ap.add_argument("pid", nargs="?")
    args = ap.parse_args(opts)
    if not 0 < args.hz <= 1000:
        ap.error("--hz must be above 0 and at most 1000, not %g" % args.hz)
    if args.duration < 0:
        ap.error("--duration must be seconds, not %g" % args.duration)
    if args.timeout <= 0:
        ap.error("--timeout must be seconds above 0, not %g" % args.timeout)
    if bool(cmd) == bool(args.pid):
        ap.error("give either -- CMD ARGS or one PID")
    if args.format and args.output and len(args.output) > 1:
        ap.error("--format goes with one -o; with several, each output's name says its "
                 "format (.pb.gz, .svg, .txt, .json, .folded)")
    if args.output and sum(o == "-" for o in args.output) > 1:
        ap.error("only one output can be stdout")
    if args.pid is not None and (not args.pid.isdigit() or args.pid.startswith("0")):
        ap.error("'%s' is not a PID" % args.pid)
    args.cmd = cmd
    return args


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    outs = outputs(args)
    proc = d = None
    stop = Stop()
    try:
        for path, _ in outs:
            check_output(path)
        if args.cmd:
            lib = os.environ.get("THREADSNAP_RECORD_LIB")
            if not lib:
                raise Fail("record: libthreadsnap.so not found (run 'make' first)")
            signal.signal(signal.SIGINT, stop.handler)
            signal.signal(signal.SIGTERM, stop.handler)
            proc, d = start_command(args.cmd, lib)
            t = attach_started(proc, d, lib)
            if t is None:
                raise Fail("record: %s exited (status %d) before its library was ready; "
                           "nothing recorded" % (args.cmd[0], proc.returncode))
        else:
            try:
                t = check_target(int(args.pid), types.SimpleNamespace(dir=None), None)
            except Refused as e:
                raise Fail("record: %s" % e)
            signal.signal(signal.SIGINT, stop.handler)
            signal.signal(signal.SIGTERM, stop.handler)
            try:
                hold(t)
            except Refused as e:
                raise Fail("record: %s" % e)
        agg = Aggregate(int(round(1e9 / args.hz)))
        t.token = new_token()
        info = record(t, proc, args, agg, stop, sys.stderr.isatty())
        stop_command(proc)
        if agg.samples == 0:
            raise Fail("record: no sample taken (%s)" % info["ended"])
        outs = [(path or ("threadsnap.%d.pb.gz" % t.pid if fmt == "pprof" else None), fmt)
                for path, fmt in outs]
        ctl.lower_priority()    # symbolizing and writing: the box may be busy
        from threadsnap_record_out import Profile
        stacks = agg.frames(args.symbolizer, tuple(args.debug_dir) if args.debug_dir else None)
        prof = Profile(agg, stacks, info)
        for path, fmt in outs:
            write_output(path, render(fmt, prof))
        files = [path for path, _ in outs if path and path != "-"]
        note("%d samples of pid %d at %g Hz over %.1f s (%d lost; %s)%s"
             % (agg.samples, t.pid, args.hz, info["wall_ns"] / 1e9, info["lost"],
                info["ended"], ": wrote " + ", ".join(files) if files else ""))
        for path, fmt in outs:
            if fmt == "pprof" and path:
                note("next: go tool pprof -top %s   (or -http=: %s)" % (path, path))
        return 0
    except Fail as e:
        note("error: %s" % e)
        return 1
    except KeyboardInterrupt:
        note("abandoned (second interrupt); nothing written")
        return 130
    finally:
        stop_command(proc)
        if d:
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
