#!/usr/bin/env bash
# make bench: flipswitch side by side with what users would run instead,
# in one run, on veth pairs in namespaces it creates (tests/integration/
# lib.sh's test-bed). Prints a table and writes build/bench/results.json:
#   results: {case, frame_size, metric, unit, median, min, max, runs
#             [, rate: frames/s, for the CPU-per-packet cases]}
#   ratios:  {name, median, min, max, runs [, rate]}, each computed run by run
#
#   tools/bench/bench.sh [--quick | --smoke]
#     (full)   64/512/1500 B, 5 runs of 1 s each, and 9000 B (jumbo
#              frames, the veth pair at MTU 9000) for flipswitch,
#              afxdp-rxdrop and bridge-tap; then CPU per packet at
#              20 k, 100 k and 300 k frames/s, 64/1500 B, 3 runs of a
#              3 s window                                   < 35 minutes
#     --quick  64/1500 B, 3 runs of 1 s, the headline cases, and
#              flipswitch at 9000 B; CPU per packet at 100 k frames/s,
#              one run, dpdk and OVS left out              < 3 minutes
#     --smoke  one short run of each case, dpdk and OVS skipped: checks
#              that the harness runs and writes well-formed results, never
#              a speed
#   BENCH_CASES=REGEX runs only the cases whose names match (for example
#   'afxdp|^flipswitch$'); BENCH_RUNS and BENCH_SECS override the mode's;
#   BENCH_SIZES overrides the sizes (BENCH_SIZES= for none), BENCH_JUMBO the jumbo
#   ones (9000; none in --smoke; BENCH_JUMBO= for none), at which only the
#   cases matching BENCH_JUMBO_CASES run;
#   the CPU-per-packet cases (tools/bench/cpu.sh) have BENCH_CPU_CASES,
#   BENCH_CPU_RUNS, BENCH_CPU_SECS (the window), BENCH_CPU_RATES,
#   BENCH_CPU_SIZES and BENCH_PACE (us between the generator's bursts);
#   BENCH_CPU=0 leaves them out;
#   GUEST_MODE=doorbell|nap|spin is how the flipswitch cases' guest waits;
#   BENCH_CONF='setting = value;' adds a line to their daemon's config
#   (for example 'doorbell_usecs = 0;', to compare a setting).
#
# The flipswitch and vm-fanout cases also record the daemon's own share:
# switch_busy, the worker's busy time over the run (%), switch_awake, its
# time busy or polling, not asleep (%: the CPU it kept), and
# switch_ns_per_packet, its busy time per packet it took in (flipswitchctl
# stats; wall-clock, so with the guest on the same CPU it includes the
# guest's turns that preempted a busy pass). The *-nap cases run the
# daemon with max_sleep_usecs = 50 (naps under light load).
#
# Placement: the generator (and veth's NAPI, which runs on the sender's
# CPU) on CPU 0; the receiving side (switch, guest, sink, tap reader) on
# CPU 1, except the latency cases' guest (CPU 0, see there). Throughput is
# frames the consumer got / the generator's seconds, in Mpps, and for
# frames of 1500 bytes and more in Gbit/s as well (rx_gbps: frames x
# size x 8, the FCS counted, as the size is).
#
# Jumbo frames (9000 B): the veth pair, and the bridge and tap of
# bridge-tap, at MTU 9000; fs-gen sends each frame as one AF_XDP packet of
# several descriptors, every receiver takes it whole (flipswitch's guest
# as a chain of frames, ABI 1.3).
. "$(dirname "$0")/../../tests/integration/lib.sh"
set -u
MODE=full
case "${1:-}" in
--quick) MODE=quick ;;
--smoke) MODE=smoke ;;
"") ;;
*) sed -n '2,20s/^# \{0,1\}//p' "$0" >&2; exit 2 ;;
esac
OUT=${BENCH_OUT:-$B/bench}
mkdir -p "$OUT"
RAW=$WORK/raw
: >"$RAW"
CPU_RATES="20000 100000 300000" CPU_SIZES="64 1500" CPU_RUNS=3 CPU_SECS=3
# Jumbo frames: the sizes, and the cases run at them.
JUMBO=9000 JUMBO_CASES='^(afxdp-rxdrop|flipswitch|bridge-tap)$'
case $MODE in
full) SIZES="64 512 1500" RUNS=5 SECS=1 FANOUT="1 8 64 256" CORE_N=2000000 ;;
quick) SIZES="64 1500" RUNS=3 SECS=1 FANOUT="1 256" CORE_N=500000 CG_N=20000
	JUMBO_CASES='^flipswitch$'
	# The headline cases only, unless asked for others.
	: "${BENCH_CASES:=^(afxdp-rxdrop|flipswitch|flipswitch-copy|bridge-tap|vm-to-vm|doorbell-(quiet|storm)|core)$}"
	CPU_RATES=100000 CPU_RUNS=1 CPU_SECS=2
	: "${BENCH_CPU_CASES:=^(gen-xdp-drop|afxdp-rxdrop|flipswitch(-copy)?-(busy-poll|doorbell|nap)|bridge-tap)$}" ;;
smoke) SIZES="64" RUNS=1 SECS=0.3 FANOUT="1 8" CORE_N=100000 CG_N=20000 JUMBO=
	# One point, the cases of the goals' ratios in one mode each.
	CPU_RATES=100000 CPU_SIZES=1500 CPU_RUNS=1 CPU_SECS=0.5
	: "${BENCH_CPU_CASES:=^(gen-xdp-drop|flipswitch(-copy)?-doorbell|bridge-tap)$}" ;;
esac
RUNS=${BENCH_RUNS:-$RUNS} SECS=${BENCH_SECS:-$SECS} JUMBO=${BENCH_JUMBO-$JUMBO}
SIZES=${BENCH_SIZES-$SIZES}
JUMBO_CASES=${BENCH_JUMBO_CASES:-$JUMBO_CASES}
CPU_RUNS=${BENCH_CPU_RUNS:-$CPU_RUNS} CPU_SECS=${BENCH_CPU_SECS:-$CPU_SECS}
CPU_RATES=${BENCH_CPU_RATES:-$CPU_RATES} CPU_SIZES=${BENCH_CPU_SIZES:-$CPU_SIZES}
GEN_CPU=0 RX_CPU=1
# The *-nap cases' setting: the worker naps up to 50 us under light load.
NAP='max_sleep_usecs = 50;'
[ "$(nproc)" -lt 2 ] && RX_CPU=0
VM1=52:54:00:00:00:01
VM2=52:54:00:00:00:02
DAEMON=flipswitchd
DPDK=$TOP/tools/bench/case-dpdk.sh
DPDK_DIR=
OVS=$TOP/tools/bench/case-ovs.sh
OVS_DIR=

bench_cleanup() {
	[ -n "$DPDK_DIR" ] && "$DPDK" stop "$DPDK_DIR" >/dev/null 2>&1
	[ -n "$OVS_DIR" ] && "$OVS" stop "$OVS_DIR" >/dev/null 2>&1
	cleanup
	cpu_cg_leave
}
trap bench_cleanup EXIT

if [ "$(id -u)" -ne 0 ]; then
	echo "bench: needs root (namespaces, XDP)" >&2
	exit 1
fi

want() { [[ $1 =~ ${BENCH_CASES:-.} ]]; }

rec() { # rec CASE SIZE METRIC UNIT VALUE RUN [RATE]
	echo "$*" >>"$RAW"
}

# gen ARGS...: the generator in the peer namespace on GEN_CPU; echoes its
# seconds and frames sent.
gen() {
	peer taskset -c $GEN_CPU "$B/fs-gen" -i "$IF_PEER" "$@" 2>>"$WORK/gen.err" |
		awk '/^sent/ {print $5, $2}'
}

# consumer_start OUT CMD...: a consumer on RX_CPU in the switch namespace;
# waits for its "ready".
consumer_start() {
	local out=$1
	shift
	: >"$out"
	ip netns exec "$NS_SW" taskset -c "${CONSUMER_CPU:-$RX_CPU}" "$@" >"$out" 2>&1 &
	CONSUMER=$!
	for _ in $(seq 200); do grep -q ready "$out" && return 0; sleep 0.05; done
	echo "bench: consumer did not start: $(tail -3 "$out")" >&2
	return 1
}

consumer_stop() { # consumer_stop OUT: sets GOT to what it received
	kill -TERM "$CONSUMER" 2>/dev/null
	wait "$CONSUMER" 2>/dev/null
	GOT=$(awk '/^received/ {print $2}' "$1")
}

# mpps FRAMES SECONDS
mpps() { awk -v n="${1:-0}" -v s="${2:-1}" 'BEGIN {printf "%.4f", (s > 0 ? n / s / 1e6 : 0)}'; }

# rec_rate CASE SIZE FRAMES SECONDS RUN: the throughput, in Mpps, and in
# Gbit/s too from 1500 B up, where the bytes are what is compared.
rec_rate() {
	rec "$1" "$2" rx_rate Mpps "$(mpps "$3" "$4")" "$5"
	[ "$2" -ge 1500 ] && rec "$1" "$2" rx_gbps Gbit/s \
		"$(awk -v n="${3:-0}" -v b="$2" -v s="${4:-1}" 'BEGIN {printf "%.4f", (s > 0 ? n * b * 8 / s / 1e9 : 0)}')" "$5"
	return 0
}

# bed_mtu SIZE: the test-bed's veth pair at MTU 9000 for jumbo frames
# (longer than a 1518-byte frame); nothing for the others.
bed_mtu() {
	[ "$1" -gt 1518 ] || return 0
	ip -n "$NS_SW" link set "$IF_SW" mtu 9000 && ip -n "$NS_PEER" link set "$IF_PEER" mtu 9000
}

# worker: the daemon's worker counters, "busy_ns idle+sleep_ns packets"
# (flipswitchctl stats), for the switch's own share of a run.
worker() {
	"$B/flipswitchctl" -s "$WORK/ctl.sock" -j stats |
		jq -r '.switch | "\(.busy_ns) \(.idle_ns) \(.sleep_ns) \(.packets)"'
}

# worker_rec CASE SIZE RUN BEFORE AFTER: records the worker's busy share of
# the run, its awake share (busy or polling, not asleep: the CPU it kept)
# and its busy time per packet taken in, from two worker samples.
worker_rec() {
	local w
	w=$(awk -v a="$4" -v b="$5" 'BEGIN {
		split(a, x, " "); split(b, y, " ")
		busy = y[1] - x[1]; idle = y[2] - x[2]; asleep = y[3] - x[3]
		n = y[4] - x[4]; all = busy + idle + asleep
		if (all > 0 && n > 0)
			printf "%.2f %.2f %.1f", 100 * busy / all,
				100 * (busy + idle) / all, busy / n
	}')
	[ -n "$w" ] || return 0
	set -- "$1" "$2" "$3" $w
	rec "$1" "$2" switch_busy % "$4" "$3"
	rec "$1" "$2" switch_awake % "$5" "$3"
	rec "$1" "$2" switch_ns_per_packet ns "$6" "$3"
}

switch_up() { # switch_up CONFIG: the release daemon, pinned to RX_CPU
	DAEMON_WRAP="taskset -c $RX_CPU" start_daemon "$1" >/dev/null
}

# --- the cases: each sets up its own test-bed and removes it --------------

case_afxdp() { # SIZE RUN
	bed_up
	bed_mtu "$1"
	consumer_start "$WORK/sink.out" "$B/fs-sink" xdp -i "$IF_SW" --mac "$VM1" || { bed_down; return; }
	set -- "$1" "$2" $(gen --dst "$VM1" --size "$1" --seconds "$SECS")
	consumer_stop "$WORK/sink.out"
	rec_rate afxdp-rxdrop "$1" "$GOT" "$3" "$2"
	bed_down
}

flipswitch_conf() { # FILE [extra top-level settings]
	local f=$1
	shift
	write_config "$f" "web1 $VM1 2048" "web2 $VM2 2048"
	sed -i 's/frames = [0-9]*/frames = 16384/' "$f"
	for x in "$@" ${BENCH_CONF:+"$BENCH_CONF"}; do echo "$x" >>"$f"; done
}

# The flipswitch cases' guest: GUEST_MODE=doorbell (default: it sleeps
# until the switch rings, leaving the shared CPU to the switch), nap (20 us
# naps when idle, as flipswitch-guest without a doorbell) or spin.
case_flipswitch() { # SIZE RUN CASE [config lines...]
	local size=$1 run=$2 name=$3 guest=("$SHM-web1") w0 w1
	shift 3
	case ${GUEST_MODE:-doorbell} in
	spin) guest=(--spin "$SHM-web1") ;;
	doorbell) guest=(--doorbell "$WORK/web1.doorbell") ;;
	esac
	bed_up
	bed_mtu "$size"
	flipswitch_conf "$WORK/fs.conf" "$@"
	switch_up "$WORK/fs.conf" || { bed_down; return; }
	consumer_start "$WORK/vm.out" "$B/fs-sink" vms --pool "$SHM-pool" "${guest[@]}" || { stop_daemon; bed_down; return; }
	w0=$(worker)
	set -- $(gen --dst "$VM1" --size "$size" --seconds "$SECS")
	w1=$(worker)
	consumer_stop "$WORK/vm.out"
	rec_rate "$name" "$size" "$GOT" "$1" "$run"
	worker_rec "$name" "$size" "$run" "$w0" "$w1"
	stop_daemon
	bed_down
}

# The cost of isolation end to end: web1 in pool blue, the interface's
# queue in pool red, so every frame is copied once into blue (issue 20's
# fan-in across pools); beside the flipswitch case, where both are one pool.
case_xpool() { # SIZE RUN
	local size=$1 run=$2 w0 w1
	bed_up
	cat >"$WORK/fs.conf" <<EOF
pools = (
  { name = "red"; path = "$SHM-red"; frames = 16384; frame_size = 2048; },
  { name = "blue"; path = "$SHM-blue"; frames = 16384; frame_size = 2048; }
);
interfaces = ( { name = "$IF_SW"; xdp_mode = "native";
  pools = ( { pool = "red"; queues = [0]; } ); } );
control = "$WORK/ctl.sock";
vms = ( { name = "web1"; mac = "$VM1"; rings = "$SHM-web1"; pool = "blue"; quota = 2048; } );
EOF
	switch_up "$WORK/fs.conf" || { bed_down; return; }
	consumer_start "$WORK/vm.out" "$B/fs-sink" vms --pool "$SHM-blue" \
		--doorbell "$WORK/web1.doorbell" || { stop_daemon; bed_down; return; }
	w0=$(worker)
	set -- $(gen --dst "$VM1" --size "$size" --seconds "$SECS")
	w1=$(worker)
	consumer_stop "$WORK/vm.out"
	rec flipswitch-xpool "$size" rx_rate Mpps "$(mpps "$GOT" "$1")" "$run"
	worker_rec flipswitch-xpool "$size" "$run" "$w0" "$w1"
	stop_daemon
	bed_down
}

# bridge_up [SIZE]: the test-bed with a Linux bridge joining the veth end
# and a tap, and a reader of the tap (one read() a frame, as QEMU's tap
# backend); all at MTU 9000 for jumbo frames.
bridge_up() {
	bed_up
	bed_mtu "${1:-0}"
	ip -n "$NS_SW" link add fsbr0 type bridge
	ip -n "$NS_SW" tuntap add fstap0 mode tap
	[ "${1:-0}" -gt 1518 ] && ip -n "$NS_SW" link set fstap0 mtu 9000
	ip -n "$NS_SW" link set "$IF_SW" master fsbr0
	ip -n "$NS_SW" link set fstap0 master fsbr0
	ip -n "$NS_SW" link set fstap0 up
	ip -n "$NS_SW" link set fsbr0 up
	consumer_start "$WORK/tap.out" "$B/fs-sink" tap --name fstap0 || { bed_down; return 1; }
}

case_bridge() { # SIZE RUN
	bridge_up "$1" || return
	set -- "$1" "$2" $(gen --dst "$VM1" --size "$1" --seconds "$SECS")
	consumer_stop "$WORK/tap.out"
	rec_rate bridge-tap "$1" "$GOT" "$3" "$2"
	bed_down
}

case_dpdk() { # SIZE RUN
	local n
	bed_up
	DPDK_DIR=$WORK/dpdk
	mkdir -p "$DPDK_DIR"
	if "$DPDK" start "$NS_SW" "$IF_SW" "$DPDK_DIR" $RX_CPU $RX_CPU >"$WORK/dpdk.out" 2>&1; then
		set -- "$1" "$2" $(gen --dst "$VM1" --size "$1" --seconds "$SECS")
		n=$("$DPDK" stop "$DPDK_DIR" 2>/dev/null | tail -1)
		rec dpdk "$1" rx_rate Mpps "$(mpps "$n" "$3")" "$2"
	else
		echo "# dpdk: the pipeline did not start: $(tail -2 "$WORK/dpdk.out" | tr '\n' ' ')"
		"$DPDK" stop "$DPDK_DIR" >/dev/null 2>&1
	fi
	DPDK_DIR=
	bed_down
}

case_v2v() { # SIZE RUN: guest web1 sends to guest web2 as fast as it can
	local size=$1 run=$2 t0 t1
	bed_up
	flipswitch_conf "$WORK/fs.conf"
	switch_up "$WORK/fs.conf" || { bed_down; return; }
	consumer_start "$WORK/vm.out" "$B/fs-sink" vms --pool "$SHM-pool" "$SHM-web2" || { stop_daemon; bed_down; return; }
	t0=$(date +%s.%N)
	taskset -c $GEN_CPU "$B/flipswitch-guest" --pool "$SHM-pool" --rings "$SHM-web1" --quiet \
		tx --dst "$VM2" --count 100000000 --size $((size - 4)) --timeout "$SECS" >/dev/null 2>&1
	t1=$(date +%s.%N)
	consumer_stop "$WORK/vm.out"
	rec vm-to-vm "$size" rx_rate Mpps "$(mpps "$GOT" "$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')")" "$run"
	stop_daemon
	bed_down
}

case_fanout() { # VMS RUN: one NIC queue to VMS VMs by destination MAC
	local nvm=$1 run=$2 vms=() rings=() i mac w0 w1
	bed_up
	for ((i = 1; i <= nvm; i++)); do
		mac=$(printf '52:54:00:00:%02x:%02x' $((i >> 8)) $((i & 255)))
		vms+=("v$i $mac 256")
		rings+=("$SHM-v$i")
	done
	write_config "$WORK/fs.conf" "${vms[@]}"
	sed -i 's/frames = [0-9]*/frames = 131072/' "$WORK/fs.conf"
	switch_up "$WORK/fs.conf" || { bed_down; return; }
	consumer_start "$WORK/vm.out" "$B/fs-sink" vms --pool "$SHM-pool" "${rings[@]}" || { stop_daemon; bed_down; return; }
	w0=$(worker)
	set -- $(gen --dst 52:54:00:00:00:01 --dst-count "$nvm" --size 64 --seconds "$SECS")
	w1=$(worker)
	consumer_stop "$WORK/vm.out"
	rec "vm-fanout-$nvm" 64 rx_rate Mpps "$(mpps "$GOT" "$1")" "$run"
	worker_rec "vm-fanout-$nvm" 64 "$run" "$w0" "$w1"
	stop_daemon
	bed_down
}

# A guest ringing the switch's doorbell as fast as it can (issue 18): the
# wire sends STORM_RATE frames/s to web1 (a guest asleep on its doorbell,
# fs-sink) while web2's guest storms its bell (flipswitch-guest storm, on
# the generator's CPU), against the same with web2's guest quiet. Records
# the switch's time per web1's packet, as CPU (switch_cpu_ns_per_packet:
# every daemon thread's run time, /proc/PID/task/*/schedstat, over the
# packets it took in) and as the worker's time awake (switch_awake_ns_per_
# packet: its busy and idle time, flipswitchctl stats: a pass a storm
# wakes it for moves nothing, so it is idle time), the rate web1 got its
# frames at, and the storm's rings a second. doorbell-storm/doorbell-quiet
# is their ratio, run by run.
STORM_RATE=20000
web1_rx() { # frames the switch gave web1
	"$B/flipswitchctl" -s "$WORK/ctl.sock" -j stats | jq '.ports[] | select(.name == "web1") | .rx_packets'
}
task_ns() { # task_ns PID: its threads' run time so far, ns (schedstat)
	cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{n += $1} END {printf "%.0f\n", n}'
}
daemon_cpu_ns() { task_ns "$DAEMON_PID"; }

case_bellstorm() { # RUN CASE STORM(0|1)
	local run=$1 name=$2 storm=$3 g s=() w0 w1 c0 c1 t0 t1 r
	bed_up
	flipswitch_conf "$WORK/fs.conf"
	switch_up "$WORK/fs.conf" || { bed_down; return; }
	consumer_start "$WORK/vm.out" "$B/fs-sink" vms --pool "$SHM-pool" --doorbell "$WORK/web1.doorbell" ||
		{ stop_daemon; bed_down; return; }
	if [ "$storm" = 1 ]; then
		taskset -c $GEN_CPU "$B/flipswitch-guest" --pool "$SHM-pool" --doorbell "$WORK/web2.doorbell" \
			--quiet storm --timeout "$(awk -v s="$SECS" 'BEGIN {print s + 2}')" >"$WORK/storm.out" 2>&1 &
		s=($!)
		BG_PIDS+=("${s[@]}")
	fi
	peer taskset -c $GEN_CPU "$B/fs-gen" -i "$IF_PEER" --dst "$VM1" --size 64 --rate $STORM_RATE \
		--pace "$CPU_PACE" --seconds "$(awk -v s="$SECS" 'BEGIN {print s + 1.5}')" \
		>"$WORK/gen.out" 2>>"$WORK/gen.err" &
	g=$!
	BG_PIDS+=("$g")
	sleep 0.5
	w0=$(worker) c0=$(daemon_cpu_ns) t0=$(date +%s.%N) r=$(web1_rx)
	sleep "$SECS"
	w1=$(worker) c1=$(daemon_cpu_ns) t1=$(date +%s.%N)
	r=$(($(web1_rx) - r))
	wait "$g"
	[ ${#s[@]} -gt 0 ] && wait "${s[0]}"
	consumer_stop "$WORK/vm.out"
	set -- $(awk -v a="$w0" -v b="$w1" -v c0="$c0" -v c1="$c1" -v t0="$t0" -v t1="$t1" -v r="$r" 'BEGIN {
		split(a, x, " "); split(b, y, " "); n = y[4] - x[4]
		if (n > 0)
			printf "%.1f %.1f %.0f", (c1 - c0) / n, (y[1] - x[1] + y[2] - x[2]) / n, r / (t1 - t0)
	}')
	if [ $# -eq 3 ]; then
		rec "$name" 64 switch_cpu_ns_per_packet ns "$1" "$run" $STORM_RATE
		rec "$name" 64 switch_awake_ns_per_packet ns "$2" "$run" $STORM_RATE
		rec "$name" 64 delivered_rate frames/s "$3" "$run" $STORM_RATE
	fi
	# The rate the generator kept (below STORM_RATE where it was woken
	# late and skipped frames).
	r=$(awk '/^sent/ && $5 > 0 {printf "%.0f", $2 / $5}' "$WORK/gen.out")
	[ -n "$r" ] && rec "$name" 64 sent_rate frames/s "$r" "$run" $STORM_RATE
	[ "$storm" = 1 ] && rec "$name" 64 storm_rings_per_s rings/s "$(awk -v s="$SECS" \
		'/^rang/ {printf "%.0f", $2 / (s + 2)}' "$WORK/storm.out")" "$run" $STORM_RATE
	stop_daemon
	bed_down
}

# Two hosts joined by the kernel's VXLAN (docs/datapath.md, "A VXLAN
# uplink"): the veth pair is the underlay between the peer namespace
# (host A, the sending VM's, on GEN_CPU) and the switch namespace (host
# B, the receiving VM's, on RX_CPU). The underlay's MTU is 1600 so that
# 1500-byte frames fit vxlan0 (1550).
vxlan_up() {
	bed_up || return 1
	ip -n "$NS_PEER" link set "$IF_PEER" mtu 1600
	ip -n "$NS_SW" link set "$IF_SW" mtu 1600
	ip -n "$NS_PEER" addr add 10.96.0.1/24 dev "$IF_PEER"
	ip -n "$NS_SW" addr add 10.96.0.2/24 dev "$IF_SW"
	ip -n "$NS_PEER" link add vxlan0 type vxlan id 42 local 10.96.0.1 remote 10.96.0.2 dstport 4789 dev "$IF_PEER" &&
		ip -n "$NS_SW" link add vxlan0 type vxlan id 42 local 10.96.0.2 remote 10.96.0.1 dstport 4789 dev "$IF_SW" || return 1
	ip -n "$NS_PEER" link set vxlan0 up
	ip -n "$NS_SW" link set vxlan0 up
}

# VM a1 on host A (flipswitch-guest tx, as vm-to-vm's sender) to VM web1
# on host B (fs-sink), a flipswitchd on each host's vxlan0.
case_vxlan() { # SIZE RUN
	local size=$1 run=$2 t0 t1 a_pid guest=("$SHM-web1")
	[ "${GUEST_MODE:-doorbell}" = doorbell ] && guest=(--doorbell "$WORK/web1.doorbell")
	[ "${GUEST_MODE:-}" = spin ] && guest=(--spin "$SHM-web1")
	vxlan_up || { echo "# vxlan: no vxlan devices here"; bed_down; return; }
	XDP_MODE=generic flipswitch_conf "$WORK/fs.conf"
	sed -i "s/\"$IF_SW\"/\"vxlan0\"/" "$WORK/fs.conf"
	switch_up "$WORK/fs.conf" || { bed_down; return; }
	cat >"$WORK/a.conf" <<-EOF
	pool = { path = "$SHM-apool"; frames = 16384; frame_size = 2048; };
	interfaces = ( { name = "vxlan0"; } );
	control = "$WORK/a.sock";
	vms = ( { name = "a1"; mac = "$VM2"; rings = "$SHM-a1"; quota = 2048; } );
	EOF
	ip netns exec "$NS_PEER" taskset -c $GEN_CPU "$B/$DAEMON" -c "$WORK/a.conf" 2>"$WORK/a.log" &
	a_pid=$!
	for _ in $(seq 200); do grep -q ready "$WORK/a.log" && break; sleep 0.05; done
	if consumer_start "$WORK/vm.out" "$B/fs-sink" vms --pool "$SHM-pool" "${guest[@]}"; then
		t0=$(date +%s.%N)
		taskset -c $GEN_CPU "$B/flipswitch-guest" --pool "$SHM-apool" --rings "$SHM-a1" --quiet \
			tx --dst "$VM1" --count 100000000 --size $((size - 4)) --timeout "$SECS" >/dev/null 2>&1
		t1=$(date +%s.%N)
		consumer_stop "$WORK/vm.out"
		rec vxlan-flipswitch "$size" rx_rate Mpps "$(mpps "$GOT" "$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')")" "$run"
	fi
	kill -TERM "$a_pid" 2>/dev/null
	wait "$a_pid" 2>/dev/null
	stop_daemon
	bed_down
}

# The same two hosts, each a Linux bridge holding vxlan0 and a VM's tap:
# host A's "VM" writes into its tap (fs-gen --tap, one write a frame, as
# QEMU), host B's tap is read (fs-sink tap, one read a frame).
case_vxlan_bridge() { # SIZE RUN
	local ns
	vxlan_up || { echo "# vxlan: no vxlan devices here"; bed_down; return; }
	for ns in "$NS_PEER" "$NS_SW"; do
		ip -n "$ns" link add fsbr0 type bridge
		ip -n "$ns" tuntap add fstap0 mode tap
		ip -n "$ns" link set vxlan0 master fsbr0
		ip -n "$ns" link set fstap0 master fsbr0
		ip -n "$ns" link set fstap0 up
		ip -n "$ns" link set fsbr0 up
	done
	consumer_start "$WORK/tap.out" "$B/fs-sink" tap --name fstap0 || { bed_down; return; }
	set -- "$1" "$2" $(peer taskset -c $GEN_CPU "$B/fs-gen" --tap fstap0 --dst "$VM1" --size "$1" \
		--seconds "$SECS" 2>>"$WORK/gen.err" | awk '/^sent/ {print $5, $2}')
	consumer_stop "$WORK/tap.out"
	rec vxlan-bridge-tap "$1" rx_rate Mpps "$(mpps "$GOT" "$3")" "$2"
	bed_down
}

case_latency() { # MODE RUN [config lines...]: busy-poll or doorbell, 20k frames/s
	local mode=$1 run=$2 args=(--spin "$SHM-web1") t0 t1 c0 c1 hz
	shift 2
	[ "${mode%-nap}" = doorbell ] && args=(--doorbell "$WORK/web1.doorbell")
	bed_up
	flipswitch_conf "$WORK/fs.conf" "$@"
	switch_up "$WORK/fs.conf" || { bed_down; return; }
	# The receiving guest on the generator's CPU, which sleeps between
	# frames at this rate: a guest spinning next to the switch would
	# delay the switch's wake-ups by a scheduler tick.
	CONSUMER_CPU=$GEN_CPU consumer_start "$WORK/lat.out" "$B/fs-sink" vms --pool "$SHM-pool" --latency "${args[@]}" || { stop_daemon; bed_down; return; }
	gen --dst "$VM1" --size 64 --seconds "$SECS" --rate 20000 --stamp >/dev/null
	if [ "$mode" = doorbell ]; then
		# Idle CPU of switch and guest, both asleep on their doorbells.
		hz=$(getconf CLK_TCK)
		sleep 0.3
		t0=$(awk '{print $14 + $15}' /proc/$DAEMON_PID/stat)
		c0=$(awk '{print $14 + $15}' /proc/$CONSUMER/stat)
		sleep 1
		t1=$(awk '{print $14 + $15}' /proc/$DAEMON_PID/stat)
		c1=$(awk '{print $14 + $15}' /proc/$CONSUMER/stat)
		rec idle-cpu 0 switch "ms/s" $(((t1 - t0) * 1000 / hz)) "$run"
		rec idle-cpu 0 guest "ms/s" $(((c1 - c0) * 1000 / hz)) "$run"
	fi
	consumer_stop "$WORK/lat.out"
	set -- $(awk '/^latency_us/ {print $3, $5, $7}' "$WORK/lat.out")
	if [ $# -eq 3 ]; then
		rec "latency-$mode" 64 p50 us "$1" "$run"
		rec "latency-$mode" 64 p99 us "$2" "$run"
		rec "latency-$mode" 64 p99.9 us "$3" "$run"
	fi
	stop_daemon
	bed_down
}

# The core's imix (7 x 64, 4 x 576, 1 x 1500 bytes) averages 354 bytes: its
# records carry that as their frame size.
IMIX=354
core_ns() { # ARGS...: fs-core-bench's ns per packet
	taskset -c $RX_CPU "$B/fs-core-bench" --packets "$CORE_N" "$@" 2>/dev/null |
		sed -n 's/.*: \([0-9.]*\) ns\/packet.*/\1/p'
}

case_core() { # RUN: the switching core alone, ns/packet, both hand-offs
	local run=$1 s h v
	for s in 64 1500 imix; do
		for h in zerocopy copy; do
			rec "core-$h" "$([ $s = imix ] && echo $IMIX || echo "$s")" ns_per_packet ns \
				"$(core_ns --size "$s" --handoff "$h")" "$run"
		done
	done
	for s in off used full; do
		rec "core-scrub-$s" $IMIX ns_per_packet ns "$(core_ns --size imix --scrub "$s")" "$run"
	done
	for v in $FANOUT; do
		rec "core-fanout-$v" 64 ns_per_packet ns "$(core_ns --size 64 --vms "$v")" "$run"
	done
	# 256 VMs attached, traffic to one: what idle VMs cost.
	rec core-idle-256 64 ns_per_packet ns "$(core_ns --size 64 --vms 256 --active 1)" "$run"
	# VM to VM: one guest's tx ring to another's rx ring.
	rec core-vm2vm 64 ns_per_packet ns "$(core_ns --size 64 --from vm)" "$run"
	# VM to the wire: one guest's tx ring to the NIC queue's tx ring.
	rec core-vm2nic 64 ns_per_packet ns "$(core_ns --size 64 --from vm --to nic)" "$run"
	# The cost of isolation: the receivers in another pool than the
	# NIC queue's (or the sending VM's), one copy across each frame.
	for s in 64 1500; do
		rec core-xpool "$s" ns_per_packet ns "$(core_ns --size "$s" --pools 2)" "$run"
	done
	rec core-xpool-vm2vm 64 ns_per_packet ns "$(core_ns --size 64 --from vm --pools 2)" "$run"
}

# Instructions per packet of the switch side, under callgrind: the same
# whatever the machine's load, so one run is enough. And the data cache
# misses of a simulated cache of fixed geometry (an L1d of 32 KiB 8-way as
# this host's, and an L2 of 1 MiB 16-way as callgrind's last level), as
# repeatable: where the instructions are alike, what the memory costs. A
# model (virtually indexed, no prefetcher, no other core): it explains the
# fan-out's time, but it once predicted a gain that the clock did not see
# (docs/performance.md, the rings' colors).
CG_CACHE="--cache-sim=yes --I1=32768,8,64 --D1=32768,8,64 --LL=1048576,16,64"
cg_rec() { # CASE SIZE ARGS...: records fs-core-bench's instructions and misses per packet
	local c=$1 s=$2 out n sum
	shift 2
	# shellcheck disable=SC2086 # CG_CACHE is a list of options
	out=$(valgrind --tool=callgrind $CG_CACHE '--toggle-collect=switch_side*' \
		--callgrind-out-file="$WORK/cg.out" "$B/fs-core-bench" \
		--packets "${CG_N:-100000}" "$@" 2>/dev/null)
	n=$(echo "$out" | sed -n 's/.*(\([0-9]*\) through switch_side).*/\1/p')
	# events: Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw
	sum=$(awk '/^summary:/ {print $2, $6 + $7, $9 + $10}' "$WORK/cg.out")
	[ -n "$n" ] && [ -n "$sum" ] || return 0
	# shellcheck disable=SC2086 # three numbers
	set -- $sum
	rec "$c" "$s" instructions_per_packet instructions \
		"$(awk -v a="$1" -v b="$n" 'BEGIN {printf "%.1f", a / b}')" 1
	rec "$c" "$s" l1d_misses_per_packet misses \
		"$(awk -v a="$2" -v b="$n" 'BEGIN {printf "%.2f", a / b}')" 1
	rec "$c" "$s" l2_misses_per_packet misses \
		"$(awk -v a="$3" -v b="$n" 'BEGIN {printf "%.3f", a / b}')" 1
}

case_callgrind() {
	local s h v
	command -v valgrind >/dev/null || { echo "# callgrind: valgrind is missing"; return; }
	for s in 64 1500; do
		for h in zerocopy copy; do
			cg_rec "core-$h" "$s" --size "$s" --handoff "$h"
		done
	done
	cg_rec core-vm2vm 64 --size 64 --from vm
	cg_rec core-vm2nic 64 --size 64 --from vm --to nic
	for s in 64 1500; do
		cg_rec core-xpool "$s" --size "$s" --pools 2
	done
	cg_rec core-xpool-vm2vm 64 --size 64 --from vm --pools 2
	# A pass that carries one frame, as at a veth's rates or a lightly
	# loaded NIC: the pass's fixed costs per packet.
	cg_rec core-burst-1 64 --size 64 --burst 1
	# The many-VM cases too: their ns figures move with the machine's
	# load, their instruction counts do not. (Not in the quick run: 256
	# VMs under valgrind take most of ten seconds.)
	[ "$MODE" = quick ] && return
	for v in $FANOUT; do
		cg_rec "core-fanout-$v" 64 --size 64 --vms "$v"
	done
	cg_rec core-idle-256 64 --size 64 --vms 256 --active 1
}

# The CPU-per-packet cases.
. "$TOP/tools/bench/cpu.sh"

echo "bench: $MODE: sizes $SIZES${JUMBO:+ and $JUMBO (jumbo)}, $RUNS runs of $SECS s; placement: generator and veth NAPI on CPU $GEN_CPU, switch/guest/receivers on CPU $RX_CPU ($(nproc) CPUs)"
dpdk_ok=
if [ "$MODE" != smoke ]; then
	if out=$("$DPDK" available 2>&1); then dpdk_ok=1; else echo "# dpdk: $out"; fi
fi
ovs_ok=
if [ "$MODE" != smoke ] && [ "${BENCH_CPU:-1}" != 0 ] && cpu_want ovs-afxdp-tap; then
	if out=$("$OVS" available 2>&1); then ovs_ok=1; else echo "# ovs-afxdp-tap: $out"; fi
fi
for run in $(seq "$RUNS"); do
	for size in $SIZES; do
		want afxdp-rxdrop && case_afxdp "$size" "$run"
		want flipswitch && case_flipswitch "$size" "$run" flipswitch
		want flipswitch-copy && case_flipswitch "$size" "$run" flipswitch-copy 'handoff = "copy";'
		[ "$size" != 512 ] && want flipswitch-xpool && case_xpool "$size" "$run"
		# The worker napping under light load (max_sleep_usecs).
		want flipswitch-nap && case_flipswitch "$size" "$run" flipswitch-nap "$NAP"
		[ "$size" = 1500 ] && want flipswitch-copy-nap &&
			case_flipswitch "$size" "$run" flipswitch-copy-nap 'handoff = "copy";' "$NAP"
		want bridge-tap && case_bridge "$size" "$run"
		[ -n "$dpdk_ok" ] && want dpdk && case_dpdk "$size" "$run"
		want vm-to-vm && case_v2v "$size" "$run"
		if [ "$size" != 512 ]; then
			want vxlan-flipswitch && case_vxlan "$size" "$run"
			want vxlan-bridge-tap && case_vxlan_bridge "$size" "$run"
		fi
	done
	# Jumbo frames: the cases of JUMBO_CASES only.
	for size in $JUMBO; do
		want afxdp-rxdrop && [[ afxdp-rxdrop =~ $JUMBO_CASES ]] && case_afxdp "$size" "$run"
		want flipswitch && [[ flipswitch =~ $JUMBO_CASES ]] && case_flipswitch "$size" "$run" flipswitch
		want bridge-tap && [[ bridge-tap =~ $JUMBO_CASES ]] && case_bridge "$size" "$run"
	done
	for s in off used full; do
		want "flipswitch-scrub-$s" && SCRUB=$s case_flipswitch 1500 "$run" "flipswitch-scrub-$s"
	done
	for n in $FANOUT; do want "vm-fanout-$n" && case_fanout "$n" "$run"; done
	want doorbell-quiet && case_bellstorm "$run" doorbell-quiet 0
	want doorbell-storm && case_bellstorm "$run" doorbell-storm 1
	want latency-busy-poll && case_latency busy-poll "$run"
	want latency-doorbell && case_latency doorbell "$run"
	want latency-doorbell-nap && case_latency doorbell-nap "$run" "$NAP"
	want core && case_core "$run"
	echo "bench: run $run of $RUNS done"
done
if [ "${BENCH_CPU:-1}" != 0 ]; then
	echo "bench: CPU per packet: $CPU_RUNS runs, rates $CPU_RATES frames/s, sizes $CPU_SIZES, windows of $CPU_SECS s, bursts every $CPU_PACE us"
	cpu_cg_enter
	for run in $(seq "$CPU_RUNS"); do
		for rate in $CPU_RATES; do
			for size in $CPU_SIZES; do
				cpu_group "$size" "$rate" "$run"
			done
		done
		echo "bench: CPU run $run of $CPU_RUNS done"
	done
	cpu_cg_leave
	cpu_derive
fi
want core && case_callgrind

# --- results.json and the table --------------------------------------------
# Ratios pair two cases of the same run: A/B at SIZE for each run.
ratio() { # NAME A B SIZE [METRIC]
	awk -v a="$2" -v b="$3" -v s="$4" -v m="${5:-rx_rate}" -v name="$1" '
		$3 == m && $2 == s && $1 == a {A[$6] = $5}
		$3 == m && $2 == s && $1 == b {B[$6] = $5}
		END {for (r in A) if ((r in B) && B[r] > 0) printf "RATIO %s %.4f\n", name, A[r] / B[r]}' "$RAW"
}
{
	for s in $JUMBO; do
		ratio "flipswitch/afxdp-rxdrop@$s" flipswitch afxdp-rxdrop "$s"
		ratio "flipswitch/bridge-tap@$s" flipswitch bridge-tap "$s"
	done
	for s in $SIZES; do
		ratio "flipswitch/afxdp-rxdrop@$s" flipswitch afxdp-rxdrop "$s"
		ratio "flipswitch/flipswitch-copy@$s" flipswitch flipswitch-copy "$s"
		ratio "flipswitch-xpool/flipswitch@$s" flipswitch-xpool flipswitch "$s"
		ratio "flipswitch/bridge-tap@$s" flipswitch bridge-tap "$s"
		ratio "flipswitch/dpdk@$s" flipswitch dpdk "$s"
		ratio "vxlan-flipswitch/vxlan-bridge-tap@$s" vxlan-flipswitch vxlan-bridge-tap "$s"
		ratio "flipswitch-copy/flipswitch@$s:switch_ns" flipswitch-copy flipswitch "$s" switch_ns_per_packet
		ratio "flipswitch-nap/flipswitch@$s" flipswitch-nap flipswitch "$s"
		ratio "flipswitch-nap/flipswitch@$s:switch_ns" flipswitch-nap flipswitch "$s" switch_ns_per_packet
	done
	for n in $FANOUT; do
		[ "$n" = 1 ] && continue
		ratio "vm-fanout-1/vm-fanout-$n@64" vm-fanout-1 "vm-fanout-$n" 64
		ratio "vm-fanout-$n/vm-fanout-1@64:switch_ns" "vm-fanout-$n" vm-fanout-1 64 switch_ns_per_packet
		ratio "core-fanout-$n/core-fanout-1@64" "core-fanout-$n" core-fanout-1 64 ns_per_packet
	done
	for s in 64 1500 $IMIX; do
		ratio "core-copy/core-zerocopy@$s" core-copy core-zerocopy "$s" ns_per_packet
	done
	ratio "flipswitch-copy-nap/flipswitch-nap@1500:switch_ns" flipswitch-copy-nap flipswitch-nap 1500 switch_ns_per_packet
	ratio "core-idle-256/core-fanout-1@64" core-idle-256 core-fanout-1 64 ns_per_packet
	for n in $FANOUT; do
		[ "$n" = 1 ] && continue
		ratio "core-fanout-$n/core-fanout-1@64:instructions" "core-fanout-$n" core-fanout-1 64 instructions_per_packet
	done
	ratio "core-idle-256/core-fanout-1@64:instructions" core-idle-256 core-fanout-1 64 instructions_per_packet
	for n in $FANOUT; do
		[ "$n" = 1 ] && continue
		ratio "core-fanout-$n/core-fanout-1@64:l1d_misses" "core-fanout-$n" core-fanout-1 64 l1d_misses_per_packet
	done
	ratio "core-idle-256/core-fanout-1@64:l1d_misses" core-idle-256 core-fanout-1 64 l1d_misses_per_packet
	ratio "core-vm2vm/core-zerocopy@64" core-vm2vm core-zerocopy 64 ns_per_packet
	ratio "core-vm2vm/core-zerocopy@64:instructions" core-vm2vm core-zerocopy 64 instructions_per_packet
	ratio "core-vm2nic/core-zerocopy@64" core-vm2nic core-zerocopy 64 ns_per_packet
	ratio "core-vm2nic/core-zerocopy@64:instructions" core-vm2nic core-zerocopy 64 instructions_per_packet
	ratio "core-burst-1/core-zerocopy@64:instructions" core-burst-1 core-zerocopy 64 instructions_per_packet
	for s in 64 1500; do
		ratio "core-xpool/core-zerocopy@$s" core-xpool core-zerocopy "$s" ns_per_packet
		ratio "core-xpool/core-zerocopy@$s:instructions" core-xpool core-zerocopy "$s" instructions_per_packet
	done
	ratio "doorbell-storm/doorbell-quiet@64:switch_cpu" doorbell-storm doorbell-quiet 64 switch_cpu_ns_per_packet
	ratio "doorbell-storm/doorbell-quiet@64:switch_awake" doorbell-storm doorbell-quiet 64 switch_awake_ns_per_packet
	ratio "doorbell-storm/doorbell-quiet@64:delivered" doorbell-storm doorbell-quiet 64 delivered_rate
	ratio "core-scrub-full/core-scrub-used@$IMIX" core-scrub-full core-scrub-used $IMIX ns_per_packet
	ratio "core-scrub-used/core-scrub-off@$IMIX" core-scrub-used core-scrub-off $IMIX ns_per_packet
	cpu_ratios
} >"$WORK/ratios"

# Medians, minima and maxima of the records and of the ratios, as JSON.
awk -v mode="$MODE" -v date="$(date -u +%Y-%m-%dT%H:%M:%SZ)" -v host="$(uname -r), $(nproc) CPUs" \
	-v place="generator and veth NAPI on CPU $GEN_CPU; switch, guest and receivers on CPU $RX_CPU" -v pace="$CPU_PACE" '
	function median(v, n,    i, j, t) {
		for (i = 2; i <= n; i++) for (j = i; j > 1 && v[j - 1] > v[j]; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
		return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
	}
	FNR == NR { if ($5 == "") next; k = $1 SUBSEP $2 SUBSEP $3 SUBSEP $4 SUBSEP $7
		if (!(k in n)) order[++nk] = k; vals[k, ++n[k]] = $5; next }
	$1 == "RATIO" { if (!($2 in rn)) rorder[++nr] = $2; rv[$2, ++rn[$2]] = $3; rrate[$2] = $4 }
	END {
		printf "{\"mode\": \"%s\", \"date\": \"%s\", \"machine\": \"%s\", \"placement\": \"%s\", \"cpu_pace_us\": %d,\n \"results\": [", mode, date, host, place, pace
		for (i = 1; i <= nk; i++) {
			k = order[i]; split(k, f, SUBSEP); m = n[k]
			for (j = 1; j <= m; j++) w[j] = vals[k, j] + 0
			med = median(w, m)
			printf "%s\n  {\"case\": \"%s\", \"frame_size\": %d, \"metric\": \"%s\", \"unit\": \"%s\", \"median\": %.4f, \"min\": %.4f, \"max\": %.4f, \"runs\": %d%s}",
				(i > 1 ? "," : ""), f[1], f[2], f[3], f[4], med, w[1], w[m], m,
				(f[5] != "" ? sprintf(", \"rate\": %d", f[5]) : "")
		}
		printf "],\n \"ratios\": ["
		for (i = 1; i <= nr; i++) {
			k = rorder[i]; m = rn[k]
			for (j = 1; j <= m; j++) w[j] = rv[k, j] + 0
			med = median(w, m)
			printf "%s\n  {\"name\": \"%s\", \"median\": %.4f, \"min\": %.4f, \"max\": %.4f, \"runs\": %d%s}", (i > 1 ? "," : ""), k, med, w[1], w[m], m,
				(rrate[k] != "" ? sprintf(", \"rate\": %d", rrate[k]) : "")
		}
		printf "]}\n"
	}' "$RAW" "$WORK/ratios" >"$OUT/results.json"

jq -r '"\n" + (["case", "size", "rate", "metric", "median", "min", "max", "runs"] | @tsv),
	(.results[] | [.case, .frame_size, (.rate // "-"), .metric + " (" + .unit + ")", .median, .min, .max, .runs] | @tsv),
	"", (["ratio", "median", "min", "max"] | @tsv),
	(.ratios[] | [.name, .median, .min, .max] | @tsv)' "$OUT/results.json" | column -t -s $'\t'
echo "bench: wrote $OUT/results.json"
if [ "$MODE" = full ] && command -v gnuplot >/dev/null; then
	"$TOP/tools/bench/plot.sh" "$OUT/results.json" "$OUT/mpps.png" && echo "bench: wrote $OUT/mpps.png"
fi
