#!/usr/bin/env bash
# The data path end to end, on real frames through a veth pair: peer
# namespace -> XDP -> AF_XDP -> switch -> guest rings, and back.
#
# Three VMs: web1 and web2 untagged, vl10 on VLAN 10. Each case checks the
# exact bytes (pcaps compared frame by frame) and counts, and afterwards
# that every frame is accounted for and the guests' frames came back.
. "$(dirname "$0")/lib.sh"
require_root datapath

VM1=52:54:00:00:00:01
VM2=52:54:00:00:00:02
VM3=52:54:00:00:00:03
N=64

bed_up || { not_ok "test-bed"; exit 1; }
write_config "$WORK/fs.conf" "web1 $VM1" "web2 $VM2" "vl10 $VM3 512 10"
if ! start_daemon "$WORK/fs.conf"; then
	not_ok "daemon starts and logs ready"
	exit 1
fi
ok "daemon starts and logs ready"
check "XDP program attached to $IF_SW" \
	bash -c "ip -n $NS_SW link show $IF_SW | grep -q xdp"

# The host keeps its network: ARP (broadcast) and unicast IP to the
# switch-side interface still reach its stack.
ip -n "$NS_SW" addr add 192.0.2.1/24 dev "$IF_SW"
ip -n "$NS_PEER" addr add 192.0.2.2/24 dev "$IF_PEER"
check "host stack still reachable through the XDP program (ping)" \
	peer ping -c 3 -i 0.2 -W 2 192.0.2.1

send() { # send DST PCAP [ARGS...]: N frames from the peer namespace
	local dst=$1 pcap=$2
	shift 2
	peer "$B/fs-pkt" send -i "$IF_PEER" --dst "$dst" --count "$N" --size 200 -w "$pcap" "$@" >/dev/null
}

# --- unicast to each VM, byte for byte
for vm in "web1 $VM1" "web2 $VM2"; do
	set -- $vm
	guest_bg "$1" "$WORK/$1.out" rx --count "$N" --timeout 10 --pcap "$WORK/$1.rx.pcap"
	pid=$LAST_BG
	send "$2" "$WORK/$1.tx.pcap" --seed 1
	wait "$pid"
	check "unicast from the NIC reaches $1, $N frames byte for byte" \
		"$B/fs-pkt" cmp "$WORK/$1.tx.pcap" "$WORK/$1.rx.pcap"
done

# --- broadcast to every VM (on the untagged VLAN), byte for byte
guest_bg web1 "$WORK/b1.out" rx --count "$N" --timeout 10 --pcap "$WORK/b1.pcap"
p1=$LAST_BG
guest_bg web2 "$WORK/b2.out" rx --count "$N" --timeout 10 --pcap "$WORK/b2.pcap"
p2=$LAST_BG
send ff:ff:ff:ff:ff:ff "$WORK/bcast.pcap" --seed 2
wait "$p1" "$p2"
check "broadcast from the NIC reaches web1 byte for byte" \
	"$B/fs-pkt" cmp "$WORK/bcast.pcap" "$WORK/b1.pcap"
check "broadcast from the NIC reaches web2 byte for byte" \
	"$B/fs-pkt" cmp "$WORK/bcast.pcap" "$WORK/b2.pcap"

# --- unknown unicast reaches no VM (and goes to the host stack)
report
before=$(counter "port $IF_SW:" pass_other)
guest_bg web1 "$WORK/u1.out" rx --timeout 2 --pcap "$WORK/u1.pcap"
p1=$LAST_BG
guest_bg web2 "$WORK/u2.out" rx --timeout 2 --pcap "$WORK/u2.pcap"
p2=$LAST_BG
send 52:54:00:99:99:99 "$WORK/unknown.pcap" --seed 3
wait "$p1" "$p2"
report
after=$(counter "port $IF_SW:" pass_other)
check "unknown unicast reaches no VM" \
	bash -c "grep -qx 'received 0' $WORK/u1.out && grep -qx 'received 0' $WORK/u2.out"
check "unknown unicast is passed to the host stack ($N more pass_other)" \
	test "$((after - before))" -ge "$N"

# --- guest -> peer namespace
peer_recv "$N" "$VM1" "$WORK/g2p.rx.pcap"
rpid=$LAST_RECV
guest web1 tx --dst "$PEER_MAC" --count "$N" --size 300 --pcap "$WORK/g2p.tx.pcap" >/dev/null 2>&1
wait "$rpid"
check "guest web1 -> peer namespace, $N frames byte for byte" \
	"$B/fs-pkt" cmp "$WORK/g2p.tx.pcap" "$WORK/g2p.rx.pcap"

# --- guest -> guest, zero-copy
guest_bg web2 "$WORK/gg.out" rx --count "$N" --timeout 10 --pcap "$WORK/gg.rx.pcap"
p2=$LAST_BG
report
v2v_before=$(echo "$REPORT" | grep "switch: copies" | tail -1 | sed 's/.*vm-to-vm \([0-9]*\).*/\1/')
guest web1 tx --dst "$VM2" --count "$N" --size 500 --pcap "$WORK/gg.tx.pcap" >/dev/null 2>&1
wait "$p2"
check "guest web1 -> guest web2, $N frames byte for byte" \
	"$B/fs-pkt" cmp "$WORK/gg.tx.pcap" "$WORK/gg.rx.pcap"
report
v2v_after=$(echo "$REPORT" | grep "switch: copies" | tail -1 | sed 's/.*vm-to-vm \([0-9]*\).*/\1/')
check "guest -> guest went by hand-off, not copy ($N vm-to-vm)" \
	test "$((v2v_after - v2v_before))" -eq "$N"

# --- echo round trip: peer -> web2 -> peer, MACs swapped, same frame
guest_bg web2 "$WORK/echo.out" echo --count "$N" --timeout 10
p2=$LAST_BG
peer_recv "$N" "$VM2" "$WORK/echo.rx.pcap"
rpid=$LAST_RECV
peer "$B/fs-pkt" send -i "$IF_PEER" --dst "$VM2" --src "$PEER_MAC" --count "$N" --size 200 --seed 4 -w "$WORK/echo.tx.pcap" >/dev/null
wait "$p2" "$rpid"
check "echo round trip through web2, $N frames back with MACs swapped" \
	"$B/fs-pkt" cmp --swap-mac "$WORK/echo.tx.pcap" "$WORK/echo.rx.pcap"

# --- VLAN 10 access port: tagged on the wire, untagged in the guest
guest_bg vl10 "$WORK/v.out" rx --count "$N" --timeout 10 --pcap "$WORK/vlan.rx.pcap"
p3=$LAST_BG
send "$VM3" "$WORK/vlan.tx.pcap" --vlan 10 --seed 5
wait "$p3"
check "VLAN 10 frames reach the VLAN 10 VM untagged, byte for byte" \
	"$B/fs-pkt" cmp --strip-vlan "$WORK/vlan.tx.pcap" "$WORK/vlan.rx.pcap"
guest_bg web1 "$WORK/v1.out" rx --timeout 2
p1=$LAST_BG
send "$VM1" "$WORK/vlan-wrong.pcap" --vlan 10 --seed 6
wait "$p1"
check "a VM's MAC on another VLAN does not reach it" grep -qx "received 0" "$WORK/v1.out"
peer_recv "$N" "$VM3" "$WORK/vlan.back.pcap"
rpid=$LAST_RECV
guest vl10 tx --dst "$PEER_MAC" --count "$N" --size 200 --pcap "$WORK/vlan.sent.pcap" >/dev/null 2>&1
wait "$rpid"
check "frames from the VLAN 10 VM leave the NIC tagged with VLAN 10" \
	"$B/fs-pkt" cmp --strip-vlan "$WORK/vlan.back.pcap" "$WORK/vlan.sent.pcap"

# --- every frame accounted for, every guest frame back
sleep 0.2
check "frame ownership audit: counts sum to the pool size" frames_ok
for vm in web1 web2 vl10; do
	check "vm $vm holds no frame once its guest has gone" vm_holds "$vm" 0
done
check "no bad descriptor counted" \
	bash -c "! echo \"\$0\" | grep 'vm ' | grep -E 'bad_[a-z_]*=[1-9]'" "$REPORT"

# --- shutdown: program detached, files removed, exit report balanced
check "SIGTERM stops the daemon with status 0" stop_daemon
check "exit report: every frame back in the pool" \
	bash -c "grep 'frames: ' $DAEMON_LOG | tail -1 | grep -q 'switch 4096.*: ok$'"
check "XDP program detached on exit" \
	bash -c "! ip -n $NS_SW link show $IF_SW | grep -q xdp"
check "pool and ring files removed on exit" \
	bash -c "! ls $SHM-* 2>/dev/null | grep -q ."
