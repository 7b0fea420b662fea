#!/usr/bin/env bash
# THE demo (README): bash scripts/demo.sh
#
# Builds what it needs and runs the operator the way users run it: the container image
# (scripts/build-image.sh) on a one-node Kubernetes v1.20.2 cluster on loopback
# (scripts/node-up.sh: etcd, kube-apiserver, controller-manager, scheduler, containerd, kubelet),
# installed with the Helm chart; the Alibaba Cloud emulator runs beside it with a realistic member
# account (examples/seeds/demo.yaml). It applies an AccountDeletion in Plan mode, shows the plan,
# switches it to Delete and shows the progress live until the account is Deleted.
#
# Options (env):
#   ADO_DEMO_MODE=process  the operator binary as a process outside the cluster (etcd +
#                          kube-apiserver only, the chart's ServiceAccount token); also used when you
#                          give a KUBECONFIG (your cluster could not reach the emulator on this
#                          machine's loopback from a pod)
#   ADO_DEMO_KEEP=1        keeps everything running at the end (Ctrl-C stops it)
#   ADO_SKIP_SETUP=1       reuses an already set-up machine
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export ADO_CACHE="${ADO_CACHE:-$HOME/.cache/account-deletion-operator}"
say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
PIDS=()
KUBE_DIR_STARTED=""
MODE="${ADO_DEMO_MODE:-pod}"
[[ -n "${KUBECONFIG:-}" ]] && MODE=process
[[ "$MODE" == pod || "$MODE" == process ]] || { echo "ADO_DEMO_MODE must be pod or process, not $MODE" >&2; exit 2; }
WORK=$(mktemp -d -t ado-demo.XXXXXX)
cleanup() {
    local rc=$?
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    if [[ -n "$KUBE_DIR_STARTED" ]]; then
        if [[ "$MODE" == pod ]]; then
            bash scripts/node-down.sh "$KUBE_DIR_STARTED" >/dev/null 2>&1 || true
        else
            bash scripts/kube-down.sh "$KUBE_DIR_STARTED" >/dev/null 2>&1 || true
        fi
    fi
    ((rc == 0)) || echo "demo failed (exit $rc); logs in $WORK" >&2
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------ set-up and build
if [[ "${ADO_SKIP_SETUP:-}" != 1 ]]; then
    say "setting up the machine (apt, venv with Helm, kube-apiserver build; cached)"
    eval "$(bash scripts/setup.sh)"
fi
export ADO_VENV="${ADO_VENV:-$ADO_CACHE/venv}"
say "building the operator and the emulator"
cargo build --bins -q
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug"
helm() { "$ADO_VENV/bin/python" scripts/helm.py "$@"; }
if [[ "$MODE" == pod ]]; then
    say "building the operator image (scripts/build-image.sh: static binary, FROM scratch, no registry)"
    img=$(bash scripts/build-image.sh --archive "$WORK/operator-image.tar" 2>"$WORK/build-image.log") \
        || { tail -n 30 "$WORK/build-image.log"; exit 1; }
    eval "$img"
    grep -E 'root filesystem|built ' "$WORK/build-image.log" | sed 's/^\[build-image [0-9:]*\] //'
fi

# ------------------------------------------------------------------ Kubernetes
if [[ "$MODE" == pod ]]; then
    say "starting a one-node Kubernetes v1.20.2 cluster on loopback (node 127.0.0.1, the image imported)"
    out=$(KUBE_DIR="$WORK/kube" bash scripts/node-up.sh "$ADO_IMAGE_ARCHIVE")
    eval "$(echo "$out" | sed 's/^/export /')"
    KUBE_DIR_STARTED="$KUBE_DIR"
elif [[ -z "${KUBECONFIG:-}" ]]; then
    say "starting etcd + kube-apiserver v1.20.2 on loopback"
    out=$(KUBE_DIR="$WORK/kube" bash scripts/kube-up.sh)
    eval "$(echo "$out" | sed 's/^/export /')"
    KUBE_DIR_STARTED="$KUBE_DIR"
fi
API=$(awk '/server:/ {print $2; exit}' "$KUBECONFIG")
TOKEN=$(awk '/token:/ {print $2; exit}' "$KUBECONFIG")
k() { # k METHOD PATH [JSON-BODY] [CONTENT-TYPE]
    curl -sk --fail-with-body -X "$1" -H "Authorization: Bearer $TOKEN" -H "Content-Type: ${4:-application/json}" \
        ${3:+--data-binary "$3"} "$API$2"
}

# ------------------------------------------------------------------ emulator
say "starting the Alibaba Cloud emulator with examples/seeds/demo.yaml"
"$BIN/aliyun-emulator" --listen 127.0.0.1:0 --seed examples/seeds/demo.yaml --latency-ms 20 >"$WORK/emulator.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 100); do
    EMU=$(grep -oE 'http://[0-9.]+:[0-9]+' "$WORK/emulator.log" | head -n1 || true)
    [[ -n "$EMU" ]] && break; sleep 0.1
done
[[ -n "$EMU" ]] || { cat "$WORK/emulator.log"; exit 1; }
MEMBER=$(awk '/^accounts:/{a=1} a && /accountId:/ {gsub(/[^0-9]/,"",$0); print; exit}' examples/seeds/demo.yaml)
NAME=$(awk -v id="$MEMBER" '$0 ~ id {f=1} f && /displayName:/ {sub(/.*displayName: */,""); gsub(/"/,""); print; exit}' examples/seeds/demo.yaml)
KEY_ID=$(awk '/accessKeyId:/ {print $NF; exit}' examples/seeds/demo.yaml)
KEY_SECRET=$(awk '/accessKeySecret:/ {print $NF; exit}' examples/seeds/demo.yaml)
echo "emulator at $EMU; member $MEMBER ($NAME): $(curl -s "$EMU/__emulator/accounts/$MEMBER" | jq -c '[.ram | to_entries[] | {(.key): (.value | if type=="array" then length else . end)}] | add' 2>/dev/null || echo '?')"

# ------------------------------------------------------------------ chart + operator
k POST /api/v1/namespaces '{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"demo"}}' >/dev/null 2>&1 || true
if [[ "$MODE" == pod ]]; then
    PORT=$FREE_LISTEN_PORT   # from node-up.sh: free, below the ephemeral port range
    repo=${ADO_IMAGE%:*} tag=${ADO_IMAGE##*:}
    VALUES=$(jq -nc --arg r "$repo" --arg t "$tag" --argjson api "$KUBE_API_PORT" --argjson port "$PORT" --arg emu "$EMU" \
        '{image: {repository: $r, tag: $t, pullPolicy: "Never"}, watchNamespaces: ["demo"], allowedEndpoints: [$emu],
          hostNetwork: true, kubernetesApiOverride: {host: "127.0.0.1", port: $api}, metrics: {port: $port},
          logging: {format: "text"}, timing: {pollSeconds: 1}}')
    say "helm install ado charts/account-deletion-operator (image $ADO_IMAGE, hostNetwork: no pod network here)"
    helm install ado charts/account-deletion-operator --namespace ado-system --values-json "$VALUES"
    cat <<TXT
Watch it (kubectl from Debian's kubernetes-client, or any kubectl):
  export KUBECONFIG=$KUBECONFIG
  kubectl -n ado-system get pods -o wide -w
  kubectl -n ado-system logs deploy/ado-account-deletion-operator -f
  kubectl -n demo get acd -w
TXT
    say "waiting for the operator pod (Deployment ado-system/ado-account-deletion-operator Available)"
    last="" deadline=$(( $(date +%s) + 300 ))
    while :; do
        pod=$(k GET "/api/v1/namespaces/ado-system/pods?labelSelector=app.kubernetes.io/instance%3Dado" \
            | jq -r '.items[0] // empty | "\(.metadata.name)  \(.status.phase)  ready=\([.status.containerStatuses[]?.ready] | all)  node=\(.spec.nodeName // "-")  ip=\(.status.podIP // "-")  \([.status.containerStatuses[]?.state | keys[0]] | join(","))"')
        [[ -n "$pod" && "$pod" != "$last" ]] && { printf '%s  %s\n' "$(date +%T)" "$pod"; last=$pod; }
        avail=$(k GET /apis/apps/v1/namespaces/ado-system/deployments/ado-account-deletion-operator | jq -r '.status.availableReplicas // 0')
        [[ "$avail" == 1 ]] && break
        (( $(date +%s) > deadline )) && { echo "the operator pod is not Available after 300 s"; exit 1; }
        sleep 1
    done
    POD=$(k GET "/api/v1/namespaces/ado-system/pods?labelSelector=app.kubernetes.io/instance%3Dado" | jq -r '.items[0].metadata.name')
    echo "pod $POD is ready; its first log lines (kubectl logs, through the API server and the kubelet):"
    k GET "/api/v1/namespaces/ado-system/pods/$POD/log" | sed 's/\x1b\[[0-9;]*m//g' | head -n 5 | cut -c1-160
    METRICS="http://127.0.0.1:$PORT"
else
say "installing the Helm chart (CRD, ServiceAccount, least-privilege RBAC) into ado-system"
helm install ado charts/account-deletion-operator --namespace ado-system \
    --values-json '{"watchNamespaces":["demo"]}'
SA_TOKEN=$(k POST /api/v1/namespaces/ado-system/serviceaccounts/ado-account-deletion-operator/token \
    '{"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest","spec":{"expirationSeconds":7200}}' | jq -r .status.token)
cat >"$WORK/operator.kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "$API", insecure-skip-tls-verify: true}}]
users: [{name: sa, user: {token: "$SA_TOKEN"}}]
contexts: [{name: c, context: {cluster: c, user: sa, namespace: ado-system}}]
current-context: c
KC
say "running the operator as the chart's ServiceAccount (logs: $WORK/operator.log)"
KUBECONFIG="$WORK/operator.kubeconfig" "$BIN/account-deletion-operator" run --namespaces demo \
    --metrics-addr 127.0.0.1:0 --poll-seconds 1 --log-format text --allowed-endpoints "$EMU" >"$WORK/operator.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 100); do
    METRICS=$(grep -oE 'metrics listening on http://[0-9.]+:[0-9]+' "$WORK/operator.log" | grep -oE 'http://.*' || true)
    [[ -n "$METRICS" ]] && break; sleep 0.1
done
fi

# ------------------------------------------------------------------ the AccountDeletion
say "applying the credentials Secret and an AccountDeletion in mode Plan"
k POST /api/v1/namespaces/demo/secrets "$(jq -nc --arg i "$KEY_ID" --arg s "$KEY_SECRET" \
    '{apiVersion:"v1",kind:"Secret",metadata:{name:"rd-management-key"},stringData:{accessKeyId:$i,accessKeySecret:$s}}')" >/dev/null
k POST /apis/accountdeletion.dev/v1alpha1/namespaces/demo/accountdeletions "$(jq -nc --arg id "$MEMBER" --arg n "$NAME" --arg e "$EMU" \
    '{apiVersion:"accountdeletion.dev/v1alpha1",kind:"AccountDeletion",metadata:{name:"legacy"},
      spec:{accountId:$id,accountDisplayName:$n,mode:"Plan",credentialsSecretRef:{name:"rd-management-key"},endpoint:$e,
            ram:{retain:{users:["break-glass"]}}}}')" >/dev/null
OBJ=/apis/accountdeletion.dev/v1alpha1/namespaces/demo/accountdeletions/legacy
get() { k GET "$OBJ"; }
wait_phase() { # wait_phase "Planned|..." seconds
    local deadline=$(( $(date +%s) + $2 )) ph
    while :; do
        ph=$(get | jq -r '.status.phase // ""')
        [[ "$ph" =~ ^($1)$ ]] && { [[ "$1" != Planned ]] || get | jq -e '.status.deletionCheck.status=="PreCheckComplete"' >/dev/null; } && return 0
        (( $(date +%s) > deadline )) && { echo "timed out waiting for $1 (phase $ph)"; get | jq .status; return 1; }
        sleep 1
    done
}
wait_phase Planned 120
say "the plan (nothing has been changed yet)"
get | jq '.status | {phase, message, inventory, plan: {hash: .plan.hash, actions: .plan.actions, remaining: .plan.remaining, first: .plan.first[0:10], kept: .plan.kept}, retained, deletionCheck}'
HASH=$(get | jq -r .status.plan.hash)
WAIVE=$(get | jq -c '[.status.deletionCheck.abandonable[]?.checkId]')
say "approving plan $HASH, waiving abandonable checks $WAIVE, switching to mode Delete"
cat <<TXT
While it runs you can poke at it:
  curl -s $EMU/__emulator/accounts/$MEMBER | jq '.ram | map_values(length?)'   # the member's RAM, live
  curl -s $EMU/__emulator/calls | jq .totals                                    # API calls by class
  curl -s $METRICS/metrics | grep ^ado_                                          # operator metrics
  KUBECONFIG=$KUBECONFIG kubectl -n demo get acd -w                              # if you have kubectl
  KUBECONFIG=$KUBECONFIG kubectl -n ado-system logs deploy/ado-account-deletion-operator -f   # (pod mode)
TXT
k PATCH "$OBJ" "$(jq -nc --arg h "$HASH" --argjson w "$WAIVE" '{spec:{mode:"Delete",approvedPlanHash:$h,deletion:{abandonableCheckIds:$w}}}')" \
    application/merge-patch+json >/dev/null
last=""
deadline=$(( $(date +%s) + 600 ))
while :; do
    s=$(get)
    line=$(echo "$s" | jq -r '.status | "\(.phase // "-")  deleted=\(.deleted // {} | to_entries | map("\(.key):\(.value)") | join(","))  remaining=\(.plan.actions // "-")  \(.message // "")"')
    [[ "$line" != "$last" ]] && { printf '%s  %s\n' "$(date +%T)" "$line"; last=$line; }
    ph=$(echo "$s" | jq -r '.status.phase // ""')
    [[ "$ph" == Deleted ]] && break
    [[ "$ph" == Blocked || "$ph" == Failed ]] && { echo "blocked: see the message above"; }
    (( $(date +%s) > deadline )) && { echo "timed out"; exit 1; }
    sleep 1
done
say "final status"
get | jq .status
echo "emulator calls: $(curl -s "$EMU/__emulator/calls" | jq -c '.totals // .')"
if [[ "${ADO_DEMO_KEEP:-}" == 1 ]]; then
    echo "ADO_DEMO_KEEP=1: everything keeps running (KUBECONFIG=$KUBECONFIG, emulator $EMU, metrics $METRICS); Ctrl-C stops"
    wait
fi
