#!/usr/bin/env bash
# Runs one command against podman's Docker-compatible API on a private socket:
#   deploy/image/docker-api.sh COMMAND [ARGS...]
# The service listens on a socket of its own under the podman run directory (never
# /var/run/docker.sock); DOCKER_HOST is set for COMMAND only. Afterwards the service is
# stopped by its PID and any container COMMAND left behind is removed.
set -euo pipefail
source "$(dirname "$0")/env.sh"
podman_config
socket="$PODMAN_RUN/docker-api-$$.sock"
rm -f "$socket"
podman system service --time=0 "unix://$socket" >"$PODMAN_HOME/docker-api.log" 2>&1 &
service=$!
cleanup() {
    # Containers testcontainers started (it labels them); nothing else uses this storage.
    podman ps -aq --filter label=org.testcontainers=true | xargs -r podman rm -f >/dev/null 2>&1 || true
    kill "$service" 2>/dev/null || true
    wait "$service" 2>/dev/null || true
    rm -f "$socket"
}
trap cleanup EXIT
trap 'exit 143' TERM INT
# What an interrupted earlier run left behind goes first.
podman ps -aq --filter label=org.testcontainers=true | xargs -r podman rm -f >/dev/null 2>&1 || true
for _ in $(seq 100); do
    [ -S "$socket" ] && break
    kill -0 "$service" 2>/dev/null || { cat "$PODMAN_HOME/docker-api.log" >&2; exit 1; }
    sleep 0.1
done
# No ryuk reaper: its image cannot be pulled here, and the cleanup above does its job.
DOCKER_HOST="unix://$socket" TESTCONTAINERS_RYUK_DISABLED=true "$@"
