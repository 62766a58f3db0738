#!/usr/bin/env bash
# Prints shell exports for the local control plane:  eval "$(make -s k8s-env)"
# KUBECONFIG points at the admin (system:masters) kubeconfig written by up.sh, and the
# cache bin dir (kubectl of the same release, plus etcd, kwok, ...) goes first on PATH.
set -euo pipefail
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

q() { printf '%q' "$1"; }
echo "export KUBECONFIG=$(q "$K8S_KUBECONFIG"); export PATH=$(q "$K8S_BIN_DIR"):\"\$PATH\""
if [[ ! -x "$K8S_BIN_DIR/kubectl" || ! -f "$K8S_KUBECONFIG" ]]; then
  log "note: the control plane is not built/started yet; run 'make k8s-up' first"
fi
