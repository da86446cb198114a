#!/usr/bin/env bash
# A broadcast storm (issue 18): web1's guest floods broadcast as fast as it
# can for a few seconds while web2's guest receives unicast from the wire.
# web1's flood_rate (1000 frames/s, bursts of 100) lets through at most
# what the token bucket allows, and counts the rest flood_limited; web2's
# unicast arrives byte for byte and none of its frames is dropped; the
# broadcasts web2 did get are no more than the bucket let through.
. "$(dirname "$0")/lib.sh"
require_root storm

VM1=52:54:00:00:00:01
VM2=52:54:00:00:00:02
RATE=1000
BURST=100
STORM_SECS=4
N=4000

bed_up || { not_ok "test-bed"; exit 1; }
write_config "$WORK/fs.conf" "web1 $VM1" "web2 $VM2"
sed -i "s/{ name = \"web1\";/{ name = \"web1\"; flood_rate = $RATE; flood_burst = $BURST;/" "$WORK/fs.conf"
start_daemon "$WORK/fs.conf" || { not_ok "daemon starts"; exit 1; }
ctl() { "$B/flipswitchctl" -s "$WORK/ctl.sock" "$@"; }

# web2 receives everything for the storm's length and a little more.
guest_bg web2 "$WORK/r2.out" rx --timeout $((STORM_SECS + 3)) --pcap "$WORK/r2.pcap"
g2=$LAST_BG
ctl stats --clear >/dev/null
t0=$(date +%s.%N)
guest web1 tx --dst ff:ff:ff:ff:ff:ff --count 1000000000 --timeout "$STORM_SECS" >"$WORK/storm.out" 2>&1 &
storm=$!
BG_PIDS+=($storm)
sleep 0.5
# The unicast, 4000 frames at 4000/s, in the storm's middle.
peer "$B/fs-pkt" send -i "$IF_PEER" --dst "$VM2" --count "$N" --interval-us 250 -w "$WORK/s2.pcap" >/dev/null
wait "$storm"
t1=$(date +%s.%N)
wait "$g2"
ctl -j stats >"$WORK/stats.json"
sent=$(sed -n 's/^sent \([0-9]*\)$/\1/p' "$WORK/storm.out")
echo "# storm: $(cat "$WORK/storm.out"), $(jq -c '.ports[] | select(.name == "web1") | {tx_packets, flood_limited: .drops.flood_limited}' "$WORK/stats.json")"
# What the bucket lets through in the storm's time: the burst, then the rate.
allowed=$(awk -v a="$t0" -v b="$t1" -v r=$RATE -v bu=$BURST 'BEGIN { printf "%d", bu + r * (b - a + 0.5) }')

check "the storm was one: web1's guest sent $((RATE * 10)) or more broadcasts (${sent:-none})" \
	test "${sent:-0}" -ge $((RATE * 10))
check "web1: every frame it sent taken in (tx_packets = sent)" \
	jq -e ".ports[] | select(.name == \"web1\") | .tx_packets == ${sent:-0}" "$WORK/stats.json"
check "web1: flood_limited counts all but at most $allowed of them" \
	jq -e ".ports[] | select(.name == \"web1\") | .drops.flood_limited >= ${sent:-0} - $allowed and .drops.flood_limited > 0" "$WORK/stats.json"
# web2's pcap: the wire's unicast (from the peer) and the broadcasts let through.
tcpdump -nr "$WORK/r2.pcap" -w "$WORK/r2-uni.pcap" "ether src $PEER_MAC" 2>/dev/null
bcast=$(tcpdump -nr "$WORK/r2.pcap" "ether src $VM1 and ether broadcast" 2>/dev/null | grep -c "^[0-9]")
check "web2's unicast from the wire arrives byte for byte, all $N" \
	"$B/fs-pkt" cmp "$WORK/s2.pcap" "$WORK/r2-uni.pcap"
check "web2 got at most the $allowed broadcasts the bucket allows ($bcast)" \
	test "$bcast" -gt 0 -a "$bcast" -le "$allowed"
check "web2: no frame dropped" \
	jq -e '.ports[] | select(.name == "web2") | .drops | all(. == 0)' "$WORK/stats.json"
check "frame ownership audit: counts sum to the pool size" frames_ok
