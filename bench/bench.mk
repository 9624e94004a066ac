# Benchmarks: `make bench` builds what it needs under build/bench/ and runs
# bench/driver (about 10 minutes), which runs everything below and writes
# bench/RESULTS.md. Not part of `make` or `make test`.

BENCH_DIR      := $(BUILD)/bench
BENCH_CXXFLAGS  = -std=c++20 -O2 -g -fno-omit-frame-pointer -I. -Wall $(EXTRA_CXXFLAGS)
BENCH_BINS     := $(BENCH_DIR)/scenario $(BENCH_DIR)/signal_cost $(BENCH_DIR)/overhead_bench \
                  $(BENCH_DIR)/unwind_bench

.PHONY: bench-build report-bench record-bench fork-bench
bench-build: $(LIB) $(BENCH_BINS) programs

bench: bench-build
	python3 bench/driver --build $(BUILD) --out bench/RESULTS.md $(BENCH_ARGS)

# Symbolize and report a 10,000-thread dump (budget: 10 s); bench/driver runs
# it too and puts its lines in bench/RESULTS.md.
report-bench: all
	bench/report_bench.sh

# threadsnap record's costs alone (about 4 minutes): refreshes only the
# "threadsnap record" section of bench/RESULTS.md; bench/driver runs it too.
record-bench: bench-build
	python3 bench/bench_record.py --build $(BUILD) --out bench/RESULTS.md

# What a fork costs with the library (about 6 minutes): fork_faults plain
# and preloaded, and pgbench -C where PostgreSQL is installed. Refreshes only
# the "Fork cost" section of bench/RESULTS.md (`make bench` keeps it).
fork-bench: bench-build
	bench/fork_bench.sh $(BUILD) > $(BENCH_DIR)/fork-section.md
	python3 bench/bench_common.py splice fork bench/RESULTS.md < $(BENCH_DIR)/fork-section.md

# The scenario program of the pause benchmarks (runs with or without the library).
$(BENCH_DIR)/scenario: bench/scenario.c $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) -O2 -g -Wall -o $@ $< -lpthread

# What signalling a running thread costs here, no library (stop 1's floor).
$(BENCH_DIR)/signal_cost: bench/signal_cost.c $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) -O2 -g -Wall -o $@ $< -lpthread

# A plain program: the driver runs it with and without LD_PRELOAD.
$(BENCH_DIR)/overhead_bench: bench/overhead_bench.cpp $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CXX) $(BENCH_CXXFLAGS) -o $@ $< -lbenchmark -lpthread

# Links the library's objects, like the unit tests (-rdynamic: dladdr names).
$(BENCH_DIR)/unwind_bench: bench/unwind_bench.cpp $(LIB_OBJS) $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CXX) $(BENCH_CXXFLAGS) -rdynamic -o $@ $< $(LIB_OBJS) -lbenchmark -lpthread -ldl
