#!/bin/bash
# Benchmark case "ovs-afxdp-tap": Open vSwitch (Debian's openvswitch-switch)
# with its userspace datapath, a veth end as an afxdp port and a tap device
# as a plain port, one flow from the first to the second: what most people
# would set up for VMs on AF_XDP (OVS's afxdp.rst, "PVP using tap device").
# ovsdb-server and ovs-vswitchd run by hand in the switch's namespace with
# a private database, sockets and logs in DIR, and leave nothing behind.
#   case-ovs.sh available | start NS IFACE TAP DIR CPU | stop DIR
set -u

die() { echo "case-ovs: $*" >&2; exit 1; }
unavail() { echo "unavailable: $*"; exit 1; }
SCHEMA=/usr/share/openvswitch/vswitch.ovsschema

# State in DIR/state: NS IFACE BRIDGE.
load() { [ -r "$1/state" ] || die "no state in $1"; read -r NS IFACE BR <"$1/state"; }

vsctl() { ovs-vsctl --db="unix:$D/db.sock" --timeout=10 "$@"; }

stop() {
	local p i pid
	D=$1
	load "$D"
	# exit --cleanup takes the ports down, and with them the XDP program
	# and sockets of the afxdp port.
	[ -S "$D/vswitchd.ctl" ] && timeout 10 ovs-appctl -t "$D/vswitchd.ctl" exit --cleanup >/dev/null 2>&1
	for p in vswitchd ovsdb; do
		pid=$(cat "$D/$p.pid" 2>/dev/null) || continue
		kill -TERM "$pid" 2>/dev/null
		i=0
		while kill -0 "$pid" 2>/dev/null && [ $((i += 1)) -le 50 ]; do sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null
		rm -f "$D/$p.pid"
	done
	ip -n "$NS" link set dev "$IFACE" xdp off 2>/dev/null
	rm -f "$D/state" "$D"/*.sock "$D"/*.ctl "$D"/*.mgmt "$D"/*.snoop
}

case "${1:-}" in
available)
	[ "$(id -u)" = 0 ] || unavail "needs root (AF_XDP, XDP attach)"
	if ! command -v ovs-vswitchd >/dev/null; then
		DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y -q --no-install-recommends \
			openvswitch-switch >/dev/null 2>&1 || unavail "apt-get install openvswitch-switch failed"
	fi
	for c in ovs-vswitchd ovsdb-server ovsdb-tool ovs-vsctl ovs-ofctl ovs-appctl; do
		command -v $c >/dev/null || unavail "$c not found"
	done
	[ -r $SCHEMA ] || unavail "no $SCHEMA"
	ldd "$(command -v ovs-vswitchd)" | grep -q -E 'libxdp|libbpf' ||
		unavail "this ovs-vswitchd is built without AF_XDP"
	exit 0 ;;
start)
	[ $# = 6 ] || die "usage: start NS IFACE TAP DIR CPU"
	NS=$2 IFACE=$3 TAP=$4 D=$5 CPU=$6 BR=fsovs$$
	mkdir -p "$D" || die "cannot create $D"
	D=$(cd "$D" && pwd)
	[ ${#D} -lt 90 ] || die "DIR path too long for a unix socket: $D"
	[ -e "$D/state" ] && die "$D already has a running case (stop it first)"
	echo "$NS $IFACE $BR" >"$D/state"
	export OVS_RUNDIR=$D OVS_DBDIR=$D OVS_LOGDIR=$D OVS_SYSCONFDIR=$D
	fail() { stop "$D"; die "$*"; }
	rm -f "$D/conf.db"
	ovsdb-tool create "$D/conf.db" $SCHEMA || fail "ovsdb-tool create failed"
	setsid taskset -c "$CPU" ovsdb-server "$D/conf.db" --remote="punix:$D/db.sock" \
		--unixctl="$D/ovsdb.ctl" --log-file="$D/ovsdb.log" --no-chdir \
		</dev/null >/dev/null 2>&1 &
	echo $! >"$D/ovsdb.pid"
	for _ in $(seq 100); do [ -S "$D/db.sock" ] && break; sleep 0.1; done
	vsctl --no-wait init || fail "ovsdb-server did not start, see $D/ovsdb.log"
	# The PMD thread that polls the afxdp port on CPU, the main thread
	# (which serves the tap port) there too.
	vsctl --no-wait set Open_vSwitch . "other_config:pmd-cpu-mask=$(printf '0x%x' $((1 << CPU)))" ||
		fail "cannot configure"
	setsid taskset -c "$CPU" ip netns exec "$NS" ovs-vswitchd "unix:$D/db.sock" \
		--unixctl="$D/vswitchd.ctl" --log-file="$D/vswitchd.log" --no-chdir \
		</dev/null >/dev/null 2>&1 &
	echo $! >"$D/vswitchd.pid"
	for _ in $(seq 100); do [ -S "$D/vswitchd.ctl" ] && break; sleep 0.1; done
	[ -S "$D/vswitchd.ctl" ] || fail "ovs-vswitchd did not start, see $D/vswitchd.log"
	vsctl add-br "$BR" -- set bridge "$BR" datapath_type=netdev ||
		fail "add-br failed, see $D/vswitchd.log"
	# veth has native XDP and copy mode only.
	vsctl add-port "$BR" "$IFACE" -- set interface "$IFACE" type=afxdp \
		options:xdp-mode=native options:n_rxq=1 || fail "afxdp port failed, see $D/vswitchd.log"
	vsctl add-port "$BR" "$TAP" || fail "tap port failed, see $D/vswitchd.log"
	for p in "$IFACE" "$TAP"; do
		e=$(vsctl get interface "$p" error 2>/dev/null)
		[ -z "$e" ] || [ "$e" = '[]' ] || fail "port $p: $e"
	done
	ovs-ofctl del-flows "$BR" && ovs-ofctl add-flow "$BR" "in_port=$IFACE,actions=output:$TAP" ||
		fail "cannot set the flow"
	exit 0 ;;
stop)
	[ $# = 2 ] || die "usage: stop DIR"
	stop "$2" ;;
*)
	die "usage: $0 available | start NS IFACE TAP DIR CPU | stop DIR" ;;
esac
