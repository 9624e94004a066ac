# Sourced first (before lib.sh) by tests that mount something: runs the test
# again in a private mount namespace, so that its mounts vanish with it.
# With "root" as argument, only as root (unshare -m); otherwise also as a
# user in a new user namespace (unshare -rm).
if [ -z "${REL_IN_MOUNT_NS:-}" ]; then
  export REL_IN_MOUNT_NS=1
  if [ "$(id -u)" = 0 ] && unshare -m true 2>/dev/null; then exec unshare -m bash "$0" "$@"; fi
  if [ "${1:-}" != root ] && unshare -rm true 2>/dev/null; then exec unshare -rm bash "$0" "$@"; fi
  echo "FAIL: no private mount namespace (unshare -m${1:+ as root}) for this test" >&2
  exit 1
fi
