#!/usr/bin/env bash
# Starts a throwaway PostgreSQL server for MentatLab's tests, listening on a free loopback
# TCP port (unix sockets stay in the state dir), with a role and database `mentatlab` whose
# SQLAlchemy URL is written to $STATE/url (print it as an export with env.sh).
#
# Binaries: the newest /usr/lib/postgresql/*/bin (or MENTATLAB_PG_BIN, or pg_ctl on PATH);
# when none is found the Debian package `postgresql` is installed (needs root).
# State (cluster, sockets, log, URL): ${MENTATLAB_PG_STATE:-/tmp/mentatlab-postgres}.
# The cluster runs as the `postgres` OS user when started by root (the server refuses root).
# Idempotent: when the server is already up this only prints its summary.
# A fresh `up` (after `down`) always starts from an empty cluster with a new password.
set -euo pipefail
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

READY_TIMEOUT="${MENTATLAB_PG_READY_TIMEOUT:-60}"   # seconds for the server to accept connections

summary() {
  local url
  url="$(cat "$PG_URL_FILE")"
  echo "MentatLab test PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') is up (state: $PG_STATE_DIR)"
  echo "  pid $(server_pid)  listening on 127.0.0.1:$(cat "$PG_STATE_DIR/port")  log: $PG_LOG"
  echo "  url: $(sed -E 's#(//[^:/]*):[^@]*@#\1:***@#' <<<"$url")"   # the password stays in $PG_URL_FILE
  echo "  use it:  eval \"\$(make -s pg-env)\"   (or: source <(hack/postgres/env.sh))"
}

install_postgres() {
  [[ "$(id -u)" == 0 ]] || die "no PostgreSQL server binaries found; install Debian package 'postgresql' (needs root)"
  command -v apt-get >/dev/null 2>&1 || die "no PostgreSQL server binaries found and apt-get is unavailable"
  log "no PostgreSQL server binaries found; installing Debian package postgresql (about a minute)"
  local out
  out="$(mktemp)"
  apt_get() { DEBIAN_FRONTEND=noninteractive apt-get "$@" </dev/null >>"$out" 2>&1 \
    || { cat "$out" >&2; die "apt-get $* failed"; }; }
  apt_get update -qq
  # postgresql-common first, told not to create a default cluster: otherwise installing the
  # server would also initialise and start one on port 5432 that nobody stops.
  apt_get install -y -qq --no-install-recommends postgresql-common
  sed -ri 's/^#?[[:space:]]*create_main_cluster[[:space:]]*=.*/create_main_cluster = false/' \
    /etc/postgresql-common/createcluster.conf
  apt_get install -y -qq --no-install-recommends postgresql
  rm -f "$out"
}

# --- one `up` at a time per state dir (a concurrent caller waits, then finds it up) ---
mkdir -p "$(dirname "$PG_STATE_DIR")"
exec 8>"$PG_STATE_DIR.lock"
flock 8
export MENTATLAB_PG_LOCK_HELD=1   # tells our own down.sh not to wait for this lock

# --- already up? ------------------------------------------------------------------
if PG_BIN="$(pg_bin_dir)" && [[ -n "$(server_pid)" && -s "$PG_URL_FILE" ]] \
  && "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$(cat "$PG_STATE_DIR/port")"; then
  log "already up; nothing to do"
  summary
  exit 0
fi

if ! PG_BIN="$(pg_bin_dir)"; then
  started=$SECONDS
  install_postgres
  PG_BIN="$(pg_bin_dir)" || die "installing postgresql did not provide initdb, pg_ctl, postgres and psql"
  log "installed $("$PG_BIN/postgres" --version) in $(( SECONDS - started ))s"
fi
id -u "$PG_OS_USER" >/dev/null 2>&1 || [[ "$(id -u)" != 0 ]] \
  || die "OS user '$PG_OS_USER' does not exist (set MENTATLAB_PG_OS_USER to the user to run the server as)"

# --- fresh state (stop leftovers of a half-started or crashed run first) ------------
if [[ -d "$PG_STATE_DIR" ]]; then
  if [[ -n "$(ls -A "$PG_STATE_DIR")" && ! -f "$PG_MARKER" ]]; then
    die "$PG_STATE_DIR exists but was not created by hack/postgres (no $PG_MARKER); refusing to reuse it"
  fi
  "$PG_HACK_DIR/down.sh" >/dev/null
fi
mkdir -p "$PG_STATE_DIR"
touch "$PG_MARKER"
mkdir -p "$PG_RUN"
chmod 700 "$PG_STATE_DIR"
[[ "$(id -u)" != 0 ]] || chown -R "$PG_OS_USER:" "$PG_STATE_DIR"
cd "$PG_STATE_DIR"   # the server's user may not be allowed into the caller's directory
as_pg test -w "$PG_STATE_DIR" -a -x "$PG_STATE_DIR" \
  || die "$(as_pg id -un) cannot write to $PG_STATE_DIR; choose another MENTATLAB_PG_STATE"

succeeded=0
cleanup() {
  if [[ "$succeeded" != 1 ]]; then
    log "start-up failed; stopping what was started"
    if [[ -f "$PG_LOG" ]]; then
      echo "----- last lines of $PG_LOG -----" >&2
      tail -n 20 "$PG_LOG" >&2 || true
    fi
    "$PG_HACK_DIR/down.sh" >&2 || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- cluster -------------------------------------------------------------------------
superuser="$(as_pg id -un)"
log "creating a cluster in $PG_DATA (as OS user $superuser)"
as_pg "$PG_BIN/initdb" -D "$PG_DATA" -U "$superuser" --auth-local=peer --auth-host=scram-sha-256 \
  --encoding=UTF8 --locale=C.UTF-8 --no-sync >"$PG_STATE_DIR/initdb.log" 2>&1 \
  || { cat "$PG_STATE_DIR/initdb.log" >&2; die "initdb failed"; }

free_port() {
  local p
  for _ in $(seq 1 200); do
    p=$(( 20000 + RANDOM % 30000 ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
  done
  die "no free port found"
}
port="$(free_port)"
echo "$port" >"$PG_STATE_DIR/port"
# A test server: durability settings off (a crash loses the cluster, which is thrown away anyway).
cat >>"$PG_DATA/postgresql.conf" <<CONF

# --- hack/postgres/up.sh ---
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$PG_RUN'
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
CONF

log "starting postgres on 127.0.0.1:$port"
as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t "$READY_TIMEOUT" start >/dev/null 8>&- \
  || die "postgres did not start within ${READY_TIMEOUT}s"

# --- role and database ---------------------------------------------------------------
password="$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
as_pg "$PG_BIN/psql" -h "$PG_RUN" -p "$port" -U "$superuser" -d postgres -qAt -v ON_ERROR_STOP=1 <<SQL >/dev/null
CREATE ROLE $PG_ROLE LOGIN CREATEDB PASSWORD '$password';
CREATE DATABASE $PG_DATABASE OWNER $PG_ROLE;
SQL
url="postgresql+psycopg://$PG_ROLE:$password@127.0.0.1:$port/$PG_DATABASE"
(umask 077 && echo "$url" >"$PG_URL_FILE")

succeeded=1
summary
