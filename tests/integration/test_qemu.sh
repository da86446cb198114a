#!/usr/bin/env bash
# Real QEMU guests (TCG here, KVM where the CPU offers it) paired with a
# running flipswitchd through two ivshmem devices each, running the static
# flipswitch-guest --pci inside. Every frame is checked by length and
# CRC-32 against what was sent; exit codes come back through isa-debug-exit.
. "$(dirname "$0")/lib.sh"
require_root qemu
if ! command -v qemu-system-x86_64 >/dev/null || [ ! -s "$B/guest/vmlinux" ]; then
	skip "qemu (no qemu-system-x86_64 or no guest image: make guest-image)"
	exit 0
fi

VM1=52:54:00:00:00:01
VM2=52:54:00:00:00:02
N=20

bed_up || { not_ok "test-bed"; exit 1; }
write_config "$WORK/fs.conf" "web1 $VM1" "web2 $VM2"
echo "guest_timeout = 1000;" >>"$WORK/fs.conf"
start_daemon "$WORK/fs.conf" || { not_ok "daemon starts"; exit 1; }

# run_guest [--irq] NAME OUT CMD...: boots a guest in the background, waits
# until its flipswitch-guest has attached.
run_guest() {
	local irq=
	[ "$1" = --irq ] && { irq=--irq; shift; }
	ATTACH_SECS=90 attached_bg "$DAEMON_LOG" "$1" "$2" \
		"$TOP/tools/flipswitch-run-guest" "$1" -c "$WORK/fs.conf" $irq --timeout 120 -- "${@:3}"
	LAST_GUEST=$LAST_BG
}

sums() { tr -d '\r' <"$1" | grep '^sum '; }

# --- NIC -> guest 1, and guest 2 echoing back to the peer, at once
run_guest web1 "$WORK/g1.out" flipswitch-guest --pci rx --count "$N" --timeout 60 --sums
g1=$LAST_GUEST
run_guest web2 "$WORK/g2.out" flipswitch-guest --pci echo --count "$N" --timeout 60
g2=$LAST_GUEST
peer_recv "$N" "$VM2" "$WORK/echo.rx.pcap"
r=$LAST_RECV
peer "$B/fs-pkt" send -i "$IF_PEER" --dst "$VM1" --count "$N" --size 300 -w "$WORK/to1.pcap" >/dev/null
peer "$B/fs-pkt" send -i "$IF_PEER" --dst "$VM2" --src "$PEER_MAC" --count "$N" --size 200 --seed 2 -w "$WORK/to2.pcap" >/dev/null
wait "$g1"
rc1=$?
wait "$g2"
rc2=$?
wait "$r"
check "guest 1 (QEMU) exits 0 through isa-debug-exit" test "$rc1" -eq 0
check "frames from the peer reach guest 1 byte for byte (length and CRC-32 of each)" \
	diff <("$B/fs-pkt" sums "$WORK/to1.pcap") <(sums "$WORK/g1.out")
check "guest 2 (QEMU) echoed $N frames and exits 0" \
	bash -c "[ $rc2 -eq 0 ] && grep -q 'echoed $N' $WORK/g2.out"
check "the echoes reach the peer byte for byte, MACs swapped" \
	"$B/fs-pkt" cmp --swap-mac "$WORK/to2.pcap" "$WORK/echo.rx.pcap"

# --- guest 1 -> guest 2, both in QEMU
run_guest web2 "$WORK/g2b.out" flipswitch-guest --pci rx --count "$N" --timeout 60 --sums
g2=$LAST_GUEST
"$TOP/tools/flipswitch-run-guest" web1 -c "$WORK/fs.conf" --timeout 120 -- \
	flipswitch-guest --pci tx --dst "$VM2" --count "$N" --size 400 --sums >"$WORK/g1b.out" 2>&1
rc1=$?
wait "$g2"
rc2=$?
check "guest 1 -> guest 2: both exit 0" test "$rc1" -eq 0 -a "$rc2" -eq 0
check "guest 1 -> guest 2: every frame arrives, byte for byte" \
	diff <(sums "$WORK/g1b.out") <(sums "$WORK/g2b.out")

# --- broadcast reaches both guests
run_guest web1 "$WORK/b1.out" flipswitch-guest --pci rx --count "$N" --timeout 60 --sums
b1=$LAST_GUEST
run_guest web2 "$WORK/b2.out" flipswitch-guest --pci rx --count "$N" --timeout 60 --sums
b2=$LAST_GUEST
peer "$B/fs-pkt" send -i "$IF_PEER" --dst ff:ff:ff:ff:ff:ff --count "$N" --seed 3 -w "$WORK/b.pcap" >/dev/null
wait "$b1" "$b2"
check "broadcast reaches guest 1 byte for byte" diff <("$B/fs-pkt" sums "$WORK/b.pcap") <(sums "$WORK/b1.out")
check "broadcast reaches guest 2 byte for byte" diff <("$B/fs-pkt" sums "$WORK/b.pcap") <(sums "$WORK/b2.out")

# --- doorbells: a guest in --irq mode (ivshmem-doorbell, MSI-X through
# VFIO) sleeps until the switch rings; the switch sleeps too. Their CPU
# time while idle is measured and reported, not asserted.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
stat_of() { "$B/flipswitchctl" -s "$WORK/ctl.sock" -j stats | jq "$1"; }
run_guest --irq web1 "$WORK/irq.out" flipswitch-guest --pci --irq rx --count "$N" --timeout 60 --sums
irq=$LAST_GUEST
check "an --irq guest connects to the doorbell" \
	bash -c "$B/flipswitchctl -s $WORK/ctl.sock -j show | jq -e '.vms[0].doorbell_connected and .vms[0].guest_rings'"
sleep 1
qpid=$(pgrep -f "qemu-system-x86_64.*path=$WORK/web1.doorbell" | head -1)
hz=$(getconf CLK_TCK)
t0=$(cpu_ticks "$DAEMON_PID") q0=$(cpu_ticks "$qpid") s0=$(stat_of .switch.sleeps)
sleep 3
t1=$(cpu_ticks "$DAEMON_PID") q1=$(cpu_ticks "$qpid") s1=$(stat_of .switch.sleeps)
echo "# idle for 3 s with an --irq guest: switch $(( (t1 - t0) * 1000 / hz )) ms CPU (slept $((s1 - s0)) times), QEMU (TCG) $(( (q1 - q0) * 1000 / hz )) ms CPU"
check "the switch sleeps long while its only guest is on a doorbell (fewer than 150 sleeps in 3 s)" \
	test $((s1 - s0)) -lt 150
peer "$B/fs-pkt" send -i "$IF_PEER" --dst "$VM1" --count "$N" --size 256 --seed 7 -w "$WORK/irq.pcap" >/dev/null
wait "$irq"
rc=$?
check "a burst after idling reaches the --irq guest byte for byte, exit 0" \
	bash -c "[ $rc -eq 0 ] && diff <($B/fs-pkt sums $WORK/irq.pcap) <(tr -d '\r' <$WORK/irq.out | grep '^sum ')"
check "the switch's doorbell woke the guest (MSI-X through VFIO)" \
	bash -c "tr -d '\r' <$WORK/irq.out | grep -Eq 'woken by the switch [1-9][0-9]* times'"
w0=$(stat_of .switch.doorbell_wakeups)
# The guest boots meanwhile (with an IOMMU: slower under TCG).
RECV_TIMEOUT=60 peer_recv "$N" "$VM1" "$WORK/irqtx.wire.pcap"
r=$LAST_RECV
"$TOP/tools/flipswitch-run-guest" web1 -c "$WORK/fs.conf" --irq --timeout 120 -- \
	flipswitch-guest --pci --irq tx --dst "$PEER_MAC" --count "$N" --size 300 --sums >"$WORK/irqtx.out" 2>&1
rc=$?
wait "$r"
check "an --irq guest's frames reach the wire byte for byte" \
	bash -c "[ $rc -eq 0 ] && diff <(tr -d '\r' <$WORK/irqtx.out | grep '^sum ') <($B/fs-pkt sums $WORK/irqtx.wire.pcap)"
check "the guest rang the switch's doorbell (ivshmem Doorbell register)" \
	test "$(stat_of .switch.doorbell_wakeups)" -gt "$w0"

# --- a command's failure comes back as its exit status
"$TOP/tools/flipswitch-run-guest" web1 -c "$WORK/fs.conf" --timeout 60 -- sh -c 'exit 7' >/dev/null 2>&1
rc=$?
check "a guest command's exit status (7) comes back through isa-debug-exit" test "$rc" -eq 7

# --- a guest killed (QEMU SIGKILL) while holding frames, mid-traffic: its
# frames come back once its heartbeat stops; the other guest is undisturbed
run_guest web1 "$WORK/k1.out" flipswitch-guest --pci rx --hold --timeout 60
k1=$LAST_GUEST
run_guest web2 "$WORK/k2.out" flipswitch-guest --pci rx --count "$N" --timeout 60 --sums
k2=$LAST_GUEST
peer "$B/fs-pkt" send -i "$IF_PEER" --dst "$VM1" --count 30 >/dev/null
sleep 0.5
pkill -KILL -f "qemu-system-x86_64.*mem-path=$SHM-web1," 
wait "$k1" 2>/dev/null
peer "$B/fs-pkt" send -i "$IF_PEER" --dst "$VM2" --count "$N" --seed 5 -w "$WORK/k2.pcap" >/dev/null
wait "$k2"
check "the other guest's traffic is undisturbed, byte for byte" \
	diff <("$B/fs-pkt" sums "$WORK/k2.pcap") <(sums "$WORK/k2.out")
wait_log "vm web1: guest silent for 1000 ms" 10 >/dev/null
check "the killed guest is taken for gone, its frames (30 held + lent) taken back" \
	grep -Eq "vm web1: guest silent for 1000 ms, taken for gone; (9[4-9]|1[0-9][0-9]) frames taken back" "$DAEMON_LOG"
check "flipswitchctl counts the guest timeout" \
	bash -c "$B/flipswitchctl -s $WORK/ctl.sock -j stats web1 | jq -e '.ports[0].guest_timeouts == 1'"

# --- after the guests: every frame back
check "the guests' frames all came back (web1 and web2 hold none)" \
	bash -c "$B/flipswitchctl -s $WORK/ctl.sock -j frames | jq -e '.ok and .vms.web1 == 0 and .vms.web2 == 0'"
stop_daemon
check "exit report: every frame back in the pool" \
	bash -c "grep 'frames: ' $DAEMON_LOG | tail -1 | grep -q 'switch 4096.*: ok$'"

# --- make demo GUESTS=qemu, the tour: every second of its watch has
# traffic for both QEMU guests, and they receive all of it.
GUESTS=qemu "$TOP/tools/demo.sh" </dev/null >"$WORK/demo.out" 2>&1
rc=$?
check "the demo with QEMU guests exits 0" bash -c "[ $rc -eq 0 ] || { tail -20 $WORK/demo.out; false; }"
check "... every second of its watch has traffic for web1 and web2" \
	bash -c "[ \$(grep -Ec '^   web[12] +rx [1-9]' $WORK/demo.out) -eq 8 ]"
check "... web1 received 1050 frames, web2 1050 (500 of them from web1)" \
	bash -c "grep -q 'web1: received 1050;' $WORK/demo.out && grep -q 'web2: received 1050;' $WORK/demo.out"
