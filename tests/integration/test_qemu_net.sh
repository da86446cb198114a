#!/usr/bin/env bash
# The flipswitch_net driver (guest/linux/) in real QEMU guests (TCG here):
# each guest loads it on its two ivshmem devices, brings the interface up
# with an address (flipswitch-run-guest --net), and ordinary programs talk
# through it: ping and TCP between the wire (the peer namespace) and the
# guests, and between the guests, through a running flipswitchd; the same
# at MTU 9000 (jumbo frames, packets of several frames: ABI 1.3).
. "$(dirname "$0")/lib.sh"
require_root qemu
if ! command -v qemu-system-x86_64 >/dev/null || [ ! -s "$B/guest/flipswitch_net.ko" ]; then
	skip "qemu net (no qemu-system-x86_64 or no guest image with the driver: make guest-image)"
	exit 0
fi

VM1=52:54:00:00:00:01
VM2=52:54:00:00:00:02
NET=10.$((RANDOM % 200 + 20)).$((RANDOM % 250))
PEER_IP=$NET.1 G1=$NET.11 G2=$NET.12

bed_up || { not_ok "test-bed"; exit 1; }
ip -n "$NS_PEER" addr add "$PEER_IP/24" dev "$IF_PEER"
# veth leaves the checksums of what the peer sends to the receiving
# kernel (CHECKSUM_PARTIAL); the switch takes frames raw through XDP, so
# the peer computes them, as a host on a real wire does.
peer ethtool -K "$IF_PEER" tx off >/dev/null
write_config "$WORK/fs.conf" "web1 $VM1" "web2 $VM2"
echo "guest_timeout = 1000;" >>"$WORK/fs.conf"

# net_guest [--irq] NAME ADDR OUT CMD...: boots a guest with the driver in
# the background (pid in LAST_GUEST) and waits until it attached.
net_guest() {
	local irq=
	[ "$1" = --irq ] && { irq=--irq; shift; }
	ATTACH_SECS=90 attached_bg "$DAEMON_LOG" "$1" "$3" \
		"$TOP/tools/flipswitch-run-guest" "$1" -c "$WORK/fs.conf" $irq --net "$2/24" \
		--timeout 120 -- "${@:4}"
	LAST_GUEST=$LAST_BG
}

# The guest's command waits for a line on TCP port 7000, so the test says
# when it is done with it; bye ADDR sends that line.
WAIT_BYE='nc -l -p 7000'
bye() { peer timeout 3 busybox nc -w 2 "$1" 7000 </dev/null >/dev/null 2>&1 || true; }
bye_wait() { # bye_wait ADDR PID: tells the guest to finish, waits for it
	local i
	for i in 1 2 3 4 5; do
		bye "$1"
		kill -0 "$2" 2>/dev/null || break
		sleep 1
	done
	wait "$2"
}
console() { tr -d '\r' <"$1" | grep -v '^guest: running'; }
says() { console "$1" | grep -Eq -- "$2"; }      # says FILE ERE
says_line() { console "$1" | grep -qx -- "$2"; } # says_line FILE LINE
wait_says() { # wait_says FILE LINE SECONDS: until the guest prints LINE
	local i
	for i in $(seq $(($3 * 10))); do says_line "$1" "$2" && return 0; sleep 0.1; done
	return 1
}

# The MTU case needs the wire to carry the largest frame: 2048-byte pool
# frames hold 1778 bytes of IP after the 256 of headroom and 14 of header.
MAXMTU=1778
LOWMTU=1400
ip -n "$NS_PEER" link set "$IF_PEER" mtu $MAXMTU
ip -n "$NS_SW" link set "$IF_SW" mtu $MAXMTU
start_daemon "$WORK/fs.conf" || { not_ok "daemon starts"; exit 1; }
frames_back() { # frames_back VM: the switch's audit finds VM holding none
	"$B/flipswitchctl" -s "$WORK/ctl.sock" -j frames | jq -e ".ok and .vms.$1 == 0"
}
# What a guest kernel says when something went wrong (the guest's console
# is quiet, so the guest greps its dmesg for these, through $OOPS).
OOPS='BUG:|WARNING:|Oops|Call Trace|hw csum failure'
no_oops() { ! cat "$@" | tr -d '\r' | grep -v '^guest: running' | grep -E "$OOPS"; }

# --- 1. the wire pings a guest: ARP from the wire reaches it, its replies
# leave through the NIC; 3. the largest MTU passes with don't-fragment,
# one byte more is refused, and the driver follows the uplink's MTU the
# switch publishes (ABI 1.2): lowered under it, then raised again; 6. XDP
# in the guest: a program that drops the test frames (ethertype 0x88b5;
# IPv4 and ARP pass), then one that sends them back with XDP_TX, the same
# frame and no copy, then one that sends every frame through XDP_REDIRECT
# into a cpumap, which hands it to the guest's stack (fsn-xdp)
N=20
net_guest web1 "$G1" "$WORK/p1.out" sh -c "ethtool -i \$FS_IF; cat /sys/class/net/\$FS_IF/address
	ip link set \$FS_IF mtu $((MAXMTU + 1)) && echo 'mtu $((MAXMTU + 1)) accepted'
	ip link set \$FS_IF mtu $MAXMTU && echo 'mtu $MAXMTU set'
	$WAIT_BYE
	for i in \$(seq 50); do [ \$(cat /sys/class/net/\$FS_IF/mtu) -lt $MAXMTU ] && break; sleep 0.1; done
	ip link set \$FS_IF mtu $((LOWMTU + 1)) && echo 'mtu $((LOWMTU + 1)) accepted'
	echo mtu \$(cat /sys/class/net/\$FS_IF/mtu) under an uplink of $LOWMTU
	$WAIT_BYE
	for i in \$(seq 50); do ip link set \$FS_IF mtu $MAXMTU 2>/dev/null && break; sleep 0.1; done
	echo mtu \$(cat /sys/class/net/\$FS_IF/mtu) with the uplink back at $MAXMTU
	fsn-xdp \$FS_IF drop; $WAIT_BYE; fsn-xdp \$FS_IF tx; $WAIT_BYE
	fsn-xdp \$FS_IF redirect; $WAIT_BYE; fsn-xdp \$FS_IF off; ethtool -S \$FS_IF; dmesg | grep -E '$OOPS'; true"
g1=$LAST_GUEST
peer ping -c 100 -i 0.02 -W 5 "$G1" >"$WORK/ping1.out" 2>&1
check "the wire pings guest 1 through flipswitch_net: 100 sent, 100 received" \
	grep -q '100 packets transmitted, 100 received' "$WORK/ping1.out"
peer ping -M do -s $((MAXMTU - 28)) -c 3 -W 5 "$G1" >"$WORK/ping1m.out" 2>&1
check "a $MAXMTU-byte ping with don't-fragment passes (MTU $MAXMTU both ways)" \
	grep -q '3 packets transmitted, 3 received' "$WORK/ping1m.out"
# The switch's side of the wire goes to a lower MTU and back, at run time.
ip -n "$NS_SW" link set "$IF_SW" mtu $LOWMTU
bye "$G1"
wait_says "$WORK/p1.out" "mtu $LOWMTU under an uplink of $LOWMTU" 20
ip -n "$NS_SW" link set "$IF_SW" mtu $MAXMTU
bye "$G1"
wait_says "$WORK/p1.out" "fsn-xdp: drop on eth0" 20
peer "$B/fs-pkt" send -i "$IF_PEER" --dst "$VM1" --count "$N" --size 200 >/dev/null
bye "$G1"
wait_says "$WORK/p1.out" "fsn-xdp: tx on eth0" 20
peer_recv "$N" "$VM1" "$WORK/xdptx.rx.pcap"
r=$LAST_RECV
peer "$B/fs-pkt" send -i "$IF_PEER" --dst "$VM1" --src "$PEER_MAC" --count "$N" --size 300 --seed 4 -w "$WORK/xdptx.pcap" >/dev/null
wait "$r"
check "XDP_TX in the guest: the $N frames come back to the wire byte for byte, MACs swapped" \
	"$B/fs-pkt" cmp --swap-mac "$WORK/xdptx.pcap" "$WORK/xdptx.rx.pcap"
bye "$G1"
wait_says "$WORK/p1.out" "fsn-xdp: redirect on eth0" 20
peer ping -c 10 -i 0.05 -W 5 "$G1" >"$WORK/pingr.out" 2>&1
check "XDP_REDIRECT in the guest: the wire pings guest 1 through a cpumap, 10 sent, 10 received" \
	grep -q '10 packets transmitted, 10 received' "$WORK/pingr.out"
bye_wait "$G1" "$g1"
rc=$?
check "guest 1 exits 0, its interface came up with carrier" \
	test "$rc" -eq 0 -a -n "$(console "$WORK/p1.out" | grep "guest: eth[0-9]* $G1/24 carrier 1")"
check "the driver took the MAC from the ring header" says_line "$WORK/p1.out" "$VM1"
check "ethtool -i names the driver and the ring ABI" \
	eval 'says_line "$WORK/p1.out" "driver: flipswitch_net" && says "$WORK/p1.out" "^firmware-version: ABI 1\."'
check "MTU $MAXMTU is taken, $((MAXMTU + 1)) refused" \
	eval 'says_line "$WORK/p1.out" "mtu $MAXMTU set" && ! says_line "$WORK/p1.out" "mtu $((MAXMTU + 1)) accepted"'
check "the uplink's MTU lowered to $LOWMTU: the guest's MTU follows, $((LOWMTU + 1)) refused" \
	eval 'says_line "$WORK/p1.out" "mtu $LOWMTU under an uplink of $LOWMTU" && ! says_line "$WORK/p1.out" "mtu $((LOWMTU + 1)) accepted"'
check "the uplink's MTU back at $MAXMTU: the guest takes $MAXMTU again" \
	says_line "$WORK/p1.out" "mtu $MAXMTU with the uplink back at $MAXMTU"
check "ethtool -S counts what was received and sent" \
	eval 'says "$WORK/p1.out" "rx_packets: [1-9][0-9]{2}" && says "$WORK/p1.out" "tx_packets: [1-9][0-9]{2}"'
check "ethtool -S counts $N frames dropped by XDP and $N sent back by XDP_TX" \
	eval 'says "$WORK/p1.out" "^ *xdp_drop: $N\$" && says "$WORK/p1.out" "^ *xdp_tx: $N\$"'
check "ethtool -S counts the 10 pings (at least) redirected, none refused" \
	eval 'says "$WORK/p1.out" "^ *xdp_redirect: ([1-9][0-9]+)\$" && says "$WORK/p1.out" "^ *xdp_redirect_err: 0\$"'
check "no oops or warning in guest 1's kernel" no_oops "$WORK/p1.out"
check "after ip link set down every frame is back (web1 holds none)" frames_back web1

# --- 2. guest to guest: ping each other, and 20 MB over TCP (busybox nc)
# arrive with the same sha256; 7. guest 2 in doorbell mode (ivshmem-doorbell,
# MSI-X), guest 1 polling, and the wire pings guest 2 too
net_guest --irq web2 "$G2" "$WORK/r2.out" sh -c "nc -l -p 7001 | sha256sum | sed 's/^/recv /'
	ping -c 5 -W 5 $G1 | grep transmitted; nc $G1 7000 </dev/null; ethtool -S \$FS_IF
	dmesg | grep -E '$OOPS'; true"
g2=$LAST_GUEST
peer ping -c 20 -i 0.05 -W 5 "$G2" >"$WORK/ping2.out" 2>&1
check "the wire pings guest 2 (doorbell mode): 20 sent, 20 received" \
	grep -q '20 packets transmitted, 20 received' "$WORK/ping2.out"
"$TOP/tools/flipswitch-run-guest" web1 -c "$WORK/fs.conf" --net "$G1/24" --mem 384 \
	--timeout 180 -- sh -c "head -c 20000000 /dev/urandom >/tmp/d
	sha256sum </tmp/d | sed 's/^/sent /'
	ping -c 5 -W 5 $G2 | grep transmitted
	for i in \$(seq 50); do nc $G2 7001 </tmp/d && break; sleep 0.2; done
	timeout 60 $WAIT_BYE; ethtool -S \$FS_IF; dmesg | grep -E '$OOPS'; true" >"$WORK/s1.out" 2>&1
rc1=$?
wait "$g2"
rc2=$?
sent=$(console "$WORK/s1.out" | sed -n 's/^sent \([0-9a-f]*\).*/\1/p')
recv=$(console "$WORK/r2.out" | sed -n 's/^recv \([0-9a-f]*\).*/\1/p')
check "guest 1 pings guest 2: 5 sent, 5 received" \
	says "$WORK/s1.out" '5 packets transmitted, 5 packets received'
check "guest 2 pings guest 1: 5 sent, 5 received" \
	says "$WORK/r2.out" '5 packets transmitted, 5 packets received'
check "20 MB from guest 1 to guest 2 over TCP: same sha256 ($sent)" \
	test -n "$sent" -a "$sent" = "$recv"
check "both guests exit 0" test "$rc1" -eq 0 -a "$rc2" -eq 0
check "no oops or warning in the guests' kernels" no_oops "$WORK/s1.out" "$WORK/r2.out"
check "every frame back after both detached" bash -c "$B/flipswitchctl -s $WORK/ctl.sock -j frames | jq -e '.ok and .vms.web1 == 0 and .vms.web2 == 0'"
check "guest 2 took doorbells (MSI-X) and rang the switch" \
	eval 'says "$WORK/r2.out" "irqs: [1-9]" && says "$WORK/r2.out" "doorbells_(tx|free): [1-9]"'

# --- 4. the switch restarted under a running guest: carrier off and on,
# traffic resumes; a guest killed mid-transfer gives its frames back; 5. ip link set down/up and rmmod under traffic leave no
# frame with the VM and no oops
net_guest web1 "$G1" "$WORK/d1.out" sh -c "$WAIT_BYE
	ip link set \$FS_IF down; ip link set \$FS_IF up
	for i in \$(seq 100); do [ \$(cat /sys/class/net/\$FS_IF/carrier) = 1 ] && break; sleep 0.1; done
	echo carrier \$(cat /sys/class/net/\$FS_IF/carrier) after down and up
	sleep 1; ethtool -S \$FS_IF | grep -E 'attaches|switch_lost'
	rmmod flipswitch_net && echo rmmod done; sleep 1; dmesg | grep -E '$OOPS'; true"
d1=$LAST_GUEST
# A guest's QEMU SIGKILLed mid-transfer (the wire streams TCP to it): its
# frames come back once its heartbeat stops; guest 1 is undisturbed.
net_guest web2 "$G2" "$WORK/k2.out" sh -c "nc -l -p 7001 >/dev/null"
k2=$LAST_GUEST
peer timeout 30 busybox nc "$G2" 7001 </dev/zero >/dev/null 2>&1 &
stream=$!
BG_PIDS+=($stream)
sleep 2
# flipswitch-run-guest -> timeout -> qemu-system-x86_64
qemu=$(pgrep -P "$(pgrep -P "$k2")")
check "guest 2's QEMU found and SIGKILLed mid-transfer" kill -KILL "$qemu"
wait "$k2" 2>/dev/null
kill "$stream" 2>/dev/null
peer ping -c 10 -i 0.05 -W 5 "$G1" >"$WORK/ping3.out" 2>&1
check "guest 1 is undisturbed: 10 sent, 10 received" \
	grep -q '10 packets transmitted, 10 received' "$WORK/ping3.out"
check "the killed guest is taken for gone, its frames taken back" \
	wait_log "vm web2: guest silent for 1000 ms, taken for gone; [1-9][0-9]* frames taken back" 10
check "the killed guest holds no frame" frames_back web2
n=$(grep -c "vm web1: guest attached" "$DAEMON_LOG")
stop_daemon
start_daemon "$WORK/fs.conf" || { not_ok "daemon restarts"; exit 1; }
check "after the switch restarted, guest 1 attached again by itself" \
	wait_log "vm web1: guest attached" 30
peer ping -c 20 -i 0.05 -W 5 "$G1" >"$WORK/ping4.out" 2>&1
check "traffic resumes after the restart: 20 sent, 20 received" \
	grep -q '20 packets transmitted, 20 received' "$WORK/ping4.out"
check "flipswitchctl frames is exact with the guest attached" \
	bash -c "$B/flipswitchctl -s $WORK/ctl.sock -j frames | jq -e '.ok'"
# Under a ping flood from the wire: down, up, rmmod.
peer ping -c 600 -i 0.005 -W 1 "$G1" >/dev/null 2>&1 &
flood=$!
BG_PIDS+=($flood)
bye_wait "$G1" "$d1"
rc=$?
kill "$flood" 2>/dev/null
check "guest 1: carrier back after ip link set down and up" \
	says_line "$WORK/d1.out" 'carrier 1 after down and up'
check "guest 1 counted the switch lost once and attached 3 times" \
	eval 'says "$WORK/d1.out" "switch_lost: 1\$" && says "$WORK/d1.out" "attaches: 3\$"'
check "rmmod under traffic: done, guest exits 0" \
	eval '[ $rc -eq 0 ] && says_line "$WORK/d1.out" "rmmod done"'
check "no oops or warning in guest 1's kernel" no_oops "$WORK/d1.out"
check "after rmmod no frame is left with the VM" frames_back web1

# --- 8. jumbo frames (ABI 1.3: a packet of several frames is a chain of
# descriptors): the wire at MTU 9000, both guests at MTU 9000; 9000-byte
# pings (don't-fragment from the wire) to each guest and between them,
# and 4 MB over TCP from the wire to guest 1 and from guest 1 to guest 2
# (doorbell mode), byte for byte. A driver or switch without chains keeps
# the MTU at one frame's 1778: the MTU, the pings and the TCP at 9000 fail.
JMTU=9000
stop_daemon
ip -n "$NS_PEER" link set "$IF_PEER" mtu $JMTU
ip -n "$NS_SW" link set "$IF_SW" mtu $JMTU
start_daemon "$WORK/fs.conf" || { not_ok "daemon starts with the wire at MTU $JMTU"; exit 1; }
# The driver follows the uplink's MTU within 100 ms of attaching.
SET_JMTU="for i in \$(seq 50); do ip link set \$FS_IF mtu $JMTU 2>/dev/null && break; sleep 0.1; done
	echo mtu \$(cat /sys/class/net/\$FS_IF/mtu)"
net_guest --irq web2 "$G2" "$WORK/j2.out" sh -c "$SET_JMTU
	nc -l -p 7001 | sha256sum | sed 's/^/recv /'
	ping -s $((JMTU - 28)) -c 3 -W 5 $G1 | grep transmitted
	$WAIT_BYE; ethtool -S \$FS_IF; dmesg | grep -E '$OOPS'; true"
j2=$LAST_GUEST
net_guest web1 "$G1" "$WORK/j1.out" sh -c "$SET_JMTU
	nc -l -p 7002 | sha256sum | sed 's/^/wire /'
	head -c 4000000 /dev/urandom >/tmp/d
	sha256sum </tmp/d | sed 's/^/sent /'
	ping -s $((JMTU - 28)) -c 3 -W 5 $G2 | grep transmitted
	for i in \$(seq 50); do nc $G2 7001 </tmp/d && break; sleep 0.2; done
	$WAIT_BYE; ethtool -S \$FS_IF; dmesg | grep -E '$OOPS'; true"
j1=$LAST_GUEST
wait_says "$WORK/j1.out" "mtu $JMTU" 20
wait_says "$WORK/j2.out" "mtu $JMTU" 20
peer ping -M do -s $((JMTU - 28)) -c 3 -W 5 "$G1" >"$WORK/pingj1.out" 2>&1
check "a $JMTU-byte ping with don't-fragment from the wire to guest 1: 3 sent, 3 received" \
	grep -q '3 packets transmitted, 3 received' "$WORK/pingj1.out"
peer ping -M do -s $((JMTU - 28)) -c 3 -W 5 "$G2" >"$WORK/pingj2.out" 2>&1
check "a $JMTU-byte ping with don't-fragment from the wire to guest 2 (doorbell): 3 sent, 3 received" \
	grep -q '3 packets transmitted, 3 received' "$WORK/pingj2.out"
head -c 4000000 /dev/urandom >"$WORK/jumbo.bin"
wsum=$(sha256sum <"$WORK/jumbo.bin" | cut -d' ' -f1)
for i in $(seq 10); do # until guest 1 listens; a stalled transfer ends at 30 s
	peer timeout 30 busybox nc "$G1" 7002 <"$WORK/jumbo.bin" >/dev/null 2>&1 && break
	sleep 0.5
done
# Guest 1 sends to guest 2, which then pings guest 1: both at their end.
for i in $(seq 1200); do says "$WORK/j2.out" 'packets transmitted' && break; sleep 0.1; done
bye_wait "$G1" "$j1"
rc1=$?
bye_wait "$G2" "$j2"
rc2=$?
wire=$(console "$WORK/j1.out" | sed -n 's/^wire \([0-9a-f]*\).*/\1/p')
sent=$(console "$WORK/j1.out" | sed -n 's/^sent \([0-9a-f]*\).*/\1/p')
recv=$(console "$WORK/j2.out" | sed -n 's/^recv \([0-9a-f]*\).*/\1/p')
check "both guests take MTU $JMTU" \
	eval 'says_line "$WORK/j1.out" "mtu $JMTU" && says_line "$WORK/j2.out" "mtu $JMTU"'
check "4 MB from the wire to guest 1 over TCP at MTU $JMTU: same sha256 ($wsum)" \
	test "$wire" = "$wsum"
# busybox's ping has no -M do: at MTU 9000 the packet goes whole, as a chain
check "guest 1 pings guest 2 with $JMTU-byte packets: 3 sent, 3 received" \
	says "$WORK/j1.out" '3 packets transmitted, 3 packets received'
check "guest 2 pings guest 1 with $JMTU-byte packets: 3 sent, 3 received" \
	says "$WORK/j2.out" '3 packets transmitted, 3 packets received'
check "4 MB from guest 1 to guest 2 over TCP at MTU $JMTU: same sha256 ($sent)" \
	test -n "$sent" -a "$sent" = "$recv"
check "both guests received and sent chains (ethtool -S rx_chains, tx_chains), none dropped" \
	eval 'for f in "$WORK/j1.out" "$WORK/j2.out"; do
		says "$f" "^ *rx_chains: [1-9]" && says "$f" "^ *tx_chains: [1-9]" &&
		says "$f" "^ *rx_drop_chain_(open|long): 0\$" || exit 1
	done'
check "both guests exit 0, no oops or warning in their kernels" \
	eval '[ $rc1 -eq 0 ] && [ $rc2 -eq 0 ] && no_oops "$WORK/j1.out" "$WORK/j2.out"'
check "after the jumbo frames every frame is back (web1 and web2 hold none)" \
	bash -c "$B/flipswitchctl -s $WORK/ctl.sock -j frames | jq -e '.ok and .vms.web1 == 0 and .vms.web2 == 0'"
stop_daemon
check "exit report: every frame back in the pool" \
	bash -c "grep 'frames: ' $DAEMON_LOG | tail -1 | grep -q 'switch 4096.*: ok$'"
