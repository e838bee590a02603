#!/usr/bin/env bash
# podman with this project's configuration (deploy/image/env.sh): `deploy/image/podman.sh ps`.
set -euo pipefail
source "$(dirname "$0")/env.sh"
podman_config
exec podman "$@"
