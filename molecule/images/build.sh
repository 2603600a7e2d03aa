#!/usr/bin/env bash
# Build systemd-capable Debian test images with debootstrap and import them
# into podman as localhost/mlops-lab/<name>:latest. No container registry is
# involved. An image whose recipe (this script, the package list, the control
# host's CA bundle) is unchanged is not rebuilt.
#
# Usage: molecule/images/build.sh [debian12] [debian13]   (default: both)
# Env:   DEBIAN_MIRROR  (default http://deb.debian.org/debian)
#        HOST_CA_BUNDLE (default /etc/ssl/certs/ca-certificates.crt)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$here/../containers.conf}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
ca_bundle="${HOST_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"
cache_dir="${IMAGE_CACHE_DIR:-/var/cache/mlops-lab/debootstrap}"

# What every test host needs before Ansible runs: systemd as PID 1, python3
# for Ansible's modules, python3-apt for the apt module, sudo for become_user.
packages="systemd,systemd-sysv,dbus,python3,python3-apt,sudo,ca-certificates,iproute2,procps,locales"

suite_of() {
  case "$1" in
    debian12) echo bookworm ;;
    debian13) echo trixie ;;
    *) echo "unknown image '$1' (expected debian12 or debian13)" >&2; return 1 ;;
  esac
}

recipe_hash() {
  # $1: suite. Anything that changes the image's content belongs here.
  { cat "${BASH_SOURCE[0]}"; echo "$1 $mirror $packages"; cat "$ca_bundle"; } \
    | sha256sum | cut -c1-16
}

# Trust every certificate of the control host that the image lacks (e.g. a
# TLS-intercepting proxy's CA), the way an admin would: as local CA files.
add_host_cas() {
  local rootfs="$1"
  python3 - "$ca_bundle" "$rootfs/etc/ssl/certs/ca-certificates.crt" \
    "$rootfs/usr/local/share/ca-certificates/control-host" <<'EOF'
import pathlib, re, sys
pem = re.compile(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.S)
host = pem.findall(pathlib.Path(sys.argv[1]).read_text())
known = set(pem.findall(pathlib.Path(sys.argv[2]).read_text()))
out = pathlib.Path(sys.argv[3])
out.mkdir(parents=True, exist_ok=True)
extra = [c for c in host if c not in known]
for i, cert in enumerate(extra):
    (out / f"control-host-{i:03d}.crt").write_text(cert + "\n")
print(f"  {len(extra)} CA certificate(s) of the control host added")
EOF
  chroot "$rootfs" update-ca-certificates >/dev/null
}

configure_rootfs() {
  local rootfs="$1" suite="$2"
  cat >"$rootfs/etc/apt/sources.list" <<EOF
deb $mirror $suite main
deb $mirror $suite-updates main
deb ${mirror%/debian}/debian-security $suite-security main
EOF
  # A container has no consoles or kernel devices to manage.
  for unit in getty@tty1.service console-getty.service systemd-udevd.service \
    systemd-udev-trigger.service systemd-remount-fs.service \
    systemd-firstboot.service sys-kernel-debug.mount; do
    ln -sf /dev/null "$rootfs/etc/systemd/system/$unit"
  done
  : >"$rootfs/etc/machine-id"
  echo "en_US.UTF-8 UTF-8" >"$rootfs/etc/locale.gen"
  chroot "$rootfs" locale-gen >/dev/null
  echo "LANG=C.UTF-8" >"$rootfs/etc/default/locale"
  chroot "$rootfs" apt-get clean
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/*.log
  # An old stamp, so the first `apt: cache_valid_time` refreshes the lists.
  touch -d 2000-01-01 "$rootfs/var/lib/apt/lists"
}

build() {
  local name="$1" suite tag rootfs started
  suite="$(suite_of "$name")"
  tag="localhost/mlops-lab/$name:$(recipe_hash "$suite")"
  if podman image exists "$tag"; then
    echo "$name: up to date ($tag)"
    podman tag "$tag" "localhost/mlops-lab/$name:latest"
    return 0
  fi
  echo "$name: building $tag from $mirror ($suite)"
  started=$SECONDS
  rootfs="$(mktemp -d "${TMPDIR:-/tmp}/mlops-lab-$name.XXXXXX")"
  # shellcheck disable=SC2064  # expand now: the trap must remove this rootfs
  trap "rm -rf '$rootfs'" RETURN
  mkdir -p "$cache_dir/$suite"
  debootstrap --variant=minbase --include="$packages" \
    --cache-dir="$cache_dir/$suite" "$suite" "$rootfs" "$mirror" >/dev/null
  configure_rootfs "$rootfs" "$suite"
  add_host_cas "$rootfs"
  tar -C "$rootfs" --numeric-owner -c . | podman import \
    --change 'CMD ["/sbin/init"]' \
    --change 'STOPSIGNAL=SIGRTMIN+3' \
    --change "LABEL mlops-lab.recipe=$tag" \
    - "$tag" >/dev/null
  podman tag "$tag" "localhost/mlops-lab/$name:latest"
  echo "$name: built in $((SECONDS - started)) s"
  remove_stale "$name" "$tag"
}

# Drop images of earlier recipes; one still used by a container stays.
remove_stale() {
  local name="$1" keep="$2" old
  podman images --format '{{.Repository}}:{{.Tag}}' "localhost/mlops-lab/$name" \
    | while read -r old; do
        case "$old" in "$keep" | *:latest) continue ;; esac
        podman rmi "$old" >/dev/null 2>&1 || true
      done
}

main() {
  [ "$(id -u)" -eq 0 ] || { echo "build.sh must run as root (debootstrap)" >&2; exit 1; }
  local names=("$@")
  [ ${#names[@]} -gt 0 ] || names=(debian12 debian13)
  for name in "${names[@]}"; do build "$name"; done
}

main "$@"
