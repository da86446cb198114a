#!/usr/bin/env bash
# The daemon's life cycle: a config mistake stops it before it attaches
# anything; a good config comes up, logs "ready", and SIGINT takes everything
# down again; generic XDP mode works as well as native; the interface's rx
# VLAN stripping is off while it runs; the bridge FDB entries of a daemon
# killed with SIGKILL are removed by the next one, an admin's are not.
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

# --check lists every mistake in one run, in line order: found as the
# interface (line 3), the MAC (line 7), then batch (line 1).
{ echo "batch = 0;"; sed "s/\"$IF_SW\"/\"${ID}none\"/" "$WORK/bad.conf"; } >"$WORK/many.conf"
ip netns exec "$NS_SW" "$B/flipswitchd" --check -c "$WORK/many.conf" 2>"$WORK/many.err"
rc=$?
check "--check with three mistakes exits 1" test "$rc" -eq 1
check "--check names all three, one a line, in line order" \
	bash -c "sed -n 's/^flipswitchd: [^:]*many.conf:\([0-9]*\): .*/\1/p' $WORK/many.err | paste -sd, | grep -qx '1,3,7' && [ \$(wc -l <$WORK/many.err) -eq 3 ]"
check "... each with its own sentence" \
	bash -c "grep -q ':1: batch 0 is out of range' $WORK/many.err && grep -q ':3: interface \"${ID}none\" does not exist' $WORK/many.err && grep -q ':7: vm \"web2\": mac \"52:54:00:zz:00:02\" is not a MAC address' $WORK/many.err"
# A syntax error says what libconfig expected, and where.
sed 's/"52:54:00:00:00:01"/52:54:00:00:00:01/' "$WORK/good.conf" >"$WORK/syntax.conf"
ip netns exec "$NS_SW" "$B/flipswitchd" --check -c "$WORK/syntax.conf" 2>"$WORK/syntax.err"
check "--check on a MAC without quotes: the line and what was expected" \
	grep -q "syntax.conf:5: syntax error: expected ';' or the next setting after the value of \"mac\", found ':' (text with ':' in it, like a MAC address, needs double quotes)" "$WORK/syntax.err"

# Generic (skb) mode, chosen by config.
XDP_MODE=generic write_config "$WORK/gen.conf" "web1 52:54:00:00:00:01"
# Rx VLAN stripping (on by default on veth) would hide tags from the XDP
# program: off while the switch runs, back on after.
vlan_strip() { ip netns exec "$NS_SW" ethtool -k "$IF_SW" | sed -n 's/^rx-vlan-offload: \([a-z]*\).*/\1/p'; }
ip netns exec "$NS_SW" ethtool -K "$IF_SW" rxvlan on
if start_daemon "$WORK/gen.conf"; then
	check "generic mode: program attached as xdpgeneric" \
		bash -c "ip -n $NS_SW link show $IF_SW | grep -q xdpgeneric"
	check "rx VLAN stripping off while the switch runs" test "$(vlan_strip)" = off
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
	check "rx VLAN stripping back on after" test "$(vlan_strip)" = on
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
	check "... and an orderly exit (no sanitizer report)" \
		bash -c "! grep -Eq 'AddressSanitizer|runtime error' $WORK/two.err"
	check "the first daemon is undisturbed" kill -0 "$DAEMON_PID"
	stop_daemon
fi

# publish_fdb and SIGKILL: the VMs' entries a killed daemon left in the
# bridge are removed by the next daemon with the same control socket (its
# trail, ctl.sock.fdb), except the one it publishes again; an admin's
# static entry on the same port stays throughout.
has_fdb() { # has_fdb MAC...: each static on $IF_SW in fsbr0 (!MAC: not there)
	local f m
	f=$(ip netns exec "$NS_SW" bridge fdb show br fsbr0)
	for m in "$@"; do
		if [ "${m#!}" != "$m" ]; then
			echo "$f" | grep -q "^${m#!} " && { echo "$m is there"; return 1; }
		else
			echo "$f" | grep -q "^$m dev $IF_SW master fsbr0 static" || { echo "$m is not"; return 1; }
		fi
	done
	return 0
}
ip -n "$NS_SW" link add fsbr0 type bridge
ip -n "$NS_SW" link set "$IF_SW" master fsbr0
ip -n "$NS_SW" link set fsbr0 up
ip netns exec "$NS_SW" bridge fdb add 52:54:00:00:0a:aa dev "$IF_SW" master static
write_config "$WORK/fdb2.conf" "web1 52:54:00:00:00:01" "web2 52:54:00:00:00:02"
write_config "$WORK/fdb1.conf" "web1 52:54:00:00:00:01"
sed -i 's/; } );/; publish_fdb = true; } );/' "$WORK/fdb1.conf" "$WORK/fdb2.conf"
if start_daemon "$WORK/fdb2.conf"; then
	check "publish_fdb: web1 and web2 static in the bridge" \
		has_fdb 52:54:00:00:00:01 52:54:00:00:00:02
	kill -KILL "$DAEMON_PID"
	wait "$DAEMON_PID" 2>/dev/null
	DAEMON_PID=
	check "SIGKILL: the trail stays" test -s "$WORK/ctl.sock.fdb"
	check "SIGKILL: the entries stay" \
		has_fdb 52:54:00:00:00:01 52:54:00:00:00:02 52:54:00:00:0a:aa
	# What the daemon's message says to do with its XDP program.
	ip -n "$NS_SW" link set "$IF_SW" xdp off
	if start_daemon "$WORK/fdb1.conf"; then
		check "the next daemon (web1 only) removes web2's entry" \
			has_fdb !52:54:00:00:00:02
		check "... keeps web1's, which it publishes, and the admin's" \
			has_fdb 52:54:00:00:00:01 52:54:00:00:0a:aa
		check "... and logs what it removed" \
			grep -q "bridge fdb: $IF_SW 52:54:00:00:00:02 0 removed" "$DAEMON_LOG"
		stop_daemon
		check "its SIGTERM: web1's entry goes, the admin's stays" \
			has_fdb !52:54:00:00:00:01 52:54:00:00:0a:aa
		check "... and the trail" test ! -e "$WORK/ctl.sock.fdb"
	else
		not_ok "publish_fdb: a daemon starts after one was killed"
	fi
else
	not_ok "publish_fdb: daemon starts on a bridge port"
fi
ip -n "$NS_SW" link set "$IF_SW" nomaster
ip -n "$NS_SW" link del fsbr0

# A pool on hugetlbfs: a private mount, 2 MiB pages reserved for the test
# and given back after. Skipped where the kernel cannot find the pages.
old_hp=$(cat /proc/sys/vm/nr_hugepages)
HUGEPAGES_BEFORE=$old_hp
echo $((old_hp + 8)) >/proc/sys/vm/nr_hugepages 2>/dev/null
if [ "$(cat /proc/sys/vm/nr_hugepages)" -ge $((old_hp + 8)) ]; then
	mkdir -p "$WORK/huge"
	mount -t hugetlbfs -o pagesize=2M none "$WORK/huge"
	FRAMES=4096 write_config "$WORK/huge.conf" "web1 52:54:00:00:00:01"
	sed -i "s|path = \"$SHM-pool\"|path = \"$WORK/huge/pool\"|" "$WORK/huge.conf"
	if start_daemon "$WORK/huge.conf"; then
		check "hugetlbfs pool: the daemon says so" grep -q "8 MiB, hugetlbfs" "$DAEMON_LOG"
		POOL_FILE=$WORK/huge/pool
		guest_bg web1 "$WORK/h.out" rx --count 16 --timeout 10 --pcap "$WORK/h.pcap"
		pid=$LAST_BG
		peer "$B/fs-pkt" send -i "$IF_PEER" --dst 52:54:00:00:00:01 --count 16 -w "$WORK/h.tx.pcap" >/dev/null
		wait "$pid"
		check "hugetlbfs pool: frames reach the guest byte for byte" \
			"$B/fs-pkt" cmp "$WORK/h.tx.pcap" "$WORK/h.pcap"
		stop_daemon
		POOL_FILE=
	else
		not_ok "hugetlbfs pool: daemon starts"
	fi
	umount "$WORK/huge"
else
	skip "hugetlbfs pool (the kernel could not reserve 2 MiB pages)"
fi
echo "$old_hp" >/proc/sys/vm/nr_hugepages
HUGEPAGES_BEFORE=
