#!/usr/bin/env bash
# Jumbo frames end to end (ring ABI 1.3: packets of several frames): on a
# veth pair at MTU 9000, 9014-byte frames (2048-byte pool frames: six
# each) byte for byte from the wire to a guest, from a guest to the wire,
# from guest to guest, and broadcast from the wire to every guest; a guest
# that takes no chains (--no-chains, as one written for ABI 1.2) gets
# none, counted as chain_unsupported; the XDP counters count whole
# frames; a capture has them whole in length; the copy baseline copies
# them; every frame comes back.
. "$(dirname "$0")/lib.sh"
require_root jumbo

VM1=52:54:00:00:0b:01
VM2=52:54:00:00:0b:02
VM3=52:54:00:00:0b:03
SOCK=$WORK/ctl.sock
N=20
SIZE=9014

bed_up || { not_ok "test-bed"; exit 1; }
ip -n "$NS_SW" link set "$IF_SW" mtu 9000
ip -n "$NS_PEER" link set "$IF_PEER" mtu 9000
write_config "$WORK/fs.conf" "web1 $VM1" "web2 $VM2" "old3 $VM3"
if ! start_daemon "$WORK/fs.conf"; then
	not_ok "daemon starts at mtu 9000 (an xdp.frags program) and logs ready"
	exit 1
fi
ok "daemon starts at mtu 9000 (an xdp.frags program) and logs ready"

check "the guest reads max_packet 9216 and max_frames 6 (flipswitch-guest takes --size $SIZE)" \
	guest web1 tx --dst "$VM2" --count 0 --size "$SIZE"

# --- wire -> guest
guest_bg web1 "$WORK/w2g.out" rx --count "$N" --timeout 20 --sums
peer "$B/fs-pkt" send -i "$IF_PEER" --dst "$VM1" --count "$N" --size "$SIZE" -w "$WORK/w2g.tx.pcap" >/dev/null
wait "$LAST_BG"
check "wire -> guest: $N frames of $SIZE bytes arrive whole" grep -q "received $N" "$WORK/w2g.out"
check "wire -> guest: byte for byte (length and CRC-32 of each)" \
	diff <("$B/fs-pkt" sums "$WORK/w2g.tx.pcap") <(grep '^sum ' "$WORK/w2g.out")
# The XDP program's counters count a frame's bytes in all its buffers,
# as the port's own do: $N frames of more than 9000 bytes.
check "wire -> guest: the xdp redirect counter has their bytes, whole" \
	bash -c "$B/flipswitchctl -s $SOCK -j stats $IF_SW | jq -e '.ports[0] | .xdp.redirect.packets == $N and .rx_packets == $N and .xdp.redirect.bytes == .rx_bytes and .rx_bytes > $N * 9000'"

# --- a capture of them: each packet whole in length, its first bytes
guest_bg web1 "$WORK/cj.out" rx --count "$N" --timeout 20
g=$LAST_BG
# Bounded: a capture that misses packets would wait for ever.
timeout 30 "$B/flipswitchctl" -s "$SOCK" capture web1 -w "$WORK/cj.pcap" --count "$N" 2>"$WORK/cj.err" &
cpid=$!
BG_PIDS+=("$cpid")
sleep 0.5
peer "$B/fs-pkt" send -i "$IF_PEER" --dst "$VM1" --count "$N" --size "$SIZE" -w "$WORK/cj.tx.pcap" >/dev/null
wait "$g" "$cpid"
# tcpdump's line for each packet, its time taken off: the length is the
# packet's whole; then its first 128 bytes.
heads() { tcpdump -nr "$1" 2>/dev/null | grep '^[0-9]' | cut -d' ' -f2-; }
firsts() { tcpdump -xxnr "$1" 2>/dev/null | grep -A8 '^[0-9]' | grep -v '^[0-9-]'; }
check "capture web1: $N packets of several frames, each of its whole length" \
	test "$(heads "$WORK/cj.pcap" | grep -c "length $SIZE:")" -eq "$N"
check "capture web1: the same packets as sent, in order" \
	diff <(heads "$WORK/cj.tx.pcap") <(heads "$WORK/cj.pcap")
check "capture web1: their first bytes are the ones sent" \
	diff <(firsts "$WORK/cj.tx.pcap") <(firsts "$WORK/cj.pcap")

# --- guest -> wire
peer_recv "$N" "$VM1" "$WORK/g2w.rx.pcap"
rpid=$LAST_RECV
guest web1 tx --dst "$PEER_MAC" --count "$N" --size "$SIZE" --pcap "$WORK/g2w.tx.pcap" >/dev/null 2>&1
wait "$rpid"
check "guest -> wire: $N frames of $SIZE bytes leave byte for byte" \
	"$B/fs-pkt" cmp "$WORK/g2w.tx.pcap" "$WORK/g2w.rx.pcap"

# --- guest -> guest
guest_bg web2 "$WORK/g2g.out" rx --count "$N" --timeout 20 --sums
guest web1 tx --dst "$VM2" --count "$N" --size "$SIZE" --sums >"$WORK/g2g.tx" 2>&1
wait "$LAST_BG"
check "guest -> guest: $N frames of $SIZE bytes, byte for byte" \
	diff <(grep '^sum ' "$WORK/g2g.tx") <(grep '^sum ' "$WORK/g2g.out")

# --- broadcast from the wire: both chain-taking guests get it; the
# guest that takes no chains gets none, counted
guest_bg web1 "$WORK/b1.out" rx --count "$N" --timeout 20 --sums
guest_bg web2 "$WORK/b2.out" rx --count "$N" --timeout 20 --sums
guest_bg old3 "$WORK/b3.out" rx --no-chains --count 1 --timeout 6 --sums
b1=$LAST_BG
peer "$B/fs-pkt" send -i "$IF_PEER" --dst ff:ff:ff:ff:ff:ff --count "$N" --size "$SIZE" --interval-us 2000 -w "$WORK/bc.tx.pcap" >/dev/null
wait "${BG_PIDS[-3]}" "${BG_PIDS[-2]}"
check "broadcast: web1 gets $N frames of $SIZE bytes, byte for byte" \
	diff <("$B/fs-pkt" sums "$WORK/bc.tx.pcap") <(grep '^sum ' "$WORK/b1.out")
check "broadcast: web2 too" \
	diff <("$B/fs-pkt" sums "$WORK/bc.tx.pcap") <(grep '^sum ' "$WORK/b2.out")
wait "$b1" 2>/dev/null
wait "${BG_PIDS[-1]}"
check "a guest that takes no chains gets none of them" grep -q "received 0" "$WORK/b3.out"
report >/dev/null
check "and they are counted for it: chain_unsupported=$N" \
	test "$(counter "vm old3" chain_unsupported)" = "$N"

# --- a guest that takes no chains still gets frames of one frame
guest_bg old3 "$WORK/small.out" rx --no-chains --count 5 --timeout 10 --sums
peer "$B/fs-pkt" send -i "$IF_PEER" --dst "$VM3" --count 5 --size 1500 -w "$WORK/small.tx.pcap" >/dev/null
wait "$LAST_BG"
check "a guest that takes no chains gets 1500-byte frames, byte for byte" \
	diff <("$B/fs-pkt" sums "$WORK/small.tx.pcap") <(grep '^sum ' "$WORK/small.out")

sleep 0.3
check "every frame back in the pool (audit exact)" frames_ok
stop_daemon

# --- the copy baseline (handoff = "copy") copies packets of several
# frames as it does frames of one, from the wire and from a guest
{ cat "$WORK/fs.conf"; echo 'handoff = "copy";'; } >"$WORK/copy.conf"
if ! start_daemon "$WORK/copy.conf"; then
	not_ok "daemon starts with handoff = copy"
	exit 1
fi
guest_bg web1 "$WORK/cw.out" rx --count "$N" --timeout 20 --sums
peer "$B/fs-pkt" send -i "$IF_PEER" --dst "$VM1" --count "$N" --size "$SIZE" -w "$WORK/cw.tx.pcap" >/dev/null
wait "$LAST_BG"
check "copy baseline: wire -> guest, byte for byte" \
	diff <("$B/fs-pkt" sums "$WORK/cw.tx.pcap") <(grep '^sum ' "$WORK/cw.out")
guest_bg web2 "$WORK/cg.out" rx --count "$N" --timeout 20 --sums
guest web1 tx --dst "$VM2" --count "$N" --size "$SIZE" --sums >"$WORK/cg.tx" 2>&1
wait "$LAST_BG"
check "copy baseline: guest -> guest, byte for byte" \
	diff <(grep '^sum ' "$WORK/cg.tx") <(grep '^sum ' "$WORK/cg.out")
check "copy baseline: each of the $((2 * N)) packets copied once" \
	bash -c "$B/flipswitchctl -s $SOCK -j stats | jq -e '.switch.handoff_copies == $((2 * N))'"
sleep 0.3
check "copy baseline: every frame back in the pool" frames_ok
stop_daemon
sanitizer_check

