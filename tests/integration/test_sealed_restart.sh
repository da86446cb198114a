#!/usr/bin/env bash
# A restart of flipswitchd under a doorbell guest of a sealed VM (sealed =
# true) keeps it paired on the very same region: the daemon runs under a
# stand-in for systemd's service manager (tests/support/fs-supervise),
# keeps the sealed memfd in the fd store as region@VM, and the next daemon
# claims it. The guest (flipswitch-guest --doorbell, on the host) is never
# restarted: it receives frames from the wire before a SIGKILL of the
# daemon and after it, all byte for byte, on the memfd it took from the
# socket at the start. test_qemu_restart.sh does the same with QEMU.
. "$(dirname "$0")/lib.sh"
require_root sealed-restart
if ! command -v python3 >/dev/null; then
	skip "sealed restart (no python3 for the stand-in service manager)"
	exit 0
fi

VM1=52:54:00:00:00:01
N=200

bed_up || { not_ok "test-bed"; exit 1; }
{
	echo "pool = { path = \"$SHM-pool\"; frames = 4096; frame_size = 2048; };"
	echo "interfaces = ( { name = \"$IF_SW\"; xdp_mode = \"native\"; } );"
	echo "control = \"$WORK/ctl.sock\";"
	echo "vms = ( { name = \"web1\"; mac = \"$VM1\"; quota = 512; sealed = true; } );"
} >"$WORK/fs.conf"
start_supervised "$WORK/fs.conf" 3 || { not_ok "the daemon starts under the supervisor"; exit 1; }
check "the daemon stores web1's sealed region as region@web1" \
	grep -q "FDSTORE region@web1: stored" "$DAEMON_LOG"

# inode PID: the inode of the memfd "region@web1" PID holds or maps.
inode() {
	local f
	for f in /proc/"$1"/fd/* /proc/"$1"/map_files/*; do
		case "$(readlink "$f")" in
		"/memfd:region@web1"*) stat -L -c %i "$f"; return 0 ;;
		esac
	done
	return 1
}

n=$(grep -c "vm web1: guest attached" "$DAEMON_LOG")
"$B/flipswitch-guest" --pool "$SHM-pool" --doorbell "$WORK/web1.doorbell" \
	rx --count $((2 * N)) --timeout 60 --pcap "$WORK/r.pcap" >"$WORK/g.out" 2>&1 &
g=$!
BG_PIDS+=($g)
wait_log "vm web1: guest attached" 10 $((n + 1)) >/dev/null ||
	{ not_ok "the doorbell guest attaches"; exit 1; }
ino=$(inode "$g")
check "the guest maps the daemon's sealed region" test -n "$ino" -a "$ino" = "$(inode "$(cat "$PIDFILE")")"
peer "$B/fs-pkt" send -i "$IF_PEER" --dst "$VM1" --count "$N" -w "$WORK/s1.pcap" >/dev/null
sleep 1

pid=$(cat "$PIDFILE")
attached=$(grep -c "vm web1: guest attached" "$DAEMON_LOG")
kill -KILL "$pid"
check "SIGKILL: the supervisor starts the daemon again with the region stored" \
	wait_log "fs-supervise: started pid .* with .* fds: .*region@web1" 20
wait_log "fs-supervise: READY" 30 2 >/dev/null
check "the new daemon takes the sealed region back from the store" \
	grep -q "vm web1: sealed region taken back from the fd store" "$DAEMON_LOG"
check "the guest attaches again by itself, never restarted" \
	wait_log "vm web1: guest attached" 30 $((attached + 1))
check "the guest and the new daemon share the region it took at the start" \
	test "$(inode "$(cat "$PIDFILE")")" = "$ino"
peer "$B/fs-pkt" send -i "$IF_PEER" --dst "$VM1" --count "$N" -w "$WORK/s2.pcap" >/dev/null
wait "$g"
check "the guest got $((2 * N)) frames, before and after" test $? = 0
# What was sent, as one capture: the second without its file header.
{ cat "$WORK/s1.pcap"; tail -c +25 "$WORK/s2.pcap"; } >"$WORK/s.pcap"
check "every frame, before and after the restart, byte for byte" \
	"$B/fs-pkt" cmp "$WORK/s.pcap" "$WORK/r.pcap"
check "the frame audit is exact" frames_ok
kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID"
DAEMON_PID=
sanitizer_check
