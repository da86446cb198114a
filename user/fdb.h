/* SPDX-License-Identifier: MIT */
/*
 * The MAC table: (MAC, VLAN) -> destination port.
 *
 * Open addressing with linear probing in a power-of-two table kept at most
 * half full, so a lookup touches one or two cache lines. The key packs the
 * MAC (its six bytes as they lie in memory, read as one little-endian
 * number: one load from a frame) and the VLAN into one u64; slot key 0
 * means empty, and an empty slot's port is -1, so the zero MAC finds
 * nothing. Deletion shifts later entries of the same probe run back, so
 * there are no tombstones and lookups never slow down.
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
	uint32_t shift;  /* 64 - log2(slots) */
	uint32_t n;
};

static inline uint64_t fdb_key(const uint8_t mac[6], uint16_t vlan)
{
	uint64_t k = (uint64_t)(vlan & 0xfff) << 48;

	for (int i = 0; i < 6; i++)
		k |= (uint64_t)mac[i] << (8 * i);
	return k;
}

/* fdb_key()'s inverse: the MAC and the vlan of a key, for listings. */
static inline void fdb_key_mac(uint64_t key, uint8_t mac[6])
{
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)(key >> (8 * i));
}

static inline uint16_t fdb_key_vlan(uint64_t key)
{
	return (uint16_t)((key >> 48) & 0xfff);
}

/* The same from a frame's first bytes (at least 8 readable): one load. */
static inline uint64_t fdb_key_frame(const uint8_t *d, uint16_t vlan)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	uint64_t k;

	memcpy(&k, d, 8);
	return (k & 0xffffffffffffULL) | (uint64_t)(vlan & 0xfff) << 48;
#else
	return fdb_key(d, vlan);
#endif
}

static inline uint32_t fdb_hash(const struct fdb *f, uint64_t key)
{
	/* Fibonacci hashing: the multiply mixes every key bit into the top
	 * bits, and only the top bits are mixed well (MACs that differ in
	 * their last bytes differ only in the product's high bits). */
	return (uint32_t)((key * 0x9e3779b97f4a7c15ULL) >> f->shift);
}

/* capacity: most entries; the table gets at least twice as many slots. */
int fdb_init(struct fdb *f, uint32_t capacity);
void fdb_fini(struct fdb *f);
/* 0, -EEXIST if the key is present, -ENOSPC if the table is full. */
int fdb_add(struct fdb *f, const uint8_t mac[6], uint16_t vlan, int32_t port,
	    enum fdb_kind kind);
/* 0 or -ENOENT. */
int fdb_del(struct fdb *f, const uint8_t mac[6], uint16_t vlan);

static inline int32_t fdb_lookup_key(const struct fdb *f, uint64_t key)
{
	uint32_t i = fdb_hash(f, key);

	for (;;) {
		const struct fdb_entry *e = &f->slot[i];

		/* An empty slot (key 0) says -1, even to the zero MAC. */
		if (e->key == key)
			return e->port;
		if (!e->key)
			return -1;
		i = (i + 1) & f->mask;
	}
}

/* The port for (mac, vlan), or -1. */
static inline int32_t fdb_lookup(const struct fdb *f, const uint8_t mac[6],
				 uint16_t vlan)
{
	return fdb_lookup_key(f, fdb_key(mac, vlan));
}

/* The same for a frame's destination MAC. */
static inline int32_t fdb_lookup_frame(const struct fdb *f, const uint8_t *d,
				       uint16_t vlan)
{
	return fdb_lookup_key(f, fdb_key_frame(d, vlan));
}

#endif /* FS_FDB_H */
