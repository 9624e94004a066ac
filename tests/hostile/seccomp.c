/* m. A seccomp filter that kills the process on process_vm_readv (what
 * systemd's SystemCallFilter= does by default) and on sched_setattr (in
 * systemd's @resources set, often filtered too), installed before exec like
 * systemd does, then dumps with a spinning and a blocked thread: the
 * process must survive, and each dump must have frames (the runner checks).
 * Once the library read stacks with process_vm_readv and the process was
 * killed at the first dump; the dumper's shorter slice during stop 1 uses
 * sched_setattr. */
// HOSTILE: frames
// NOSANITIZE
#include "hostile.h"

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>

static int install_filter(void) {
  struct sock_filter f[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_process_vm_readv, 1, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_sched_setattr, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog prog = {(unsigned short)(sizeof f / sizeof f[0]), f};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) return -1;
  return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog);
}

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
static int g_go;

static void* blocked(void* arg) {
  (void)arg;
  pthread_mutex_lock(&g_mu);
  while (!g_go) pthread_cond_wait(&g_cv, &g_mu);
  pthread_mutex_unlock(&g_mu);
  return NULL;
}

int main(int argc, char** argv) {
  if (argc == 1) {
    if (install_filter() != 0) { h_out("cannot install the filter errno=%d", errno); return 3; }
    execl(h_self(), h_self(), "filtered", (char*)NULL);
    h_out("execl failed errno=%d", errno);
    return 3;
  }
  pthread_t b;
  pthread_create(&b, NULL, blocked, NULL);
  h_spin_start(1);
  for (int i = 0; i < 3; i++) h_dump();
  h_spin_stop();
  pthread_mutex_lock(&g_mu);
  g_go = 1;
  pthread_cond_broadcast(&g_cv);
  pthread_mutex_unlock(&g_mu);
  pthread_join(b, NULL);
  h_out("alive after the dumps under seccomp");
  h_finish();
  return 0;
}
