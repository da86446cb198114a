#!/usr/bin/env bash
# make soak: the switch at full rate for SOAK_SECS (default 3600) while
# everything around it comes and goes (docs/performance.md, "Soak").
#
# The wire (fs-gen on the peer's veth end) sends at full speed to 8 VMs,
# round robin, each with a guest receiving. Every second one event, in
# turn: a guest killed (SIGKILL, as a crashed QEMU) and started again, a
# VM deleted and added again (vm del / vm add, its guest with it), a
# capture started or stopped, stats --clear. Every second the ownership
# audit (flipswitchctl frames) must be exact: ok, and the counts summing
# to the pool size. Every SOAK_SAMPLE seconds (default 60) it records the
# daemon's RSS, its open fds and the worker's time per packet over the
# interval into SOAK_OUT (default build/soak/results.json), and at the end
# fails if any of them grew: the median of the last third of the samples
# against the median of the first third (the first sample, the warm-up,
# left out), with a margin for noise
# (SOAK_RSS_MARGIN %, default 10, and at least 1 MiB; SOAK_FD_MARGIN fds,
# default 2; SOAK_NS_MARGIN %, default 50: the machine's other load moves
# time per packet, a leak in the worker's path grows it without end).
#
# Root; the test-bed is two namespaces and a veth pair of its own. Prints
# "ok - ..." / "not ok - ..." lines as the integration tests do, and
# exits 1 if any failed.
. "$(dirname "$0")/integration/lib.sh"
require_root soak

SECS=${SOAK_SECS:-3600}
SAMPLE=${SOAK_SAMPLE:-60}
OUT=${SOAK_OUT:-$TOP/build/soak/results.json}
RSS_MARGIN=${SOAK_RSS_MARGIN:-10}
FD_MARGIN=${SOAK_FD_MARGIN:-2}
NS_MARGIN=${SOAK_NS_MARGIN:-50}
# The release build: the debug build's sanitizers keep memory of their
# own (quarantine, shadow), which would hide or fake a leak.
DAEMON=${DAEMON:-flipswitchd}
NVM=8
case "$SECS$SAMPLE" in *[!0-9]*) echo "SOAK_SECS and SOAK_SAMPLE are whole seconds" >&2; exit 2 ;; esac
if [ "$SECS" -lt $((4 * SAMPLE)) ]; then
	echo "SOAK_SECS ($SECS) must be at least 4 x SOAK_SAMPLE ($SAMPLE): the check compares thirds after a warm-up" >&2
	exit 2
fi
mkdir -p "$(dirname "$OUT")"

mac() { printf '52:54:00:00:00:%02x' "$1"; }
vms=()
for i in $(seq $NVM); do vms+=("soak$i $(mac "$i")"); done
bed_up || { not_ok "test-bed"; exit 1; }
FRAMES=${FRAMES:-16384} write_config "$WORK/fs.conf" "${vms[@]}"
start_daemon "$WORK/fs.conf" || { not_ok "daemon starts"; exit 1; }
SOCK=$WORK/ctl.sock
ctl() { "$B/flipswitchctl" -s "$SOCK" "$@"; }

# One guest per VM, receiving until killed (bounded by the run's length).
declare -A GUEST
guest_start() { # guest_start N
	# The program itself, not lib.sh's guest function: $! must be the
	# guest's pid for the SIGKILL below to kill it (a function in the
	# background is a subshell, and killing that leaves its child).
	"$B/flipswitch-guest" --pool "$SHM-pool" --rings "$SHM-soak$1" \
		rx --timeout $((SECS + 60)) --quiet >/dev/null 2>&1 &
	GUEST[$1]=$!
	BG_PIDS+=($!)
}
guest_stop() { # guest_stop N: SIGKILL, as a QEMU that crashed
	kill -KILL "${GUEST[$1]}" 2>/dev/null
	wait "${GUEST[$1]}" 2>/dev/null
}
for i in $(seq $NVM); do guest_start "$i"; done
wait_log "guest attached" 10 $NVM >/dev/null || { not_ok "8 guests attach"; exit 1; }

# The wire, at full speed, for the whole run (and not a second longer).
peer "$B/fs-gen" -i "$IF_PEER" --dst "$(mac 1)" --dst-count $NVM --seconds "$SECS" \
	>"$WORK/gen.out" 2>&1 &
GEN=$!
BG_PIDS+=($GEN)

CAP=
capture_toggle() {
	if [ -n "$CAP" ]; then
		# TERM: a background job of a script ignores SIGINT.
		kill -TERM "$CAP" 2>/dev/null
		wait "$CAP" 2>/dev/null
		CAP=
		return
	fi
	ctl capture "soak$((RANDOM % NVM + 1))" -w "$WORK/cap.pcap" >/dev/null 2>&1 &
	CAP=$!
	BG_PIDS+=($CAP)
}

# event N: the N-th second's event; sets CLEARED when the counters were
# cleared (the interval's time per packet then starts again).
event() {
	local k=$((RANDOM % NVM + 1))
	case $(($1 % 4)) in
	0)
		guest_stop "$k"
		guest_start "$k"
		;;
	1)
		guest_stop "$k"
		ctl vm del "soak$k" >/dev/null || { not_ok "vm del soak$k at ${1}s"; return; }
		ctl vm add "soak$k" --mac "$(mac "$k")" --rings "$SHM-soak$k" >/dev/null ||
			{ not_ok "vm add soak$k at ${1}s"; return; }
		guest_start "$k"
		;;
	2) capture_toggle ;;
	3)
		ctl stats --clear >/dev/null || not_ok "stats --clear at ${1}s"
		CLEARED=1
		;;
	esac
}

samples=()
audits=0 bad_audits=0
busy=0 pkts=0 prev=
t0=$(date +%s)
next_sample=$((t0 + SAMPLE)) last_t=$t0
for sec in $(seq "$SECS"); do
	CLEARED=
	event "$sec"
	# The audit: exact, every second.
	if ! a=$(ctl -j frames) || ! jq -e '.ok and .sum == .total' <<<"$a" >/dev/null; then
		bad_audits=$((bad_audits + 1))
		[ "$bad_audits" -le 3 ] && echo "# audit at ${sec}s: ${a:-no answer}"
	fi
	audits=$((audits + 1))
	kill -0 "$DAEMON_PID" 2>/dev/null || { not_ok "the daemon runs for ${SECS}s (died at ${sec}s)"; break; }
	# The wire ends with the run: stopped a round early, it failed.
	if [ "$(date +%s)" -lt $((t0 + SECS - 1)) ] && ! kill -0 "$GEN" 2>/dev/null; then
		not_ok "the wire runs for ${SECS}s (fs-gen stopped at ${sec}s: $(head -1 "$WORK/gen.out"))"
		break
	fi
	# Busy time and packets over the seconds without a clear.
	cur=$(ctl -j stats | jq -c '[.switch.busy_ns, .switch.packets]')
	# (Only while the wire runs: its last fraction of a second, and the
	# rounds after it, measure a switch going idle.)
	if [ -n "$prev" ] && [ -z "$CLEARED" ] && [ -n "$cur" ] && kill -0 "$GEN" 2>/dev/null; then
		read -r db dp < <(jq -rn --argjson a "$prev" --argjson b "$cur" \
			'if $b[1] >= $a[1] then "\($b[0] - $a[0]) \($b[1] - $a[1])" else "0 0" end')
		busy=$((busy + db)) pkts=$((pkts + dp))
	fi
	prev=$cur
	now=$(date +%s)
	# Samples by the clock while the wire runs; once it has stopped (the
	# rounds may run late), one more over what it sent since the last
	# (only while it ran counts), half an interval on.
	if kill -0 "$GEN" 2>/dev/null; then wire=1; else wire=; fi
	if { [ -n "$wire" ] && [ "$now" -ge "$next_sample" ]; } ||
	   { [ -z "$wire" ] && [ "$pkts" -gt 0 ] && [ $((2 * (now - last_t))) -ge "$SAMPLE" ]; }; then
		last_t=$now
		# A capture holds a buffer while it runs: the samples are taken
		# with none, so that they compare like with like.
		[ -n "$CAP" ] && capture_toggle
		rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$DAEMON_PID/status")
		anon=$(awk '/^RssAnon:/ {print $2}' "/proc/$DAEMON_PID/status")
		fds=$(ls "/proc/$DAEMON_PID/fd" | wc -l)
		ns=$(jq -n "if $pkts > 0 then ($busy * 10 / $pkts | floor) / 10 else null end")
		samples+=("{\"t\": $((now - t0)), \"rss_kb\": $rss, \"rss_anon_kb\": $anon, \"fds\": $fds, \"ns_per_packet\": $ns, \"packets\": $pkts}")
		echo "# $((now - t0)) s: rss $rss kB (anon $anon), $fds fds, $ns ns a packet over $pkts packets"
		busy=0 pkts=0
		next_sample=$((next_sample + SAMPLE))
	fi
	# One second a round, whatever the round took.
	sleep "$(awk -v t="$(date +%s.%N)" -v s="$t0" -v n="$sec" 'BEGIN { d = s + n - t; print (d > 0 ? d : 0) }')"
done
[ -n "$CAP" ] && capture_toggle
wait "$GEN"
gen_rc=$?

# growth KEY MARGIN_PCT MIN_ABS: the last third's median against the
# first third's, from the samples but the first (the warm-up: the pool's
# and the rings' pages and the allocator's arenas come in during the
# first interval); prints the verdict's JSON.
printf '%s\n' "${samples[@]}" | jq -s . >"$WORK/samples.json"
growth() {
	jq --arg k "$1" --argjson pct "$2" --argjson abs "$3" '
		def median: sort | if length == 0 then null
			else .[(length - 1) / 2 | floor] end;
		[.[1:][] | .[$k] | select(. != null)] as $v
		| ([1, ($v | length / 3 | floor)] | max) as $n
		| ($v[:$n] | median) as $first | ($v[-$n:] | median) as $last
		| ([($first * $pct / 100), $abs] | max) as $margin
		| {first: $first, last: $last, margin: $margin,
		   grew: ($first != null and $last > $first + $margin)}' "$WORK/samples.json"
}
rss_v=$(growth rss_kb "$RSS_MARGIN" 1024)
anon_v=$(growth rss_anon_kb "$RSS_MARGIN" 1024)
fd_v=$(growth fds 0 "$FD_MARGIN")
ns_v=$(growth ns_per_packet "$NS_MARGIN" 0)
jq -n --argjson secs "$SECS" --argjson sample "$SAMPLE" --argjson audits "$audits" \
	--argjson bad "$bad_audits" --slurpfile s "$WORK/samples.json" \
	--argjson rss "$rss_v" --argjson anon "$anon_v" --argjson fds "$fd_v" --argjson ns "$ns_v" \
	--arg gen "$(cat "$WORK/gen.out")" --arg host "$(uname -srm), $(nproc) cores" \
	--arg date "$(date -u +%FT%TZ)" --arg daemon "$DAEMON" '
	{date: $date, machine: $host, daemon: $daemon, seconds: $secs, sample_seconds: $sample,
	 vms: 8, wire: $gen, audits: $audits, audits_failed: $bad,
	 growth: {rss_kb: $rss, rss_anon_kb: $anon, fds: $fds, ns_per_packet: $ns},
	 samples: $s[0]}' >"$OUT"
echo "# results in $OUT"

check "the wire ran at full speed for the whole run ($(cat "$WORK/gen.out"))" test "$gen_rc" = 0
check "the audit was exact every second ($audits audits, $bad_audits not)" \
	test "$bad_audits" = 0 -a "$audits" -ge "$SECS"
check "$(jq -r '"\(.samples | length) samples, every \(.sample_seconds) s"' "$OUT")" \
	test "$(jq '.samples | length' "$OUT")" -ge 4
check "traffic in every sample" jq -e '.samples | all(.packets > 0)' "$OUT"
for k in rss_kb rss_anon_kb fds ns_per_packet; do
	check "$k does not grow ($(jq -r ".growth.$k | \"first third \(.first), last \(.last), margin \(.margin)\"" "$OUT"))" \
		jq -e ".growth.$k | .first != null and (.grew | not)" "$OUT"
done
check "frame ownership audit at the end" frames_ok
stop_daemon
check "the daemon stops cleanly" test $? = 0
[ "$FAILS" -eq 0 ]
