#!/usr/bin/env bash
# Port security on real frames: what a guest sends reaches the wire only
# with its own source MAC (or one of its allowed_macs), and with the VLAN
# tag the switch gave it. Captured on the peer end of the veth pair.
. "$(dirname "$0")/lib.sh"
require_root security

VM1=52:54:00:00:00:01
VM2=52:54:00:00:00:02
VM3=52:54:00:00:00:03
EXTRA=52:54:00:00:0a:01
N=64

bed_up || { not_ok "test-bed"; exit 1; }
write_config "$WORK/fs.conf" "web1 $VM1 512 0 $EXTRA" "web2 $VM2" "vl10 $VM3 512 10"
if ! start_daemon "$WORK/fs.conf"; then
	not_ok "daemon starts and logs ready"
	exit 1
fi
ok "daemon starts and logs ready"
SOCK=$WORK/ctl.sock
drops() { # drops VM REASON: the VM's drop counter
	"$B/flipswitchctl" -s "$SOCK" -j stats "$1" | jq -r ".ports[0].drops.$2"
}

check "show lists web1's allowed_macs" \
	bash -c "$B/flipswitchctl -s $SOCK -j show | jq -e '.vms[0].allowed_macs == [\"$EXTRA\"] and .vms[1].allowed_macs == []'"

# --- another VM's source MAC: nothing reaches the wire, each counted
# peer_quiet SRC PCAP: listens in the peer namespace for 2 s to frames
# from SRC (a frame let through is there in well under that).
peer_quiet() {
	peer "$B/fs-pkt" recv -i "$IF_PEER" --timeout 2 --src "$1" -w "$2" >"$2.out" &
	BG_PIDS+=($!)
	LAST_RECV=$!
	for _ in $(seq 100); do grep -q ready "$2.out" && break; sleep 0.05; done
}
peer_quiet "$VM2" "$WORK/spoof.rx.pcap"
rpid=$LAST_RECV
guest web1 tx --dst "$PEER_MAC" --src "$VM2" --count "$N" --size 200 >/dev/null 2>&1
wait "$rpid"
check "frames from web1 with web2's source MAC: none on the wire" \
	test "$("$B/fs-pkt" count "$WORK/spoof.rx.pcap")" -eq 0
check "each of them counted spoofed ($N)" test "$(drops web1 spoofed)" -eq "$N"
check "spoofed in the Prometheus drops of web1" \
	bash -c "$B/flipswitchctl -s $SOCK stats --prometheus | grep -qx 'flipswitch_drops_total{port=\"web1\",reason=\"spoofed\"} $N'"

# --- its own MAC, and its allowed one: these leave, byte for byte
for src in "$VM1" "$EXTRA"; do
	peer_recv "$N" "$src" "$WORK/own.rx.pcap"
	rpid=$LAST_RECV
	guest web1 tx --dst "$PEER_MAC" --src "$src" --count "$N" --size 300 --pcap "$WORK/own.tx.pcap" >/dev/null 2>&1
	wait "$rpid"
	check "frames from web1 with source $src reach the wire byte for byte" \
		"$B/fs-pkt" cmp "$WORK/own.tx.pcap" "$WORK/own.rx.pcap"
done
check "still $N spoofed: none of those counted" test "$(drops web1 spoofed)" -eq "$N"

# --- what the switch decided cannot be changed after: a guest on VLAN 10
# whose second thread keeps rewriting the source MAC and the tag of its
# frames while they are queued (where they are, and where a tag pushed in
# place would move them). A capture on the wire never shows a frame of
# it with another source or on another VLAN; those it rewrote before the
# switch read them are dropped, counted spoofed or tagged.
check "headers to the wire are chained from the private tail (multi-buffer)" \
	grep -q "headers to the wire chained" "$DAEMON_LOG"
RACE_N=${RACE_N:-20000}
peer timeout 15 tcpdump -B 32768 -i "$IF_PEER" -nn -w "$WORK/race.pcap" ether src "$VM3" or ether src "$VM1" \
	>/dev/null 2>"$WORK/race.tcpdump" &
tpid=$!
BG_PIDS+=($tpid)
for _ in $(seq 100); do grep -q listening "$WORK/race.tcpdump" && break; sleep 0.05; done
guest vl10 tx --dst "$PEER_MAC" --count "$RACE_N" --size 200 --tamper "$VM1" --timeout 20 \
	>"$WORK/race.out" 2>&1
sleep 0.5
kill -INT "$tpid" 2>/dev/null
wait "$tpid" 2>/dev/null
# One line a frame (tcpdump adds a hex dump for an unknown ethertype).
tcpdump -r "$WORK/race.pcap" -e -nn 2>/dev/null | grep "^[0-9][0-9]:" >"$WORK/race.txt"
# Its destination and its ethertype are the guest's to choose (a rewrite
# the switch read whole or in part is just another destination, or
# another ethertype): the source and the VLAN are the switch's, and no
# tag of the guest's own follows the switch's.
good=$(grep "^[0-9:.]* $VM3 > [0-9a-f:]*, ethertype 802.1Q (0x8100), length [0-9]*: vlan 10, p 0, ethertype " "$WORK/race.txt" |
	grep -Evc "vlan 10, p 0, ethertype (802\.1Q|802\.1Q-QinQ|802\.1Q-9100|0x8100|0x88a8|0x9100)[ ,]")
all=$(wc -l <"$WORK/race.txt")
echo "# race: $all frames of vl10 on the wire, $good as the switch decided; spoofed $(drops vl10 spoofed), tagged $(drops vl10 tagged)"
check "racing guest: its frames reach the wire ($good)" test "$good" -gt 0
check "racing guest: every frame on the wire has its MAC and VLAN 10" test "$all" -eq "$good"
# No frame on the wire that it did not send, none twice. (Not an exact
# sum: under load the tx ring or the peer's backlog may drop some.)
check "racing guest: on the wire + dropped as spoofed or tagged <= sent" \
	test "$(( good + $(drops vl10 spoofed) + $(drops vl10 tagged) ))" -le "$RACE_N"

# --- every frame accounted for
sleep 0.2
check "frame ownership audit: counts sum to the pool size" frames_ok
check "SIGTERM stops the daemon with status 0" stop_daemon

# --- steer = "ntuple" where the NIC cannot steer (veth has no ntuple
# filters): the daemon refuses to start, says why, leaves nothing attached
sed 's/xdp_mode = \("[a-z]*"\);/xdp_mode = \1; steer = "ntuple";/' "$WORK/fs.conf" >"$WORK/steer.conf"
ip netns exec "$NS_SW" timeout 20 "$B/flipswitchd" -c "$WORK/steer.conf" 2>"$WORK/steer.log"
check "steer = ntuple on a veth: the daemon refuses to start" test $? -ne 0
check "and says why (the NIC refuses the rule; veth has none)" \
	grep -q "refuses a flow steering rule for $VM1 vlan 0 to queue 0: Operation not supported (steer = \"ntuple\" needs a NIC with ntuple filters" "$WORK/steer.log"
check "and leaves no XDP program attached" \
	bash -c "! ip -n $NS_SW link show $IF_SW | grep -q xdp"
check "and no pool or ring file behind" \
	bash -c "! ls $SHM-* 2>/dev/null | grep -q ."
check "and no record of rules (trail) behind" \
	bash -c "! ls $WORK/ctl.sock.steer-* 2>/dev/null | grep -q ."
exit $((FAILS > 0))
