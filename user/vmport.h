/* SPDX-License-Identifier: MIT */
/*
 * A VM port: the switch's side of one VM ring region (include/flipswitch/
 * ring.h), and the checks on everything the guest writes into it.
 *
 * The guest is untrusted. The switch keeps its own ring indices privately,
 * reads each descriptor once into private memory, and accepts a frame only
 * if the pool's owner table says this VM owns it. Each reject is counted by
 * reason (enum vm_drop) and the descriptor skipped; nothing a guest writes
 * can make the switch leak a frame, free one twice, or touch memory outside
 * the pool and the region.
 *
 * Frames a VM holds (in its rx ring, its alloc ring, or in the guest's
 * hands) never exceed its quota. When the guest detaches, re-attaches, or
 * the port goes away, every frame it holds is taken back and scrubbed.
 */
#ifndef FS_VMPORT_H
#define FS_VMPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include "flipswitch/ring.h"
#include "config.h"
#include "pool.h"

/* The longest packet the switch takes from and gives to a VM (ABI 1.3,
 * max_packet): a 9000-byte MTU, its Ethernet header and two tags with
 * room to spare, the usual jumbo maximum. */
#define VM_MAX_PACKET 9216u
/* Frames of one packet at most (max_frames is the fewer of this and what
 * VM_MAX_PACKET needs with the headroom in every frame): a packet to the
 * wire leaves as these and a header slot, within the kernel's AF_XDP
 * limit of MAX_SKB_FRAGS + 1 (18) descriptors. */
#define VM_MAX_FRAMES 16u

enum vm_drop {
	VM_DROP_DETACHED,    /* frame for a VM with no guest attached */
	VM_DROP_QUOTA,       /* the VM holds its quota of frames */
	VM_DROP_RX_FULL,     /* no room in the rx ring */
	VM_BAD_RING_INDEX,   /* a ring index more than the ring size away */
	VM_BAD_ADDR,         /* descriptor offset outside the pool */
	VM_BAD_OWNER,        /* frame not this VM's (double free, other VM's) */
	VM_BAD_LEN,          /* shorter than an Ethernet header, or past the
				end of its frame */
	VM_BAD_OPTIONS,      /* options field not 0 */
	VM_DROP_FLOOD_LIMITED, /* a group frame past its flood_rate */
	VM_DROP_SPOOFED,     /* sent with a source MAC not its own nor one
				of its allowed_macs */
	VM_DROP_TAGGED,      /* sent with a VLAN tag (a port's VLAN is the
				switch's to set) */
	VM_DROP_CHAIN_UNSUPPORTED, /* a packet of several frames for a guest
				      that takes one-frame packets only */
	VM_DROP_CHAIN_TOO_LONG, /* sent a packet of more than max_frames
				   frames or max_packet bytes */
	VM_DROP_CHAIN_UNENDED, /* sent a packet whose last descriptor never
				  came (FS_DESC_MORE up to the producer) */
	VM_DROP_NR,
};

extern const char *const vm_drop_names[VM_DROP_NR];

struct vm_stats {
	uint64_t rx_packets, rx_bytes;   /* delivered to the guest */
	uint64_t tx_packets, tx_bytes;   /* accepted from the guest */
	uint64_t freed;                  /* frames given back on the free ring */
	uint64_t lent;                   /* frames put on the alloc ring */
	uint64_t reclaimed;              /* frames taken back at detach/reset */
	uint64_t timeouts;               /* guests given up on (no heartbeat) */
	uint64_t irqs;                   /* doorbells rung to the guest */
	uint64_t region_truncated;       /* its region found cut short
					    (shmguard.h): taken out */
	uint64_t hangups;                /* its doorbell peer (QEMU) hung
					    up */
	uint64_t hdr_repaired;           /* its region header found
					    overwritten and written back */
	uint64_t rings;                  /* times its guest rang the switch
					    (writes to its bell eventfd) */
	uint64_t rings_coalesced;        /* of those, rings that woke the
					    worker no more than one before */
	uint64_t bell_storm;             /* times its rings came faster than
					    they brought work: its bell
					    was left unwatched for longer
					    than doorbell_usecs (sw_idle.c) */
	uint64_t drops[VM_DROP_NR];
};

/* What only the switch reads and writes of a VM port, apart from the
 * port's own state so that vmport.c need not know it: doorbell moderation
 * (sw_idle.c) and the pacing of attach requests (sw_pass.c visit_vm). */
struct vmport_sw {
	uint64_t bell_at;        /* when the switch last rang it (ticks.h) */
	uint64_t bell_gap;       /* the interval between rings now, ticks:
				    bell_base up to SW_BELL_GAP_SCALE times
				    it (sw_idle.c bell_adapt) */
	uint64_t bell_base;      /* cfg.doorbell_usecs in ticks */
	uint64_t bell_max;       /* the longest bell_gap: doorbell_max_usecs,
				    not below bell_base */
	uint32_t bell_frames;    /* rx frames published to its sleeping
				    guest since (sw_ring_guest) */
	bool bell_held;          /* a ring waits for doorbell_usecs to pass */
	bool bell_listed;        /* its entry is on the switch's held list
				    (held, or rung since and not yet
				    dropped by sw_ring_held) */
	uint64_t ctrl_next;      /* ticks from which its next attach request
				    may be acted on (sw_pass.c visit_vm) */
	/* Its guest's rings (sw_idle.c bell_rang): after its bell woke the
	 * worker, the bell is out of the worker's sleeps until mute_until. */
	uint64_t rang_at;        /* when its bell last woke the worker */
	uint64_t mute;           /* the last quiet time given, ticks */
	uint64_t mute_until;
	uint32_t rang_work;      /* its rings' consumer indices at rang_at */
	bool muted;              /* its bell is out of the wait set, and it
				    is on the switch's muted list */
};

/* The switch's per-visit marks (sw_pass.c), on the lines its sweep reads.
 * Packed to 28 bytes (it is placed 8-aligned): with tail padding the
 * port's alloc ring would spill out of those lines (see the assert after
 * struct vmport). */
struct vmport_sweep {
	uint64_t tx_pass;        /* the last pass it sent in, + 1 (0: none) */
	uint64_t visited, listed; /* the switch's pass that last visited it,
				     that it is listed for */
	uint32_t drain_turns;    /* turns in the sweep that left frames on
				    its free ring (drain_due) */
} __attribute__((packed, aligned(4)));

struct vmport {
	/* Laid out by who reads what (the array of VM ports is line-aligned).
	 * The first line: everything a frame handed to the VM and the flush
	 * that publishes it touch (the rx ring's hot half, the burst state,
	 * db_live, the rx counters), so that traffic to many VMs in turn
	 * costs one line of the port a frame. Then the rest of the counters
	 * and the rx ring's cold half (its consumer, for vmport_rx_open;
	 * its flags, for a guest with a doorbell). Then, line-aligned, what
	 * a turn in the sweep reads of a VM with nothing to do (sw_pass.c
	 * vm_quiet): three lines, ending with its tx, free and alloc
	 * rings. */
	struct fs_desc *rx_desc; /* rx.desc */
	uint32_t *rx_producer;   /* rx.producer */
	struct pool *pool;       /* its pool (cfg.pool): the frames it is
				    given, lent and sends are this pool's */
	uint32_t rx_prod;        /* the rx ring's producer index, private:
				    rx.cached_prod is not kept (see
				    vmport_rx_try_open) */
	uint32_t rx_room;        /* frames it may still be given (room on
				    its rx ring and in its quota when
				    vmport_rx_open looked), kept from pass
				    to pass: the ring's room only grows, and
				    held + rx_room <= quota holds (alloc
				    refills take from it) */
	uint32_t rx_unflushed;   /* rx entries written, producer not stored,
				    frames not yet counted to the VM */
	uint32_t quota;          /* cfg.quota */
	uint16_t rx_mask;        /* rx.mask: ring_size is at most 32768 */
	uint16_t owner;          /* POOL_OWN_VM(index) */
	/* Its uplink (cfg.uplink) and its pool's index, read together as
	 * route by the NIC fast path: one compare says "this port, this
	 * queue's pool" (nic_rx). */
	union {
		struct {
			uint8_t uplink;
			uint8_t pool_index;
		};
		uint16_t route;
	};
	/* Doorbells (ring.h, I..L): db_live says a guest is connected to the
	 * VM's doorbell socket (the control thread serves the socket and
	 * tells the worker, SW_MAIL_DOORBELL, which stores it); then writing
	 * irq_fd (below), the guest's vector 0, interrupts the guest. */
	bool db_live;
	/* Its first two fields, rx_packets and rx_bytes, end the first
	 * line. */
	struct vm_stats st;
	struct fs_ring rx;
	int index;
	struct vmport_sw sw;
	uint32_t bell_batch;     /* rx frames published to its sleeping
				    guest that ring it at once: half of what
				    its rx ring and quota let it be given */
	int irq_fd;
	/* The eventfd its guest rings (the switch's vector in the ivshmem
	 * protocol, its own for each VM: the worker knows who rang). */
	int bell_fd;
	/* Per visit (sw_pass.c). */
	_Alignas(64) bool active; /* the slot holds a VM (see sw_mail VM_DEL) */
	bool attached;
	bool rings_me;           /* the attached guest set FS_GUEST_RINGS */
	bool chains;             /* the attached guest set FS_GUEST_CHAINS */
	uint32_t last_req;       /* guest_req last acted on */
	struct fs_region_hdr *hdr;
	struct vmport_sweep sweep;
	uint32_t alloc_target;   /* frames to keep on the alloc ring */
	struct fs_ring tx, free, alloc;
	uint32_t last_beat;      /* guest_beat as last seen */
	uint64_t beat_ms;        /* when it last changed; 0: not yet timed */
	int fd;
	bool created;
	bool broken;             /* its region was cut short: taken out
				    until vm del (vmport_region_lost) */
	int guard;               /* its shmguard slot, -1: none */
	uint32_t gen;            /* switch_gen, as the switch wrote it */
	/* Its flood limit, a token bucket in ticks (vmport_flood_ok): each
	 * group frame costs flood_gap, the credit grows with time up to
	 * flood_cap; flood_gap 0: no limit. */
	uint64_t flood_gap, flood_cap, flood_credit, flood_at;
	bool hdr_logged;         /* a repair was logged for this guest */
	bool tx_chained;         /* the last vmport_tx_collect gave a packet
				    of several frames (sw_pass.c) */
	unsigned char *region;
	uint64_t region_size;
	struct fs_region_hdr layout; /* private copy of the header up to
					switch_gen (vmport_hdr_repair) */
	struct cfg_vm cfg;
} __attribute__((aligned(64)));

_Static_assert(offsetof(struct vmport, alloc) + sizeof(struct fs_ring) <=
		       offsetof(struct vmport, active) + 3 * 64,
	       "a turn in the sweep reads three lines of a VM port");
_Static_assert(offsetof(struct vmport, st.rx_bytes) + sizeof(uint64_t) <= 64,
	       "a hand-off to a VM and its flush touch its port's first line");
_Static_assert(offsetof(struct vmport, sweep) % 8 == 0,
	       "the sweep's marks are 8-aligned");

/* The route of a VM whose uplink is port `uplink` and pool is pool
 * index `pool`, as vmport.route reads. */
static inline uint16_t vmport_route(uint8_t uplink, uint8_t pool)
{
	union {
		struct {
			uint8_t uplink, pool_index;
		};
		uint16_t route;
	} r = { { uplink, pool } };

	return r.route;
}

/* Frames of one packet at most with pool frames of frame_size bytes
 * (ABI 1.3 max_frames): what VM_MAX_PACKET needs with the headroom in
 * every frame, at most VM_MAX_FRAMES. */
uint32_t vmport_max_frames(uint32_t frame_size);

/* A line-aligned, zeroed array of n VM ports (free() it). */
struct vmport *vmport_alloc(size_t n);

/* Bytes of a VM's ring region file for rings of ring_size entries: a
 * power of two (it is a PCI BAR in a QEMU guest). */
uint64_t vmport_region_size(uint32_t ring_size);

/* Creates (or re-initialises in place) the region file for a VM. */
int vmport_create(struct vmport *v, const struct cfg_vm *c, int index,
		  struct pool *p);
/* Takes back the VM's frames, tells the guest the switch is gone, unmaps,
 * and removes the file if this daemon created it and no guest is attached
 * (an attached guest keeps it, for the next switch to reuse). */
void vmport_destroy(struct vmport *v, struct pool *p);
/* The same without touching the pool, once the worker has taken the VM's
 * frames back (a VM deleted at run time). */
void vmport_unmap(struct vmport *v);

/* The region was cut short under the switch and is private zeros now
 * (shmguard.h): takes back every frame the VM holds and takes the VM out
 * of service for good (frames for it are dropped as detached). Returns
 * the frames taken. */
uint32_t vmport_region_lost(struct vmport *v, struct pool *p);

/* The VM's doorbell peer (its QEMU) hung up: the guest is gone with it.
 * Takes back every frame the VM holds and tells the guest (FS_ACK_GONE),
 * as a heartbeat timeout does, at once. Returns the frames taken. */
uint32_t vmport_peer_gone(struct vmport *v, struct pool *p);

/* The region header is the switch's: writes back the part a guest may
 * only read (magic, geometry, offsets, MAC, name) and the switch's
 * generation and state, if anything there differs from the switch's
 * copy. Returns whether it did (counted, logged once a guest). Called on
 * attach and detach, when a guest is let go, at unmap, and by the worker
 * every 100 ms or so. */
bool vmport_hdr_repair(struct vmport *v);

/* Acts on attach/detach request req from the guest: takes back every
 * frame the VM holds and resets the rings (see vmport_poll_ctrl). */
void vmport_ctrl_act(struct vmport *v, struct pool *p, uint32_t req);

/* Acts on a new attach/detach request from the guest, if any. Returns 1 if
 * it acted. Inline: the worker asks every VM in turn, and the request word
 * has almost never moved. */
static inline int vmport_poll_ctrl(struct vmport *v, struct pool *p)
{
	uint32_t req = __atomic_load_n(&v->hdr->guest_req,
				       __ATOMIC_ACQUIRE); /* F, matches E */

	if (req == v->last_req)
		return 0;
	vmport_ctrl_act(v, p, req);
	return 1;
}

/* Gives up on an attached guest whose heartbeat (guest_beat) has not moved
 * for timeout_ms: takes its frames back and tells it (FS_ACK_GONE). Returns
 * the frames taken, or 0. now_ms is a monotonic clock. */
uint32_t vmport_check_alive(struct vmport *v, struct pool *p, uint64_t now_ms,
			    uint32_t timeout_ms);

/* Opens an rx burst to the VM: how many frames it may take (room on its
 * rx ring, within its quota). 0 if none, the reason counted in st.drops. */
uint32_t vmport_rx_open(struct vmport *v, struct pool *p);
/* The same, counting nothing: 0 with the reason in *why (enum vm_drop). */
uint32_t vmport_rx_try_open(struct vmport *v, struct pool *p, int *why);

/* Hands a frame the switch owns to the guest's rx ring. 0, or -1 if it
 * dropped it (the reason is counted in st.drops) and the frame stays the
 * switch's. Call vmport_rx_flush() after a batch. */
static inline int vmport_rx_enqueue(struct vmport *v, struct pool *p,
				    uint64_t addr, uint32_t len)
{
	struct fs_desc *d;

	if (__builtin_expect(!v->rx_room, 0) && !vmport_rx_open(v, p))
		return -1;
	v->rx_room--;
	/* The counts move at the flush, once for the burst. */
	pool_set_owner(p, pool_frame(p, addr), v->owner);
	d = &v->rx_desc[v->rx_prod++ & v->rx_mask];
	d->addr = addr;
	d->len = len;
	d->options = 0;
	v->rx_unflushed++;
	v->st.rx_bytes += len;
	return 0;
}

/*
 * An rx burst to one VM with its ring state in the caller's locals: the
 * NIC fast path gives runs of frames to one VM at a few stores each
 * (vmport_burst_put), where vmport_rx_enqueue loads and stores the port's
 * fields every frame. Between vmport_burst_begin and vmport_burst_end the
 * port's own rx fields are stale: nothing else may give it frames.
 */
struct vmport_burst {
	struct vmport *v;        /* NULL: no burst (and full) */
	struct fs_desc *desc;
	uint32_t mask;
	uint32_t start, prod;    /* rx_prod at begin, now */
	uint32_t end;            /* prod may not pass it (rx_room) */
	uint16_t owner;
	uint64_t bytes;
};

/* Starts a burst with the room the port has open, opening some if it has
 * none. If it can have none, the burst is full: the frame that finds it
 * so opens again and counts why (vmport_rx_open). */
static inline void vmport_burst_begin(struct vmport_burst *b,
				      struct vmport *v, struct pool *p)
{
	int why;

	if (!v->rx_room)
		vmport_rx_try_open(v, p, &why);
	b->v = v;
	b->desc = v->rx_desc;
	b->mask = v->rx_mask;
	b->start = b->prod = v->rx_prod;
	b->end = b->prod + v->rx_room;
	b->owner = v->owner;
	b->bytes = 0;
}

static inline bool vmport_burst_full(const struct vmport_burst *b)
{
	return b->prod == b->end;
}

/* Gives a frame the switch owns to the burst's VM (not full); fr is
 * the pool's table (see pool_set_owner), frame the frame of addr. */
static inline void vmport_burst_put(struct vmport_burst *b,
				    struct scrub_rec *fr, uint32_t frame,
				    uint64_t addr, uint32_t len)
{
	struct fs_desc *d = &b->desc[b->prod++ & b->mask];

	fr[frame].owner = b->owner;
	d->addr = addr;
	d->len = len;
	d->options = 0;
	b->bytes += len;
}

/* Writes the burst back to its port, as vmport_rx_enqueue would have left
 * it; returns the frames it gave (to flush with vmport_rx_flush). */
static inline uint32_t vmport_burst_end(struct vmport_burst *b)
{
	struct vmport *v = b->v;
	uint32_t n = b->prod - b->start;

	v->rx_prod = b->prod;
	v->rx_room = b->end - b->prod;
	v->rx_unflushed += n;
	v->st.rx_bytes += b->bytes;
	b->v = NULL;
	b->end = b->prod; /* full: no burst takes frames */
	return n;
}

/* Hands a packet of m frames the switch owns (c[0..m), addr and len;
 * m > 1) to the guest's rx ring, FS_DESC_MORE on all but the last: all
 * or none. 0, or -1 if it dropped it (the reason counted: a guest that
 * takes no chains, no room for m frames on its ring or in its quota);
 * the frames then stay the switch's. Call vmport_rx_flush() after. */
int vmport_rx_chain(struct vmport *v, struct pool *p, const struct fs_desc *c,
		    uint32_t m);

/* Whether the guest sleeps waiting on its rx or alloc ring (K, L), after
 * the switch published entries there: whether to ring its doorbell. */
static inline bool vmport_wants_ring(const struct vmport *v)
{
	if (!__atomic_load_n(&v->db_live, __ATOMIC_RELAXED))
		return false;
	__atomic_thread_fence(__ATOMIC_SEQ_CST); /* K, pairs with J */
	return (__atomic_load_n(v->rx.flags, __ATOMIC_RELAXED) |
		__atomic_load_n(v->alloc.flags, __ATOMIC_RELAXED)) &
	       FS_RING_NEED_WAKEUP; /* L */
}

/* Rings the guest's doorbell (when vmport_wants_ring said so). */
static inline void vmport_ring(struct vmport *v)
{
	uint64_t one = 1;

	if (write(v->irq_fd, &one, sizeof(one)) == sizeof(one))
		v->st.irqs++;
}

/* Publishes the burst's rx entries (one release store) and counts their
 * frames to the VM. Returns how many: then the guest may need its
 * doorbell rung (vmport_wants_ring). */
static inline uint32_t vmport_rx_flush(struct vmport *v, struct pool *p)
{
	uint32_t n = v->rx_unflushed;

	if (!n)
		return 0;
	pool_count_move(p, POOL_OWN_SWITCH, v->owner, n);
	__atomic_store_n(v->rx_producer, v->rx_prod,
			 __ATOMIC_RELEASE); /* B, as fs_prod_submit */
	v->st.rx_packets += n;
	v->rx_unflushed = 0;
	return n;
}

/* Whether the switch may sleep on this VM's account until its guest rings
 * (an attached guest that rings, on a live doorbell). */
static inline bool vmport_can_sleep(const struct vmport *v)
{
	return !v->attached ||
	       (v->rings_me && __atomic_load_n(&v->db_live, __ATOMIC_RELAXED));
}

/* The switch is about to sleep (I), or woke up: asks the guest to ring
 * when it posts tx entries, and free entries too if free, or stops
 * asking. */
static inline void vmport_want_wakeup(struct vmport *v, bool on, bool free)
{
	uint32_t f = on ? FS_RING_NEED_WAKEUP : 0;

	__atomic_store_n(v->tx.flags, f, __ATOMIC_RELAXED);
	__atomic_store_n(v->free.flags, free ? f : 0, __ATOMIC_RELAXED);
}

/* Reads up to max descriptors from the tx ring, validates them, and moves
 * the good ones' frames to the switch. Returns how many are in out[].
 * A packet of several frames (ring.h, M..N) is taken whole or not at
 * all, its descriptors in out[] with FS_DESC_MORE on all but the last;
 * one that begins within max may end past it, so out[] has room for max
 * + VM_MAX_FRAMES - 1. */
uint32_t vmport_tx_collect(struct vmport *v, struct pool *p,
			   struct fs_desc *out, uint32_t max);

/* Takes back the frames on the free ring (scrub, free list). Returns how
 * many frames it took. */
uint32_t vmport_free_drain(struct vmport *v, struct pool *p, uint32_t max);

/* Tops the alloc ring up to alloc_target lent frames, within quota.
 * Returns how many it lent: then the guest may need its doorbell rung
 * (vmport_wants_ring). */
uint32_t vmport_alloc_refill(struct vmport *v, struct pool *p);

/* Sets VM v's flood limit: rate group frames a second (0: none), burst
 * at once; tps is ticks a second. The bucket starts full. */
static inline void vmport_flood_set(struct vmport *v, uint32_t rate,
				    uint32_t burst, uint64_t tps)
{
	v->flood_gap = rate ? (tps / rate ? tps / rate : 1) : 0;
	v->flood_cap = v->flood_gap * burst;
	v->flood_credit = v->flood_cap;
	v->flood_at = 0;
}

/* Whether VM v may flood one more group frame at time now (ticks): a
 * token bucket, so that a storm costs the switch at most flood_rate
 * copies' worth a second for each VM of the network. Counts the drop if
 * not. */
static inline bool vmport_flood_ok(struct vmport *v, uint64_t now)
{
	if (!v->flood_gap)
		return true;
	if (now > v->flood_at) {
		v->flood_credit += now - v->flood_at;
		if (v->flood_credit > v->flood_cap)
			v->flood_credit = v->flood_cap;
	}
	v->flood_at = now;
	if (v->flood_credit < v->flood_gap) {
		v->st.drops[VM_DROP_FLOOD_LIMITED]++;
		return false;
	}
	v->flood_credit -= v->flood_gap;
	return true;
}

/* Frames the VM holds now (owner table count; the worker adds an open rx
 * burst's rx_unflushed). */
static inline uint32_t vmport_held(const struct vmport *v,
				   const struct pool *p)
{
	return p->count[v->owner];
}

#endif /* FS_VMPORT_H */
