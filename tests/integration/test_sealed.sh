#!/usr/bin/env bash
# Sealed regions (sealed = true, issue 18): a VM whose ring region is a
# memfd sealed against shrinking and growing, handed out only on its
# doorbell. A host-side doorbell guest takes the region from the socket and
# receives the wire's frames byte for byte; an attacker that opens the
# region through /proc/PID/fd (the daemon's, the guest's) can neither cut
# it short nor grow it (EPERM), and the VM is never taken out
# (region_truncated stays 0). flipswitch-qemu-args prints only the
# doorbell form; vm add --sealed follows the config's rule.
. "$(dirname "$0")/lib.sh"
require_root sealed

VM1=52:54:00:00:00:01
VM2=52:54:00:00:00:02
VM3=52:54:00:00:00:03
N=200

bed_up || { not_ok "test-bed"; exit 1; }
{
	echo "pool = { path = \"$SHM-pool\"; frames = 4096; frame_size = 2048; };"
	echo "interfaces = ( { name = \"$IF_SW\"; xdp_mode = \"native\"; } );"
	echo "control = \"$WORK/ctl.sock\";"
	echo "vms = ( { name = \"web1\"; mac = \"$VM1\"; quota = 512; sealed = true; },"
	echo "        { name = \"web2\"; mac = \"$VM2\"; rings = \"$SHM-web2\"; quota = 512; } );"
} >"$WORK/fs.conf"
start_daemon "$WORK/fs.conf" || { not_ok "daemon starts"; exit 1; }
ctl() { "$B/flipswitchctl" -s "$WORK/ctl.sock" "$@"; }
vm_field() { ctl -j "$1" | jq -r ".$2[] | select(.name == \"$3\") | .$4"; }

check "a sealed VM makes no ring file" test ! -e "$SHM-web1"
"$B/flipswitch-qemu-args" web1 -c "$WORK/fs.conf" --lines >"$WORK/qa.out" 2>&1
check "flipswitch-qemu-args gives a sealed VM only the doorbell form" \
	bash -c "grep -q 'ivshmem-doorbell,chardev=fs-bell' $WORK/qa.out && grep -q 'path=$WORK/web1.doorbell' $WORK/qa.out && ! grep -q fs-rings $WORK/qa.out"

# region_fd PID: the path under /proc of PID's fd on web1's sealed region.
region_fd() {
	local f
	for f in /proc/"$1"/fd/*; do
		case "$(readlink "$f")" in "/memfd:region@web1"*) echo "$f"; return 0 ;; esac
	done
	return 1
}

# rx_guest NAME: a doorbell guest on VM NAME receiving N frames into
# $WORK/r-NAME.pcap, in the background (its PID in G), once attached.
rx_guest() {
	local n
	n=$(grep -c "vm $1: guest attached" "$DAEMON_LOG")
	"$B/flipswitch-guest" --pool "$SHM-pool" --doorbell "$WORK/$1.doorbell" \
		rx --count "$N" --timeout 20 --pcap "$WORK/r-$1.pcap" >"$WORK/g-$1.out" 2>&1 &
	G=$!
	BG_PIDS+=($G)
	wait_log "vm $1: guest attached" 10 $((n + 1)) >/dev/null
}

rx_guest web1
g1=$G
check "a doorbell guest attaches to the sealed region" \
	grep -q "vm web1: a guest connected to the doorbell" "$DAEMON_LOG"

dfd=$(region_fd "$DAEMON_PID")
check "the daemon holds web1's region as a memfd" test -n "$dfd"
# F_SEAL_SEAL 1 | F_SEAL_SHRINK 2 | F_SEAL_GROW 4, and no write seal.
check "its seals: F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL" \
	test "$(python3 -c 'import fcntl, os, sys; print(fcntl.fcntl(os.open(sys.argv[1], os.O_RDONLY), fcntl.F_GET_SEALS))' "$dfd")" = 7
# Both ways in: the daemon's fd, and the guest's mapping of it (its fd,
# or, if it closed that, the mapping's file).
gfd=$(region_fd "$g1") || gfd=$(for f in /proc/"$g1"/map_files/*; do
	case "$(readlink "$f")" in "/memfd:region@web1"*) echo "$f"; break ;; esac
done)
check "the guest maps web1's region, the memfd" test -n "$gfd"
for p in "$dfd" "$gfd"; do
	[ -n "$p" ] || continue
	via="the daemon's fd"
	[ "$p" = "$gfd" ] && via="the guest's mapping"
	check "cutting the region short through $via fails: EPERM" \
		bash -c "out=\$(truncate -s 0 $p 2>&1); test \$? != 0 && echo \"\$out\" | grep -q 'Operation not permitted'"
	check "growing the region through $via fails: EPERM" \
		bash -c "out=\$(truncate -s 1G $p 2>&1); test \$? != 0 && echo \"\$out\" | grep -q 'Operation not permitted'"
done

peer "$B/fs-pkt" send -i "$IF_PEER" --dst "$VM1" --count "$N" -w "$WORK/s1.pcap" >/dev/null
wait "$g1"
check "the sealed VM's guest gets the wire's frames byte for byte" \
	"$B/fs-pkt" cmp "$WORK/s1.pcap" "$WORK/r-web1.pcap"
check "the daemon is alive" kill -0 "$DAEMON_PID"
check "web1 counts region_truncated = 0" test "$(vm_field stats ports web1 region_truncated)" = 0
check "nothing was cut short" bash -c "! grep -q 'cut short' $DAEMON_LOG"
check "show names no file for web1's rings" \
	test "$(vm_field show vms web1 rings)" = "(sealed memfd)"
check "frame ownership audit: counts sum to the pool size" frames_ok

# --- vm add --sealed: the config's rule
check "vm add --sealed with --rings is refused" \
	bash -c "$B/flipswitchctl -s $WORK/ctl.sock vm add web3 --mac $VM3 --sealed --rings $SHM-web3 2>&1 | grep -q 'is not used by a sealed VM'"
check "vm add --sealed --doorbell off is refused" \
	bash -c "$B/flipswitchctl -s $WORK/ctl.sock vm add web3 --mac $VM3 --sealed --doorbell off 2>&1 | grep -q 'sealed = true needs a doorbell'"
check "vm add without --rings nor --sealed is refused" \
	bash -c "$B/flipswitchctl -s $WORK/ctl.sock vm add web3 --mac $VM3 2>&1 | grep -q 'rings is missing'"
check "vm add web3 --sealed" ctl vm add web3 --mac "$VM3" --sealed
rx_guest web3
g3=$G
peer "$B/fs-pkt" send -i "$IF_PEER" --dst "$VM3" --count "$N" -w "$WORK/s3.pcap" >/dev/null
wait "$g3"
check "a VM added sealed gets its frames byte for byte" \
	"$B/fs-pkt" cmp "$WORK/s3.pcap" "$WORK/r-web3.pcap"
check "vm del web3" ctl vm del web3
check "frame ownership audit after vm del: exact" frames_ok
stop_daemon
check "the daemon stops cleanly" test $? = 0
sanitizer_check
