#!/usr/bin/env bash
# Two hosts joined by the kernel's VXLAN: each a network namespace with a
# vxlan0 over a veth underlay between them, a flipswitchd attached to its
# vxlan0 (generic XDP, copy-mode AF_XDP) and two VMs (host guest
# processes): a1 and a2 on host A, b1 and b2 on host B.
#
#   - show says vxlan0 is a tunnel, generic XDP, copy mode, mtu 1450;
#   - unicast between VMs on different hosts arrives byte for byte, both
#     ways; a broadcast reaches the three other VMs byte for byte;
#   - the hosts' own traffic over vxlan0 still works (ping);
#   - a frame one byte over vxlan0's MTU (+ 14) is dropped and counted
#     (too_big); the one at it arrives; the underlay, captured all along,
#     carries no IP fragment and the tunnelled frame at the MTU as one
#     1514-byte packet.
. "$(dirname "$0")/lib.sh"
require_root vxlan

A1=52:54:00:00:22:a1
A2=52:54:00:00:22:a2
B1=52:54:00:00:22:b1
B2=52:54:00:00:22:b2
N=32
NS_A=$NS_SW
NS_B=$NS_PEER
LOG_B=$WORK/daemon-b.log

bed_up || { not_ok "test-bed"; exit 1; }
if ! ip -n "$NS_A" link add vxlan0 type vxlan id 42 dstport 4789 2>/dev/null; then
	skip "vxlan (this kernel has no vxlan devices)"
	exit 0
fi
ip -n "$NS_A" link del vxlan0
# The underlay, and one vxlan0 per host whose default destination is the
# other host (flooding and learning, as the kernel's VXLAN does alone).
ip -n "$NS_A" addr add 10.99.0.1/24 dev "$IF_SW"
ip -n "$NS_B" addr add 10.99.0.2/24 dev "$IF_PEER"
ip -n "$NS_A" link add vxlan0 type vxlan id 42 local 10.99.0.1 remote 10.99.0.2 dstport 4789 dev "$IF_SW"
ip -n "$NS_B" link add vxlan0 type vxlan id 42 local 10.99.0.2 remote 10.99.0.1 dstport 4789 dev "$IF_PEER"
ip -n "$NS_A" addr add 192.168.99.1/24 dev vxlan0
ip -n "$NS_B" addr add 192.168.99.2/24 dev vxlan0
ip -n "$NS_A" link set vxlan0 up
ip -n "$NS_B" link set vxlan0 up

# host_config FILE POOL SOCK VM1 MAC1 VM2 MAC2
host_config() {
	cat >"$1" <<-EOF
	pool = { path = "$2"; frames = 4096; frame_size = 2048; };
	interfaces = ( { name = "vxlan0"; } );
	control = "$3";
	vms = (
	  { name = "$4"; mac = "$5"; rings = "$SHM-$4"; quota = 512; },
	  { name = "$6"; mac = "$7"; rings = "$SHM-$6"; quota = 512; }
	);
	EOF
}
host_config "$WORK/a.conf" "$SHM-pool" "$WORK/a.sock" a1 "$A1" a2 "$A2"
host_config "$WORK/b.conf" "$SHM-bpool" "$WORK/b.sock" b1 "$B1" b2 "$B2"

trap 'stop_b; cleanup' EXIT

if ! start_daemon "$WORK/a.conf"; then
	not_ok "host A: flipswitchd attaches to vxlan0 and logs ready"
	exit 1
fi
if ! start_b "$NS_B" "$WORK/b.conf" "$LOG_B"; then
	not_ok "host B: flipswitchd attaches to vxlan0 and logs ready"
	exit 1
fi
ok "both hosts: flipswitchd attaches to vxlan0 and logs ready"

check "show: vxlan0 is a tunnel, generic XDP, copy mode, mtu 1450" \
	bash -c "$B/flipswitchctl -s $WORK/a.sock -j show | jq -e '.interfaces[0] | .name == \"vxlan0\" and .kind == \"vxlan\" and .tunnel and .xdp_mode == \"generic\" and .zerocopy == false and .mtu == 1450'"
check "show's text says so" \
	bash -c "$B/flipswitchctl -s $WORK/a.sock show | grep -E '^vxlan0 .* generic +copy .* 1450  vxlan tunnel$'"
check "fdb: any other MAC goes to the tunnel vxlan0" \
	bash -c "$B/flipswitchctl -s $WORK/a.sock fdb | grep -E '^any other +- +vxlan0 +tunnel +mtu 1450, from a1,a2$'"

# The underlay, captured from here to the end: no IP fragment may cross.
ip netns exec "$NS_B" tcpdump -i "$IF_PEER" --immediate-mode -U -s 128 -w "$WORK/underlay.pcap" >/dev/null 2>"$WORK/tcpdump.err" &
BG_PIDS+=($!)
TCPDUMP=$!
for _ in $(seq 100); do grep -q listening "$WORK/tcpdump.err" && break; sleep 0.05; done

check "the hosts' own traffic over vxlan0 (ping A -> B)" \
	ip netns exec "$NS_A" ping -c 3 -i 0.2 -W 2 192.168.99.2
check "the hosts' own traffic over vxlan0 (ping B -> A)" \
	ip netns exec "$NS_B" ping -c 3 -i 0.2 -W 2 192.168.99.1

# guest_on LOG NAME OUTFILE ARGS...: a guest of VM NAME in the background
# (pid in LAST_BG), once its switch (logging to LOG) says it attached.
guest_on() {
	local pool=$SHM-pool
	[ "$1" = "$LOG_B" ] && pool=$SHM-bpool
	POOL_FILE=$pool attached_bg "$1" "$2" "$3" guest "$2" "${@:4}"
}
send_a() { POOL_FILE=$SHM-pool guest "$@" >/dev/null 2>&1; }
send_b() { POOL_FILE=$SHM-bpool guest "$@" >/dev/null 2>&1; }

# --- unicast across the tunnel, both ways
guest_on "$LOG_B" b1 "$WORK/b1.out" rx --count "$N" --timeout 10 --pcap "$WORK/ab.rx.pcap"
p=$LAST_BG
send_a a1 tx --dst "$B1" --count "$N" --size 300 --pcap "$WORK/ab.tx.pcap"
wait "$p"
check "a1 (host A) -> b1 (host B): $N frames byte for byte" \
	"$B/fs-pkt" cmp "$WORK/ab.tx.pcap" "$WORK/ab.rx.pcap"
guest_on "$DAEMON_LOG" a2 "$WORK/a2.out" rx --count "$N" --timeout 10 --pcap "$WORK/ba.rx.pcap"
p=$LAST_BG
send_b b2 tx --dst "$A2" --count "$N" --size 1000 --pcap "$WORK/ba.tx.pcap"
wait "$p"
check "b2 (host B) -> a2 (host A): $N frames byte for byte" \
	"$B/fs-pkt" cmp "$WORK/ba.tx.pcap" "$WORK/ba.rx.pcap"

# --- broadcast from a1 reaches a2 (by the switch), b1 and b2 (by the tunnel)
guest_on "$DAEMON_LOG" a2 "$WORK/bc-a2.out" rx --count "$N" --timeout 10 --pcap "$WORK/bc-a2.pcap"
pa=$LAST_BG
guest_on "$LOG_B" b1 "$WORK/bc-b1.out" rx --count "$N" --timeout 10 --pcap "$WORK/bc-b1.pcap"
pb1=$LAST_BG
guest_on "$LOG_B" b2 "$WORK/bc-b2.out" rx --count "$N" --timeout 10 --pcap "$WORK/bc-b2.pcap"
pb2=$LAST_BG
send_a a1 tx --dst ff:ff:ff:ff:ff:ff --count "$N" --size 200 --pcap "$WORK/bc.tx.pcap"
wait "$pa" "$pb1" "$pb2"
for vm in a2 b1 b2; do
	check "broadcast from a1 reaches $vm byte for byte" \
		"$B/fs-pkt" cmp "$WORK/bc.tx.pcap" "$WORK/bc-$vm.pcap"
done

# --- the tunnel's MTU: 1465 bytes (1450 + 15) dropped, 1464 arrive
report
before=$(counter "port vxlan0:" too_big)
guest_on "$LOG_B" b1 "$WORK/mtu.out" rx --count 1 --timeout 10 --pcap "$WORK/mtu.rx.pcap"
p=$LAST_BG
send_a a1 tx --dst "$B1" --count 1 --size 1465
send_a a1 tx --dst "$B1" --count 1 --size 1464 --pcap "$WORK/mtu.tx.pcap"
wait "$p"
check "a frame at vxlan0's MTU (1464 bytes) arrives byte for byte; the 1465-byte one sent before it does not" \
	"$B/fs-pkt" cmp "$WORK/mtu.tx.pcap" "$WORK/mtu.rx.pcap"
report
after=$(counter "port vxlan0:" too_big)
check "the 1465-byte frame is counted too_big on host A ($before -> $after)" \
	test "$((after - before))" -eq 1

sleep 0.3
kill -INT "$TCPDUMP" 2>/dev/null
wait "$TCPDUMP" 2>/dev/null
check "the underlay carried the frame at the MTU in one 1514-byte packet" \
	bash -c "tcpdump -r $WORK/underlay.pcap -nn -e 'udp port 4789 and greater 1514 and less 1514' 2>/dev/null | grep -q 'length 1514'"
check "the underlay carried no IP fragment" \
	bash -c "[ \"\$(tcpdump -r $WORK/underlay.pcap -nn 'ip[6:2] & 0x3fff != 0' 2>/dev/null | wc -l)\" -eq 0 ]"

sleep 0.2
check "host A: frame ownership audit: counts sum to the pool size" frames_ok
check "host A: SIGTERM stops the daemon with status 0" stop_daemon
check "host B: SIGTERM stops the daemon with status 0" stop_b
check "host B: no sanitizer report in its log" \
	bash -c "! grep -E 'runtime error:|ERROR: (Address|Leak)Sanitizer' $LOG_B"
check "host B: its exit report has every frame back" \
	bash -c "grep 'frames: ' $LOG_B | tail -1 | grep -q 'switch 4096.*: ok$'"
