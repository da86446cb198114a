# Sourced by bench.sh: the CPU-per-packet cases (docs/performance.md, "CPU
# per packet at a fixed rate"). What a host owner pays for a frame, not how
# many frames a CPU can push: the generator sends at a fixed rate, pacing
# its bursts with sleeps (fs-gen --pace) so that its CPU is idle between
# them, and the CPU the whole machine used over a steady window is
#
#   busy = wall time x CPUs - idle time      (/proc/stat, every CPU)
#
# The idle time the kernel keeps for a tickless CPU is measured at each
# switch to and from idle, not sampled at the tick; the user, system and
# softirq columns are tick samples, which a loop of known load showed to be
# badly biased on this machine, so they are not used.
#
# Each (size, rate) group of a run begins with the baseline `gen-xdp-drop`:
# the same generator into an XDP program that drops every frame at the
# driver. A case's CPU per packet is its busy time less the baseline's,
# over the frames it delivered in the window:
#
#   cpu_per_packet = (busy - busy of gen-xdp-drop) / frames delivered a second
#
# (the baseline scaled by the rates the generator kept in the two, which
# differ only where it was woken late and skipped frames, fs-gen --pace)
#
# so what the generator, veth's transmit and the machine's background cost
# is taken out, and a receiver that drops frames is charged for the ones it
# delivers. `flipswitch` and `flipswitch-copy` are each run in each of
# their modes (the guest spinning, the guest asleep on its doorbell, the
# worker also napping), and their best mode at that size and rate, run by
# run, is recorded as `flipswitch` and `flipswitch-copy`.
#
# A second count, beside it: the CPU time of the case's own processes
# (cpu_tasks, cpu_per_packet_tasks), from a cpuacct cgroup that holds the
# harness and so everything it starts. The scheduler charges a task its
# run time in nanoseconds, softirq work done in its context included (this
# kernel has no IRQ_TIME_ACCOUNTING), and veth's receive runs in the
# sender's context; what runs in kernel threads (ksoftirqd, kworkers) or
# interrupts someone else's task is missed. Other work on the machine
# does not enter it, which the first count cannot tell apart: on a machine
# shared with other jobs, compare the two (and `background`, what the
# machine was busy with just before each group, without us).
#
# Records carry their rate (frames/s) as a seventh field.

CPU_PACE=${BENCH_PACE:-50}     # us between the generator's bursts
CPU_WARM=1                     # s of traffic before the window opens
CPU_HZ=$(getconf CLK_TCK)
CPU_N=$(grep -c '^cpu[0-9]' /proc/stat)
# The flipswitch modes (cpu_flipswitch), in best_mode_index's order.
CPU_MODES=(busy-poll doorbell nap)

cpu_want() { [[ $1 =~ ${BENCH_CPU_CASES:-.} ]]; }

CPU_CG=
CPU_CG_ROOT=/sys/fs/cgroup/cpuacct

# cpu_cg_enter: the harness (and what it starts from now on) into a cgroup
# of its own; nothing if the cpuacct controller is not mounted (v1).
cpu_cg_enter() {
	[ -w "$CPU_CG_ROOT/cgroup.procs" ] || return 0
	mkdir "$CPU_CG_ROOT/flipswitch-bench-$$" 2>/dev/null || return 0
	CPU_CG=$CPU_CG_ROOT/flipswitch-bench-$$
	echo $$ >"$CPU_CG/cgroup.procs" || { rmdir "$CPU_CG"; CPU_CG=; }
}

cpu_cg_leave() { # back to the root, and the cgroup removed
	[ -n "$CPU_CG" ] || return 0
	echo $$ >"$CPU_CG_ROOT/cgroup.procs" 2>/dev/null
	for _ in $(seq 20); do rmdir "$CPU_CG" 2>/dev/null && break; sleep 0.1; done
	CPU_CG=
}

cpu_tasks() { # CPU time of the harness's cgroup, ns
	[ -n "$CPU_CG" ] && cat "$CPU_CG/cpuacct.usage"
}

cpu_idle() { # idle + iowait of every CPU, in USER_HZ ticks
	awk '/^cpu[0-9]/ {i += $5 + $6} END {print i}' /proc/stat
}

cpu_busy() { # T0 T1 IDLE_TICKS: busy % of one CPU between two samples
	awk -v a="$1" -v b="$2" -v i="$3" -v hz="$CPU_HZ" -v n="$CPU_N" \
		'BEGIN {w = b - a; printf "%.2f", 100 * (n * w - i / hz) / w}'
}

# cpu_window CASE SIZE RATE RUN [GEN ARGS...]: runs the paced generator
# for the warm-up, the window and half a second more, and records the busy
# CPU over the window (%, of one CPU: up to CPUs x 100). Leaves SENT, the
# frames the generator sent.
cpu_window() {
	local c=$1 size=$2 rate=$3 run=$4 g t0 t1 i0 i1 u0 u1 secs b s0 s1 v0 v1
	shift 4
	secs=$(awk -v w="$CPU_WARM" -v s="$CPU_SECS" 'BEGIN {print w + s + 0.5}')
	peer taskset -c $GEN_CPU "$B/fs-gen" -i "$IF_PEER" --dst "$VM1" --size "$size" \
		--rate "$rate" --pace "$CPU_PACE" --seconds "$secs" "$@" \
		>"$WORK/gen.out" 2>>"$WORK/gen.err" &
	g=$!
	BG_PIDS+=("$g")
	sleep "$CPU_WARM"
	t0=$(date +%s.%N) i0=$(cpu_idle) u0=$(cpu_tasks)
	[ -n "${CPU_SPLIT:-}" ] && s0=$(task_ns "$DAEMON_PID") v0=$(task_ns "$CONSUMER")
	sleep "$CPU_SECS"
	t1=$(date +%s.%N) i1=$(cpu_idle) u1=$(cpu_tasks)
	[ -n "${CPU_SPLIT:-}" ] && s1=$(task_ns "$DAEMON_PID") v1=$(task_ns "$CONSUMER")
	wait "$g"
	SENT=$(awk '/^sent/ {print $2}' "$WORK/gen.out")
	GEN_SECS=$(awk '/^sent/ {print $5}' "$WORK/gen.out")
	# The rate the generator kept: below the one asked where it was
	# woken late and skipped frames (fs-gen --pace).
	b=$(awk '/^sent/ && $5 > 0 {printf "%.0f", $2 / $5}' "$WORK/gen.out")
	[ -n "$b" ] && rec "$c" "$size" sent_rate frames/s "$b" "$run" "$rate"
	# Frames between two of the generator's sleeps: what a wake-up of the
	# receiving side finds at once (many more where it was starved).
	b=$(awk '/^sent/ && $7 > 0 {printf "%.1f", $2 / $7}' "$WORK/gen.out")
	[ -n "$b" ] && rec "$c" "$size" gen_burst frames "$b" "$run" "$rate"
	rec "$c" "$size" cpu_busy % "$(cpu_busy "$t0" "$t1" $((i1 - i0)))" "$run" "$rate"
	[ -n "$u0" ] && [ -n "$u1" ] &&
		rec "$c" "$size" cpu_tasks % "$(awk -v a="$t0" -v b="$t1" -v u="$((u1 - u0))" \
			'BEGIN {printf "%.2f", 100 * u / 1e9 / (b - a)}')" "$run" "$rate"
	# The flipswitch cases' split: the daemon's threads and the guest's,
	# each its own run time (schedstat, ns), % of one CPU.
	if [ -n "${CPU_SPLIT:-}" ]; then
		rec "$c" "$size" switch_cpu % "$(awk -v a="$t0" -v b="$t1" -v u="$((s1 - s0))" \
			'BEGIN {printf "%.2f", 100 * u / 1e9 / (b - a)}')" "$run" "$rate"
		rec "$c" "$size" guest_cpu % "$(awk -v a="$t0" -v b="$t1" -v u="$((v1 - v0))" \
			'BEGIN {printf "%.2f", 100 * u / 1e9 / (b - a)}')" "$run" "$rate"
	fi
}

# cpu_delivered CASE SIZE RATE RUN GOT: records the share of the frames
# sent that the receiver got (%) and the rate it got them at (frames/s,
# over the generator's time): the window's frames are taken to be that
# rate, the traffic being steady.
cpu_delivered() {
	rec "$1" "$2" delivered % "$(awk -v g="${5:-0}" -v s="${SENT:-0}" \
		'BEGIN {printf "%.2f", (s > 0 ? 100 * g / s : 0)}')" "$4" "$3"
	rec "$1" "$2" delivered_rate frames/s "$(awk -v g="${5:-0}" -v t="${GEN_SECS:-0}" \
		'BEGIN {printf "%.0f", (t > 0 ? g / t : 0)}')" "$4" "$3"
}

cpu_drop() { # SIZE RATE RUN: the baseline, the generator into XDP_DROP
	local n
	bed_up
	consumer_start "$WORK/drop.out" "$B/fs-sink" drop -i "$IF_SW" || { bed_down; return; }
	cpu_window gen-xdp-drop "$@"
	n=$(ip netns exec "$NS_SW" ethtool -S "$IF_SW" | awk '/xdp_drops:/ {n += $2} END {print n + 0}')
	consumer_stop "$WORK/drop.out"
	cpu_delivered gen-xdp-drop "$@" "$n"
	bed_down
}

cpu_afxdp() { # SIZE RATE RUN: the bare AF_XDP receiver (it spins)
	bed_up
	consumer_start "$WORK/sink.out" "$B/fs-sink" xdp -i "$IF_SW" --mac "$VM1" || { bed_down; return; }
	cpu_window afxdp-rxdrop "$@"
	consumer_stop "$WORK/sink.out"
	cpu_delivered afxdp-rxdrop "$@" "$GOT"
	bed_down
}

# cpu_flipswitch NAME MODE SIZE RATE RUN [config lines...]: the daemon and
# one guest (fs-sink vms, which also measures each frame's one-way latency
# from the generator's stamp) in mode busy-poll (the guest spins, the
# worker polls), doorbell (the guest sleeps until rung) or nap (that, and
# the worker naps up to 50 us under light load).
cpu_flipswitch() {
	local name=$1 mode=$2 size=$3 rate=$4 run=$5 guest=(--doorbell "$WORK/web1.doorbell")
	shift 5
	[ "$mode" = busy-poll ] && guest=(--spin "$SHM-web1")
	[ "$mode" = nap ] && set -- "$@" "$NAP"
	bed_up
	flipswitch_conf "$WORK/fs.conf" "$@"
	switch_up "$WORK/fs.conf" || { bed_down; return; }
	consumer_start "$WORK/vm.out" "$B/fs-sink" vms --pool "$SHM-pool" --latency "${guest[@]}" ||
		{ stop_daemon; bed_down; return; }
	CPU_SPLIT=1 cpu_window "$name-$mode" "$size" "$rate" "$run" --stamp
	consumer_stop "$WORK/vm.out"
	cpu_delivered "$name-$mode" "$size" "$rate" "$run" "$GOT"
	set -- $(awk '/^latency_us/ {print $3, $5}' "$WORK/vm.out")
	if [ $# -eq 2 ]; then
		rec "$name-$mode" "$size" latency_p50 us "$1" "$run" "$rate"
		rec "$name-$mode" "$size" latency_p99 us "$2" "$run" "$rate"
	fi
	stop_daemon
	bed_down
}

cpu_bridge() { # SIZE RATE RUN: veth -> Linux bridge -> tap, read() a frame
	bridge_up || return
	cpu_window bridge-tap "$@"
	consumer_stop "$WORK/tap.out"
	cpu_delivered bridge-tap "$@" "$GOT"
	bed_down
}

cpu_dpdk() { # SIZE RATE RUN: testpmd af_xdp -> memif -> testpmd rxonly
	local n
	bed_up
	DPDK_DIR=$WORK/dpdk
	mkdir -p "$DPDK_DIR"
	if "$DPDK" start "$NS_SW" "$IF_SW" "$DPDK_DIR" $RX_CPU $RX_CPU >"$WORK/dpdk.out" 2>&1; then
		cpu_window dpdk "$@"
		n=$("$DPDK" stop "$DPDK_DIR" 2>/dev/null | tail -1)
		cpu_delivered dpdk "$@" "$n"
	else
		echo "# dpdk: the pipeline did not start: $(tail -2 "$WORK/dpdk.out" | tr '\n' ' ')"
		"$DPDK" stop "$DPDK_DIR" >/dev/null 2>&1
	fi
	DPDK_DIR=
	bed_down
}

cpu_ovs() { # SIZE RATE RUN: Open vSwitch, afxdp port -> tap port
	bed_up
	ip -n "$NS_SW" tuntap add fstap0 mode tap
	ip -n "$NS_SW" link set fstap0 up
	consumer_start "$WORK/tap.out" "$B/fs-sink" tap --name fstap0 || { bed_down; return; }
	OVS_DIR=$WORK/ovs
	if "$OVS" start "$NS_SW" "$IF_SW" fstap0 "$OVS_DIR" $RX_CPU >"$WORK/ovs.out" 2>&1; then
		cpu_window ovs-afxdp-tap "$@"
		"$OVS" stop "$OVS_DIR" >/dev/null 2>&1
		consumer_stop "$WORK/tap.out"
		cpu_delivered ovs-afxdp-tap "$@" "$GOT"
	else
		echo "# ovs-afxdp-tap: did not start: $(tail -2 "$WORK/ovs.out" | tr '\n' ' ')"
		"$OVS" stop "$OVS_DIR" >/dev/null 2>&1
		consumer_stop "$WORK/tap.out"
	fi
	OVS_DIR=
	bed_down
}

# cpu_group SIZE RATE RUN: the baseline, then every case at that point.
cpu_group() {
	local size=$1 rate=$2 run=$3 m
	local t0 i0
	cpu_want gen-xdp-drop || return 0
	# What the machine does without us, for the record: with other work
	# on it, every case's busy time carries that work's too.
	t0=$(date +%s.%N) i0=$(cpu_idle)
	sleep 1
	rec background "$size" cpu_busy % "$(cpu_busy "$t0" "$(date +%s.%N)" $(($(cpu_idle) - i0)))" \
		"$run" "$rate"
	awk '$1 == "background" {b = $5} END {exit !(b > 90 * n)}' n="$CPU_N" "$RAW" &&
		echo "# CPU per packet: the machine was $(awk '$1 == "background" {b = $5} END {print b}' "$RAW") % busy without us before $size B at $rate frames/s: the machine count (cpu_per_packet) cannot see what a case adds to a machine with no idle time; see cpu_per_packet_tasks"
	cpu_drop "$size" "$rate" "$run"
	cpu_want afxdp-rxdrop && cpu_afxdp "$size" "$rate" "$run"
	for m in "${CPU_MODES[@]}"; do
		cpu_want "flipswitch-$m" && cpu_flipswitch flipswitch "$m" "$size" "$rate" "$run"
		# The copy baseline's goal is at 1500 B.
		[ "$size" = 1500 ] && cpu_want "flipswitch-copy-$m" &&
			cpu_flipswitch flipswitch-copy "$m" "$size" "$rate" "$run" 'handoff = "copy";'
	done
	cpu_want bridge-tap && cpu_bridge "$size" "$rate" "$run"
	[ -n "$dpdk_ok" ] && cpu_want dpdk && cpu_dpdk "$size" "$rate" "$run"
	[ -n "$ovs_ok" ] && cpu_want ovs-afxdp-tap && cpu_ovs "$size" "$rate" "$run"
	return 0
}

# cpu_derive: from the raw records, each case's cpu_per_packet (us) against
# its group's baseline, and the best mode of flipswitch and flipswitch-copy
# run by run (its mode in best_mode_index: CPU_MODES' order, from 1); the
# same from cpu_tasks as cpu_per_packet_tasks (best_mode_index_tasks).
cpu_derive() {
	__cpu_derive cpu_busy cpu_per_packet
	cat "$WORK/cpu.derived" >>"$RAW"
	__cpu_derive cpu_tasks cpu_per_packet_tasks
	cat "$WORK/cpu.derived" >>"$RAW"
}

__cpu_derive() { # FROM TO
	awk -v modes="${CPU_MODES[*]}" -v from="$1" -v to="$2" -v n="$CPU_N" '
		$3 == from && NF >= 7 { busy[$1, $2, $6, $7] = $5; pts[$2, $6, $7] = 1 }
		$3 == "delivered_rate" && NF >= 7 { got[$1, $2, $6, $7] = $5 }
		$3 == "sent_rate" && NF >= 7 { sr[$1, $2, $6, $7] = $5 }
		END {
			nm = split(modes, M, " ")
			for (k in busy) {
				split(k, f, SUBSEP)
				if (f[1] == "gen-xdp-drop") continue
				g = "gen-xdp-drop" SUBSEP f[2] SUBSEP f[3] SUBSEP f[4]
				d = got[k]
				if (!(g in busy) || d <= 0 || sr[g] <= 0) continue
				# A machine with no idle time during the baseline
				# has none to give to a case either: nothing to
				# measure there (see cpu_per_packet_tasks).
				if (from == "cpu_busy" && busy[g] >= 98 * n) continue
				# The baseline scaled to the frames this case sent.
				b = busy[g] * sr[k] / sr[g]
				us = (busy[k] - b) / 100 / d * 1e6
				cpp[k] = us
				printf "%s %s %s us %.3f %s %s\n", f[1], f[2], to, us, f[3], f[4]
			}
			for (p in pts) {
				split(p, f, SUBSEP)
				for (c = 0; c < 2; c++) {
					name = c ? "flipswitch-copy" : "flipswitch"
					best = ""; bm = 0
					for (i = 1; i <= nm; i++)
						if (((name "-" M[i], f[1], f[2], f[3]) in cpp) &&
						    (best == "" || cpp[name "-" M[i], f[1], f[2], f[3]] < best)) {
							best = cpp[name "-" M[i], f[1], f[2], f[3]]; bm = i
						}
					if (best != "") {
						printf "%s %s %s us %.3f %s %s\n", name, f[1], to, best, f[2], f[3]
						printf "%s %s best_mode_index%s index %d %s %s\n", name, f[1],
							(to == "cpu_per_packet" ? "" : "_tasks"), bm, f[2], f[3]
					}
				}
			}
		}' "$RAW" >"$WORK/cpu.derived"
}

# cpu_ratio NAME A B SIZE RATE [METRIC]: A's CPU per packet over B's, run
# by run.
cpu_ratio() {
	awk -v a="$2" -v b="$3" -v s="$4" -v r="$5" -v m="${6:-cpu_per_packet}" -v name="$1" '
		$3 == m && $2 == s && $7 == r && $1 == a {A[$6] = $5}
		$3 == m && $2 == s && $7 == r && $1 == b {B[$6] = $5}
		END {for (x in A) if ((x in B) && B[x] > 0) printf "RATIO %s %.4f %s\n", name, A[x] / B[x], r}' "$RAW"
}

# The ratios of the goals, at each rate: NAME@SIZE:cpu at 100 k frames/s
# (the quick run's rate), NAME@SIZE:cpu:RATEk at the others.
cpu_ratios() {
	local r sfx s
	for r in $CPU_RATES; do
		sfx=
		[ "$r" != 100000 ] && sfx=":$((r / 1000))k"
		cpu_ratio "flipswitch/flipswitch-copy@1500:cpu$sfx" flipswitch flipswitch-copy 1500 "$r"
		cpu_ratio "flipswitch/flipswitch-copy@1500:cpu_tasks$sfx" flipswitch flipswitch-copy 1500 "$r" cpu_per_packet_tasks
		for s in $CPU_SIZES; do
			cpu_ratio "flipswitch/bridge-tap@$s:cpu_tasks$sfx" flipswitch bridge-tap "$s" "$r" cpu_per_packet_tasks
			cpu_ratio "flipswitch/bridge-tap@$s:cpu$sfx" flipswitch bridge-tap "$s" "$r"
			cpu_ratio "flipswitch/afxdp-rxdrop@$s:cpu$sfx" flipswitch afxdp-rxdrop "$s" "$r"
			cpu_ratio "flipswitch/ovs-afxdp-tap@$s:cpu$sfx" flipswitch ovs-afxdp-tap "$s" "$r"
			cpu_ratio "flipswitch/dpdk@$s:cpu$sfx" flipswitch dpdk "$s" "$r"
		done
	done
}
