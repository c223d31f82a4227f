#!/usr/bin/env bash
# The README's test command: formatting, lints, and every test of the
# workspace (unit, integration and black-box), on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."

rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2
./scripts/services.sh

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace
