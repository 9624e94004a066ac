"""Unit tests of scripts/threadsnap_profile.py: the aggregate `threadsnap
record` builds, from plain dumps and from record dumps (preload/writer.h:
threads unchanged since the record dump before are listed only in a `same`
line). A recording of record dumps must count exactly what the same
recording of whole dumps counts, lock table included; a record dump
relative to a dump that was not taken in is refused (BaseMismatch)."""
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
import threadsnap_profile as tp  # noqa: E402

# The threads of three moments of a process: tid -> (line less tid, frames).
LOCKER = ("name=w state=blocked call=pthread_mutex_lock obj=0xa0 blocked_ns=%d owner=2 "
          "via=sweep kind=mutex", ["0x1000", "0x2000"])
HOLDER_A = ("name=h state=running via=signal first=pc", ["0x3000", "0x2000"])
HOLDER_B = ("name=h state=blocked call=read obj=0x3 blocked_ns=%d via=sweep kind=fd",
            ["0x4000", "0x2000"])
CONDW = ("name=c state=blocked call=pthread_cond_wait obj=0xc0 blocked_ns=%d mutex=0xa0 "
         "via=sweep kind=condvar", ["0x5000"])
MOMENTS = [
    {1: LOCKER, 2: HOLDER_A, 3: CONDW, 4: LOCKER},
    {1: LOCKER, 2: HOLDER_A, 3: CONDW, 4: LOCKER},   # nothing moved
    {1: LOCKER, 2: HOLDER_B, 3: CONDW},               # 2 moved, 4 ended
    {1: LOCKER, 2: HOLDER_B, 3: CONDW, 5: HOLDER_A},  # 5 born
]


def record(tid, line, frames, ns):
    text = "thread tid=%d %s\n" % (tid, line % ns if "%d" in line else line)
    return text + "".join("  %s\n" % f for f in frames)


def head(n, extra=""):
    return ("threadsnap 1\npid 7\nexe /bin/x\ntime_ns 1\nthreads %d\nstop1_ns 10\nstop2_ns 5\n%s"
            "module 0x1000 0x9000 0x0 /bin/x bias=0x0\n" % (n, extra))


def whole(moment, ns):
    return head(len(moment)) + "".join(record(t, l, f, ns + t) for t, (l, f) in
                                       sorted(moment.items())) + "end\n"


def delta(moment, before, token, base, ns):
    """A record dump of moment relative to `before` (None: written whole)."""
    same = [t for t in sorted(moment) if before is not None and before.get(t) == moment[t]]
    body = "".join(record(t, l, f, ns + t) for t, (l, f) in sorted(moment.items())
                   if t not in same)
    text = head(len(moment), "record_token %d\nrecord_base %d\n" % (token, base)) + body
    if same:
        text += "same %s\n" % ",".join(str(t) for t in same)
    return text + "end\n"


def summary(agg):
    agg.finish()
    counts = sorted((agg.stack_list[k[0]][0], k[1:], n) for k, n in agg.counts.items())
    locks = {obj: (st.waits, st.cond_waits, sorted(st.waiters), sorted(st.cond_waiters),
                   sorted((agg.stack_list[o[0]][0], o[1:], n) for o, n in st.owners.items()),
                   st.no_owner)
             for obj, st in agg.locks.items()}
    return agg.samples, counts, locks


class RecordDumpsTest(unittest.TestCase):
    def test_record_dumps_count_what_whole_dumps_count(self):
        plain = tp.Aggregate(50000000)
        for i, m in enumerate(MOMENTS):
            plain.add_dump("d%d.txt" % i, whole(m, 1000 * i))
        rec = tp.Aggregate(50000000)
        before = None
        for i, m in enumerate(MOMENTS):
            text = delta(m, before, 77, i if before is not None else 0, 1000 * i)
            if before is not None:
                self.assertIn("\nsame ", text)
            rec.add_dump("d%d.rec" % (i + 1), text, 77, i + 1)
            before = m
        s = summary(plain)   # finish() once per aggregate
        self.assertEqual(summary(rec), s)
        self.assertEqual(s[0], 4)
        # The lock table saw both of the holder's stacks while 1 and 4 waited.
        owners = s[2]["0xa0"][4]
        self.assertEqual(len(owners), 2, owners)

    def test_a_thread_only_in_the_same_line_needs_the_base(self):
        agg = tp.Aggregate(1)
        agg.add_dump("a.rec", delta(MOMENTS[0], None, 5, 0, 0), 5, 1)
        with self.assertRaises(tp.BaseMismatch):   # relative to dump 9, not 1
            agg.add_dump("b.rec", delta(MOMENTS[1], MOMENTS[0], 5, 9, 0), 5, 2)
        with self.assertRaises(tp.BaseMismatch):   # 5 was never listed
            agg.add_dump("c.rec", delta(MOMENTS[3], MOMENTS[3], 5, 1, 0), 5, 3)
        with self.assertRaises(tp.BaseMismatch):   # whole, yet a same line
            agg.add_dump("d.rec", delta(MOMENTS[1], MOMENTS[0], 5, 0, 0), 5, 4)
        self.assertEqual(agg.samples, 1)
        # Another recorder's token is no record dump of this one.
        with self.assertRaises(tp.DumpError):
            agg.add_dump("e.rec", delta(MOMENTS[1], None, 6, 0, 0), 5, 5)
        agg.add_dump("f.rec", delta(MOMENTS[1], MOMENTS[0], 5, 1, 0), 5, 6)
        self.assertEqual(agg.samples, 2)

    def test_a_record_dump_with_nothing_written_out(self):
        agg = tp.Aggregate(1)
        agg.add_dump("a.rec", delta(MOMENTS[0], None, 5, 0, 0), 5, 1)
        text = delta(MOMENTS[1], MOMENTS[0], 5, 1, 0)
        self.assertNotIn("\nthread ", text)
        agg.add_dump("b.rec", text, 5, 2)
        self.assertEqual(agg.max_threads, 4)
        self.assertEqual(sum(n for n, _ in agg.raw.values()), 8)


if __name__ == "__main__":
    unittest.main()
