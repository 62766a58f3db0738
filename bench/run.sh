#!/usr/bin/env bash
# make bench / make bench-quick: the suite with the local Kubernetes control plane up.
# The control plane is stopped afterwards only if this script started it: a developer's (or
# another session's) running control plane is left as it was.
set -euo pipefail
cd "$(dirname "$0")/.."
up_log=$(hack/k8s/up.sh 2>&1) || { echo "$up_log" >&2; exit 1; }
echo "$up_log" | tail -n 3
started_here=1
[[ "$up_log" == *"already up"* ]] && started_here=0
eval "$(hack/k8s/env.sh)"
status=0
.venv/bin/python -m bench "$@" || status=$?
if (( started_here )); then hack/k8s/down.sh; fi
exit "$status"
