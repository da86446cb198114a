/* SPDX-License-Identifier: MIT */
/*
 * flipswitch guest ABI: the VM ring region and its four rings.
 *
 * One region file per VM, mapped by the switch and by that VM only (an
 * ivshmem device in a QEMU guest, a plain mmap on the host). It starts with
 * struct fs_region_hdr; the header gives the offset of everything else, so a
 * guest never computes the layout itself. Descriptors carry byte offsets
 * into the pool (another shared file, see design.md), never pointers.
 *
 *   rx     switch -> guest  struct fs_desc   frames received, now the guest's
 *   free   guest  -> switch u64 pool offset  frames the guest gives back
 *   alloc  switch -> guest  u64 pool offset  empty frames lent for transmit
 *   tx     guest  -> switch struct fs_desc   frames to send (any frame the
 *                                            guest owns, received or lent)
 *
 * Every ring is single-producer single-consumer with power-of-two size and
 * free-running u32 indices (used with "& mask"). The producer index, the
 * consumer index and the descriptors live on separate cache lines, with a
 * spare line between the indices and the descriptors, as in the kernel's
 * struct xdp_ring.
 *
 * Memory ordering (labels used at each atomic below):
 *
 *   producer                              consumer
 *   (A) load-acquire consumer index       (C) load-acquire producer index
 *       when the cached copy runs out         when the cached copy runs out
 *       write descriptors                     read descriptors
 *   (B) store-release producer index      (D) store-release consumer index
 *
 *   (B) pairs with (C): descriptors written before B are visible after C.
 *   (D) pairs with (A): the consumer has finished reading a slot before the
 *   producer, having seen D, may overwrite it.
 *
 * Attach handshake (labels E..H), through the header's own cache lines:
 *
 *   (E) the guest store-releases guest_req = (seq + 1) << 1 | ATTACH, or
 *       without ATTACH to detach;
 *   (F) the switch load-acquires guest_req, takes back every frame the VM
 *       holds, zeroes all ring indices and flags, then
 *   (G) store-releases guest_ack = guest_req;
 *   (H) the guest load-acquires guest_ack and, once it equals its request,
 *       starts from index 0 on every ring.
 *   switch_gen changes whenever the switch (re)creates the region; a guest
 *   that sees it change holds no frames any more and attaches again.
 *
 * Liveness: an attached guest bumps guest_beat (relaxed stores, any value
 * change counts) at least every few hundred milliseconds, whenever it polls
 * its rings. A switch that sees no change for its guest timeout takes the
 * VM's frames back and stores FS_ACK_GONE in guest_ack; a guest that finds
 * guest_ack no longer equal to its request has been detached and attaches
 * again.
 *
 * Doorbells (optional; labels I..L). A VM paired through flipswitchd's
 * ivshmem-server socket has an eventfd each way: the switch is ivshmem
 * peer FS_DOORBELL_SWITCH_ID and the guest rings it by writing
 * (FS_DOORBELL_SWITCH_ID << 16 | 0) to its Doorbell register (or, on the
 * host, by writing the switch's eventfd); the switch rings the guest's
 * vector 0. Neither side rings per packet: a consumer about to sleep sets
 * FS_RING_NEED_WAKEUP in the flags of the rings it waits on, and a
 * producer rings only while that flag is set (as AF_XDP's need_wakeup):
 *
 *   consumer about to sleep               producer after publishing (B)
 *   (I) store flags = NEED_WAKEUP         (K) full fence
 *   (J) full fence, then reload the       (L) load flags; ring if set
 *       producer index: sleep only if
 *       nothing new arrived
 *
 *   J and K together make sure either the consumer sees the new entries or
 *   the producer sees the flag. The guest waits on rx and alloc, the switch
 *   on tx, and on free only while it needs frames back soon; a producer
 *   rings for a ring whose own flag is set. The switch sets switch_doorbell
 *   while it can ring the guest; a guest that can ring the switch says so
 *   with FS_GUEST_RINGS in guest_flags before it attaches (E). Only then does the switch sleep
 *   for long on that guest's account; a guest that cannot ring is polled.
 *
 * Uplink MTU (ABI 1.2): the switch keeps uplink_mtu at the MTU of the
 * interface this VM's frames leave by (IFLA_MTU, followed as it changes;
 * relaxed stores, read when needed). A frame for the wire longer than
 * uplink_mtu + FS_ETH_HLEN (the guest's frame, before any VLAN tag the
 * switch pushes) is dropped and counted (too_big), never sent: a guest
 * sizes its frames, and a guest driver its device's MTU, by it. Frames
 * from VM to VM are not limited by it. A guest reads it only where
 * abi_minor is 2 or more: older switches never wrote it.
 *
 * Packets of several frames (ABI 1.3; labels M..N). A packet longer than
 * one frame holds (jumbo frames) spans consecutive descriptors of one
 * ring, rx or tx: every descriptor but the packet's last has FS_DESC_MORE
 * in its options (as AF_XDP's XDP_PKT_CONTD). Each descriptor is one frame
 * with its own addr and len; only the first frame follows the headroom
 * convention and holds at least the Ethernet header; the packet's length
 * is the sum of its descriptors' lengths. The switch writes the limits
 * into the header: max_packet (bytes of a packet, the guest's frame
 * before any VLAN tag the switch pushes) and max_frames (descriptors of
 * one packet). Both sides obey the same rules:
 *
 *   (M) a producer publishes a packet whole: its last descriptor is
 *       written before the producer index store (B) that covers it;
 *   (N) a packet of more than max_frames descriptors, longer than
 *       max_packet, or whose descriptors run to the producer index
 *       without one lacking FS_DESC_MORE, is dropped whole and counted;
 *       the frames it named stay with the side that held them.
 *
 * A guest that takes such packets sets FS_GUEST_CHAINS in guest_flags
 * before it attaches (E); a guest that does not (written for ABI 1.2 or
 * older) is given only packets of one frame, the longer ones dropped and
 * counted for its VM (chain_unsupported). Quotas count frames: a packet
 * of n frames needs n entries of its ring and n frames of the quota. A
 * guest reads max_packet and max_frames only where abi_minor is 3 or
 * more (older switches leave them 0) and never sends FS_DESC_MORE to a
 * switch that did not publish them.
 *
 * The other side is untrusted in both directions. The switch keeps its own
 * indices privately and only ever stores them to the shared ring; it checks
 * that prod - cons never exceeds the ring size and validates every
 * descriptor (read once into private memory) before use. The header up to
 * switch_gen, and the switch's words after it, are the switch's: it writes
 * back whatever a guest changed there (every 100 ms or so, and at each
 * attach and detach); a guest writes guest_req, guest_flags and
 * guest_beat only.
 *
 * This header needs only libc and a C11/GNU C compiler: the same code runs in
 * a QEMU guest, in a host process, in the switch and in the guest's Linux
 * driver (guest/linux/, where the kernel's own headers stand in for libc's).
 */
#ifndef FLIPSWITCH_RING_H
#define FLIPSWITCH_RING_H

#ifdef __KERNEL__
#include <linux/types.h>
#include <linux/stddef.h>
#else
#include <stdint.h>
#include <stddef.h>
#endif

#define FS_REGION_MAGIC 0x4843575350494c46ULL /* "FLIPSWCH" in memory */
#define FS_ABI_MAJOR 1
#define FS_ABI_MINOR 3

#define FS_CACHELINE 64
/* Bytes a guest leaves free before the packet in a lent frame: the same as
 * the kernel's XDP_PACKET_HEADROOM, so the switch can push a VLAN tag in
 * place and frames from the NIC and from guests look alike. */
#define FS_HEADROOM 256
#define FS_ETH_HLEN 14
#define FS_NAME_MAX 32

#define FS_REQ_ATTACH 1u /* guest_req bit 0: attached (1) or detached (0) */
#define FS_SW_UP 1u      /* switch_state: the switch serves this region */
#define FS_ACK_GONE 0xfffffffeu /* guest_ack: the switch gave up on the guest */

/* Ring flag, written by the consumer of a ring: wake me when you produce
 * (doorbell mode, labels I..L; polling peers never set it). */
#define FS_RING_NEED_WAKEUP 1u
/* guest_flags: this guest rings the switch's doorbell when asked. */
#define FS_GUEST_RINGS 1u
/* guest_flags: this guest takes packets of several frames (ABI 1.3). */
#define FS_GUEST_CHAINS 2u
/* fs_desc.options: more frames of this packet follow (ABI 1.3). */
#define FS_DESC_MORE 1u
/* The switch's ivshmem peer ID; the guest's is in its IVPosition register. */
#define FS_DOORBELL_SWITCH_ID 0

struct fs_desc {
	uint64_t addr; /* byte offset of the packet's first byte in the pool */
	uint32_t len;  /* bytes of packet */
	uint32_t options; /* FS_DESC_MORE (ABI 1.3); other bits must be 0 */
};

struct fs_ring_info {
	uint64_t off;       /* from the start of the region */
	uint32_t size;      /* entries, a power of two */
	uint32_t desc_size; /* 16 (struct fs_desc) or 8 (u64 pool offset) */
};

struct fs_ring_shared {
	_Alignas(FS_CACHELINE) uint32_t producer;
	_Alignas(FS_CACHELINE) uint32_t consumer;
	uint32_t flags; /* written by the consumer */
	_Alignas(FS_CACHELINE) uint8_t spare[FS_CACHELINE];
	_Alignas(FS_CACHELINE) unsigned char desc[];
};

struct fs_region_hdr {
	uint64_t magic;
	uint16_t abi_major;
	uint16_t abi_minor;
	uint32_t hdr_size;
	uint64_t region_size;
	/* Pool geometry: frame i spans [i * frame_size, (i + 1) * frame_size). */
	uint64_t pool_size;
	uint32_t pool_frames;
	uint32_t frame_size;
	uint32_t headroom;
	uint32_t quota;  /* most frames this VM may hold at once */
	uint8_t mac[6];
	uint16_t vlan;   /* 0: untagged */
	char name[FS_NAME_MAX];
	struct fs_ring_info rx, free, alloc, tx;
	/* Packets of several frames (ABI 1.3, labels M..N; 0 before): the
	 * longest packet in bytes, and in descriptors, the switch takes from
	 * and gives to this VM. In the line before switch_gen, which they
	 * leave where it was. */
	uint32_t max_packet;
	uint32_t max_frames;

	/* Written by the switch. */
	_Alignas(FS_CACHELINE) uint32_t switch_gen;
	uint32_t switch_state;
	uint32_t guest_ack;
	uint32_t switch_doorbell; /* 1: the switch rings this guest (ABI 1.1) */
	uint32_t uplink_mtu;      /* the uplink's MTU, 0 while unknown (ABI 1.2) */
	/* Written by the guest. */
	_Alignas(FS_CACHELINE) uint32_t guest_req;
	uint32_t guest_flags;     /* FS_GUEST_RINGS (ABI 1.1),
				     FS_GUEST_CHAINS (ABI 1.3) */
	/* Its own line: the guest stores it on every poll, while the switch
	 * reads guest_req on every pass and guest_beat a few times a second. */
	_Alignas(FS_CACHELINE) uint32_t guest_beat;
	_Alignas(FS_CACHELINE) uint8_t end[];
};

_Static_assert(sizeof(struct fs_desc) == 16, "fs_desc is 16 bytes");
_Static_assert(offsetof(struct fs_ring_shared, desc) == 3 * FS_CACHELINE,
	       "ring indices and descriptors on separate lines");
_Static_assert(sizeof(struct fs_region_hdr) <= 4096, "header fits a page");
_Static_assert(offsetof(struct fs_region_hdr, switch_gen) == 192 &&
		       offsetof(struct fs_region_hdr, guest_req) == 256 &&
		       offsetof(struct fs_region_hdr, guest_beat) == 320,
	       "ABI 1.3 keeps 1.2's offsets");

/* One side's private view of a shared ring. Never shared: the peer cannot
 * change cached indices or the mask. */
struct fs_ring {
	uint32_t cached_prod;
	uint32_t cached_cons;
	uint32_t mask;
	uint32_t size;
	uint32_t *producer;
	uint32_t *consumer;
	uint32_t *flags;
	unsigned char *desc;
};

static inline int fs_is_pow2(uint32_t n)
{
	return n && !(n & (n - 1));
}

static inline void fs_ring_init(struct fs_ring *r, void *region,
				const struct fs_ring_info *ri)
{
	struct fs_ring_shared *s =
		(struct fs_ring_shared *)((char *)region + ri->off);

	r->size = ri->size;
	r->mask = ri->size - 1;
	r->producer = &s->producer;
	r->consumer = &s->consumer;
	r->flags = &s->flags;
	r->desc = s->desc;
	r->cached_prod = 0;
	r->cached_cons = 0;
}

static inline struct fs_desc *fs_ring_desc(const struct fs_ring *r,
					   uint32_t idx)
{
	return (struct fs_desc *)r->desc + (idx & r->mask);
}

static inline uint64_t *fs_ring_addr(const struct fs_ring *r, uint32_t idx)
{
	return (uint64_t *)r->desc + (idx & r->mask);
}

/*
 * Producer side. How many entries could be written now, at least nb if the
 * cached consumer index says so; else it is refreshed from the peer. If the
 * peer's consumer index is impossible (more consumed than produced) the
 * ring counts as full and *bad is set.
 */
static inline uint32_t fs_prod_room(struct fs_ring *r, uint32_t nb, int *bad)
{
	uint32_t used = r->cached_prod - r->cached_cons;

	if (r->size - used < nb) {
		r->cached_cons = __atomic_load_n(r->consumer,
						 __ATOMIC_ACQUIRE); /* A */
		used = r->cached_prod - r->cached_cons;
		if (used > r->size) {
			if (bad)
				*bad = 1;
			/* Keep a sane value so the next refresh starts over. */
			r->cached_cons = r->cached_prod - r->size;
			return 0;
		}
	}
	return r->size - used;
}

/* Producer side. Returns how many of nb entries can be written from *idx
 * on, 0 if none (see fs_prod_room). */
static inline uint32_t fs_prod_reserve(struct fs_ring *r, uint32_t nb,
				       uint32_t *idx, int *bad)
{
	uint32_t room = fs_prod_room(r, nb, bad);

	if (nb > room)
		nb = room;
	*idx = r->cached_prod;
	r->cached_prod += nb;
	return nb;
}

static inline void fs_prod_submit(struct fs_ring *r)
{
	__atomic_store_n(r->producer, r->cached_prod, __ATOMIC_RELEASE); /* B */
}

/* Entries the producer has not had consumed yet, as last seen. */
static inline uint32_t fs_prod_pending(const struct fs_ring *r)
{
	return r->cached_prod - r->cached_cons;
}

/*
 * Consumer side. Returns how many of nb entries can be read from *idx on.
 * If the peer's producer index is impossible (more than size entries
 * outstanding) nothing is consumed and *bad is set.
 */
static inline uint32_t fs_cons_peek(struct fs_ring *r, uint32_t nb,
				    uint32_t *idx, int *bad)
{
	uint32_t avail = r->cached_prod - r->cached_cons;

	*idx = r->cached_cons; /* set even when nothing is available */
	if (avail < nb) {
		uint32_t prod = __atomic_load_n(r->producer,
						__ATOMIC_ACQUIRE); /* C */

		if (prod - r->cached_cons > r->size) {
			if (bad)
				*bad = 1;
			return 0;
		}
		r->cached_prod = prod;
		avail = prod - r->cached_cons;
	}
	if (nb > avail)
		nb = avail;
	*idx = r->cached_cons;
	return nb;
}

/* Whether the producer's index moved past what this side has taken: a
 * look before a batch, for rings that are mostly empty. It trusts nothing
 * (fs_cons_peek validates and orders). */
static inline int fs_cons_posted(const struct fs_ring *r)
{
	return r->cached_prod != r->cached_cons ||
	       __atomic_load_n(r->producer, __ATOMIC_RELAXED) != r->cached_cons;
}

static inline void fs_cons_release(struct fs_ring *r, uint32_t nb)
{
	r->cached_cons += nb;
	__atomic_store_n(r->consumer, r->cached_cons, __ATOMIC_RELEASE); /* D */
}

#endif /* FLIPSWITCH_RING_H */
