# Benchmarks: `make bench` runs every one; figures go to bench/RESULTS.md.
.PHONY: report-bench

bench: report-bench

# Symbolize and report a 10,000-thread dump (budget: 10 s).
report-bench: all
	bench/report_bench.sh
