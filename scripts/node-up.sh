#!/usr/bin/env bash
# Starts a throw-away ONE-NODE Kubernetes v1.20.2 cluster on loopback: etcd + kube-apiserver
# (scripts/kube-up.sh), kube-controller-manager, kube-scheduler, a private containerd + runc and a
# kubelet whose node is named (and addressed) 127.0.0.1. Flags and pitfalls:
# ../shared/docs/test-infrastructure.md §1b; the Rust tests start the same thing from
# tests/support/node.rs.
#
#   eval "$(bash scripts/node-up.sh [IMAGE_ARCHIVE...])"   # prints KUBECONFIG=..., KUBE_DIR=..., ...
#   kubectl get nodes,pods -A                                # (Debian's kubernetes-client)
#   bash scripts/node-down.sh "$KUBE_DIR"                    # stops pods, shims, everything, by PID
#
# IMAGE_ARCHIVE: docker-archives (buildah push ... docker-archive:FILE) imported into the node's
# containerd (namespace k8s.io) besides the pause image (scripts/pause-image.sh). Nothing is ever
# pulled; pods must use imagePullPolicy IfNotPresent or Never.
#
# Network: every listener is on 127.0.0.1 and every connection goes to 127.0.0.1. There is no pod
# network (CNI has only the loopback plugin), so pods run with hostNetwork: true and in-cluster
# clients need KUBERNETES_SERVICE_HOST=127.0.0.1 / KUBERNETES_SERVICE_PORT=<KUBE_API_PORT printed
# below> (the ClusterIP of the `kubernetes` Service routes nowhere). The node is named 127.0.0.1, so
# its InternalIP is 127.0.0.1: `kubectl logs`/`exec` and the probes of hostNetwork pods stay on
# loopback. Pods get a resolv.conf naming 127.0.0.1 only, so a stray DNS lookup goes nowhere.
# Pod logs (also through `kubectl logs`): $KUBE_DIR/node/pod-logs.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${ADO_CACHE:-$HOME/.cache/account-deletion-operator}"
export ADO_CACHE="$CACHE"
KUBE_BIN_DIR="${KUBE_BIN_DIR:-$CACHE/kubernetes-v1.20.2-r3}"
export KUBE_BIN_DIR
export KUBE_APISERVER_BIN="${KUBE_APISERVER_BIN:-$KUBE_BIN_DIR/kube-apiserver}"
NODE_NAME=127.0.0.1
log() { printf '[node-up %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

for b in kube-controller-manager kube-scheduler kubelet; do
    [[ -x "$KUBE_BIN_DIR/$b" ]] || die "no $b in $KUBE_BIN_DIR (run scripts/setup.sh)"
done
for c in containerd containerd-shim-runc-v2 runc ctr unshare nsenter; do
    command -v "$c" >/dev/null 2>&1 || die "$c not found (apt-get install containerd runc)"
done
[[ -x /usr/lib/cni/loopback ]] || die "no /usr/lib/cni/loopback (apt-get install containernetworking-plugins)"

start=$(date +%s)
eval "$(bash "$ROOT/scripts/pause-image.sh")"
DIR="${KUBE_DIR:-$(mktemp -d -t ado-kube.XXXXXX)}"
mkdir -p "$DIR"
# From here on, a failure (or Ctrl-C) stops whatever was started.
UP=0
trap '((UP)) || bash "$ROOT/scripts/node-down.sh" "$DIR" >/dev/null 2>&1 || true' EXIT
out=$(KUBE_DIR="$DIR" bash "$ROOT/scripts/kube-up.sh")
eval "$out"
API_PORT=${KUBE_API_URL##*:}
# A free port for a server that binds it later, below the ephemeral range (a port from that range
# can meanwhile become the local port of an outgoing connection).
listen_port() { python3 -c 'import random,socket
low=int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
for _ in range(500):
    p=random.randrange(10000, max(low, 12000))
    try:
        for a in ("127.0.0.1", "0.0.0.0"):
            s=socket.socket(); s.bind((a, p)); s.close()
        print(p); break
    except OSError: pass'; }

# ------------------------------------------------------------------ control plane
"$KUBE_BIN_DIR/kube-controller-manager" --kubeconfig="$DIR/kubeconfig" \
    --service-account-private-key-file="$DIR/sa.key" --root-ca-file="$DIR/certs/apiserver.crt" \
    --leader-elect=false --port=0 --secure-port=0 --controllers='*,-nodeipam,-service,-route,-cloud-node-lifecycle' \
    >"$DIR/controller-manager.log" 2>&1 </dev/null &
echo $! >"$DIR/controller-manager.pid"
"$KUBE_BIN_DIR/kube-scheduler" --kubeconfig="$DIR/kubeconfig" --leader-elect=false --port=0 --secure-port=0 \
    >"$DIR/scheduler.log" 2>&1 </dev/null &
echo $! >"$DIR/scheduler.pid"

# ------------------------------------------------------------------ containerd
N="$DIR/node"
mkdir -p "$N/containerd/cni" "$N/kubelet" "$N/kubelet-certs" "$N/volume-plugins" "$N/pod-logs" "$N/container-logs"
sed "s#@DIR@#$N/containerd#g; s#@PAUSE_IMAGE@#$PAUSE_IMAGE#g" "$ROOT/scripts/node/containerd.toml" \
    >"$N/containerd/config.toml"
cp "$ROOT/scripts/node/cni-loopback.conflist" "$N/containerd/cni/10-loopback.conflist"
SOCK="$N/containerd/containerd.sock"
# containerd and the kubelet share a private mount namespace with the node's own directories over
# /var/log/pods and /var/log/containers: the kubelet has no flag for them and deletes the log
# directories of every pod it does not know (another test node's). Pod logs: $N/pod-logs.
unshare --mount --propagation private -- /bin/sh -c \
    'mkdir -p /var/log/pods /var/log/containers && mount --bind "$1" /var/log/pods &&
     mount --bind "$2" /var/log/containers && exec containerd --config "$3"' \
    sh "$N/pod-logs" "$N/container-logs" "$N/containerd/config.toml" >"$DIR/containerd.log" 2>&1 </dev/null &
echo $! >"$DIR/containerd.pid"
for _ in $(seq 1 100); do
    ctr --address "$SOCK" version >/dev/null 2>&1 && break
    kill -0 "$(cat "$DIR/containerd.pid")" 2>/dev/null || { tail -n 30 "$DIR/containerd.log" >&2; die "containerd exited"; }
    sleep 0.1
done
ctr --address "$SOCK" version >/dev/null 2>&1 || die "containerd did not answer on $SOCK in 10 s"
for archive in "$PAUSE_IMAGE_ARCHIVE" "$@"; do
    ctr --address "$SOCK" -n k8s.io images import "$archive" >/dev/null \
        || die "ctr images import $archive failed"
done

# ------------------------------------------------------------------ kubelet
echo "nameserver 127.0.0.1" >"$N/resolv.conf"
KUBELET_PORT=$(listen_port)
nsenter --mount="/proc/$(cat "$DIR/containerd.pid")/ns/mnt" -- "$KUBE_BIN_DIR/kubelet" --kubeconfig="$DIR/kubeconfig" --hostname-override="$NODE_NAME" \
    --address="$NODE_NAME" --port="$KUBELET_PORT" --read-only-port=0 --healthz-port=0 \
    --container-runtime=remote --container-runtime-endpoint="unix://$SOCK" \
    --containerd="$SOCK" --pod-infra-container-image="$PAUSE_IMAGE" \
    --root-dir="$N/kubelet" --cert-dir="$N/kubelet-certs" --volume-plugin-dir="$N/volume-plugins" \
    --resolv-conf="$N/resolv.conf" --fail-swap-on=false --cgroups-per-qos=false --enforce-node-allocatable= \
    --cgroup-driver=cgroupfs --eviction-hard= --image-gc-high-threshold=100 --image-gc-low-threshold=99 \
    >"$DIR/kubelet.log" 2>&1 </dev/null &
echo $! >"$DIR/kubelet.pid"
echo "$SOCK" >"$DIR/containerd.address"

# ------------------------------------------------------------------ ready
node_ready() {
    curl -sk -H "Authorization: Bearer $KUBE_TOKEN" "$KUBE_API_URL/api/v1/nodes/$NODE_NAME" 2>/dev/null \
        | python3 -c 'import json,sys
n=json.load(sys.stdin); c=[x for x in n.get("status",{}).get("conditions",[]) if x["type"]=="Ready"]
sys.exit(0 if c and c[0]["status"]=="True" else 1)' 2>/dev/null
}
until node_ready; do
    for p in controller-manager scheduler containerd kubelet; do
        kill -0 "$(cat "$DIR/$p.pid")" 2>/dev/null || { tail -n 30 "$DIR/$p.log" >&2; die "$p exited; log $DIR/$p.log"; }
    done
    (( $(date +%s) - start > 120 )) && die "node $NODE_NAME not Ready after 120 s; see $DIR/kubelet.log"
    sleep 0.5
done
UP=1
trap - EXIT
log "node $NODE_NAME Ready in $(( $(date +%s) - start )) s (logs in $DIR)"
echo "$out"
echo "KUBE_API_PORT=$API_PORT"
echo "NODE_NAME=$NODE_NAME"
echo "CONTAINERD_ADDRESS=$SOCK"
echo "PAUSE_IMAGE=$PAUSE_IMAGE"
echo "FREE_LISTEN_PORT=$(listen_port)"
