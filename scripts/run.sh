#!/usr/bin/env bash
# The README's run command: builds the release binary (the three core
# plugins are compiled to WebAssembly and embedded by the build) and serves
# on the embedded defaults: an SQLite file, the built-in plugins.
set -euo pipefail
cd "$(dirname "$0")/.."

rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2
cargo build --release
exec ./target/release/switchboard serve "$@"
