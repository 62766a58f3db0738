# Shared helpers for hack/k8s/*.sh (sourced, not executed).
# shellcheck shell=bash disable=SC2034
K8S_HACK_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$K8S_HACK_DIR/versions.env"

: "${HOME:=$(getent passwd "$(id -u)" | cut -d: -f6)}"
K8S_CACHE_ROOT="${MENTATLAB_K8S_CACHE:-$HOME/.cache/mentatlab/k8s}"
K8S_BIN_DIR="$K8S_CACHE_ROOT/$K8S_VERSION/bin"
K8S_STATE_DIR="${MENTATLAB_K8S_STATE:-/tmp/mentatlab-k8s}"
K8S_KUBECONFIG="$K8S_STATE_DIR/kubeconfig"
# The binaries the control plane needs (all built from hack/k8s/tools/*).
K8S_BINARIES=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok)

log() { printf '[k8s] %s\n' "$*" >&2; }
die() { printf '[k8s] ERROR: %s\n' "$*" >&2; exit 1; }

# Install Debian packages only when a command is missing (no prompts).
ensure_cmd() { # ensure_cmd <command> <debian-package>
  command -v "$1" >/dev/null 2>&1 && return 0
  [[ "$(id -u)" == 0 ]] || die "'$1' is missing; install Debian package '$2'"
  command -v apt-get >/dev/null 2>&1 || die "'$1' is missing and apt-get is unavailable"
  log "installing missing package $2 (for '$1')"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq </dev/null >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$2" </dev/null >/dev/null
  command -v "$1" >/dev/null 2>&1 || die "installing $2 did not provide '$1'"
}

# Hash of everything that determines the binaries; a change triggers a rebuild.
build_stamp() {
  {
    cat "$K8S_HACK_DIR/versions.env" "$K8S_HACK_DIR"/tools/*/go.mod "$K8S_HACK_DIR"/tools/*/go.sum
    echo "flags=-trimpath -ldflags=-s -w cgo=0"
    go env GOVERSION GOOS GOARCH 2>/dev/null || true
  } | sha256sum | cut -d' ' -f1
}

binaries_present() {
  local b
  for b in "${K8S_BINARIES[@]}"; do [[ -x "$K8S_BIN_DIR/$b" ]] || return 1; done
}

pid_alive() { [[ -n "${1:-}" ]] && kill -0 "$1" 2>/dev/null; }
