#!/usr/bin/env bash
# Builds the minimal test guest into DIR (default build/guest):
#   vmlinux        Debian's linux-image-amd64 kernel, uncompressed: QEMU
#                  boots an ELF kernel with a PVH note directly (~2 s on TCG)
#   initramfs.gz   busybox (static), the static flipswitch-guest, the VFIO
#                  modules of that kernel (for flipswitch-guest --pci --irq),
#                  and an init that loads them, runs the command given on
#                  the kernel command line and hands its exit status to
#                  QEMU (isa-debug-exit)
# The kernel package is fetched with apt-get download and unpacked, never
# installed. Rebuilt only when an input changes (DIR/stamp).
set -euo pipefail
DIR=${1:-build/guest}
TOP=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
GUEST_BIN=$DIR/flipswitch-guest
BUSYBOX=/bin/busybox

die() { echo "mkguest: $*" >&2; exit 1; }
[ -x "$GUEST_BIN" ] || die "$GUEST_BIN is missing (make $GUEST_BIN)"
file -L "$BUSYBOX" 2>/dev/null | grep -q 'statically linked' ||
	die "$BUSYBOX is not the static busybox (apt-get install busybox-static)"

pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
if [ -z "$pkg" ]; then
	apt-get update -qq >/dev/null
	pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
fi
[ -n "$pkg" ] || die "cannot tell which kernel package linux-image-amd64 is"
ver=$(apt-cache policy "$pkg" | awk '/Candidate:/ {print $2}')
stamp="$pkg $ver $(sha256sum "$GUEST_BIN" "$BUSYBOX" "$0" | cut -c1-16 | tr '\n' ' ')"
if [ -f "$DIR/stamp" ] && [ "$(cat "$DIR/stamp")" = "$stamp" ] &&
	[ -s "$DIR/vmlinux" ] && [ -s "$DIR/initramfs.gz" ]; then
	exit 0
fi
echo "mkguest: building the test guest ($pkg $ver) in $DIR"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# A fresh machine's package index can be older than the archive (the file it
# names already replaced): on a failed download the index is refreshed and
# the download tried again, then every other version of that kernel the
# index knows (bookworm and bookworm-security differ), each fetched by
# name=version so the stamp's version is the one unpacked.
fetch() {
	local v
	for v in $(apt-cache madison "$pkg" | awk '{print $3}'); do
		if (cd "$DIR" && apt-get download -q "$pkg=$v" >"$work/apt.log" 2>&1); then
			return 0
		fi
		echo "mkguest: apt-get download $pkg=$v failed:" >&2
		tail -3 "$work/apt.log" | sed 's/^/  /' >&2
	done
	return 1
}
if ! ls "$DIR/$pkg"_*.deb >/dev/null 2>&1; then
	rm -f "$DIR"/linux-image-*.deb
	if ! fetch; then
		apt-get update -qq >/dev/null 2>&1 || true
		pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
		fetch || die "apt-get download $pkg failed"
	fi
fi
dpkg-deb -x "$DIR/$pkg"_*.deb "$work/kernel"
vmlinuz=$(ls "$work"/kernel/boot/vmlinuz-*)
# Debian compresses the kernel with xz: the payload starts at the xz magic.
off=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$vmlinuz" | head -1 | cut -d: -f1)
[ -n "$off" ] || die "no xz payload in $vmlinuz"
tail -c +$((off + 1)) "$vmlinuz" | xz -dc --single-stream >"$work/vmlinux" 2>/dev/null || true
file "$work/vmlinux" | grep -q 'ELF 64-bit' || die "could not unpack $vmlinuz"

ir=$work/initramfs
mkdir -p "$ir/bin" "$ir/proc" "$ir/sys" "$ir/dev" "$ir/tmp" "$ir/lib/modules"
# VFIO, in dependency order (modinfo depends=): the guest side drives the
# ivshmem-doorbell device's MSI-X through vfio-pci.
mods="virt/lib/irqbypass drivers/vfio/vfio drivers/vfio/vfio_virqfd
	drivers/vfio/vfio_iommu_type1 drivers/vfio/pci/vfio-pci-core
	drivers/vfio/pci/vfio-pci"
for m in $mods; do
	ko=$(ls "$work"/kernel/lib/modules/*/kernel/"$m".ko* 2>/dev/null | head -1)
	[ -n "$ko" ] || die "$pkg has no $m module"
	case $ko in
	*.xz) xz -dc "$ko" >"$ir/lib/modules/${m##*/}.ko" ;;
	*.zst) zstd -qdc "$ko" >"$ir/lib/modules/${m##*/}.ko" ;;
	*) cp "$ko" "$ir/lib/modules/${m##*/}.ko" ;;
	esac
	echo "${m##*/}" >>"$ir/lib/modules/order"
done
cp "$BUSYBOX" "$ir/bin/busybox"
cp "$GUEST_BIN" "$ir/bin/flipswitch-guest"
cat >"$ir/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
export PATH=/bin
for m in $(cat /lib/modules/order); do insmod "/lib/modules/$m.ko" 2>/dev/null; done
# fsg.run=BASE64: the command to run, as shell words.
cmd=$(tr ' ' '\n' </proc/cmdline | sed -n 's/^fsg.run=//p' | base64 -d)
echo "guest: running: $cmd"
sh -c "$cmd"
rc=$?
echo "guest: exit status $rc"
flipswitch-guest debug-exit "$rc"
poweroff -f
INIT
chmod +x "$ir/init"
(cd "$ir" && find . | "$BUSYBOX" cpio -o -H newc 2>/dev/null) | gzip -6 >"$work/initramfs.gz"
mv "$work/vmlinux" "$DIR/vmlinux"
mv "$work/initramfs.gz" "$DIR/initramfs.gz"
echo "$stamp" >"$DIR/stamp"
echo "mkguest: $DIR/vmlinux, $DIR/initramfs.gz"
