#!/usr/bin/env bash
# Pools as trust domains, on real frames: a veth with 4 queues, pool red
# (queues 0-1, VMs r1 and r2) and pool blue (queues 2-3, VM b1). The peer
# picks the queue a frame arrives on (fs-pkt --queue: on a veth a frame
# sent on tx queue q arrives on the peer's rx queue q; checked below on the
# daemon's per-queue counters). Zero copy inside a pool, exactly one copy
# across, counted; a process mapping red's pool never finds what blue's
# queues carried to b1; a hostile guest in red changes nothing for b1.
. "$(dirname "$0")/lib.sh"
require_root pools

R1=52:54:00:00:01:01
R2=52:54:00:00:01:02
B1=52:54:00:00:02:01
N=64
CTL=("$B/flipswitchctl" -s "$WORK/ctl.sock")

QUEUES=4 bed_up || { not_ok "test-bed"; exit 1; }
cat >"$WORK/fs.conf" <<EOF
pools = (
  { name = "red"; path = "$SHM-red"; frames = 4096; frame_size = 2048; scrub = "used"; },
  { name = "blue"; path = "$SHM-blue"; frames = 2048; frame_size = 2048; scrub = "used"; }
);
interfaces = ( { name = "$IF_SW"; xdp_mode = "native";
  pools = ( { pool = "red"; queues = [0, 1]; }, { pool = "blue"; queues = [2, 3]; } ); } );
control = "$WORK/ctl.sock";
vms = (
  { name = "r1"; mac = "$R1"; rings = "$SHM-r1"; pool = "red"; quota = 512; },
  { name = "r2"; mac = "$R2"; rings = "$SHM-r2"; pool = "red"; quota = 512; },
  { name = "b1"; mac = "$B1"; rings = "$SHM-b1"; pool = "blue"; quota = 512; }
);
EOF
if ! start_daemon "$WORK/fs.conf"; then
	not_ok "daemon starts with two pools and logs ready"
	exit 1
fi
ok "daemon starts with two pools and logs ready"

pool_of() { case $1 in r*) echo red ;; *) echo blue ;; esac; }
# vm NAME ARGS...: flipswitch-guest on VM NAME with its own pool's file.
vm() { POOL_FILE=$SHM-$(pool_of "$1") guest "$@"; }
vm_bg() { POOL_FILE=$SHM-$(pool_of "$1") guest_bg "$@"; }
# send DST QUEUE PCAP [ARGS...]: N frames from the peer on tx queue QUEUE.
send() {
	local dst=$1 q=$2 pcap=$3
	shift 3
	peer "$B/fs-pkt" send -i "$IF_PEER" --dst "$dst" --count "$N" --size 200 --queue "$q" -w "$pcap" "$@" >/dev/null
}
# copies POOL [REASON]: the copies into POOL (by REASON) since the start.
copies() {
	"${CTL[@]}" -j stats | jq -r --arg p "$1" --arg r "${2:-}" \
		'if $r == "" then .pools[$p].copies else .pools[$p].copies_by_reason[$r] end'
}
# rxq: the frames each of the port's queues received, "a/b/c/d".
rxq() {
	report >/dev/null || return 1
	echo "$REPORT" | grep "port $IF_SW:" | tail -1 | sed -n 's/.*per queue \([0-9/]*\)).*/\1/p'
}
# rxq_delta BEFORE AFTER: the difference, queue by queue.
rxq_delta() {
	paste -d' ' <(tr / '\n' <<<"$1") <(tr / '\n' <<<"$2") | awk '{printf "%s%d", (NR > 1 ? "/" : ""), $2 - $1}'
}

check "show lists each pool with its queues and VMs" \
	bash -c "${CTL[*]} -j show | jq -e '(.pools | map({(.name): {q: [.queues[].queue], v: .vms}}) | add) == {red: {q: [0, 1], v: [\"r1\", \"r2\"]}, blue: {q: [2, 3], v: [\"b1\"]}} and ([.vms[] | {(.name): .pool}] | add) == {r1: \"red\", r2: \"red\", b1: \"blue\"}'"
check "no zero-copy warning on a copy-mode veth" \
	bash -c "! grep -q 'may receive the host' $DAEMON_LOG"

# nic2vm VM MAC QUEUE TAG: N frames from the peer on QUEUE to guest VM,
# whose received pcap must be what was sent.
nic2vm() {
	vm_bg "$1" "$WORK/$4.out" rx --count "$N" --timeout 10 --pcap "$WORK/$4.rx.pcap"
	pid=$LAST_BG
	send "$2" "$3" "$WORK/$4.tx.pcap" --seed "$RANDOM"
	wait "$pid"
	"$B/fs-pkt" cmp "$WORK/$4.tx.pcap" "$WORK/$4.rx.pcap"
}

# --- queue 0, red's, for r1: zero copy
before=$(rxq)
check "frames for r1 on queue 0 (red's) reach r1, $N byte for byte" \
	nic2vm r1 "$R1" 0 r1a
after=$(rxq)
check "fs-pkt --queue 0: the $N frames arrived on rx queue 0 ($(rxq_delta "$before" "$after"))" \
	test "$(rxq_delta "$before" "$after")" = "$N/0/0/0"
check "frames for r1 on red's queue: no copy (red 0, blue 0)" \
	test "$(copies red)/$(copies blue)" = "0/0"

# --- queue 0, red's, for b1: one copy each, into blue
check "frames for b1 on queue 0 (red's) reach b1, $N byte for byte" \
	nic2vm b1 "$B1" 0 b1a
check "... with exactly one copy each, into blue (nic $N), none into red" \
	test "$(copies blue nic)/$(copies blue)/$(copies red)" = "$N/$N/0"

# --- queue 2, blue's, for b1: zero copy; and the queue is the one asked for
before=$(rxq)
check "frames for b1 on queue 2 (blue's) reach b1, $N byte for byte" \
	nic2vm b1 "$B1" 2 b1b
after=$(rxq)
check "... with no new copy" test "$(copies blue)" = "$N"
check "fs-pkt --queue 2: the $N frames arrived on rx queue 2 ($(rxq_delta "$before" "$after"))" \
	test "$(rxq_delta "$before" "$after")" = "0/0/$N/0"

# --- VM to VM across pools: one copy each way
# vm2vm FROM TO SIZE TAG: N frames from guest FROM to guest TO, whose
# received pcap must be what FROM sent.
vm2vm() {
	local mac
	case $2 in r1) mac=$R1 ;; r2) mac=$R2 ;; *) mac=$B1 ;; esac
	vm_bg "$2" "$WORK/$4.out" rx --count "$N" --timeout 10 --pcap "$WORK/$4.rx.pcap"
	pid=$LAST_BG
	vm "$1" tx --dst "$mac" --count "$N" --size "$3" --pcap "$WORK/$4.tx.pcap" >/dev/null 2>&1
	wait "$pid"
	"$B/fs-pkt" cmp "$WORK/$4.tx.pcap" "$WORK/$4.rx.pcap"
}
check "r1 -> b1 (red to blue), $N frames byte for byte" vm2vm r1 b1 400 rb
check "... one copy each into blue (vm $N)" test "$(copies blue vm)" = "$N"
check "b1 -> r1 (blue to red), $N frames byte for byte" vm2vm b1 r1 300 br
check "... one copy each into red (vm $N)" test "$(copies red vm)" = "$N"
check "r1 -> r2 (inside red), $N frames byte for byte" vm2vm r1 r2 300 rr
check "... by hand-off: red's copies unchanged" test "$(copies red)" = "$N"

# --- to the wire: b1 leaves on one of blue's queues, no copy
peer_recv "$N" "$B1" "$WORK/bw.rx.pcap"
vm b1 tx --dst "$PEER_MAC" --count "$N" --size 200 --pcap "$WORK/bw.tx.pcap" >/dev/null 2>&1
wait "$LAST_RECV"
check "b1 -> wire, $N frames byte for byte, on a queue of its own pool (wire copies 0)" \
	bash -c "$B/fs-pkt cmp $WORK/bw.tx.pcap $WORK/bw.rx.pcap && test \$(${CTL[*]} -j stats | jq '.pools.blue.copies_by_reason.wire + .pools.red.copies_by_reason.wire') = 0"

# --- broadcast from the wire: one copy per other pool with receivers
vm_bg r1 "$WORK/bc1.out" rx --count "$N" --timeout 10 --pcap "$WORK/bc1.pcap"
p1=$LAST_BG
vm_bg b1 "$WORK/bc2.out" rx --count "$N" --timeout 10 --pcap "$WORK/bc2.pcap"
p2=$LAST_BG
blue_before=$(copies blue flood)
peer "$B/fs-pkt" send -i "$IF_PEER" --dst ff:ff:ff:ff:ff:ff --count "$N" --size 150 -w "$WORK/bc.pcap" --seed 14 >/dev/null
wait "$p1" "$p2"
check "broadcast reaches r1 (red) and b1 (blue) byte for byte" \
	bash -c "$B/fs-pkt cmp $WORK/bc.pcap $WORK/bc1.pcap && $B/fs-pkt cmp $WORK/bc.pcap $WORK/bc2.pcap"
check "... with one copy into blue per frame (flood $N)" \
	test "$(($(copies blue flood) - blue_before))" = "$N"

# --- confidentiality: what blue's queues carry to b1 never is in red's pool
SEED=$(( (RANDOM << 15 | RANDOM) + 1000 ))
vm_bg b1 "$WORK/conf.out" rx --count $((2 * N)) --timeout 10
pid=$LAST_BG
send "$B1" 2 "$WORK/conf2.pcap" --seed "$SEED"
send "$B1" 3 "$WORK/conf3.pcap" --seed "$SEED"
wait "$pid"
check "b1 receives the $((2 * N)) marked frames sent on blue's queues 2 and 3" \
	grep -q "received $((2 * N))" "$WORK/conf.out"
"$B/flipswitch-guest" --pool "$SHM-red" scan --seed "$SEED" >"$WORK/scan-red.out"
"$B/flipswitch-guest" --pool "$SHM-blue" scan --seed "$SEED" >"$WORK/scan-blue.out"
check "a process mapping red's pool scans it all and finds no marker ($(cat "$WORK/scan-red.out"))" \
	grep -qx "found 0" "$WORK/scan-red.out"
check "... while the same scan of blue's pool finds them ($(cat "$WORK/scan-blue.out"))" \
	bash -c "! grep -qx 'found 0' $WORK/scan-blue.out"
# The other way round, as the docs say: a frame for b1 that arrives on a
# red queue was in red's memory before its copy (steering prevents it).
SEED2=$((SEED + 1))
vm_bg b1 "$WORK/conf4.out" rx --count "$N" --timeout 10
pid=$LAST_BG
send "$B1" 1 "$WORK/conf4.pcap" --seed "$SEED2"
wait "$pid"
check "a frame for b1 that arrived on red's queue 1 was in red's pool (the documented caveat)" \
	bash -c "! $B/flipswitch-guest --pool $SHM-red scan --seed $SEED2 | grep -qx 'found 0'"

# --- a hostile guest in red changes nothing for b1
"${CTL[@]}" stats --clear >/dev/null
vm_bg r1 "$WORK/hostile.out" hostile --timeout 4
hpid=$LAST_BG
vm_bg b1 "$WORK/calm.out" rx --count $((4 * N)) --timeout 15 --pcap "$WORK/calm.pcap"
pid=$LAST_BG
peer "$B/fs-pkt" send -i "$IF_PEER" --dst "$R1" --count 600 --size 200 --queue 0 --interval-us 2000 >/dev/null &
feed=$!
send "$B1" 2 "$WORK/calm2.pcap" --seed 21 --interval-us 10000
send "$B1" 3 "$WORK/calm3.pcap" --seed 22 --interval-us 10000
send "$B1" 2 "$WORK/calm4.pcap" --seed 23
send "$B1" 3 "$WORK/calm5.pcap" --seed 24
wait "$pid"
wait "$hpid" "$feed"
check "b1 receives every one of $((4 * N)) frames while r1 is hostile" \
	grep -q "received $((4 * N))" "$WORK/calm.out"
check "r1 was hostile: bad descriptors and ring indices counted" \
	bash -c "${CTL[*]} -j stats r1 | jq -e '.ports[0].drops | .bad_addr > 0 and .bad_owner > 0 and .bad_len > 0 and .bad_ring_index > 0'"
check "blue's audit is exact (sum = frames, b1 holds none)" \
	bash -c "${CTL[*]} -j frames | jq -e '.pools.blue | .ok and .sum == .total and .total == 2048 and .vms.b1 == 0'"
check "red's audit is exact too" \
	bash -c "${CTL[*]} -j frames | jq -e '.pools.red | .ok and .sum == .total and .total == 4096'"

# --- run time: a VM added to a pool made at start
check "vm add --pool blue puts the VM in blue" \
	bash -c "${CTL[*]} vm add b2 --mac 52:54:00:00:02:02 --rings $SHM-b2 --pool blue >/dev/null && ${CTL[*]} -j show | jq -e '(.vms[] | select(.name == \"b2\") | .pool) == \"blue\" and (.pools[] | select(.name == \"blue\") | .vms) == [\"b1\", \"b2\"]'"
check "vm add --pool with a pool not made at start is refused, by name" \
	bash -c "! ${CTL[*]} vm add g1 --mac 52:54:00:00:03:01 --rings $SHM-g1 --pool green 2>$WORK/green.err && grep -q 'pool \"green\" is not defined' $WORK/green.err"
check "prometheus: copies per pool and reason" \
	bash -c "${CTL[*]} stats --prometheus | grep -Eq '^flipswitch_pool_copies_total\\{pool=\"blue\",reason=\"nic\"\\} [0-9]+$'"

check "frame ownership audit: every pool's counts sum to its size" frames_ok
check "SIGTERM stops the daemon with status 0" stop_daemon
check "exit report: every frame back in each pool" \
	bash -c "grep 'frames: ' $DAEMON_LOG | tail -1 | grep -q 'pool red: fill 0, tx 0, switch 4096.*pool blue: fill 0, tx 0, switch 2048.*: ok$'"
exit $((FAILS > 0))
