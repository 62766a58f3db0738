#!/usr/bin/env bash
# Builds etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl and
# kwok from the Go module proxy into $MENTATLAB_K8S_CACHE/<k8s version>/bin
# (default ~/.cache/mentatlab/k8s). A no-op when the binaries are already built for
# the same versions/go.sum (see build_stamp in lib.sh). FORCE=1 rebuilds.
set -euo pipefail
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

if ! command -v go >/dev/null 2>&1; then
  if [[ "${FORCE:-0}" != 1 ]] && binaries_present; then
    log "go not found; using the binaries already in $K8S_BIN_DIR"
    exit 0
  fi
  die "Go is required to build (go 1.26+; a go >= 1.21 fetches the 1.26 toolchain from the module proxy)"
fi
ensure_cmd flock util-linux

stamp_file="$K8S_CACHE_ROOT/$K8S_VERSION/.stamp"
mkdir -p "$K8S_CACHE_ROOT/$K8S_VERSION"
exec 9>"$K8S_CACHE_ROOT/$K8S_VERSION/.build.lock"
flock 9   # one build at a time; a second caller waits and then finds the stamp

want="$(build_stamp)"
if [[ "${FORCE:-0}" != 1 ]] && binaries_present && [[ "$(cat "$stamp_file" 2>/dev/null)" == "$want" ]]; then
  log "binaries up to date in $K8S_BIN_DIR"
  exit 0
fi

export CGO_ENABLED=0 GOWORK=off GOFLAGS="-trimpath -buildvcs=false -mod=readonly"
jobs="${MENTATLAB_K8S_BUILD_JOBS:-2}"
out="$(mktemp -d "$K8S_CACHE_ROOT/$K8S_VERSION/bin.tmp.XXXXXX")"
trap 'rm -rf "$out"' EXIT
chmod 755 "$out"

minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
build_date="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
vx=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  vx+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  vx+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$build_date"
done

start=$SECONDS
log "building Kubernetes $K8S_VERSION (kube-apiserver, kube-controller-manager, kube-scheduler, kubectl) with -p $jobs ..."
(cd "$K8S_HACK_DIR/tools/kubernetes" && go build -p "$jobs" -ldflags="-s -w$vx" -o "$out/" \
  k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl)
log "building etcd $ETCD_VERSION ..."
(cd "$K8S_HACK_DIR/tools/etcd" && go build -p "$jobs" -ldflags="-s -w" -o "$out/etcd" go.etcd.io/etcd/server/v3)
log "building kwok $KWOK_VERSION ..."
(cd "$K8S_HACK_DIR/tools/kwok" && go build -p "$jobs" -ldflags="-s -w" -o "$out/kwok" sigs.k8s.io/kwok/cmd/kwok)

for b in "${K8S_BINARIES[@]}"; do [[ -x "$out/$b" ]] || die "build did not produce $b"; done
rm -rf "$K8S_BIN_DIR"
mv "$out" "$K8S_BIN_DIR"
trap - EXIT
echo "$want" > "$stamp_file"
log "built ${K8S_BINARIES[*]} into $K8S_BIN_DIR in $((SECONDS - start))s ($(du -sh "$K8S_BIN_DIR" | cut -f1))"
