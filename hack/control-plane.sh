#!/usr/bin/env bash
# A real Kubernetes control plane on loopback for karpenter-rs's end-to-end tests, usable by hand.
#
#   hack/control-plane.sh build        build (once, cached by version outside the repository)
#   hack/control-plane.sh up [DIR]     start etcd, kube-apiserver, kube-controller-manager,
#                                      kube-scheduler and KWOK; install the CRDs; print the env
#   hack/control-plane.sh down [DIR]   stop everything started by `up` and remove DIR
#   hack/control-plane.sh restart-apiserver [DIR]   kill kube-apiserver and start it again
#   hack/control-plane.sh stop-scheduler|start-scheduler [DIR]   stop or start kube-scheduler
#   hack/control-plane.sh helm         build helm (cached) and print its path
#   hack/control-plane.sh build-upstream   build upstream's karpenter with its kwok provider
#                                          (for the performance comparison only)
#
# Binaries are built from the Go module proxy: kube-apiserver, kube-controller-manager and
# kube-scheduler from k8s.io/kubernetes (staging modules pinned to the matching k8s.io/*
# versions), etcd from go.etcd.io/etcd/server/v3, KWOK from sigs.k8s.io/kwok, helm from
# helm.sh/helm/v3. Go is test
# infrastructure only. The cache lives in $KARPENTER_RS_CACHE (default ~/.cache/karpenter-rs).
# `up` writes DIR/env (KUBECONFIG=...), DIR/kubeconfig, DIR/logs/*.log and DIR/pids.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-v1.34.3}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.6}"
KWOK_VERSION="${KWOK_VERSION:-v0.7.0}"
CACHE="${KARPENTER_RS_CACHE:-$HOME/.cache/karpenter-rs}"
BIN="$CACHE/bin/k8s-$K8S_VERSION-etcd-$ETCD_VERSION-kwok-$KWOK_VERSION"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
COMPONENTS=(kube-apiserver kube-controller-manager kube-scheduler etcd kwok)

log() { printf 'control-plane: %s\n' "$*" >&2; }

# A throwaway Go module that requires MODULE@VERSION (with REPLACES) and builds PACKAGES.
gobuild() {
  local dir="$1" gomod="$2"; shift 2
  mkdir -p "$dir"
  printf '%s\n' "$gomod" >"$dir/go.mod"
  (cd "$dir" && GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0 go mod tidy -e >/dev/null 2>&1 || true)
  (cd "$dir" && GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0 "$@")
}

build_kubernetes() {
  local dir="$CACHE/src/kubernetes-$K8S_VERSION" staging_version="v0${K8S_VERSION#v1}"
  mkdir -p "$dir"
  # k8s.io/kubernetes replaces its staging modules with ./staging paths; a module that depends
  # on it pins each of them to the published version of the same release instead.
  local modfile
  modfile="$(cd "$dir" && GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')"
  local gomod="module karpenter-rs/controlplane
go 1.24
require k8s.io/kubernetes $K8S_VERSION
"
  local staged
  staged="$(grep -E '=> \./staging/src/' "$modfile" | awk '{print $1}' | sort -u)"
  for m in $staged; do gomod+="replace $m => $m $staging_version
"; done
  cat >"$dir/tools.go" <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
)
GO
  for c in kube-apiserver kube-controller-manager kube-scheduler; do
    [ -x "$BIN/$c" ] && continue
    log "building $c $K8S_VERSION"
    gobuild "$dir" "$gomod" go build -trimpath -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$(echo "$K8S_VERSION" | cut -d. -f2)" -o "$BIN/$c.tmp" "k8s.io/kubernetes/cmd/$c"
    mv "$BIN/$c.tmp" "$BIN/$c"
  done
}

build_etcd() {
  [ -x "$BIN/etcd" ] && return
  log "building etcd $ETCD_VERSION"
  local dir="$CACHE/src/etcd-$ETCD_VERSION"
  mkdir -p "$dir"
  printf '//go:build tools\n\npackage tools\n\nimport _ "go.etcd.io/etcd/server/v3"\n' >"$dir/tools.go"
  gobuild "$dir" "module karpenter-rs/etcd
go 1.24
require go.etcd.io/etcd/server/v3 $ETCD_VERSION
" go build -trimpath -ldflags "-s -w" -o "$BIN/etcd.tmp" go.etcd.io/etcd/server/v3
  mv "$BIN/etcd.tmp" "$BIN/etcd"
}

build_kwok() {
  [ -x "$BIN/kwok" ] && return
  log "building kwok $KWOK_VERSION"
  local dir="$CACHE/src/kwok-$KWOK_VERSION"
  mkdir -p "$dir"
  printf '//go:build tools\n\npackage tools\n\nimport _ "sigs.k8s.io/kwok/cmd/kwok"\n' >"$dir/tools.go"
  gobuild "$dir" "module karpenter-rs/kwok
go 1.24
require sigs.k8s.io/kwok $KWOK_VERSION
" go build -trimpath -ldflags "-s -w" -o "$BIN/kwok.tmp" sigs.k8s.io/kwok/cmd/kwok
  mv "$BIN/kwok.tmp" "$BIN/kwok"
}

# Upstream's own controller with its kwok provider (sigs.k8s.io/karpenter/kwok), only for
# the side-by-side performance harness (crates/karpenter/benches/e2e.rs); not part of `build`.
UPSTREAM_VERSION="${UPSTREAM_VERSION:-v1.14.1}"
build_upstream() {
  local out="$CACHE/bin/karpenter-kwok-$UPSTREAM_VERSION"
  [ -x "$out" ] && { echo "$out"; return; }
  command -v go >/dev/null || { log "go is required to build upstream's controller"; exit 1; }
  log "building upstream karpenter (kwok provider) $UPSTREAM_VERSION"
  local dir="$CACHE/src/karpenter-$UPSTREAM_VERSION"
  mkdir -p "$dir" "$CACHE/bin"
  printf '//go:build tools\n\npackage tools\n\nimport _ "sigs.k8s.io/karpenter/kwok"\n' >"$dir/tools.go"
  gobuild "$dir" "module karpenter-rs/upstream
go 1.24
require sigs.k8s.io/karpenter $UPSTREAM_VERSION
" go build -trimpath -ldflags "-s -w" -o "$out.tmp" sigs.k8s.io/karpenter/kwok
  mv "$out.tmp" "$out"
  echo "$out"
}

# helm (helm.sh/helm/v3), for the chart's tests.
HELM_VERSION="${HELM_VERSION:-v3.22.0}"
HELM="$CACHE/bin/helm-$HELM_VERSION/helm"
build_helm() {
  [ -x "$HELM" ] && return
  log "building helm $HELM_VERSION"
  local dir="$CACHE/src/helm-$HELM_VERSION"
  mkdir -p "$dir" "$(dirname "$HELM")"
  printf '//go:build tools\n\npackage tools\n\nimport _ "helm.sh/helm/v3/cmd/helm"\n' >"$dir/tools.go"
  gobuild "$dir" "module karpenter-rs/helm
go 1.24
require helm.sh/helm/v3 $HELM_VERSION
" go build -trimpath -ldflags "-s -w" -o "$HELM.tmp" helm.sh/helm/v3/cmd/helm
  mv "$HELM.tmp" "$HELM"
}

build() {
  command -v go >/dev/null || { log "go is required to build the control plane"; exit 1; }
  mkdir -p "$BIN"
  build_etcd
  build_kwok
  build_kubernetes
  for c in "${COMPONENTS[@]}"; do [ -x "$BIN/$c" ] || { log "missing $BIN/$c"; exit 1; }; done
  build_helm
  [ -x "$HELM" ] || { log "missing $HELM"; exit 1; }
  echo "$BIN"
}

case "${1:-}" in
  build) build ;;
  build-upstream) build_upstream ;;
  bin) echo "$BIN" ;;
  helm) build_helm; echo "$HELM" ;;
  up) shift; source "$ROOT/hack/control-plane-up.sh"; up "${1:-}" ;;
  down) shift; source "$ROOT/hack/control-plane-up.sh"; down "${1:-}" ;;
  restart-apiserver) shift; source "$ROOT/hack/control-plane-up.sh"; restart_apiserver "${1:-}" ;;
  stop-scheduler) shift; source "$ROOT/hack/control-plane-up.sh"; scheduler stop "${1:-}" ;;
  start-scheduler) shift; source "$ROOT/hack/control-plane-up.sh"; scheduler start "${1:-}" ;;
  *) echo "usage: $0 build|build-upstream|bin|up [DIR]|down [DIR]|restart-apiserver [DIR]|stop-scheduler [DIR]|start-scheduler [DIR]" >&2; exit 2 ;;
esac
