# The README's commands (demo, test, bench). Everything else is meson + ninja in build/.
.PHONY: all setup build demo test bench clean

all: build

setup:
	@bash scripts/setup.sh

build: setup

demo: setup
	./build/cli/curvscope demo

# Every test of the release build, then the sanitizer build's and a bounded run of
# each fuzzer (scripts/test_all.sh; docs/TESTING.md), closing with "N passed, N failed".
test:
	@bash scripts/setup.sh --test
	@bash scripts/test_all.sh

# The side-by-side benchmark against the PyTorch + SciPy peer (docs/PERFORMANCE.md), after
# installing the peer's Debian packages. All four workloads take about 20 minutes on 2 cores;
# `make bench WORKLOADS=digits` runs one.
WORKLOADS ?= digits,cohen,deeplinear,wide
bench: setup
	@bash scripts/setup_bench.sh
	OMP_WAIT_POLICY=$${OMP_WAIT_POLICY:-passive} bench/compare --workloads $(WORKLOADS)

clean:
	rm -rf build build-asan build-fuzz
