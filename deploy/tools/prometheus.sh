#!/usr/bin/env bash
# Installs Debian's Prometheus server and promtool when either is missing (the alert tests
# and the dashboard's real-Prometheus check need both). Debian's package starts no service
# here (no systemd in the sandbox) and the tests start their own server on 127.0.0.1.
# Usage: deploy/tools/prometheus.sh        (root, or sudo for apt-get)
set -euo pipefail

if command -v prometheus >/dev/null && command -v promtool >/dev/null; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
echo "installing Debian's prometheus (server and promtool)" >&2
export DEBIAN_FRONTEND=noninteractive
# A stale or empty package list finds nothing: refresh it once, then install.
$SUDO apt-get install -y -q --no-install-recommends prometheus >/dev/null 2>&1 || {
  $SUDO apt-get update -q >/dev/null
  $SUDO apt-get install -y -q --no-install-recommends prometheus >/dev/null
}
command -v prometheus >/dev/null && command -v promtool >/dev/null
