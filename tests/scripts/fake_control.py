#!/usr/bin/env python3
"""A stand-in for a program under a library that publishes a control record
(issue 12), for testing `threadsnap dump` before, and apart from, the real
library: it maps a memfd named threadsnap-control with a v1 record and answers
the wake signal by writing a (tiny, well-formed) dump file.

    fake_control.py DIR STATUS [--wake SIG] [--dumper lazy|running] [--trigger on|off|none]
                    [--trigger-signal SIG] [--own-usr2] [--stuck] [--no-handler]

--own-usr2: the "program" owns SIGUSR2: its handler writes 'USR2 HANDLER RAN'
to STATUS and exits 3 (PostgreSQL's checkpointer shuts down on it).
--stuck: the record stays odd (being updated) forever.
--no-handler: the wake signal has no handler (the library would be broken).

STATUS gets lines: 'ready PID', 'woke on tid T (main|dumper)', 'EINTR in main'
(its main thread sits in poll(NULL, 0, 1 s) through ctypes, so an interrupted
wait shows), 'dump PATH'.
"""
import argparse
import ctypes
import mmap
import os
import signal
import sys
import threading
import time

libc = ctypes.CDLL(None, use_errno=True)
ap = argparse.ArgumentParser()
ap.add_argument("dir")
ap.add_argument("status")
ap.add_argument("--wake", type=int, default=40)
ap.add_argument("--dumper", default="running")
ap.add_argument("--trigger", default="on")
ap.add_argument("--trigger-signal", type=int, default=int(signal.SIGUSR2))
ap.add_argument("--own-usr2", action="store_true")
ap.add_argument("--stuck", action="store_true")
ap.add_argument("--no-handler", action="store_true")
ap.add_argument("--say", help="last_message the record gets with each dump")
ap.add_argument("--main-blocks", action="store_true",
                help="the main thread blocks the wake signal (with --dumper lazy)")
ap.add_argument("--fork", choices=("own", "inherit"),
                help="fork a child that keeps the parent's record mapped and publishes its "
                     "own (own) or none (inherit); it says 'child ready PID'")
args = ap.parse_args()

status_lock = threading.Lock()


def status(line):
    with status_lock:
        with open(args.status, "a") as f:
            f.write(line + "\n")


pid = os.getpid()
fd = os.memfd_create("threadsnap-control", 0)
os.ftruncate(fd, 4096)
rec = mmap.mmap(fd, 4096, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
state = {"seq": 0, "dumps": 0, "last_dump": "", "dumper_tid": 0, "last_message": ""}


def publish():
    def text(seq):
        t = ("threadsnap-control 1\nseq %d\nversion fake-0\npid %d\ndumper_tid %d\n"
             "wake_signal %d\ntrigger_signal %d\ntrigger %s\ndir %s\nlog %s/threadsnap.log\n"
             "dumps %d\nlast_dump %s\nlast_message %s\nend\n"
             % (seq, pid, state["dumper_tid"], args.wake,
                args.trigger_signal if args.trigger != "none" else 0, args.trigger,
                args.dir, args.dir, state["dumps"], state["last_dump"],
                state["last_message"])).encode()
        return t + b"\0" * (4096 - len(t))
    state["seq"] += 1          # odd: the record is being updated
    rec[0:4096] = text(state["seq"])
    if args.stuck:
        return
    state["seq"] += 1
    rec[0:4096] = text(state["seq"])


def write_dump(who):
    state["dumps"] += 1
    n = state["dumps"]
    final = os.path.join(args.dir, "threadsnap.%d.%d.txt" % (pid, n))
    tmp = os.path.join(args.dir, ".threadsnap.%d.%d.tmp" % (pid, n))
    with open(tmp, "w") as f:
        f.write("threadsnap 1\npid %d\nexe %s\ntime_ns %d\nmode concurrent\nthreads 2\n"
                "stop1_ns 1000\nsweep_ns 2000\nstop2_ns 3000\n"
                "thread tid=%d name=fake-main state=blocked call=poll obj=-1 blocked_ns=5000 via=sweep\n"
                "  0x1000\n"
                "thread tid=%d name=threadsnap-fake state=running via=signal\n  0x2000\nend\n"
                % (pid, sys.executable, time.time_ns(), pid, pid + 1))
    os.rename(tmp, final)
    state["last_dump"] = final
    if args.say:
        state["last_message"] = "%s %d" % (args.say, n)
    publish()
    status("woke on tid %d (%s)" % (threading.get_native_id(), who))
    status("dump " + final)


wake_pending = threading.Event()

if args.own_usr2:
    def usr2(signum, frame):
        status("USR2 HANDLER RAN")
        os._exit(3)
    signal.signal(signal.SIGUSR2, usr2)

if not args.no_handler and args.wake:
    # The library's handler on the main thread: starts the dumper (lazy) or,
    # here, just takes the dump. Python runs handlers on the main thread.
    def on_wake(signum, frame):
        wake_pending.set()
    signal.signal(args.wake, on_wake)

if args.dumper == "running" and args.wake:
    # The dumper thread takes the wake signal with sigwaitinfo; every other
    # thread blocks it, so only a thread-directed signal to the dumper (or a
    # process-directed one) can reach it.
    signal.pthread_sigmask(signal.SIG_BLOCK, [args.wake])
    ready = threading.Event()

    def dumper():
        state["dumper_tid"] = threading.get_native_id()
        ready.set()
        while True:
            signal.sigwaitinfo([args.wake])
            write_dump("dumper")
    threading.Thread(target=dumper, daemon=True, name="threadsnap").start()
    ready.wait()
if args.main_blocks and args.wake:
    signal.pthread_sigmask(signal.SIG_BLOCK, [args.wake])
publish()
status("ready %d" % pid)

if args.fork and os.fork() == 0:
    # The child keeps the parent's shared record mapped (a memfd mapping is
    # inherited). With "own" it publishes its own record too, dumper lazy.
    pid = os.getpid()
    state.update(seq=0, dumps=0, last_dump="", dumper_tid=0)
    parents_rec = rec  # keep the inherited mapping mapped
    if args.fork == "own":
        fd = os.memfd_create("threadsnap-control", 0)
        os.ftruncate(fd, 4096)
        rec = mmap.mmap(fd, 4096, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        publish()
    if args.wake:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [args.wake])
    status("child ready %d" % pid)

libc.poll.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int]
while True:
    r = libc.poll(None, 0, 1000)
    if r < 0 and ctypes.get_errno() == 4:
        status("EINTR in main")
    if wake_pending.is_set():
        wake_pending.clear()
        write_dump("main")
