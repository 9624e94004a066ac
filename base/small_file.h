// threadsnap (base layer): reads a small file (a /proc entry) whole in one
// read(2), with raw system calls: no allocation, no stdio, no wrapper of ours.
// Any context; nothing is left open unless asked.
#pragma once

#include <fcntl.h>
#include <sys/syscall.h>

#include <cstddef>

#include "base/raw.h"

namespace threadsnap::detail {

// As read_small_file below, but the file stays open: *fd gets its
// descriptor (for a later pread; the caller closes it), or -1 when the open
// or the read failed (then nothing is left open).
inline long read_small_file_open(const char* path, char* buf, size_t size, long* fd) {
  buf[0] = 0;
  *fd = raw_syscall(SYS_openat, AT_FDCWD, reinterpret_cast<long>(path), O_RDONLY | O_CLOEXEC);
  if (*fd < 0) return -1;
  long n = raw_syscall(SYS_read, *fd, reinterpret_cast<long>(buf), static_cast<long>(size - 1));
  if (n < 0) {
    raw_syscall(SYS_close, *fd);
    *fd = -1;
    return -1;
  }
  buf[n] = 0;
  return n;
}

// Reads up to size - 1 bytes of `path` into buf and NUL-terminates them.
// Returns the byte count, or -1 (buf[0] = 0) if the file cannot be opened
// or read.
inline long read_small_file(const char* path, char* buf, size_t size) {
  long fd;
  long n = read_small_file_open(path, buf, size, &fd);
  if (fd >= 0) raw_syscall(SYS_close, fd);
  return n;
}

}  // namespace threadsnap::detail
