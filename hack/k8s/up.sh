#!/usr/bin/env bash
# Starts a local, real Kubernetes control plane for MentatLab's tests:
#   etcd -> kube-apiserver -> kube-controller-manager + kube-scheduler -> kwok
# with fake nodes (hack/k8s/manifests/nodes.yaml) whose pods kwok drives through
# their lifecycle (hack/k8s/stages/*.yaml). Everything listens on 127.0.0.1 only.
#
# Binaries: built once by build.sh into ${MENTATLAB_K8S_CACHE:-~/.cache/mentatlab/k8s}.
# State (certs, etcd data, logs, pids, kubeconfig): ${MENTATLAB_K8S_STATE:-/tmp/mentatlab-k8s}.
# Idempotent: when the control plane is already up this only prints its summary.
# A fresh `up` (after `down`) always starts from an empty etcd with new certificates.
set -euo pipefail
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

READY_TIMEOUT="${MENTATLAB_K8S_READY_TIMEOUT:-120}"   # seconds per wait step
COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok)
SERVICE_CIDR=10.96.0.0/16
SERVICE_IP=10.96.0.1
POD_CIDR=10.244.0.0/16

PKI="$K8S_STATE_DIR/pki"
LOGS="$K8S_STATE_DIR/logs"
PIDS="$K8S_STATE_DIR/pids"
MARKER="$K8S_STATE_DIR/.mentatlab-k8s-state"

kc() { "$K8S_BIN_DIR/kubectl" --kubeconfig "$K8S_KUBECONFIG" "$@"; }

all_running() {
  local c
  for c in "${COMPONENTS[@]}"; do pid_alive "$(cat "$PIDS/$c.pid" 2>/dev/null)" || return 1; done
  [[ -f "$K8S_KUBECONFIG" ]] && kc get --raw=/readyz >/dev/null 2>&1
}

summary() {
  # shellcheck disable=SC1091
  source "$K8S_STATE_DIR/ports.env"
  echo "MentatLab local Kubernetes $K8S_VERSION is up (state: $K8S_STATE_DIR)"
  printf '  %-24s %-8s %s\n' COMPONENT PID ENDPOINT
  printf '  %-24s %-8s %s\n' "etcd $ETCD_VERSION" "$(cat "$PIDS/etcd.pid")" "http://127.0.0.1:$ETCD_PORT"
  printf '  %-24s %-8s %s\n' kube-apiserver "$(cat "$PIDS/kube-apiserver.pid")" "https://127.0.0.1:$APISERVER_PORT"
  printf '  %-24s %-8s %s\n' kube-controller-manager "$(cat "$PIDS/kube-controller-manager.pid")" "https://127.0.0.1:$KCM_PORT/healthz"
  printf '  %-24s %-8s %s\n' kube-scheduler "$(cat "$PIDS/kube-scheduler.pid")" "https://127.0.0.1:$SCHEDULER_PORT/healthz"
  printf '  %-24s %-8s %s\n' "kwok $KWOK_VERSION" "$(cat "$PIDS/kwok.pid")" "http://127.0.0.1:$KWOK_PORT/healthz"
  echo "  kubeconfig: $K8S_KUBECONFIG   logs: $LOGS"
  kc get nodes \
    -o custom-columns='NODE:.metadata.name,READY:.status.conditions[?(@.type=="Ready")].status,CPU:.status.allocatable.cpu,MEMORY:.status.allocatable.memory,PODS:.status.allocatable.pods,GPU:.status.allocatable.nvidia\.com/gpu' \
    | sed 's/^/  /' || true
  echo "  use it:  eval \"\$(make -s k8s-env)\"   (or: source <(hack/k8s/env.sh))"
}

# --- one `up` at a time per state dir (a concurrent caller waits, then finds it up) ---
ensure_cmd flock util-linux
mkdir -p "$(dirname "$K8S_STATE_DIR")"
exec 8>"$K8S_STATE_DIR.lock"
flock 8
export MENTATLAB_K8S_LOCK_HELD=1   # tells our own down.sh not to wait for this lock

# --- already up? ------------------------------------------------------------
if [[ -x "$K8S_BIN_DIR/kubectl" ]] && all_running; then
  log "already up; nothing to do"
  summary
  exit 0
fi

ensure_cmd openssl openssl
ensure_cmd curl curl
"$K8S_HACK_DIR/build.sh"

# --- fresh state (stop leftovers of a half-started or crashed run first) ------
if [[ -d "$K8S_STATE_DIR" ]]; then
  if [[ -n "$(ls -A "$K8S_STATE_DIR")" && ! -f "$MARKER" ]]; then
    die "$K8S_STATE_DIR exists but was not created by hack/k8s (no $MARKER); refusing to reuse it"
  fi
  if compgen -G "$PIDS/*.pid" >/dev/null; then
    log "found a partly running or stale control plane; stopping it and starting from scratch"
  fi
  "$K8S_HACK_DIR/down.sh" >/dev/null
  rm -rf "$PKI" "$LOGS" "$PIDS" "$K8S_STATE_DIR/etcd-data" "$K8S_STATE_DIR/kwok" \
    "$K8S_STATE_DIR"/*.kubeconfig "$K8S_KUBECONFIG" "$K8S_STATE_DIR/ports.env"
fi
mkdir -p "$PKI" "$LOGS" "$PIDS" "$K8S_STATE_DIR/kwok"
chmod 700 "$K8S_STATE_DIR" "$PKI"
touch "$MARKER"

succeeded=0
cleanup() {
  if [[ "$succeeded" != 1 ]]; then
    log "start-up failed; stopping what was started (logs kept in $LOGS)"
    local f
    for f in "$LOGS"/*.log; do
      [[ -f "$f" ]] || continue
      echo "----- last lines of $f -----" >&2
      tail -n 15 "$f" >&2 || true
    done
    "$K8S_HACK_DIR/down.sh" >&2 || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- ports ---------------------------------------------------------------------
declare -A taken=()
free_port() {
  local p
  for _ in $(seq 1 200); do
    p=$(( 20000 + RANDOM % 30000 ))
    [[ -n "${taken[$p]:-}" ]] && continue
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then taken[$p]=1; echo "$p"; return 0; fi
  done
  die "no free port found"
}
ETCD_PORT=$(free_port); ETCD_PEER_PORT=$(free_port); APISERVER_PORT=$(free_port)
KCM_PORT=$(free_port); SCHEDULER_PORT=$(free_port); KWOK_PORT=$(free_port)
cat > "$K8S_STATE_DIR/ports.env" <<EOF
ETCD_PORT=$ETCD_PORT
ETCD_PEER_PORT=$ETCD_PEER_PORT
APISERVER_PORT=$APISERVER_PORT
KCM_PORT=$KCM_PORT
SCHEDULER_PORT=$SCHEDULER_PORT
KWOK_PORT=$KWOK_PORT
EOF

# --- certificates --------------------------------------------------------------
log "generating certificates in $PKI"
openssl req -x509 -new -nodes -newkey rsa:2048 -sha256 -days 3650 \
  -keyout "$PKI/ca.key" -out "$PKI/ca.crt" -subj "/CN=mentatlab-k8s-ca" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
  2>/dev/null
issue() { # issue <name> <subject> <extendedKeyUsage> [subjectAltName]
  local name=$1 subj=$2 eku=$3 san=${4:-}
  openssl req -new -nodes -newkey rsa:2048 -keyout "$PKI/$name.key" -out "$PKI/$name.csr" -subj "$subj" 2>/dev/null
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$eku"
    [[ -n "$san" ]] && echo "subjectAltName=$san"
  } > "$PKI/$name.ext"
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -sha256 -days 3650 \
    -set_serial "0x$(openssl rand -hex 16)" -extfile "$PKI/$name.ext" -out "$PKI/$name.crt" 2>/dev/null
  rm -f "$PKI/$name.csr" "$PKI/$name.ext"
}
issue apiserver "/CN=kube-apiserver" serverAuth \
  "IP:127.0.0.1,DNS:localhost,IP:$SERVICE_IP,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
issue admin "/O=system:masters/CN=mentatlab-admin" clientAuth
issue kube-controller-manager "/CN=system:kube-controller-manager" clientAuth
issue kube-scheduler "/CN=system:kube-scheduler" clientAuth
issue kwok "/O=system:masters/CN=kwok-controller" clientAuth
# front-proxy (request-header authentication for aggregated API servers), as kubeadm does
openssl req -x509 -new -nodes -newkey rsa:2048 -sha256 -days 3650 \
  -keyout "$PKI/front-proxy-ca.key" -out "$PKI/front-proxy-ca.crt" -subj "/CN=mentatlab-front-proxy-ca" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
  2>/dev/null
openssl req -new -nodes -newkey rsa:2048 -keyout "$PKI/front-proxy-client.key" -out "$PKI/front-proxy-client.csr" \
  -subj "/CN=front-proxy-client" 2>/dev/null
printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n' \
  > "$PKI/front-proxy-client.ext"
openssl x509 -req -in "$PKI/front-proxy-client.csr" -CA "$PKI/front-proxy-ca.crt" -CAkey "$PKI/front-proxy-ca.key" \
  -sha256 -days 3650 -set_serial "0x$(openssl rand -hex 16)" -extfile "$PKI/front-proxy-client.ext" \
  -out "$PKI/front-proxy-client.crt" 2>/dev/null
rm -f "$PKI/front-proxy-client.csr" "$PKI/front-proxy-client.ext"
# service-account token signing key pair
openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
chmod 600 "$PKI"/*.key

# --- kubeconfigs -----------------------------------------------------------------
write_kubeconfig() { # write_kubeconfig <file> <cert name> <user>
  local f=$1 cert=$2 user=$3 k="$K8S_BIN_DIR/kubectl"
  "$k" config --kubeconfig "$f" set-cluster mentatlab-local --server "https://127.0.0.1:$APISERVER_PORT" \
    --certificate-authority "$PKI/ca.crt" --embed-certs=true >/dev/null
  "$k" config --kubeconfig "$f" set-credentials "$user" --client-certificate "$PKI/$cert.crt" \
    --client-key "$PKI/$cert.key" --embed-certs=true >/dev/null
  "$k" config --kubeconfig "$f" set-context mentatlab-local --cluster mentatlab-local --user "$user" >/dev/null
  "$k" config --kubeconfig "$f" use-context mentatlab-local >/dev/null
  chmod 600 "$f"
}
write_kubeconfig "$K8S_KUBECONFIG" admin mentatlab-admin
write_kubeconfig "$K8S_STATE_DIR/kube-controller-manager.kubeconfig" kube-controller-manager system:kube-controller-manager
write_kubeconfig "$K8S_STATE_DIR/kube-scheduler.kubeconfig" kube-scheduler system:kube-scheduler
write_kubeconfig "$K8S_STATE_DIR/kwok.kubeconfig" kwok kwok-controller

# --- process helpers ---------------------------------------------------------------
start() { # start <name> <binary> args... ; detached (own session), stdin closed
  local name=$1 bin=$2; shift 2
  log "starting $name"
  setsid bash -c 'echo $$ > "$1"; shift; exec "$@"' _ "$PIDS/$name.pid" "$K8S_BIN_DIR/$bin" "$@" \
    </dev/null >"$LOGS/$name.log" 2>&1 8>&- &   # 8>&-: daemons must not inherit the up lock
  for _ in $(seq 1 50); do [[ -s "$PIDS/$name.pid" ]] && return 0; sleep 0.1; done
  die "$name did not start"
}
wait_for() { # wait_for <what> <timeout s> <component to watch> <command...>
  local what=$1 timeout=$2 comp=$3; shift 3
  local deadline=$(( SECONDS + timeout ))
  until "$@" >/dev/null 2>&1; do
    pid_alive "$(cat "$PIDS/$comp.pid" 2>/dev/null)" || die "$comp exited while waiting for $what (see $LOGS/$comp.log)"
    (( SECONDS < deadline )) || die "timed out after ${timeout}s waiting for $what"
    sleep 0.5
  done
}
healthz() { curl -fsk --max-time 2 "$1" | grep -qx ok; }

# --- etcd ----------------------------------------------------------------------------
start etcd etcd \
  --name=mentatlab --data-dir="$K8S_STATE_DIR/etcd-data" \
  --listen-client-urls="http://127.0.0.1:$ETCD_PORT" --advertise-client-urls="http://127.0.0.1:$ETCD_PORT" \
  --listen-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-cluster="mentatlab=http://127.0.0.1:$ETCD_PEER_PORT" --initial-cluster-state=new \
  --listen-metrics-urls="" --quota-backend-bytes=2147483648 \
  --unsafe-no-fsync=true --log-level=warn
wait_for "etcd /health" "$READY_TIMEOUT" etcd \
  bash -c "curl -fs --max-time 2 http://127.0.0.1:$ETCD_PORT/health | grep -q '\"health\":\"true\"'"

# --- kube-apiserver ----------------------------------------------------------------------
start kube-apiserver kube-apiserver \
  --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
  --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$APISERVER_PORT" \
  --endpoint-reconciler-type=none \
  --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
  --client-ca-file="$PKI/ca.crt" \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
  --service-cluster-ip-range="$SERVICE_CIDR" \
  --authorization-mode=Node,RBAC \
  --requestheader-client-ca-file="$PKI/front-proxy-ca.crt" --requestheader-allowed-names=front-proxy-client \
  --requestheader-username-headers=X-Remote-User --requestheader-group-headers=X-Remote-Group \
  --requestheader-extra-headers-prefix=X-Remote-Extra- \
  --proxy-client-cert-file="$PKI/front-proxy-client.crt" --proxy-client-key-file="$PKI/front-proxy-client.key" \
  --allow-privileged=true --profiling=false --v=1
wait_for "kube-apiserver /readyz" "$READY_TIMEOUT" kube-apiserver kc get --raw=/readyz

# --- kube-controller-manager, kube-scheduler ---------------------------------------------------
KCM_KC="$K8S_STATE_DIR/kube-controller-manager.kubeconfig"
start kube-controller-manager kube-controller-manager \
  --kubeconfig="$KCM_KC" --authentication-kubeconfig="$KCM_KC" --authorization-kubeconfig="$KCM_KC" \
  --bind-address=127.0.0.1 --secure-port="$KCM_PORT" --leader-elect=false \
  --controllers='*,bootstrapsigner,tokencleaner' --use-service-account-credentials=true \
  --root-ca-file="$PKI/ca.crt" --service-account-private-key-file="$PKI/sa.key" \
  --cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" \
  --service-cluster-ip-range="$SERVICE_CIDR" --allocate-node-cidrs=false \
  --profiling=false --v=1
SCHED_KC="$K8S_STATE_DIR/kube-scheduler.kubeconfig"
start kube-scheduler kube-scheduler \
  --kubeconfig="$SCHED_KC" --authentication-kubeconfig="$SCHED_KC" --authorization-kubeconfig="$SCHED_KC" \
  --bind-address=127.0.0.1 --secure-port="$SCHEDULER_PORT" --leader-elect=false --profiling=false --v=1

# --- kwok: fake nodes + pod lifecycle ------------------------------------------------------------
stage_args=()
for f in "$K8S_HACK_DIR"/stages/*.yaml; do stage_args+=("--config=$f"); done
for f in ${MENTATLAB_K8S_EXTRA_STAGES:-}; do stage_args+=("--config=$f"); done   # optional extra Stage files
start kwok kwok \
  --kubeconfig="$K8S_STATE_DIR/kwok.kubeconfig" "${stage_args[@]}" \
  --manage-all-nodes=false --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
  --cidr="$POD_CIDR" --node-ip=10.0.0.1 --node-lease-duration-seconds=40 \
  --server-address="127.0.0.1:$KWOK_PORT"

wait_for "kube-controller-manager /healthz" "$READY_TIMEOUT" kube-controller-manager healthz "https://127.0.0.1:$KCM_PORT/healthz"
wait_for "kube-scheduler /healthz" "$READY_TIMEOUT" kube-scheduler healthz "https://127.0.0.1:$SCHEDULER_PORT/healthz"
wait_for "kwok /healthz" "$READY_TIMEOUT" kwok healthz "http://127.0.0.1:$KWOK_PORT/healthz"

# --- nodes -------------------------------------------------------------------------------------
kc apply -f "$K8S_HACK_DIR/manifests/nodes.yaml" >/dev/null
wait_for "fake nodes to be Ready" "$READY_TIMEOUT" kwok \
  kc wait --for=condition=Ready node -l type=kwok --timeout=5s
# Namespaced pods need their "default" ServiceAccount (created by the controller-manager).
wait_for "ServiceAccount default/default" "$READY_TIMEOUT" kube-controller-manager \
  kc -n default get serviceaccount default

succeeded=1
summary
