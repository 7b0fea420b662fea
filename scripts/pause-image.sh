#!/usr/bin/env bash
# The pod sandbox ("pause") image of the test node, without a registry: the static `pause` binary
# that scripts/build-kubernetes.sh builds from the Kubernetes tree's build/pause, FROM scratch,
# as a docker-archive for `ctr images import`. Cached by the binary's checksum:
#
#   ${ADO_CACHE}/images/pause-<sha>.tar     (image localhost/account-deletion-operator/pause:v1.20.2)
#
#   bash scripts/pause-image.sh     # prints PAUSE_IMAGE=... and PAUSE_IMAGE_ARCHIVE=...
set -euo pipefail

CACHE="${ADO_CACHE:-$HOME/.cache/account-deletion-operator}"
KUBE_BIN_DIR="${KUBE_BIN_DIR:-$CACHE/kubernetes-v1.20.2-r3}"
PAUSE_BIN="$KUBE_BIN_DIR/pause"
IMAGE=localhost/account-deletion-operator/pause:v1.20.2
log() { printf '[pause-image %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

[[ -x "$PAUSE_BIN" ]] || { log "no pause binary at $PAUSE_BIN (run scripts/setup.sh)"; exit 1; }
command -v buildah >/dev/null 2>&1 || { log "buildah not found (apt-get install buildah)"; exit 1; }
sum=$(sha256sum "$PAUSE_BIN" | cut -c1-16)
mkdir -p "$CACHE/images"
ARCHIVE="$CACHE/images/pause-$sum.tar"
if [[ ! -s "$ARCHIVE" ]]; then
    exec 9>"$CACHE/images/pause.lock"
    flock 9
    if [[ ! -s "$ARCHIVE" ]]; then
        ctx=$(mktemp -d -t ado-pause.XXXXXX)
        trap 'rm -rf "$ctx"' EXIT
        install -m 0755 "$PAUSE_BIN" "$ctx/pause"
        printf 'FROM scratch\nCOPY pause /pause\nENTRYPOINT ["/pause"]\n' >"$ctx/Containerfile"
        drv=(--storage-driver "${ADO_STORAGE_DRIVER:-vfs}")
        buildah "${drv[@]}" bud -q --timestamp 0 -f "$ctx/Containerfile" -t "$IMAGE" "$ctx" >/dev/null
        buildah "${drv[@]}" push -q "$IMAGE" "docker-archive:$ARCHIVE.tmp:$IMAGE" >&2
        mv "$ARCHIVE.tmp" "$ARCHIVE"
        log "built $IMAGE -> $ARCHIVE"
    fi
fi
echo "PAUSE_IMAGE=$IMAGE"
echo "PAUSE_IMAGE_ARCHIVE=$ARCHIVE"
