/* SPDX-License-Identifier: MIT */
/*
 * The pool: one shared-memory file of fixed-size frames, the UMEM of every
 * AF_XDP socket and the memory every guest of the pool maps.
 *
 * Ownership. Every frame has exactly one owner at every instant, recorded in
 * a switch-private table (guests cannot write it; the records of scrub.h):
 *   POOL_OWN_SWITCH  the switch: its free list, or in its hands mid-batch
 *   POOL_OWN_FILL    the kernel: an AF_XDP fill ring, or received and not
 *                    yet read from an rx ring
 *   POOL_OWN_TX      the kernel: an AF_XDP tx ring, until its completion
 *   POOL_OWN_VM(i)   VM i: in its rx or alloc ring, or held by the guest
 * Per-owner counts always sum to the number of frames; between batches the
 * switch's count equals the free list's length. pool_check() recounts the
 * table and verifies both; the debug build runs it continuously.
 *
 * Every transfer from an untrusted side names the owner it expects
 * (pool_move): a guest can only hand over frames that the table says it
 * owns, so a guest can neither free a frame twice nor give away another
 * VM's frame. The hot paths move whole bursts whose owner they know
 * (pool_set_owner, then pool_count_move once per burst).
 *
 * Scrub (scrub.h) keeps, per frame, the bytes that may hold data of an
 * earlier use; the pool owns its table and zeroes a frame through it when
 * the frame is lent to a guest (pool_lend_burst). Every other reuse is the
 * user's to announce (scrub_reuse on the pool's scrub).
 */
#ifndef FS_POOL_H
#define FS_POOL_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "config.h"
#include "scrub.h"
#include "txhdr.h"

enum {
	POOL_OWN_SWITCH = 0,
	POOL_OWN_FILL,
	POOL_OWN_TX,
	POOL_OWN_VM0,
};
#define POOL_OWN_VM(i) ((uint16_t)(POOL_OWN_VM0 + (i)))
#define POOL_OWNERS(n_vms) (POOL_OWN_VM0 + (n_vms))

struct xsk_umem;

struct pool {
	char name[32];         /* cfg_pool.name: "default", or as configured */
	int index;             /* in the switch's pools (cfg.pools) */
	char path[PATH_MAX];
	int fd;
	unsigned char *base;
	uint64_t size;         /* frames * frame_size: the UMEM */
	uint64_t file_size;    /* size rounded up to a power of two */
	bool created;          /* the file did not exist before */
	uint32_t frames;
	uint32_t frame_size;
	uint32_t shift;        /* log2(frame_size) */
	bool hugetlb;

	/* Per frame, its owner in .owner: the scrub's table (scrub.h), its
	 * records' other half the frames' ranges. */
	struct scrub_rec *fr;
	uint32_t *count;       /* per owner */
	uint32_t n_owners;
	struct scrub scrub;    /* the table and its counters */

	uint64_t *free_stack;  /* frame base offsets */
	uint32_t n_free;
	/* Free frames the fill rings leave alone, for alloc rings and
	 * broadcast copies: without it the NIC's fill rings could take the
	 * whole pool and no guest could ever transmit. */
	uint32_t fill_reserve;

	struct xsk_umem *umem; /* pool_umem_create, with the first socket */
	int guard;             /* its shmguard slot (shmguard.h), -1: none */
	/* The UMEM's switch-private tail, right after the frames: header
	 * slots for frames to the wire (txhdr.h). The pool file's mapping
	 * and the tail's are one reservation of the address space. */
	struct txhdr txh;
	void *resv;
	uint64_t resv_len;
};

/* Bytes of the pool file: frames * frame_size rounded up to a power of two
 * (it is a PCI BAR in a QEMU guest; the UMEM need not be). */
/* The smallest power of two >= n (n > 0). */
static inline uint64_t pool_pow2_roundup(uint64_t n)
{
	while (n & (n - 1))
		n += n & -n;
	return n;
}

static inline uint64_t pool_file_size(uint32_t frames, uint32_t frame_size)
{
	return pool_pow2_roundup((uint64_t)frames * frame_size);
}

/* Creates (or truncates) and maps the pool file, all frames free.
 * pool_destroy deletes the UMEM too: the sockets on it must be closed. */
int pool_create(struct pool *p, const struct cfg_pool *c, uint32_t max_vms);
void pool_destroy(struct pool *p);

struct xsk_ring_prod;
struct xsk_ring_cons;

/* Registers the pool and its private tail as the UMEM of every AF_XDP
 * socket, with the first
 * socket: the UMEM's fill and completion rings (ring_size entries) become
 * fq and cq, that socket's. 0 or -errno. pool_umem_destroy undoes it (a
 * no-op without a UMEM): after a failed first bind, whose rings cannot be
 * used again, and by pool_destroy. */
int pool_umem_create(struct pool *p, uint32_t ring_size,
		     struct xsk_ring_prod *fq, struct xsk_ring_cons *cq);
void pool_umem_destroy(struct pool *p);

static inline uint32_t pool_frame(const struct pool *p, uint64_t addr)
{
	return (uint32_t)(addr >> p->shift);
}

static inline uint64_t pool_frame_addr(const struct pool *p, uint32_t frame)
{
	return (uint64_t)frame << p->shift;
}

static inline uint32_t pool_offset_in_frame(const struct pool *p,
					    uint64_t addr)
{
	return (uint32_t)(addr & (p->frame_size - 1));
}

static inline void *pool_data(const struct pool *p, uint64_t addr)
{
	return p->base + addr;
}

/* Moves a frame from owner `from` to owner `to`. -EPERM if `from` does not
 * own it (the caller counts that as a bad descriptor), leaving it alone. */
static inline int pool_move(struct pool *p, uint32_t frame, uint16_t from,
			    uint16_t to)
{
	if (p->fr[frame].owner != from)
		return -EPERM;
	p->fr[frame].owner = to;
	p->count[from]--;
	p->count[to]++;
	return 0;
}

/* The unchecked halves of pool_move, for bursts whose owner the caller
 * knows: the table entry per frame, the counts once per burst. Hot loops
 * keep p->fr in a local (stores through other u32 pointers would make
 * the compiler reload it every frame). */
static inline void pool_set_owner(struct pool *p, uint32_t frame, uint16_t to)
{
	p->fr[frame].owner = to;
}

static inline void pool_count_move(struct pool *p, uint16_t from, uint16_t to,
				   uint32_t n)
{
	p->count[from] -= n;
	p->count[to] += n;
}

/* Takes a free frame (owner stays POOL_OWN_SWITCH); returns its base
 * offset, or UINT64_MAX if the free list is empty. */
static inline uint64_t pool_alloc(struct pool *p)
{
	return p->n_free ? p->free_stack[--p->n_free] : UINT64_MAX;
}

/* Puts a frame the switch owns, already scrubbed, on the free list. */
static inline void pool_free(struct pool *p, uint64_t addr)
{
	p->free_stack[p->n_free++] = addr & ~(uint64_t)(p->frame_size - 1);
}

/* Puts a frame the switch has taken back on the free list; it is scrubbed
 * when it is used again (scrub_reuse, scrub_frame). */
static inline void pool_recycle(struct pool *p, uint32_t frame)
{
	pool_free(p, pool_frame_addr(p, frame));
}

/*
 * Bursts: the free list's side of a ring's batch, one count move for all.
 * The loops keep the pool's fields in locals (see pool_set_owner) and are
 * inlined into the callers' loops over their rings.
 *
 * pool_alloc_burst: n frames (n <= n_free) off the free list to owner
 * `to`, their base offsets written to ring[(idx + i) & mask], in
 * pool_alloc's order. pool_lend_burst: the same for a guest, each frame
 * scrubbed whole first (scrub_frame): a guest may send any part of a frame
 * it is lent.
 */
static inline __attribute__((always_inline)) void
__pool_alloc_burst(struct pool *p, uint16_t to, uint64_t *ring, uint32_t mask,
		   uint32_t idx, uint32_t n, bool scrub)
{
	uint64_t *top = p->free_stack + p->n_free;
	struct scrub_rec *fr = p->fr;
	uint32_t shift = p->shift;

	p->n_free -= n;
	for (uint32_t i = 0; i < n; i++) {
		uint64_t addr = *--top;
		uint32_t frame = (uint32_t)(addr >> shift);

		if (scrub)
			scrub_frame(&p->scrub, frame);
		fr[frame].owner = to;
		ring[(idx + i) & mask] = addr;
	}
	pool_count_move(p, POOL_OWN_SWITCH, to, n);
}

static inline __attribute__((always_inline)) void
pool_alloc_burst(struct pool *p, uint16_t to, uint64_t *ring, uint32_t mask,
		 uint32_t idx, uint32_t n)
{
	__pool_alloc_burst(p, to, ring, mask, idx, n, false);
}

static inline __attribute__((always_inline)) void
pool_lend_burst(struct pool *p, uint16_t to, uint64_t *ring, uint32_t mask,
		uint32_t idx, uint32_t n)
{
	__pool_alloc_burst(p, to, ring, mask, idx, n, true);
}

/*
 * Frames taken back in a burst, each checked by the caller (a guest's free
 * ring): pool_recycle_begin gives the free list's top; the caller sets the
 * owner table entry of each frame it takes to POOL_OWN_SWITCH and stores
 * its base offset at *top++ (at most frames - n_free of them, which holds
 * while the counts do); pool_recycle_end counts the k stored as moved from
 * `from` and returns k. Frames a guest held are marked dirty whole under
 * scrub "full" (scrub_from_guest).
 */
static inline uint64_t *pool_recycle_begin(struct pool *p)
{
	return p->free_stack + p->n_free;
}

static inline __attribute__((always_inline)) uint32_t
pool_recycle_end(struct pool *p, uint16_t from, const uint64_t *top)
{
	const uint64_t *start = p->free_stack + p->n_free;
	uint32_t k = (uint32_t)(top - start);

	if (from >= POOL_OWN_VM0 && p->scrub.mode == CFG_SCRUB_FULL)
		for (uint32_t i = 0; i < k; i++)
			scrub_from_guest(&p->scrub, pool_frame(p, start[i]));
	p->n_free += k;
	pool_count_move(p, from, POOL_OWN_SWITCH, k);
	return k;
}

/* n frames owner `from` is known to hold (the kernel's completion ring),
 * their addresses at ring[(idx + i) & mask], back on the free list; an
 * address in the private tail is a header slot's, back to its own. */
static inline __attribute__((always_inline)) void
pool_recycle_burst(struct pool *p, uint16_t from, const uint64_t *ring,
		   uint32_t mask, uint32_t idx, uint32_t n)
{
	uint64_t *top = pool_recycle_begin(p);
	struct scrub_rec *fr = p->fr;
	uint32_t shift = p->shift;

	for (uint32_t i = 0; i < n; i++) {
		uint64_t addr = ring[(idx + i) & mask];
		uint32_t frame = (uint32_t)(addr >> shift);

		if (txhdr_owns(&p->txh, addr)) {
			txhdr_free(&p->txh, addr);
			continue;
		}

		fr[frame].owner = POOL_OWN_SWITCH;
		*top++ = (uint64_t)frame << shift;
	}
	pool_recycle_end(p, from, top);
}

/* Whether anything is on the kernel's tx side: every frame for the wire
 * takes a header slot (txhdr.h), a whole copy no pool frame. */
static inline bool pool_tx_busy(const struct pool *p)
{
	return p->txh.n_free != p->txh.n || p->count[POOL_OWN_TX];
}

/* Takes back every frame owner `who` holds: moves each to the switch and
 * frees it. Returns how many. */
uint32_t pool_reclaim(struct pool *p, uint16_t who);

/* Recounts the owner table. 0 if the counts match the table, sum to
 * `frames`, and (when between batches) the switch's count equals the free
 * list's length; -1 otherwise, with a description in msg. */
int pool_check(const struct pool *p, bool between_batches, char *msg,
	       size_t msglen);

#endif /* FS_POOL_H */
