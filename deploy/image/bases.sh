#!/usr/bin/env bash
# Makes the local base images when missing: Debian bookworm (debootstrap minbase, imported),
# then Python 3.11 and Rust on it from Debian's packages. Nothing can be pulled here, so
# these stand in for the official python/rust images the Dockerfile defaults to.
#   deploy/image/bases.sh            python and rust bases (for the image)
#   deploy/image/bases.sh kafka      also the test Kafka image (for testcontainers)
set -euo pipefail
source "$(dirname "$0")/env.sh"
podman_config

# The host's package mirrors (deb822 or one-line form), so the base reaches what it does.
mirror_for() {  # suite -> URI
    local suite="$1" uri
    uri="$(awk -v s="$suite" '
        /^URIs:/ {u=$2} /^Suites:/ {for (i=2;i<=NF;i++) if ($i==s) {print u; exit}}
        /^deb / {for (i=3;i<=NF;i++) if ($i==s) {print $2; exit}}
    ' /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list 2>/dev/null | head -1)"
    echo "${uri:-}"
}

make_debian() {
    podman image exists "$LOCAL_DEBIAN" && return 0
    local main security root started=$SECONDS
    main="$(mirror_for bookworm)"; main="${main:-http://deb.debian.org/debian}"
    security="$(mirror_for bookworm-security)"; security="${security:-http://deb.debian.org/debian-security}"
    root="$PODMAN_HOME/rootfs.$$"
    trap 'rm -rf "$root"' EXIT
    say "debootstrap --variant=minbase bookworm from $main (first run only, ~1 min)"
    debootstrap --variant=minbase bookworm "$root" "$main" >"$PODMAN_HOME/debootstrap.log" 2>&1 \
        || { tail -20 "$PODMAN_HOME/debootstrap.log" >&2; exit 1; }
    # rustc-web lives in bookworm-security; apt caches and lists are left out (~120 MB).
    printf 'deb %s bookworm main\ndeb %s bookworm-updates main\ndeb %s bookworm-security main\n' \
        "$main" "$main" "$security" >"$root/etc/apt/sources.list"
    rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb
    tar -C "$root" -c . | podman import -q --message "debootstrap minbase bookworm" - "$LOCAL_DEBIAN" >/dev/null
    rm -rf "$root"; trap - EXIT
    say "made $LOCAL_DEBIAN in $((SECONDS - started))s"
}

make_from() {  # image containerfile [context]
    local image="$1" file="$2" context="${3:-$IMAGE_DIR/bases}" started=$SECONDS
    podman image exists "$image" && return 0
    say "building $image from Debian packages (first run only)"
    podman build --network=host --pull=never -q -f "$file" -t "$image" \
        --build-arg BASE="$LOCAL_DEBIAN" "$context" >/dev/null
    say "made $image in $((SECONDS - started))s"
}

make_debian
make_from "$LOCAL_PYTHON" "$IMAGE_DIR/bases/python.Containerfile"
make_from "$LOCAL_RUST" "$IMAGE_DIR/bases/rust.Containerfile"
if [ "${1:-}" = kafka ]; then
    "$REPO_ROOT/.venv/bin/python" -c 'from cashback.devtools.local_kafka import ensure_jars; ensure_jars()'
    make_from "$LOCAL_KAFKA" "$IMAGE_DIR/kafka/Containerfile" "$REPO_ROOT/deploy"
fi
