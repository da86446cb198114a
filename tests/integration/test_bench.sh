#!/usr/bin/env bash
# A smoke pass of the benchmark harness (make bench): one short run of each
# case, dpdk skipped. It checks only that the harness runs and writes
# well-formed results; speed is never asserted.
. "$(dirname "$0")/lib.sh"
require_root bench

BENCH_OUT=$WORK/bench "$TOP/tools/bench/bench.sh" --smoke >"$WORK/bench.out" 2>&1 &
BENCH_PID=$!
wait $BENCH_PID
rc=$?
check "the harness runs to the end (bench.sh --smoke)" \
	bash -c "[ $rc -eq 0 ] && grep -q 'bench: wrote' $WORK/bench.out"
J=$WORK/bench/results.json
check "results.json is JSON with results and ratios" jq -e '(.results | length > 0) and (.ratios | length > 0)' "$J"
check "every record has case, frame_size, metric, unit, median <= max, min <= median, runs" \
	jq -e '[.results[] | (.case | type == "string") and (.frame_size | type == "number") and
		(.metric | type == "string") and (.unit | type == "string") and
		.min <= .median and .median <= .max and .runs >= 1] | all' "$J"
for c in afxdp-rxdrop flipswitch flipswitch-copy bridge-tap vm-to-vm vm-fanout-1 vm-fanout-8 \
	flipswitch-scrub-off flipswitch-scrub-used flipswitch-scrub-full latency-busy-poll \
	latency-doorbell latency-doorbell-nap flipswitch-nap idle-cpu core-zerocopy core-copy core-scrub-used core-fanout-8 core-vm2vm core-vm2nic \
	vxlan-flipswitch vxlan-bridge-tap; do
	check "case $c has a result" jq -e --arg c "$c" '[.results[] | select(.case == $c)] | length > 0' "$J"
done
check "instructions per packet measured under callgrind: both hand-offs at 2 sizes, fan-out, idle VMs, VM to VM, VM to the wire, one frame a pass" \
	jq -e '[.results[] | select(.metric == "instructions_per_packet") | .case] |
		(map(select(. == "core-zerocopy" or . == "core-copy")) | length == 4) and
		index("core-fanout-8") != null and index("core-idle-256") != null and
		index("core-vm2vm") != null and index("core-vm2nic") != null and
		index("core-burst-1") != null' "$J"
check "the switch's own busy and awake shares and time per packet, from its worker counters" \
	jq -e '[.results[] | select(.case == "flipswitch" or .case == "vm-fanout-8") | .metric] |
		index("switch_busy") != null and index("switch_awake") != null and
		index("switch_ns_per_packet") != null' "$J"
check "the fan-out ratio in instructions" \
	jq -e '[.ratios[].name] | index("core-fanout-8/core-fanout-1@64:instructions") != null' "$J"
check "simulated L1d and L2 misses per packet beside each instruction count, and their fan-out ratio" \
	jq -e '([.results[] | select(.metric == "instructions_per_packet")] | length) as $n |
		([.results[] | select(.metric == "l1d_misses_per_packet" and .unit == "misses")] | length) == $n and
		([.results[] | select(.metric == "l2_misses_per_packet" and .unit == "misses")] | length) == $n and
		([.ratios[].name] | index("core-fanout-8/core-fanout-1@64:l1d_misses") != null)' "$J"
check "ratios are named like flipswitch/afxdp-rxdrop@64" \
	jq -e '[.ratios[].name] | index("flipswitch/afxdp-rxdrop@64") != null' "$J"
# The CPU-per-packet cases (tools/bench/cpu.sh): one point, 100 k frames/s
# at 1500 B, the goals' cases in one mode each.
# The count of the harness's own tasks needs a cgroup v1 cpuacct hierarchy.
CG=false
[ -w /sys/fs/cgroup/cpuacct/cgroup.procs ] && CG=true
check "CPU per packet: busy CPU, delivered share for each case, at its rate, and CPU per packet of its own tasks (cpuacct: $CG)" \
	jq -e --argjson cg $CG '[.results[] | select(.rate == 100000 and .frame_size == 1500)] as $r |
		all("gen-xdp-drop", "flipswitch-doorbell", "flipswitch-copy-doorbell", "bridge-tap"; . as $c |
			([$r[] | select(.case == $c) | .metric] | index("cpu_busy") != null and index("delivered") != null)) and
		(($cg | not) or all("flipswitch-doorbell", "flipswitch-copy-doorbell", "bridge-tap", "flipswitch", "flipswitch-copy"; . as $c |
			[$r[] | select(.case == $c and .metric == "cpu_per_packet_tasks" and .unit == "us" and (.median | type == "number"))] | length == 1))' "$J"
# The machine count needs idle time: a machine that other work keeps busy
# has none for a case to take (the harness then records none, and says so).
check "CPU per packet from the machine's idle time, wherever the baseline left some" \
	jq -e '[.results[] | select(.rate == 100000 and .frame_size == 1500)] as $r |
		([$r[] | select(.case == "gen-xdp-drop" and .metric == "cpu_busy") | .median] | .[0] >= 196) or
		all("flipswitch-doorbell", "flipswitch-copy-doorbell", "bridge-tap", "flipswitch", "flipswitch-copy"; . as $c |
			[$r[] | select(.case == $c and .metric == "cpu_per_packet" and .unit == "us" and (.median | type == "number"))] | length == 1)' "$J"
check "CPU per packet: the baseline (gen-xdp-drop) has none of its own" \
	jq -e '[.results[] | select(.case == "gen-xdp-drop" and .metric == "cpu_per_packet")] | length == 0' "$J"
check "CPU per packet: the best mode of flipswitch is named, and latency measured beside" \
	jq -e '([.results[] | select(.case == "flipswitch" and (.metric | startswith("best_mode_index")))] | length >= 1) and
		([.results[] | select(.case == "flipswitch-doorbell") | .metric] | index("latency_p99") != null)' "$J"
# A ratio needs a denominator above zero: on a machine whose CPUs other
# work keeps busy, the difference to the baseline can come out at zero.
check "CPU per packet: the goals' ratios, with their rate, wherever the denominator is above zero" \
	jq -e '[.ratios[] | select(.rate == 100000) | .name] as $n |
		all(["flipswitch/flipswitch-copy@1500:cpu", "flipswitch-copy"], ["flipswitch/bridge-tap@1500:cpu", "bridge-tap"];
			.[0] as $name | .[1] as $d | ($n | index($name)) != null or
			([$r[0].results[] | select(.case == $d and .metric == "cpu_per_packet" and .rate == 100000) | .median] | (.[0] // 0) <= 0))' \
	--slurpfile r "$J" "$J"
check "the table is printed" grep -q "^flipswitch/flipswitch-copy@64" "$WORK/bench.out"
check "the harness removed its namespaces and its cgroup" \
	bash -c "! ip netns list | grep -q '^fsw-fs$BENCH_PID-' && [ ! -e /sys/fs/cgroup/cpuacct/flipswitch-bench-$BENCH_PID ]"
