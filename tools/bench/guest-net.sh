#!/usr/bin/env bash
# make bench-guest: a Linux guest's interface on flipswitch (the
# flipswitch_net driver) next to virtio-net on a tap in a Linux bridge,
# what users run today; the same TCG test guest, in one run:
#
#   udp  the wire (a peer namespace) -> a UDP receiver in the guest
#        (fs-udpsink), 5 s of 64-byte frames, then of 1514-byte frames
#   tcp  guest to guest, 20 MB over busybox nc
#
#   peer ns --veth--> switch ns: flipswitchd --ivshmem--> guests (flipswitch_net)
#   peer ns --veth--> bridge ns: br0 -- tap --> guests (virtio-net)
#
# flipswitch's guests use the doorbell (MSI-X), as virtio-net its interrupts.
# Under TCG the absolute figures mean little; the ratios in one run count.
# Prints a table and writes build/bench/guest-net.json.
. "$(dirname "$0")/../../tests/integration/lib.sh"
require_root bench-guest
[ -s "$B/guest/flipswitch_net.ko" ] || { echo "bench-guest: make guest-image first" >&2; exit 1; }
NS_BR=fsw-$ID-br
IF_PB=${ID}c IF_BP=${ID}d
trap 'ip netns del "$NS_BR" 2>/dev/null; cleanup' EXIT
FS_NET=10.91.0 VN_NET=10.92.0
SECS=5
mkdir -p "$B/bench"

bed_up || exit 1
ip netns add "$NS_BR"
ip link add "$IF_PB" netns "$NS_PEER" type veth peer name "$IF_BP" netns "$NS_BR"
ip -n "$NS_BR" link add br0 type bridge
ip -n "$NS_BR" link set "$IF_BP" master br0 up
for t in t1 t2; do
	ip -n "$NS_BR" tuntap add "$ID$t" mode tap
	ip -n "$NS_BR" link set "$ID$t" master br0 up
done
ip -n "$NS_BR" link set br0 up
ip -n "$NS_PEER" link set "$IF_PB" up
ip -n "$NS_PEER" addr add "$FS_NET.1/24" dev "$IF_PEER"
ip -n "$NS_PEER" addr add "$VN_NET.1/24" dev "$IF_PB"
# veth leaves checksums to the receiver; the switch takes frames raw.
peer ethtool -K "$IF_PEER" tx off >/dev/null
peer ethtool -K "$IF_PB" tx off >/dev/null
write_config "$WORK/fs.conf" "web1 52:54:00:00:00:01" "web2 52:54:00:00:00:02"
DAEMON=flipswitchd start_daemon "$WORK/fs.conf" >/dev/null || { tail "$DAEMON_LOG"; exit 1; }

# guest KIND N OUT CMD...: boots guest N (1 or 2) on flipswitch (fs) or
# virtio-net (vn) in the background; pid in LAST_GUEST.
guest() {
	local kind=$1 n=$2 out=$3
	shift 3
	if [ "$kind" = fs ]; then
		"$TOP/tools/flipswitch-run-guest" "web$n" -c "$WORK/fs.conf" --irq --net "$FS_NET.1$n/24" \
			--mem 384 --timeout 240 -- "$@" >"$out" 2>&1 &
	else
		ip netns exec "$NS_BR" "$TOP/tools/flipswitch-run-guest" "web$n" -c "$WORK/fs.conf" \
			--vnet "${ID}t$n,52:54:00:aa:00:0$n,$VN_NET.1$n/24" --mem 384 --timeout 240 -- \
			"$@" >"$out" 2>&1 &
	fi
	BG_PIDS+=($!)
	LAST_GUEST=$!
}
addr() { [ "$1" = fs ] && echo "$FS_NET.1$2" || echo "$VN_NET.1$2"; }
up() { # up ADDR: until the guest answers pings (90 s at most)
	local i
	for i in $(seq 90); do peer ping -c 1 -W 1 "$1" >/dev/null 2>&1 && return 0; done
	return 1
}
udp_send() { # udp_send ADDR PORT PAYLOAD SECONDS
	peer python3 - "$@" <<'PY'
import socket, sys, time
dst, port, size, secs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
b, end = b"x" * size, time.time() + secs
while time.time() < end:
    for _ in range(64):
        try:
            s.sendto(b, (dst, port))
        except OSError:
            pass
PY
}
console() { tr -d '\r' <"$1"; }
declare -A R

for kind in fs vn; do
	a=$(addr $kind 1)
	echo "# udp, $kind: wire -> guest"
	guest $kind 1 "$WORK/udp-$kind.out" sh -c "fs-udpsink 9000 $SECS; fs-udpsink 9001 $SECS"
	g=$LAST_GUEST
	up "$a" || { echo "bench-guest: $kind guest did not come up" >&2; exit 1; }
	sleep 1
	udp_send "$a" 9000 18 $((SECS + 1))     # 64-byte frames
	udp_send "$a" 9001 1472 $((SECS + 1))   # 1514-byte frames
	wait "$g"
	R[$kind.udp64]=$(console "$WORK/udp-$kind.out" | grep '^udp ' | sed -n 1p)
	R[$kind.udp1514]=$(console "$WORK/udp-$kind.out" | grep '^udp ' | sed -n 2p)

	echo "# tcp, $kind: guest 1 -> guest 2, 20 MB"
	guest $kind 2 "$WORK/tcp2-$kind.out" sh -c "nc -l -p 7001 | sha256sum"
	g2=$LAST_GUEST
	up "$(addr $kind 2)" || { echo "bench-guest: $kind guest 2 did not come up" >&2; exit 1; }
	guest $kind 1 "$WORK/tcp1-$kind.out" sh -c "head -c 20000000 /dev/urandom >/tmp/d
		ping -c 1 -W 5 $(addr $kind 2) >/dev/null
		a=\$(cut -d' ' -f1 /proc/uptime); nc $(addr $kind 2) 7001 </tmp/d
		b=\$(cut -d' ' -f1 /proc/uptime); echo \"tcp \$(echo \"\$b - \$a\" | bc) s\""
	g1=$LAST_GUEST
	wait "$g1" "$g2"
	R[$kind.tcp]=$(console "$WORK/tcp1-$kind.out" | sed -n 's/^tcp \([0-9.]*\) s/\1/p')
done

# The table and the JSON, from the guests' own lines.
pps() { awk '{print $(NF-3)}' <<<"$1"; }
mbit() { awk '{print $(NF-1)}' <<<"$1"; }
tcp_mbit() { [ -n "$1" ] && awk -v s="$1" 'BEGIN {printf "%.1f", 160 / s}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.2f", a / b; else print "-"}'; }
f64=$(pps "${R[fs.udp64]}") v64=$(pps "${R[vn.udp64]}")
f1514=$(mbit "${R[fs.udp1514]}") v1514=$(mbit "${R[vn.udp1514]}")
ft=$(tcp_mbit "${R[fs.tcp]}") vt=$(tcp_mbit "${R[vn.tcp]}")
printf '%-34s %14s %14s %8s\n' "" flipswitch_net "virtio-net+tap" ratio
printf '%-34s %14s %14s %8s\n' "wire -> guest UDP, 64 B (pps)" "$f64" "$v64" "$(ratio "$f64" "$v64")"
printf '%-34s %14s %14s %8s\n' "wire -> guest UDP, 1514 B (Mbit/s)" "$f1514" "$v1514" "$(ratio "$f1514" "$v1514")"
printf '%-34s %14s %14s %8s\n' "guest -> guest TCP 20 MB (Mbit/s)" "$ft" "$vt" "$(ratio "$ft" "$vt")"
jq -n --arg f64 "$f64" --arg v64 "$v64" --arg f1514 "$f1514" --arg v1514 "$v1514" \
	--arg ft "$ft" --arg vt "$vt" \
	'{udp64_pps: {flipswitch: ($f64|tonumber? // null), virtio: ($v64|tonumber? // null)},
	  udp1514_mbit: {flipswitch: ($f1514|tonumber? // null), virtio: ($v1514|tonumber? // null)},
	  tcp_mbit: {flipswitch: ($ft|tonumber? // null), virtio: ($vt|tonumber? // null)}}' \
	>"$B/bench/guest-net.json"
echo "# $B/bench/guest-net.json"
