#!/usr/bin/env bash
# Stops the local control plane started by up.sh (kwok, scheduler, controller-manager,
# apiserver, etcd — in that order) using the pid files in the state dir. Only processes
# whose executable is one of our built binaries are signalled. Logs, certificates and
# etcd data stay in ${MENTATLAB_K8S_STATE:-/tmp/mentatlab-k8s} until the next `up`;
# PURGE=1 removes the state dir too.
set -euo pipefail
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

PIDS="$K8S_STATE_DIR/pids"
if [[ "${MENTATLAB_K8S_LOCK_HELD:-0}" != 1 && -d "$(dirname "$K8S_STATE_DIR")" ]] && command -v flock >/dev/null; then
  exec 8>"$K8S_STATE_DIR.lock"
  flock 8   # do not tear down a control plane that an `up` is still starting
fi
stopped=()
for name in kwok kube-scheduler kube-controller-manager kube-apiserver etcd; do
  f="$PIDS/$name.pid"
  [[ -f "$f" ]] || continue
  pid="$(cat "$f" 2>/dev/null || true)"
  if pid_alive "$pid"; then
    exe="$(readlink "/proc/$pid/exe" 2>/dev/null || true)"
    case "$exe" in
      */"$name"|*/"$name"" (deleted)") ;;
      *) log "pid $pid in $f is not $name (exe: ${exe:-?}); leaving it alone"; rm -f "$f"; continue ;;
    esac
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do pid_alive "$pid" || break; sleep 0.1; done
    if pid_alive "$pid"; then
      log "$name (pid $pid) did not stop within 10s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do pid_alive "$pid" || break; sleep 0.1; done
    fi
    stopped+=("$name($pid)")
  fi
  rm -f "$f"
done

if (( ${#stopped[@]} )); then echo "stopped: ${stopped[*]}"; else echo "nothing running"; fi

if [[ "${PURGE:-0}" == 1 && -f "$K8S_STATE_DIR/.mentatlab-k8s-state" ]]; then
  rm -rf "$K8S_STATE_DIR" "$K8S_STATE_DIR.lock"
  echo "removed $K8S_STATE_DIR"
fi
