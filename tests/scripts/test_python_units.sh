#!/usr/bin/env bash
# The scripts' Python unit tests (tests/python/*_test.py): the dump reader,
# the wait-for graph. No library, no program: pure functions on text.
source "$(dirname "$0")/lib.sh"
python3 -m unittest discover -s "$TOP/tests/python" -p '*_test.py' -v 2>&1 | tail -n 40
[ "${PIPESTATUS[0]}" = 0 ] || fail "python unit tests failed"
ok "python unit tests"
