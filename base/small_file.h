// threadsnap (base layer): reads a small file (a /proc entry) whole in one
// read(2), with raw system calls: no allocation, no stdio, no wrapper of ours.
// Any context; nothing is left open.
#pragma once

#include <fcntl.h>
#include <sys/syscall.h>

#include <cstddef>

#include "base/raw.h"

namespace threadsnap::detail {

// Reads up to size - 1 bytes of `path` into buf and NUL-terminates them.
// Returns the byte count, or -1 (buf[0] = 0) if the file cannot be opened
// or read.
inline long read_small_file(const char* path, char* buf, size_t size) {
  buf[0] = 0;
  long fd = raw_syscall(SYS_openat, AT_FDCWD, reinterpret_cast<long>(path), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  long n = raw_syscall(SYS_read, fd, reinterpret_cast<long>(buf), static_cast<long>(size - 1));
  raw_syscall(SYS_close, fd);
  if (n < 0) return -1;
  buf[n] = 0;
  return n;
}

}  // namespace threadsnap::detail
