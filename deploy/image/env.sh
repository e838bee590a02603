# Sourced by the image scripts: podman's configuration for this project, kept outside the
# work tree. Podman here needs runc (crun cannot set rlimits in this sandbox), cgroupfs,
# a file events logger and the vfs storage driver (see docs/decisions.md, "Container image").
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

podman_config() {
    mkdir -p "$PODMAN_HOME" "$PODMAN_RUN"
    # The limits a container may ask for cannot exceed this shell's hard limits.
    local nofile nproc
    nofile="$(ulimit -Hn)"; nproc="$(ulimit -Hu)"
    [ "$nofile" = unlimited ] && nofile=1048576
    [ "$nproc" = unlimited ] && nproc=32768
    [ "$nofile" -gt 20000 ] && nofile=20000
    [ "$nproc" -gt 32768 ] && nproc=32768
    cat > "$PODMAN_HOME/containers.conf.new" <<CONF
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
    cat > "$PODMAN_HOME/storage.conf.new" <<CONF
[storage]
driver = "vfs"
graphroot = "$PODMAN_HOME/storage"
runroot = "$PODMAN_RUN"
CONF
    mv "$PODMAN_HOME/containers.conf.new" "$PODMAN_HOME/containers.conf"
    mv "$PODMAN_HOME/storage.conf.new" "$PODMAN_HOME/storage.conf"
    export CONTAINERS_CONF="$PODMAN_HOME/containers.conf"
    export CONTAINERS_STORAGE_CONF="$PODMAN_HOME/storage.conf"
}

say() { printf '[image] %s\n' "$*" >&2; }
