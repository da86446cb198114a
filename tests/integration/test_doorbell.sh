#!/usr/bin/env bash
# Doorbells on the host: flipswitch-guest --doorbell speaks QEMU's
# ivshmem-doorbell side of the protocol to the daemon's per-VM socket, so
# the same code paths run as with a QEMU guest, minus QEMU. An idle guest
# and an idle switch sleep; a burst wakes both; the switch's and the
# guest's CPU time while idle is measured and reported. A guest killed on
# its doorbell has its frames back within 100 ms.
. "$(dirname "$0")/lib.sh"
require_root doorbell

VM1=52:54:00:00:00:01
VM2=52:54:00:00:00:02

bed_up || { not_ok "test-bed"; exit 1; }
write_config "$WORK/fs.conf" "web1 $VM1" "web2 $VM2"
start_daemon "$WORK/fs.conf" || { not_ok "daemon starts"; exit 1; }
DB1=$WORK/web1.doorbell
DB2=$WORK/web2.doorbell
check "each VM gets a doorbell socket next to the control socket" \
	test -S "$DB1" -a -S "$DB2"

dguest() { # dguest NAME ARGS...: a guest on VM NAME's doorbell socket
	local name=$1
	shift
	"$B/flipswitch-guest" --pool "$SHM-pool" --doorbell "$WORK/$name.doorbell" "$@"
}
# dguest_bg NAME OUT ARGS...: the same in the background; DG is its PID
# (the guest's own, to kill it).
dguest_bg() {
	local name=$1 out=$2
	shift 2
	"$B/flipswitch-guest" --pool "$SHM-pool" --doorbell "$WORK/$name.doorbell" "$@" >"$out" 2>&1 &
	DG=$!
	BG_PIDS+=($DG)
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
stat_of() { "$B/flipswitchctl" -s "$WORK/ctl.sock" -j stats | jq "$1"; }

# --- a guest on the doorbell, idle, then a burst
n=$(grep -c "vm web1: guest attached" "$DAEMON_LOG")
dguest web1 rx --count 50 --timeout 30 --pcap "$WORK/burst.rx.pcap" >"$WORK/g1.out" 2>&1 &
g1=$!
BG_PIDS+=($g1)
wait_log "vm web1: guest attached" 10 $((n + 1)) >/dev/null
check "the guest connects to the doorbell and attaches" \
	grep -q "vm web1: a guest connected to the doorbell" "$DAEMON_LOG"
check "flipswitchctl shows the doorbell connected and the guest ringing" \
	bash -c "$B/flipswitchctl -s $WORK/ctl.sock -j show | jq -e '.vms[0].doorbell_connected and .vms[0].guest_rings and (.vms[1].doorbell_connected | not)'"
sleep 0.5
s0=$(stat_of '.switch.sleeps')
t0=$(cpu_ticks "$DAEMON_PID")
u0=$(cpu_ticks "$g1")
sleep 2
s1=$(stat_of '.switch.sleeps')
t1=$(cpu_ticks "$DAEMON_PID")
u1=$(cpu_ticks "$g1")
hz=$(getconf CLK_TCK)
echo "# idle for 2 s with a doorbell guest: switch $(( (t1 - t0) * 1000 / hz )) ms CPU, guest $(( (u1 - u0) * 1000 / hz )) ms CPU, the switch slept $((s1 - s0)) times"
check "an idle switch with only doorbell guests sleeps long (fewer than 100 sleeps in 2 s, not 2000)" \
	test $((s1 - s0)) -lt 100
peer "$B/fs-pkt" send -i "$IF_PEER" --dst "$VM1" --count 50 --size 200 -w "$WORK/burst.tx.pcap" >/dev/null
wait "$g1"
check "a burst after idling reaches the sleeping guest, byte for byte" \
	"$B/fs-pkt" cmp "$WORK/burst.tx.pcap" "$WORK/burst.rx.pcap"
check "the switch rang the guest awake" \
	grep -Eq "woken by the switch [1-9][0-9]* times" "$WORK/g1.out"
check "flipswitchctl counts the doorbells rung to web1" \
	test "$(stat_of '.ports[] | select(.name == "web1") | .doorbells')" -ge 1
wait_log "vm web1: the guest left the doorbell" 5 >/dev/null
check "the daemon sees the guest leave the doorbell" \
	grep -q "vm web1: the guest left the doorbell" "$DAEMON_LOG"

# --- a doorbell guest killed (as a QEMU that exits or crashes): its
# hang-up lets the guest go at once, not after guest_timeout (5 s)
held_of() { "$B/flipswitchctl" -s "$WORK/ctl.sock" -j show | jq ".vms[] | select(.name == \"$1\") | .held"; }
n=$(grep -c "vm web1: guest attached" "$DAEMON_LOG")
dguest_bg web1 "$WORK/kill.out" rx --hold --timeout 30
wait_log "vm web1: guest attached" 10 $((n + 1)) >/dev/null
peer "$B/fs-pkt" send -i "$IF_PEER" --dst "$VM1" --count 20 >/dev/null
sleep 0.3
check "the doorbell guest holds frames (20 received + 128 lent)" test "$(held_of web1)" = 148
h0=$(stat_of '.ports[] | select(.name == "web1") | .doorbell_hangups')
kill -KILL "$DG"
wait "$DG" 2>/dev/null
sleep 0.1
check "100 ms after its peer hung up, every frame of the killed guest is back" \
	test "$(held_of web1)" = 0
check "counted as a doorbell hang-up, not a guest timeout" \
	test "$(stat_of '.ports[] | select(.name == "web1") | [.doorbell_hangups, .guest_timeouts]' | jq -c .)" = "[$((h0 + 1)),0]"

# --- the guest rings the switch: a guest transmitting while the switch
# sleeps wakes it (VM -> NIC, and VM -> VM to another doorbell guest)
w0=$(stat_of '.switch.doorbell_wakeups')
peer_recv 20 "$VM1" "$WORK/tx.wire.pcap"
r=$LAST_RECV
n=$(grep -c "vm web2: guest attached" "$DAEMON_LOG")
dguest web2 rx --count 20 --timeout 30 --pcap "$WORK/v2v.rx.pcap" >"$WORK/g2.out" 2>&1 &
g2=$!
BG_PIDS+=($g2)
wait_log "vm web2: guest attached" 10 $((n + 1)) >/dev/null
sleep 0.5
dguest web1 tx --dst "$PEER_MAC" --count 20 --size 300 --pcap "$WORK/tx.pcap" >"$WORK/tx.out" 2>&1
sleep 0.5
dguest web1 tx --dst "$VM2" --count 20 --size 400 --pcap "$WORK/v2v.tx.pcap" >"$WORK/tx2.out" 2>&1
wait "$r" "$g2"
check "a guest's frames to the wire arrive byte for byte" \
	"$B/fs-pkt" cmp "$WORK/tx.pcap" "$WORK/tx.wire.pcap"
check "a doorbell guest's frames reach another doorbell guest byte for byte" \
	"$B/fs-pkt" cmp "$WORK/v2v.tx.pcap" "$WORK/v2v.rx.pcap"
check "the guests rang the sleeping switch awake" \
	test "$(stat_of '.switch.doorbell_wakeups')" -gt "$w0"

# --- one guest per VM: a second connection is refused while one is up
dguest_bg web2 "$WORK/first.out" rx --timeout 30
first=$DG
wait_log "vm web2: a guest connected to the doorbell" 10 2 >/dev/null
dguest web2 rx --timeout 1 >"$WORK/second.out" 2>&1
check "a second guest on a VM's doorbell is refused" \
	grep -q "refused us" "$WORK/second.out"
# The first stays connected through the daemon's restart (below), as a
# QEMU would.

# --- a polling guest (no doorbell) keeps the switch polling it, but with
# idle = "adaptive" (the default) its sleeps grow to 16 ms while nothing
# happens: its CPU over an idle spell is near zero. After the spell a burst
# reaches the guest, and the guest's frames the wire, byte for byte. Then
# idle = "poll", set at run time: sleeps of 1 ms, for contrast.
cpu_ns() { awk '{print $1}' "/proc/$1/schedstat"; } # time on a CPU, ns
idle_round() { # idle_round MODE: 2 s idle; IDLE_SLEEPS, IDLE_MS
	local s0 c0
	s0=$(stat_of '.switch.sleeps')
	c0=$(cpu_ns "$DAEMON_PID")
	sleep 2
	IDLE_SLEEPS=$(($(stat_of '.switch.sleeps') - s0))
	IDLE_MS=$((($(cpu_ns "$DAEMON_PID") - c0) / 1000000))
	echo "# idle for 2 s with a polling guest, idle = $1: switch $IDLE_MS ms CPU, slept $IDLE_SLEEPS times"
}
guest_bg web1 "$WORK/poll.out" rx --count 30 --timeout 30 --pcap "$WORK/poll.rx.pcap"
g=$LAST_BG
idle_round adaptive
check "idle = adaptive: a guest that cannot ring is still polled (60 to 500 sleeps in 2 s: $IDLE_SLEEPS)" \
	test "$IDLE_SLEEPS" -ge 60 -a "$IDLE_SLEEPS" -le 500
check "idle = adaptive: the idle switch used under 15 ms of CPU in 2 s ($IDLE_MS)" \
	test "$IDLE_MS" -lt 15
peer "$B/fs-pkt" send -i "$IF_PEER" --dst "$VM1" --count 30 --size 200 -w "$WORK/poll.tx.pcap" >/dev/null
wait "$g"
check "after the idle spell, a burst reaches the polling guest byte for byte" \
	"$B/fs-pkt" cmp "$WORK/poll.tx.pcap" "$WORK/poll.rx.pcap"
peer_recv 20 "$VM1" "$WORK/ptx.wire.pcap"
r=$LAST_RECV
sleep 1
guest web1 tx --dst "$PEER_MAC" --count 20 --size 300 --pcap "$WORK/ptx.pcap" >"$WORK/ptx.out" 2>&1
wait "$r"
check "after an idle second, a polling guest's frames reach the wire byte for byte" \
	"$B/fs-pkt" cmp "$WORK/ptx.pcap" "$WORK/ptx.wire.pcap"
"$B/flipswitchctl" -s "$WORK/ctl.sock" set --idle poll >/dev/null
guest_bg web1 "$WORK/poll2.out" rx --timeout 3
idle_round poll
check "idle = poll (set at run time): the switch sleeps 1 ms at a time (over 200 sleeps in 2 s: $IDLE_SLEEPS)" \
	test "$IDLE_SLEEPS" -gt 200
wait "$LAST_BG"

check "frame ownership audit: counts sum to the pool size" frames_ok
check "SIGTERM stops the daemon with status 0" stop_daemon
check "the doorbell sockets are removed" test ! -e "$DB1" -a ! -e "$DB2"
# web2's guest still maps its region from the doorbell, as a QEMU that
# outlives the switch does: the next switch must not find it locked.
check "a doorbell guest outliving the switch keeps running" kill -0 "$first"

# burst_to_dguest TAG COUNT: a doorbell guest on web1 waits for COUNT
# frames, attached and asleep before the peer sends them (200 bytes each);
# $WORK/TAG.tx.pcap and TAG.rx.pcap, what was sent and received.
burst_to_dguest() {
	local n g
	n=$(grep -c "vm web1: guest attached" "$DAEMON_LOG")
	dguest_bg web1 "$WORK/$1.out" rx --count "$2" --timeout 30 --pcap "$WORK/$1.rx.pcap"
	g=$DG
	wait_log "vm web1: guest attached" 10 $((n + 1)) >/dev/null
	sleep 0.3
	peer "$B/fs-pkt" send -i "$IF_PEER" --dst "$VM1" --count "$2" --size 200 -w "$WORK/$1.tx.pcap" >/dev/null
	wait "$g"
}

# --- doorbell moderation: with doorbell_usecs = 100 ms, a burst of 300
# frames (fewer than the 384 the guest's quota lets it be given: no drop
# however late it wakes) rings the sleeping guest at its first frame, then
# once 192 are waiting for it (half of what it can be given), and once
# more for the rest, when the 100 ms have passed (the worker's sleep ends
# then). With doorbell_usecs = 0, each pass that gives the sleeping guest
# frames rings it (for contrast: not a test of speed).
for usecs in 100000 0; do
	write_config "$WORK/fs.conf" "web1 $VM1" "web2 $VM2"
	echo "doorbell_usecs = $usecs;" >>"$WORK/fs.conf"
	if [ "$usecs" != 0 ]; then
		check "a switch restarted under a doorbell guest starts (its region is not left locked)" \
			start_daemon "$WORK/fs.conf" || break
		kill "$first"
		wait "$first" 2>/dev/null
	else
		start_daemon "$WORK/fs.conf" || { not_ok "daemon starts (doorbell_usecs = $usecs)"; break; }
	fi
	burst_to_dguest mod 300
	rung=$(stat_of '.ports[] | select(.name == "web1") | .doorbells')
	echo "# a burst of 300 frames to a sleeping guest, doorbell_usecs = $usecs: $rung doorbells"
	if [ "$usecs" != 0 ]; then
		check "doorbell_usecs = $usecs: the burst reaches the guest, byte for byte" \
			"$B/fs-pkt" cmp "$WORK/mod.tx.pcap" "$WORK/mod.rx.pcap"
		check "doorbell_usecs = $usecs: the burst rang the guest at most 4 times ($rung)" \
			test "$rung" -ge 1 -a "$rung" -le 4
	fi
	stop_daemon
done

# --- who may be a VM's peer: with doorbell_peer = "root", a process of the
# socket's group that is not root (nobody, group nogroup) connecting
# first is refused before it is told anything, and the VM stays free for
# its QEMU (a guest running as root), which connects and attaches.
write_config "$WORK/fs.conf" "web1 $VM1" "web2 $VM2"
sed -i 's|\(name = "web1";\)|\1 doorbell_peer = "root";|' "$WORK/fs.conf"
echo 'control_group = "nogroup";' >>"$WORK/fs.conf"
chmod 711 "$WORK" # the impostor reaches the sockets through it
start_daemon "$WORK/fs.conf" || { not_ok "daemon starts (doorbell_peer)"; exit 1; }
timeout 3 setpriv --reuid=nobody --regid=nogroup --clear-groups \
	socat -u "UNIX-CONNECT:$DB1" - >/dev/null 2>&1 &
imp=$!
BG_PIDS+=($imp)
wait_log "doorbell: $DB1: refused pid" 5 >/dev/null
check "a peer that is not doorbell_peer is refused, and said so" \
	grep -q "doorbell: $DB1: refused pid [0-9]* (uid 65534): vm web1's doorbell_peer is uid 0" "$DAEMON_LOG"
n=$(grep -c "vm web1: guest attached" "$DAEMON_LOG")
dguest_bg web1 "$WORK/peer.out" rx --count 5 --timeout 20 --pcap "$WORK/peer.rx.pcap"
g=$DG
wait_log "vm web1: guest attached" 10 $((n + 1)) >/dev/null
check "the VM's real peer connects after the impostor, and attaches" \
	grep -q "vm web1: a guest connected to the doorbell" "$DAEMON_LOG"
peer "$B/fs-pkt" send -i "$IF_PEER" --dst "$VM1" --count 5 -w "$WORK/peer.tx.pcap" >/dev/null
wait "$g"
check "... and gets its traffic byte for byte" \
	"$B/fs-pkt" cmp "$WORK/peer.tx.pcap" "$WORK/peer.rx.pcap"
wait "$imp" 2>/dev/null
stop_daemon

# --- a steady stream: 20000 frames at 20000/s (a frame every 50 us) to a
# doorbell guest, doorbell_usecs = 100. The worker blocks between frames
# (idle = "adaptive": frames further apart than poll_usecs), and a guest's
# held doorbell waits through its sleep until the 100 us have passed: at
# most a ring per 100 us, two frames (how many fewer depends on how long
# the woken guest polls before it sleeps again). The frames arrive (the
# kernel may drop a few on a loaded machine: rx_ring_full, not the
# switch's).
write_config "$WORK/fs.conf" "web1 $VM1" "web2 $VM2"
echo "doorbell_usecs = 100;" >>"$WORK/fs.conf"
if start_daemon "$WORK/fs.conf"; then
	n=$(grep -c "vm web1: guest attached" "$DAEMON_LOG")
	dguest_bg web1 "$WORK/steady.out" rx --count 20000 --timeout 30
	g=$DG
	wait_log "vm web1: guest attached" 10 $((n + 1)) >/dev/null
	sleep 0.3
	b0=$(stat_of '.ports[] | select(.name == "web1") | .doorbells')
	s0=$(stat_of '.switch.sleeps')
	w0=$(stat_of '.switch.doorbell_wakeups')
	peer "$B/fs-gen" -i "$IF_PEER" --dst "$VM1" --rate 20000 --count 20000 >"$WORK/steady.gen"
	wait "$g"
	got=$(stat_of '.ports[] | select(.name == "web1") | .rx_packets')
	rung=$(($(stat_of '.ports[] | select(.name == "web1") | .doorbells') - b0))
	slept=$(($(stat_of '.switch.sleeps') - s0))
	woken=$(($(stat_of '.switch.doorbell_wakeups') - w0))
	echo "# 20000 frames at 20000/s, doorbell_usecs = 100: $rung doorbells ($(awk -v r="$rung" 'BEGIN {printf "%.2f", r / 20000}') a frame), the worker slept $slept times, $woken of them woken by the guest"
	# The guest gives frames back, but the switch asks to be rung for
	# that only when it needs them soon (not here: the pool is far from
	# low, the VM far from its quota).
	check "steady stream: the guest giving frames back did not wake the switch ($woken times)" \
		test "$woken" -le 100
	check "steady stream: the frames reached the guest ($got of 20000)" test "$got" -ge 19900
	check "steady stream: the worker blocked between frames (over 2000 sleeps: $slept)" \
		test "$slept" -gt 2000
	check "steady stream: at most 0.6 doorbells a frame ($rung for 20000)" \
		test "$rung" -le 12000
	stop_daemon
else
	not_ok "daemon starts (doorbell_usecs = 100)"
fi

# --- preferred busy polling (busy_poll_usecs on the interface): the
# daemon sets the sockets' busy-poll options and the interface's
# napi_defer_hard_irqs and gro_flush_timeout while it runs, puts them back
# at exit, and frames flow. A kernel that refuses stops the daemon with
# the reason (then this is skipped, with it).
write_config "$WORK/fs.conf" "web1 $VM1" "web2 $VM2"
sed -i 's/xdp_mode = "[a-z]*";/& busy_poll_usecs = 50;/' "$WORK/fs.conf"
knobs() { ip netns exec "$NS_SW" cat "/sys/class/net/$IF_SW/napi_defer_hard_irqs" "/sys/class/net/$IF_SW/gro_flush_timeout" | tr '\n' ' '; }
k0=$(knobs)
if start_daemon "$WORK/fs.conf"; then
	check "busy polling: the daemon says so" grep -q "$IF_SW: preferred busy polling, 50 us" "$DAEMON_LOG"
	check "busy polling: napi_defer_hard_irqs 2, gro_flush_timeout 200000 while it runs ($(knobs))" \
		test "$(knobs)" = "2 200000 "
	burst_to_dguest bp 50
	check "busy polling: a burst reaches the guest byte for byte" \
		"$B/fs-pkt" cmp "$WORK/bp.tx.pcap" "$WORK/bp.rx.pcap"
	check "busy polling: SIGTERM stops the daemon with status 0" stop_daemon
	check "busy polling: the interface's settings are back ($k0)" test "$(knobs)" = "$k0"
elif grep -q "refuses busy polling\|for busy polling" "$DAEMON_LOG"; then
	skip "busy polling: $(grep -o "refuses busy polling.*\|cannot set .*for busy polling.*" "$DAEMON_LOG" | head -1)"
else
	not_ok "busy polling: the daemon starts, or says why not"
fi
