# Reliability targets (issue 6). Included from tests/tests.mk.
#
#   make soak        the soak probe (token ring + creation prefix + thread
#                    churn under continuous dumps) for SOAK_SECONDS (default
#                    300), then memcached under memaslap load with a dump every
#                    100 ms for REL_MEMCACHED_SECONDS (default 60), then
#                    PostgreSQL and MariaDB under load with dumps (skipped
#                    where not installed); minutes, not part of `make test`
#                    (which runs a 25 s soak)
#   make soak-cpython  CPython's regression tests (CPYTHON_MODULES, default
#                    the list in tests/reliability/cpython_suite.sh) plainly
#                    and under the library, CPYTHON_JOBS at once (default 1);
#                    fails if a module's result differs. Part of `make soak`
#                    (tens of minutes); results in CPYTHON_OUT if set
#   make check-asan  the library, the test programs and the tests built with
#                    TS_DCHECKS (base/check.h: the protocol's assumptions
#                    checked), AddressSanitizer and UndefinedBehaviorSanitizer in
#                    $(ASAN_BUILD), then the whole suite run from there; fails
#                    if a test fails or any process wrote a sanitizer report

SOAK_SECONDS ?= 300
REL_ENV = THREADSNAP_LIB=$(abspath $(BUILD))/libthreadsnap.so \
          THREADSNAP_PROGRAMS=$(abspath $(BUILD))/tests/programs THREADSNAP_TOP=$(CURDIR)

soak: all
	$(REL_ENV) THREADSNAP_SOAK_SECONDS=$(SOAK_SECONDS) \
	  $(BUILD)/tests/integration_tests --gtest_filter='RelSoak.*'
	$(REL_ENV) tests/reliability/memcached_soak.sh
	$(REL_ENV) tests/reliability/postgres_soak.sh
	$(REL_ENV) tests/reliability/mariadb_soak.sh
	@$(MAKE) --no-print-directory soak-cpython

CPYTHON_JOBS ?= 1
CPYTHON_MODULES ?=
CPYTHON_OUT ?=
.PHONY: soak-cpython
soak-cpython: $(LIB)
	$(REL_ENV) tests/reliability/cpython_suite.sh --jobs $(CPYTHON_JOBS) \
	  $(if $(CPYTHON_OUT),--out $(CPYTHON_OUT)) $(CPYTHON_MODULES)

# Under build/ so that it is ignored and `make clean` removes it.
ASAN_BUILD ?= build/asan
SAN_FLAGS  := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
SAN_LOGS    = $(abspath $(ASAN_BUILD))/sanitizer-logs
# detect_stack_use_after_return=1 puts instrumented frames on ASan's fake
# stack. Without it, pthread_cancel's forced unwind leaves stale redzones on
# the real stack and ASan's own __asan_handle_no_return then trips over them
# (CHECK kCurrentStackFrameMagic; google/sanitizers#1010, #1399): the plain
# errno_parity program fails that way with no threadsnap loaded at all.
# The ASan library is preloaded ahead of libasan (which it pulls in itself):
# tell ASan that this order is intended. Every report goes to a file too, so
# that one from a process whose exit status no test looks at still fails.
SAN_ENV = ASAN_OPTIONS=verify_asan_link_order=0:detect_leaks=1:detect_stack_use_after_return=1:log_path=$(SAN_LOGS)/asan \
          UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=$(SAN_LOGS)/ubsan

check-asan:
	@$(MAKE) --no-print-directory BUILD=$(ASAN_BUILD) EXTRA_CXXFLAGS="$(SAN_FLAGS) -DTS_DCHECKS" \
	  EXTRA_LDFLAGS="$(SAN_FLAGS)" EXTRA_PROG_FLAGS="$(SAN_FLAGS)" all
	@rm -rf $(SAN_LOGS) && mkdir -p $(SAN_LOGS) && chmod 1777 $(SAN_LOGS)  # tests run some programs as nobody
	@status=0; $(SAN_ENV) tests/run_tests.sh $(ASAN_BUILD) || status=1; \
	if [ -n "$$(ls -A $(SAN_LOGS))" ]; then \
	  echo "check-asan: sanitizer reports in $(SAN_LOGS):"; \
	  for f in $(SAN_LOGS)/*; do echo "== $$f"; head -n 40 "$$f"; done; status=1; \
	fi; \
	[ $$status = 0 ] && echo "check-asan: the suite ran clean under ASan+UBSan"; exit $$status
