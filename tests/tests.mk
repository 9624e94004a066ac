# Tests: unit tests link the library's core objects, integration tests run the
# programs of tests/programs under the real preloaded library.
# A program's extra flags come from a line "// CFLAGS: ..." in its source.

PROG_SRCS := $(wildcard tests/programs/*.c tests/programs/*.cc)
PROGS     := $(patsubst tests/programs/%,$(BUILD)/tests/programs/%,$(basename $(PROG_SRCS)))
UNIT_SRCS := $(wildcard tests/unit/*_test.cpp)
INTEG_SRCS:= $(wildcard tests/integration/*_test.cpp) $(wildcard tests/integration/*_support.cpp)
GTEST_LIBS = -lgtest_main -lgtest -lpthread
TEST_CXXFLAGS = -std=c++20 -O1 -g -fno-omit-frame-pointer -I. -Itests -Wall -Wextra \
                -Wno-unused-parameter $(EXTRA_CXXFLAGS)

progflags = $(shell sed -n 's|^// CFLAGS: ||p' $(1) | head -n1)
# A program whose source says "// NOSANITIZE" is built without the sanitizer
# flags of check-asan (symtest: its golden lines depend on normal inlining).
sanflags = $(if $(shell grep -l '^// NOSANITIZE' $(1)),,$(EXTRA_PROG_FLAGS))

.PHONY: programs tests
programs: $(PROGS)
tests: $(BUILD)/tests/unit_tests $(BUILD)/tests/integration_tests

# Shared helpers of the programs (tests/programs/*.h) rebuild them all.
$(PROGS): $(wildcard tests/programs/*.h)

# C++ plugins for the programs to dlopen: tests/programs/lib/NAME.cc -> libNAME.so.
PLUGIN_SRCS := $(wildcard tests/programs/lib/*.cc)
PLUGINS     := $(patsubst tests/programs/lib/%.cc,$(BUILD)/tests/programs/lib%.so,$(PLUGIN_SRCS))
programs: $(PLUGINS)

$(BUILD)/tests/programs/lib%.so: tests/programs/lib/%.cc $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CXX) -std=c++20 -O2 -g -Wall -fPIC -shared -o $@ $< $(call progflags,$<) -lpthread

$(BUILD)/tests/programs/%: tests/programs/%.c $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) -O2 -g -Wall -o $@ $< $(call progflags,$<) -lpthread $(call sanflags,$<)

$(BUILD)/tests/programs/%: tests/programs/%.cc $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CXX) -std=c++20 -O2 -g -Wall -o $@ $< $(call progflags,$<) -lpthread $(call sanflags,$<)

# Unit tests link the core, not the library: none of shim/ (no interposed
# symbol in the test process) and not preload/entry.o (no constructor, no
# dumper thread); tests/unit/core_stubs.cpp stands in for entry.cpp's few
# symbols the core names and does the constructor's configuration.
CORE_OBJS  := $(filter-out $(BUILD)/obj/preload/entry.o $(BUILD)/obj/shim/%,$(LIB_OBJS))
UNIT_STUBS := tests/unit/core_stubs.cpp
$(BUILD)/tests/unit_tests: $(UNIT_SRCS) $(UNIT_STUBS) $(CORE_OBJS) $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CXX) $(TEST_CXXFLAGS) -rdynamic -o $@ $(UNIT_SRCS) $(UNIT_STUBS) $(CORE_OBJS) $(GTEST_LIBS) -ldl

$(BUILD)/tests/integration_tests: $(INTEG_SRCS) $(wildcard tests/integration/*.h) $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CXX) $(TEST_CXXFLAGS) -o $@ $(INTEG_SRCS) $(GTEST_LIBS)

# Hostile programs (issue 11, tests/scripts/test_hostile.sh): each does
# something legal that hurts a careless preload library.
HOSTILE_SRCS  := $(wildcard tests/hostile/*.c)
HOSTILE_PROGS := $(patsubst tests/hostile/%.c,$(BUILD)/tests/hostile/%,$(HOSTILE_SRCS))
programs: $(HOSTILE_PROGS)
$(BUILD)/tests/hostile/%: tests/hostile/%.c tests/hostile/hostile.h tests/programs/testprog.h $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) -O2 -g -Wall -o $@ $< $(call progflags,$<) -lpthread $(call sanflags,$<)

test: all
	@tests/run_tests.sh $(BUILD)
-include tests/soak.mk
