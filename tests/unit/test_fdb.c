// SPDX-License-Identifier: MIT
/*
 * The MAC table (user/fdb.c): add, lookup and delete; the same MAC on
 * different VLANs as distinct keys; -EEXIST, -ENOENT, -ENOSPC and the
 * reserved all-zero key; backward-shift deletion on hand-built collision
 * chains (also across the end of the table); and randomized operation
 * sequences with a fixed seed against a plain reference array, checking
 * after every operation that every present key maps to its port and every
 * absent key is missing.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fdb.h"

static void mac_of(uint32_t n, uint8_t mac[6])
{
	mac[0] = 0x52;
	mac[1] = 0x54;
	mac[2] = 0x00;
	mac[3] = (uint8_t)(n >> 16);
	mac[4] = (uint8_t)(n >> 8);
	mac[5] = (uint8_t)n;
}

/* Entries in the table, by walking its slots. */
static uint32_t occupied(const struct fdb *f)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i <= f->mask; i++)
		n += f->slot[i].key != 0;
	return n;
}

/* The slot holding key, or -1. */
static int slot_of(const struct fdb *f, uint64_t key)
{
	for (uint32_t i = 0; i <= f->mask; i++)
		if (f->slot[i].key == key)
			return (int)i;
	return -1;
}

static void test_key_packing(void **state)
{
	static const uint8_t a[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
	static const uint8_t zero[6] = { 0 };

	/* A frame: the destination MAC, then the source's first bytes. */
	static const uint8_t frame[8] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56,
					  0xff, 0xee };

	(void)state;
	/* The six bytes as a little-endian number, the VLAN above. */
	assert_int_equal(fdb_key(a, 0), 0x563412005452ULL);
	assert_int_equal(fdb_key(a, 10), 0x000a563412005452ULL);
	assert_int_equal(fdb_key(a, 4094), 0x0ffe563412005452ULL);
	assert_int_equal(fdb_key(a, 0x1001), 0x0001563412005452ULL);
	assert_int_equal(fdb_key(zero, 0), 0);
	assert_int_equal(fdb_key(zero, 1), 1ULL << 48);
	/* And back, for listings. */
	for (uint16_t vlan = 0; vlan < 4095; vlan += 273) {
		uint8_t m[6];

		fdb_key_mac(fdb_key(a, vlan), m);
		assert_memory_equal(m, a, 6);
		assert_int_equal(fdb_key_vlan(fdb_key(a, vlan)), vlan);
	}
	/* From a frame: the same key, whatever follows the MAC. */
	for (uint16_t vlan = 0; vlan < 4096; vlan += 273)
		assert_int_equal(fdb_key_frame(frame, vlan), fdb_key(a, vlan));
}

/* The zero MAC is never in the table and finds nothing, though its key is
 * the empty slot's. */
static void test_zero_mac_finds_nothing(void **state)
{
	static const uint8_t zero[8] = { 0 };
	static const uint8_t a[6] = { 0x52, 0x54, 0, 0, 0, 1 };
	struct fdb f;

	(void)state;
	assert_int_equal(fdb_init(&f, 8), 0);
	assert_int_equal(fdb_lookup(&f, zero, 0), -1);
	assert_int_equal(fdb_add(&f, zero, 0, 3, FDB_STATIC), -EINVAL);
	assert_int_equal(fdb_add(&f, a, 0, 0, FDB_STATIC), 0);
	assert_int_equal(fdb_lookup_frame(&f, zero, 0), -1);
	assert_int_equal(fdb_del(&f, a, 0), 0);
	/* A slot emptied by a delete says -1 too. */
	assert_int_equal(fdb_lookup_frame(&f, zero, 0), -1);
	fdb_fini(&f);
}

static void test_init_sizes(void **state)
{
	static const struct { uint32_t capacity, slots; } cases[] = {
		{ 0, 16 }, { 1, 16 }, { 8, 16 }, { 9, 32 }, { 10, 32 },
		{ 16, 32 }, { 17, 64 }, { 1024, 2048 }, { 1025, 4096 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fdb f;

		assert_int_equal(fdb_init(&f, cases[i].capacity), 0);
		assert_int_equal(f.mask + 1, cases[i].slots);
		assert_int_equal(f.n, 0);
		assert_int_equal(occupied(&f), 0);
		fdb_fini(&f);
		assert_null(f.slot);
	}
}

static void test_add_lookup_del(void **state)
{
	struct fdb f;
	uint8_t m1[6], m2[6], m3[6];

	(void)state;
	mac_of(1, m1);
	mac_of(2, m2);
	mac_of(3, m3);
	assert_int_equal(fdb_init(&f, 16), 0);
	assert_int_equal(fdb_lookup(&f, m1, 0), -1);

	assert_int_equal(fdb_add(&f, m1, 0, 7, FDB_STATIC), 0);
	assert_int_equal(fdb_add(&f, m2, 0, 0, FDB_LEARNED), 0);
	assert_int_equal(f.n, 2);
	assert_int_equal(fdb_lookup(&f, m1, 0), 7);
	assert_int_equal(fdb_lookup(&f, m2, 0), 0); /* port 0 is a port */
	assert_int_equal(fdb_lookup(&f, m3, 0), -1);

	int s = slot_of(&f, fdb_key(m2, 0));

	assert_true(s >= 0);
	assert_int_equal(f.slot[s].kind, FDB_LEARNED);
	assert_int_equal(f.slot[s].port, 0);

	/* Duplicate: refused, the first entry is kept. */
	assert_int_equal(fdb_add(&f, m1, 0, 9, FDB_LEARNED), -EEXIST);
	assert_int_equal(fdb_lookup(&f, m1, 0), 7);
	assert_int_equal(f.n, 2);

	assert_int_equal(fdb_del(&f, m1, 0), 0);
	assert_int_equal(f.n, 1);
	assert_int_equal(fdb_lookup(&f, m1, 0), -1);
	assert_int_equal(fdb_lookup(&f, m2, 0), 0);
	assert_int_equal(fdb_del(&f, m1, 0), -ENOENT);
	assert_int_equal(fdb_del(&f, m3, 0), -ENOENT);
	assert_int_equal(f.n, 1);

	/* Re-add with another port. */
	assert_int_equal(fdb_add(&f, m1, 0, 3, FDB_STATIC), 0);
	assert_int_equal(fdb_lookup(&f, m1, 0), 3);
	assert_int_equal(f.n, 2);
	assert_int_equal(occupied(&f), 2);
	fdb_fini(&f);
}

static void test_vlans_are_distinct(void **state)
{
	static const uint16_t vlans[] = { 0, 1, 2, 100, 4094 };
	const size_t nv = sizeof(vlans) / sizeof(vlans[0]);
	struct fdb f;
	uint8_t m[6];

	(void)state;
	mac_of(0x42, m);
	assert_int_equal(fdb_init(&f, 16), 0);
	for (size_t i = 0; i < nv; i++) {
		assert_int_equal(fdb_add(&f, m, vlans[i], (int32_t)(10 + i), FDB_STATIC), 0);
		for (size_t j = 0; j < nv; j++)
			assert_int_equal(fdb_lookup(&f, m, vlans[j]),
					 j <= i ? (int32_t)(10 + j) : -1);
	}
	assert_int_equal(fdb_add(&f, m, 100, 99, FDB_STATIC), -EEXIST);
	assert_int_equal(f.n, nv);

	/* Delete VLAN 1 only. */
	assert_int_equal(fdb_del(&f, m, 1), 0);
	assert_int_equal(fdb_lookup(&f, m, 1), -1);
	assert_int_equal(fdb_del(&f, m, 1), -ENOENT);
	assert_int_equal(fdb_del(&f, m, 5), -ENOENT);
	for (size_t j = 0; j < nv; j++)
		if (vlans[j] != 1)
			assert_int_equal(fdb_lookup(&f, m, vlans[j]), (int32_t)(10 + j));
	assert_int_equal(f.n, nv - 1);
	fdb_fini(&f);
}

/* The table holds half its slots; the capacity given to fdb_init always
 * fits (the slot count is rounded up, so sometimes more fits). */
static void test_full_table(void **state)
{
	static const struct { uint32_t capacity, fits; } cases[] = {
		{ 1, 8 }, { 8, 8 }, { 10, 16 }, { 16, 16 }, { 100, 128 },
	};

	(void)state;
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct fdb f;
		uint8_t m[6];
		uint32_t i;

		assert_int_equal(fdb_init(&f, cases[c].capacity), 0);
		for (i = 0; i < cases[c].fits; i++) {
			mac_of(i + 1, m);
			assert_int_equal(fdb_add(&f, m, 0, (int32_t)i, FDB_LEARNED), 0);
		}
		assert_true(cases[c].fits >= cases[c].capacity);
		mac_of(i + 1, m);
		assert_int_equal(fdb_add(&f, m, 0, 0, FDB_LEARNED), -ENOSPC);
		assert_int_equal(fdb_add(&f, m, 7, 0, FDB_LEARNED), -ENOSPC);
		assert_int_equal(f.n, cases[c].fits);
		assert_int_equal(occupied(&f), cases[c].fits);
		/* A duplicate of a present key, when full. */
		mac_of(1, m);
		int rc = fdb_add(&f, m, 0, 0, FDB_LEARNED);

		assert_true(rc == -ENOSPC || rc == -EEXIST);
		/* Everything still there; a delete makes room for one. */
		for (i = 0; i < cases[c].fits; i++) {
			mac_of(i + 1, m);
			assert_int_equal(fdb_lookup(&f, m, 0), (int32_t)i);
		}
		mac_of(3, m);
		assert_int_equal(fdb_del(&f, m, 0), 0);
		mac_of(cases[c].fits + 1, m);
		assert_int_equal(fdb_add(&f, m, 0, 1000, FDB_LEARNED), 0);
		assert_int_equal(fdb_lookup(&f, m, 0), 1000);
		mac_of(cases[c].fits + 2, m);
		assert_int_equal(fdb_add(&f, m, 0, 0, FDB_LEARNED), -ENOSPC);
		fdb_fini(&f);
	}
}

/* 00:00:00:00:00:00 on VLAN 0 packs to key 0, the empty-slot marker. */
static void test_zero_key_add(void **state)
{
	static const uint8_t zero[6] = { 0 };
	struct fdb f;

	(void)state;
	assert_int_equal(fdb_init(&f, 16), 0);
	assert_int_equal(fdb_add(&f, zero, 0, 1, FDB_STATIC), -EINVAL);
	assert_int_equal(f.n, 0);
	assert_int_equal(occupied(&f), 0);
	/* On another VLAN the key is not 0: an ordinary entry. */
	assert_int_equal(fdb_add(&f, zero, 5, 1, FDB_STATIC), 0);
	assert_int_equal(fdb_lookup(&f, zero, 5), 1);
	assert_int_equal(fdb_del(&f, zero, 5), 0);
	assert_int_equal(f.n, 0);
	assert_int_equal(fdb_lookup(&f, zero, 5), -1);
	fdb_fini(&f);
}

/* A frame to 00:00:00:00:00:00 on VLAN 0 has no port: the switch looks its
 * destination up with fdb_lookup() (user/sw_pass.c from_nic, from_vm), and
 * any port >= 0 sends it to that VM, whatever VLAN the VM is on. */
static void test_zero_key_lookup(void **state)
{
	static const uint8_t zero[6] = { 0 };
	struct fdb f;
	uint8_t m[6];

	(void)state;
	assert_int_equal(fdb_init(&f, 16), 0);
	assert_int_equal(fdb_lookup(&f, zero, 0), -1);
	/* VM 0 on VLAN 10, VM 1 untagged. */
	mac_of(1, m);
	assert_int_equal(fdb_add(&f, m, 10, 0, FDB_STATIC), 0);
	mac_of(2, m);
	assert_int_equal(fdb_add(&f, m, 0, 1, FDB_STATIC), 0);
	assert_int_equal(fdb_lookup(&f, zero, 0), -1);
	fdb_fini(&f);
}

/* Deleting the key that can never be added must say -ENOENT and leave the
 * table alone (header: "0 or -ENOENT"). */
static void test_zero_key_del(void **state)
{
	static const uint8_t zero[6] = { 0 };
	struct fdb f;
	uint8_t m[6];

	(void)state;
	assert_int_equal(fdb_init(&f, 16), 0);
	for (uint32_t i = 1; i <= 4; i++) {
		mac_of(i, m);
		assert_int_equal(fdb_add(&f, m, 0, (int32_t)i, FDB_STATIC), 0);
	}
	assert_int_equal(fdb_del(&f, zero, 0), -ENOENT);
	assert_int_equal(f.n, 4);
	assert_int_equal(occupied(&f), 4);
	fdb_fini(&f);

	/* On an empty table n must not wrap around. */
	assert_int_equal(fdb_init(&f, 16), 0);
	assert_int_equal(fdb_del(&f, zero, 0), -ENOENT);
	assert_int_equal(f.n, 0);
	fdb_fini(&f);
}

/* ---- collision chains ---------------------------------------------------- */

/* Finds `n` MACs (VLAN 0) whose home slot in `f` is `home`. */
static void macs_homed_at(const struct fdb *f, uint32_t home, uint32_t n,
			  uint8_t macs[][6])
{
	uint32_t found = 0;

	for (uint32_t i = 1; found < n && i < 1000000; i++) {
		uint8_t m[6];

		mac_of(i, m);
		if (fdb_hash(f, fdb_key(m, 0)) == home)
			memcpy(macs[found++], m, 6);
	}
	assert_int_equal(found, n);
}

/* Three keys with one home: A at h, B at h+1, C at h+2, plus D homed at
 * h+1 (so at h+3). Deleting A must pull B, C and D back by one. */
static void test_backward_shift_chain(void **state)
{
	static const uint32_t homes[] = { 3, 14, 15 }; /* 14, 15: across the end */

	(void)state;
	for (size_t hc = 0; hc < sizeof(homes) / sizeof(homes[0]); hc++) {
		const uint32_t h = homes[hc];
		uint8_t same[3][6], next[1][6];
		struct fdb f;

		assert_int_equal(fdb_init(&f, 8), 0); /* 16 slots */
		macs_homed_at(&f, h, 3, same);
		macs_homed_at(&f, (h + 1) & f.mask, 1, next);
		assert_int_equal(fdb_add(&f, same[0], 0, 0, FDB_LEARNED), 0);
		assert_int_equal(fdb_add(&f, same[1], 0, 1, FDB_LEARNED), 0);
		assert_int_equal(fdb_add(&f, same[2], 0, 2, FDB_LEARNED), 0);
		assert_int_equal(fdb_add(&f, next[0], 0, 3, FDB_LEARNED), 0);
		assert_int_equal(slot_of(&f, fdb_key(same[0], 0)), (int)h);
		assert_int_equal(slot_of(&f, fdb_key(same[1], 0)), (int)((h + 1) & f.mask));
		assert_int_equal(slot_of(&f, fdb_key(same[2], 0)), (int)((h + 2) & f.mask));
		assert_int_equal(slot_of(&f, fdb_key(next[0], 0)), (int)((h + 3) & f.mask));

		assert_int_equal(fdb_del(&f, same[0], 0), 0);
		assert_int_equal(f.n, 3);
		assert_int_equal(fdb_lookup(&f, same[0], 0), -1);
		assert_int_equal(fdb_lookup(&f, same[1], 0), 1);
		assert_int_equal(fdb_lookup(&f, same[2], 0), 2);
		assert_int_equal(fdb_lookup(&f, next[0], 0), 3);
		assert_int_equal(slot_of(&f, fdb_key(same[1], 0)), (int)h);
		assert_int_equal(slot_of(&f, fdb_key(same[2], 0)), (int)((h + 1) & f.mask));
		assert_int_equal(slot_of(&f, fdb_key(next[0], 0)), (int)((h + 2) & f.mask));
		assert_int_equal(f.slot[(h + 3) & f.mask].key, 0);

		/* Delete from the middle: D (homed h+1) may move to h+1. */
		assert_int_equal(fdb_del(&f, same[1], 0), 0);
		assert_int_equal(fdb_lookup(&f, same[2], 0), 2);
		assert_int_equal(fdb_lookup(&f, next[0], 0), 3);
		assert_int_equal(slot_of(&f, fdb_key(same[2], 0)), (int)h);
		assert_int_equal(slot_of(&f, fdb_key(next[0], 0)), (int)((h + 1) & f.mask));
		assert_int_equal(occupied(&f), 2);
		fdb_fini(&f);
	}
}

/* An entry at its home slot right after the deleted one must stay. */
static void test_backward_shift_keeps_home_entries(void **state)
{
	uint8_t a[2][6], b[1][6], c[1][6];
	struct fdb f;

	(void)state;
	assert_int_equal(fdb_init(&f, 8), 0);
	macs_homed_at(&f, 5, 2, a);  /* at 5 and 6 */
	macs_homed_at(&f, 7, 1, b);  /* at its home 7 */
	macs_homed_at(&f, 6, 1, c);  /* home 6, pushed to 8 */
	assert_int_equal(fdb_add(&f, a[0], 0, 10, FDB_STATIC), 0);
	assert_int_equal(fdb_add(&f, a[1], 0, 11, FDB_STATIC), 0);
	assert_int_equal(fdb_add(&f, b[0], 0, 12, FDB_STATIC), 0);
	assert_int_equal(fdb_add(&f, c[0], 0, 13, FDB_STATIC), 0);
	assert_int_equal(slot_of(&f, fdb_key(c[0], 0)), 8);

	assert_int_equal(fdb_del(&f, a[0], 0), 0);
	/* a1 -> 5; b stays at 7 (home); c (home 6) -> 6. */
	assert_int_equal(slot_of(&f, fdb_key(a[1], 0)), 5);
	assert_int_equal(slot_of(&f, fdb_key(b[0], 0)), 7);
	assert_int_equal(slot_of(&f, fdb_key(c[0], 0)), 6);
	assert_int_equal(f.slot[8].key, 0);
	assert_int_equal(fdb_lookup(&f, a[1], 0), 11);
	assert_int_equal(fdb_lookup(&f, b[0], 0), 12);
	assert_int_equal(fdb_lookup(&f, c[0], 0), 13);
	fdb_fini(&f);
}

/* ---- randomized against a reference -------------------------------------- */

struct ref_key {
	uint8_t mac[6];
	uint16_t vlan;
	int present;
	int32_t port;
};

static uint64_t rng_state;

static uint32_t rnd(void)
{
	/* xorshift64*: the same sequence on every libc. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * 0x2545f4914f6cdd1dULL) >> 32);
}

static const struct rand_case {
	uint64_t seed;
	uint32_t capacity;  /* fdb_init */
	uint32_t macs;      /* distinct MACs drawn from */
	uint32_t vlans;     /* each on VLANs 0 .. vlans-1 */
	uint32_t ops;
	uint32_t add_pct;   /* % of operations that are adds; the rest del */
} rand_cases[] = {
	{ 1, 8, 10, 2, 2000, 60 },     /* 16 slots, 20 keys: full often */
	{ 42, 16, 20, 3, 2000, 55 },   /* 32 slots */
	{ 7, 64, 60, 3, 2000, 70 },    /* 128 slots, 180 keys */
	{ 99, 8, 64, 1, 2000, 50 },    /* one VLAN, 64 keys for 16 slots */
	{ 2024, 128, 200, 2, 3000, 65 },
};

static void check_against_ref(const struct fdb *f, const struct ref_key *ref,
			      uint32_t nkeys, uint32_t present, uint32_t op)
{
	if (f->n != present)
		fail_msg("op %u: n is %u, the reference holds %u", op, f->n, present);
	if (occupied(f) != present)
		fail_msg("op %u: %u slots used, the reference holds %u", op,
			 occupied(f), present);
	for (uint32_t k = 0; k < nkeys; k++) {
		int32_t got = fdb_lookup(f, ref[k].mac, ref[k].vlan);
		int32_t want = ref[k].present ? ref[k].port : -1;

		if (got != want)
			fail_msg("op %u: key %u (vlan %u) looks up to %d, not %d",
				 op, k, ref[k].vlan, got, want);
	}
}

static void test_random_against_reference(void **state)
{
	(void)state;
	for (size_t c = 0; c < sizeof(rand_cases) / sizeof(rand_cases[0]); c++) {
		const struct rand_case *rc = &rand_cases[c];
		uint32_t nkeys = rc->macs * rc->vlans, present = 0;
		uint32_t adds = 0, dels = 0, enospc = 0, eexist = 0, enoent = 0;
		uint32_t displaced_max = 0, shifted_dels = 0;
		struct ref_key *ref = calloc(nkeys, sizeof(*ref));
		struct fdb f;

		assert_non_null(ref);
		rng_state = rc->seed * 0x9e3779b97f4a7c15ULL + 1;
		for (uint32_t k = 0; k < nkeys; k++) {
			mac_of(k / rc->vlans + 1, ref[k].mac);
			ref[k].vlan = (uint16_t)(k % rc->vlans);
		}
		assert_int_equal(fdb_init(&f, rc->capacity), 0);
		const uint32_t limit = (f.mask + 1) / 2;

		for (uint32_t op = 0; op < rc->ops; op++) {
			uint32_t k = rnd() % nkeys;
			struct ref_key *r = &ref[k];

			if (rnd() % 100 < rc->add_pct) {
				int32_t port = (int32_t)(rnd() % 256);
				int got = fdb_add(&f, r->mac, r->vlan, port,
						  FDB_LEARNED);
				int want = r->present ? -EEXIST :
					   present >= limit ? -ENOSPC : 0;

				/* A duplicate in a full table may say either. */
				if (r->present && present >= limit &&
				    got == -ENOSPC)
					want = -ENOSPC;
				if (got != want)
					fail_msg("op %u: add key %u gave %d, not %d",
						 op, k, got, want);
				if (!got) {
					r->present = 1;
					r->port = port;
					present++;
					adds++;
				}
				enospc += got == -ENOSPC;
				eexist += got == -EEXIST;
			} else {
				/* Would the delete have to shift anything? */
				int s = slot_of(&f, fdb_key(r->mac, r->vlan));

				if (s >= 0 && f.slot[(s + 1) & f.mask].key)
					shifted_dels++;
				int got = fdb_del(&f, r->mac, r->vlan);
				int want = r->present ? 0 : -ENOENT;

				if (got != want)
					fail_msg("op %u: del key %u gave %d, not %d",
						 op, k, got, want);
				if (!got) {
					r->present = 0;
					present--;
					dels++;
				}
				enoent += got == -ENOENT;
			}
			check_against_ref(&f, ref, nkeys, present, op);
			for (uint32_t i = 0; i <= f.mask; i++) {
				uint32_t d;

				if (!f.slot[i].key)
					continue;
				d = (i - fdb_hash(&f, f.slot[i].key)) & f.mask;
				if (d > displaced_max)
					displaced_max = d;
			}
		}
		print_message("  seed %llu: %u adds, %u dels (%u next to a run), %u ENOSPC, %u EEXIST, %u ENOENT, longest displacement %u\n",
			      (unsigned long long)rc->seed, adds, dels,
			      shifted_dels, enospc, eexist, enoent, displaced_max);
		/* The sequence really exercised what it is meant to. */
		assert_true(adds > 100);
		assert_true(dels > 100);
		assert_true(eexist > 0);
		assert_true(enoent > 0);
		assert_true(displaced_max >= 2);
		assert_true(shifted_dels > 20);
		fdb_fini(&f);
		free(ref);
	}
}

/* MACs numbered in their last bytes, as configs number VMs (and the
 * switch's own table of CFG_MAX_VMS * 4 entries): each found within a few
 * slots of its home, as for random keys. A hash that keeps the product's
 * middle bits homes them on a handful of slots. */
static void test_numbered_macs_spread(void **state)
{
	static const struct { uint32_t n, step; uint16_t vlan; } cases[] = {
		{ 256, 1, 0 },        /* 52:54:00:00:00:00 .. :00:ff */
		{ 1024, 1, 0 },
		{ 256, 0x100, 0 },    /* the fourth byte counts */
		{ 256, 1, 100 },      /* on a VLAN */
	};

	(void)state;
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct fdb f;
		uint32_t worst = 0, total = 0;

		assert_int_equal(fdb_init(&f, 1024), 0);
		for (uint32_t i = 0; i < cases[c].n; i++) {
			uint8_t m[6];

			mac_of(i * cases[c].step, m);
			assert_int_equal(fdb_add(&f, m, cases[c].vlan, (int32_t)i,
						 FDB_STATIC), 0);
		}
		for (uint32_t i = 0; i <= f.mask; i++) {
			uint32_t d;

			if (!f.slot[i].key)
				continue;
			d = (i - fdb_hash(&f, f.slot[i].key)) & f.mask;
			total += d;
			if (d > worst)
				worst = d;
		}
		print_message("  %u MACs step %u vlan %u: displacement mean %.2f, longest %u\n",
			      cases[c].n, cases[c].step, cases[c].vlan,
			      (double)total / cases[c].n, worst);
		assert_true(worst <= 8);
		assert_true(total <= cases[c].n / 2);
		fdb_fini(&f);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key_packing),
		cmocka_unit_test(test_zero_mac_finds_nothing),
		cmocka_unit_test(test_init_sizes),
		cmocka_unit_test(test_add_lookup_del),
		cmocka_unit_test(test_vlans_are_distinct),
		cmocka_unit_test(test_full_table),
		cmocka_unit_test(test_zero_key_add),
		cmocka_unit_test(test_zero_key_lookup),
		cmocka_unit_test(test_zero_key_del),
		cmocka_unit_test(test_backward_shift_chain),
		cmocka_unit_test(test_backward_shift_keeps_home_entries),
		cmocka_unit_test(test_random_against_reference),
		cmocka_unit_test(test_numbered_macs_spread),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
