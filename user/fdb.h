/* SPDX-License-Identifier: MIT */
/*
 * The MAC table: (MAC, VLAN) -> destination port.
 *
 * Open addressing with linear probing in a power-of-two table kept at most
 * half full, so a lookup touches one or two cache lines. The key packs the
 * MAC and VLAN into one u64; slot key 0 means empty (MAC 00:00:00:00:00:00
 * is never a valid station). Deletion shifts later entries of the same
 * probe run back, so there are no tombstones and lookups never slow down.
 */
#ifndef FS_FDB_H
#define FS_FDB_H

#include <stdint.h>
#include <string.h>

enum fdb_kind { FDB_STATIC = 0, FDB_LEARNED = 1 };

struct fdb_entry {
	uint64_t key;   /* fdb_key(); 0 = empty */
	int32_t port;   /* VM index */
	uint32_t kind;  /* enum fdb_kind */
};

struct fdb {
	struct fdb_entry *slot;
	uint32_t mask;
	uint32_t n;
};

static inline uint64_t fdb_key(const uint8_t mac[6], uint16_t vlan)
{
	uint32_t hi;
	uint16_t lo;

	/* Two loads and two byte swaps rather than six loads and shifts:
	 * the key is the MAC read as a big-endian 48-bit number. */
	memcpy(&hi, mac, 4);
	memcpy(&lo, mac + 4, 2);
	return (uint64_t)__builtin_bswap32(hi) << 16 | __builtin_bswap16(lo) |
	       (uint64_t)(vlan & 0xfff) << 48;
}

static inline uint32_t fdb_hash(const struct fdb *f, uint64_t key)
{
	/* Fibonacci hashing: the multiply mixes every key bit into the top. */
	return (uint32_t)((key * 0x9e3779b97f4a7c15ULL) >> 32) & f->mask;
}

/* capacity: most entries; the table gets at least twice as many slots. */
int fdb_init(struct fdb *f, uint32_t capacity);
void fdb_fini(struct fdb *f);
/* 0, -EEXIST if the key is present, -ENOSPC if the table is full. */
int fdb_add(struct fdb *f, const uint8_t mac[6], uint16_t vlan, int32_t port,
	    enum fdb_kind kind);
/* 0 or -ENOENT. */
int fdb_del(struct fdb *f, const uint8_t mac[6], uint16_t vlan);

/* The port for (mac, vlan), or -1. */
static inline int32_t fdb_lookup(const struct fdb *f, const uint8_t mac[6],
				 uint16_t vlan)
{
	uint64_t key = fdb_key(mac, vlan);
	uint32_t i = fdb_hash(f, key);

	for (;;) {
		const struct fdb_entry *e = &f->slot[i];

		/* Empty first: key 0 (the zero MAC) must not match a hole. */
		if (!e->key)
			return -1;
		if (e->key == key)
			return e->port;
		i = (i + 1) & f->mask;
	}
}

#endif /* FS_FDB_H */
