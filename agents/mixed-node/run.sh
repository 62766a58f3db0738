#!/bin/sh
# Starts the agent. First, when package.json or package-lock.json changed since the last
# install (or nothing is installed yet), runs `npm install`: once, under a lock (nodes of one
# flow may start together), with its output on stderr, which is the node's log. A failed
# install ends the attempt with an `error` event saying so instead of starting the agent.
#   sh run.sh           install if needed, then run the agent (the manifest's command)
#   sh run.sh --build   install if needed, then exit (e.g. in a Dockerfile)
set -u
cd "$(dirname "$0")" || exit 1
cache=.build
mkdir -p "$cache"

fingerprint() {
  for file in package.json package-lock.json; do
    [ -f "$file" ] && { printf '%s\n' "$file"; cat "$file"; }
  done | { sha256sum 2>/dev/null || cksum; } | cut -d' ' -f1
}

fresh() { [ -d node_modules ] && [ "$(fingerprint)" = "$(cat "$cache/stamp" 2>/dev/null)" ]; }

error_event() { # $1: the message (JSON-escaped here)
  message=$(printf '%s' "$1" | tr -d '\000-\037' | sed 's/\\/\\\\/g; s/"/\\"/g')
  printf '{"type":"error","code":"build_failed","message":"%s","retryable":false}\n' "$message"
  exit 1
}

step() { # $1: what it is; the rest: the command. Output to stderr, failure to an error event.
  what=$1
  shift
  echo "run.sh: $what" >&2
  { "$@"; echo $? >"$cache/status"; } 2>&1 | tee "$cache/build.log" >&2
  [ "$(cat "$cache/status")" = 0 ] && return
  first=$(grep -m1 -E '^(npm ERR!|npm error|error)' "$cache/build.log")
  error_event "$what failed${first:+: $first} (the whole output is in the node log)"
}

build() {
  fresh && return
  command -v npm >/dev/null 2>&1 || error_event "npm not found on PATH: install Node.js >= 20"
  step "npm install" npm install --no-audit --no-fund --loglevel=error
  # The SDK comes by path from a MentatLab checkout (sdks/node): build it if nobody has yet,
  # under the lock the checkout's own build takes.
  sdk=$(cd node_modules/@mentatlab/sdk 2>/dev/null && pwd -P)
  if [ -n "$sdk" ] && [ ! -f "$sdk/dist/index.js" ]; then
    exec 8>"$sdk/.build.lock"
    if command -v flock >/dev/null 2>&1; then flock 8; fi
    [ -f "$sdk/dist/index.js" ] ||
      step "building the Node SDK in $sdk" sh -c 'cd "$1" && npm ci --no-audit --no-fund && npm run build' sh "$sdk"
    exec 8>&-
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
exec node main.mjs
