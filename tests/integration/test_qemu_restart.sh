#!/usr/bin/env bash
# A restart of flipswitchd under a running QEMU guest in doorbell mode
# (ivshmem-doorbell, the flipswitch_net driver on MSI-X) keeps the guest
# paired: the daemon runs under a stand-in for systemd's service manager
# (tests/support/fs-supervise, the documented sd_notify and LISTEN_FDS
# protocol) and keeps its doorbells' fds in the file-descriptor store.
# The daemon is stopped by SIGTERM (systemctl restart) and then killed by
# SIGKILL (a crash), restarted each time by the supervisor; after each,
# the guest receives a TCP stream byte for byte, its MSI-X vector still
# fires, the switch still rings it (its doorbell counter) and is rung by
# it, and the frame audit is exact. QEMU is never restarted.
. "$(dirname "$0")/lib.sh"
require_root qemu-restart
if ! command -v qemu-system-x86_64 >/dev/null || [ ! -s "$B/guest/flipswitch_net.ko" ]; then
	skip "qemu restart (no qemu-system-x86_64 or no guest image with the driver: make guest-image)"
	exit 0
fi
if ! command -v python3 >/dev/null; then
	skip "qemu restart (no python3 for the stand-in service manager)"
	exit 0
fi

VM1=52:54:00:00:00:01
NET=10.$((RANDOM % 200 + 20)).$((RANDOM % 250))
PEER_IP=$NET.1 G1=$NET.11

bed_up || { not_ok "test-bed"; exit 1; }
ip -n "$NS_PEER" addr add "$PEER_IP/24" dev "$IF_PEER"
# The peer computes its checksums, as a host on a real wire does (the
# switch takes frames raw through XDP).
peer ethtool -K "$IF_PEER" tx off >/dev/null
write_config "$WORK/fs.conf" "web1 $VM1"
CTL() { "$B/flipswitchctl" -s "$WORK/ctl.sock" "$@"; }
start_supervised "$WORK/fs.conf" 4 || { not_ok "the daemon starts under the supervisor"; exit 1; }
check "the daemon stores web1's bell, its vector and its doorbell socket" \
	eval 'grep -q "FDSTORE bell@web1: stored" "$DAEMON_LOG" && grep -q "FDSTORE irq@web1: stored" "$DAEMON_LOG" && grep -q "FDSTORE doorbell@web1: stored" "$DAEMON_LOG"'

# The guest: a TCP stream on port 7001 three times (before, after the
# SIGTERM restart, after the SIGKILL one), each summed, with the driver's
# interrupt and doorbell counters after it; the test then says bye.
console() { tr -d '\r' <"$1" | grep -v '^guest: running'; }
says() { console "$1" | grep -Eq -- "$2"; }
OOPS='BUG:|WARNING:|Oops|Call Trace|hw csum failure'
n=$(grep -c "vm web1: guest attached" "$DAEMON_LOG")
"$TOP/tools/flipswitch-run-guest" web1 -c "$WORK/fs.conf" --irq --net "$G1/24" --timeout 240 -- \
	sh -c "for r in 0 1 2; do nc -l -p 7001 | sha256sum | sed \"s/^/recv\$r /\"
		ethtool -S \$FS_IF | sed -n \"s/^ *\\(irqs\\|doorbells_tx\\|doorbells_free\\|switch_lost\\): /round\$r \\1 /p\"; done
	nc -l -p 7000 </dev/null; dmesg | grep -E '$OOPS'; true" >"$WORK/g.out" 2>&1 &
guest=$!
BG_PIDS+=($guest)
wait_log "vm web1: guest attached" 90 $((n + 1)) >/dev/null ||
	{ not_ok "the guest attaches in doorbell mode"; console "$WORK/g.out" | tail -20 | sed 's/^/#   /'; exit 1; }
check "the guest's QEMU on the doorbell is stored as web1's peer" \
	grep -q "FDSTORE peer@web1: stored" "$DAEMON_LOG"

head -c 3000000 /dev/urandom >"$WORK/data"
SUM=$(sha256sum <"$WORK/data" | cut -d' ' -f1)
# round R: streams the data to the guest (5 tries of at most 30 s: the
# guest may still be attaching), waits for its sum and counters.
round() {
	local r=$1 i
	for i in $(seq 5); do
		peer timeout 30 busybox nc -w 5 "$G1" 7001 <"$WORK/data" >/dev/null 2>&1 && break
		sleep 1
	done
	for i in $(seq 300); do says "$WORK/g.out" "^round$r switch_lost " && return 0; sleep 0.1; done
	return 1
}
got() { console "$WORK/g.out" | sed -n "s/^recv$1 \([0-9a-f]*\).*/\1/p"; }
gstat() { console "$WORK/g.out" | sed -n "s/^round$1 $2 //p"; }
vm_stat() { CTL -j stats web1 | jq -r ".ports[] | select(.name == \"web1\") | .$1"; }

round 0 || { not_ok "the guest receives the first stream"; console "$WORK/g.out" | tail -20 | sed 's/^/#   /'; exit 1; }
check "before any restart: 3 MB to the guest over TCP, same sha256" test "$(got 0)" = "$SUM"
check "before any restart: the guest took interrupts" test "$(gstat 0 irqs)" -gt 0

# restart_by SIG ROUND: the daemon stopped by SIG and started again by the
# supervisor with the stored fds; the guest attaches again and a stream
# goes through; every check names the signal.
restart_by() {
	local sig=$1 r=$2 prev=$(($2 - 1)) pid starts ready attached
	pid=$(cat "$PIDFILE")
	local with="fs-supervise: started pid .* with 4 fds: irq@web1 bell@web1 doorbell@web1 peer@web1\$"
	starts=$(grep -c "$with" "$DAEMON_LOG")
	ready=$(grep -c "fs-supervise: READY" "$DAEMON_LOG")
	attached=$(grep -c "vm web1: guest attached" "$DAEMON_LOG")
	kill "-$sig" "$pid"
	check "SIG$sig: the supervisor starts the daemon again with the stored fds" \
		wait_log "$with" 20 $((starts + 1))
	wait_log "fs-supervise: READY" 30 $((ready + 1)) >/dev/null
	check "SIG$sig: the new daemon takes web1's doorbell back with its QEMU still on it" \
		eval 'test "$(grep -c "vm web1: its guest.s QEMU is still on the doorbell" "$DAEMON_LOG")" -ge $((r))'
	check "SIG$sig: the guest attaches again by itself (new generation), QEMU untouched" \
		wait_log "vm web1: guest attached" 30 $((attached + 1))
	check "SIG$sig: flipswitchctl show: web1's doorbell is connected" \
		bash -c "$B/flipswitchctl -s $WORK/ctl.sock -j show | jq -e '.vms[0].doorbell_connected'"
	round "$r" || { not_ok "SIG$sig: the guest receives a stream after the restart"; console "$WORK/g.out" | tail -20 | sed 's/^/#   /'; return; }
	check "SIG$sig: 3 MB to the guest after the restart, same sha256" test "$(got "$r")" = "$SUM"
	check "SIG$sig: the guest's MSI-X vector fired after the restart ($(gstat $prev irqs) -> $(gstat "$r" irqs) interrupts)" \
		test "$(gstat "$r" irqs)" -gt "$(gstat $prev irqs)"
	check "SIG$sig: the guest rang the new switch ($(gstat $prev doorbells_free)+$(gstat $prev doorbells_tx) -> $(gstat "$r" doorbells_free)+$(gstat "$r" doorbells_tx) doorbells), which was woken by them" \
		eval 'test $(( $(gstat "$r" doorbells_free) + $(gstat "$r" doorbells_tx) )) -gt $(( $(gstat $prev doorbells_free) + $(gstat $prev doorbells_tx) )) && test "$(CTL -j stats | jq .switch.doorbell_wakeups)" -gt 0'
	check "SIG$sig: the new switch rang the guest's doorbell ($(vm_stat doorbells) times)" \
		test "$(vm_stat doorbells)" -gt 0
	check "SIG$sig: the frame audit is exact" frames_ok
}
restart_by TERM 1
restart_by KILL 2

peer timeout 3 busybox nc -w 2 "$G1" 7000 </dev/null >/dev/null 2>&1
for _ in $(seq 100); do kill -0 "$guest" 2>/dev/null || break; sleep 0.1; done
wait "$guest"
rc=$?
check "the guest exits 0, paired all along with one QEMU" test "$rc" -eq 0
check "the guest's driver never lost the switch for good: it saw it go twice" \
	test "$(gstat 2 switch_lost)" -eq 2
check "no oops or warning in the guest's kernel" \
	bash -c "! tr -d '\r' <'$WORK/g.out' | grep -v '^guest: running' | grep -E '$OOPS'"
check "the guest gone, its hang-up removes web1's peer from the store" \
	wait_log "FDSTOREREMOVE peer@web1: 1 closed" 10
check "the frame audit is exact with the guest gone" frames_ok
kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID"
DAEMON_PID=
check "exit report: every frame back in the pool" \
	bash -c "grep 'frames: ' $DAEMON_LOG | tail -1 | grep -q ': ok$'"
sanitizer_check
