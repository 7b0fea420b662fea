#!/usr/bin/env bash
# Builds the Kubernetes v1.20.2 server binaries offline from Debian bookworm's `kubernetes` source
# package (see ../shared/docs/test-infrastructure.md §1 and §1b) and caches them outside the
# repository, with the pause binary for the pod sandbox image:
#
#   ${ADO_CACHE:-$HOME/.cache/account-deletion-operator}/kubernetes-v1.20.2-r3/
#       kube-apiserver kube-controller-manager kube-scheduler kubelet pause
#
# One `make` for all four shares the compilation of the common packages (about 12 minutes cold on
# two cores instead of 5 + 10).
#
# r2: also applies the upstream fix for kubernetes#99804 (go-openapi validation treats an empty
# string as null when built with Go >= 1.16, so the server refused any custom resource or CRD
# holding "") and uses json-iterator 1.1.12, the release made for reflect2 1.0.2.
#
# r3: builds kubelet, kube-controller-manager and kube-scheduler too (the one-node cluster), and the
# static pause binary from build/pause.
#
# Does nothing when the directory is already complete. Needs root for the apt packages it installs
# when missing (golang-go, rsync, make, gcc, the two Go source packages). Prints the directory on
# its last line.
set -euo pipefail

K8S_VERSION=1.20.2
DEB_VERSION='1.20.5+really1.20.2-1.1+deb12u1'
CACHE="${ADO_CACHE:-$HOME/.cache/account-deletion-operator}"
BUILD_REV=r3
OUT="$CACHE/kubernetes-v$K8S_VERSION-$BUILD_REV"
BINARIES=(kube-apiserver kube-controller-manager kube-scheduler kubelet)

log() { printf '[build-kubernetes %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
complete() { [[ -x "$OUT/pause" ]] && for b in "${BINARIES[@]}"; do [[ -x "$OUT/$b" ]] || return 1; done; }

mkdir -p "$CACHE"
if complete; then
    log "cached: $OUT"
    echo "$OUT"
    exit 0
fi

# One build at a time per cache (setup.sh may run while a background build is going on).
exec 9>"$OUT.lock"
if ! flock -n 9; then
    log "another build holds the lock; waiting for it"
    flock 9
fi
if complete; then
    log "built by the concurrent run: $OUT"
    echo "$OUT"
    exit 0
fi

start=$(date +%s)

# ---------------------------------------------------------------- build dependencies
need=()
command -v go >/dev/null 2>&1 || need+=(golang-go)
command -v rsync >/dev/null 2>&1 || need+=(rsync)
command -v make >/dev/null 2>&1 || need+=(make)
command -v gcc >/dev/null 2>&1 || need+=(gcc libc6-dev)
[[ -d /usr/share/gocode/src/github.com/modern-go/reflect2 ]] || need+=(golang-github-modern-go-reflect2-dev)
[[ -d /usr/share/gocode/src/github.com/json-iterator/go ]] || need+=(golang-github-json-iterator-go-dev)
if ((${#need[@]})); then
    log "installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends "${need[@]}" >/dev/null 2>&1 || {
        apt-get update -q >/dev/null
        apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends "${need[@]}" >/dev/null
    }
fi

# ---------------------------------------------------------------- fetch the source (private deb-src list)
WORK="$CACHE/kubernetes-build"
rm -rf "$WORK"
mkdir -p "$WORK/apt/sources" "$WORK/apt/lists/partial" "$WORK/src" "$WORK/home"

uri=http://deb.debian.org/debian
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
if [[ -f /etc/apt/sources.list.d/debian.sources ]]; then
    # The first stanza of the system's debian.sources is the main archive.
    u=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
    k=$(awk '/^Signed-By:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
    [[ -n "$u" ]] && uri=$u
    [[ -n "$k" ]] && keyring=$k
fi
cat >"$WORK/apt/sources/kubernetes-src.sources" <<EOF
Types: deb-src
URIs: $uri
Suites: bookworm bookworm-updates
Components: main
Signed-By: $keyring

Types: deb-src
URIs: ${uri%/debian}/debian-security
Suites: bookworm-security
Components: main
Signed-By: $keyring
EOF
APT_OPTS=(-oDir::Etc::SourceList=/dev/null "-oDir::Etc::SourceParts=$WORK/apt/sources"
          "-oDir::State::Lists=$WORK/apt/lists" -oAPT::Sandbox::User=root)
log "apt-get update (private deb-src list, $uri)"
apt-get "${APT_OPTS[@]}" update -q >"$WORK/apt-update.log" 2>&1 || {
    cat "$WORK/apt-update.log" >&2
    exit 1
}
log "apt-get source --download-only kubernetes=$DEB_VERSION"
(cd "$WORK/src" && apt-get "${APT_OPTS[@]}" source --download-only "kubernetes=$DEB_VERSION" >"$WORK/apt-source.log" 2>&1) || {
    cat "$WORK/apt-source.log" >&2
    exit 1
}
orig=$(ls "$WORK"/src/kubernetes_*.orig.tar.* | head -n1)
log "extracting $(basename "$orig") ($(du -h "$orig" | cut -f1))"
TREE="$WORK/tree"
mkdir -p "$TREE"
# The tarball has one top-level directory; strip it.
tar -xf "$orig" -C "$TREE" --strip-components=1
[[ -f "$TREE/cmd/kube-apiserver/apiserver.go" ]] || { log "unexpected tree layout in $orig"; exit 1; }

# ---------------------------------------------------------------- reflect2 1.0.1 -> Debian's 1.0.2
# (vendored 1.0.1 crashes in reflect.mapiterinit with Go >= 1.18 on the first custom resource)
R2="$TREE/vendor/github.com/modern-go/reflect2"
rm -f "$R2"/*.go
cp /usr/share/gocode/src/github.com/modern-go/reflect2/*.go "$R2/"
rm -f "$R2"/*_test.go
# json-iterator 1.1.10 -> Debian's 1.1.12, the release made for reflect2 1.0.2 (with the old one an
# empty string inside a custom resource decodes as null: "must be of type string: null").
JI="$TREE/vendor/github.com/json-iterator/go"
rm -f "$JI"/*.go
cp /usr/share/gocode/src/github.com/json-iterator/go/*.go "$JI/"
rm -f "$JI"/*_test.go

# ---------------------------------------------------------------- kubernetes#99804 (Go >= 1.16)
# "Remove incorrect zero value check" (kube-openapi#230, go-openapi/validate#138): only a JSON null
# is null; "" is a valid string.
for f in "$TREE/vendor/github.com/go-openapi/validate/type.go" \
         "$TREE/vendor/k8s.io/kube-openapi/pkg/validation/validate/type.go"; do
    grep -q 'if data == nil || reflect.DeepEqual(reflect.Zero(reflect.TypeOf(data)), reflect.ValueOf(data)) {' "$f" || {
        log "expected zero-value check not found in $f"; exit 1; }
    sed -i 's/if data == nil || reflect.DeepEqual(reflect.Zero(reflect.TypeOf(data)), reflect.ValueOf(data)) {/if data == nil {/' "$f"
done

# ---------------------------------------------------------------- build like debian/rules
mkdir -p "$TREE/.go/src/k8s.io"
ln -sfn "$TREE" "$TREE/.go/src/k8s.io/kubernetes"
what=""
for b in "${BINARIES[@]}"; do what+="cmd/$b "; done
log "make WHAT=\"${what% }\" ($(go version | awk '{print $3}'), $(nproc) cores)"
(
    cd "$TREE/.go/src/k8s.io/kubernetes"
    export GOPATH="$TREE/.go" HOME="$WORK/home" GOCACHE="$WORK/home/go-build" CGO_ENABLED=0 \
        GO111MODULE=off GOFLAGS='' GOPROXY=off KUBE_VERBOSE=1
    make WHAT="${what% }"
) >"$WORK/make.log" 2>&1 || {
    tail -n 60 "$WORK/make.log" >&2
    log "build failed; full log: $WORK/make.log"
    exit 1
}
mkdir -p "$OUT.tmp"
for b in "${BINARIES[@]}"; do
    bin="$TREE/_output/local/bin/linux/amd64/$b"
    [[ -x "$bin" ]] || { log "no binary at $bin"; exit 1; }
    cp "$bin" "$OUT.tmp/$b"
done
"$OUT.tmp/kube-apiserver" --version >&2
# The pod sandbox ("pause") process, static so that a FROM scratch image can hold it.
gcc -Os -static -o "$OUT.tmp/pause" "$TREE/build/pause/linux/pause.c" -DVERSION=v$K8S_VERSION-ado
strip "$OUT.tmp/pause" 2>/dev/null || true
rm -rf "$OUT"
mv "$OUT.tmp" "$OUT"
rm -rf "$WORK"
log "done in $(( $(date +%s) - start )) s: $OUT"
echo "$OUT"
