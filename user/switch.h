/* SPDX-License-Identifier: MIT */
/*
 * The switching core: one worker that moves frames between NIC ports and VM
 * ports by handing over ownership, never copying, except for the extra
 * copies a broadcast needs (one per destination beyond the first).
 *
 * Classification is by destination MAC and VLAN through the MAC table. A
 * VM with a VLAN is an access port: frames from the NIC carrying its tag
 * reach it untagged (the tag is removed in place, the descriptor moves 4
 * bytes on), and its frames leave the NIC tagged (pushed into the headroom).
 *
 * Each pass of the loop: NIC rx, group frames, then the VMs' rings (attach
 * requests, tx, free, alloc refills), tx kicks, completions, fill refills.
 * A pass visits the rings of the VMs that moved frames in the last pass or
 * were given some, and SW_SWEEP_VMS of the others in turn: an idle VM costs
 * a pass nothing most of the time, and is seen within n_vms / SW_SWEEP_VMS
 * passes. The pass before the worker sleeps visits every VM.
 * When a pass finds nothing to do (at once, or after polling a while:
 * cfg idle, poll_usecs; sw_idle.c), the worker sleeps in epoll
 * on the sockets, the guests' doorbell and the mailbox. If every attached
 * guest rings when asked (ring.h, I..L) it sleeps up to 100 ms (heartbeats
 * and timers), after asking each for a wake-up; a guest that cannot ring is
 * polled every 1 to 16 ms. So an idle switch uses no CPU to speak of, and
 * a busy one makes no syscall per packet.
 */
#ifndef FS_SWITCH_H
#define FS_SWITCH_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "fdb.h"
#include "pool.h"
#include "port.h"
#include "steer.h"
#include "ticks.h"
#include "vmport.h"

enum sw_drop {
	SW_DROP_NO_ROUTE,    /* from a NIC: no VM has this (MAC, VLAN) there */
	SW_DROP_HAIRPIN,     /* a VM sent a frame to its own MAC */
	SW_DROP_NO_HEADROOM, /* too long for a pool frame with a VLAN tag */
	SW_DROP_POOL_EMPTY,  /* no free frame for a copy (broadcast, or
				into another pool) */
	SW_DROP_TOO_LONG,    /* a frame longer than the frames of the pool
				it is to be copied into */
	SW_DROP_NO_TX_SLOT,  /* no free header slot for a frame to the wire
				(txhdr.h; without multi-buffer only) */
	SW_DROP_NR,
};

extern const char *const sw_drop_names[SW_DROP_NR];

/* Copies from one pool into another, counted for the pool copied into:
 * the only copies of unicast frames (zero copy inside a pool, exactly one
 * across). */
enum sw_copy {
	SW_COPY_NIC,         /* a NIC queue's frame for a VM of another pool */
	SW_COPY_VM,          /* a VM's frame for a VM of another pool */
	SW_COPY_WIRE,        /* a VM's frame for the wire, on a queue of
				another pool (its uplink has none of its own) */
	SW_COPY_FLOOD,       /* a group frame, once for each other pool with
				receivers; that pool's flooding follows */
	SW_COPY_NR,
};

extern const char *const sw_copy_names[SW_COPY_NR];

/*
 * The control thread talks to the worker through one mailbox slot, one
 * request at a time, its state moving IDLE -> POSTED -> TAKEN -> DONE ->
 * IDLE: the control thread fills op and args and store-releases POSTED;
 * the worker, once a pass, takes a POSTED request (compare-and-swap to
 * TAKEN), acts, fills result and store-releases DONE; the control thread
 * reads the result and sets IDLE. The worker never waits. A request the
 * worker has not taken when the caller's time runs out is withdrawn
 * (POSTED -> IDLE): the worker never sees it, and what ptr points to is
 * the caller's again. One the worker took is waited for: it is being
 * acted on, and its ptr is in use.
 */
enum sw_mail_state {
	SW_MAIL_IDLE,
	SW_MAIL_POSTED,
	SW_MAIL_TAKEN,
	SW_MAIL_DONE,
};

enum sw_mail_op {
	SW_MAIL_FRAMES,      /* fill sw->snap, an ownership audit between batches */
	SW_MAIL_VM_ADD,      /* link the ready vmport in ptr at slot arg */
	SW_MAIL_VM_DEL,      /* unlink slot arg, take its frames back, hand
				the vmport over in ptr; result: frames */
	SW_MAIL_CAPTURE,     /* tap nic arg (or -1) and vm arg2 (or -1) */
	SW_MAIL_CLEAR,       /* zero the worker's counters (their one writer)
				and the XDP program's */
	SW_MAIL_DOORBELL,    /* slot arg's guest is (arg2 1) or is not (0)
				on its doorbell: ring it or not */
	SW_MAIL_SET_SLEEP,   /* max_sleep_usecs = arg */
	SW_MAIL_SET_IDLE,    /* idle = arg (enum cfg_idle), poll_usecs = arg2 */
};

struct sw_mail {
	uint32_t state;      /* enum sw_mail_state */
	int op, arg, arg2;
	void *ptr;
	int64_t result;
};

struct sw_frames_snap {
	struct {
		uint32_t fill, tx, sw, free_list;
		int ok;
		char msg[160];
	} pool[CFG_MAX_POOLS];
	uint32_t vm[CFG_MAX_VMS]; /* each counted in its own pool */
	int ok;                   /* every pool's audit is */
	char msg[160];            /* the first that is not */
};

/* Frames crossing the captured port, worker -> control thread (SPSC). */
#define SW_CAP_SLOTS 1024
#define SW_CAP_SNAP 2048
enum { SW_CAP_RX, SW_CAP_TX };

struct sw_cap_rec {
	double ts;        /* CLOCK_REALTIME, for pcap */
	uint32_t len;     /* on the wire */
	uint32_t dir;     /* SW_CAP_RX (into the port's owner) or SW_CAP_TX */
	unsigned char data[SW_CAP_SNAP];
};

struct sw_capture {
	int nic, vm;      /* port captured, -1 for none; worker-written */
	uint32_t prod;    /* worker */
	uint32_t cons;    /* control thread */
	uint64_t dropped; /* worker */
	struct sw_cap_rec *ring;
};

struct sw {
	struct cfg *cfg;
	/* The pools, as cfg.pools; pool is the first (the only one, with a
	 * single pool). Fixed at start: AF_XDP binds each queue's socket to
	 * one UMEM for good. */
	union {
		struct pool pool;
		struct pool pools[CFG_MAX_POOLS];
	};
	int n_pools;
	struct port ports[CFG_MAX_IFACES];
	int n_ports;
	/* Each port's flow steering rules (steer = "ntuple"): sw_init's and
	 * sw_fini's, the control thread's between (vm add, vm del). */
	struct steer steer[CFG_MAX_IFACES];
	struct vmport *vms;  /* CFG_MAX_VMS slots */
	int n_vms;
	struct fdb fdb;
	uint32_t batch;

	uint64_t drops[SW_DROP_NR];
	uint64_t copies;     /* broadcast copies made (within a pool) */
	/* Copies into each pool from another, by reason. */
	uint64_t xcopies[CFG_MAX_POOLS][SW_COPY_NR];
	uint64_t vm2vm;      /* VM-to-VM hand-offs, zero-copy */
	int handoff_copy;    /* cfg handoff = "copy": the benchmark's baseline */
	bool slow;           /* hand-offs copy or are captured (to_vm_slow) */
	uint64_t handoff_copies; /* packets copied to hand them off (copy mode) */

	struct sw_mail mail;
	struct sw_frames_snap snap;
	struct sw_capture cap;

	uint16_t *touched;   /* VMs whose rx ring has unpublished entries */
	uint32_t n_touched;
	uint16_t *busy[2];   /* VMs to visit next pass / being visited */
	uint32_t n_busy[2];
	uint32_t sweep;      /* the next idle VM to visit in turn */
	uint8_t full_pass;   /* this pass looks at every VM and the group
				sockets: SW_PASS_FULL visits each VM (after a
				sleep), SW_PASS_SWEEP only those not
				vm_quiet (after a nap); 0: the usual pass */
	struct port_frame *rxbuf;
	struct fs_desc *txbuf;
	struct port_txf *nicbuf; /* a VM's frames for the wire, a batch
				    (from_vm) */
	uint64_t passes;
	uint64_t alive_ms;   /* last heartbeat check */
	bool check_alive;    /* check heartbeats on the next pass */
	int bell_ep;         /* epoll set of the bells of the VMs whose guest
				is on its doorbell, those muted left out
				(sw_idle.c); its data: the VM's index */
	int mail_fd;         /* eventfd: the mailbox has a request */
	int idle_ep;         /* epoll set the worker sleeps on: every queue's
				socket, the group sockets, bell_ep, mail_fd
				(sw_idle.c); -1 until sw_init made it */
	bool idle_ep_full;   /* those fds are in it (its first sleep) */
	bool idle_ep_short;  /* one could not be added: sleeps last
				SW_POLL_SLEEP_MS at most */
	bool mc_known;       /* the sleep before this pass said which group
				sockets are readable (their mc_busy): the
				pass reads only those */
	uint64_t ctrl_gap;   /* SW_CTRL_GAP_US in ticks */
	uint64_t now;        /* ticks at the end of the last pass (sw_run's
				read, once a pass): doorbell moderation's
				clock; callers of sw_poll_once other than
				sw_run (tests, benchmarks) set it */
	uint16_t *held;      /* VMs whose doorbell waits for its bell_gap */
	uint32_t n_held;
	uint16_t muted[2 * CFG_MAX_VMS]; /* VMs whose bell is out of bell_ep
					for now (vmport_sw.muted) */
	uint32_t n_muted;
	uint64_t bell_mute_min, bell_mute_max; /* SW_BELL_MUTE_* in ticks */
	uint32_t max_nap_us; /* max_sleep_usecs: from the config, changed at
				run time through the mailbox (flipswitchctl
				set, SW_MAIL_SET_SLEEP); loaded once a pass */
	uint32_t nap_us;     /* the next nap under light load (sw_run) */
	uint32_t idle_mode;  /* enum cfg_idle, and */
	uint32_t poll_usecs; /* poll_usecs: from the config, changed at run
				time through the mailbox (SW_MAIL_SET_IDLE);
				relaxed stores, sw_snapshot reads them */
	uint64_t poll_max;   /* poll_usecs in ticks */
	uint64_t poll_win;   /* "adaptive": how long the worker polls after
				its last frame before it blocks, in ticks,
				0 .. poll_max (sw_poll_adapt) */
	uint64_t last_busy;  /* ticks at the end of the last pass that moved
				frames */
	uint32_t poll_sleep_ms; /* the next sleep while a guest must be
				   polled: doubles while idle ("adaptive") */
	uint64_t polled_work;   /* frames the guests that must be polled had
				   sent and given back, as last counted */
	uint64_t polled_at;     /* ticks when that count last moved */
	uint64_t poll_sleep_max; /* SW_POLL_SLEEP_MS in ticks */
	bool slack_set;      /* the worker's timer slack is 1 us (naps) */
	uint64_t naps;       /* naps taken (max_sleep_usecs) */
	uint64_t sleeps;     /* times the worker slept (idle_wait) */
	uint64_t bells;      /* of those, woken by a guest's doorbell */

	/* The worker's time in ticks (ticks.h), by what it did: passes that
	 * moved frames, passes that found nothing, and sleep (idle_wait's
	 * last look and its sleep in epoll, and naps under light load).
	 * Wall-clock time: on a CPU the
	 * worker shares, a pass it was preempted in counts the time it was
	 * away. */
	struct ticks ticks;
	uint64_t busy_ticks, idle_ticks, sleep_ticks;
	uint64_t busy_passes;

	/* Uplink MTUs (sw_mtu.c): bumped (release) by sw_mtu_set after it
	 * stored a port's MTU; the worker, seeing it move past mtu_seen,
	 * writes each VM's uplink_mtu (the region headers are its own to
	 * write: vm del unmaps them under it). */
	uint32_t mtu_gen;
	uint32_t mtu_seen;
	uint32_t guard_seen; /* shmguard_trips() last acted on (sw_guard.c) */
	bool pool_lost;      /* the pool file was cut short: sw_run stops */
};

/* Creates the pool, the VM ports, the NIC ports and the MAC table; the XDP
 * programs are not attached yet. */
int sw_init(struct sw *sw, struct cfg *cfg);
/* Port i's flow steering rules for the VMs of the config, if it has
 * steer = "ntuple" (sw_init's step). 0, or -errno: a rule the NIC
 * refused (logged); the rules made stay for sw_fini to remove. */
int sw_steer_port(struct sw *sw, int i);
/* Attaches the XDP programs: from here on frames flow. */
int sw_start(struct sw *sw);
/* One pass of the loop; returns the number of frames it moved. */
uint32_t sw_poll_once(struct sw *sw);
/* Runs passes until *stop; logs a report whenever *report is set. */
void sw_run(struct sw *sw, volatile sig_atomic_t *stop,
	    volatile sig_atomic_t *report);
/* Detaches and closes everything, takes every frame back, logs the exit
 * report, then removes the files it created. */
void sw_fini(struct sw *sw);
/* A shared file was cut short (shmguard.h): takes out each VM whose
 * region it was, or, if it was the pool, sets pool_lost. The worker's,
 * once shmguard_trips() moves. */
void sw_guard_act(struct sw *sw);
/* Logs counters per port, per VM, and the frame ownership audit. */
void sw_report(struct sw *sw);
/* Frames the switch took in: from its NICs and from VMs' tx rings. Safe
 * from another thread (relaxed loads). */
uint64_t sw_packets_in(const struct sw *sw);

/* Port i's MTU is now mtu (the netlink thread, at start and on each
 * change): frames longer than mtu + FS_ETH_HLEN from its VMs are dropped
 * (too_big), and its VMs' ring headers say mtu from the worker's next
 * pass. Any thread. */
void sw_mtu_set(struct sw *sw, int i, uint32_t mtu);
/* Worker side: writes uplink_mtu into every VM's ring header if an MTU
 * changed since it last did (one load a pass when none did), or into
 * VM v's (vm_link). */
void sw_mtu_publish(struct sw *sw);
void sw_mtu_vm(struct sw *sw, struct vmport *v);

/* Control thread side of the mailbox: posts a request and waits (up to
 * timeout_ms) for the worker's answer. 0, or -ETIMEDOUT: the worker did
 * not take the request in time, and it was withdrawn (nothing was done;
 * ptr's memory is the caller's to free). */
int sw_mail_call(struct sw *sw, int op, int arg, int arg2, void *ptr,
		 int64_t *result, int timeout_ms);

#endif /* FS_SWITCH_H */
