#!/usr/bin/env bash
# Builds the operator image from a checkout with the repository's Containerfile:
#
#   bash scripts/build-image.sh [--tag REF] [--tool buildah|podman|docker] [--archive FILE] [--in-container]
#
# Default: compile a static binary on this machine (cargo, target x86_64-unknown-linux-musl with
# Debian's musl-tools) and let the Containerfile's `prebuilt` stage copy it in, so nothing is pulled
# from any registry (FROM scratch only). `--in-container` instead compiles inside the pinned Rust
# image (the Containerfile's `build` stage; what a plain `docker build .` does, needs registry
# access). Both run `--rootfs` below and share the final stage, so the images are the same.
#
#   --tag REF        image reference (default ghcr.io/account-deletion-operator/account-deletion-operator:<Cargo version>,
#                    what the chart's image.repository and appVersion name)
#   --tool T         buildah (default when installed; `--storage-driver ${ADO_STORAGE_DRIVER:-vfs}`), podman or docker
#   --archive FILE   also write a docker-archive of the image (for `ctr images import`, `kind load image-archive`,
#                    `minikube image load`)
#   --rootfs DIR     only build the binary and lay out the image's root filesystem in DIR (what both
#                    Containerfile stages run)
#
# The binary is static when the musl target is available (`rustup target add x86_64-unknown-linux-musl`,
# tried once when missing); otherwise (no rustup download possible) a glibc binary is used and the
# shared libraries it needs (ldd) are copied from this machine into the root filesystem, with a
# warning. Logs go to stderr; the last lines on stdout are `ADO_IMAGE=...` (and `ADO_IMAGE_ARCHIVE=...`).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
log() { printf '[build-image %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

VERSION=$(awk -F'"' '/^version *=/ {print $2; exit}' Cargo.toml)
[[ -n "$VERSION" ]] || die "no version in Cargo.toml"
REPOSITORY=ghcr.io/account-deletion-operator/account-deletion-operator
TAG="$REPOSITORY:$VERSION"
TOOL=""
ARCHIVE=""
ROOTFS_ONLY=""
IN_CONTAINER=0
while (($#)); do
    case "$1" in
        --tag) TAG=${2:?--tag needs a value}; shift 2 ;;
        --tool) TOOL=${2:?--tool needs a value}; shift 2 ;;
        --archive) ARCHIVE=${2:?--archive needs a value}; shift 2 ;;
        --rootfs) ROOTFS_ONLY=${2:?--rootfs needs a directory}; shift 2 ;;
        --in-container) IN_CONTAINER=1; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument $1 (see --help)" ;;
    esac
done

MUSL=x86_64-unknown-linux-musl
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"

# Static musl binary when possible: the target installed (or installable) and a musl C compiler for
# ring's C/assembly parts.
musl_available() {
    command -v musl-gcc >/dev/null 2>&1 || { log "no musl-gcc (apt-get install musl-tools)"; return 1; }
    local libdir
    libdir=$(rustc --print target-libdir --target "$MUSL" 2>/dev/null || true)
    if [[ -n "$libdir" ]] && compgen -G "$libdir/libstd-*.rlib" >/dev/null; then return 0; fi
    command -v rustup >/dev/null 2>&1 || { log "target $MUSL not installed and no rustup"; return 1; }
    log "rustup target add $MUSL"
    rustup target add "$MUSL" >&2 || { log "rustup could not add $MUSL"; return 1; }
}

# Symbols out of the copy (binutils' strip; the release profile itself is left alone, so the
# host's release builds, e.g. the benchmark, share their compiled dependencies with this one).
strip_binary() {
    command -v strip >/dev/null 2>&1 || { log "no strip (apt-get install binutils); the image keeps the symbols"; return 0; }
    strip "$1"
}

# Lays out the image's root filesystem in $1: the binary and the CA bundle (and, for a glibc
# binary, the libraries it links).
build_rootfs() {
    local out=$1 bin
    local cargo_args=(build --release --locked --bin account-deletion-operator)
    rm -rf "$out"
    mkdir -p "$out/usr/local/bin" "$out/etc/ssl/certs"
    if musl_available; then
        log "cargo ${cargo_args[*]} --target $MUSL (static)"
        cargo "${cargo_args[@]}" --target "$MUSL" >&2
        bin="$TARGET_DIR/$MUSL/release/account-deletion-operator"
        install -m 0755 "$bin" "$out/usr/local/bin/account-deletion-operator"
        strip_binary "$out/usr/local/bin/account-deletion-operator"
    else
        log "WARNING: no static musl build possible here; using a glibc binary plus the host's libraries"
        cargo "${cargo_args[@]}" >&2
        bin="$TARGET_DIR/release/account-deletion-operator"
        install -m 0755 "$bin" "$out/usr/local/bin/account-deletion-operator"
        strip_binary "$out/usr/local/bin/account-deletion-operator"
        local lib
        for lib in $(ldd "$bin" | grep -oE '/[^ ]+' | sort -u); do
            cp -L --parents "$lib" "$out/"
        done
    fi
    local ca=/etc/ssl/certs/ca-certificates.crt
    [[ -s "$ca" ]] || die "no CA bundle at $ca (apt-get install ca-certificates)"
    install -m 0644 "$ca" "$out/etc/ssl/certs/ca-certificates.crt"
    log "root filesystem in $out: $(du -sh "$out" | cut -f1)"
}

if [[ -n "$ROOTFS_ONLY" ]]; then
    build_rootfs "$ROOTFS_ONLY"
    exit 0
fi

if [[ -z "$TOOL" ]]; then
    for t in buildah podman docker; do
        command -v "$t" >/dev/null 2>&1 && { TOOL=$t; break; }
    done
    [[ -n "$TOOL" ]] || die "no buildah, podman or docker found (Debian: apt-get install buildah)"
fi
command -v "$TOOL" >/dev/null 2>&1 || die "$TOOL not found"
case "$TOOL" in
    buildah) CLI=(buildah --storage-driver "${ADO_STORAGE_DRIVER:-vfs}"); BUILD=(bud) ;;
    podman) CLI=(podman); BUILD=(build) ;;
    docker) CLI=(docker); BUILD=(build) ;;
    *) die "--tool must be buildah, podman or docker, not $TOOL" ;;
esac

REVISION=$(git rev-parse HEAD 2>/dev/null || echo unknown)
if [[ "$REVISION" != unknown ]] && [[ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]]; then
    REVISION="$REVISION-dirty"
fi
ARGS=(--build-arg "VERSION=$VERSION" --build-arg "REVISION=$REVISION" -f "$ROOT/Containerfile" -t "$TAG")
if [[ "$TOOL" != docker ]] && EPOCH=$(git log -1 --format=%ct 2>/dev/null); then
    ARGS+=(--timestamp "$EPOCH") # reproducible: same commit, same binary -> same image
fi

start=$(date +%s)
if ((IN_CONTAINER)); then
    log "$TOOL: building $TAG inside the Containerfile's Rust image (registry access needed)"
    "${CLI[@]}" "${BUILD[@]}" "${ARGS[@]}" --build-arg BINARY_SOURCE=build "$ROOT" >&2
else
    CONTEXT="$TARGET_DIR/image/context"
    rm -rf "$CONTEXT"
    mkdir -p "$CONTEXT"
    build_rootfs "$CONTEXT/rootfs"
    log "$TOOL: building $TAG from the prebuilt root filesystem (FROM scratch, nothing pulled)"
    "${CLI[@]}" "${BUILD[@]}" "${ARGS[@]}" --build-arg BINARY_SOURCE=prebuilt "$CONTEXT" >&2
fi

if [[ -n "$ARCHIVE" ]]; then
    mkdir -p "$(dirname "$ARCHIVE")"
    rm -f "$ARCHIVE"
    case "$TOOL" in
        buildah) "${CLI[@]}" push -q "$TAG" "docker-archive:$ARCHIVE:$TAG" >&2 ;;
        podman) podman save -q --format docker-archive -o "$ARCHIVE" "$TAG" >&2 ;;
        docker) docker save -o "$ARCHIVE" "$TAG" >&2 ;;
    esac
    log "docker-archive $ARCHIVE: $(du -h "$ARCHIVE" | cut -f1)"
fi
size=$("${CLI[@]}" images --format '{{.Size}}' "$TAG" 2>/dev/null | head -n1 || true)
log "built $TAG (${size:-size unknown}) in $(( $(date +%s) - start )) s with $TOOL"
echo "ADO_IMAGE=$TAG"
[[ -z "$ARCHIVE" ]] || echo "ADO_IMAGE_ARCHIVE=$ARCHIVE"
