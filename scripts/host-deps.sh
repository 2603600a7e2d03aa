#!/usr/bin/env bash
# Install the control host's system packages that the harness needs, when
# they are missing. Only acts as root on a Debian/Ubuntu host; elsewhere it
# lists what is missing and leaves the host alone.
set -euo pipefail

packages=(python3 python3-venv podman runc netavark aardvark-dns iptables catatonit debootstrap shellcheck git tar openssl)

missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" \
    || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
  echo "missing host packages: ${missing[*]} (install them, or run as root on Debian/Ubuntu)" >&2
  exit 1
fi
echo "installing host packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
