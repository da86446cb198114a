#!/usr/bin/env bash
# Scrub on real frames: a frame is zeroed when it is used again, so a guest
# never finds bytes of a frame's earlier packets beyond its own.
#
# Long frames (1514 bytes) go through the pool first, then short ones (60
# bytes), which land in frames that carried long ones. The guest checks
# that every byte of each frame outside its packet is zero (rx --clean).
# With scrub "off" the same check must find stale bytes: the test can see
# what it looks for. An access port's frames arrive untagged with the tag's
# 4 bytes zeroed too.
. "$(dirname "$0")/lib.sh"
require_root scrub

VM1=52:54:00:00:00:01
VM2=52:54:00:00:00:02
N=3000

bed_up || { not_ok "test-bed"; exit 1; }

# run_case POLICY: long then short frames to web1, and tagged short frames
# to vl10; leaves each guest's output in $WORK/POLICY.*.out.
run_case() {
	local pol=$1 p1 p2
	SCRUB=$pol write_config "$WORK/$pol.conf" "web1 $VM1 1024" "vl10 $VM2 1024 10"
	if ! start_daemon "$WORK/$pol.conf"; then
		not_ok "scrub $pol: daemon starts"
		return 1
	fi
	guest_bg web1 "$WORK/$pol.web1.out" rx --clean --count $((2 * N)) --timeout 30
	p1=$LAST_BG
	guest_bg vl10 "$WORK/$pol.vl10.out" rx --clean --count "$N" --timeout 30
	p2=$LAST_BG
	peer "$B/fs-pkt" send -i "$IF_PEER" --dst "$VM1" --count "$N" --size 1514 --interval-us 30 >/dev/null
	peer "$B/fs-pkt" send -i "$IF_PEER" --dst "$VM1" --count "$N" --size 60 --interval-us 30 >/dev/null
	peer "$B/fs-pkt" send -i "$IF_PEER" --dst "$VM2" --count "$N" --size 60 --vlan 10 --interval-us 30 >/dev/null
	wait "$p1" "$p2"
	stop_daemon
}

unclean() { sed -n 's/^unclean //p' "$1"; }
received() { sed -n 's/^received //p' "$1"; }

if run_case used; then
	check "scrub used: $((2 * N)) frames, long then short, nothing stale beyond the packet" \
		test "$(received "$WORK/used.web1.out")/$(unclean "$WORK/used.web1.out")" = "$((2 * N))/0"
	check "scrub used: access port frames untagged, the tag's bytes zeroed" \
		test "$(received "$WORK/used.vl10.out")/$(unclean "$WORK/used.vl10.out")" = "$N/0"
	check "scrub used: the daemon counted bytes zeroed" \
		grep -Eq "scrubbed [1-9][0-9]* frames" "$DAEMON_LOG"
fi

if run_case full; then
	check "scrub full: nothing stale beyond the packet" \
		test "$(received "$WORK/full.web1.out")/$(unclean "$WORK/full.web1.out")" = "$((2 * N))/0"
fi

if run_case off; then
	u=$(unclean "$WORK/off.web1.out")
	check "scrub off: the check finds stale bytes ($u frames), so it can fail" \
		test "${u:-0}" -gt 0
fi
exit $((FAILS > 0))
