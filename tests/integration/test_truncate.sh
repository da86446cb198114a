#!/usr/bin/env bash
# Shared files cut short under a running switch (issue 18): a VM's ring
# region truncated under traffic, with its guest holding frames, takes that
# VM out (its frames back, counted region_truncated, logged) while the
# other VM's traffic arrives byte for byte; an idle VM's region truncated
# (no guest at all) does the same; vm del and vm add serve the VM again. A
# region header scribbled on is written back and a later guest attaches;
# deleted just after a scribble, the kept file is a region vm add takes
# again. A pool truncated under traffic stops the daemon cleanly: status
# 1, not a SIGBUS, the XDP program detached, the files left, a clear
# message.
. "$(dirname "$0")/lib.sh"
require_root truncate

VM1=52:54:00:00:00:01
VM2=52:54:00:00:00:02
VM3=52:54:00:00:00:03
# Fewer than a quota (512) less the 128 frames lent: no drop however
# slowly the guest gives them back.
N=200

bed_up || { not_ok "test-bed"; exit 1; }
write_config "$WORK/fs.conf" "web1 $VM1" "web2 $VM2" "web3 $VM3"
start_daemon "$WORK/fs.conf" || { not_ok "daemon starts"; exit 1; }
ctl() { "$B/flipswitchctl" -s "$WORK/ctl.sock" "$@"; }
vm_field() { ctl -j "$1" | jq -r ".$2[] | select(.name == \"$3\") | .$4"; }
# exact NAME MAC: N frames from the wire to a new guest on VM NAME, sent
# to $WORK/s-NAME.pcap, received to $WORK/r-NAME.pcap.
exact() {
	local g
	guest_bg "$1" "$WORK/r-$1.out" rx --count "$N" --timeout 10 --pcap "$WORK/r-$1.pcap"
	g=$LAST_BG
	peer "$B/fs-pkt" send -i "$IF_PEER" --dst "$2" --count "$N" -w "$WORK/s-$1.pcap" >/dev/null
	wait "$g"
}

# --- a ring region cut short under traffic, its guest holding frames
guest_bg web1 "$WORK/h1.out" rx --hold --timeout 30
h1=$LAST_BG
peer "$B/fs-pkt" send -i "$IF_PEER" --dst "$VM1" --count 20 >/dev/null
sleep 0.3
check "web1's guest holds frames (20 received + 128 lent)" \
	test "$(vm_field show vms web1 held)" = 148
guest_bg web2 "$WORK/g2.out" rx --timeout 20
g2=$LAST_BG
# Both VMs' traffic for ~1 s, web1's region cut short half-way.
peer "$B/fs-pkt" send -i "$IF_PEER" --dst "$VM1" --count 4000 --interval-us 250 >/dev/null &
s1=$!
BG_PIDS+=($s1)
peer "$B/fs-pkt" send -i "$IF_PEER" --dst "$VM2" --count 4000 --interval-us 250 >/dev/null &
s2=$!
BG_PIDS+=($s2)
sleep 0.5
truncate -s 0 "$SHM-web1"
wait_log "vm web1: its ring region .* was cut short" 5 >/dev/null
wait "$s1" "$s2"
check "the daemon survives web1's region cut short under traffic" kill -0 "$DAEMON_PID"
check "it says so once, naming the VM and the file" \
	test "$(grep -c "vm web1: its ring region $SHM-web1 was cut short" "$DAEMON_LOG")" = 1
check "web1 holds no frame: every one taken back" test "$(vm_field show vms web1 held)" = 0
check "web1 counts region_truncated = 1" test "$(vm_field stats ports web1 region_truncated)" = 1
check "show says web1 is broken" bash -c "$B/flipswitchctl -s $WORK/ctl.sock show | grep -E '^web1 .* broken '"
kill "$h1" "$g2" 2>/dev/null
wait "$h1" "$g2" 2>/dev/null
# The other VM, exact, after it.
exact web2 "$VM2"
check "web2's traffic arrives byte for byte" "$B/fs-pkt" cmp "$WORK/s-web2.pcap" "$WORK/r-web2.pcap"
check "frame ownership audit: counts sum to the pool size" frames_ok

# --- an idle VM's region (no guest ever attached): the sweep touches it
truncate -s 0 "$SHM-web3"
wait_log "vm web3: its ring region .* was cut short" 5 >/dev/null
check "an idle VM's region cut short takes it out, the daemon alive" \
	bash -c "kill -0 $DAEMON_PID && grep -q 'vm web3: its ring region' $DAEMON_LOG"

# --- vm del and vm add serve it again, on the same path
check "vm del web1 (broken)" ctl vm del web1
check "vm add web1 again on the same file" ctl vm add web1 --mac "$VM1" --rings "$SHM-web1"
exact web1 "$VM1"
check "web1 added again gets its traffic byte for byte" "$B/fs-pkt" cmp "$WORK/s-web1.pcap" "$WORK/r-web1.pcap"
check "frame ownership audit after vm add: exact" frames_ok

# --- a region header scribbled on (as by a guest, or anyone who may write
# the file): written back within a few hundred ms, a later guest attaches
scribble() { printf 'XXXXXXXXXXXXXXXXXXXXXXXX' | dd of="$1" bs=1 conv=notrunc status=none; }
scribble "$SHM-web2"
sleep 0.3
check "the scribbled header of web2 is written back" \
	bash -c "head -c 8 $SHM-web2 | grep -q FLIPSWCH"
exact web2 "$VM2"
check "a guest attaches after the scribble, its traffic byte for byte" \
	"$B/fs-pkt" cmp "$WORK/s-web2.pcap" "$WORK/r-web2.pcap"
check "web2 counts header_repaired = 1" test "$(vm_field stats ports web2 header_repaired)" = 1
# Scribbled with a guest attached, then deleted: the file stays (the
# guest maps it), as a region, so vm add takes it again.
guest_bg web2 "$WORK/h2.out" rx --hold --timeout 30
h2=$LAST_BG
scribble "$SHM-web2"
check "vm del web2 just after a scribble" ctl vm del web2
check "vm add web2 again on the kept file" ctl vm add web2 --mac "$VM2" --rings "$SHM-web2"
kill "$h2" 2>/dev/null
wait "$h2" 2>/dev/null
exact web2 "$VM2"
check "web2 added again gets its traffic byte for byte" \
	"$B/fs-pkt" cmp "$WORK/s-web2.pcap" "$WORK/r-web2.pcap"

# --- the pool cut short under traffic: a clean stop
peer "$B/fs-pkt" send -i "$IF_PEER" --dst "$VM2" --count 3000 --interval-us 250 >/dev/null &
s2=$!
BG_PIDS+=($s2)
sleep 0.3
truncate -s 0 "$SHM-pool"
for _ in $(seq 100); do kill -0 "$DAEMON_PID" 2>/dev/null || break; sleep 0.05; done
wait "$DAEMON_PID"
rc=$?
DAEMON_PID=
wait "$s2"
check "the daemon stops with status 1, not a SIGBUS ($rc)" test "$rc" = 1
check "it says the pool was cut short" grep -q "pool default: $SHM-pool was cut short under the switch: stopping" "$DAEMON_LOG"
check "the XDP program is detached" bash -c "! ip -n $NS_SW link show $IF_SW | grep -q xdp"
check "the pool and ring files are left" test -e "$SHM-pool" -a -e "$SHM-web2"
sanitizer_check
