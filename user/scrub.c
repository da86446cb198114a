// SPDX-License-Identifier: MIT
/*
 * Scrub's table and its zeroing; see scrub.h for what it keeps and why.
 * Only the worker calls into it (and sw_fini, after the worker stopped).
 */
#include <errno.h>
#include <stdlib.h>

#include "scrub.h"

int scrub_init(struct scrub *s, unsigned char *base, uint32_t n_frames,
	       uint32_t frame_size, enum cfg_scrub mode)
{
	memset(s, 0, sizeof(*s));
	s->base = base;
	s->shift = (uint32_t)__builtin_ctz(frame_size);
	s->frame_size = frame_size;
	s->n_frames = n_frames;
	s->mode = mode;
	s->fr = calloc(n_frames, sizeof(*s->fr));
	return s->fr ? 0 : -ENOMEM;
}

void scrub_fini(struct scrub *s)
{
	free(s->fr);
	s->fr = NULL;
}

void scrub_zero_stale(struct scrub *s, uint32_t frame, uint32_t lo,
		      uint32_t hi)
{
	unsigned char *f = s->base + ((uint64_t)frame << s->shift);
	uint32_t d = s->fr[frame].dirty, dlo = d & 0xffff, dhi = d >> 16, n = 0;

	/* The ranges are kept under "off" too (one compare per reuse, like
	 * the other modes), as unions, since nothing is zeroed: scrub_all
	 * zeroes them at exit. */
	if (s->mode == CFG_SCRUB_OFF) {
		scrub_note(s, frame, lo, hi);
		return;
	}
	/* glibc's memset uses the widest stores the CPU has. */
	if (d) {
		if (dlo < lo) {
			uint32_t end = dhi < lo ? dhi : lo;

			memset(f + dlo, 0, end - dlo);
			n += end - dlo;
		}
		if (dhi > hi) {
			uint32_t start = dlo > hi ? dlo : hi;

			memset(f + start, 0, dhi - start);
			n += dhi - start;
		}
	}
	if (n) {
		s->frames++;
		s->bytes += n;
	}
	s->fr[frame].dirty = SCRUB_RANGE(lo, hi);
}

void scrub_all(struct scrub *s)
{
	for (uint32_t i = 0; i < s->n_frames; i++) {
		uint32_t d = s->fr[i].dirty, lo = d & 0xffff, hi = d >> 16;

		if (!d)
			continue;
		s->fr[i].dirty = 0;
		memset(s->base + ((uint64_t)i << s->shift) + lo, 0, hi - lo);
		s->frames++;
		s->bytes += hi - lo;
	}
}
