#!/usr/bin/env bash
# Installs podman, runc, buildah, debootstrap (and iptables, which podman's bridge network
# needs for published ports) from Debian when any is missing (root, apt).
set -euo pipefail
missing=()
for tool in podman runc buildah debootstrap iptables; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
[ "${#missing[@]}" -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
    echo "the container tools are missing (${missing[*]}) and this is not a root Debian shell: install them with your package manager" >&2
    exit 1
fi
echo "[image] installing ${missing[*]} with apt (first run only)" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=600 install -y -qq podman runc buildah debootstrap iptables >/dev/null \
    || { apt-get -o DPkg::Lock::Timeout=600 update -qq && apt-get -o DPkg::Lock::Timeout=600 install -y -qq podman runc buildah debootstrap iptables >/dev/null; }
