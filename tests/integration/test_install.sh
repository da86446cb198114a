#!/usr/bin/env bash
# make install into a staging root, and what it installs: binaries, man
# pages that render cleanly, bash completion that parses, and a systemd
# unit whose readiness protocol the daemon really speaks.
. "$(dirname "$0")/lib.sh"

ROOT=$WORK/root
if ! make -s -C "$TOP" install DESTDIR="$ROOT" PREFIX=/usr >"$WORK/install.log" 2>&1; then
	not_ok "make install"
	sed 's/^/#   /' "$WORK/install.log" | tail -10
	exit 1
fi
ok "make install DESTDIR=... PREFIX=/usr"
for f in usr/sbin/flipswitchd usr/bin/flipswitchctl usr/bin/flipswitch-guest \
	usr/bin/flipswitch-qemu-args usr/bin/flipswitch-run-guest \
	usr/share/man/man8/flipswitchd.8 usr/share/man/man8/flipswitchctl.8 \
	usr/share/man/man5/flipswitch.conf.5 usr/share/man/man1/flipswitch-guest.1 \
	usr/share/man/man1/flipswitch-qemu-args.1 usr/share/man/man1/flipswitch-run-guest.1 \
	usr/share/bash-completion/completions/flipswitchctl \
	etc/systemd/system/flipswitchd.service; do
	check "installs /$f" test -s "$ROOT/$f"
done
# The commands README shows for pairing a guest, as installed.
check "installed flipswitch-qemu-args prints web1's devices from the example config" \
	bash -c "'$ROOT/usr/bin/flipswitch-qemu-args' web1 -c '$TOP/configs/example.conf' | grep -q 'mem-path=/dev/shm/flipswitch-web1,.*ivshmem-plain'"
check "installed flipswitch-run-guest runs the installed flipswitch-qemu-args" \
	grep -qx 'QEMU_ARGS=/usr/bin/flipswitch-qemu-args' "$ROOT/usr/bin/flipswitch-run-guest"
check "installed flipswitch-run-guest looks for the guest image under /usr/share/flipswitch" \
	bash -c "'$ROOT/usr/bin/flipswitch-run-guest' web1 -c x -- true 2>&1 | grep -q '/usr/share/flipswitch/guest/vmlinux is missing'"
# --libvirt: the devices as domain XML, in a domain libvirt's schema takes.
domain() { # domain ARGS...: a minimal domain around qemu-args' devices
	echo "<domain type='kvm'><name>web1</name><memory unit='MiB'>256</memory>"
	echo "<os><type arch='x86_64' machine='q35'>hvm</type></os><devices>"
	"$ROOT/usr/bin/flipswitch-qemu-args" web1 -c "$TOP/configs/example.conf" --libvirt "$@" || return
	echo "</devices></domain>"
}
domain >"$WORK/dom.xml"
domain --doorbell >"$WORK/dom-bell.xml"
check "--libvirt: a <shmem> for the pool and the rings, with their sizes" \
	bash -c "grep -c \"<model type='ivshmem-plain'/>\" $WORK/dom.xml | grep -qx 2 &&
		grep -q \"<shmem name='flipswitch-pool'>\" $WORK/dom.xml &&
		grep -q \"<shmem name='flipswitch-web1'>\" $WORK/dom.xml &&
		grep -q \"<size unit='B'>33554432</size>\" $WORK/dom.xml"
check "--libvirt --doorbell: the rings as ivshmem-doorbell on the VM's socket" \
	grep -q "<server path='/run/flipswitch/web1.doorbell'/>" "$WORK/dom-bell.xml"
if command -v virt-xml-validate >/dev/null; then
	check "virt-xml-validate accepts the domain with --libvirt's devices" \
		virt-xml-validate "$WORK/dom.xml" domain
	check "... and with --libvirt --doorbell's" virt-xml-validate "$WORK/dom-bell.xml" domain
else
	skip "virt-xml-validate (no libvirt-clients: make deps-test installs it)"
fi
sed 's|/dev/shm/flipswitch-pool|/dev/hugepages/flipswitch-pool|' "$TOP/configs/example.conf" >"$WORK/huge.conf"
"$ROOT/usr/bin/flipswitch-qemu-args" web1 -c "$WORK/huge.conf" --libvirt >/dev/null 2>"$WORK/huge.err"
rc=$?
check "--libvirt with a pool outside /dev/shm: refused, with the way out" \
	bash -c "[ $rc -eq 1 ] && grep -q 'only files in /dev/shm, and /dev/hugepages/flipswitch-pool is not: pass it with <qemu:commandline>' $WORK/huge.err"
if [ -s "$B/guest/vmlinux" ] && [ -s "$B/guest/initramfs.gz" ]; then
	check "make install takes the guest image that make guest-image built" \
		cmp "$B/guest/initramfs.gz" "$ROOT/usr/share/flipswitch/guest/initramfs.gz"
fi
for m in "$ROOT"/usr/share/man/man*/*; do
	check "${m##*/} renders without warnings" \
		bash -c "groff -man -Tutf8 -ww -z '$m' 2>&1 | { ! grep .; }"
done
check "bash completion parses" bash -n "$ROOT/usr/share/bash-completion/completions/flipswitchctl"
unit=$ROOT/etc/systemd/system/flipswitchd.service
check "unit: Type=notify, ExecStart at the installed daemon" \
	bash -c "grep -qx 'Type=notify' $unit && grep -q '^ExecStart=/usr/sbin/flipswitchd ' $unit"
check "unit: a file-descriptor store for the doorbells, kept with the runtime directory through a restart" \
	bash -c "grep -qx 'FileDescriptorStoreMax=1280' $unit && grep -qx 'RuntimeDirectoryPreserve=yes' $unit"
check "unit: least capabilities" \
	bash -c "grep -E '^CapabilityBoundingSet=' $unit | tr ' =' '\n\n' | grep CAP_ | sort | tr '\n' ' ' | grep -qx 'CAP_BPF CAP_IPC_LOCK CAP_NET_ADMIN CAP_NET_RAW '"

# Type=notify: the daemon sends READY=1 once ready.
require_root "sd_notify readiness"
bed_up || { not_ok "test-bed"; exit 1; }
write_config "$WORK/fs.conf" "web1 52:54:00:00:00:01"
timeout 20 socat -u UNIX-RECV:"$WORK/notify.sock" - >"$WORK/notify.out" &
BG_PIDS+=($!)
for _ in $(seq 50); do [ -S "$WORK/notify.sock" ] && break; sleep 0.05; done
NOTIFY_SOCKET=$WORK/notify.sock start_daemon "$WORK/fs.conf"
for _ in $(seq 50); do grep -q READY=1 "$WORK/notify.out" && break; sleep 0.05; done
check "the daemon tells systemd READY=1 once ready" grep -q "READY=1" "$WORK/notify.out"
stop_daemon
