#!/bin/bash
# Benchmark case "dpdk": dpdk-testpmd (io) with net_af_xdp on a veth end,
# forwarding into net_memif, to a second dpdk-testpmd (rxonly) on the client
# side of that memif.  Counts are read through DPDK telemetry, so they are
# exact at the moment asked and need no stdin/stdout plumbing.
#   case-dpdk.sh available | start NS IFACE DIR CPU_FWD CPU_RX | count DIR | stop DIR
set -u

RUN=/var/run/dpdk               # EAL runtime dir when root (telemetry, mp socket)
MBUFS=16384                     # testpmd's default pool does not fit in --no-huge -m
die() { echo "case-dpdk: $*" >&2; exit 1; }
unavail() { echo "unavailable: $*"; exit 1; }

# tele PREFIX CMD KEY: print KEY of the telemetry reply to CMD (2 s bound).
tele() {
    timeout 5 python3 - "$RUN/$1/dpdk_telemetry.v2" "$2" "$3" <<'EOF' 2>/dev/null
import socket, sys, json
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET); s.settimeout(2)
s.connect(sys.argv[1]); s.recv(4096)
s.send(sys.argv[2].encode())
r = json.loads(s.recv(1 << 16))
print(r[sys.argv[2].split(',')[0]][sys.argv[3]])
EOF
}

# State in DIR/state: NS IFACE FWD_PREFIX RX_PREFIX PROMISC_WAS.
load() { [ -r "$1/state" ] || die "no state in $1"; read -r NS IFACE PF PR PROMISC < "$1/state"; }

# Everything start created goes, in this order: count, processes, leftovers.
stop() {
    local d=$1 n p i
    load "$d"
    n=$(tele "$PR" /ethdev/stats,0 ipackets)
    for p in rx fwd; do   # SIGINT lets testpmd close its ports (detaches XDP)
        [ -r "$d/$p.pid" ] && kill -INT "$(cat "$d/$p.pid")" 2>/dev/null
    done
    for i in $(seq 50); do
        alive=0
        for p in rx fwd; do
            [ -r "$d/$p.pid" ] && kill -0 "$(cat "$d/$p.pid")" 2>/dev/null && alive=1
        done
        [ $alive = 0 ] && break; sleep 0.1
    done
    for p in rx fwd; do   # testpmd's signal handler is not signal-safe: may hang
        [ -r "$d/$p.pid" ] && kill -KILL "$(cat "$d/$p.pid")" 2>/dev/null
        rm -f "$d/$p.pid"
    done
    sleep 0.2
    # A killed PMD leaves its XDP program (xsk_def_prog) and promisc on IFACE.
    if ip -n "$NS" -d link show "$IFACE" 2>/dev/null | grep -q 'prog/xdp.*xsk_def_prog'; then
        ip -n "$NS" link set dev "$IFACE" xdp off 2>/dev/null
    fi
    [ "$PROMISC" = 0 ] && ip -n "$NS" link set dev "$IFACE" promisc off 2>/dev/null
    rm -rf "${RUN:?}/$PF" "${RUN:?}/$PR" "$d/memif.sock" "$d/state" "$d/nobpffs"
    # Telemetry gone (e.g. crashed): fall back to testpmd's exit statistics.
    [ -n "$n" ] || n=$(grep -o 'RX-packets: *[0-9]*' "$d/rx.log" 2>/dev/null | tail -1 | grep -o '[0-9]*$')
    echo "${n:-0}"
}

case "${1:-}" in
available)
    [ "$(id -u)" = 0 ] || unavail "needs root (AF_XDP, XDP attach)"
    if ! command -v dpdk-testpmd >/dev/null; then
        # Debian 12 ships dpdk-testpmd in dpdk-dev, the PMDs in librte-net-*.
        DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y -q \
            dpdk dpdk-dev librte-net-af-xdp23 librte-net-memif23 >/dev/null 2>&1 ||
            unavail "apt-get install dpdk dpdk-dev failed"
        command -v dpdk-testpmd >/dev/null || unavail "dpdk-testpmd not found after install"
    fi
    for pmd in af_xdp memif; do
        ls /usr/lib/*/dpdk/pmds-*/librte_net_$pmd.so* /usr/local/lib*/dpdk/pmds-*/librte_net_$pmd.so* \
            2>/dev/null | grep -q . || unavail "DPDK PMD librte_net_$pmd not installed"
    done
    command -v python3 >/dev/null || unavail "python3 missing (telemetry client)"
    python3 -c 'import socket; socket.socket(44, socket.SOCK_RAW).close()' 2>/dev/null ||
        unavail "kernel has no AF_XDP sockets"
    exit 0 ;;
start)
    [ $# = 6 ] || die "usage: start NS IFACE DIR CPU_FWD CPU_RX"
    NS=$2 IFACE=$3 D=$4 CF=$5 CR=$6
    mkdir -p "$D" || die "cannot create $D"
    D=$(cd "$D" && pwd)
    [ ${#D} -lt 95 ] || die "DIR path too long for a unix socket: $D"
    [ -e "$D/state" ] && die "$D already has a running case (stop it first)"
    ip -n "$NS" link show "$IFACE" >/dev/null 2>&1 || die "no $IFACE in netns $NS"
    PROMISC=0; ip -n "$NS" link show "$IFACE" | grep -q PROMISC && PROMISC=1
    PF=fsbf$$ PR=fsbr$$
    echo "$NS $IFACE $PF $PR $PROMISC" > "$D/state"
    rm -f "$D/memif.sock"
    # libxdp's dispatcher fails with EPERM here and it then falls back to a
    # single program anyway; pointing LIBXDP_BPFFS nowhere skips the attempt.
    # taskset pins EAL's control threads too, --lcores the main+fwd lcore.
    # --stats-period keeps non-interactive testpmd running until signalled;
    # stdbuf so the log shows "forwarding started" while it runs.
    run() { # NAME CPU PREFIX VDEVS... -- TESTPMD-ARGS
        local name=$1 cpu=$2 pfx=$3; shift 3
        setsid taskset -c "$cpu" ip netns exec "$NS" env LIBXDP_BPFFS="$D/nobpffs" \
            stdbuf -oL dpdk-testpmd --lcores "0@$cpu,1@$cpu" --no-huge -m 256 --no-pci \
            --file-prefix "$pfx" "$@" \
            --total-num-mbufs=$MBUFS --nb-cores=1 --stats-period=100000 \
            </dev/null >"$D/$name.log" 2>&1 &
        echo $! > "$D/$name.pid"
    }
    end=$((SECONDS + 30))
    fail() { stop "$D" >/dev/null; die "$*"; }
    ready() { # NAME...: those testpmds are alive and forwarding
        for p; do
            kill -0 "$(cat "$D/$p.pid")" 2>/dev/null || fail "$p testpmd exited, see $D/$p.log"
            grep -q 'packet forwarding - ports=' "$D/$p.log" || return 1
        done
    }
    run fwd "$CF" "$PF" --vdev "net_af_xdp0,iface=$IFACE,start_queue=0,queue_count=1" \
        --vdev "net_memif0,role=server,socket=$D/memif.sock,rsize=14" -- --forward-mode=io
    # The memif client does not retry: start it only once the server listens.
    until ready fwd; do
        [ $SECONDS -lt $end ] || fail "forwarder not ready after 30 s, see $D/fwd.log"
        sleep 0.2
    done
    run rx "$CR" "$PR" --vdev "net_memif0,role=client,socket=$D/memif.sock,rsize=14" \
        -- --forward-mode=rxonly --port-topology=loop
    until ready fwd rx && [ "$(tele "$PF" /ethdev/link_status,1 status)" = UP ] &&
          [ "$(tele "$PR" /ethdev/link_status,0 status)" = UP ]; do
        [ $SECONDS -lt $end ] || fail "memif link not up after 30 s, see $D/fwd.log $D/rx.log"
        sleep 0.2
    done
    exit 0 ;;
count)
    [ $# = 2 ] || die "usage: count DIR"
    load "$2"
    n=$(tele "$PR" /ethdev/stats,0 ipackets)
    [ -n "$n" ] || die "cannot read rxonly stats (telemetry $RUN/$PR)"
    echo "$n" ;;
stop)
    [ $# = 2 ] || die "usage: stop DIR"
    stop "$2" ;;
*)
    die "usage: $0 available | start NS IFACE DIR CPU_FWD CPU_RX | count DIR | stop DIR" ;;
esac
