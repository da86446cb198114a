# Shared by the integration tests: a test-bed of two network namespaces and
# one veth pair, all named uniquely for this run and removed on every exit.
#
#   $NS_SW    namespace of the switch, with veth end $IF_SW
#   $NS_PEER  namespace of the traffic peer, with veth end $IF_PEER
#   pool and ring files under /dev/shm/flipswitch-$ID-*
#
# Each case reports "ok - NAME", "not ok - NAME" or "skip - NAME (why)".

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
B=$TOP/build
ID=fs$$
NS_SW=fsw-$ID-sw
NS_PEER=fsw-$ID-peer
IF_SW=${ID}a
IF_PEER=${ID}b
WORK=$(mktemp -d /tmp/flipswitch-test-XXXXXX)
SHM=/dev/shm/flipswitch-$ID
DAEMON_PID=
DAEMON_LOG=$WORK/daemon.log
BG_PIDS=()
FAILS=0

exec 3>&1
ok() { echo "ok - $*"; }
not_ok() { echo "not ok - $*"; FAILS=$((FAILS + 1)); }
skip() { echo "skip - $*"; }
check() { # check NAME COMMAND...: ok if the command succeeds
	local name=$1
	shift
	if "$@" >"$WORK/check.out" 2>&1; then ok "$name"; else
		not_ok "$name"
		sed 's/^/#   /' "$WORK/check.out" | tail -15
	fi
}

# kill_tree PID: PID and everything under it, children first. A function
# run in the background is a subshell whose child (or grandchild, through
# ip netns exec) is the program: killing the subshell alone leaves it.
kill_tree() {
	local c
	for c in $(pgrep -P "$1"); do kill_tree "$c"; done
	kill "$1" 2>/dev/null
}

cleanup() {
	local p
	for p in "${BG_PIDS[@]}"; do kill_tree "$p"; done
	if [ -n "$DAEMON_PID" ]; then
		kill -TERM "$DAEMON_PID" 2>/dev/null
		for _ in $(seq 50); do kill -0 "$DAEMON_PID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$DAEMON_PID" 2>/dev/null
	fi
	sanitizer_check
	# Mounts a test made under its scratch directory, and huge pages it
	# reserved (HUGEPAGES_BEFORE), go back too.
	awk -v w="$WORK/" 'index($2, w) == 1 {print $2}' /proc/mounts | xargs -r umount 2>/dev/null
	[ -n "${HUGEPAGES_BEFORE:-}" ] && echo "$HUGEPAGES_BEFORE" >/proc/sys/vm/nr_hugepages
	bed_down
	rm -f "$SHM"-*
	[ -n "${KEEP_WORK:-}" ] && echo "# kept $WORK" || rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

require_root() {
	if [ "$(id -u)" -ne 0 ]; then
		skip "$1 (needs root for namespaces and XDP)"
		exit 0
	fi
}

# Two namespaces joined by a veth pair; IPv6 off so the stacks stay quiet.
bed_up() {
	ip netns add "$NS_SW" && ip netns add "$NS_PEER" || return 1
	local q=${QUEUES:-1}
	ip link add "$IF_SW" netns "$NS_SW" numrxqueues "$q" numtxqueues "$q" type veth \
		peer name "$IF_PEER" netns "$NS_PEER" numrxqueues "$q" numtxqueues "$q" || return 1
	local ns
	for ns in "$NS_SW" "$NS_PEER"; do
		ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
		ip netns exec "$ns" ip link set lo up
	done
	ip -n "$NS_SW" link set "$IF_SW" up
	ip -n "$NS_PEER" link set "$IF_PEER" up
	PEER_MAC=$(ip -n "$NS_PEER" -br link show "$IF_PEER" | awk '{print $3}')
	SW_MAC=$(ip -n "$NS_SW" -br link show "$IF_SW" | awk '{print $3}')
}

# write_config FILE [extra vm groups...]: pool + one interface + VMs given
# as "name mac quota vlan allowed_macs" words (allowed_macs: MACs joined by
# commas, or absent).
write_config() {
	local file=$1
	shift
	{
		echo "pool = { path = \"$SHM-pool\"; frames = ${FRAMES:-4096}; frame_size = 2048; scrub = \"${SCRUB:-used}\"; };"
		echo "interfaces = ( { name = \"$IF_SW\"; xdp_mode = \"${XDP_MODE:-native}\"; } );"
		echo "control = \"$WORK/ctl.sock\";"
		echo "vms = ("
		local sep=""
		for vm in "$@"; do
			set -- $vm
			local allowed=""
			[ -n "${5:-}" ] && allowed=" allowed_macs = [ \"${5//,/\", \"}\" ];"
			echo "  $sep{ name = \"$1\"; mac = \"$2\"; rings = \"$SHM-$1\"; quota = ${3:-512}; vlan = ${4:-0};$allowed }"
			sep=","
		done
		echo ");"
	} >"$file"
}

# bed_down: removes the test-bed (bed_up makes a new one).
bed_down() {
	ip netns del "$NS_SW" 2>/dev/null
	ip netns del "$NS_PEER" 2>/dev/null
}

# start_daemon CONFIG: runs the daemon (the debug build unless DAEMON names
# another) in the switch namespace and waits for "ready".
# sanitizer_check: a report of the debug build's sanitizers in the daemon's
# log since the last look is a failure of its own. AddressSanitizer stops
# the daemon, which tests notice; UndefinedBehaviorSanitizer reports and
# goes on, which only this notices.
SAN_SEEN=0
sanitizer_check() {
	local new
	[ -f "$DAEMON_LOG" ] || return 0
	new=$(tail -c +$((SAN_SEEN + 1)) "$DAEMON_LOG" | grep -E -A4 'runtime error:|ERROR: (Address|Leak)Sanitizer')
	SAN_SEEN=$(stat -c %s "$DAEMON_LOG")
	[ -z "$new" ] && return 0
	# To the test's own output (fd 3), even inside a check's redirection.
	{
		not_ok "no sanitizer report in the daemon's log"
		echo "$new" | head -10 | sed 's/^/#   /'
	} >&3
}

# start_supervised CONFIG STARTS: the debug daemon under
# tests/support/fs-supervise, systemd's fd store played by it, started at
# most STARTS times. The supervisor is DAEMON_PID (it passes SIGUSR1 on,
# and SIGTERM stops it and the daemon); the daemon's own pid is in
# PIDFILE. Waits for READY; returns 1 if it never came.
start_supervised() {
	PIDFILE=$WORK/daemon.pid
	ip netns exec "$NS_SW" "$TOP/tests/support/fs-supervise" --notify "$WORK/notify.sock" \
		--pidfile "$PIDFILE" --max-starts "$2" -- "$B/flipswitchd-debug" -c "$1" \
		2>>"$DAEMON_LOG" &
	DAEMON_PID=$!
	wait_log "fs-supervise: READY" 20
}

start_daemon() {
	sanitizer_check
	: >"$DAEMON_LOG"
	SAN_SEEN=0
	ip netns exec "$NS_SW" ${DAEMON_WRAP:-} "$B/${DAEMON:-flipswitchd-debug}" -c "$1" 2>>"$DAEMON_LOG" &
	DAEMON_PID=$!
	wait_log "ready" 20
}

stop_daemon() {
	local rc
	kill -TERM "$DAEMON_PID" 2>/dev/null
	wait "$DAEMON_PID"
	rc=$?
	DAEMON_PID=
	sanitizer_check
	return $rc
}

# A second host's daemon (two-host tests): start_b NS CONFIG LOG runs the
# debug build in namespace NS and waits for "ready" (0) or gives up after
# 10 s with the log's tail (1); stop_b stops it, its exit status.
B_PID=
start_b() {
	ip netns exec "$1" "$B/flipswitchd-debug" -c "$2" 2>"$3" &
	B_PID=$!
	for _ in $(seq 200); do grep -q ready "$3" && return 0; sleep 0.05; done
	tail -20 "$3" | sed 's/^/#   /'
	return 1
}

stop_b() {
	[ -n "$B_PID" ] || return 0
	kill -TERM "$B_PID" 2>/dev/null
	wait "$B_PID"
	local rc=$?
	B_PID=
	return $rc
}

# wait_log PATTERN SECONDS [MIN_COUNT]: until the daemon log has PATTERN.
wait_log() {
	local i n=${3:-1}
	for i in $(seq $(($2 * 20))); do
		[ "$(grep -c -- "$1" "$DAEMON_LOG")" -ge "$n" ] && return 0
		kill -0 "$DAEMON_PID" 2>/dev/null || { echo "daemon died:"; tail -20 "$DAEMON_LOG"; return 1; }
		sleep 0.05
	done
	echo "timed out waiting for '$1' in the daemon log:"
	tail -20 "$DAEMON_LOG"
	return 1
}

# report: asks the daemon for its counters; sets REPORT to the new lines.
report() {
	local before
	before=$(grep -c "frames: " "$DAEMON_LOG")
	kill -USR1 "$DAEMON_PID"
	wait_log "frames: " 10 $((before + 1)) || return 1
	# Callers take the last matching line: the newest report's.
	REPORT=$(tail -n 300 "$DAEMON_LOG")
}

# frames_ok: the ownership audit says every frame is accounted for.
frames_ok() {
	report || return 1
	echo "$REPORT" | grep "frames: " | tail -1
	echo "$REPORT" | grep "frames: " | tail -1 | grep -q ": ok$"
}

# vm_holds NAME N: the report says VM NAME holds N frames.
vm_holds() {
	report || return 1
	echo "$REPORT" | grep "vm $1: " | tail -1
	echo "$REPORT" | grep "vm $1: " | tail -1 | grep -q "holds $2 of"
}

# counter LINE_PATTERN KEY: a key=value counter from the last report.
counter() {
	echo "$REPORT" | grep -- "$1" | tail -1 | grep -o "$2=[0-9]*" | cut -d= -f2
}

guest() { # guest NAME ARGS...: flipswitch-guest on VM NAME's files
	local name=$1
	shift
	"$B/flipswitch-guest" --pool "${POOL_FILE:-$SHM-pool}" --rings "$SHM-$name" "$@"
}

# attached_bg LOG NAME OUTFILE COMMAND...: runs COMMAND in the background
# (pid in LAST_BG, output in OUTFILE; cleanup kills it) and waits up to 10
# seconds (ATTACH_SECS) until the daemon logging to LOG says once more
# that VM NAME's guest attached: 0, or 1 with why.
attached_bg() {
	local log=$1 name=$2 out=$3 n i
	shift 3
	n=$(grep -c "vm $name: guest attached" "$log")
	"$@" >"$out" 2>&1 &
	BG_PIDS+=($!)
	LAST_BG=$!
	for i in $(seq $((${ATTACH_SECS:-10} * 20))); do
		[ "$(grep -c "vm $name: guest attached" "$log")" -gt "$n" ] && return 0
		sleep 0.05
	done
	echo "vm $name: no guest attached; its output, then the daemon's log:"
	tail -5 "$out"
	tail -10 "$log"
	return 1
}

# guest_bg NAME OUTFILE ARGS...: starts a guest and waits until attached.
guest_bg() {
	attached_bg "$DAEMON_LOG" "$1" "$2" guest "$1" "${@:3}"
}

peer() { ip netns exec "$NS_PEER" "$@"; }

# peer_recv N SRC PCAP: receives N frames from SRC in the peer namespace in
# the background (pid in LAST_RECV), once it is listening; it gives up
# after RECV_TIMEOUT seconds (10).
peer_recv() {
	peer "$B/fs-pkt" recv -i "$IF_PEER" --count "$1" --timeout "${RECV_TIMEOUT:-10}" --src "$2" -w "$3" >"$3.out" &
	BG_PIDS+=($!)
	LAST_RECV=$!
	for _ in $(seq 100); do grep -q ready "$3.out" && break; sleep 0.05; done
}
