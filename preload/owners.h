// threadsnap: who holds what. Every rule behind a blocked thread's `owner=`
// in the dump lives here: the owner of a mutex or rwlock read from glibc's
// lock internals at the cut, the rules that make it no owner (a recursive
// or error-checking mutex never blocks its owner; an owner equal to the
// waiter that is no longer asleep in that wait had just got its lock), and
// pthread_join's owner (the thread it waits for). Which calls are lock
// waits comes from the kind column of base/calls.def.
#pragma once

#include <sys/types.h>

#include <cstdint>

#include "preload/registry.h"

namespace threadsnap::detail {

// Reads the owners of the locks that waiters[i] (record indices, blocked in
// calls[i] as the stop-1 walk saw them) wait for, from the dense g_obj and
// glibc's lock words only (a record or slot per waiter would cost a cache
// and TLB miss each inside the stop). Never writes the locks.
// Stop path.
void owners_read_at_cut(const uint32_t* waiters, const uint32_t* calls, uint32_t count);

// After the stop: the owners read above into the waiters' captures, marked
// as read at this cut (owner_gen). Dumper.
void owners_apply(const uint32_t* waiters, uint32_t count, uint32_t gen);

// The owner the dump names for member `index` (record r, capture c), or 0.
// members/count: the dump's members (pthread_join's target is looked up
// among them). Dumper (reads /proc).
pid_t owner_for_dump(const Record* r, uint32_t index, const Capture* c, const uint32_t* members,
                     uint32_t count);

}  // namespace threadsnap::detail
