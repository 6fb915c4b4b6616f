#!/bin/sh
# Builds the agent's built-in collector modules (this folder's C sources)
# into the .wasm named by $1, reproducibly: fixed flags, no debug info and
# relative source names, so the bytes depend only on the sources and the
# toolchain (Debian's clang-14, lld-14, wasi-libc).
set -eu
out=$(realpath -m "$1")
cd "$(dirname "$0")"
# -mexec-model=reactor: _initialize (run by the agent) instead of _start.
# stack-size: the modules keep their buffers on the heap; 64 KiB is ample.
clang-14 --target=wasm32-wasi -std=gnu11 -O2 -Wall -Wextra -Werror \
  -mexec-model=reactor -fno-ident \
  -Wl,--strip-all -Wl,-z,stack-size=65536 \
  -o "$out" abi.c system.c web.c
