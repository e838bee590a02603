#!/usr/bin/env bash
# `make image`: builds the worker image with podman, end to end on a fresh machine.
# Installs the container tools when missing, makes the local base images when missing, then
# builds the top-level Dockerfile with them and prints the image's size and the build time.
# A second run reuses the cached layers. Leaves no container running.
#   CASHBACK_IMAGE      the tag (default localhost/cashback-accrual:dev)
#   CASHBACK_EXTRAS     extras to install beside the worker (default "faust"; "" for none)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bash "$here/tools.sh"
bash "$here/bases.sh"
source "$here/env.sh"
podman_config

revision="$(git -C "$REPO_ROOT" rev-parse HEAD 2>/dev/null || echo unknown)"
version="$(sed -n 's/^version = "\(.*\)"/\1/p' "$REPO_ROOT/pyproject.toml" | head -1)"
# This machine reaches PyPI and crates.io through a TLS-intercepting proxy: its CA bundle
# goes in as a build secret (mounted for the download steps only, never in a layer).
ca="${CASHBACK_BUILD_CA:-/etc/ssl/certs/ca-certificates.crt}"
secret=()
[ -s "$ca" ] && secret=(--secret "id=build-ca,src=$ca")

say "building $IMAGE_NAME (podman, bases $LOCAL_PYTHON and $LOCAL_RUST)"
started=$(date +%s.%N)
podman build --network=host --pull=never --layers --format docker \
    --build-arg PYTHON_IMAGE="$LOCAL_PYTHON" \
    --build-arg RUST_IMAGE="$LOCAL_RUST" \
    --build-arg EXTRAS="${CASHBACK_EXTRAS-faust}" \
    --build-arg VERSION="$version" \
    --build-arg REVISION="$revision" \
    "${secret[@]}" \
    -f "$REPO_ROOT/Dockerfile" -t "$IMAGE_NAME" "$REPO_ROOT" >"$PODMAN_HOME/build.log" 2>&1 \
    || { tail -40 "$PODMAN_HOME/build.log" >&2; say "build failed; full log: $PODMAN_HOME/build.log"; exit 1; }
seconds=$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')
size=$(podman image inspect --format '{{.Size}}' "$IMAGE_NAME")
cached=$(grep -c -- '--> Using cache' "$PODMAN_HOME/build.log" || true)
say "built $IMAGE_NAME: $(awk -v s="$size" 'BEGIN {printf "%.1f MB", s / 1e6}') in ${seconds}s ($cached cached steps)"
