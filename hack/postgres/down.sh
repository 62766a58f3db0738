#!/usr/bin/env bash
# Stops the test server started by up.sh (pg_ctl stop -m fast: open sessions are ended) and
# removes its state dir ${MENTATLAB_PG_STATE:-/tmp/mentatlab-postgres}, cluster included.
# Only a postmaster whose data dir is ours and whose executable is `postgres` is stopped.
set -euo pipefail
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

if [[ "${MENTATLAB_PG_LOCK_HELD:-0}" != 1 && -d "$(dirname "$PG_STATE_DIR")" ]]; then
  exec 8>"$PG_STATE_DIR.lock"
  flock 8   # do not tear down a server that an `up` is still starting
fi
[[ -d "$PG_STATE_DIR" ]] && cd "$PG_STATE_DIR"   # the server's user may not enter the caller's directory

stopped=()
pid="$(server_pid || true)"
if [[ -n "$pid" ]]; then
  exe="$(readlink "/proc/$pid/exe" 2>/dev/null || true)"
  case "$exe" in
    */postgres|*/postgres" (deleted)")
      if PG_BIN="$(pg_bin_dir)"; then
        as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w -t 30 stop >/dev/null 2>&1 || true
      else
        kill -INT "$pid" 2>/dev/null || true   # what pg_ctl -m fast sends
      fi
      # The postmaster removes its pid file (which pg_ctl waits for) just before it exits.
      for _ in $(seq 1 100); do pid_alive "$pid" || break; sleep 0.1; done
      if pid_alive "$pid"; then
        log "postgres (pid $pid) did not stop; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do pid_alive "$pid" || break; sleep 0.1; done
      fi
      stopped+=("postgres($pid)")
      ;;
    *) log "pid $pid in $PG_DATA/postmaster.pid is not postgres (exe: ${exe:-?}); leaving it alone" ;;
  esac
fi
if (( ${#stopped[@]} )); then echo "stopped: ${stopped[*]}"; else echo "nothing running"; fi

if [[ -f "$PG_MARKER" ]]; then
  cd /
  rm -rf "$PG_STATE_DIR"
  echo "removed $PG_STATE_DIR"
fi
