// A tiny plugin with no C++ runtime symbols, so that dlclose really unloads
// it and every dlopen maps and relocates it again (stress.c loops on it).
#include <stdio.h>
#include <string.h>

static char g_buf[64];

extern "C" __attribute__((visibility("default"))) int tiny_value(void) {
  snprintf(g_buf, sizeof g_buf, "%d", 42);
  return (int)strlen(g_buf);
}
