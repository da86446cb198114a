/* SPDX-License-Identifier: MIT */
/*
 * Scrub: no byte of one use of a frame reaches the next user, guest or
 * wire (cfg scrub: "off", "used", "full").
 *
 * Per frame, scrub keeps the byte range that may hold data of an earlier
 * use (dirty: packets it carried, and under "full" the whole frame once a
 * guest had it). A frame is scrubbed when it is used again, not when it
 * comes back: scrub_reuse() zeroes the dirty bytes the new packet does
 * not overwrite, so its next user sees nothing but its own packet. Frames
 * of the same size in a row cost no zeroing at all; a short packet after
 * a long one zeroes the difference. A frame lent to a guest, who may send
 * any part of it, is zeroed whole (scrub_frame).
 *
 * Every guest of a pool maps the whole pool, so within a pool zeroing
 * hides nothing a guest could not read anyway: the default is "off". What
 * must not cross is data between trust domains: across pools only a
 * packet's bytes are copied, and at exit every dirty byte is zeroed
 * whatever the policy (scrub_all), for whoever maps the file next.
 *
 * Invariants: a frame's range covers every byte written since it was last
 * zeroed, whoever wrote it (scrub_note for the switch's writes,
 * scrub_from_guest for a guest's under "full"); ranges are kept under
 * "off" too, only the zeroing on reuse is skipped. Owned by the pool (struct
 * pool's scrub), its ranges written only through these calls (the table's
 * records carry the pool's owners too, struct scrub_rec); frames are at
 * most 4096 bytes, so a range fits lo | hi << 16.
 */
#ifndef FS_SCRUB_H
#define FS_SCRUB_H

#include <stdint.h>
#include <string.h>

#include "config.h"

/* A frame's record in the table: scrub's range and, beside it, the
 * frame's owner (pool.h), the pool's to read and write, never scrub's. A
 * frame from a NIC has its range read and its owner written, one given
 * back its owner read and written: in one table, one line of it a frame,
 * where a table each took two. 8 bytes, 8 records a line. */
struct scrub_rec {
	/* Bytes [lo, hi) that may hold data of an earlier use, as
	 * SCRUB_RANGE(lo, hi) (0: clean). */
	uint32_t dirty;
	uint16_t owner;        /* POOL_OWN_*: whose the frame is (pool.h) */
	uint16_t unused;
};

struct scrub {
	unsigned char *base;   /* the pool's first frame */
	uint32_t shift;        /* log2(frame_size) */
	uint32_t frame_size;
	uint32_t n_frames;
	enum cfg_scrub mode;
	struct scrub_rec *fr;  /* per frame, every record zeroed at first:
				  clean, and POOL_OWN_SWITCH's */
	uint64_t frames;       /* frames zeroed (in part or whole) */
	uint64_t bytes;        /* bytes zeroed */
};

#define SCRUB_RANGE(lo, hi) ((uint32_t)(lo) | (uint32_t)(hi) << 16)

/* Every frame clean. 0 or -ENOMEM; scrub_fini frees what it made. */
int scrub_init(struct scrub *s, unsigned char *base, uint32_t n_frames,
	       uint32_t frame_size, enum cfg_scrub mode);
void scrub_fini(struct scrub *s);

/* Records that bytes [lo, hi) of the frame may hold packet data. */
static inline void scrub_note(struct scrub *s, uint32_t frame, uint32_t lo,
			      uint32_t hi)
{
	uint32_t d = s->fr[frame].dirty;

	if (d) {
		if ((d & 0xffff) < lo)
			lo = d & 0xffff;
		if (d >> 16 > hi)
			hi = d >> 16;
	}
	s->fr[frame].dirty = SCRUB_RANGE(lo, hi);
}

/* Zeroes the frame's dirty bytes outside [lo, hi), lo < hi, and marks
 * [lo, hi) as its only data; under "off", adds [lo, hi) to its data. */
void scrub_zero_stale(struct scrub *s, uint32_t frame, uint32_t lo,
		      uint32_t hi);

/*
 * The frame is about to be used again, with bytes [lo, hi) (offsets in the
 * frame, lo < hi) just written or about to be: the bytes of earlier uses
 * that those do not cover are zeroed. A frame carrying packets of one size
 * in a row costs one compare.
 */
static inline void scrub_reuse(struct scrub *s, uint32_t frame, uint32_t lo,
			       uint32_t hi)
{
	if (s->fr[frame].dirty != SCRUB_RANGE(lo, hi))
		scrub_zero_stale(s, frame, lo, hi);
}

/* Zeroes every byte of the frame that may hold data: it is clean (a frame
 * lent to a guest, who may send any part of it). Inline: a frame is lent
 * for every frame a guest sends. */
static inline void scrub_frame(struct scrub *s, uint32_t frame)
{
	uint32_t d = s->fr[frame].dirty, lo = d & 0xffff, hi = d >> 16;

	/* Under "off" the range stays, for scrub_all. */
	if (!d || s->mode == CFG_SCRUB_OFF)
		return;
	s->fr[frame].dirty = 0;
	memset(s->base + ((uint64_t)frame << s->shift) + lo, 0, hi - lo);
	s->frames++;
	s->bytes += hi - lo;
}

/* A frame a guest held: under "full" any byte of it may hold data. */
static inline void scrub_from_guest(struct scrub *s, uint32_t frame)
{
	if (s->mode == CFG_SCRUB_FULL)
		s->fr[frame].dirty = SCRUB_RANGE(0, s->frame_size);
}

/* Zeroes every frame's dirty bytes whatever the policy, so the pool file
 * keeps no packet (at exit): whoever maps the file next is another trust
 * domain, which "off" (within a pool, zeroing hides nothing) does not
 * cover. */
void scrub_all(struct scrub *s);

/* Zeroes the counters (their one writer, the worker, calls it). */
static inline void scrub_clear_counters(struct scrub *s)
{
	s->frames = s->bytes = 0;
}

#endif /* FS_SCRUB_H */
