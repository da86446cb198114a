#!/usr/bin/env bash
# Builds the minimal test guest into DIR (default build/guest):
#   vmlinux        Debian's linux-image-amd64 kernel, uncompressed: QEMU
#                  boots an ELF kernel with a PVH note directly (~2 s on TCG)
#   initramfs.gz   busybox (static), the static flipswitch-guest, fsn-xdp and
#                  fs-udpsink, virtio-net's modules (fsg.vnet), the VFIO
#                  modules of that kernel (for flipswitch-guest --pci --irq),
#                  the flipswitch_net driver (guest/linux/), and an init
#                  that loads them, runs the command given on the kernel
#                  command line and hands its exit status to QEMU
#                  (isa-debug-exit)
#   flipswitch_net.ko  the driver, built against that kernel's headers
#                  (linux-headers-VERSION-amd64 and what it depends on,
#                  unpacked into DIR/headers)
# The kernel and header packages are fetched with apt-get download and
# unpacked, never installed. Rebuilt only when an input changes (DIR/stamp).
set -euo pipefail
DIR=${1:-build/guest}
TOP=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
GUEST_BIN=$DIR/flipswitch-guest
XDP_BIN=$DIR/fsn-xdp
UDPSINK_BIN=$DIR/fs-udpsink
BUSYBOX=/bin/busybox

die() { echo "mkguest: $*" >&2; exit 1; }
[ -x "$GUEST_BIN" ] || die "$GUEST_BIN is missing (make $GUEST_BIN)"
[ -x "$XDP_BIN" ] || die "$XDP_BIN is missing (make $XDP_BIN)"
[ -x "$UDPSINK_BIN" ] || die "$UDPSINK_BIN is missing (make $UDPSINK_BIN)"
file -L "$BUSYBOX" 2>/dev/null | grep -q 'statically linked' ||
	die "$BUSYBOX is not the static busybox (apt-get install busybox-static)"

pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
if [ -z "$pkg" ]; then
	apt-get update -qq >/dev/null
	pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
fi
[ -n "$pkg" ] || die "cannot tell which kernel package linux-image-amd64 is"
ver=$(apt-cache policy "$pkg" | awk '/Candidate:/ {print $2}')
stamp="$pkg $ver $(cat "$GUEST_BIN" "$XDP_BIN" "$UDPSINK_BIN" "$BUSYBOX" "$0" "$(command -v ethtool)" "$TOP"/guest/linux/* \
	"$TOP/include/flipswitch/ring.h" | sha256sum | cut -c1-16)"
if [ -f "$DIR/stamp" ] && [ "$(cat "$DIR/stamp")" = "$stamp" ] &&
	[ -s "$DIR/vmlinux" ] && [ -s "$DIR/initramfs.gz" ] &&
	[ -s "$DIR/flipswitch_net.ko" ]; then
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

# The driver: Debian's headers for this kernel (linux-headers-KVER-amd64,
# its -common half and linux-kbuild-X, which holds the build programs),
# unpacked into DIR/headers, which the header package's Makefile names by
# absolute path.
kver=${pkg#linux-image-}
hdr=$DIR/headers/usr/src/linux-headers-$kver
if [ ! -s "$hdr/Makefile" ]; then
	hpkgs="linux-headers-$kver $(apt-cache depends "linux-headers-$kver" 2>/dev/null |
		awk '/Depends: linux-(headers|kbuild)-/ {print $2}')"
	mkdir -p "$work/hdeb"
	for h in $hpkgs; do
		(cd "$work/hdeb" && apt-get download -q "$h=$ver" >"$work/apt.log" 2>&1 ||
			apt-get download -q "$h" >"$work/apt.log" 2>&1) ||
			{ tail -3 "$work/apt.log" >&2; die "apt-get download $h failed"; }
	done
	rm -rf "$DIR/headers"
	for d in "$work"/hdeb/*.deb; do dpkg-deb -x "$d" "$DIR/headers"; done
	sed -i "s|^include /usr/src/|include $DIR/headers/usr/src/|" "$hdr/Makefile"
	[ -s "$hdr/Makefile" ] || die "linux-headers-$kver has no $hdr/Makefile"
fi
# Built in a copy: kbuild writes its objects next to the sources.
mkdir -p "$work/kmod/guest" "$work/kmod/include"
cp -r "$TOP/guest/linux" "$work/kmod/guest/"
cp -r "$TOP/include/flipswitch" "$work/kmod/include/"
make -s -C "$hdr" M="$work/kmod/guest/linux" modules >"$work/kmod.log" 2>&1 ||
	{ cat "$work/kmod.log" >&2; die "building guest/linux against $kver failed"; }
strip --strip-debug -o "$work/flipswitch_net.ko" "$work/kmod/guest/linux/flipswitch_net.ko"

ir=$work/initramfs
mkdir -p "$ir/bin" "$ir/proc" "$ir/sys" "$ir/dev" "$ir/tmp" "$ir/lib/modules"
# add_mods LIST M...: kernel modules M (paths under kernel/), in
# dependency order (modinfo depends=), listed in lib/modules/LIST.
add_mods() {
	local list=$1 m ko
	shift
	for m in "$@"; do
		ko=$(ls "$work"/kernel/lib/modules/*/kernel/"$m".ko* 2>/dev/null | head -1)
		[ -n "$ko" ] || die "$pkg has no $m module"
		case $ko in
		*.xz) xz -dc "$ko" >"$ir/lib/modules/${m##*/}.ko" ;;
		*.zst) zstd -qdc "$ko" >"$ir/lib/modules/${m##*/}.ko" ;;
		*) cp "$ko" "$ir/lib/modules/${m##*/}.ko" ;;
		esac
		echo "${m##*/}" >>"$ir/lib/modules/$list"
	done
}
# VFIO, loaded at boot: the guest side drives the ivshmem-doorbell
# device's MSI-X through vfio-pci.
add_mods order virt/lib/irqbypass drivers/vfio/vfio drivers/vfio/vfio_virqfd \
	drivers/vfio/vfio_iommu_type1 drivers/vfio/pci/vfio-pci-core drivers/vfio/pci/vfio-pci
# virtio-net, loaded for fsg.vnet (make bench-guest compares with it).
add_mods virtio drivers/virtio/virtio_ring drivers/virtio/virtio \
	drivers/virtio/virtio_pci_modern_dev drivers/virtio/virtio_pci_legacy_dev \
	drivers/virtio/virtio_pci net/core/failover drivers/net/net_failover \
	drivers/net/virtio_net
cp "$BUSYBOX" "$ir/bin/busybox"
cp "$GUEST_BIN" "$ir/bin/flipswitch-guest"
cp "$XDP_BIN" "$ir/bin/fsn-xdp"
cp "$UDPSINK_BIN" "$ir/bin/fs-udpsink"
cp "$work/flipswitch_net.ko" "$ir/lib/modules/flipswitch_net.ko"
# ethtool (busybox has none), with the shared libraries it links, for the
# driver's counters (ethtool -S) and identity (ethtool -i).
ETHTOOL=$(command -v ethtool || echo /usr/sbin/ethtool)
[ -x "$ETHTOOL" ] || die "no ethtool (apt-get install ethtool)"
cp "$ETHTOOL" "$ir/bin/ethtool"
for lib in $(ldd "$ETHTOOL" | grep -o '/[^ ]*'); do
	mkdir -p "$ir$(dirname "$lib")"
	cp -L "$lib" "$ir$lib"
done
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
# fsg.net=ADDR/PREFIX: the flipswitch_net driver on the ivshmem devices,
# its interface up with that address; FS_IF names it for the command.
net=$(tr ' ' '\n' </proc/cmdline | sed -n 's/^fsg.net=//p')
if [ -n "$net" ]; then
	devs=
	for d in /sys/bus/pci/devices/*; do
		[ "$(cat "$d/vendor")" = 0x1af4 ] && [ "$(cat "$d/device")" = 0x1110 ] &&
			devs="$devs${devs:+,}${d##*/}"
	done
	insmod /lib/modules/flipswitch_net.ko devices="$devs" || echo "guest: insmod flipswitch_net failed"
	FS_IF=$(ls /sys/bus/pci/drivers/flipswitch_net/*/net/ 2>/dev/null | head -1)
	export FS_IF
	ip link set lo up
	if [ -n "$FS_IF" ] && ip addr add "$net" dev "$FS_IF" && ip link set "$FS_IF" up; then
		for i in $(seq 200); do
			[ "$(cat "/sys/class/net/$FS_IF/carrier" 2>/dev/null)" = 1 ] && break
			sleep 0.1
		done
		echo "guest: $FS_IF $net carrier $(cat "/sys/class/net/$FS_IF/carrier" 2>/dev/null)"
	else
		echo "guest: no flipswitch_net interface (devices: $devs)"
	fi
fi
# fsg.vnet=ADDR/PREFIX: virtio-net instead, for comparisons; VNET_IF.
vnet=$(tr ' ' '\n' </proc/cmdline | sed -n 's/^fsg.vnet=//p')
if [ -n "$vnet" ]; then
	for m in $(cat /lib/modules/virtio); do insmod "/lib/modules/$m.ko" 2>/dev/null; done
	VNET_IF=$(ls /sys/bus/virtio/drivers/virtio_net/*/net/ 2>/dev/null | head -1)
	export VNET_IF
	ip link set lo up
	if [ -n "$VNET_IF" ] && ip addr add "$vnet" dev "$VNET_IF" && ip link set "$VNET_IF" up; then
		echo "guest: $VNET_IF $vnet (virtio-net)"
	else
		echo "guest: no virtio-net interface"
	fi
fi
echo "guest: running: $cmd"
sh -c "$cmd"
rc=$?
# A clean detach: the switch gets back every frame at once.
[ -n "${FS_IF:-}" ] && ip link set "$FS_IF" down
echo "guest: exit status $rc"
flipswitch-guest debug-exit "$rc"
poweroff -f
INIT
chmod +x "$ir/init"
(cd "$ir" && find . | "$BUSYBOX" cpio -o -H newc 2>/dev/null) | gzip -6 >"$work/initramfs.gz"
mv "$work/vmlinux" "$DIR/vmlinux"
mv "$work/initramfs.gz" "$DIR/initramfs.gz"
mv "$work/flipswitch_net.ko" "$DIR/flipswitch_net.ko"
echo "$stamp" >"$DIR/stamp"
echo "mkguest: $DIR/vmlinux, $DIR/initramfs.gz, $DIR/flipswitch_net.ko"
