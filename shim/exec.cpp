// threadsnap: execl, execlp and execle, which take their arguments as a
// list: they gather them and call the wrapped execv, execvp or execve (glibc's
// own versions call an internal execve our wrapper would not see).
#include <errno.h>
#include <stdarg.h>
#include <unistd.h>

#include "preload/common.h"

namespace {

// arg0 is declared nonnull, but callers do pass NULL (an empty argv).
bool present(const char* arg0) {
  const char* volatile p = arg0;
  return p != nullptr;
}

// How many arguments follow arg0, up to the terminating NULL.
int count_args(const char* arg0, va_list ap) {
  int n = 0;
  if (present(arg0))
    while (va_arg(ap, char*) != nullptr) ++n;
  return n;
}

// argv = arg0, the n arguments, NULL; then skips the terminating NULL, so
// that execle's environment comes next.
void fill_args(char** argv, int n, const char* arg0, va_list ap) {
  argv[0] = const_cast<char*>(arg0);
  for (int i = 1; i <= n; ++i) argv[i] = va_arg(ap, char*);
  argv[n + 1] = nullptr;
  if (present(arg0)) (void)va_arg(ap, char*);
}

}  // namespace

// The argument vector lives on the caller's stack, sized exactly, as glibc
// does it (a thread with a small stack may exec too).
#define TS_GATHER_ARGS                \
  va_list ap;                         \
  va_start(ap, arg0);                 \
  va_list ap2;                        \
  va_copy(ap2, ap);                   \
  int n = count_args(arg0, ap2);      \
  va_end(ap2);                        \
  char* argv[n + 2];                  \
  fill_args(argv, n, arg0, ap)

TS_EXPORT int execl(const char* path, const char* arg0, ...) noexcept {
  TS_GATHER_ARGS;
  va_end(ap);
  return execv(path, argv);
}

TS_EXPORT int execlp(const char* file, const char* arg0, ...) noexcept {
  TS_GATHER_ARGS;
  va_end(ap);
  return execvp(file, argv);
}

TS_EXPORT int execle(const char* path, const char* arg0, ...) noexcept {
  TS_GATHER_ARGS;
  char* const* envp = va_arg(ap, char* const*);
  va_end(ap);
  return execve(path, argv, envp);
}
