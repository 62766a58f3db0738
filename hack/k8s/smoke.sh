#!/usr/bin/env bash
# Smoke test of the local control plane (used by the Python test suite):
#   up -> namespace -> pods on fake nodes reach Running / Succeeded / Failed (injected)
#   -> a GPU pod lands on the GPU node -> a Job completes -> deletion works
#   -> RBAC is enforced for a service account without permissions.
# Leaves the control plane running (MENTATLAB_K8S_SMOKE_DOWN=1 stops it afterwards).
# Exit code 0 and a final "k8s smoke: N passed, 0 failed" line on success.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/lib.sh"

"$HERE/up.sh"
eval "$("$HERE/env.sh" 2>/dev/null)"
[[ "$(command -v kubectl)" == "$K8S_BIN_DIR/kubectl" ]] || die "kubectl on PATH is not $K8S_BIN_DIR/kubectl"

NS="mentatlab-smoke-$$"
T="${MENTATLAB_K8S_SMOKE_TIMEOUT:-60s}"
passed=0
ok() { passed=$((passed + 1)); echo "ok $passed - $*"; }
fail() {
  echo "not ok - $*" >&2
  kubectl -n "$NS" get pods -o wide >&2 2>/dev/null || true
  echo "k8s smoke: $passed passed, 1 failed"
  exit 1
}
finish() {
  kubectl delete namespace "$NS" --wait=false --ignore-not-found >/dev/null 2>&1 || true
  if [[ "${MENTATLAB_K8S_SMOKE_DOWN:-0}" == 1 ]]; then "$HERE/down.sh" || true; fi
}
trap finish EXIT

echo "# kubectl: $(kubectl version 2>/dev/null | tr '\n' ' ')"

kubectl create namespace "$NS" >/dev/null || fail "create namespace $NS"
for _ in $(seq 1 120); do kubectl -n "$NS" get serviceaccount default >/dev/null 2>&1 && break; sleep 0.5; done
ok "namespace $NS created (with its default ServiceAccount)"

kubectl -n "$NS" apply -f - >/dev/null <<'EOF'
apiVersion: v1
kind: Pod
metadata: {name: server}
spec:
  containers: [{name: main, image: registry.invalid/agent:dev}]
---
apiVersion: v1
kind: Pod
metadata: {name: task, annotations: {kwok.mentatlab.io/run-duration: "2s"}}
spec:
  nodeName: kwok-node-1
  restartPolicy: Never
  containers: [{name: main, image: registry.invalid/agent:dev}]
---
apiVersion: v1
kind: Pod
metadata:
  name: broken
  labels: {kwok.mentatlab.io/outcome: fail}
  annotations: {kwok.mentatlab.io/exit-code: "3", kwok.mentatlab.io/reason: "Error"}
spec:
  restartPolicy: Never
  containers: [{name: main, image: registry.invalid/agent:dev}]
---
apiVersion: v1
kind: Pod
metadata: {name: gpu}
spec:
  containers:
  - name: main
    image: registry.invalid/agent:dev
    resources: {limits: {nvidia.com/gpu: "1"}}
EOF

kubectl -n "$NS" wait --for=jsonpath='{.status.phase}'=Running pod/server --timeout="$T" >/dev/null \
  || fail "scheduled pod 'server' did not reach Running"
ok "pod 'server' scheduled to $(kubectl -n "$NS" get pod server -o jsonpath='{.spec.nodeName}') and Running (podIP $(kubectl -n "$NS" get pod server -o jsonpath='{.status.podIP}'))"

kubectl -n "$NS" wait --for=jsonpath='{.status.phase}'=Succeeded pod/task --timeout="$T" >/dev/null \
  || fail "pod 'task' (restartPolicy Never, nodeName kwok-node-1) did not reach Succeeded"
ok "pod 'task' bound to kwok-node-1 with restartPolicy Never reached Succeeded (exit $(kubectl -n "$NS" get pod task -o jsonpath='{.status.containerStatuses[0].state.terminated.exitCode}'))"

kubectl -n "$NS" wait --for=jsonpath='{.status.phase}'=Failed pod/broken --timeout="$T" >/dev/null \
  || fail "pod 'broken' (label kwok.mentatlab.io/outcome=fail) did not reach Failed"
code="$(kubectl -n "$NS" get pod broken -o jsonpath='{.status.containerStatuses[0].state.terminated.exitCode}')"
[[ "$code" == 3 ]] || fail "pod 'broken' exit code is '$code', want 3"
ok "pod 'broken' (kwok.mentatlab.io/outcome=fail) went Failed with exit code $code"

kubectl -n "$NS" wait --for=jsonpath='{.status.phase}'=Running pod/gpu --timeout="$T" >/dev/null \
  || fail "GPU pod did not reach Running"
node="$(kubectl -n "$NS" get pod gpu -o jsonpath='{.spec.nodeName}')"
[[ "$node" == kwok-gpu-0 ]] || fail "GPU pod ran on '$node', want kwok-gpu-0"
ok "pod 'gpu' requesting nvidia.com/gpu was scheduled to $node and Running"

kubectl -n "$NS" create job batch --image=registry.invalid/agent:dev >/dev/null || fail "create job"
kubectl -n "$NS" wait --for=condition=Complete job/batch --timeout="$T" >/dev/null \
  || fail "Job 'batch' did not complete"
ok "Job 'batch' completed (controller-manager + scheduler + kwok)"

kubectl -n "$NS" delete pod server task broken gpu --wait=true --timeout="$T" >/dev/null \
  || fail "deleting pods"
[[ -z "$(kubectl -n "$NS" get pods -o name --field-selector=metadata.name!=x 2>/dev/null | grep -v '^pod/batch-' || true)" ]] \
  || fail "pods still present after delete"
ok "pods deleted"

out="$(kubectl auth can-i create pods --as=system:serviceaccount:default:nobody 2>&1 || true)"
[[ "$out" == "no" ]] || fail "RBAC: 'auth can-i create pods' as default:nobody said '$out', want 'no'"
err="$(kubectl -n "$NS" get pods --as=system:serviceaccount:default:nobody 2>&1 || true)"
[[ "$err" == *Forbidden* || "$err" == *forbidden* ]] || fail "RBAC: listing pods as default:nobody was not Forbidden: $err"
ok "RBAC enforced: can-i create pods as system:serviceaccount:default:nobody -> $out; list pods -> Forbidden"

[[ "$(kubectl auth can-i '*' '*')" == yes ]] || fail "admin kubeconfig is not cluster-admin"
ok "admin kubeconfig is system:masters"

echo "k8s smoke: $passed passed, 0 failed"
