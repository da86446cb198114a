#!/usr/bin/env bash
# make demo: flipswitch on a veth test-bed of its own, with two guests.
#
#   peer namespace --veth--> switch namespace: flipswitchd (XDP + AF_XDP)
#                                   |-- ring region --> guest web1
#                                   `-- ring region --> guest web2
#
# Sends unicast to each guest, broadcast to both, and guest-to-guest
# traffic for a few seconds while the switch's counters are shown every
# second; prints what each guest received; removes everything it made.
# GUESTS=qemu boots the two guests in QEMU (make guest-image) instead of
# running them as host processes, and then once more with the flipswitch_net
# driver: they ping each other and the wire through their own interfaces.
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

say() { printf '\n\033[1m%s\033[0m\n' "$*"; }
die() { echo "demo: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root: it creates network namespaces and attaches XDP"
GUESTS=${GUESTS:-host}
case "$GUESTS" in
host) N1=2000 N2=1000 ;;
qemu) N1=200 N2=100 ;;   # TCG guests are slow: less traffic
*) die "GUESTS is host (guest processes) or qemu (QEMU guests)" ;;
esac

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
sed -e "s|@IFACE@|$IF_SW|g" -e "s|@SHM@|$SHM|g" -e "s|@RUN@|$WORK|g" "$TOP/configs/demo.conf" >"$WORK/demo.conf"
grep -v '^#' "$WORK/demo.conf"
ip netns exec "$NS_SW" "$B/flipswitchd" -c "$WORK/demo.conf" 2>"$LOG" &
DAEMON=$!
for _ in $(seq 200); do grep -q ready "$LOG" && break; sleep 0.05; done
grep -q ready "$LOG" || { cat "$LOG"; die "the daemon did not come up"; }
sed 's/^/   /' "$LOG"

if [ "$GUESTS" = qemu ]; then
	say "3. Two QEMU guests boot, each with the pool and its rings as ivshmem devices"
	"$B/flipswitch-qemu-args" --lines web1 -c "$WORK/demo.conf" | paste -d' ' - - | sed 's/^/   /'
	for vm in web1 web2; do
		t=$([ $vm = web1 ] && echo 12 || echo 30)
		"$TOP/tools/flipswitch-run-guest" $vm -c "$WORK/demo.conf" --timeout 90 -- \
			flipswitch-guest --pci rx --timeout $t >"$WORK/$vm.out" 2>&1 &
		PIDS+=($!)
	done
	wait_s=90
else
	say "3. Two guests attach to their rings (flipswitch-guest rx, on the host)"
	for vm in web1 web2; do
		"$B/flipswitch-guest" --pool "$SHM-pool" --rings "$SHM-$vm" rx --timeout 30 \
			--pcap "$WORK/$vm.pcap" >"$WORK/$vm.out" 2>&1 &
		PIDS+=($!)
	done
	wait_s=5
fi
for vm in web1 web2; do
	for _ in $(seq $((wait_s * 20))); do grep -q "vm $vm: guest attached" "$LOG" && break; sleep 0.05; done
done
grep "guest attached" "$LOG" | sed 's/^/   /'

say "4. Traffic from the peer namespace; flipswitchctl watch shows the rates"
CTL="$B/flipswitchctl -s $WORK/flipswitch.sock"
pkt() { ip netns exec "$NS_PEER" "$B/fs-pkt" send -i "$IF_PEER" "$@" >/dev/null; }
(
	for round in 1 2 3 4 5; do
		pkt --dst 52:54:00:00:00:01 --count "$N1" --size 128 --seed "$round" --interval-us 100
		pkt --dst 52:54:00:00:00:02 --count "$N2" --size 1500 --seed "$round" --interval-us 100
		pkt --dst ff:ff:ff:ff:ff:ff --count 10 --size 64 --seed "$round"
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
	printf '   %s: %s; drops: %s\n' "$vm" "$(tr -d '\r' <"$WORK/$vm.out" | grep '^received' | tail -1)" \
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
$CTL stats | sed 's/^/   /'
echo
$CTL frames | sed 's/^/   /'
kill -TERM "$DAEMON"
wait "$DAEMON"
DAEMON=
say "Done: the daemon detached its XDP program and removed its files."
