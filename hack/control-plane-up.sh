# Sourced by hack/control-plane.sh: `up` and `down` of the loopback control plane.
# shellcheck shell=bash

# A loopback port nobody listens on, picked below the kernel's ephemeral range: a port from
# bind(0) is an ephemeral one, and between our pick and the component's bind any outgoing
# connection (the API server's to etcd, a curl) may take it as its local port.
free_port() {
  python3 - <<'PY'
import random, socket
try:
    low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
except (OSError, ValueError, IndexError):
    low = 0
for _ in range(200):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", random.randint(10000, low - 1) if low > 12000 else 0))
        print(s.getsockname()[1])
        break
    except OSError:
        pass
    finally:
        s.close()
PY
}

# Wait until `$@` succeeds while process PID lives: 0 when up, 1 after TRIES half-seconds,
# 2 when the process died first.
wait_alive() {
  local what="$1" pid="$2" tries="$3"; shift 3
  for _ in $(seq "$tries"); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    if ! kill -0 "$pid" 2>/dev/null; then
      log "$what exited; logs in $DIR/logs"
      return 2
    fi
    sleep 0.5
  done
  log "$what did not come up; logs in $DIR/logs"
  return 1
}

# After a component exited: was it because a port we picked was taken meanwhile? Then the
# caller picks new ports and starts it again.
port_taken() {
  local name="$1" pid="$2"
  sed -i "/^$pid $name\$/d" "$DIR/pids"
  if grep -q "address already in use" "$DIR/logs/$name.log"; then
    mv "$DIR/logs/$name.log" "$DIR/logs/$name.$pid.log"
    log "$name: a picked port was taken before it bound; starting it on new ports"
    return 0
  fi
  return 1
}

# Certificates: one CA, the API server's serving cert for loopback, an admin client cert
# (system:masters) and the service-account signing key.
make_certs() {
  local d="$1"
  mkdir -p "$d"
  openssl req -x509 -newkey rsa:2048 -nodes -days 3 -subj "/CN=karpenter-rs-test-ca" \
    -keyout "$d/ca.key" -out "$d/ca.crt" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,IP:10.0.0.1\nextendedKeyUsage=serverAuth\n' >"$d/server.ext"
  openssl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" -keyout "$d/server.key" -out "$d/server.csr" 2>/dev/null
  openssl x509 -req -in "$d/server.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial -days 3 \
    -extfile "$d/server.ext" -out "$d/server.crt" 2>/dev/null
  printf 'extendedKeyUsage=clientAuth\n' >"$d/client.ext"
  openssl req -newkey rsa:2048 -nodes -subj "/O=system:masters/CN=karpenter-rs-admin" \
    -keyout "$d/admin.key" -out "$d/admin.csr" 2>/dev/null
  openssl x509 -req -in "$d/admin.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial -days 3 \
    -extfile "$d/client.ext" -out "$d/admin.crt" 2>/dev/null
  openssl genrsa -out "$d/sa.key" 2048 2>/dev/null
  openssl rsa -in "$d/sa.key" -pubout -out "$d/sa.pub" 2>/dev/null
}

write_kubeconfig() {
  local dir="$1" port="$2"
  cat >"$dir/kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: https://127.0.0.1:$port
    certificate-authority: $dir/pki/ca.crt
users:
- name: admin
  user:
    client-certificate: $dir/pki/admin.crt
    client-key: $dir/pki/admin.key
contexts:
- name: local
  context: {cluster: local, user: admin}
current-context: local
KC
}

# Start NAME in the background, logging to logs/NAME.log; its pid is left in STARTED.
start() {
  local dir="$1" name="$2"; shift 2
  "$@" >"$dir/logs/$name.log" 2>&1 &
  STARTED=$!
  echo "$STARTED $name" >>"$dir/pids"
}

wait_for() {
  local what="$1" tries="$2"; shift 2
  for _ in $(seq "$tries"); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  log "$what did not come up; logs in $DIR/logs"
  return 1
}

apply_crd() {
  local out
  out="$(curl -s -w '\n%{http_code}' --cacert "$DIR/pki/ca.crt" --cert "$DIR/pki/admin.crt" \
    --key "$DIR/pki/admin.key" -X PATCH -H 'Content-Type: application/apply-patch+yaml' \
    --data-binary "@$2" \
    "https://127.0.0.1:$1/apis/apiextensions.k8s.io/v1/customresourcedefinitions/$3?fieldManager=karpenter-rs-test&force=true")"
  case "${out##*$'\n'}" in
    2*) return 0 ;;
    *) log "applying $3: ${out%$'\n'*}"; return 1 ;;
  esac
}

established() {
  curl -sf --cacert "$DIR/pki/ca.crt" --cert "$DIR/pki/admin.crt" --key "$DIR/pki/admin.key" \
    "https://127.0.0.1:$1/apis/apiextensions.k8s.io/v1/customresourcedefinitions/$2" |
    python3 -c 'import json,sys; c=json.load(sys.stdin)["status"].get("conditions",[]); sys.exit(0 if any(x["type"]=="Established" and x["status"]=="True" for x in c) else 1)'
}

start_apiserver() {
  local etcd_port="$1" api_port="$2"
  start "$DIR" kube-apiserver "$BIN/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$etcd_port" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$api_port" \
    --tls-cert-file "$DIR/pki/server.crt" --tls-private-key-file "$DIR/pki/server.key" \
    --client-ca-file "$DIR/pki/ca.crt" \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$DIR/pki/sa.pub" --service-account-signing-key-file "$DIR/pki/sa.key" \
    --service-cluster-ip-range 10.0.0.0/24 --authorization-mode RBAC --allow-privileged=true \
    --max-requests-inflight 2000 --max-mutating-requests-inflight 1000 \
    --enable-priority-and-fairness=false --endpoint-reconciler-type none
}

# kube-scheduler at client QPS 1000, not leader-elected. KARPENTER_RS_CP_DEFAULT_SPREAD=off
# drops its system-default topology spreading (the ScheduleAnyway zone and hostname spread
# it adds to every pod of a ReplicaSet): its scoring counts the matching pods of every node
# for every pod, so 20,000 pods cost it quadratic time. The default, `system`, is stock.
start_scheduler() {
  local profiles=""
  case "${KARPENTER_RS_CP_DEFAULT_SPREAD:-system}" in
    system) ;;
    off) profiles="profiles: [{schedulerName: default-scheduler, pluginConfig: [{name: PodTopologySpread, args: {defaultingType: List}}]}]" ;;
    *) log "KARPENTER_RS_CP_DEFAULT_SPREAD must be system or off"; return 1 ;;
  esac
  cat >"$DIR/scheduler.yaml" <<SC
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
clientConnection: {kubeconfig: $DIR/kubeconfig, qps: 1000, burst: 2000}
leaderElection: {leaderElect: false}
$profiles
SC
  [ -f "$DIR/logs/kube-scheduler.log" ] && mv "$DIR/logs/kube-scheduler.log" "$DIR/logs/kube-scheduler.$(date +%s%N).log"
  start "$DIR" kube-scheduler "$BIN/kube-scheduler" --config "$DIR/scheduler.yaml" $(serving kube-scheduler)
}

# The secure-port flags of kube-scheduler or kube-controller-manager: none (port 0) unless
# KARPENTER_RS_CP_PROFILE=1, which serves /metrics and /debug/pprof on a free port, written
# to DIR/ports as NAME_port (authenticated and authorized through the API server: curl them
# with the admin certificate).
serving() {
  if [ "${KARPENTER_RS_CP_PROFILE:-0}" != 1 ]; then echo "--secure-port 0"; return; fi
  local port var="${1//-/_}_port"
  port="$(free_port)"
  sed -i "/^$var=/d" "$DIR/ports" 2>/dev/null || true
  echo "$var=$port" >>"$DIR/ports"
  echo "--bind-address 127.0.0.1 --secure-port $port --authentication-kubeconfig $DIR/kubeconfig --authorization-kubeconfig $DIR/kubeconfig"
}

# Stop kube-scheduler (pods stay untried until `start-scheduler`), or start it again.
scheduler() {
  DIR="${2:-${KARPENTER_RS_CP_DIR:-/tmp/karpenter-rs-control-plane}}"
  local pid
  pid="$(awk '$2 == "kube-scheduler" {print $1}' "$DIR/pids" | tail -1)"
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -9 "$pid" 2>/dev/null || true
    sed -i "/^$pid kube-scheduler\$/d" "$DIR/pids"
  fi
  if [ "$1" = start ]; then start_scheduler; log "kube-scheduler started"; else log "kube-scheduler stopped"; fi
}

# Kill the API server (SIGKILL, as a crash) and start it again on the same port and etcd.
restart_apiserver() {
  DIR="${1:-${KARPENTER_RS_CP_DIR:-/tmp/karpenter-rs-control-plane}}"
  # shellcheck disable=SC1091
  source "$DIR/ports"
  local pid
  pid="$(awk '$2 == "kube-apiserver" {print $1}' "$DIR/pids" | tail -1)"
  [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
  sleep 1
  mv "$DIR/logs/kube-apiserver.log" "$DIR/logs/kube-apiserver.$(date +%s).log"
  start_apiserver "$etcd_port" "$api_port"
  wait_for kube-apiserver 240 curl -sf --cacert "$DIR/pki/ca.crt" --cert "$DIR/pki/admin.crt" \
    --key "$DIR/pki/admin.key" "https://127.0.0.1:$api_port/readyz"
  log "kube-apiserver restarted"
}

up() {
  DIR="${1:-${KARPENTER_RS_CP_DIR:-/tmp/karpenter-rs-control-plane}}"
  if [ -f "$DIR/pids" ]; then down "$DIR"; fi
  [ -x "$BIN/kube-apiserver" ] || build >/dev/null
  rm -rf "$DIR"
  mkdir -p "$DIR/logs" "$DIR/etcd"
  : >"$DIR/pids"
  make_certs "$DIR/pki"
  local etcd_port peer_port api_port kwok_port attempt rc
  for attempt in 1 2 3 4 5; do
    etcd_port="$(free_port)"; peer_port="$(free_port)"
    rm -rf "$DIR/etcd"; mkdir -p "$DIR/etcd"
    start "$DIR" etcd "$BIN/etcd" --name local --data-dir "$DIR/etcd" \
      --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
      --listen-peer-urls "http://127.0.0.1:$peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
      --initial-cluster "local=http://127.0.0.1:$peer_port" --unsafe-no-fsync --log-level warn
    rc=0; wait_alive etcd "$STARTED" 60 curl -sf "http://127.0.0.1:$etcd_port/health" || rc=$?
    [ "$rc" = 0 ] && break
    { [ "$rc" = 2 ] && [ "$attempt" -lt 5 ] && port_taken etcd "$STARTED"; } || return 1
  done
  for attempt in 1 2 3 4 5; do
    api_port="$(free_port)"
    start_apiserver "$etcd_port" "$api_port"
    rc=0
    wait_alive kube-apiserver "$STARTED" 240 curl -sf --cacert "$DIR/pki/ca.crt" \
      --cert "$DIR/pki/admin.crt" --key "$DIR/pki/admin.key" "https://127.0.0.1:$api_port/readyz" || rc=$?
    [ "$rc" = 0 ] && break
    { [ "$rc" = 2 ] && [ "$attempt" -lt 5 ] && port_taken kube-apiserver "$STARTED"; } || return 1
  done
  printf 'etcd_port=%s\napi_port=%s\n' "$etcd_port" "$api_port" >"$DIR/ports"
  write_kubeconfig "$DIR" "$api_port"
  export KUBECONFIG="$DIR/kubeconfig"
  kwok_port="$(free_port)"
  start "$DIR" kube-controller-manager "$BIN/kube-controller-manager" \
    --kubeconfig "$DIR/kubeconfig" --leader-elect=false $(serving kube-controller-manager) \
    --service-account-private-key-file "$DIR/pki/sa.key" --root-ca-file "$DIR/pki/ca.crt" \
    --kube-api-qps 1000 --kube-api-burst 2000 --concurrent-replicaset-syncs 20 \
    --concurrent-deployment-syncs 20 --concurrent-gc-syncs 40 \
    --controllers '*,-nodeipam,-service-lb-controller,-route,-cloud-node-lifecycle'
  start_scheduler
  # KWOK plays every kubelet with a few workers for Nodes, pods and leases (KWOK's default 4,
  # KARPENTER_RS_KWOK_PARALLELISM=N to choose). Real kubelets each report on their own, but
  # on 2 cores 16 workers helped a round of 150 Nodes to Ready and slowed those of 300-500,
  # their status writes competing for the same CPU (docs/performance-log.md, "sixth
  # session"); so KWOK's default stays
  local par="${KARPENTER_RS_KWOK_PARALLELISM:-4}"
  printf 'apiVersion: config.kwok.x-k8s.io/v1alpha1\nkind: KwokConfiguration\noptions:\n  nodePlayStageParallelism: %s\n  podPlayStageParallelism: %s\n  nodeLeaseParallelism: %s\n' \
    "$par" "$par" "$par" >"$DIR/kwok.yaml"
  start "$DIR" kwok "$BIN/kwok" --kubeconfig "$DIR/kubeconfig" -c "$DIR/kwok.yaml" \
    --manage-nodes-with-annotation-selector kwok.x-k8s.io/node=fake \
    --server-address "127.0.0.1:$kwok_port" --node-lease-duration-seconds 40 --cidr 10.64.0.1/16
  # our CRDs, server-side applied as a user installs them (curl, so no kubectl is needed)
  local f name
  # and upstream's KWOKNodeClass, so NodePools written for upstream's kwok provider run too
  for f in "$ROOT"/charts/karpenter/crds/*.yaml "$ROOT"/hack/crds/*.yaml; do
    name="$(basename "$f" .yaml)"; name="${name#*_}.${name%%_*}"
    wait_for "CRD $name" 20 apply_crd "$api_port" "$f" "$name"
    wait_for "CRD $name established" 60 established "$api_port" "$name"
  done
  # a component that refused its flags has exited by now: say which, rather than let a test
  # wait for what it would have done
  local pid comp
  while read -r pid comp; do
    if ! kill -0 "$pid" 2>/dev/null; then
      log "$comp exited at start:"; tail -3 "$DIR/logs/$comp.log" >&2; return 1
    fi
  done <"$DIR/pids"
  echo "KUBECONFIG=$DIR/kubeconfig" >"$DIR/env"
  log "up: KUBECONFIG=$DIR/kubeconfig (logs in $DIR/logs)"
  echo "$DIR"
}

down() {
  DIR="${1:-${KARPENTER_RS_CP_DIR:-/tmp/karpenter-rs-control-plane}}"
  if [ -f "$DIR/pids" ]; then
    # reverse start order: kwok and the controllers before the API server, etcd last
    tac "$DIR/pids" | while read -r pid name; do
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
      kill -9 "$pid" 2>/dev/null || true
      : "$name"
    done
  fi
  rm -rf "$DIR"
}
