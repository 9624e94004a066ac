# threadsnap build. `make` builds everything, `make test` runs every test and
# ends with "N passed, N failed", `make demo` shows the main job end to end.

CXX      ?= g++
CC       ?= gcc
BUILD    ?= build
OPT      ?= -O2 -g
CXXFLAGS_LIB = -std=c++20 $(OPT) -fPIC -fvisibility=hidden -fno-omit-frame-pointer \
               -fno-rtti -Wall -Wextra -Wno-unused-parameter \
               -I. $(EXTRA_CXXFLAGS)
# The link flags of the library, each for a reason:
#   --version-script  exports only the interposed libc names and threadsnap_* (preload/exports.map),
#                     with the two glibc versions of the condvar calls
#   -z now            binds every symbol at load: no lazy PLT resolution (the loader's lock) later,
#                     from a signal handler or while threads are held in a stop
#   -static-libstdc++ no libstdc++.so dependency, so a C program's scope gains no C++ runtime
#   --exclude-libs,ALL  keeps the static libstdc++/libgcc symbols local, out of the program's scope
#   -z nodelete       the library is never unmapped (a dlclose'd late load would leave handlers,
#                     the dumper thread and wrapped calls pointing into unmapped code)
LDFLAGS_LIB  = -shared -Wl,--as-needed -Wl,--version-script=preload/exports.map -Wl,-z,now \
               -static-libstdc++ -Wl,--exclude-libs,ALL \
               -Wl,-z,nodelete -ldl -lpthread $(EXTRA_LDFLAGS)

LIB_SRCS := $(wildcard base/*.cpp preload/*.cpp shim/*.cpp unwind/*.cpp)
LIB_OBJS := $(patsubst %.cpp,$(BUILD)/obj/%.o,$(LIB_SRCS))
LIB      := $(BUILD)/libthreadsnap.so

# Debian packages the build, the tests and the demo need.
DEB_PKGS := g++ make libunwind-dev libmimalloc-dev libgtest-dev libbenchmark-dev \
            memcached libmemcached-tools elfutils binutils llvm python3 gdb libc6-dbg \
            openjdk-17-jdk-headless golang-go
DEPS_STAMP := $(BUILD)/.deps-ok

.PHONY: all deps test demo bench soak clean install check-asan

all: $(LIB) programs tests

$(DEPS_STAMP):
	@mkdir -p $(BUILD)
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  systemctl disable --now memcached >/dev/null 2>&1 || service memcached stop >/dev/null 2>&1 || true; \
	fi
	@touch $@

deps:
	@rm -f $(DEPS_STAMP)
	@$(MAKE) --no-print-directory $(DEPS_STAMP)

# -MMD -MP: each object depends on the headers it includes (build/obj/*.d),
# not on every header of the tree.
$(BUILD)/obj/%.o: %.cpp $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS_LIB) -MMD -MP -c $< -o $@
-include $(LIB_OBJS:.o=.d)

$(LIB): $(LIB_OBJS) preload/exports.map
	$(CXX) -o $@ $(LIB_OBJS) $(LDFLAGS_LIB)

include tests/tests.mk
-include bench/bench.mk

demo: all
	@scripts/demo.sh

PREFIX ?= /usr/local
install: all
	install -d $(PREFIX)/bin $(PREFIX)/lib/threadsnap
	install -m 0755 $(LIB) $(PREFIX)/lib/threadsnap/
	install -m 0755 scripts/threadsnap $(PREFIX)/bin/threadsnap
	install -m 0644 scripts/*.py scripts/report.schema.json $(PREFIX)/lib/threadsnap/

clean:
	rm -rf $(BUILD)

# Dev check, not part of `make test` (it needs a browser): the record
# command's SVG flame graph rendered by Debian's headless Chromium, its
# search and zoom exercised, screenshots kept in build/dev/.
.PHONY: check-flamegraph
check-flamegraph: all
	tests/dev/check_flamegraph.sh $(abspath $(BUILD))/dev
