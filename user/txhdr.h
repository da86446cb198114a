/* SPDX-License-Identifier: MIT */
/*
 * The switch-private tail of the UMEM: where the header of every frame the
 * switch sends to the wire on a guest's behalf is written.
 *
 * Every guest maps its pool file and may write any frame of it at any
 * time. A frame for the wire must leave as the switch decided it: with the
 * source MAC it checked, the destination it classified, and the access
 * port's VLAN tag. Written into the guest's frame, these could be changed
 * by the guest between the switch's check and the kernel's (or the NIC's)
 * read. So they are written here instead: the UMEM goes on past the
 * pool's frames into an anonymous mapping of the daemon (pool.c maps it
 * right after them), which no guest maps, carved into slots.
 *
 * With AF_XDP multi-buffer (XDP_USE_SG at bind, txhdr.sg), a frame leaves
 * as two descriptors: the header from a slot (XDP_PKT_CONTD), then the
 * rest of the guest's frame, payload the guest may change until it is
 * read, as it always could. A frame that fits a slot is copied whole into
 * it instead (a copy of at most TXHDR_SLOT bytes costs less than a second
 * descriptor, and the guest's frame is free at once), while more than the
 * chained frames' share of slots is free. Without multi-buffer every frame
 * is copied whole, into a slot the size of a frame.
 *
 * Sizing: the tail is 2 * frames slots of TXHDR_SLOT bytes. A chained
 * frame holds a pool frame on the kernel's tx side until its completion,
 * so at most `frames` of them are in flight; whole copies may take the
 * other half (reserve). Without multi-buffer the tail holds frames / 8
 * frames (at 2048 bytes), and a frame that finds none free is dropped
 * (no_tx_slot).
 *
 * A slot is free on the free stack, or in flight (on a tx ring, in the
 * kernel, on a completion ring): completions give it back by its address
 * (txhdr_owns), whatever their order. Only the worker touches it.
 */
#ifndef FS_TXHDR_H
#define FS_TXHDR_H

#include <stdbool.h>
#include <stdint.h>

/* A slot's bytes with multi-buffer: an Ethernet header with a tag is 18;
 * frames up to 128 bytes with their tag are copied whole. A power of two
 * that divides every frame size. */
#define TXHDR_SLOT 128u

struct txhdr {
	unsigned char *mem;  /* the tail's mapping: UMEM offset base */
	uint64_t base;       /* the tail's UMEM offset: the pool's size */
	uint64_t size;       /* bytes */
	uint32_t slot;       /* bytes a slot */
	uint32_t n, n_free;
	uint32_t reserve;    /* whole copies only while more are free */
	uint64_t *free;      /* UMEM offsets of free slots */
	bool sg;             /* multi-buffer: headers chained */
};

/* The tail's bytes for a pool of `frames`: whole pages, so whole frames
 * of any frame size (the UMEM is a whole number of them). */
static inline uint64_t txhdr_bytes(uint32_t frames)
{
	return ((uint64_t)frames * 2 * TXHDR_SLOT + 4095) & ~(uint64_t)4095;
}

/* Takes the tail at mem (UMEM offset base, size bytes) and carves it for
 * multi-buffer. 0 or -ENOMEM. */
int txhdr_init(struct txhdr *t, unsigned char *mem, uint64_t base,
	       uint64_t size);
/* Carves it again, every slot free: slots of TXHDR_SLOT bytes with
 * multi-buffer (sg), else of frame_size (whole copies). */
void txhdr_carve(struct txhdr *t, bool sg, uint32_t frame_size);
void txhdr_fini(struct txhdr *t);

static inline bool txhdr_owns(const struct txhdr *t, uint64_t addr)
{
	return addr >= t->base;
}

/* A free slot's UMEM offset, or UINT64_MAX. */
static inline uint64_t txhdr_alloc(struct txhdr *t)
{
	return t->n_free ? t->free[--t->n_free] : UINT64_MAX;
}

/* A slot back, from any address inside it (a completion's). */
static inline void txhdr_free(struct txhdr *t, uint64_t addr)
{
	t->free[t->n_free++] = addr - ((addr - t->base) & (t->slot - 1));
}

static inline unsigned char *txhdr_data(const struct txhdr *t, uint64_t addr)
{
	return t->mem + (addr - t->base);
}

#endif /* FS_TXHDR_H */
