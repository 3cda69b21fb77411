# The README's two commands. Everything else is meson + ninja in build/.
.PHONY: all setup build demo test clean

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

clean:
	rm -rf build
