#!/usr/bin/env bash
# flipswitchctl against a running daemon: counters move by exactly the
# traffic sent, VMs come and go at run time, captures are real pcaps,
# permissions hold, and the output formats are what scripts expect.
. "$(dirname "$0")/lib.sh"
require_root control

VM1=52:54:00:00:00:01
VM2=52:54:00:00:00:02
VM3=52:54:00:00:00:03
N=50

bed_up || { not_ok "test-bed"; exit 1; }
write_config "$WORK/fs.conf" "web1 $VM1" "web2 $VM2"
# The metrics endpoint, on the switch namespace's own loopback.
METRICS=127.0.0.1:9477
{ cat "$WORK/fs.conf"; echo "metrics = \"$METRICS\";"; } >"$WORK/fsm.conf"
start_daemon "$WORK/fsm.conf" || { not_ok "daemon starts"; exit 1; }
SOCK=$WORK/ctl.sock
ctl() { "$B/flipswitchctl" -s "$SOCK" "$@"; }

check "the control socket is mode 0660" \
	bash -c "[ \"\$(stat -c %a $SOCK)\" = 660 ]"
check "show lists the interface, the pool and both VMs" \
	bash -c "$B/flipswitchctl -s $SOCK -j show | jq -e '.interfaces[0].name == \"$IF_SW\" and .pool.frames == 4096 and (.vms | map(.name) == [\"web1\", \"web2\"])'"

# Options anywhere, as users type them: -j after the command is -j before
# it, and -s may follow the command and its argument.
check "options anywhere: stats -j prints the JSON -j stats does" \
	bash -c "[ \"\$($B/flipswitchctl stats -j -s $SOCK | jq -c '.ports | map(.name)')\" = \"\$($B/flipswitchctl -s $SOCK -j stats | jq -c '.ports | map(.name)')\" ]"
check "options anywhere: stats web2 -s SOCKET -p" \
	bash -c "$B/flipswitchctl stats web2 -s $SOCK -p | jq -e '.ports | length == 1 and .[0].name == \"web2\"'"

# --- counters move by exactly what was sent
ctl stats --clear >/dev/null
guest_bg web1 "$WORK/g1.out" rx --count "$N" --timeout 10
g=$LAST_BG
peer "$B/fs-pkt" send -i "$IF_PEER" --dst "$VM1" --count "$N" --size 100 >/dev/null
wait "$g"
ctl -j stats >"$WORK/stats.json"
check "vm web1: rx_packets = $N, rx_bytes = $N x 100" \
	jq -e ".ports[] | select(.name == \"web1\") | .rx_packets == $N and .rx_bytes == $((N * 100))" "$WORK/stats.json"
check "NIC port: rx_packets = $N, XDP redirect = $N" \
	jq -e ".ports[] | select(.kind == \"nic\") | .rx_packets == $N and .xdp.redirect.packets == $N" "$WORK/stats.json"
check "no drop counted anywhere" \
	jq -e '[.ports[].drops[], .switch.drops[]] | all(. == 0)' "$WORK/stats.json"
# A busy pass moved frames: took some in, or (mostly in the same pass)
# took back what the guest gave back or refilled a ring; with frames
# arriving one a pass, the passes of the latter can add a few.
check "worker: took in exactly the $N frames, in 1..$((2 * N)) busy passes" \
	jq -e ".switch.packets == $N and .switch.busy_passes >= 1 and .switch.busy_passes <= 2 * $N and .switch.busy_ns > 0" "$WORK/stats.json"
# The worker's time adds up to the wall clock: 1 s at rest is 1 s of
# busy + idle + asleep (less the pass or sleep under way at each end, a
# 100 ms sleep at most), and almost none of it busy.
sleep 0.3
ctl -j stats >"$WORK/w0.json"
sleep 1
ctl -j stats >"$WORK/w1.json"
check "worker: busy + idle + asleep = the wall clock, at rest hardly busy" \
	jq -en --slurpfile a "$WORK/w0.json" --slurpfile b "$WORK/w1.json" '
		($b[0].time - $a[0].time) as $dt
		| ([$b[0].switch, $a[0].switch] | map(.busy_ns + .idle_ns + .sleep_ns) | (.[0] - .[1]) / 1e9) as $acc
		| (($b[0].switch.busy_ns - $a[0].switch.busy_ns) / 1e9) as $busy
		| $acc > $dt - 0.25 and $acc < $dt + 0.25 and $busy < 0.1 * $dt'
check "stats PORT shows only that port" \
	bash -c "$B/flipswitchctl -s $SOCK -j stats web2 | jq -e '.ports | length == 1 and .[0].name == \"web2\"'"
ctl stats >"$WORK/stats.txt"
check "stats in text names the ports and counts" \
	bash -c "grep -q web1 $WORK/stats.txt && grep -q '$N' $WORK/stats.txt"
check "stats in text: the worker's busy share and time a packet" \
	grep -Eq '^  worker busy [0-9.]+ % of [0-9.]+ s \(idle [0-9.]+ %, asleep [0-9.]+ %\), [0-9]+ ns a packet' "$WORK/stats.txt"

# --- Prometheus text format
ctl stats --prometheus >"$WORK/prom.txt"
check "stats --prometheus: HELP and TYPE lines" \
	bash -c "grep -q '^# HELP flipswitch_' $WORK/prom.txt && grep -q '^# TYPE flipswitch_.* counter$' $WORK/prom.txt"
check "stats --prometheus: web1's rx packets with a port label" \
	grep -Eq "^flipswitch_rx_packets_total\{[^}]*port=\"web1\"[^}]*\} $N$" "$WORK/prom.txt"
check "stats --prometheus: the worker's seconds by state" \
	bash -c "grep -Eq '^flipswitch_worker_seconds_total\{state=\"busy\"\} [0-9]+\.[0-9]{9}$' $WORK/prom.txt && grep -Eq '^flipswitch_worker_packets_total $N$' $WORK/prom.txt"
check "stats --prometheus: drops labelled by reason" \
	grep -Eq '^flipswitch_drops_total\{[^}]*reason="quota"' "$WORK/prom.txt"
check "stats --prometheus: web1's doorbell interval, doorbell_usecs (20 us) while idle" \
	grep -qx 'flipswitch_doorbell_interval_seconds{port="web1"} 0.000020' "$WORK/prom.txt"

# --- GET /metrics: the same series, over HTTP, read-only
sw_curl() { ip netns exec "$NS_SW" curl -s --max-time 5 "$@"; }
sw_curl -D "$WORK/metrics.head" -o "$WORK/metrics.txt" "http://$METRICS/metrics"
check "GET /metrics: 200, Prometheus text 0.0.4" \
	bash -c "head -1 $WORK/metrics.head | grep -q ' 200' && grep -qi '^content-type: text/plain; version=0.0.4' $WORK/metrics.head"
ctl stats --prometheus >"$WORK/prom2.txt"
# name{labels} of every sample, without the values, which move.
series() { grep -v '^#' "$1" | sed 's/ [^ ]*$//' | sort; }
check "GET /metrics has the series of stats --prometheus, no more, no fewer" \
	diff <(series "$WORK/metrics.txt") <(series "$WORK/prom2.txt")
check "... web1's rx packets with their count" \
	grep -Eq "^flipswitch_rx_packets_total\{[^}]*port=\"web1\"[^}]*\} $N$" "$WORK/metrics.txt"
if command -v promtool >/dev/null; then
	check "promtool check metrics accepts GET /metrics" \
		bash -c "promtool check metrics <$WORK/metrics.txt"
else
	skip "promtool check metrics (no promtool: make deps-test installs Debian's prometheus)"
fi
check "POST /metrics is refused (405, Allow: GET, HEAD)" \
	bash -c "sw_out=\$(ip netns exec $NS_SW curl -s --max-time 5 -D - -o /dev/null -X POST -d x http://$METRICS/metrics); echo \"\$sw_out\" | head -1 | grep -q ' 405' && echo \"\$sw_out\" | grep -qi '^allow: GET, HEAD'"
check "another path is 404" \
	bash -c "[ \"\$(ip netns exec $NS_SW curl -s --max-time 5 -o /dev/null -w '%{http_code}' http://$METRICS/)\" = 404 ]"
check "after the scrapes, web1's counters are as they were" \
	bash -c "$B/flipswitchctl -s $SOCK -j stats web1 | jq -e '.ports[0].rx_packets == $N'"

# Clearing starts the worker's clock again (the daemon has run for seconds).
ctl stats --clear >/dev/null
check "stats --clear: the worker's time starts again from 0" \
	bash -c "$B/flipswitchctl -s $SOCK -j stats | jq -e '.switch | (.busy_ns + .idle_ns + .sleep_ns) < 5e8 and .packets == 0'"

# --- fdb and frames
check "fdb lists both static entries" \
	bash -c "$B/flipswitchctl -s $SOCK -j fdb | jq -e '[.entries[] | select(.kind == \"static\")] | length == 2'"
# The MACs as configured, byte for byte, in JSON and in text.
check "fdb -j: each VM's MAC as configured" \
	bash -c "$B/flipswitchctl -s $SOCK -j fdb | jq -e '[.entries[] | {mac, port}] | sort_by(.port) == [{mac: \"$VM1\", port: \"web1\"}, {mac: \"$VM2\", port: \"web2\"}]'"
check "fdb in text: each VM's MAC as configured" \
	bash -c "$B/flipswitchctl -s $SOCK fdb | awk 'NR > 1 && \$1 != \"any\" { print \$1, \$3 }' | sort | diff - <(printf '%s web1\n%s web2\n' $VM1 $VM2)"
check "fdb in text: any other MAC goes to the uplink $IF_SW" \
	bash -c "$B/flipswitchctl -s $SOCK fdb | grep -E '^any other +- +$IF_SW +uplink +mtu 1500, from web1,web2$'"
check "frames: the audit sums to the pool size" \
	bash -c "$B/flipswitchctl -s $SOCK -j frames | jq -e '.ok and .sum == .total and .total == 4096'"
check "frames in text exits 0 and says ok" bash -c "$B/flipswitchctl -s $SOCK frames | grep -qi ok"

# --- vm add: traffic reaches the new VM; vm del: its frames come back
check "vm add web3 at run time" ctl vm add web3 --mac "$VM3" --rings "$SHM-web3" --quota 256 --doorbell-usecs 0
check "show: web3's own doorbell_usecs (0), the others' the daemon's (20)" \
	bash -c "$B/flipswitchctl -s $SOCK -j show | jq -e '[.vms[] | {(.name): .doorbell_usecs}] | add == {\"web1\": 20, \"web2\": 20, \"web3\": 0}'"
guest_bg web3 "$WORK/g3.out" rx --count "$N" --timeout 10 --pcap "$WORK/g3.pcap"
g=$LAST_BG
guest_bg web2 "$WORK/g2.out" rx --count "$N" --timeout 10
g2=$LAST_BG
peer "$B/fs-pkt" send -i "$IF_PEER" --dst "$VM3" --count "$N" -w "$WORK/s3.pcap" >/dev/null
peer "$B/fs-pkt" send -i "$IF_PEER" --dst "$VM2" --count "$N" >/dev/null
wait "$g" "$g2"
check "traffic reaches the VM added at run time, byte for byte" \
	"$B/fs-pkt" cmp "$WORK/s3.pcap" "$WORK/g3.pcap"
check "the other VM's traffic is undisturbed" grep -qx "received $N" "$WORK/g2.out"
guest_bg web3 "$WORK/h3.out" rx --hold --timeout 30
h=$LAST_BG
peer "$B/fs-pkt" send -i "$IF_PEER" --dst "$VM3" --count 20 >/dev/null
sleep 0.3
check "web3's guest holds frames (20 received + 64 lent)" \
	bash -c "$B/flipswitchctl -s $SOCK -j show | jq -e '.vms[] | select(.name == \"web3\") | .held == 84'"
ctl -j vm del web3 >"$WORK/del.json"
check "vm del web3 reports its 84 frames reclaimed" jq -e '.reclaimed == 84' "$WORK/del.json"
kill "$h" 2>/dev/null
check "frames after vm del: every frame back, web3 gone" \
	bash -c "$B/flipswitchctl -s $SOCK -j frames | jq -e '.ok and .sum == .total and (.vms | has(\"web3\") | not)'"
check "web3's ring file is removed" bash -c "[ ! -e $SHM-web3 ]"

# --- capture writes a pcap that tcpdump reads
guest_bg web1 "$WORK/c1.out" rx --count 30 --timeout 10
g=$LAST_BG
ctl capture web1 -w "$WORK/cap.pcap" --count 30 2>"$WORK/cap.err" &
cpid=$!
BG_PIDS+=($cpid)
sleep 0.5
peer "$B/fs-pkt" send -i "$IF_PEER" --dst "$VM1" --count 30 -w "$WORK/c.sent.pcap" >/dev/null
wait "$g" "$cpid"
check "capture web1: tcpdump reads 30 frames" \
	bash -c "[ \"\$(tcpdump -nr $WORK/cap.pcap 2>/dev/null | grep -c '^[0-9]')\" -eq 30 ]"
check "capture web1: the frames are the ones sent, byte for byte" \
	"$B/fs-pkt" cmp "$WORK/c.sent.pcap" "$WORK/cap.pcap"

# --- watch, not on a terminal: one line per port per interval
$B/flipswitchctl -s $SOCK watch --interval 0.2 --count 2 >"$WORK/watch.txt"
check "watch prints a line per port per interval" \
	bash -c "grep -c web1 $WORK/watch.txt | grep -qx 2"
check "watch prints the worker's busy share per interval" \
	bash -c "grep -Ec '^worker busy [0-9.]+ % \(awake [0-9.]+ %\), [0-9]+ ns a packet' $WORK/watch.txt | grep -qx 2"

# --- watch on a terminal: redraws in place, quits on q
(sleep 1; printf q) | timeout 10 script -qec "$B/flipswitchctl -s $SOCK watch --interval 0.2" /dev/null >"$WORK/watch.tty"
rc=$?
check "watch on a terminal quits on q (exit 0)" test "$rc" -eq 0
check "watch on a terminal redraws in place (cursor home, no scrolling)" \
	bash -c "grep -q \$'\\e\\[H' $WORK/watch.tty"

# --- permissions: anyone who can connect may read, not change
chmod 0711 "$WORK"
chmod 0666 "$SOCK"
as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$B/flipswitchctl" -s "$SOCK" "$@"; }
check "an unprivileged peer can read (show)" as_nobody show
as_nobody vm del web1 >/dev/null 2>"$WORK/nobody.err"
rc=$?
check "an unprivileged peer cannot vm del (exit 1)" test "$rc" -eq 1
check "... and is told why" grep -q "only root or the control group" "$WORK/nobody.err"
as_nobody set --max-sleep-usecs 5 >/dev/null 2>"$WORK/nobody.err"
rc=$?
check "an unprivileged peer cannot set (exit 1)" \
	bash -c "[ $rc -eq 1 ] && grep -q 'only root or the control group' $WORK/nobody.err"
check "web1 is still there" bash -c "$B/flipswitchctl -s $SOCK -j show | jq -e '.vms | map(.name) | index(\"web1\") != null'"

# --- errors: unknown VM, daemon gone
ctl vm del nosuch 2>"$WORK/nosuch.err"
rc=$?
check "vm del of an unknown VM fails with a sentence" \
	bash -c "[ $rc -eq 1 ] && grep -q 'no vm \"nosuch\"' $WORK/nosuch.err"
check "frame ownership audit still ok" frames_ok
stop_daemon
ctl show 2>"$WORK/down.err"
rc=$?
check "with the daemon stopped: exit 1 and one clear sentence" \
	bash -c "[ $rc -eq 1 ] && [ \$(wc -l <$WORK/down.err) -eq 1 ] && grep -q 'cannot reach flipswitchd' $WORK/down.err"
check "the control socket is removed on exit" bash -c "[ ! -e $SOCK ]"

# --- naps under light load (max_sleep_usecs, OVS's pmd-sleep-max): at
# 20000 frames/s, a frame every 50 us, the worker naps between passes, up
# to 200 us, so a busy pass finds several frames; without naps each finds
# the one that came (and it polls between them). Then set to 0 at run
# time (flipswitchctl set): no more naps.
{ cat "$WORK/fs.conf"; echo "max_sleep_usecs = 200;"; } >"$WORK/nap.conf"
naps_round() { # naps_round TAG [N]: N frames (20000) at N/s to web1, stats around
	local n=${2:-20000}
	guest_bg web1 "$WORK/nap-$1.out" rx --count "$n" --timeout 15
	local g=$LAST_BG
	ctl -j stats >"$WORK/$1-0.json"
	peer "$B/fs-gen" -i "$IF_PEER" --dst "$VM1" --rate "$n" --count "$n" >"$WORK/$1.gen"
	wait "$g" # the guest has them all: none waits out a nap in a ring
	ctl -j stats >"$WORK/$1-1.json"
	jq -rn --slurpfile a "$WORK/$1-0.json" --slurpfile b "$WORK/$1-1.json" '
		[$b[0].switch, $a[0].switch] as [$y, $x]
		| "# \($y.naps - $x.naps) naps, \(($y.packets - $x.packets) / ($y.busy_passes - $x.busy_passes + 0.001) * 10 | floor / 10) packets a busy pass, asleep \(($y.sleep_ns - $x.sleep_ns) / 1e6 | floor) ms of \(([$y, $x] | map(.busy_ns + .idle_ns + .sleep_ns) | .[0] - .[1]) / 1e6 | floor)"'
}
if start_daemon "$WORK/nap.conf"; then
	check "metrics are off unless configured: nothing listens on $METRICS" \
		bash -c "! ip netns exec $NS_SW curl -s --max-time 2 -o /dev/null http://$METRICS/metrics"
	check "show: max_sleep_usecs 200, from the config" \
		bash -c "$B/flipswitchctl -s $SOCK -j show | jq -e '.switch.max_sleep_usecs == 200'"
	naps_round nap
	check "naps: every frame delivered ($(cat "$WORK/nap.gen"))" \
		jq -e '.ports[] | select(.name == "web1") | .rx_packets == 20000' "$WORK/nap-1.json"
	check "naps: the worker napped, asleep most of the time, 2 or more packets a busy pass" \
		jq -en --slurpfile a "$WORK/nap-0.json" --slurpfile b "$WORK/nap-1.json" '
			[$b[0].switch, $a[0].switch] as [$y, $x]
			| ($y.packets - $x.packets) as $n
			| ($y.busy_passes - $x.busy_passes) as $p
			| ([$y, $x] | map(.busy_ns + .idle_ns + .sleep_ns) | .[0] - .[1]) as $all
			| $y.naps > $x.naps and $n >= 19000 and $p > 0 and $n / $p >= 2
			  and ($y.sleep_ns - $x.sleep_ns) > 0.5 * $all'
	ctl stats >"$WORK/nap.txt"
	check "stats in text counts the naps" grep -Eq 'napped [1-9][0-9]*' "$WORK/nap.txt"
	check "set --max-sleep-usecs 0 at run time" \
		bash -c "$B/flipswitchctl -s $SOCK -j set --max-sleep-usecs 0 | jq -e '.switch.max_sleep_usecs == 0'"
	# A second at 5000 frames/s: what this round checks is that no nap
	# follows, and a slower stream leaves the guest's quota and the rx
	# ring room for a busy machine's scheduling delays.
	naps_round poll 5000
	check "no naps after it, every frame delivered" \
		jq -en --slurpfile a "$WORK/poll-0.json" --slurpfile b "$WORK/poll-1.json" '
			$b[0].switch.naps == $a[0].switch.naps
			and $b[0].switch.packets - $a[0].switch.packets >= 5000'
	stop_daemon
else
	not_ok "the daemon starts with max_sleep_usecs = 200"
fi
