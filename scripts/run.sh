#!/usr/bin/env bash
# The README's run command: builds the release binary (the three core
# plugins are compiled to WebAssembly and embedded by the build), seeds the
# demo data into the embedded SQLite database (once; it says so when the
# data is already there), and serves on 127.0.0.1:8080 with the embedded
# NLU and the built-in plugins.
set -euo pipefail
cd "$(dirname "$0")/.."

rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2
cargo build --release
# Where cargo put the binary (CARGO_TARGET_DIR moves it).
BIN="${CARGO_TARGET_DIR:-target}/release/switchboard"
"$BIN" demo-data
exec "$BIN" serve "$@"
