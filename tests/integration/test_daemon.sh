#!/usr/bin/env bash
# The daemon's life cycle: a config mistake stops it before it attaches
# anything; a good config comes up, logs "ready", and SIGINT takes everything
# down again; generic XDP mode works as well as native.
. "$(dirname "$0")/lib.sh"
require_root daemon

bed_up || { not_ok "test-bed"; exit 1; }

# A mistake on line 6: a bad MAC. The daemon must exit non-zero, name the
# file and line, and leave no program and no file behind.
write_config "$WORK/bad.conf" "web1 52:54:00:00:00:01" "web2 52:54:00:zz:00:02"
ip netns exec "$NS_SW" "$B/flipswitchd" -c "$WORK/bad.conf" 2>"$WORK/bad.err"
rc=$?
check "a bad MAC stops the daemon with a non-zero exit" test "$rc" -ne 0
check "the message names file, line and the MAC" \
	grep -q "bad.conf:6: .*52:54:00:zz:00:02" "$WORK/bad.err"
check "nothing attached after a config error" \
	bash -c "! ip -n $NS_SW link show $IF_SW | grep -q xdp"
check "no pool or ring file created after a config error" \
	bash -c "! ls $SHM-* 2>/dev/null | grep -q ."

# A missing interface.
sed "s/\"$IF_SW\"/\"${ID}none\"/" "$WORK/bad.conf" | sed 's/zz/00/' >"$WORK/noif.conf"
ip netns exec "$NS_SW" "$B/flipswitchd" -c "$WORK/noif.conf" 2>"$WORK/noif.err"
rc=$?
check "a missing interface stops the daemon" test "$rc" -ne 0
check "the message names file, line and the interface" \
	grep -q "noif.conf:2: .*${ID}none.*does not exist" "$WORK/noif.err"

# --check validates without touching anything.
write_config "$WORK/good.conf" "web1 52:54:00:00:00:01"
check "--check accepts a good config" \
	ip netns exec "$NS_SW" "$B/flipswitchd" --check -c "$WORK/good.conf"

# Generic (skb) mode, chosen by config.
XDP_MODE=generic write_config "$WORK/gen.conf" "web1 52:54:00:00:00:01"
if start_daemon "$WORK/gen.conf"; then
	check "generic mode: program attached as xdpgeneric" \
		bash -c "ip -n $NS_SW link show $IF_SW | grep -q xdpgeneric"
	check "ready line logged" grep -q "ready: 1 interface, 1 vm" "$DAEMON_LOG"
	guest_bg web1 "$WORK/g.out" rx --count 16 --timeout 10 --pcap "$WORK/g.pcap"
	pid=$LAST_BG
	peer "$B/fs-pkt" send -i "$IF_PEER" --dst 52:54:00:00:00:01 --count 16 -w "$WORK/g.tx.pcap" >/dev/null
	wait "$pid"
	check "generic mode: frames reach the guest byte for byte" \
		"$B/fs-pkt" cmp "$WORK/g.tx.pcap" "$WORK/g.pcap"
	kill -INT "$DAEMON_PID"
	wait "$DAEMON_PID"
	rc=$?
	DAEMON_PID=
	check "SIGINT stops the daemon with status 0" test "$rc" -eq 0
	check "generic program detached" \
		bash -c "! ip -n $NS_SW link show $IF_SW | grep -q xdp"
	check "files removed" bash -c "! ls $SHM-* 2>/dev/null | grep -q ."
else
	not_ok "generic mode: daemon starts"
fi

# A second daemon on the same pool is refused while the first runs.
write_config "$WORK/one.conf" "web1 52:54:00:00:00:01"
if start_daemon "$WORK/one.conf"; then
	ip netns exec "$NS_SW" "$B/flipswitchd-debug" -c "$WORK/one.conf" 2>"$WORK/two.err"
	rc=$?
	check "a second daemon on the same pool is refused (exit status 1)" test "$rc" -eq 1
	check "... with a sentence saying why" \
		grep -q "is in use by another flipswitchd" "$WORK/two.err"
	check "the first daemon is undisturbed" kill -0 "$DAEMON_PID"
	stop_daemon
fi
