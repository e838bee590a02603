# Sourced by the image scripts: podman's configuration for this project, kept outside the
# work tree. Podman here needs runc (crun cannot set rlimits in this sandbox), cgroupfs and
# a file events logger. Storage: the kernel's overlay where the store's filesystem takes it
# (ext4/xfs/btrfs; vfs copies every layer in full and made a cached build take minutes),
# else vfs; CASHBACK_PODMAN_DRIVER overrides. Each driver has its own store.
# Nothing is exported to the caller's shell: each script sources this in its own process.

CASHBACK_TOOLS_DIR="${CASHBACK_TOOLS_DIR:-$HOME/.cache/cashback-accrual}"
PODMAN_HOME="$CASHBACK_TOOLS_DIR/podman"
PODMAN_RUN="${CASHBACK_PODMAN_RUN:-/run/cashback-accrual-podman}"
IMAGE_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$IMAGE_DIR/../.." && pwd)"

# Base images made locally (deploy/image/bases.sh); the Dockerfile's defaults are the
# official images a user pulls.
LOCAL_DEBIAN="localhost/cashback-base/debian:bookworm"
LOCAL_PYTHON="localhost/cashback-base/python:3.11-bookworm"
LOCAL_RUST="localhost/cashback-base/rust:bookworm"
LOCAL_KAFKA="localhost/cashback-test/kafka:4.4.0"
IMAGE_NAME="${CASHBACK_IMAGE:-localhost/cashback-accrual:dev}"

storage_driver() {
    if [ -n "${CASHBACK_PODMAN_DRIVER:-}" ]; then echo "$CASHBACK_PODMAN_DRIVER"; return; fi
    local fs
    fs="$(stat -f -c %T "$PODMAN_HOME" 2>/dev/null || echo unknown)"
    if grep -qw overlay /proc/filesystems 2>/dev/null && [[ "$fs" =~ ^(ext2/ext3|xfs|btrfs)$ ]]; then
        echo overlay
    else
        echo vfs
    fi
}

podman_config() {
    mkdir -p "$PODMAN_HOME" "$PODMAN_RUN"
    local driver store=storage run_suffix=""
    driver="$(storage_driver)"
    # vfs keeps the first store's paths (libpod's database records them).
    [ "$driver" = vfs ] || { store="storage-$driver"; run_suffix="-$driver"; }
    # The limits a container may ask for cannot exceed this shell's hard limits.
    local nofile nproc
    nofile="$(ulimit -Hn)"; nproc="$(ulimit -Hu)"
    [ "$nofile" = unlimited ] && nofile=1048576
    [ "$nproc" = unlimited ] && nproc=32768
    [ "$nofile" -gt 20000 ] && nofile=20000
    [ "$nproc" -gt 32768 ] && nproc=32768
    cat > "$PODMAN_HOME/containers.conf.$$" <<CONF
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
    cat > "$PODMAN_HOME/storage-$driver.conf.$$" <<CONF
[storage]
driver = "$driver"
graphroot = "$PODMAN_HOME/$store"
runroot = "$PODMAN_RUN$run_suffix"
CONF
    # One file per driver, replaced atomically: runs with different drivers never mix.
    mv "$PODMAN_HOME/containers.conf.$$" "$PODMAN_HOME/containers.conf"
    mv "$PODMAN_HOME/storage-$driver.conf.$$" "$PODMAN_HOME/storage-$driver.conf"
    export CONTAINERS_CONF="$PODMAN_HOME/containers.conf"
    export CONTAINERS_STORAGE_CONF="$PODMAN_HOME/storage-$driver.conf"
}

say() { printf '[image] %s\n' "$*" >&2; }
