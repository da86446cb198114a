#!/usr/bin/env bash
# make demo's two forms. The tour (not a terminal, no DURATION), as the
# README shows it: plain text, every second of the watch with traffic, and
# what each guest received. The live demo (DURATION=N): the control socket
# where flipswitchctl looks by default, steady traffic while it runs, the
# commands to try, and an end of its own. The live one runs in a mount
# namespace with a fresh /run, so that its default socket cannot meet a
# daemon of the host's.
. "$(dirname "$0")/lib.sh"
require_root demo

tools_demo() { "$TOP/tools/demo.sh" </dev/null; }

tools_demo >"$WORK/tour.out" 2>&1
rc=$?
check "the tour exits 0" bash -c "[ $rc -eq 0 ] || { tail -20 $WORK/tour.out; false; }"
check "the tour written to a file has no terminal escapes" bash -c "! grep -q $'\033' $WORK/tour.out"
check "every second of the watch has traffic for web1 and web2" \
	bash -c "[ \$(grep -Ec '^   web[12] +rx [1-9]' $WORK/tour.out) -eq 8 ]"
check "web1 received 10000 unicast + 50 broadcast frames" grep -q "web1: received 10050;" "$WORK/tour.out"
check "web2 received 5000 + 50 + 500 from web1" grep -q "web2: received 5550;" "$WORK/tour.out"

# Live, for 8 seconds; probed from inside its mount namespace.
cat >"$WORK/live.sh" <<LIVE
mount -t tmpfs none /run || exit 99
DURATION=8 "$TOP/tools/demo.sh" </dev/null >"$WORK/live.out" 2>&1 &
demo=\$!
for _ in \$(seq 100); do grep -q "Try, in another terminal" "$WORK/live.out" && break; sleep 0.1; done
"$B/flipswitchctl" show >"$WORK/show.out" 2>&1
"$B/flipswitchctl" -j stats web1 >"$WORK/s0.json" 2>&1
sleep 2
"$B/flipswitchctl" -j stats web1 >"$WORK/s1.json" 2>&1
wait \$demo
echo \$? >"$WORK/live.rc"
ip netns list >"$WORK/live.netns"
LIVE
SECONDS=0
unshare -m --propagation private bash "$WORK/live.sh"
took=$SECONDS
check "the live demo prints commands to try" \
	bash -c "grep -q 'flipswitchctl show ' $WORK/live.out && grep -q 'flipswitchctl watch ' $WORK/live.out"
check "... with flipswitchctl's default socket (no -s)" bash -c "! grep -q 'flipswitchctl -s' $WORK/live.out"
check "flipswitchctl show, without -s, reaches the demo's daemon" \
	bash -c "grep -Eq '^web1 +52:54:00:00:00:01 ' $WORK/show.out && grep -Eq '^web2 +52:54:00:00:00:02 ' $WORK/show.out"
check "steady traffic: web1 received 500 or more frames in 2 s" \
	jq -en --slurpfile a "$WORK/s0.json" --slurpfile b "$WORK/s1.json" \
		'$b[0].ports[0].rx_packets - $a[0].ports[0].rx_packets >= 500'
echo "# live demo: status $(cat $WORK/live.rc), $took s"
check "the live demo ends by itself after DURATION, status 0" \
	bash -c "[ \"\$(cat $WORK/live.rc)\" = 0 ] && [ $took -ge 7 ] && [ $took -lt 40 ]"
check "... with a summary" grep -q "web1: received [1-9]" "$WORK/live.out"
check "... and no terminal escapes in a file" bash -c "! grep -q $'\033' $WORK/live.out"
# The namespaces each demo named in its output are gone.
leftover() {
	local ns
	for ns in $(grep -ho 'fsw-fsd[0-9]*-[a-z]*' "$WORK/tour.out" "$WORK/live.out" | sort -u); do
		{ ip netns list; cat "$WORK/live.netns"; } | grep -q "^$ns\b" && echo "$ns"
	done
}
check "the demos leave no namespace behind" bash -c "[ -z \"$(leftover)\" ] && grep -q fsw-fsd $WORK/live.out"
