# llamachat: the two commands are `make run` and `make test`.
#
#   make            build build/llamachat (Release)
#   make run        install dependencies, build, serve MODEL on http://127.0.0.1:8086
#   make chat       chat with MODEL in the terminal
#   make test       install dependencies, build with ASan+UBSan, run every test
#   make fuzz       build the libFuzzer targets with clang and run each briefly
#   make pgext-install  install the PostgreSQL extension of vector search
#                   (src/store/pgext; run and test install it when they may)
#   make format     clang-format every C file
#
# MODEL defaults to ../shared/models/stories260K.gguf; point it at any GGUF:
#   make run MODEL=/path/to/model.gguf

MODEL ?= ../shared/models/stories260K.gguf
JOBS ?= $(shell nproc)
FUZZ_SECONDS ?= 20

.PHONY: all build run chat test test-build fuzz setup format clean pgext-install

all: build

build:
	cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DLC_TESTS=OFF
	cmake --build build -j $(JOBS)

setup:
	./scripts/setup.sh

# The server keeps its private PostgreSQL cluster and settings under
# $$XDG_DATA_HOME/llamachat unless DATA_DIR is given.
run: setup build
	./scripts/pgext-install.sh build
	./build/llamachat serve -m "$(MODEL)" $(if $(DATA_DIR),--data-dir "$(DATA_DIR)") $(SERVE_FLAGS)

chat: setup build
	./build/llamachat chat -m "$(MODEL)"

test-build:
	cmake -S . -B build-test -DCMAKE_BUILD_TYPE=Debug -DLC_SANITIZE=ON \
	      -DCMAKE_C_FLAGS_DEBUG="-O1 -g"
	cmake --build build-test -j $(JOBS)

test: setup test-build
	./scripts/pgext-install.sh build-test
	cd build-test && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j $(JOBS)
	$(MAKE) fuzz

fuzz:
	CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DLC_FUZZ=ON \
	      -DLC_TESTS=OFF -DCMAKE_C_FLAGS_DEBUG="-O1 -g" -DLC_SANITIZE=ON
	cmake --build build-fuzz -j $(JOBS)
	./scripts/fuzz-smoke.sh build-fuzz $(FUZZ_SECONDS)

# llamachat_vector (src/store/pgext): the C cosine of vector search on a
# PostgreSQL without pgvector; needs root (sudo when not root).
pgext-install: build
	./scripts/pgext-install.sh build

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build build-test build-fuzz
