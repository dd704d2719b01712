# A thin wrapper over CMake: `make run`, `make test`, `make bench`.
# Each target first installs missing Debian build dependencies (with
# apt-get as root; otherwise it prints the exact command to run).

BUILD      ?= build
ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
FUZZ_BUILD ?= build-fuzz
WERROR     ?= OFF
JOBS       ?= $(shell nproc)
STATE_DIR  ?= $(CURDIR)/.state
CMAKE_ARGS ?=

# Library and tool packages the build and the test suite need.
DEPS       := cmake make gcc clang pkg-config libevent-dev libsqlite3-dev \
              libjansson-dev libinih-dev libcmocka-dev tzdata clang-format \
              sqlite3 util-linux libclang-rt-14-dev \
              golang-go golang-github-varlink-go-dev libfaketime \
              python3 groff-base valgrind
# Node.js 20 is the machine's (Debian's nodejs is 18); run.sh checks it.
BENCH_DEPS := libuv1-dev time redis-server redis-tools

.PHONY: all deps bench-deps build asan tsan fuzz run test test-unit bench \
        format format-check install clean

all: build

deps:
	@./.ci/deps $(DEPS)

bench-deps:
	@./.ci/deps $(BENCH_DEPS)

build: deps
	cmake -S . -B $(BUILD) -DLOOPD_WERROR=$(WERROR) $(CMAKE_ARGS)
	cmake --build $(BUILD) -j $(JOBS)

asan: deps
	cmake -S . -B $(ASAN_BUILD) -DLOOPD_WERROR=$(WERROR) -DLOOPD_SANITIZE=ON \
	      -DCMAKE_BUILD_TYPE=Debug $(CMAKE_ARGS)
	cmake --build $(ASAN_BUILD) -j $(JOBS)

# ThreadSanitizer is for the threaded parts: the pool, the loop, and the
# plugins whose work runs on pool threads (tests labelled tsan).
tsan: deps
	cmake -S . -B $(TSAN_BUILD) -DLOOPD_WERROR=$(WERROR) -DLOOPD_TSAN=ON \
	      -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang $(CMAKE_ARGS)
	cmake --build $(TSAN_BUILD) -j $(JOBS)

# The libFuzzer targets of tests/fuzz and what they need, nothing else:
# clang, ASan+UBSan.  `make test` fuzzes with them (tests/robust/fuzz.sh).
fuzz: deps
	cmake -S . -B $(FUZZ_BUILD) -DLOOPD_WERROR=$(WERROR) -DLOOPD_FUZZ=ON \
	      -DLOOPD_SANITIZE=ON -DCMAKE_C_COMPILER=clang $(CMAKE_ARGS)
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target loopd_fuzz

# The bundled plugins from the build tree, on a state dir in the checkout.
run: build
	$(BUILD)/daemon/loopd --config daemon/loopd.conf.example \
	    --state-dir $(STATE_DIR) --plugin-dir $(BUILD)/plugins

# The whole suite, then again under ASan+UBSan, then the threaded tests
# under TSan.  robust.fuzz runs once, in the first pass, on the fuzz build
# (which is ASan+UBSan itself); it fails rather than skips without one.
test: build asan tsan fuzz
	LOOPD_FUZZ_BUILD=$(abspath $(FUZZ_BUILD)) \
	    ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    ctest --test-dir $(ASAN_BUILD) --output-on-failure -j $(JOBS) \
	    -E '^robust\.fuzz$$'
	TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
	    ctest --test-dir $(TSAN_BUILD) --output-on-failure -L tsan

test-unit: build
	ctest --test-dir $(BUILD) --output-on-failure -L unit -j $(JOBS)

bench: deps bench-deps
	cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DLOOPD_BENCH=ON
	cmake --build build-bench -j $(JOBS)
	tests/bench/run.sh build-bench

install: build
	cmake --install $(BUILD) --prefix $(or $(PREFIX),/usr/local)

FORMAT_FILES = $(shell git ls-files '*.c' '*.h')
format:
	clang-format -i $(FORMAT_FILES)

format-check: deps
	clang-format --dry-run --Werror $(FORMAT_FILES)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD) $(FUZZ_BUILD) build-bench
