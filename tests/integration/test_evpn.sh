#!/usr/bin/env bash
# EVPN: two hosts, each a network namespace with a bridge br0 holding a
# vxlan0 (no learning) and an anchor port fsvm0 (a veth), FRR's zebra and
# bgpd peering over the veth underlay (advertise-all-vni, flooding
# disabled), and a flipswitchd on vxlan0 with publish_fdb = "fsvm0": a1
# and a2 on host A, b1 on host B.
#
#   - bridge fdb show lists each VM's MAC, static, while its daemon runs;
#   - each FRR advertises its VMs' MACs as type-2 routes and installs the
#     other host's in its vxlan0 (dst the other VTEP);
#   - unicast between the hosts' VMs arrives byte for byte, both ways,
#     with no flooding: neither vxlan0 has a flood entry (00:00:00:00:00:00);
#   - vm del a2: its MAC leaves host A's bridge and host B's vxlan0;
#     the daemon's exit: a1's leaves too.
#
# FRR's zebra takes local MACs only from bridge ports that are not the
# VXLAN device, hence the anchor port (docs/datapath.md).
. "$(dirname "$0")/lib.sh"
require_root evpn

if [ ! -x /usr/lib/frr/zebra ] || [ ! -x /usr/lib/frr/bgpd ] || ! command -v vtysh >/dev/null; then
	skip "evpn (FRR is not installed: apt-get install frr)"
	exit 0
fi

A1=52:54:00:00:33:a1
A2=52:54:00:00:33:a2
B1=52:54:00:00:33:b1
N=32
NS_A=$NS_SW
NS_B=$NS_PEER
LOG_B=$WORK/daemon-b.log
# FRR runs as its own user: its files under a directory it may write.
FRR=$WORK/frr
chmod 755 "$WORK"
mkdir -p "$FRR/a" "$FRR/b"
chown -R frr:frr "$FRR"

bed_up || { not_ok "test-bed"; exit 1; }
if ! ip -n "$NS_A" link add vxlan0 type vxlan id 42 dstport 4789 2>/dev/null; then
	skip "evpn (this kernel has no vxlan devices)"
	exit 0
fi
ip -n "$NS_A" link del vxlan0

# host NS N OTHER: underlay 10.97.0.N, br0 with vxlan0 and fsvm0, FRR.
host() {
	local ns=$1 n=$2 other=$3 h dir
	h=$([ "$n" = 1 ] && echo a || echo b)
	dir=$FRR/$h
	ip -n "$ns" addr add "10.97.0.$n/24" dev "$([ "$n" = 1 ] && echo "$IF_SW" || echo "$IF_PEER")"
	ip -n "$ns" link add br0 type bridge
	ip -n "$ns" link add vxlan0 type vxlan id 42 local "10.97.0.$n" dstport 4789 nolearning
	ip -n "$ns" link set vxlan0 master br0 addrgenmode none
	ip -n "$ns" link add fsvm0 type veth peer name fsvm1
	ip -n "$ns" link set fsvm0 master br0
	for i in br0 vxlan0 fsvm0 fsvm1; do ip -n "$ns" link set "$i" up; done
	cat >"$dir/frr.conf" <<-EOF
	frr defaults datacenter
	hostname $h
	router bgp 65000
	 bgp router-id 10.97.0.$n
	 no bgp default ipv4-unicast
	 neighbor 10.97.0.$other remote-as 65000
	 address-family l2vpn evpn
	  neighbor 10.97.0.$other activate
	  advertise-all-vni
	  flooding disable
	 exit-address-family
	EOF
	chown frr:frr "$dir/frr.conf"
	ip netns exec "$ns" /usr/lib/frr/zebra -d -f "$dir/frr.conf" -i "$dir/zebra.pid" \
		-z "$dir/zserv.api" --vty_socket "$dir" --log "file:$dir/zebra.log" || return 1
	ip netns exec "$ns" /usr/lib/frr/bgpd -d -f "$dir/frr.conf" -i "$dir/bgpd.pid" \
		-z "$dir/zserv.api" --vty_socket "$dir" --log "file:$dir/bgpd.log" || return 1
}
frr_stop() {
	local f
	for f in "$FRR"/*/bgpd.pid "$FRR"/*/zebra.pid; do
		[ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null
	done
	sleep 0.2
}
trap 'stop_b; frr_stop; cleanup' EXIT

if ! host "$NS_A" 1 2 >"$WORK/frr-a.out" 2>&1 || ! host "$NS_B" 2 1 >"$WORK/frr-b.out" 2>&1; then
	skip "evpn (FRR does not start in a network namespace here: $(tail -1 "$WORK"/frr-*.out | tr '\n' ' '))"
	exit 0
fi
vty() { local ns=$1 h=$2; shift 2; ip netns exec "$ns" vtysh --vty_socket "$FRR/$h" -c "$*"; }

host_config() { # FILE POOL SOCK then VM names and MACs
	local f=$1 pool=$2 sock=$3 sep=""
	shift 3
	{
		echo "pool = { path = \"$pool\"; frames = 4096; frame_size = 2048; };"
		echo "interfaces = ( { name = \"vxlan0\"; publish_fdb = \"fsvm0\"; } );"
		echo "control = \"$sock\";"
		echo "vms = ("
		while [ $# -gt 0 ]; do
			echo "  $sep{ name = \"$1\"; mac = \"$2\"; rings = \"$SHM-$1\"; quota = 512; }"
			sep=","
			shift 2
		done
		echo ");"
	} >"$f"
}
host_config "$WORK/a.conf" "$SHM-pool" "$WORK/a.sock" a1 "$A1" a2 "$A2"
host_config "$WORK/b.conf" "$SHM-bpool" "$WORK/b.sock" b1 "$B1"

if ! start_daemon "$WORK/a.conf"; then
	not_ok "host A: flipswitchd on vxlan0 with publish_fdb logs ready"
	exit 1
fi
if ! start_b "$NS_B" "$WORK/b.conf" "$LOG_B"; then
	not_ok "host B: flipswitchd on vxlan0 with publish_fdb logs ready"
	exit 1
fi
ok "both hosts: flipswitchd on vxlan0 with publish_fdb logs ready"

fdb_a() { ip netns exec "$NS_A" bridge fdb show br br0; }
check "bridge fdb show on host A lists a1 and a2, static, on fsvm0" \
	bash -c "f=\$(ip netns exec $NS_A bridge fdb show br br0); echo \"\$f\" | grep -q '^$A1 dev fsvm0 master br0 static' && echo \"\$f\" | grep -q '^$A2 dev fsvm0 master br0 static'"
check "show says where the entries go" \
	bash -c "$B/flipswitchctl -s $WORK/a.sock -j show | jq -e '.interfaces[0].publish_fdb == \"fsvm0\"'"

# wait_for SECONDS COMMAND...: until the command succeeds.
wait_for() {
	local t=$1 i
	shift
	for i in $(seq $((t * 5))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
	"$@"
}
remote_on() { # NS MAC VTEP: NS's vxlan0 sends MAC to VTEP (EVPN-installed)
	ip netns exec "$1" bridge fdb show dev vxlan0 | grep -q "^$2 dst $3 self extern_learn"
}
check "BGP EVPN session between the hosts is up" \
	wait_for 30 bash -c "ip netns exec $NS_A vtysh --vty_socket $FRR/a -c 'show bgp l2vpn evpn summary' | grep -E '^b\\(10.97.0.2\\) .* [0-9]+ +[0-9]+ +N/A'"
check "host B learned a1 and a2 as EVPN type-2 routes" \
	wait_for 15 bash -c "r=\$(ip netns exec $NS_B vtysh --vty_socket $FRR/b -c 'show bgp l2vpn evpn route type macip'); echo \"\$r\" | grep -q '\\[$A1\\]' && echo \"\$r\" | grep -q '\\[$A2\\]'"
check "host B's vxlan0 sends a1 and a2 to host A's VTEP" \
	wait_for 10 bash -c "ip netns exec $NS_B bridge fdb show dev vxlan0 | grep -q '^$A1 dst 10.97.0.1 self extern_learn' && ip netns exec $NS_B bridge fdb show dev vxlan0 | grep -q '^$A2 dst 10.97.0.1 self extern_learn'"
check "host A's vxlan0 sends b1 to host B's VTEP" \
	wait_for 10 remote_on "$NS_A" "$B1" 10.97.0.2
check "no flood entry on either vxlan0 (flooding disabled)" \
	bash -c "! ip netns exec $NS_A bridge fdb show dev vxlan0 | grep -q '^00:00:00:00:00:00' && ! ip netns exec $NS_B bridge fdb show dev vxlan0 | grep -q '^00:00:00:00:00:00'"

# guest_on LOG POOL NAME OUT ARGS...: a guest in the background, attached.
guest_on() {
	POOL_FILE=$2 attached_bg "$1" "$3" "$4" guest "$3" "${@:5}"
}
guest_on "$DAEMON_LOG" "$SHM-pool" a1 "$WORK/a1.out" rx --count "$N" --timeout 10 --pcap "$WORK/ba.rx.pcap"
p=$LAST_BG
POOL_FILE=$SHM-bpool guest b1 tx --dst "$A1" --count "$N" --size 400 --pcap "$WORK/ba.tx.pcap" >/dev/null 2>&1
wait "$p"
check "b1 (host B) -> a1 (host A) by the EVPN route, $N frames byte for byte" \
	"$B/fs-pkt" cmp "$WORK/ba.tx.pcap" "$WORK/ba.rx.pcap"
guest_on "$LOG_B" "$SHM-bpool" b1 "$WORK/b1.out" rx --count "$N" --timeout 10 --pcap "$WORK/ab.rx.pcap"
p=$LAST_BG
POOL_FILE=$SHM-pool guest a2 tx --dst "$B1" --count "$N" --size 400 --pcap "$WORK/ab.tx.pcap" >/dev/null 2>&1
wait "$p"
check "a2 (host A) -> b1 (host B) by the EVPN route, $N frames byte for byte" \
	"$B/fs-pkt" cmp "$WORK/ab.tx.pcap" "$WORK/ab.rx.pcap"

# --- vm del and exit take the MACs back out, here and on the other host
check "vm del a2" "$B/flipswitchctl" -s "$WORK/a.sock" vm del a2
check "after vm del, host A's bridge no longer lists a2 (a1 still)" \
	bash -c "f=\$(ip netns exec $NS_A bridge fdb show br br0); ! echo \"\$f\" | grep -q '^$A2 ' && echo \"\$f\" | grep -q '^$A1 dev fsvm0'"
check "and host B's vxlan0 forgets a2 (route withdrawn)" \
	wait_for 10 bash -c "! ip netns exec $NS_B bridge fdb show dev vxlan0 | grep -q '^$A2 '"
sleep 0.2
check "host A: frame ownership audit: counts sum to the pool size" frames_ok
check "host A: SIGTERM stops the daemon with status 0" stop_daemon
check "after host A's daemon exits, its bridge no longer lists a1" \
	bash -c "! ip netns exec $NS_A bridge fdb show br br0 | grep -q '^$A1 '"
check "host B: SIGTERM stops the daemon with status 0" stop_b
check "host B: no sanitizer report in its log" \
	bash -c "! grep -E 'runtime error:|ERROR: (Address|Leak)Sanitizer' $LOG_B"
