// SPDX-License-Identifier: MIT
/*
 * The header slots of the UMEM's private tail; see txhdr.h for why and
 * how many.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "txhdr.h"

int txhdr_init(struct txhdr *t, unsigned char *mem, uint64_t base,
	       uint64_t size)
{
	memset(t, 0, sizeof(*t));
	t->mem = mem;
	t->base = base;
	t->size = size;
	/* The most slots any carving makes. */
	t->free = calloc(size / TXHDR_SLOT, sizeof(*t->free));
	if (!t->free)
		return -ENOMEM;
	txhdr_carve(t, true, 0);
	return 0;
}

void txhdr_carve(struct txhdr *t, bool sg, uint32_t frame_size)
{
	t->sg = sg;
	t->slot = sg ? TXHDR_SLOT : frame_size;
	t->n = (uint32_t)(t->size / t->slot);
	/* Chained frames may need half the slots; whole copies without
	 * multi-buffer have them all. */
	t->reserve = sg ? t->n / 2 : 0;
	/* Pushed in reverse: the first slot is used first. */
	t->n_free = 0;
	for (uint32_t i = t->n; i-- > 0;)
		t->free[t->n_free++] = t->base + (uint64_t)i * t->slot;
}

void txhdr_fini(struct txhdr *t)
{
	free(t->free);
	t->free = NULL;
	t->n = t->n_free = 0;
}
