#!/usr/bin/env python3
"""Asks every process whose threadsnap control record names DUMP_DIR for a
dump every INTERVAL seconds, until SIGTERM; then prints how many it asked
for. Only processes whose dumper already runs are asked (tgkill to the
dumper thread alone): asking a single-threaded process would interrupt its
main thread once (the README's limitation), which a test suite could notice.
Used by cpython_suite.sh --modes dumps (issue 11: CPython's tests with a dump
every 0.5 s).

    periodic_dumps.py DUMP_DIR [INTERVAL]"""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
import threadsnap_control as ctl  # noqa: E402

stop = False


def on_term(*_):
    global stop
    stop = True


def main():
    want = os.path.realpath(sys.argv[1])
    interval = float(sys.argv[2]) if len(sys.argv) > 2 else 0.5
    signal.signal(signal.SIGTERM, on_term)
    asked = 0
    while not stop:
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            pid = int(name)
            try:
                lines = ctl.maps_lines(pid)
                if not ctl.control_ranges(lines):
                    continue
                _, rec = ctl.own_control(pid, lines)
                if not rec or os.path.realpath(rec.get("dir", "")) != want:
                    continue
                tid, sig = ctl.rec_int(rec, "dumper_tid"), ctl.rec_int(rec, "wake_signal")
                if tid > 0 and sig > 0:
                    ctl.tgkill(pid, tid, sig)
                    asked += 1
            except Exception:  # gone, unreadable, not ours: next one
                continue
        time.sleep(interval)
    print("asked %d" % asked)


if __name__ == "__main__":
    main()
