# The README's commands (demo, test, bench). Everything else is meson + ninja in build/.
.PHONY: all setup build demo test bench clean

all: build

setup:
	@bash scripts/setup.sh

build: setup

demo: setup
	./build/cli/curvscope demo

# Tests run with passive OpenMP waiting: several test programs share the cores,
# and spinning threads would starve each other.
test:
	@bash scripts/setup.sh --test
	@OMP_WAIT_POLICY=passive meson test -C build --num-processes 2 --print-errorlogs; rc=$$?; \
	  bash scripts/test_summary.sh build; exit $$rc

# The side-by-side benchmark against the PyTorch + SciPy peer (docs/PERFORMANCE.md), after
# installing the peer's Debian packages. All four workloads take about 20 minutes on 2 cores;
# `make bench WORKLOADS=digits` runs one.
WORKLOADS ?= digits,cohen,deeplinear,wide
bench: setup
	@bash scripts/setup_bench.sh
	OMP_WAIT_POLICY=$${OMP_WAIT_POLICY:-passive} bench/compare --workloads $(WORKLOADS)

clean:
	rm -rf build
