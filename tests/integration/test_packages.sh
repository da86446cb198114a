#!/usr/bin/env bash
# make deb: the Debian packages flipswitch, flipswitch-guest and
# flipswitch-dkms build with dpkg-buildpackage, hold what they should, are lintian clean (but for
# what debian/*.lintian-overrides and docs/packaging.md explain), and
# work unpacked into a scratch root: --example-config and --check from
# there, and the example config on an interface named eth1 of our own.
. "$(dirname "$0")/lib.sh"
for tool in dpkg-buildpackage dh lintian; do
	command -v $tool >/dev/null || { skip "packages (no $tool: make deps-test installs it)"; exit 0; }
done

DEB=$B/deb
if ! make -s -C "$TOP" deb >"$WORK/deb.log" 2>&1; then
	not_ok "make deb"
	tail -15 "$WORK/deb.log" | sed 's/^/#   /'
	exit 1
fi
ok "make deb: dpkg-buildpackage -us -uc -b"

# Files only, documentation aside.
files() { dpkg -c "$1" | awk '$1 !~ /^d/ {print $6}' | sed 's|^\./|/|' | grep -v '^/usr/share/doc/' | sort; }
check "flipswitch holds the daemon, the tools, man pages, unit, completion, example" \
	diff <(files "$DEB"/flipswitch_*_*.deb) - <<'LIST'
/etc/flipswitch/flipswitch.conf.example
/lib/systemd/system/flipswitchd.service
/usr/bin/flipswitch-qemu-args
/usr/bin/flipswitch-run-guest
/usr/bin/flipswitchctl
/usr/sbin/flipswitchd
/usr/share/bash-completion/completions/flipswitchctl
/usr/share/man/man1/flipswitch-qemu-args.1.gz
/usr/share/man/man1/flipswitch-run-guest.1.gz
/usr/share/man/man5/flipswitch.conf.5.gz
/usr/share/man/man8/flipswitchctl.8.gz
/usr/share/man/man8/flipswitchd.8.gz
LIST
check "flipswitch-guest holds the static guest tool and its man page" \
	diff <(files "$DEB"/flipswitch-guest_*_*.deb) - <<'LIST'
/usr/bin/flipswitch-guest
/usr/share/lintian/overrides/flipswitch-guest
/usr/share/man/man1/flipswitch-guest.1.gz
LIST
VER=$(awk -F'[()-]' 'NR == 1 { print $2; exit }' "$TOP/debian/changelog")
check "flipswitch-dkms holds the driver's source and dkms.conf in /usr/src/flipswitch-$VER" \
	diff <(files "$DEB"/flipswitch-dkms_*_all.deb) - <<LIST
/usr/src/flipswitch-$VER/Kbuild
/usr/src/flipswitch-$VER/Makefile
/usr/src/flipswitch-$VER/dkms.conf
/usr/src/flipswitch-$VER/fsn.h
/usr/src/flipswitch-$VER/fsn_data.c
/usr/src/flipswitch-$VER/fsn_main.c
/usr/src/flipswitch-$VER/include/flipswitch/ring.h
LIST
dpkg-deb -e "$DEB"/flipswitch-dkms_*_all.deb "$WORK/dctrl"
check "flipswitch-dkms depends on dkms; its postinst builds flipswitch/$VER with it" \
	bash -c "dpkg-deb -f $DEB/flipswitch-dkms_*_all.deb Depends | grep -q 'dkms (>= ' &&
		grep -qx 'DKMS_NAME=flipswitch' $WORK/dctrl/postinst &&
		grep -qx 'DKMS_VERSION=$VER' $WORK/dctrl/postinst &&
		grep -q 'dkms remove' $WORK/dctrl/prerm"
lintian "$DEB"/flipswitch_*_*.changes >"$WORK/lintian.out" 2>&1
check "lintian: no error or warning" bash -c "! grep -E '^(E|W):' $WORK/lintian.out"

ROOT=$WORK/root
for d in "$DEB"/flipswitch_*_*.deb "$DEB"/flipswitch-guest_*_*.deb "$DEB"/flipswitch-dkms_*_all.deb; do dpkg -x "$d" "$ROOT"; done
check "the packaged flipswitch-guest is static" \
	bash -c "file -L $ROOT/usr/bin/flipswitch-guest | grep -q 'statically linked'"
UNIT=$ROOT/lib/systemd/system/flipswitchd.service
# What dkms build runs: dkms.conf's MAKE[0], evaluated as dkms does (it
# sources the file), on a copy of the packaged source in a dkms tree,
# against the test guest's kernel headers (make guest-image unpacks them).
SRC=$ROOT/usr/src/flipswitch-$VER
check "the packaged dkms.conf names flipswitch $VER and builds flipswitch_net" \
	bash -c ". $SRC/dkms.conf && [ \"\$PACKAGE_NAME/\$PACKAGE_VERSION\" = flipswitch/$VER ] &&
		[ \"\${BUILT_MODULE_NAME[0]}\" = flipswitch_net ] && [ \"\$AUTOINSTALL\" = yes ]"
KDIR=$(ls -d "$B"/guest/headers/usr/src/linux-headers-*-amd64 2>/dev/null | head -1)
if [ -n "$KDIR" ] && [ -s "$KDIR/Makefile" ]; then
	TREE=$WORK/dkms
	mkdir -p "$TREE/flipswitch/$VER"
	cp -r "$SRC" "$TREE/flipswitch/$VER/build"
	# shellcheck disable=SC2016
	check "dkms.conf's MAKE[0] builds flipswitch_net.ko from the package against $(basename "$KDIR")" \
		bash -c 'kernel_source_dir=$1 dkms_tree=$2; . $3/dkms.conf
			eval "${MAKE[0]}" >$2/make.log 2>&1 &&
			modinfo -F name $2/flipswitch/$4/build/flipswitch_net.ko | grep -qx flipswitch_net' \
		_ "$KDIR" "$TREE" "$SRC" "$VER"
else
	skip "building the packaged driver (no unpacked guest kernel headers: make guest-image)"
fi
check "the packaged unit runs /usr/sbin/flipswitchd with its four capabilities" \
	bash -c "grep -q '^ExecStart=/usr/sbin/flipswitchd ' $UNIT &&
		grep -qx 'AmbientCapabilities=CAP_NET_ADMIN CAP_NET_RAW CAP_BPF CAP_IPC_LOCK' $UNIT &&
		grep -qx 'CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW CAP_BPF CAP_IPC_LOCK' $UNIT"
# Without a configuration it would fail: installing neither enables nor
# starts it (it is enabled again on upgrade only where it was).
dpkg-deb -e "$DEB"/flipswitch_*_*.deb "$WORK/ctrl"
check "installing neither enables nor starts the unit" \
	bash -c "! grep -q deb-systemd-invoke $WORK/ctrl/postinst &&
		[ \$(grep -c 'helper enable' $WORK/ctrl/postinst) -eq 1 ] &&
		grep -A2 was-enabled $WORK/ctrl/postinst | grep -q 'helper enable'"
check "the packaged flipswitch-run-guest uses the packaged flipswitch-qemu-args" \
	grep -qx 'QEMU_ARGS=/usr/bin/flipswitch-qemu-args' "$ROOT/usr/bin/flipswitch-run-guest"
"$ROOT/usr/sbin/flipswitchd" --example-config lo >"$WORK/lo.conf" 2>&1
check "from the scratch root: --example-config lo, then --check says ok" \
	bash -c "'$ROOT/usr/sbin/flipswitchd' --check -c $WORK/lo.conf | grep -qx '$WORK/lo.conf: ok'"
# The packaged example names eth1: give it one, a dummy in a namespace.
if ip netns add "$NS_SW" 2>/dev/null &&
	ip -n "$NS_SW" link add eth1 type veth peer name "$IF_SW" 2>/dev/null; then
	check "from the scratch root: --check accepts the packaged example on an eth1" \
		ip netns exec "$NS_SW" "$ROOT/usr/sbin/flipswitchd" --check -c "$ROOT/etc/flipswitch/flipswitch.conf.example"
else
	skip "the packaged example on an eth1 (needs root for a namespace)"
fi
check "the packaged flipswitch-qemu-args reads the packaged example" \
	bash -c "'$ROOT/usr/bin/flipswitch-qemu-args' web1 -c '$ROOT/etc/flipswitch/flipswitch.conf.example' | grep -q ivshmem-plain"
