"""Unit tests of scripts/threadsnap_waitfor.py: the wait-for graph (edges,
deadlock cycles, pile-ups) and what a wait is called, from the dump's kind=
(the library's table) and, for older dumps, from the call's name."""
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
import threadsnap_dumpfile as df  # noqa: E402
import threadsnap_waitfor as wf  # noqa: E402


def threads(*lines):
    text = "threadsnap 1\npid 7\nthreads %d\n%s\nend\n" % (len(lines), "\n".join(lines))
    return df.parse("d", text).threads


class GraphTest(unittest.TestCase):
    def test_deadlock_cycle_and_what_each_holds(self):
        g = wf.WaitGraph(threads(
            "thread tid=1 name=a state=blocked call=pthread_mutex_lock kind=mutex obj=0xa0 owner=2 via=sweep",
            "thread tid=2 name=b state=blocked call=pthread_mutex_lock kind=mutex obj=0xb0 owner=1 via=sweep",
            "thread tid=3 name=c state=blocked call=pthread_mutex_lock kind=mutex obj=0xa0 owner=2 via=sweep"))
        self.assertEqual(g.cycles, [[(7, 1), (7, 2)]])
        self.assertEqual([t.tid for t in g.behind[0]], [3])
        self.assertEqual(g.holds[(7, 2)], [("mutex", 0xa0)])
        self.assertEqual(len(g.pileups), 1)
        self.assertEqual((g.pileups[0]["obj"], g.pileups[0]["owner"]), (0xa0, 2))

    def test_join_is_an_edge_but_holds_nothing(self):
        g = wf.WaitGraph(threads(
            "thread tid=1 state=blocked call=pthread_join kind=thread obj=0x99 owner=2 via=sweep",
            "thread tid=2 state=running via=signal"))
        self.assertEqual(g.next, {(7, 1): (7, 2)})
        self.assertEqual(g.holds.get((7, 2)), [])
        self.assertEqual(g.describe_wait(g.threads[0]), 'waiting for thread 2 to exit')

    def test_the_dump_kind_decides_not_the_name(self):
        # A lock call the scripts never heard of: kind=mutex makes it a lock
        # wait, a pile-up and a deadlock edge with no change here.
        g = wf.WaitGraph(threads(
            "thread tid=1 state=blocked call=new_lock kind=mutex obj=0xc0 owner=3 via=sweep",
            "thread tid=2 state=blocked call=new_lock kind=mutex obj=0xc0 owner=3 via=sweep",
            "thread tid=3 state=running via=signal"))
        self.assertEqual(len(g.pileups), 1)
        self.assertEqual(g.pileups[0]["kind"], "mutex")
        self.assertTrue(g.describe_wait(g.threads[0]).startswith("waiting for mutex 0xc0 held by"))


class KindTest(unittest.TestCase):
    def kind(self, line):
        return wf.thread_wait_kind(threads(line)[0])

    def test_key_first_then_the_old_guess(self):
        self.assertEqual(self.kind("thread tid=1 state=blocked call=sigwait kind=signal obj=0x0 via=sweep"),
                         "signal")
        self.assertEqual(self.kind("thread tid=1 state=blocked call=pthread_rwlock_rdlock obj=0x1 via=sweep"),
                         "rwlock")
        self.assertEqual(self.kind("thread tid=1 state=blocked call=epoll_wait obj=0x5 via=sweep"), "fd")

    def test_descriptions(self):
        g = wf.WaitGraph(threads(
            "thread tid=1 state=blocked call=waitpid kind=child obj=0x4d2 via=sweep",
            "thread tid=2 state=blocked call=wait kind=child obj=0x0 via=sweep",
            "thread tid=3 state=blocked call=sigwaitinfo kind=signal obj=0x0 via=sweep",
            "thread tid=4 state=blocked call=read kind=fd obj=0x5 via=sweep"))
        self.assertEqual([g.describe_wait(t) for t in g.threads],
                         ["waiting for child 1234 in waitpid", "waiting for a child in wait",
                          "sleeping in sigwaitinfo", "waiting on fd 5 in read"])


if __name__ == "__main__":
    unittest.main()
