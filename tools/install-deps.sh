#!/usr/bin/env bash
# Installs the Debian packages flipswitch needs to build, test and demo,
# and only those that are missing. Needs root (or nothing to install).
#   tools/install-deps.sh [bench|test]   bench: also what make bench uses;
#                                        test: also what only make test uses
set -euo pipefail

# gcc-12, binutils, libelf1 and libssl3: the guest driver is built with
# the unpacked linux-headers/linux-kbuild of the test guest's kernel,
# whose compiler and programs need them (make guest-image).
pkgs=(
	gcc make pkg-config clang llvm bpftool libbpf-dev libxdp-dev libelf-dev
	zlib1g-dev libcmocka-dev libconfig-dev libjansson-dev libpcap-dev libmicrohttpd-dev libsystemd-dev
	iproute2 iputils-ping ethtool linux-libc-dev jq tcpdump util-linux socat groff-base qemu-system-x86 busybox-static xz-utils file
	valgrind bsdextrautils frr
	gcc-12 binutils libelf1 libssl3
	# libFuzzer (make fuzz, the fuzz smoke pass)
	libclang-rt-14-dev
)
# The plot of make bench (DPDK, a peer, is installed by its case).
[ "${1:-}" = bench ] && pkgs+=(gnuplot-nox)
# What the tests check with: curl and promtool (prometheus) on the metrics
# endpoint, the Debian packages' build (dh-dkms for flipswitch-dkms) and
# lintian, virt-xml-validate (libvirt-clients) on flipswitch-qemu-args
# --libvirt, python3 for the stand-in service manager (tests/support/).
[ "${1:-}" = test ] && pkgs+=(curl prometheus debhelper dh-dkms lintian fakeroot libvirt-clients python3)

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages: ${missing[*]}; run as root or: apt-get install ${missing[*]}" >&2
	exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# prometheus is here for promtool, which checks the metrics endpoint's text
# in make test; a machine that had no Prometheus server gets none running.
if [[ " ${missing[*]} " == *" prometheus "* ]]; then
	if [ -d /run/systemd/system ]; then
		systemctl disable --now prometheus >/dev/null 2>&1 || true
	else
		invoke-rc.d prometheus stop >/dev/null 2>&1 || true
		update-rc.d prometheus disable >/dev/null 2>&1 || true
	fi
fi
