// threadsnap: the control record, what `threadsnap dump` reads to find out how
// to ask this process for a dump without harming it.
//
// A 4096-byte shared memfd mapping named "threadsnap-control": its line in
// /proc/PID/maps ends with `/memfd:threadsnap-control (deleted)`, and a tool
// reads it through /proc/PID/map_files (root) or /proc/PID/mem (same user).
// No file descriptor stays open and no file is left behind, whatever ends
// the process. Environ cannot serve: programs rewrite it for a process title.
//
// Text, `key value` per line, NUL-padded. The first line is
// `threadsnap-control 1`, then `seq N` (odd while an update is under way: a
// reader reads until two reads are equal with an even seq), the keys, `end`.
//
// Ordinary context or Dumper: callers are the constructor, the fork child
// before fork returns, the dumper thread and the sigaction wrapper.
#pragma once

#include <cstdint>

namespace threadsnap::detail {

// Creates the record unless it exists. The mapping is not inherited by fork
// (MADV_DONTFORK): a fork child makes its own on first need (its first
// wrapped call or its dumper), so that a child that only execs pays nothing.
// Any context against itself: a second caller while one creates (a handler
// of the program's on the same thread) returns at once.
void control_create_once();

// In a fork child: the parent's record is not mapped here.
void control_after_fork_child();

// Rewrites the record from the current state. Cheap (a memcpy).
void control_publish();

// The latest warning or error, kept in the record.
void control_set_message(const char* text);

// The latest dump written.
void control_set_last_dump(const char* path, uint64_t count);

}  // namespace threadsnap::detail
