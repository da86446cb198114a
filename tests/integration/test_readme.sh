#!/usr/bin/env bash
# README's "Running it", word for word: its commands, with the test-bed's
# veth for eth1, in a mount namespace of their own whose /dev/shm and /run
# are fresh (the commands use the default paths, which must not meet a
# daemon of the host's). `make` is left out: the build is there already.
. "$(dirname "$0")/lib.sh"
require_root readme

# The shell blocks of the section, one command a line.
section=$(awk '/^## Running it/ {on = 1; next} /^## / {on = 0} on' "$TOP/README.md")
blocks=$(printf '%s\n' "$section" | awk '/^```sh/ {on = 1; n++; next} /^```/ {on = 0} on {print n ": " $0}')
setup=$(printf '%s\n' "$blocks" | sed -n 's/^1: //p' | grep -vx make)
other=$(printf '%s\n' "$blocks" | sed -n 's/^2: //p')
check "README's first block: make, --example-config, --check, the daemon" \
	bash -c "printf '%s\n' \"$setup\" | grep -c . | grep -qx 3"
check "README's second block: flipswitchctl show" test "$other" = "build/flipswitchctl show"

bed_up || { not_ok "test-bed"; exit 1; }
mkdir "$WORK/here"
ln -s "$B" "$WORK/here/build"
daemon=$(printf '%s\n' "$setup" | tail -1)
# The steps, in one shell inside the switch's namespace: the daemon in
# the background where README runs it in the foreground.
cat >"$WORK/steps.sh" <<STEPS
set -u
mount -t tmpfs none /dev/shm && mount -t tmpfs none /run || exit 99
cd "$WORK/here"
$(printf '%s\n' "$setup" | head -n -1 | sed "s/eth1/$IF_SW/g" | sed 's/$/ || exit $?/')
${daemon//eth1/$IF_SW} 2>"$WORK/daemon.err" &
pid=\$!
for _ in \$(seq 100); do grep -q ready "$WORK/daemon.err" && break; sleep 0.1; done
${other} >"$WORK/show.out" 2>&1
echo "show \$?" >"$WORK/show.rc"
kill -INT \$pid
wait \$pid
echo "daemon \$?" >"$WORK/daemon.rc"
STEPS
ip netns exec "$NS_SW" unshare -m --propagation private bash "$WORK/steps.sh" >"$WORK/steps.out" 2>&1
rc=$?
check "the steps run (--example-config and --check succeed)" \
	bash -c "[ $rc -eq 0 ] || { cat $WORK/steps.out; false; }"
check "--check says the file is ok" grep -qx "flipswitch.conf: ok" "$WORK/steps.out"
check "the daemon logs ready" grep -q "ready: 1 interface, 2 vms" "$WORK/daemon.err"
check "flipswitchctl show succeeds on the default socket" grep -qx "show 0" "$WORK/show.rc"
check "show lists the test-bed's interface" grep -q "^$IF_SW " "$WORK/show.out"
check "show lists web1 and web2 with their MACs" \
	bash -c "grep -Eq '^web1 +52:54:00:00:00:01 ' $WORK/show.out && grep -Eq '^web2 +52:54:00:00:00:02 ' $WORK/show.out"
check "Ctrl-C stops the daemon with status 0" grep -qx "daemon 0" "$WORK/daemon.rc"
check "nothing left attached" bash -c "! ip -n $NS_SW link show $IF_SW | grep -q xdp"
