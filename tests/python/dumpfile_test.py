"""Unit tests of scripts/threadsnap_dumpfile.py: what parse() reads from a dump
and what it refuses, and which address of a frame a symbolizer looks up."""
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
import threadsnap_dumpfile as df  # noqa: E402

HEADER = """threadsnap 1
pid 42
exe /bin/prog
time_ns 1000
mode {mode}
threads {n}
stop1_ns 1
sweep_ns 2
stop2_ns 3
module 0x1000 0x2000 0x0 /bin/prog build-id=ab bias=0x0
"""


def dump(threads, mode="concurrent"):
    body = "".join(threads)
    return HEADER.format(mode=mode, n=sum(1 for t in threads)) + body + "end\n"


class ParseTest(unittest.TestCase):
    def test_header_threads_and_keys(self):
        d = df.parse("d", dump([
            "thread tid=43 name=w%20x state=blocked call=pthread_mutex_lock obj=0x10 "
            "blocked_ns=5 owner=44 via=sweep future=1\n  0x1100\n  0x1200\n",
            "thread tid=44 name=h state=running via=signal first=pc\n  0x1300\n"]))
        self.assertEqual(d.pid, 42)
        self.assertEqual(d.mode, "concurrent")
        self.assertEqual([t.tid for t in d.threads], [43, 44])
        w = d.threads[0]
        self.assertEqual((w.name, w.state, w.call, w.obj, w.owner, w.via),
                         ("w x", "blocked", "pthread_mutex_lock", 0x10, 44, "sweep"))
        self.assertEqual(w.extra, {"future": "1"})  # unknown keys are kept, not refused
        self.assertEqual([f.address for f in w.frames], [0x1100, 0x1200])
        self.assertEqual(d.modules[0].build_id, "ab")

    def test_refuses_what_v1_promises(self):
        cases = {
            "no end": dump([]).replace("end\n", ""),
            "count": dump(["thread tid=1 state=running via=signal\n"]).replace("threads 1", "threads 2"),
            "version": dump([]).replace("threadsnap 1", "threadsnap 2"),
            "frame": dump(["thread tid=1 state=running via=signal\n  zz\n"]),
            "no tid": dump(["thread state=running via=signal\n"]),
        }
        for what, text in cases.items():
            with self.subTest(what):
                with self.assertRaises(df.DumpError):
                    df.parse("d", text)


class FirstFrameTest(unittest.TestCase):
    """The first frame is a PC where the thread line says first=pc; dumps from
    before that key: where via is signal or start. Every other frame is a
    return address, looked up one byte earlier."""

    def lookups(self, line, mode="concurrent"):
        d = df.parse("d", dump([line + "\n  0x1100\n  0x1200\n"], mode))
        return [f.lookup for f in d.threads[0].frames]

    def test_key_says_pc(self):
        # stw: a running thread's capture is the interrupted PC, yet via=stw.
        self.assertEqual(self.lookups("thread tid=1 state=running via=stw first=pc", "stw"),
                         [0x1100, 0x11ff])

    def test_no_key_is_a_return_address(self):
        self.assertEqual(self.lookups("thread tid=1 state=blocked call=read obj=0x3 via=stw",
                                      "stw"), [0x10ff, 0x11ff])
        self.assertEqual(self.lookups("thread tid=1 state=blocked call=read obj=0x3 via=sweep"),
                         [0x10ff, 0x11ff])

    def test_older_dumps_without_the_key(self):
        self.assertEqual(self.lookups("thread tid=1 state=running via=signal"), [0x1100, 0x11ff])
        self.assertEqual(self.lookups("thread tid=1 state=running via=start"), [0x1100, 0x11ff])

    def test_same_address_pc_and_return_are_distinct_frames(self):
        d = df.parse("d", dump(["thread tid=1 state=running via=signal first=pc\n  0x1100\n",
                                "thread tid=2 state=blocked call=read obj=0x3 via=sweep\n  0x1100\n"]))
        a, b = d.threads[0].frames[0], d.threads[1].frames[0]
        self.assertIsNot(a, b)
        self.assertEqual((a.lookup, b.lookup), (0x1100, 0x10ff))


if __name__ == "__main__":
    unittest.main()
