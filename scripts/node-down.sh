#!/usr/bin/env bash
# Stops what scripts/node-up.sh started, by the PIDs it recorded, in an order that leaves nothing
# behind: the kubelet (so nothing restarts), every container process and containerd-shim of this
# node's containerd (found by its socket address; a container can outlive its killed shim, so both
# are killed), containerd, the scheduler and controller-manager, then unmounts what containerd and
# the kubelet mounted under the directory and hands over to scripts/kube-down.sh (apiserver, etcd).
#   bash scripts/node-down.sh "$KUBE_DIR"
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="${1:-${KUBE_DIR:-}}"
[[ -n "$DIR" && -d "$DIR" ]] || { echo "usage: node-down.sh KUBE_DIR" >&2; exit 2; }

stop_pid() { # stop_pid PID: SIGTERM, up to 5 s, then SIGKILL
    local pid=$1
    kill "$pid" 2>/dev/null || return 0
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
}
stop_named() { [[ -f "$DIR/$1.pid" ]] && stop_pid "$(cat "$DIR/$1.pid")"; }

stop_named kubelet
if [[ -f "$DIR/containerd.address" ]]; then
    sock=$(cat "$DIR/containerd.address")
    shims=()
    for c in /proc/[0-9]*/cmdline; do
        line=$(tr '\0' ' ' <"$c" 2>/dev/null) || continue
        [[ "$line" == *containerd-shim* && "$line" == *"-address $sock "* ]] && { p=${c#/proc/}; shims+=("${p%/cmdline}"); }
    done
    if ((${#shims[@]})); then
        # Every descendant of the shims (the pods' processes), from a parent map of /proc/*/stat.
        declare -A kids=()
        for s in /proc/[0-9]*/stat; do
            st=$(cat "$s" 2>/dev/null) || continue
            rest=${st##*) }; set -- $rest; ppid=$2; p=${s#/proc/}; p=${p%/stat}
            kids[$ppid]+=" $p"
        done
        victims=()
        queue=("${shims[@]}")
        while ((${#queue[@]})); do
            p=${queue[0]}; queue=("${queue[@]:1}")
            for k in ${kids[$p]:-}; do victims+=("$k"); queue+=("$k"); done
        done
        ((${#victims[@]})) && kill -9 "${victims[@]}" 2>/dev/null
        kill -9 "${shims[@]}" 2>/dev/null
        echo "node-down: killed ${#shims[@]} shim(s) and ${#victims[@]} container process(es)" >&2
    fi
fi
stop_named containerd
stop_named scheduler
stop_named controller-manager
# containerd's and the kubelet's mounts live in their private mount namespace, which is gone with
# them; unmount whatever is still visible under the directory anyway (deepest first).
awk -v d="$DIR/" 'index($2, d) == 1 {print $2}' /proc/self/mounts | sort -r | while read -r m; do
    umount -l "$m" 2>/dev/null || true
done
bash "$ROOT/scripts/kube-down.sh" "$DIR"
