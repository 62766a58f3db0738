#!/bin/sh
# Starts the agent. First, when its sources changed since the last build (or nothing is built
# yet), runs `cargo build`: once, under a lock (nodes of one flow may start
# together), with its output on stderr, which is the node's log. A failed build ends the
# attempt with an `error` event saying so instead of starting the agent.
#   sh run.sh           build if needed, then run the agent (the manifest's command)
#   sh run.sh --build   build if needed, then exit (e.g. in a Dockerfile)
# CARGO_TARGET_DIR, when set, is where cargo builds; else ./target. Agents sharing one need
# distinct package names in Cargo.toml (`agent init` derives them from the agent id).
set -u
cd "$(dirname "$0")" || exit 1
cache=.build
mkdir -p "$cache"
target=${CARGO_TARGET_DIR:-target}
name=$(sed -n 's/^name *= *"\(.*\)".*/\1/p' Cargo.toml | head -n 1)
program=$target/debug/$name
# The SDK's sources count too: it comes by path from a MentatLab checkout.
sdk=$(sed -n 's/^mentatlab-sdk *= *{.*path *= *"\([^"]*\)".*/\1/p' Cargo.toml)

fingerprint() {
  for source in Cargo.toml Cargo.lock build.rs src ${sdk:+"$sdk/Cargo.toml" "$sdk/src"}; do
    [ -e "$source" ] && find "$source" -type f
  done | LC_ALL=C sort | while IFS= read -r file; do
    printf '%s\n' "$file"
    cat "$file"
  done | { sha256sum 2>/dev/null || cksum; } | cut -d' ' -f1
}

fresh() { [ -x "$program" ] && [ "$(fingerprint)" = "$(cat "$cache/stamp" 2>/dev/null)" ]; }

error_event() { # $1: the message (JSON-escaped here)
  message=$(printf '%s' "$1" | tr -d '\000-\037' | sed 's/\\/\\\\/g; s/"/\\"/g')
  printf '{"type":"error","code":"build_failed","message":"%s","retryable":false}\n' "$message"
  exit 1
}

build() {
  fresh && return
  command -v cargo >/dev/null 2>&1 || error_event "cargo not found on PATH: install Rust (rustup)"
  echo "run.sh: cargo build" >&2
  { cargo build --target-dir "$target"; echo $? >"$cache/status"; } 2>&1 \
    | tee "$cache/build.log" >&2
  if [ "$(cat "$cache/status")" != 0 ]; then
    first=$(grep -m1 -E '^error' "$cache/build.log")
    error_event "cargo build failed${first:+: $first} (the whole output is in the node log)"
  fi
  fingerprint >"$cache/stamp"
}

if ! fresh; then
  exec 9>"$cache/lock"
  if command -v flock >/dev/null 2>&1; then flock 9; fi
  build
  exec 9>&- # the agent must not hold the lock
fi
[ "${1:-}" = --build ] && exit 0
exec "$program"
