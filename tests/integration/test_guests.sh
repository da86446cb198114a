#!/usr/bin/env bash
# Guests that misbehave or go away, broadcast from a guest, and a NIC with
# two rx queues (one AF_XDP socket each on the shared UMEM).
. "$(dirname "$0")/lib.sh"
require_root guests

VM1=52:54:00:00:00:01
VM2=52:54:00:00:00:02

QUEUES=2 bed_up || { not_ok "test-bed"; exit 1; }
# web1 has a small quota: 64 frames, a quarter of them lent for transmit.
write_config "$WORK/fs.conf" "web1 $VM1 64" "web2 $VM2 512"
start_daemon "$WORK/fs.conf" || { not_ok "daemon starts"; exit 1; }
check "two rx queues, one socket each" grep -q "$IF_SW: 2 queues" "$DAEMON_LOG"

# --- unicast to a VM with no guest: dropped and counted, never leaked (the
# debug daemon aborts on any ownership mismatch)
peer "$B/fs-pkt" send -i "$IF_PEER" --dst "$VM1" --count 10 >/dev/null
sleep 0.2
report
check "frames for a VM with no guest are counted as detached (10)" \
	test "$(counter 'vm web1:' detached)" -eq 10
check "... and every frame is still accounted for" frames_ok

# --- a broadcast from a guest reaches the other guest and the wire
guest_bg web2 "$WORK/b.out" rx --count 40 --timeout 10 --pcap "$WORK/b.rx.pcap"
p2=$LAST_BG
peer_recv 40 "$VM1" "$WORK/b.wire.pcap"
guest web1 tx --dst ff:ff:ff:ff:ff:ff --count 40 --size 100 --pcap "$WORK/b.tx.pcap" >/dev/null 2>&1
wait "$p2" "$LAST_RECV"
check "broadcast from web1 reaches web2 byte for byte" \
	"$B/fs-pkt" cmp "$WORK/b.tx.pcap" "$WORK/b.rx.pcap"
check "broadcast from web1 goes out the NIC byte for byte" \
	"$B/fs-pkt" cmp "$WORK/b.tx.pcap" "$WORK/b.wire.pcap"

# --- quota: a guest that keeps every frame holds at most its quota
guest_bg web1 "$WORK/hold.out" rx --hold --timeout 30
hold=$LAST_BG
peer "$B/fs-pkt" send -i "$IF_PEER" --dst "$VM1" --count 200 --interval-us 50 >/dev/null
sleep 0.3
report
check "web1 holds exactly its quota (64)" vm_holds web1 64
check "the frames past the quota are dropped and counted as quota (200 - 48 = 152)" \
	test "$(counter 'vm web1:' quota)" -eq 152
check "the holding guest got 48 frames, the other 16 of its quota are lent for tx" \
	bash -c "echo \"\$0\" | grep 'vm web1:' | tail -1 | grep -q 'holds 64 of 64; rx 48 packets'" "$REPORT"
# ... and the other VM is not disturbed.
guest_bg web2 "$WORK/q2.out" rx --count 50 --timeout 10 --pcap "$WORK/q2.rx.pcap"
p2=$LAST_BG
peer "$B/fs-pkt" send -i "$IF_PEER" --dst "$VM2" --count 50 --seed 9 -w "$WORK/q2.tx.pcap" >/dev/null
wait "$p2"
check "web2 gets all its frames while web1 sits at its quota" \
	"$B/fs-pkt" cmp "$WORK/q2.tx.pcap" "$WORK/q2.rx.pcap"

# --- a guest killed while holding frames: the next guest's attach takes
# them all back, and traffic flows again
kill -KILL "$hold"
wait "$hold" 2>/dev/null
report
check "a killed guest's frames stay counted to its VM (64)" vm_holds web1 64
guest_bg web1 "$WORK/new.out" rx --count 20 --timeout 10 --pcap "$WORK/new.rx.pcap"
p1=$LAST_BG
check "the new guest's attach took back the dead guest's 64 frames" \
	grep -q "vm web1: guest attached, 64 frames taken back" "$DAEMON_LOG"
peer "$B/fs-pkt" send -i "$IF_PEER" --dst "$VM1" --count 20 --seed 10 -w "$WORK/new.tx.pcap" >/dev/null
wait "$p1"
check "traffic reaches the new guest byte for byte" \
	"$B/fs-pkt" cmp "$WORK/new.tx.pcap" "$WORK/new.rx.pcap"

# --- a second guest process on the same VM supersedes the first, which
# notices and stops instead of fighting over the rings
guest_bg web2 "$WORK/first.out" rx --timeout 10
first=$LAST_BG
guest_bg web2 "$WORK/second.out" rx --timeout 1
wait "$first"
check "a superseded guest notices and stops" \
	grep -q "another guest attached to this VM" "$WORK/first.out"
wait "$LAST_BG"

# --- both rx queues carry traffic: XPS steers the sender's CPU to a queue
peer sh -c "echo 1 > /sys/class/net/$IF_PEER/queues/tx-0/xps_cpus; echo 2 > /sys/class/net/$IF_PEER/queues/tx-1/xps_cpus"
guest_bg web2 "$WORK/mq.out" rx --count 64 --timeout 10 --pcap "$WORK/mq.rx.pcap"
p2=$LAST_BG
report
before=$(echo "$REPORT" | grep "port $IF_SW:" | tail -1 | sed 's/.*per queue \([0-9]*\)\/\([0-9]*\).*/\1 \2/')
peer taskset -c 0 "$B/fs-pkt" send -i "$IF_PEER" --dst "$VM2" --count 32 --seed 11 -w "$WORK/mq0.pcap" >/dev/null
peer taskset -c 1 "$B/fs-pkt" send -i "$IF_PEER" --dst "$VM2" --count 32 --seed 12 -w "$WORK/mq1.pcap" >/dev/null
wait "$p2"
report
after=$(echo "$REPORT" | grep "port $IF_SW:" | tail -1 | sed 's/.*per queue \([0-9]*\)\/\([0-9]*\).*/\1 \2/')
set -- $before $after
echo "# per-queue rx before: $1/$2, after: $3/$4"
check "queue 0 and queue 1 each received 32 frames" test "$(($3 - $1))" -eq 32 -a "$(($4 - $2))" -eq 32
check "frames from both queues reach web2 (all 64)" \
	bash -c "$B/fs-pkt count $WORK/mq.rx.pcap | grep -qx 64"

# --- the switch restarts under a running guest; another guest starts while
# the switch is down. Both are served by the new switch, no frame lost.
guest_bg web2 "$WORK/rs.out" rx --count 40 --timeout 30 --pcap "$WORK/rs.pcap"
rs=$LAST_BG
peer "$B/fs-pkt" send -i "$IF_PEER" --dst "$VM2" --count 20 --seed 20 -w "$WORK/rs1.pcap" >/dev/null
sleep 0.3
stop_daemon
check "a switch stopping under an attached guest keeps its files" \
	bash -c "grep -q 'vm web2: a guest is attached: keeping' $DAEMON_LOG && [ -e $SHM-web2 ] && [ -e $SHM-pool ]"
cp "$DAEMON_LOG" "$WORK/daemon.1.log"
guest web1 rx --count 10 --timeout 30 --pcap "$WORK/early.pcap" >"$WORK/early.out" 2>&1 &
early=$!
BG_PIDS+=($early)
sleep 0.5
start_daemon "$WORK/fs.conf" || not_ok "the switch starts again"
wait_log "vm web2: guest attached" 10 >/dev/null
wait_log "vm web1: guest attached" 10 >/dev/null
check "the running guest attaches again to the new switch" grep -q "vm web2: guest attached" "$DAEMON_LOG"
check "the guest started before the switch attaches once it is up" grep -q "vm web1: guest attached" "$DAEMON_LOG"
peer "$B/fs-pkt" send -i "$IF_PEER" --dst "$VM2" --count 20 --seed 21 -w "$WORK/rs2.pcap" >/dev/null
peer "$B/fs-pkt" send -i "$IF_PEER" --dst "$VM1" --count 10 --seed 22 -w "$WORK/early.tx.pcap" >/dev/null
wait "$rs" "$early"
check "the running guest got every frame, from both switches, byte for byte" \
	diff <(cat <("$B/fs-pkt" sums "$WORK/rs1.pcap") <("$B/fs-pkt" sums "$WORK/rs2.pcap")) \
	<("$B/fs-pkt" sums "$WORK/rs.pcap")
check "the early guest got its frames byte for byte" \
	"$B/fs-pkt" cmp "$WORK/early.tx.pcap" "$WORK/early.pcap"

sleep 0.2
check "frame ownership audit: counts sum to the pool size" frames_ok
check "SIGTERM stops the daemon with status 0" stop_daemon
check "exit report: every frame back in the pool" \
	bash -c "grep 'frames: ' $DAEMON_LOG | tail -1 | grep -q 'switch 4096.*: ok$'"
