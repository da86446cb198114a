#!/usr/bin/env bash
# A doorbell storm (issue 18): web1's guest rings the switch's doorbell as
# fast as it can for a few seconds (flipswitch-guest storm, the eventfd
# writes QEMU makes of a guest's Doorbell register writes), while web2's
# guest, on its own doorbell, receives unicast from the wire. web1's rings
# are all counted and coalesced (rings, rings_coalesced, bell_storm); the
# worker is woken by bells no more often than once per doorbell_usecs
# (a count: the wake-ups by bells over the storm's seconds, against the
# bound that doorbell_usecs gives, web2's own rings added); web2's unicast arrives byte for byte, none of its
# frames dropped.
. "$(dirname "$0")/lib.sh"
require_root ringstorm

VM1=52:54:00:00:00:01
VM2=52:54:00:00:00:02
USECS=1000
STORM_SECS=3
N=2000

bed_up || { not_ok "test-bed"; exit 1; }
write_config "$WORK/fs.conf" "web1 $VM1" "web2 $VM2"
echo "doorbell_usecs = $USECS;" >>"$WORK/fs.conf"
start_daemon "$WORK/fs.conf" || { not_ok "daemon starts"; exit 1; }
ctl() { "$B/flipswitchctl" -s "$WORK/ctl.sock" "$@"; }
dguest() { # dguest NAME ARGS...: a guest on VM NAME's doorbell
	local name=$1
	shift
	"$B/flipswitch-guest" --pool "$SHM-pool" --doorbell "$WORK/$name.doorbell" "$@"
}

# web2 receives everything for the storm's length and a little more.
n=$(grep -c "vm web2: guest attached" "$DAEMON_LOG")
dguest web2 rx --timeout $((STORM_SECS + 4)) --pcap "$WORK/r2.pcap" >"$WORK/r2.out" 2>&1 &
g2=$!
BG_PIDS+=($g2)
wait_log "vm web2: guest attached" 10 $((n + 1)) >/dev/null
n=$(grep -c "vm web1: guest attached" "$DAEMON_LOG")
dguest web1 storm --timeout "$STORM_SECS" >"$WORK/storm.out" 2>&1 &
storm=$!
BG_PIDS+=($storm)
wait_log "vm web1: guest attached" 10 $((n + 1)) >/dev/null
ctl -j stats >"$WORK/s0.json"
sleep 0.3
# The unicast, 2000 frames at 4000/s, in the storm's middle.
peer "$B/fs-pkt" send -i "$IF_PEER" --dst "$VM2" --count "$N" --interval-us 250 -w "$WORK/s2.pcap" >/dev/null
wait "$storm"
# What the storm's last rings woke before its guest left.
ctl -j stats >"$WORK/s1.json"
wait "$g2"
rang=$(sed -n 's/^rang \([0-9]*\)$/\1/p' "$WORK/storm.out")
# Its rings in all: the storm's, and those of its attach and detach.
total=$(sed -n 's/.*rang the switch \([0-9]*\) times.*/\1/p' "$WORK/storm.out")
web1() { jq ".ports[] | select(.name == \"web1\") | .$1" "$WORK/s1.json"; }
secs=$(jq -n --slurpfile a "$WORK/s0.json" --slurpfile b "$WORK/s1.json" '$b[0].time - $a[0].time')
woken=$(jq -n --slurpfile a "$WORK/s0.json" --slurpfile b "$WORK/s1.json" '$b[0].switch.doorbell_wakeups - $a[0].switch.doorbell_wakeups')
slept=$(jq -n --slurpfile a "$WORK/s0.json" --slurpfile b "$WORK/s1.json" '$b[0].switch.sleeps - $a[0].switch.sleeps')
web2_rings=$(jq -n --slurpfile a "$WORK/s0.json" --slurpfile b "$WORK/s1.json" \
	'[$b[0], $a[0]] | map(.ports[] | select(.name == "web2") | .rings) | .[0] - .[1]')
# web1's bell wakes the worker at most once per doorbell_usecs (after each
# wake-up it is not waited on for that long, or longer), web2's at most
# once a ring; the wire's wake-ups are not bells.
bound=$(awk -v s="$secs" -v u=$USECS -v r="$web2_rings" 'BEGIN { printf "%d", s * 1e6 / u + 1 + r }')
echo "# storm: rang ${total:-?} times in ${secs} s; web1: rings $(web1 rings), coalesced $(web1 rings_coalesced), bell_storm $(web1 bell_storm); the worker slept $slept times, $woken woken by bells (bound $bound)"

check "the storm was one: web1's guest rang 20000 times or more (${rang:-none})" \
	test "${rang:-0}" -ge 20000
# All but those of the last quiet time, if its guest left before they
# were read (1 %: a quiet time is 1 ms at most).
check "web1: its rings counted, none twice ($(web1 rings) of ${total:-none}, over 99 %)" \
	test "$(web1 rings)" -le "${total:-0}" -a "$(web1 rings)" -ge $((${total:-1} * 99 / 100))
check "web1: rings_coalesced counts all but the wake-ups (over 90 % of its rings)" \
	test "$(web1 rings_coalesced)" -ge $(($(web1 rings) * 9 / 10))
check "web1: bell_storm counts rings that brought no work" \
	test "$(web1 bell_storm)" -gt 0
check "the worker woken by bells at most $bound times in ${secs} s ($woken)" \
	test "$woken" -le "$bound"
# web2's pcap: the wire's unicast (from the peer).
tcpdump -nr "$WORK/r2.pcap" -w "$WORK/r2-uni.pcap" "ether src $PEER_MAC" 2>/dev/null
check "web2's unicast from the wire arrives byte for byte, all $N" \
	"$B/fs-pkt" cmp "$WORK/s2.pcap" "$WORK/r2-uni.pcap"
check "web2: no frame dropped" \
	jq -e '.ports[] | select(.name == "web2") | .drops | all(. == 0)' "$WORK/s1.json"
check "frame ownership audit: counts sum to the pool size" frames_ok
