#!/usr/bin/env bash
# Starts a throw-away etcd + kube-apiserver v1.20.2 on free loopback ports (for trying things by hand;
# the Rust e2e tests start their own processes). Flags per ../shared/docs/test-infrastructure.md §1.
#
#   eval "$(bash scripts/kube-up.sh)"     # prints KUBECONFIG=..., KUBE_DIR=..., pids, ...
#   kubectl get ns                         # (kubectl from Debian's kubernetes-client, optional)
#   bash scripts/kube-down.sh "$KUBE_DIR"
#
# Binaries: $KUBE_APISERVER_BIN (default: the cached build) and $ETCD_BIN (default: etcd on PATH).
# State lives in a fresh directory (KUBE_DIR, default mktemp -d); logs are etcd.log / apiserver.log there.
set -euo pipefail

CACHE="${ADO_CACHE:-$HOME/.cache/account-deletion-operator}"
APISERVER="${KUBE_APISERVER_BIN:-$CACHE/kubernetes-v1.20.2-r3/kube-apiserver}"
ETCD="${ETCD_BIN:-$(command -v etcd || echo /usr/bin/etcd)}"
[[ -x "$APISERVER" ]] || { echo "kube-up: no kube-apiserver at $APISERVER (run scripts/setup.sh)" >&2; exit 1; }
[[ -x "$ETCD" ]] || { echo "kube-up: no etcd at $ETCD (apt-get install etcd-server)" >&2; exit 1; }

DIR="${KUBE_DIR:-$(mktemp -d -t ado-kube.XXXXXX)}"
mkdir -p "$DIR"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
P_CLIENT=$(free_port); P_PEER=$(free_port); P_API=$(free_port)
while [[ $P_PEER == "$P_CLIENT" ]]; do P_PEER=$(free_port); done
while [[ $P_API == "$P_CLIENT" || $P_API == "$P_PEER" ]]; do P_API=$(free_port); done

cleanup_on_error() {
    [[ -f "$DIR/apiserver.pid" ]] && kill "$(cat "$DIR/apiserver.pid")" 2>/dev/null || true
    [[ -f "$DIR/etcd.pid" ]] && kill "$(cat "$DIR/etcd.pid")" 2>/dev/null || true
}
trap 'cleanup_on_error' ERR

"$ETCD" --name ado-test --data-dir "$DIR/etcd" \
    --listen-client-urls "http://127.0.0.1:$P_CLIENT" --advertise-client-urls "http://127.0.0.1:$P_CLIENT" \
    --listen-peer-urls "http://127.0.0.1:$P_PEER" --initial-advertise-peer-urls "http://127.0.0.1:$P_PEER" \
    --initial-cluster "ado-test=http://127.0.0.1:$P_PEER" \
    >"$DIR/etcd.log" 2>&1 </dev/null &
echo $! >"$DIR/etcd.pid"

openssl genrsa -out "$DIR/sa.key" 2048 2>/dev/null
openssl rsa -in "$DIR/sa.key" -pubout -out "$DIR/sa.pub" 2>/dev/null
TOKEN=$(openssl rand -hex 24)
echo "$TOKEN,admin,admin,system:masters" >"$DIR/tokens.csv"
mkdir -p "$DIR/certs"

"$APISERVER" --etcd-servers="http://127.0.0.1:$P_CLIENT" --bind-address=127.0.0.1 --secure-port="$P_API" \
    --cert-dir="$DIR/certs" --token-auth-file="$DIR/tokens.csv" --authorization-mode=RBAC \
    --service-account-key-file="$DIR/sa.pub" --service-account-signing-key-file="$DIR/sa.key" \
    --service-account-issuer=https://kubernetes.default.svc --service-cluster-ip-range=10.0.0.0/24 \
    --endpoint-reconciler-type=none \
    >"$DIR/apiserver.log" 2>&1 </dev/null &
echo $! >"$DIR/apiserver.pid"

cat >"$DIR/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: ado-test
  cluster:
    server: https://127.0.0.1:$P_API
    insecure-skip-tls-verify: true
users:
- name: admin
  user:
    token: $TOKEN
contexts:
- name: ado-test
  context: { cluster: ado-test, user: admin, namespace: default }
current-context: ado-test
EOF

start=$(date +%s)
until curl -sk -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
        "https://127.0.0.1:$P_API/readyz" 2>/dev/null | grep -q '^200$'; do
    if ! kill -0 "$(cat "$DIR/apiserver.pid")" 2>/dev/null; then
        echo "kube-up: kube-apiserver exited; tail of $DIR/apiserver.log:" >&2; tail -n 30 "$DIR/apiserver.log" >&2
        cleanup_on_error; exit 1
    fi
    if ! kill -0 "$(cat "$DIR/etcd.pid")" 2>/dev/null; then
        echo "kube-up: etcd exited; tail of $DIR/etcd.log:" >&2; tail -n 30 "$DIR/etcd.log" >&2
        cleanup_on_error; exit 1
    fi
    if (( $(date +%s) - start > 90 )); then
        echo "kube-up: /readyz not 200 after 90 s; see $DIR/apiserver.log" >&2
        cleanup_on_error; exit 1
    fi
    sleep 0.5
done
echo "kube-up: ready in $(( $(date +%s) - start )) s" >&2
echo "KUBECONFIG=$DIR/kubeconfig"
echo "KUBE_DIR=$DIR"
echo "KUBE_API_URL=https://127.0.0.1:$P_API"
echo "KUBE_TOKEN=$TOKEN"
echo "ETCD_URL=http://127.0.0.1:$P_CLIENT"
echo "ETCD_PID=$(cat "$DIR/etcd.pid")"
echo "APISERVER_PID=$(cat "$DIR/apiserver.pid")"
