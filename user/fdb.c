// SPDX-License-Identifier: MIT
/* The MAC table; see fdb.h. */
#include <errno.h>
#include <stdlib.h>

#include "fdb.h"

int fdb_init(struct fdb *f, uint32_t capacity)
{
	uint32_t slots = 16, bits = 4;

	while (slots < 2 * capacity) {
		slots <<= 1;
		bits++;
	}
	f->slot = calloc(slots, sizeof(*f->slot));
	if (!f->slot)
		return -ENOMEM;
	for (uint32_t i = 0; i < slots; i++)
		f->slot[i].port = -1;
	f->mask = slots - 1;
	f->shift = 64 - bits;
	f->n = 0;
	return 0;
}

void fdb_fini(struct fdb *f)
{
	free(f->slot);
	f->slot = NULL;
}

int fdb_add(struct fdb *f, const uint8_t mac[6], uint16_t vlan, int32_t port,
	    enum fdb_kind kind)
{
	uint64_t key = fdb_key(mac, vlan);
	uint32_t i = fdb_hash(f, key);

	if (!key)
		return -EINVAL;
	/* Keep the table at most half full: probe runs stay short. */
	if (2 * (f->n + 1) > f->mask + 1)
		return -ENOSPC;
	while (f->slot[i].key) {
		if (f->slot[i].key == key)
			return -EEXIST;
		i = (i + 1) & f->mask;
	}
	f->slot[i] = (struct fdb_entry){ .key = key, .port = port, .kind = kind };
	f->n++;
	return 0;
}

int fdb_del(struct fdb *f, const uint8_t mac[6], uint16_t vlan)
{
	uint64_t key = fdb_key(mac, vlan);
	uint32_t i = fdb_hash(f, key), j;

	if (!key)
		return -ENOENT;
	while (f->slot[i].key != key) {
		if (!f->slot[i].key)
			return -ENOENT;
		i = (i + 1) & f->mask;
	}
	/* Backward-shift deletion: move up every later entry of the run whose
	 * home slot is not in (i, j], so no lookup ever meets a hole before
	 * its key. */
	for (j = (i + 1) & f->mask; f->slot[j].key; j = (j + 1) & f->mask) {
		uint32_t home = fdb_hash(f, f->slot[j].key);

		if (((j - home) & f->mask) >= ((j - i) & f->mask)) {
			f->slot[i] = f->slot[j];
			i = j;
		}
	}
	f->slot[i] = (struct fdb_entry){ .port = -1 };
	f->n--;
	return 0;
}
