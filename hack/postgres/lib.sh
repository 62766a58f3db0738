# Shared helpers for hack/postgres/*.sh (sourced, not executed).
# shellcheck shell=bash disable=SC2034
PG_HACK_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PG_STATE_DIR="${MENTATLAB_PG_STATE:-/tmp/mentatlab-postgres}"
PG_DATA="$PG_STATE_DIR/data"
PG_RUN="$PG_STATE_DIR/run"             # unix sockets
PG_LOG="$PG_STATE_DIR/postgres.log"
PG_URL_FILE="$PG_STATE_DIR/url"         # the SQLAlchemy URL of the test database
PG_MARKER="$PG_STATE_DIR/.mentatlab-postgres-state"
PG_OS_USER="${MENTATLAB_PG_OS_USER:-postgres}"
PG_ROLE=mentatlab
PG_DATABASE=mentatlab

log() { printf '[postgres] %s\n' "$*" >&2; }
die() { printf '[postgres] ERROR: %s\n' "$*" >&2; exit 1; }

# The directory holding initdb, pg_ctl, postgres and psql, or nothing. Debian keeps server
# binaries per major version off PATH (/usr/lib/postgresql/NN/bin): the newest wins.
pg_bin_dir() {
  local dir
  for dir in "${MENTATLAB_PG_BIN:-}" $(compgen -G '/usr/lib/postgresql/*/bin' | sort -rV) \
    "$(dirname "$(command -v pg_ctl 2>/dev/null || echo /nonexistent/pg_ctl)")"; do
    [[ -n "$dir" && -x "$dir/initdb" && -x "$dir/pg_ctl" && -x "$dir/postgres" && -x "$dir/psql" ]] \
      && { echo "$dir"; return 0; }
  done
  return 1
}

# The server refuses to run as root: as root, run its tools as the postgres OS user.
as_pg() {
  if [[ "$(id -u)" == 0 ]]; then runuser -u "$PG_OS_USER" -- "$@"; else "$@"; fi
}

pid_alive() { [[ -n "${1:-}" ]] && kill -0 "$1" 2>/dev/null; }

# The postmaster's pid while the cluster in $PG_DATA runs, else nothing.
server_pid() {
  local pid
  pid="$(head -n1 "$PG_DATA/postmaster.pid" 2>/dev/null || true)"
  pid_alive "$pid" && echo "$pid"
}
