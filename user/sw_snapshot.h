/* SPDX-License-Identifier: MIT */
/*
 * The control thread's view of the switch: what it may read of the
 * worker's state, and how.
 *
 * sw_snapshot copies, in one call, everything show, stats, fdb, frames and
 * vm add need into a struct the control thread owns: counters the worker
 * alone writes, by relaxed loads (each is a single-writer u64: torn never,
 * stale by at most a pass); the VM and MAC tables, which change only
 * inside a mailbox request (switch.h), which the control thread makes and
 * waits for itself, so they cannot change under the copy; and the last
 * frame audit (SW_MAIL_FRAMES). The control thread reads nothing of
 * struct sw but through here, and changes nothing but through the
 * mailbox.
 *
 * The capture ring (struct sw_capture) is the one exception to copying:
 * the control thread is its consumer, and sw_cap_cons_* are its side.
 */
#ifndef FS_SW_SNAPSHOT_H
#define FS_SW_SNAPSHOT_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/if_xdp.h>

#include "switch.h"

struct sw_snap_nic {
	struct cfg_iface cfg;
	uint32_t n_queues;
	uint32_t xdp_flags;    /* XDP_FLAGS_DRV_MODE or XDP_FLAGS_SKB_MODE */
	uint32_t prog_id;
	bool zerocopy;
	uint32_t mtu;          /* now (the netlink thread follows it) */
	char kind[16];         /* the link's kind, "" for a NIC */
	bool tunnel;
	char publish_fdb[16];  /* the bridge port its VMs' MACs are
				  published on, "" for none */
	unsigned int fdb_ifindex; /* that port, 0 for none */
	bool fdb_vlans;        /* its bridge filters by VLAN */
	uint32_t qid[FS_XDP_MAX_QUEUES];  /* the queues served, in order */
	int8_t qpool[FS_XDP_MAX_QUEUES];  /* ... and the pool of each */
	struct port_stats st;
	struct xdp_statistics xsk; /* the kernel's, summed over its sockets */
	struct fs_xdp_counter xdp[FS_XDP_NR_VERDICTS]; /* the program's */
};

struct sw_snap_vm {
	bool active;           /* the slot holds a VM; nothing else is
				  filled in if not */
	bool attached;         /* a guest is attached */
	bool db_live;          /* the switch rings its guest (doorbell) */
	bool rings_me;         /* the guest rings the switch */
	bool broken;           /* its region was cut short: out of service */
	uint32_t held;         /* frames it holds */
	int pool;              /* index into pools[] */
	int region_fd;         /* its ring region file, for the doorbell */
	int irq_fd;            /* its vector 0, for the doorbell */
	int bell_fd;           /* the eventfd its guest rings */
	uint32_t doorbell_gap_us; /* the interval between doorbells rung to
				     it now (adaptive moderation, sw_idle.c) */
	struct vm_stats st;
	struct cfg_vm cfg;
};

struct sw_snap_pool {
	char name[32];
	char path[PATH_MAX];
	uint32_t frames, frame_size, n_free;
	enum cfg_scrub scrub;
	bool hugetlb;
	uint64_t scrubbed_frames, scrubbed_bytes;
	uint64_t copies[SW_COPY_NR]; /* into it from other pools, by reason */
};

struct sw_snap_fdb {
	uint8_t mac[6];
	uint16_t vlan;
	int32_t vm;            /* index into vm[] */
	uint32_t kind;         /* enum fdb_kind */
};

struct sw_snap {
	/* Switch-wide settings. */
	uint32_t batch;
	bool handoff_copy;
	uint32_t guest_timeout, doorbell_usecs, doorbell_max_usecs;
	uint32_t max_sleep_usecs; /* as set now */
	enum cfg_idle idle;    /* as set now */
	uint32_t poll_usecs;   /* as set now */

	/* The first pool (the only one, or "default" with the single pool
	 * = { ... }), and the scrub counters summed over all. */
	char pool_path[PATH_MAX];
	uint32_t frames, frame_size, n_free;
	enum cfg_scrub scrub;
	bool hugetlb;
	uint64_t scrubbed_frames, scrubbed_bytes;
	/* Every pool; fixed at start but for the counters. */
	int n_pools;
	struct sw_snap_pool pools[CFG_MAX_POOLS];

	/* The worker's counters; times in ns. */
	uint64_t drops[SW_DROP_NR];
	uint64_t copies, handoff_copies, vm2vm, sleeps, bells, naps;
	uint64_t packets_in, busy_passes, busy_ns, idle_ns, sleep_ns;
	uint64_t poll_window_ns; /* "adaptive": the polling window now */

	int n_nics;
	struct sw_snap_nic nic[CFG_MAX_IFACES];
	/* The MAC table, static entries first as the table holds them. */
	uint32_t n_fdb;
	struct sw_snap_fdb fdb[CFG_MAX_VMS];
	/* The last frame audit. */
	struct sw_frames_snap audit;
	int n_vms;             /* slots in use or freed, vm[0 .. n_vms) */
	struct sw_snap_vm vm[CFG_MAX_VMS];
};

/* Fills *s from sw (see above); safe while the worker runs. */
void sw_snapshot(const struct sw *sw, struct sw_snap *s);

/* The capture ring, consumer side (the control thread). A capture starts
 * with the ring quiet (no port tapped) and emptied; sw_cap_dropped counts
 * records the worker found no room for, since it started. */
void sw_cap_cons_reset(struct sw *sw);
/* The oldest record, or NULL if there is none. */
const struct sw_cap_rec *sw_cap_cons_peek(const struct sw *sw);
/* Gives the record sw_cap_cons_peek returned back to the worker. */
void sw_cap_cons_release(struct sw *sw);
uint64_t sw_cap_dropped(const struct sw *sw);

#endif /* FS_SW_SNAPSHOT_H */
