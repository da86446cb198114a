// SPDX-License-Identifier: MIT
/*
 * The guest ring ABI of include/flipswitch/ring.h over plain memory: layout
 * facts (indices and descriptors on separate cache lines), filling to exactly
 * full, partial reserves, the consumer seeing nothing before submit, release
 * freeing room, free-running u32 indices across the 2^32 wrap with data in
 * order, and the untrusted-index checks: a consumer index ahead of the
 * producer makes fs_prod_reserve() return 0 and set *bad, a producer index
 * more than the ring size ahead makes fs_cons_peek() return 0 and set *bad.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "flipswitch/ring.h"

#define RSIZE 8u

/* One ring in its own shared block, and a producer's and a consumer's
 * private view of it, as two processes would hold them. */
struct rig {
	unsigned char *mem;
	struct fs_ring_info info;
	struct fs_ring prod, cons;
	struct fs_ring_shared *sh;
};

static void rig_init(struct rig *r, uint32_t size, uint32_t desc_size)
{
	size_t bytes = sizeof(struct fs_ring_shared) + (size_t)size * desc_size;

	/* Put the ring at a cache-line-aligned offset, not at 0, so that the
	 * offset from the region start is really used. */
	r->mem = aligned_alloc(FS_CACHELINE, FS_CACHELINE * 4 + bytes);
	assert_non_null(r->mem);
	memset(r->mem, 0, FS_CACHELINE * 4 + bytes);
	r->info = (struct fs_ring_info){ .off = FS_CACHELINE * 4, .size = size,
					 .desc_size = desc_size };
	fs_ring_init(&r->prod, r->mem, &r->info);
	fs_ring_init(&r->cons, r->mem, &r->info);
	r->sh = (struct fs_ring_shared *)(r->mem + r->info.off);
}

/* Both sides start at index `start`, as if that many entries had passed. */
static void rig_start_at(struct rig *r, uint32_t start)
{
	r->sh->producer = start;
	r->sh->consumer = start;
	r->prod.cached_prod = r->prod.cached_cons = start;
	r->cons.cached_prod = r->cons.cached_cons = start;
}

static void rig_fini(struct rig *r)
{
	free(r->mem);
}

/* ---- layout -------------------------------------------------------------- */

static void test_layout(void **state)
{
	(void)state;
	assert_int_equal(sizeof(struct fs_desc), 16);
	assert_int_equal(offsetof(struct fs_desc, addr), 0);
	assert_int_equal(offsetof(struct fs_desc, len), 8);
	assert_int_equal(offsetof(struct fs_desc, options), 12);

	assert_int_equal(offsetof(struct fs_ring_shared, producer), 0);
	assert_int_equal(offsetof(struct fs_ring_shared, consumer), 64);
	assert_int_equal(offsetof(struct fs_ring_shared, flags), 68);
	assert_int_equal(offsetof(struct fs_ring_shared, spare), 128);
	assert_int_equal(offsetof(struct fs_ring_shared, desc), 192);
	assert_int_equal(_Alignof(struct fs_ring_shared), FS_CACHELINE);

	/* Producer, consumer and descriptors each on their own line, with
	 * the spare line between the indices and the descriptors. */
	size_t lp = offsetof(struct fs_ring_shared, producer) / FS_CACHELINE;
	size_t lc = offsetof(struct fs_ring_shared, consumer) / FS_CACHELINE;
	size_t lf = offsetof(struct fs_ring_shared, flags) / FS_CACHELINE;
	size_t ld = offsetof(struct fs_ring_shared, desc) / FS_CACHELINE;

	assert_true(lp != lc && lc != ld && lp != ld);
	assert_int_equal(lf, lc); /* flags: written by the consumer */
	assert_int_equal(ld - lc, 2);

	/* Header: switch-written and guest-written words on separate lines,
	 * the rest of the header before both. */
	size_t sw = offsetof(struct fs_region_hdr, switch_gen);
	size_t gr = offsetof(struct fs_region_hdr, guest_req);

	assert_int_equal(sw % FS_CACHELINE, 0);
	assert_int_equal(gr % FS_CACHELINE, 0);
	assert_int_equal(offsetof(struct fs_region_hdr, switch_state) / FS_CACHELINE,
			 sw / FS_CACHELINE);
	assert_int_equal(offsetof(struct fs_region_hdr, guest_ack) / FS_CACHELINE,
			 sw / FS_CACHELINE);
	assert_int_equal(gr / FS_CACHELINE, sw / FS_CACHELINE + 1);
	/* ABI 1.1: the doorbell words, each with its writer's other words. */
	assert_int_equal(offsetof(struct fs_region_hdr, switch_doorbell) / FS_CACHELINE,
			 sw / FS_CACHELINE);
	assert_int_equal(offsetof(struct fs_region_hdr, guest_flags) / FS_CACHELINE,
			 gr / FS_CACHELINE);
	/* The heartbeat, stored on every guest poll, is on a line of its
	 * own: the switch reads guest_req on every pass. */
	assert_int_equal(offsetof(struct fs_region_hdr, guest_beat) / FS_CACHELINE,
			 gr / FS_CACHELINE + 1);
	assert_int_equal(offsetof(struct fs_region_hdr, guest_beat) % FS_CACHELINE, 0);
	assert_true(offsetof(struct fs_region_hdr, tx) +
		    sizeof(struct fs_ring_info) <= sw);
	assert_int_equal(offsetof(struct fs_region_hdr, end) % FS_CACHELINE, 0);
	assert_true(sizeof(struct fs_region_hdr) <= 4096);

	/* The ring ABI's fixed numbers. */
	assert_int_equal(FS_REGION_MAGIC, 0x4843575350494c46ULL);
	assert_int_equal(FS_HEADROOM, 256);
	assert_int_equal(FS_ETH_HLEN, 14);
}

/* ring.h documents the magic as '"FLIPSWCH" in memory'; a guest written
 * in another language would compare those 8 bytes. (x86: little-endian.) */
static void test_magic_bytes(void **state)
{
	const uint64_t magic = FS_REGION_MAGIC;

	(void)state;
	assert_memory_equal(&magic, "FLIPSWCH", 8);
}

static void test_ring_init_and_slots(void **state)
{
	struct rig r;

	(void)state;
	rig_init(&r, RSIZE, sizeof(struct fs_desc));
	assert_int_equal(r.prod.size, RSIZE);
	assert_int_equal(r.prod.mask, RSIZE - 1);
	assert_ptr_equal(r.prod.producer, &r.sh->producer);
	assert_ptr_equal(r.prod.consumer, &r.sh->consumer);
	assert_ptr_equal(r.prod.flags, &r.sh->flags);
	assert_ptr_equal(r.prod.desc, r.mem + r.info.off + 192);
	assert_int_equal(r.prod.cached_prod, 0);
	assert_int_equal(r.prod.cached_cons, 0);

	/* Slot addresses use idx & mask with the descriptor's size. */
	assert_ptr_equal(fs_ring_desc(&r.prod, 0), r.prod.desc);
	assert_ptr_equal(fs_ring_desc(&r.prod, 3), r.prod.desc + 3 * 16);
	assert_ptr_equal(fs_ring_desc(&r.prod, RSIZE + 3), r.prod.desc + 3 * 16);
	assert_ptr_equal(fs_ring_desc(&r.prod, UINT32_MAX),
			 r.prod.desc + (RSIZE - 1) * 16);
	assert_ptr_equal(fs_ring_addr(&r.prod, 5), r.prod.desc + 5 * 8);
	assert_ptr_equal(fs_ring_addr(&r.prod, 2 * RSIZE + 5), r.prod.desc + 5 * 8);
	rig_fini(&r);

	/* fs_is_pow2 */
	static const struct { uint32_t n; int pow2; } p2[] = {
		{ 0, 0 }, { 1, 1 }, { 2, 1 }, { 3, 0 }, { 64, 1 }, { 96, 0 },
		{ 0x80000000u, 1 }, { 0xffffffffu, 0 },
	};
	for (size_t i = 0; i < sizeof(p2) / sizeof(p2[0]); i++)
		assert_int_equal(!!fs_is_pow2(p2[i].n), p2[i].pow2);
}

/* ---- producer / consumer ------------------------------------------------- */

static void test_fill_to_exactly_full(void **state)
{
	struct rig r;
	uint32_t idx = 12345, i;
	int bad = 0;

	(void)state;
	rig_init(&r, RSIZE, sizeof(uint64_t));
	for (i = 0; i < RSIZE; i++) {
		assert_int_equal(fs_prod_reserve(&r.prod, 1, &idx, &bad), 1);
		assert_int_equal(idx, i);
		*fs_ring_addr(&r.prod, idx) = 1000 + i;
		assert_int_equal(fs_prod_pending(&r.prod), i + 1);
	}
	/* Full: nothing more, whatever is asked, and not "bad". */
	idx = 12345;
	assert_int_equal(fs_prod_reserve(&r.prod, 1, &idx, &bad), 0);
	assert_int_equal(fs_prod_reserve(&r.prod, RSIZE, &idx, &bad), 0);
	assert_int_equal(fs_prod_reserve(&r.prod, 1, &idx, NULL), 0);
	assert_int_equal(bad, 0);
	assert_int_equal(r.prod.cached_prod, RSIZE);
	assert_int_equal(fs_prod_pending(&r.prod), RSIZE);

	fs_prod_submit(&r.prod);
	assert_int_equal(r.sh->producer, RSIZE);
	assert_int_equal(fs_cons_peek(&r.cons, 100, &idx, &bad), RSIZE);
	assert_int_equal(idx, 0);
	for (i = 0; i < RSIZE; i++)
		assert_int_equal(*fs_ring_addr(&r.cons, idx + i), 1000 + i);
	assert_int_equal(bad, 0);
	rig_fini(&r);
}

static void test_reserve_whole_ring_at_once(void **state)
{
	struct rig r;
	uint32_t idx;
	int bad = 0;

	(void)state;
	rig_init(&r, RSIZE, sizeof(uint64_t));
	assert_int_equal(fs_prod_reserve(&r.prod, RSIZE, &idx, &bad), RSIZE);
	assert_int_equal(idx, 0);
	assert_int_equal(fs_prod_reserve(&r.prod, 1, &idx, &bad), 0);
	assert_int_equal(bad, 0);
	rig_fini(&r);
}

/* Reserve `first`, then ask for `ask`: get min(ask, room). */
static const struct partial_case {
	uint32_t first, ask, got;
} partial_cases[] = {
	{ 0, 10, RSIZE },
	{ 5, 10, RSIZE - 5 },
	{ 5, 3, 3 },
	{ 7, 10, 1 },
	{ 7, 1, 1 },
	{ RSIZE, 10, 0 },
	{ 1, RSIZE, RSIZE - 1 },
};

static void test_partial_reserve(void **state)
{
	(void)state;
	for (size_t c = 0; c < sizeof(partial_cases) / sizeof(partial_cases[0]); c++) {
		const struct partial_case *pc = &partial_cases[c];
		struct rig r;
		uint32_t idx = 0xdead;
		int bad = 0;

		rig_init(&r, RSIZE, sizeof(uint64_t));
		if (pc->first) {
			assert_int_equal(fs_prod_reserve(&r.prod, pc->first, &idx, &bad),
					 pc->first);
			fs_prod_submit(&r.prod);
		}
		idx = 0xdead;
		assert_int_equal(fs_prod_reserve(&r.prod, pc->ask, &idx, &bad), pc->got);
		if (pc->got)
			assert_int_equal(idx, pc->first);
		assert_int_equal(r.prod.cached_prod, pc->first + pc->got);
		assert_int_equal(bad, 0);
		rig_fini(&r);
	}
}

static void test_consumer_sees_nothing_before_submit(void **state)
{
	struct rig r;
	uint32_t idx, i;
	int bad = 0;

	(void)state;
	rig_init(&r, RSIZE, sizeof(struct fs_desc));
	assert_int_equal(fs_cons_peek(&r.cons, 4, &idx, &bad), 0);

	assert_int_equal(fs_prod_reserve(&r.prod, 3, &idx, &bad), 3);
	for (i = 0; i < 3; i++)
		*fs_ring_desc(&r.prod, idx + i) =
			(struct fs_desc){ .addr = 4096 * (i + 1), .len = 60 + i };
	/* Written but not submitted: the shared producer is still 0. */
	assert_int_equal(r.sh->producer, 0);
	assert_int_equal(fs_cons_peek(&r.cons, 4, &idx, &bad), 0);
	assert_int_equal(fs_cons_peek(&r.cons, 1, &idx, &bad), 0);

	fs_prod_submit(&r.prod);
	assert_int_equal(r.sh->producer, 3);
	assert_int_equal(fs_cons_peek(&r.cons, 4, &idx, &bad), 3);
	assert_int_equal(idx, 0);
	for (i = 0; i < 3; i++) {
		const struct fs_desc *d = fs_ring_desc(&r.cons, idx + i);

		assert_int_equal(d->addr, 4096 * (i + 1));
		assert_int_equal(d->len, 60 + i);
		assert_int_equal(d->options, 0);
	}
	/* Peeking does not consume: the same entries again. */
	assert_int_equal(fs_cons_peek(&r.cons, 2, &idx, &bad), 2);
	assert_int_equal(idx, 0);
	assert_int_equal(r.sh->consumer, 0);
	fs_cons_release(&r.cons, 2);
	assert_int_equal(r.sh->consumer, 2);
	assert_int_equal(fs_cons_peek(&r.cons, 4, &idx, &bad), 1);
	assert_int_equal(idx, 2);
	fs_cons_release(&r.cons, 1);
	assert_int_equal(fs_cons_peek(&r.cons, 4, &idx, &bad), 0);
	assert_int_equal(bad, 0);
	rig_fini(&r);
}

static void test_release_frees_room(void **state)
{
	struct rig r;
	uint32_t idx;
	int bad = 0;

	(void)state;
	rig_init(&r, RSIZE, sizeof(uint64_t));
	assert_int_equal(fs_prod_reserve(&r.prod, RSIZE, &idx, &bad), RSIZE);
	fs_prod_submit(&r.prod);
	assert_int_equal(fs_prod_reserve(&r.prod, 1, &idx, &bad), 0);

	/* Peeked but not released: still no room. */
	assert_int_equal(fs_cons_peek(&r.cons, 3, &idx, &bad), 3);
	assert_int_equal(fs_prod_reserve(&r.prod, 1, &idx, &bad), 0);

	fs_cons_release(&r.cons, 3);
	assert_int_equal(fs_prod_reserve(&r.prod, 10, &idx, &bad), 3);
	assert_int_equal(idx, RSIZE);
	assert_int_equal(fs_prod_pending(&r.prod), RSIZE);
	assert_int_equal(fs_prod_reserve(&r.prod, 1, &idx, &bad), 0);
	fs_prod_submit(&r.prod);

	/* The consumer now sees the 5 left plus the 3 new ones. */
	assert_int_equal(fs_cons_peek(&r.cons, 100, &idx, &bad), RSIZE);
	assert_int_equal(idx, 3);
	fs_cons_release(&r.cons, RSIZE);
	assert_int_equal(fs_prod_reserve(&r.prod, 100, &idx, &bad), RSIZE);
	assert_int_equal(idx, RSIZE + 3);
	assert_int_equal(bad, 0);
	rig_fini(&r);
}

/* ---- wrap-around of the free-running indices ----------------------------- */

static const uint32_t wrap_starts[] = {
	0, 0xfffffff0u, 0xfffffffau, 0xfffffffdu, UINT32_MAX, 0x7ffffffcu,
};
/* Batch sizes the producer asks for in turn; the consumer takes 1..5. */
static const uint32_t wrap_batches[] = { 3, 5, 1, 8, 2, 7, 4, 6 };

static void test_wrap_around(void **state)
{
	(void)state;
	for (size_t s = 0; s < sizeof(wrap_starts) / sizeof(wrap_starts[0]); s++) {
		const uint32_t start = wrap_starts[s];
		const uint32_t total = 200;
		uint32_t pushed = 0, popped = 0, b = 0, take = 1, idx, n, i;
		uint32_t rounds = 0;
		int bad = 0;
		struct rig r;

		rig_init(&r, RSIZE, sizeof(struct fs_desc));
		rig_start_at(&r, start);
		while (popped < total) {
			uint32_t want = wrap_batches[b++ % 8];

			if (++rounds > 10 * total)
				fail_msg("start %#x: no progress, %u pushed, %u popped",
					 start, pushed, popped);

			if (want > total - pushed)
				want = total - pushed;
			n = want ? fs_prod_reserve(&r.prod, want, &idx, &bad) : 0;
			if (n)
				assert_int_equal(idx, start + pushed);
			for (i = 0; i < n; i++) {
				struct fs_desc *d = fs_ring_desc(&r.prod, idx + i);

				d->addr = 0x100000000ull + pushed + i;
				d->len = pushed + i;
				d->options = 0;
			}
			pushed += n;
			fs_prod_submit(&r.prod);
			assert_int_equal(r.sh->producer, (uint32_t)(start + pushed));

			n = fs_cons_peek(&r.cons, take, &idx, &bad);
			take = take % 5 + 1;
			if (n)
				assert_int_equal(idx, (uint32_t)(start + popped));
			for (i = 0; i < n; i++) {
				const struct fs_desc *d = fs_ring_desc(&r.cons, idx + i);

				assert_int_equal(d->addr, 0x100000000ull + popped + i);
				assert_int_equal(d->len, popped + i);
			}
			popped += n;
			if (n)
				fs_cons_release(&r.cons, n);
			assert_true(pushed - popped <= RSIZE);
		}
		assert_int_equal(pushed, total);
		assert_int_equal(popped, total);
		assert_int_equal(r.sh->producer, (uint32_t)(start + total));
		assert_int_equal(r.sh->consumer, (uint32_t)(start + total));
		assert_int_equal(bad, 0);
		rig_fini(&r);
	}
}

/* Filling to exactly full and emptying across the wrap. */
static void test_full_across_wrap(void **state)
{
	struct rig r;
	uint32_t idx, i;
	int bad = 0;

	(void)state;
	rig_init(&r, RSIZE, sizeof(uint64_t));
	rig_start_at(&r, 0xfffffffcu);
	assert_int_equal(fs_prod_reserve(&r.prod, 100, &idx, &bad), RSIZE);
	assert_int_equal(idx, 0xfffffffcu);
	for (i = 0; i < RSIZE; i++)
		*fs_ring_addr(&r.prod, idx + i) = i;
	fs_prod_submit(&r.prod);
	assert_int_equal(r.sh->producer, 4);
	assert_int_equal(fs_prod_reserve(&r.prod, 1, &idx, &bad), 0);
	assert_int_equal(fs_cons_peek(&r.cons, 100, &idx, &bad), RSIZE);
	assert_int_equal(idx, 0xfffffffcu);
	for (i = 0; i < RSIZE; i++)
		assert_int_equal(*fs_ring_addr(&r.cons, idx + i), i);
	fs_cons_release(&r.cons, RSIZE);
	assert_int_equal(r.sh->consumer, 4);
	assert_int_equal(fs_prod_reserve(&r.prod, 100, &idx, &bad), RSIZE);
	assert_int_equal(idx, 4);
	assert_int_equal(bad, 0);
	rig_fini(&r);
}

/* ---- untrusted indices --------------------------------------------------- */

/* The producer has `produced` entries out from `start`; the peer writes
 * consumer = start + cons_delta (mod 2^32). */
static const struct bad_cons_case {
	const char *name;
	uint32_t start, produced;
	uint32_t cons_delta;
	int bad;
	uint32_t got; /* reserve(RSIZE) */
} bad_cons_cases[] = {
	{ "one past the producer", 0, 4, 5, 1, 0 },
	{ "far past the producer", 0, 4, 1000, 1, 0 },
	{ "half the index space ahead", 0, 4, 0x80000000u, 1, 0 },
	{ "past the producer across the wrap", 0xfffffffeu, 4, 5, 1, 0 },
	{ "full ring, one past", 0, RSIZE, RSIZE + 1, 1, 0 },
	{ "equal to the producer (all consumed)", 0, 4, 4, 0, RSIZE },
	{ "equal across the wrap", 0xfffffffeu, 4, 4, 0, RSIZE },
	{ "nothing consumed", 0, 4, 0, 0, RSIZE - 4 },
	{ "some consumed", 0xfffffffeu, 6, 3, 0, RSIZE - 3 },
};

static void test_bad_consumer_index(void **state)
{
	(void)state;
	for (size_t c = 0; c < sizeof(bad_cons_cases) / sizeof(bad_cons_cases[0]); c++) {
		const struct bad_cons_case *bc = &bad_cons_cases[c];
		uint32_t idx = 0xdead;
		int bad = 0;
		struct rig r;

		print_message("  case: %s\n", bc->name);
		rig_init(&r, RSIZE, sizeof(uint64_t));
		rig_start_at(&r, bc->start);
		assert_int_equal(fs_prod_reserve(&r.prod, bc->produced, &idx, &bad),
				 bc->produced);
		fs_prod_submit(&r.prod);
		r.sh->consumer = bc->start + bc->cons_delta;

		idx = 0xdead;
		assert_int_equal(fs_prod_reserve(&r.prod, RSIZE, &idx, &bad), bc->got);
		assert_int_equal(bad, bc->bad);
		if (bc->bad) {
			/* Nothing handed out; the ring counts as full. */
			assert_int_equal(r.prod.cached_prod, bc->start + bc->produced);
			assert_int_equal(fs_prod_pending(&r.prod), RSIZE);
			/* Again, with bad == NULL as a guest calls it. */
			assert_int_equal(fs_prod_reserve(&r.prod, 1, &idx, NULL), 0);
			/* A sane consumer index again: the ring works. */
			r.sh->consumer = bc->start + bc->produced;
			bad = 0;
			assert_int_equal(fs_prod_reserve(&r.prod, RSIZE, &idx, &bad),
					 RSIZE);
			assert_int_equal(idx, bc->start + bc->produced);
			assert_int_equal(bad, 0);
		} else if (bc->got) {
			assert_int_equal(idx, bc->start + bc->produced);
		}
		rig_fini(&r);
	}
}

/* The consumer is at start + consumed; the peer writes producer =
 * start + prod_delta. */
static const struct bad_prod_case {
	const char *name;
	uint32_t start, consumed;
	uint32_t prod_delta;
	int bad;
	uint32_t got; /* peek(100) */
} bad_prod_cases[] = {
	{ "size + 1 ahead", 0, 0, RSIZE + 1, 1, 0 },
	{ "far ahead", 0, 0, 100000, 1, 0 },
	{ "size + 1 ahead across the wrap", 0xfffffffcu, 0, RSIZE + 1, 1, 0 },
	{ "behind the consumer", 0, 3, 2, 1, 0 },
	{ "behind the consumer across the wrap", 0xfffffffeu, 3, 1, 1, 0 },
	{ "exactly size ahead", 0, 0, RSIZE, 0, RSIZE },
	{ "exactly size ahead across the wrap", 0xfffffffcu, 0, RSIZE, 0, RSIZE },
	{ "size ahead of a moved consumer", 0xfffffffcu, 3, 3 + RSIZE, 0, RSIZE },
	{ "equal", 0, 3, 3, 0, 0 },
};

static void test_bad_producer_index(void **state)
{
	(void)state;
	for (size_t c = 0; c < sizeof(bad_prod_cases) / sizeof(bad_prod_cases[0]); c++) {
		const struct bad_prod_case *bc = &bad_prod_cases[c];
		uint32_t idx = 0xdead;
		int bad = 0;
		struct rig r;

		print_message("  case: %s\n", bc->name);
		rig_init(&r, RSIZE, sizeof(uint64_t));
		rig_start_at(&r, bc->start);
		if (bc->consumed) {
			r.sh->producer = bc->start + bc->consumed;
			assert_int_equal(fs_cons_peek(&r.cons, bc->consumed, &idx, &bad),
					 bc->consumed);
			fs_cons_release(&r.cons, bc->consumed);
		}
		r.sh->producer = bc->start + bc->prod_delta;

		idx = 0xdead;
		assert_int_equal(fs_cons_peek(&r.cons, 100, &idx, &bad), bc->got);
		assert_int_equal(bad, bc->bad);
		/* Nothing was consumed either way. */
		assert_int_equal(r.sh->consumer, bc->start + bc->consumed);
		assert_int_equal(r.cons.cached_cons, bc->start + bc->consumed);
		if (bc->bad) {
			assert_int_equal(fs_cons_peek(&r.cons, 1, &idx, NULL), 0);
			/* A sane producer index again: the ring works. */
			r.sh->producer = bc->start + bc->consumed + 2;
			bad = 0;
			assert_int_equal(fs_cons_peek(&r.cons, 100, &idx, &bad), 2);
			assert_int_equal(idx, bc->start + bc->consumed);
			assert_int_equal(bad, 0);
		} else if (bc->got) {
			assert_int_equal(idx, bc->start + bc->consumed);
		}
		rig_fini(&r);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_magic_bytes),
		cmocka_unit_test(test_ring_init_and_slots),
		cmocka_unit_test(test_fill_to_exactly_full),
		cmocka_unit_test(test_reserve_whole_ring_at_once),
		cmocka_unit_test(test_partial_reserve),
		cmocka_unit_test(test_consumer_sees_nothing_before_submit),
		cmocka_unit_test(test_release_frees_room),
		cmocka_unit_test(test_wrap_around),
		cmocka_unit_test(test_full_across_wrap),
		cmocka_unit_test(test_bad_consumer_index),
		cmocka_unit_test(test_bad_producer_index),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
