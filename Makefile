# mxguard: the two Quick start commands are `make run` and `make test`.
BUILD      ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS       ?= $(shell nproc)
WERROR     ?= OFF
FUZZ_SECONDS ?= 60
CONFIG     ?= config/mxguard.toml
CMAKE_GEN  := $(shell command -v ninja >/dev/null 2>&1 && echo "-G Ninja")

.PHONY: all deps build test run release sanitize fuzz-build fuzz format tidy docs clean tls-cert

all: build

deps:
	scripts/install-deps

build: deps
	cmake -S . -B $(BUILD) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DMXGUARD_WERROR=$(WERROR)
	cmake --build $(BUILD) -j $(JOBS)

# The bundled config's [tls] pair: a self-signed ECDSA P-256 certificate for the hostname, made
# once if missing. Started as root, serve runs as the user mxguard: the key is group-readable by
# it so that a SIGHUP can reload it.
TLS_DIR := var/tls
tls-cert: deps
	@if [ ! -s $(TLS_DIR)/cert.pem ] || [ ! -s $(TLS_DIR)/key.pem ]; then \
	  mkdir -p $(TLS_DIR) && \
	  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 825 \
	    -subj /CN=mx.example.test -addext subjectAltName=DNS:mx.example.test,DNS:localhost \
	    -keyout $(TLS_DIR)/key.pem -out $(TLS_DIR)/cert.pem 2>/dev/null && \
	  chmod 640 $(TLS_DIR)/key.pem && \
	  if [ "$$(id -u)" -eq 0 ] && getent group mxguard >/dev/null; then chgrp mxguard $(TLS_DIR)/key.pem; fi && \
	  echo "tls-cert: made a self-signed pair in $(TLS_DIR)/"; \
	fi

# Unit tests, fuzz-corpus replay and integration tests against the real binary.
test: build tls-cert
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

release: deps
	cmake -S . -B build-release $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=Release -DMXGUARD_WERROR=$(WERROR) -DMXGUARD_TESTS=OFF
	cmake --build build-release -j $(JOBS) --target mxguard

# Start the server with the bundled, relay-safe config, on loopback.
run: release tls-cert
	scripts/run-bundled $(CONFIG)

# Unit tests and corpus replay under AddressSanitizer + UndefinedBehaviorSanitizer.
sanitize: deps
	cmake -S . -B build-asan $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=Debug -DMXGUARD_WERROR=$(WERROR) -DMXGUARD_SANITIZE=ON
	cmake --build build-asan -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --test-dir build-asan --output-on-failure -j $(JOBS) -E integration

fuzz-build: deps
	CC=clang CXX=clang++ cmake -S . -B build-fuzz $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMXGUARD_FUZZ=ON
	cmake --build build-fuzz -j $(JOBS)

# Fuzz every target for FUZZ_SECONDS each; new inputs land in a scratch dir, crashes fail the run.
fuzz: fuzz-build
	scripts/fuzz-all build-fuzz $(FUZZ_SECONDS)

docs: build
	$(BUILD)/mxguard config-reference > docs/config.md

format:
	clang-format -i $$(git ls-files 'src/*.cpp' 'src/*.hpp' 'tests/*.cpp' 'fuzz/*.cpp')

tidy: build
	clang-tidy -p $(BUILD) --quiet $$(git ls-files 'src/*.cpp')

clean:
	rm -rf build build-release build-asan build-fuzz
