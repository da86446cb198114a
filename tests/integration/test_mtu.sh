#!/usr/bin/env bash
# MTU: the switch reads its interface's MTU at start and follows it at run
# time (rtnetlink link events); a guest's frame longer than the MTU + 14
# (its Ethernet header; a VLAN tag the switch pushes is not counted) is
# dropped and counted too_big, never sent; a frame at the limit goes out;
# show and the guest's ring header (the guest prints it when it attaches)
# say the MTU.
#
# Each "one over" case sends the frame one byte over the limit first and
# the one at it second, and the peer takes the first frame from the VM: if
# the long one left, it is what the peer gets (the veth takes up to
# MTU + 18), and the byte-for-byte comparison fails.
. "$(dirname "$0")/lib.sh"
require_root mtu

VM1=52:54:00:00:0a:01
VM2=52:54:00:00:0a:02
SOCK=$WORK/ctl.sock

bed_up || { not_ok "test-bed"; exit 1; }
write_config "$WORK/fs.conf" "web1 $VM1" "vl10 $VM2 512 10"
if ! start_daemon "$WORK/fs.conf"; then
	not_ok "daemon starts and logs ready"
	exit 1
fi
ok "daemon starts and logs ready"
ctl() { "$B/flipswitchctl" -s "$SOCK" "$@"; }

check "the daemon read $IF_SW's mtu (1500) and kind (veth) at start" \
	grep -q "port $IF_SW: mtu 1500, kind veth$" "$DAEMON_LOG"
check "show lists the mtu and the kind" \
	bash -c "$B/flipswitchctl -s $SOCK -j show | jq -e '.interfaces[0] | .mtu == 1500 and .kind == \"veth\" and .tunnel == false'"
check "show's text has an MTU column" \
	bash -c "$B/flipswitchctl -s $SOCK show | grep -E '^$IF_SW .* 1500  veth$'"

too_big() { report >/dev/null && counter "port $IF_SW:" too_big; }

# over_then_at VM LIMIT NAME: VM sends LIMIT + 1 bytes, then LIMIT bytes;
# the peer must get the second, byte for byte.
over_then_at() {
	local vm=$1 limit=$2 name=$3 src
	src=$([ "$vm" = web1 ] && echo "$VM1" || echo "$VM2")
	peer_recv 1 "$src" "$WORK/$name.rx.pcap"
	local rpid=$LAST_RECV
	guest "$vm" tx --dst "$PEER_MAC" --count 1 --size $((limit + 1)) >"$WORK/$name.over.out" 2>&1
	guest "$vm" tx --dst "$PEER_MAC" --count 1 --size "$limit" --pcap "$WORK/$name.tx.pcap" >"$WORK/$name.at.out" 2>&1
	wait "$rpid"
}

before=$(too_big)
over_then_at web1 1514 m1500
check "a 1514-byte frame (mtu 1500 + 14) leaves, byte for byte; the 1515-byte one before it does not" \
	"$B/fs-pkt" cmp "$WORK/m1500.tx.pcap" "$WORK/m1500.rx.pcap"
check "the guest read the uplink's mtu from its ring header" \
	grep -q "uplink mtu 1500$" "$WORK/m1500.at.out"
after=$(too_big)
check "the 1515-byte frame is counted too_big (1 more: $before -> $after)" \
	test "$((after - before))" -eq 1

# A VLAN VM's 1514 bytes leave as 1518 with its tag: the tag is the
# switch's, not counted against the MTU.
before=$after
peer_recv 1 "$VM2" "$WORK/tag.rx.pcap"
rpid=$LAST_RECV
guest vl10 tx --dst "$PEER_MAC" --count 1 --size 1514 --pcap "$WORK/tag.tx.pcap" >/dev/null 2>&1
wait "$rpid"
check "a VLAN VM's 1514-byte frame leaves tagged (1518 bytes), byte for byte" \
	"$B/fs-pkt" cmp --strip-vlan "$WORK/tag.rx.pcap" "$WORK/tag.tx.pcap"
check "no too_big for it" test "$(too_big)" -eq "$before"

# --- the MTU changes at run time: followed, no restart
ip -n "$NS_SW" link set "$IF_SW" mtu 1400
check "the daemon saw the change (link event)" wait_log "port $IF_SW: mtu 1500 -> 1400" 5
check "show lists the new mtu" \
	bash -c "$B/flipswitchctl -s $SOCK -j show | jq -e '.interfaces[0].mtu == 1400'"
check "flipswitchctl fdb: any other MAC goes to the uplink $IF_SW, mtu 1400" \
	bash -c "$B/flipswitchctl -s $SOCK fdb | grep -E '^any other +- +$IF_SW +uplink +mtu 1400, from web1,vl10$'"
before=$(too_big)
over_then_at web1 1414 m1400
check "after the change, 1414 bytes leave byte for byte and 1415 do not" \
	"$B/fs-pkt" cmp "$WORK/m1400.tx.pcap" "$WORK/m1400.rx.pcap"
check "a guest attaching now reads mtu 1400" \
	grep -q "uplink mtu 1400$" "$WORK/m1400.at.out"
after=$(too_big)
check "the 1415-byte frame is counted too_big (1 more: $before -> $after)" \
	test "$((after - before))" -eq 1

# Back at 1500, followed again: a frame at the MTU from the wire reaches
# a VM.
guest_bg web1 "$WORK/v2v.out" rx --count 1 --timeout 10 --pcap "$WORK/v2v.rx.pcap"
p1=$LAST_BG
ip -n "$NS_SW" link set "$IF_SW" mtu 1500
wait_log "port $IF_SW: mtu 1400 -> 1500" 5 >/dev/null
peer "$B/fs-pkt" send -i "$IF_PEER" --dst "$VM1" --count 1 --size 1514 -w "$WORK/v2v.tx.pcap" >/dev/null
wait "$p1"
check "back at 1500, a 1514-byte frame from the wire reaches web1 byte for byte" \
	"$B/fs-pkt" cmp "$WORK/v2v.tx.pcap" "$WORK/v2v.rx.pcap"

sleep 0.2
check "frame ownership audit: counts sum to the pool size" frames_ok
check "SIGTERM stops the daemon with status 0" stop_daemon
