#!/usr/bin/env bash
# make demo: flipswitch on a veth test-bed of its own, with two guests.
#
#   peer namespace --veth--> switch namespace: flipswitchd (XDP + AF_XDP)
#                                   |-- ring region --> guest web1
#                                   `-- ring region --> guest web2
#
# On a terminal (make demo), it keeps running with steady light traffic
# until Ctrl-C (at most an hour), its control socket where flipswitchctl
# looks by default, and prints commands to try in another terminal;
# DURATION=N does the same for N seconds. Otherwise (not a terminal, no
# DURATION: the tests) it tours: unicast to each guest, broadcast to both
# and guest-to-guest traffic while the counters are shown every second,
# then what each guest received. Either way it removes everything it made.
# GUESTS=qemu boots the two guests in QEMU (make guest-image) instead of
# running them as host processes, and then once more with the flipswitch_net
# driver: they ping each other and the wire through their own interfaces. Colour only on a terminal.
set -u
TOP=$(cd "$(dirname "$0")/.." && pwd)
B=$TOP/build
ID=fsd$$
NS_SW=fsw-$ID-sw
NS_PEER=fsw-$ID-peer
IF_SW=${ID}a
IF_PEER=${ID}b
SHM=/dev/shm/flipswitch-$ID
WORK=$(mktemp -d /tmp/flipswitch-demo-XXXXXX)
LOG=$WORK/flipswitchd.log
PIDS=()
DAEMON=
TRAFFIC=

cleanup() {
	for p in "${PIDS[@]}" $TRAFFIC; do kill "$p" 2>/dev/null; done
	if [ -n "$DAEMON" ]; then
		kill -TERM "$DAEMON" 2>/dev/null
		for _ in $(seq 50); do kill -0 "$DAEMON" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$DAEMON" 2>/dev/null
	fi
	ip netns del "$NS_SW" 2>/dev/null
	ip netns del "$NS_PEER" 2>/dev/null
	rm -f "$SHM"-*
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -t 1 ]; then BOLD=$'\033[1m' PLAIN=$'\033[0m'; else BOLD= PLAIN=; fi
say() { printf '\n%s%s%s\n' "$BOLD" "$*" "$PLAIN"; }
die() { echo "demo: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root: it creates network namespaces and attaches XDP"
GUESTS=${GUESTS:-host}
case "$GUESTS" in
host) N1=2000 N2=1000 R1=1000 R2=200 ;;
qemu) N1=200 N2=100 R1=100 R2=20 ;;   # TCG guests are slow: less traffic
*) die "GUESTS is host (guest processes) or qemu (QEMU guests)" ;;
esac
# A live demo stops by itself after LIVE_MAX seconds.
LIVE_MAX=3600
DURATION=${DURATION:-}
if [ -n "$DURATION" ]; then
	[[ $DURATION =~ ^[0-9]+$ ]] && [ "$DURATION" -ge 1 ] && [ "$DURATION" -le $LIVE_MAX ] ||
		die "DURATION is seconds, 1 to $LIVE_MAX"
	MODE=live
elif [ -t 0 ] && [ -t 1 ]; then
	MODE=live DURATION=$LIVE_MAX
else
	MODE=tour
fi
# Live, the control socket is where flipswitchctl looks, unless a daemon of
# the host's is there.
CTL_SOCK=$WORK/flipswitch.sock
if [ $MODE = live ] && ! "$B/flipswitchctl" ping >/dev/null 2>&1; then
	CTL_SOCK=/run/flipswitch/flipswitch.sock
fi

say "1. A test-bed: namespaces $NS_SW and $NS_PEER, veth $IF_SW <-> $IF_PEER"
ip netns add "$NS_SW" && ip netns add "$NS_PEER" || die "cannot create namespaces"
ip link add "$IF_SW" netns "$NS_SW" type veth peer name "$IF_PEER" netns "$NS_PEER" ||
	die "cannot create the veth pair"
for ns in "$NS_SW" "$NS_PEER"; do
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
done
ip -n "$NS_SW" link set "$IF_SW" up
ip -n "$NS_PEER" link set "$IF_PEER" up

say "2. flipswitchd with configs/demo.conf"
sed -e "s|@IFACE@|$IF_SW|g" -e "s|@SHM@|$SHM|g" -e "s|@CONTROL@|$CTL_SOCK|g" "$TOP/configs/demo.conf" >"$WORK/demo.conf"
grep -v '^#' "$WORK/demo.conf"
# setsid: Ctrl-C in the terminal is the demo's to handle, not the daemon's.
ip netns exec "$NS_SW" setsid "$B/flipswitchd" -c "$WORK/demo.conf" 2>"$LOG" &
DAEMON=$!
for _ in $(seq 200); do grep -q ready "$LOG" && break; sleep 0.05; done
grep -q ready "$LOG" || { cat "$LOG"; die "the daemon did not come up"; }
sed 's/^/   /' "$LOG"

# A guest's life: the tour's until its traffic is over, a live demo's
# until it ends.
GUEST_S=30
[ $MODE = live ] && GUEST_S=$DURATION
if [ "$GUESTS" = qemu ]; then
	say "3. Two QEMU guests boot, each with the pool and its rings as ivshmem devices"
	"$B/flipswitch-qemu-args" --lines web1 -c "$WORK/demo.conf" | paste -d' ' - - | sed 's/^/   /'
	for vm in web1 web2; do
		t=$GUEST_S
		[ $MODE = tour ] && [ $vm = web1 ] && t=12
		setsid "$TOP/tools/flipswitch-run-guest" $vm -c "$WORK/demo.conf" --timeout $((t + 60)) -- \
			flipswitch-guest --pci rx --timeout $t >"$WORK/$vm.out" 2>&1 &
		PIDS+=($!)
	done
	wait_s=90
else
	say "3. Two guests attach to their rings (flipswitch-guest rx, on the host)"
	for vm in web1 web2; do
		pcap=(--pcap "$WORK/$vm.pcap")
		[ $MODE = live ] && pcap=()   # a live demo's would grow for an hour
		setsid "$B/flipswitch-guest" --pool "$SHM-pool" --rings "$SHM-$vm" rx --timeout "$GUEST_S" \
			"${pcap[@]}" >"$WORK/$vm.out" 2>&1 &
		PIDS+=($!)
	done
	wait_s=5
fi
for vm in web1 web2; do
	for _ in $(seq $((wait_s * 20))); do grep -q "vm $vm: guest attached" "$LOG" && break; sleep 0.05; done
done
grep "guest attached" "$LOG" | sed 's/^/   /'

CTL="$B/flipswitchctl -s $CTL_SOCK"
pkt() { ip netns exec "$NS_PEER" "$B/fs-pkt" send -i "$IF_PEER" "$@" >/dev/null; }
# pkt_over MS DST COUNT SIZE SEED: COUNT frames spread over MS milliseconds.
pkt_over() {
	pkt --dst "$2" --count "$3" --size "$4" --seed "$5" --interval-us $(($1 * 1000 / $3))
}
# round SEED N1 N2 NB: N1 small frames to web1 and, at the same time, N2
# large ones to web2, then NB broadcasts: about a second. For the traffic
# subshells only (it waits for every child of its shell).
round() {
	pkt_over 800 52:54:00:00:00:01 "$2" 128 "$1" &
	pkt_over 800 52:54:00:00:00:02 "$3" 1500 "$1" &
	wait
	pkt --dst ff:ff:ff:ff:ff:ff --count "$4" --size 64 --seed "$1"
}

# finish: the counters and the audit, then the daemon stops.
finish() {
	$CTL stats | sed 's/^/   /'
	echo
	$CTL frames | sed 's/^/   /'
	kill -TERM "$DAEMON"
	wait "$DAEMON"
	DAEMON=
	say "Done: the daemon detached its XDP program and removed its files."
}

# received VM: the last "received" line of a guest's output.
received() { tr -d '\r' <"$WORK/$1.out" | grep '^received' | tail -1; }

if [ $MODE = live ]; then
	say "4. Steady traffic from the peer namespace: $R1 frames/s to web1, $R2 to web2, a broadcast a second"
	(
		# One round a second, for as many seconds as the demo lasts.
		end=$((SECONDS + DURATION))
		for ((i = 1; i <= DURATION && SECONDS < end; i++)); do
			round "$i" "$R1" "$R2" 1
		done
	) &
	TRAFFIC=$!
	# As the user in this directory types it.
	ctl=$(realpath --relative-to="$PWD" "$B/flipswitchctl")
	[ "$CTL_SOCK" = /run/flipswitch/flipswitch.sock ] || ctl="$ctl -s $CTL_SOCK"
	if [ "$DURATION" -eq $LIVE_MAX ]; then
		until="Ctrl-C stops it (or an hour)"
	else
		until="it stops in $DURATION s (Ctrl-C sooner)"
	fi
	say "5. The switch runs; $until. Try, in another terminal:"
	try() { printf '   %-44s %s\n' "$ctl $1" "$2"; }
	try "show" "the interface, the pool, the VMs"
	try "stats web1" "web1's counters, and the worker's"
	try "watch" "live rates (q quits)"
	try "fdb" "the MAC table"
	try "frames" "who holds each frame of the pool"
	try "capture web1 -w /tmp/web1.pcap --count 20" "20 of web1's frames, for tcpdump -r"
	try "stats --prometheus" "the counters for Prometheus"
	try "vm add web3 --mac 52:54:00:00:00:03 --rings $SHM-web3" ""
	# Ctrl-C ends the wait, not the demo: the summary comes first.
	trap 'kill "$TRAFFIC" 2>/dev/null' INT TERM
	wait "$TRAFFIC"
	trap 'exit 130' INT TERM
	TRAFFIC=
	say "6. Done: what the switch saw"
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	for vm in web1 web2; do
		printf '   %s: %s\n' "$vm" "$(received $vm)"
	done
	finish
	exit 0
fi

say "4. Traffic from the peer namespace; flipswitchctl watch shows the rates"
(
	# Spread over the rounds so that every second of the watch has some.
	for i in 1 2 3 4 5; do
		round "$i" "$N1" "$N2" 10
	done
) &
TRAFFIC=$!
$CTL watch --interval 1 --count 4 | sed 's/^/   /'
wait "$TRAFFIC"
TRAFFIC=
say "5. Guest to guest: web1 sends 500 frames to web2 (handed over, not copied)"
if [ "$GUESTS" = qemu ]; then
	wait "${PIDS[0]}" 2>/dev/null   # web1's receiver ends; its sender boots
	"$TOP/tools/flipswitch-run-guest" web1 -c "$WORK/demo.conf" --timeout 90 -- \
		flipswitch-guest --pci tx --dst 52:54:00:00:00:02 --count 500 --size 256 2>&1 |
		tr -d '\r' | grep '^sent' | sed 's/^/   web1: /'
	wait "${PIDS[1]}" 2>/dev/null
else
	kill -TERM "${PIDS[0]}" 2>/dev/null   # web1's receiver makes way for its sender
	wait "${PIDS[0]}" 2>/dev/null
	"$B/flipswitch-guest" --pool "$SHM-pool" --rings "$SHM-web1" tx --dst 52:54:00:00:00:02 \
		--count 500 --size 256 2>/dev/null | sed 's/^/   web1: /'
	sleep 1
	kill -TERM "${PIDS[1]}" 2>/dev/null
	wait "${PIDS[1]}" 2>/dev/null
fi

say "6. What each guest received"
for vm in web1 web2; do
	kill -USR1 "$DAEMON"
	sleep 0.2
	drops=$(grep "vm $vm: " "$LOG" | tail -1 | sed 's/.*drops //' | tr ' ' '\n' | grep -v '=0$' | tr '\n' ' ')
	printf '   %s: %s; drops: %s\n' "$vm" "$(received $vm)" \
		"${drops:-none}"
done
echo "   expected: web1 $((5 * N1)) unicast + 50 broadcast; web2 $((5 * N2)) unicast + 50 broadcast + 500 from web1"

if [ "$GUESTS" = qemu ]; then
	say "6b. The guests' own interfaces (the flipswitch_net driver): ping each other and the wire"
	# veth leaves checksums to the receiver; the switch takes frames raw.
	ip netns exec "$NS_PEER" ethtool -K "$IF_PEER" tx off >/dev/null 2>&1
	ip -n "$NS_PEER" addr add 10.77.0.1/24 dev "$IF_PEER"
	n=$(grep -c "vm web2: guest attached" "$LOG")
	"$TOP/tools/flipswitch-run-guest" web2 -c "$WORK/demo.conf" --net 10.77.0.12/24 \
		--timeout 90 -- nc -l -p 7000 >"$WORK/web2-net.out" 2>&1 &
	PIDS+=($!)
	for _ in $(seq 1800); do
		[ "$(grep -c "vm web2: guest attached" "$LOG")" -gt "$n" ] && break
		sleep 0.05
	done
	ip netns exec "$NS_PEER" ping -c 3 -W 5 10.77.0.12 2>&1 | grep -E 'bytes from|transmitted' |
		sed 's/^/   wire: /'
	"$TOP/tools/flipswitch-run-guest" web1 -c "$WORK/demo.conf" --net 10.77.0.11/24 --timeout 90 -- \
		sh -c 'ping -c 3 10.77.0.12; ping -c 3 10.77.0.1; nc 10.77.0.12 7000 </dev/null' 2>&1 |
		tr -d '\r' | grep -E '^(guest: eth|PING|64 bytes|[0-9]+ packets)' | sed 's/^/   web1: /'
	wait "${PIDS[-1]}" 2>/dev/null
fi

say "7. flipswitchctl: the VMs, their counters, and the frame ownership audit"
$CTL show | sed 's/^/   /'
echo
finish
