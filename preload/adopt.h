// threadsnap: threads the registry did not see start, and threads that block
// the stop signal behind our back: both found in /proc before each dump.
// Dumper: before stop 1 (may allocate, reads /proc); never on the stop path,
// except read_task_status (a /proc read, no allocation, no lock).
#pragma once

#include <sys/types.h>

#include <cstdint>

namespace threadsnap::detail {

// Up to max tids of /proc/self/task; 0 without /proc. Dumper (a static
// buffer).
uint32_t list_tasks(pid_t* tids, uint32_t max);

// The thread count the kernel gives, a zombie main thread included, or -1.
// Any context (a small-file read).
long kernel_thread_count();

// /proc/self/task/TID/status of one of our threads: whether it blocks our
// stop signal (SigBlk), whether that signal is pending for it (SigPnd or
// ShdPnd; only where stop_pending is given) and whether it is a zombie.
// False if it cannot be read (no /proc, gone). Dumper (stop 1's frozen
// verdicts among its callers): no allocation, no lock.
bool read_task_status(pid_t tid, bool* blocks_stop, bool* zombie, bool* stop_pending = nullptr);

// The dumper thread now has a file table of its own (preload/entry.cpp):
// read_task_status may keep the status files of the last few threads it
// read open there, and read them again without a path lookup (most of the
// cost of a frozen verdict's SigBlk read). Each new dumper thread calls it
// and forgets the fds of the one before, which were in another table.
// Dumper.
void keep_status_fds();

// Whether /proc/self/task must be read for threads we do not know (the
// kernel's thread count, an ended program thread or an ended foreign thread
// says one may exist). Dumper.
bool task_scan_needed();

// Adopts every thread of /proc/self/task the registry does not know as a
// foreign record, and forgets foreign records whose thread is gone or has
// since been registered. Dumper; takes the registry lock.
void adopt_foreign_threads();

// Threads that did not answer the last stop, or whose skip came from /proc:
// SigBlk is read again, so that a thread still blocking the stop signal is
// listed via=timeout at once instead of costing every stop the timeout.
// Dumper.
void recheck_silent_threads();

}  // namespace threadsnap::detail
