#!/bin/sh
# Starts the Rust reference agent for the engine's drivers (manifest.yaml's command): the
# binary `cargo build` made in the shared target directory, built here on first use (cargo's
# output goes to stderr, so a failed build is a failed node quoting it). The conformance
# runner and tests/conformance run the binary directly.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
target=${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mentatlab/cargo-target}
agent="$target/debug/mentatlab-conformance-agent"
if [ ! -x "$agent" ]; then
    if ! command -v cargo >/dev/null 2>&1; then
        echo "run.sh: cargo not found on PATH: install Rust (https://rustup.rs) to build $here" >&2
        exit 127
    fi
    CARGO_TARGET_DIR=$target cargo build --locked --quiet --manifest-path "$here/Cargo.toml" >&2
fi
exec "$agent" "$@"
