// SPDX-License-Identifier: MIT
/*
 * VM ports (user/vmport.c): the guest to the switch. Every bad-input class
 * on the tx and free rings with exact counters, bad ring indices, and the
 * scrub of frames used again on a guest's round trip.
 * After each case the owner table: pool_check() ok, no frame leaked, the
 * VM holding exactly the frames expected (vmport_fx.h).
 */
#include "vmport_fx.h"

/* ---- tx ring: every bad-input class -------------------------------------- */

enum ref {
	OWN0, OWN1, OWN2, OWN3, /* the 4 frames the VM holds */
	OTHER_VM,               /* a frame of VM 1 */
	KERNEL,                 /* a frame in the fill ring */
	FREE_FRAME,             /* a frame on the switch's free list */
	RAW,                    /* addr as given */
};

struct tx_spec {
	enum ref ref;
	uint64_t off;   /* added to the frame's base (RAW: the address) */
	uint32_t len;
	uint32_t options;
};

struct tx_case {
	const char *name;
	uint32_t n;
	struct tx_spec d[8];
	uint32_t accepted;
	uint64_t drops[VM_DROP_NR];
	uint32_t held_after; /* of the 4 */
};

#define POOL_BYTES ((uint64_t)FRAMES * FSIZE)

static const struct tx_case tx_cases[] = {
	{ "good", 1, { { OWN0, 256, 60, 0 } }, 1, { 0 }, 3 },
	{ "good, smallest", 1, { { OWN0, 256, 14, 0 } }, 1, { 0 }, 3 },
	{ "good, the whole frame", 1, { { OWN0, 0, FSIZE, 0 } }, 1, { 0 }, 3 },
	{ "good, to the frame's end", 1, { { OWN0, 256, FSIZE - 256, 0 } }, 1, { 0 }, 3 },
	{ "options 1", 1, { { OWN0, 256, 60, 1 } }, 0,
	  { [VM_BAD_OPTIONS] = 1 }, 4 },
	{ "options high bit", 1, { { OWN0, 256, 60, 0x80000000u } }, 0,
	  { [VM_BAD_OPTIONS] = 1 }, 4 },
	{ "addr = pool size", 1, { { RAW, POOL_BYTES, 60, 0 } }, 0,
	  { [VM_BAD_ADDR] = 1 }, 4 },
	{ "addr past the pool", 1, { { RAW, POOL_BYTES + 256, 60, 0 } }, 0,
	  { [VM_BAD_ADDR] = 1 }, 4 },
	{ "addr far past the pool", 1, { { RAW, (1ull << 40) + 256, 60, 0 } }, 0,
	  { [VM_BAD_ADDR] = 1 }, 4 },
	{ "addr near 2^64", 1, { { RAW, ~(uint64_t)(FSIZE - 1) + 256, 60, 0 } }, 0,
	  { [VM_BAD_ADDR] = 1 }, 4 },
	{ "len 0", 1, { { OWN0, 256, 0, 0 } }, 0, { [VM_BAD_LEN] = 1 }, 4 },
	{ "len 13", 1, { { OWN0, 256, 13, 0 } }, 0, { [VM_BAD_LEN] = 1 }, 4 },
	{ "past the frame end", 1, { { OWN0, 2000, 60, 0 } }, 0,
	  { [VM_BAD_LEN] = 1 }, 4 },
	{ "one byte past the frame end", 1, { { OWN0, 256, FSIZE - 255, 0 } }, 0,
	  { [VM_BAD_LEN] = 1 }, 4 },
	{ "len 2^32 - 1", 1, { { OWN0, 256, UINT32_MAX, 0 } }, 0,
	  { [VM_BAD_LEN] = 1 }, 4 },
	{ "another VM's frame", 1, { { OTHER_VM, 256, 60, 0 } }, 0,
	  { [VM_BAD_OWNER] = 1 }, 4 },
	{ "a frame in the fill ring", 1, { { KERNEL, 256, 60, 0 } }, 0,
	  { [VM_BAD_OWNER] = 1 }, 4 },
	{ "a free frame", 1, { { FREE_FRAME, 256, 60, 0 } }, 0,
	  { [VM_BAD_OWNER] = 1 }, 4 },
	{ "the same frame twice", 2, { { OWN1, 256, 60, 0 }, { OWN1, 256, 60, 0 } },
	  1, { [VM_BAD_OWNER] = 1 }, 3 },
	{ "the same frame at two offsets", 2,
	  { { OWN1, 256, 60, 0 }, { OWN1, 512, 100, 0 } },
	  1, { [VM_BAD_OWNER] = 1 }, 3 },
	{ "one of each", 8,
	  { { OWN0, 256, 60, 0 },
	    { OWN1, 256, 60, 7 },
	    { RAW, POOL_BYTES + 256, 60, 0 },
	    { OWN1, 256, 13, 0 },
	    { OWN2, 2000, 60, 0 },
	    { OTHER_VM, 256, 60, 0 },
	    { OWN0, 256, 60, 0 },
	    { OWN3, 300, 1000, 0 } },
	  2,
	  { [VM_BAD_OPTIONS] = 1, [VM_BAD_ADDR] = 1, [VM_BAD_LEN] = 2,
	    [VM_BAD_OWNER] = 2 },
	  2 },
};

/* The VM holds 4 lent frames; VM 1 and the kernel hold one each. */
struct tx_world {
	uint64_t own[4], other, kernel, free_frame;
};

static void tx_world_init(struct fx *f, struct tx_world *w)
{
	guest_takes_lent(f, 4, w->own);
	w->other = frame_for(f, POOL_OWN_VM(1));
	w->kernel = frame_for(f, POOL_OWN_FILL);
	w->free_frame = FSIZE * (FRAMES - 1); /* last out of the free list */
	assert_int_equal(f->p.fr[FRAMES - 1].owner, POOL_OWN_SWITCH);
}

static uint64_t resolve(const struct tx_world *w, const struct tx_spec *s)
{
	switch (s->ref) {
	case OWN0: case OWN1: case OWN2: case OWN3:
		return w->own[s->ref - OWN0] + s->off;
	case OTHER_VM:
		return w->other + s->off;
	case KERNEL:
		return w->kernel + s->off;
	case FREE_FRAME:
		return w->free_frame + s->off;
	case RAW:
		break;
	}
	return s->off;
}

static void test_tx_bad_inputs(void **state)
{
	(void)state;
	for (size_t c = 0; c < sizeof(tx_cases) / sizeof(tx_cases[0]); c++) {
		const struct tx_case *tc = &tx_cases[c];
		struct fx *f = fx_attached();
		struct fs_desc out[16];
		struct tx_world w;
		uint32_t k, i, j;

		print_message("  case: %s\n", tc->name);
		tx_world_init(f, &w);
		/* Refill the alloc ring first so that only tx moves frames. */
		vmport_alloc_refill(&f->v, &f->p);
		uint32_t on_alloc = *f->g.alloc.producer - *f->g.alloc.consumer;

		assert_frames(f, 4 + on_alloc);
		for (i = 0; i < tc->n; i++)
			guest_tx_raw(f, resolve(&w, &tc->d[i]), tc->d[i].len,
				     tc->d[i].options);

		k = vmport_tx_collect(&f->v, &f->p, out, 16);
		assert_int_equal(k, tc->accepted);
		assert_drops(&f->v, tc->drops);
		/* Every descriptor consumed, good or bad. */
		assert_int_equal(*f->g.tx.consumer, tc->n);
		assert_int_equal(f->v.st.tx_packets, tc->accepted);
		/* The accepted ones, in order, exactly as written; the
		 * switch owns their frames and knows how far they reach. */
		uint64_t bytes = 0;

		for (i = 0, j = 0; i < tc->n && j < k; i++) {
			uint64_t a = resolve(&w, &tc->d[i]);

			if (out[j].addr != a || out[j].len != tc->d[i].len)
				continue;
			assert_int_equal(out[j].options, 0);
			assert_int_equal(f->p.fr[pool_frame(&f->p, a)].owner,
					 POOL_OWN_SWITCH);
			assert_int_equal(f->p.scrub.fr[pool_frame(&f->p, a)].dirty,
					 SCRUB_RANGE(pool_offset_in_frame(&f->p, a),
						    pool_offset_in_frame(&f->p, a) +
						    tc->d[i].len));
			bytes += tc->d[i].len;
			j++;
		}
		assert_int_equal(j, k);
		assert_int_equal(f->v.st.tx_bytes, bytes);
		/* Nobody else's frame changed hands. */
		assert_int_equal(f->p.fr[pool_frame(&f->p, w.other)].owner, POOL_OWN_VM(1));
		assert_int_equal(f->p.fr[pool_frame(&f->p, w.kernel)].owner, POOL_OWN_FILL);
		assert_int_equal(f->p.fr[FRAMES - 1].owner, POOL_OWN_SWITCH);

		switch_sent(f, out, k);
		assert_frames(f, tc->held_after + on_alloc);
		/* Nothing left on the ring. */
		assert_int_equal(vmport_tx_collect(&f->v, &f->p, out, 16), 0);
		assert_drops(&f->v, tc->drops);

		give_back(f, POOL_OWN_VM(1));
		give_back(f, POOL_OWN_FILL);
		assert_frames(f, tc->held_after + on_alloc);
		fx_free(f);
	}
}

/* ---- tx ring: packets of several frames (ABI 1.3) ------------------------ */

#define M FS_DESC_MORE

struct chain_case {
	const char *name;
	uint32_t n, max;        /* descriptors; the batch (0: 16) */
	struct tx_spec d[8];
	uint32_t packets, frames; /* accepted */
	uint64_t drops[VM_DROP_NR];
	uint32_t held_after;    /* of the 4 */
};

static const struct chain_case chain_cases[] = {
	{ "chain of 2", 2, 0, { { OWN0, 256, 1000, M }, { OWN1, 0, FSIZE, 0 } },
	  1, 2, { 0 }, 2 },
	{ "chain of 4 whole frames", 4, 0,
	  { { OWN0, 256, FSIZE - 256, M }, { OWN1, 0, FSIZE, M },
	    { OWN2, 0, FSIZE, M }, { OWN3, 0, 100, 0 } },
	  1, 4, { 0 }, 0 },
	{ "chain past the batch (max 1)", 3, 1,
	  { { OWN0, 256, 100, M }, { OWN1, 0, 100, M }, { OWN2, 0, 100, 0 } },
	  1, 3, { 0 }, 1 },
	{ "chain, then a frame", 3, 0,
	  { { OWN0, 256, 100, M }, { OWN1, 0, 100, 0 }, { OWN2, 256, 60, 0 } },
	  2, 3, { 0 }, 1 },
	{ "chain that never ends", 2, 0, { { OWN0, 256, 100, M }, { OWN1, 0, 100, M } },
	  0, 0, { [VM_DROP_CHAIN_UNENDED] = 1 }, 4 },
	{ "chain of 7 frames (max_frames 6), then a frame", 8, 0,
	  { { OWN0, 256, 100, M }, { OWN1, 0, 100, M }, { OWN2, 0, 100, M },
	    { OWN0, 300, 100, M }, { OWN1, 300, 100, M }, { OWN2, 300, 100, M },
	    { OWN0, 600, 100, 0 }, { OWN3, 256, 60, 0 } },
	  1, 1, { [VM_DROP_CHAIN_TOO_LONG] = 1 }, 3 },
	{ "chain of 10240 bytes (max_packet 9216)", 5, 0,
	  { { OWN0, 0, FSIZE, M }, { OWN1, 0, FSIZE, M }, { OWN2, 0, FSIZE, M },
	    { OWN3, 0, FSIZE, M }, { OWN0, 0, FSIZE, 0 } },
	  0, 0, { [VM_DROP_CHAIN_TOO_LONG] = 1 }, 4 },
	{ "chain naming another VM's frame", 2, 0,
	  { { OWN0, 256, 100, M }, { OTHER_VM, 0, 100, 0 } },
	  0, 0, { [VM_BAD_OWNER] = 1 }, 4 },
	{ "chain naming a free frame in the middle", 3, 0,
	  { { OWN0, 256, 100, M }, { FREE_FRAME, 0, 100, M }, { OWN1, 0, 100, 0 } },
	  0, 0, { [VM_BAD_OWNER] = 1 }, 4 },
	{ "chain naming a frame twice", 3, 0,
	  { { OWN0, 256, 100, M }, { OWN1, 0, 100, M }, { OWN0, 1000, 100, 0 } },
	  0, 0, { [VM_BAD_OWNER] = 1 }, 4 },
	{ "chain with a frame in the fill ring", 2, 0,
	  { { OWN0, 256, 100, M }, { KERNEL, 0, 100, 0 } },
	  0, 0, { [VM_BAD_OWNER] = 1 }, 4 },
	{ "chain with an empty frame", 2, 0,
	  { { OWN0, 256, 100, M }, { OWN1, 0, 0, 0 } },
	  0, 0, { [VM_BAD_LEN] = 1 }, 4 },
	{ "chain with a first frame shorter than a header", 2, 0,
	  { { OWN0, 256, 13, M }, { OWN1, 0, 100, 0 } },
	  0, 0, { [VM_BAD_LEN] = 1 }, 4 },
	{ "chain with another options bit", 2, 0,
	  { { OWN0, 256, 100, M }, { OWN1, 0, 100, M | 2 } },
	  0, 0, { [VM_BAD_OPTIONS] = 1 }, 4 },
};

static void test_tx_chains(void **state)
{
	(void)state;
	for (size_t c = 0; c < sizeof(chain_cases) / sizeof(chain_cases[0]); c++) {
		const struct chain_case *tc = &chain_cases[c];
		struct fx *f = fx_attached();
		struct fs_desc out[16 + VM_MAX_FRAMES];
		struct tx_world w;
		uint32_t k, i, on_alloc;

		print_message("  case: %s\n", tc->name);
		f->v.chains = true; /* as if the guest set FS_GUEST_CHAINS */
		assert_int_equal(f->v.layout.max_frames, 6);
		tx_world_init(f, &w);
		vmport_alloc_refill(&f->v, &f->p);
		on_alloc = *f->g.alloc.producer - *f->g.alloc.consumer;
		for (i = 0; i < tc->n; i++)
			guest_tx_raw(f, resolve(&w, &tc->d[i]), tc->d[i].len,
				     tc->d[i].options);
		k = vmport_tx_collect(&f->v, &f->p, out, tc->max ? tc->max : 16);
		if (tc->max) /* the rest of the batch, next time */
			k += vmport_tx_collect(&f->v, &f->p, out + k, 16);
		assert_int_equal(k, tc->frames);
		assert_drops(&f->v, tc->drops);
		assert_int_equal(*f->g.tx.consumer, tc->n);
		assert_int_equal(f->v.st.tx_packets, tc->packets);
		/* The switch's own flags: more on all but a packet's last. */
		for (i = 0; i < k; i++) {
			assert_int_equal(f->p.fr[pool_frame(&f->p, out[i].addr)].owner,
					 POOL_OWN_SWITCH);
			assert_true(out[i].options == 0 || out[i].options == M);
		}
		if (k)
			assert_int_equal(out[k - 1].options, 0);
		assert_int_equal(f->p.fr[pool_frame(&f->p, w.other)].owner, POOL_OWN_VM(1));
		assert_int_equal(f->p.fr[pool_frame(&f->p, w.kernel)].owner, POOL_OWN_FILL);
		assert_int_equal(f->p.fr[FRAMES - 1].owner, POOL_OWN_SWITCH);
		switch_sent(f, out, k);
		/* The audit exact: a bad chain's frames all still the VM's. */
		assert_frames(f, tc->held_after + on_alloc);
		give_back(f, POOL_OWN_VM(1));
		give_back(f, POOL_OWN_FILL);
		assert_frames(f, tc->held_after + on_alloc);
		fx_free(f);
	}
}

/* A guest without FS_GUEST_CHAINS that sends one: its options word is
 * bad, as before ABI 1.3. */
static void test_tx_chain_unasked(void **state)
{
	struct fx *f = fx_attached();
	struct fs_desc out[16 + VM_MAX_FRAMES];
	struct tx_world w;
	uint64_t want[VM_DROP_NR] = { [VM_BAD_OPTIONS] = 1 };

	(void)state;
	tx_world_init(f, &w);
	vmport_alloc_refill(&f->v, &f->p);
	uint32_t on_alloc = *f->g.alloc.producer - *f->g.alloc.consumer;

	guest_tx_raw(f, w.own[0] + 256, 100, M);
	guest_tx_raw(f, w.own[1], 100, 0);
	/* The second, a frame of its own, is taken. */
	assert_int_equal(vmport_tx_collect(&f->v, &f->p, out, 16), 1);
	assert_drops(&f->v, want);
	switch_sent(f, out, 1);
	give_back(f, POOL_OWN_VM(1));
	give_back(f, POOL_OWN_FILL);
	assert_frames(f, 3 + on_alloc);
	fx_free(f);
}

/* ---- rx ring: packets of several frames ---------------------------------- */

/* A chain goes to a guest that asked for chains whole, n entries and n
 * frames of its quota; to one that did not, not at all (counted), and the
 * frames stay the switch's. */
static void test_rx_chain(void **state)
{
	struct fx *f = fx_attached();
	struct fs_desc c[3], in[8];
	uint64_t want[VM_DROP_NR] = { [VM_DROP_CHAIN_UNSUPPORTED] = 1 };

	(void)state;
	for (int j = 0; j < 3; j++) {
		c[j].addr = switch_frame(f, (uint8_t)j);
		c[j].len = 1000;
	}
	assert_int_equal(vmport_rx_chain(&f->v, &f->p, c, 3), -1);
	assert_drops(&f->v, want);
	for (int j = 0; j < 3; j++)
		assert_int_equal(f->p.fr[pool_frame(&f->p, c[j].addr)].owner,
				 POOL_OWN_SWITCH);
	f->v.chains = true;
	assert_int_equal(vmport_rx_chain(&f->v, &f->p, c, 3), 0);
	vmport_rx_flush(&f->v, &f->p);
	assert_int_equal(f->v.st.rx_packets, 1);
	assert_int_equal(fsg_rx(&f->g, in, 8), 3);
	assert_int_equal(in[0].options, M);
	assert_int_equal(in[1].options, M);
	assert_int_equal(in[2].options, 0);
	/* Its quota counts frames: with QUOTA - 3 - lent left, a chain
	 * longer than that is dropped whole. */
	f->v.quota = vmport_held(&f->v, &f->p) + 2;
	f->v.rx_room = 0;
	for (int j = 0; j < 3; j++)
		c[j].addr = switch_frame(f, 9);
	assert_int_equal(vmport_rx_chain(&f->v, &f->p, c, 3), -1);
	assert_int_equal(f->v.st.drops[VM_DROP_QUOTA], 1);
	for (int j = 0; j < 3; j++) {
		assert_int_equal(f->p.fr[pool_frame(&f->p, c[j].addr)].owner,
				 POOL_OWN_SWITCH);
		pool_recycle(&f->p, pool_frame(&f->p, c[j].addr));
	}
	for (int j = 0; j < 3; j++)
		guest_free_raw(f, in[j].addr);
	vmport_free_drain(&f->v, &f->p, 16);
	assert_frames(f, vmport_held(&f->v, &f->p));
	fx_free(f);
}

static void test_tx_bad_ring_index(void **state)
{
	struct fx *f = fx_attached();
	uint64_t want[VM_DROP_NR] = { 0 };
	struct fs_desc out[32];
	struct tx_world w;
	uint32_t *prod = f->g.tx.producer, *cons = f->g.tx.consumer;

	(void)state;
	tx_world_init(f, &w);
	give_back(f, POOL_OWN_VM(1));
	give_back(f, POOL_OWN_FILL);
	vmport_alloc_refill(&f->v, &f->p);
	uint32_t held = vmport_held(&f->v, &f->p);

	/* Real descriptors in slots 0 and 1, then a producer 17 ahead. */
	guest_tx_raw(f, w.own[0] + 256, 60, 0);
	guest_tx_raw(f, w.own[1] + 256, 60, 0);
	*prod = RING + 1;
	assert_int_equal(vmport_tx_collect(&f->v, &f->p, out, 32), 0);
	want[VM_BAD_RING_INDEX] = 1;
	assert_drops(&f->v, want);
	assert_int_equal(*cons, 0); /* nothing consumed */
	assert_frames(f, held);

	/* Far ahead, and behind the consumer. */
	*prod = 0x80000000u;
	assert_int_equal(vmport_tx_collect(&f->v, &f->p, out, 32), 0);
	*prod = UINT32_MAX;
	assert_int_equal(vmport_tx_collect(&f->v, &f->p, out, 32), 0);
	want[VM_BAD_RING_INDEX] = 3;
	assert_drops(&f->v, want);
	assert_int_equal(*cons, 0);
	assert_frames(f, held);

	/* Sane again: the two real ones, at most `max` per call. */
	*prod = 2;
	assert_int_equal(vmport_tx_collect(&f->v, &f->p, out, 1), 1);
	assert_int_equal(out[0].addr, w.own[0] + 256);
	switch_sent(f, out, 1);
	assert_int_equal(*cons, 1);
	assert_int_equal(vmport_tx_collect(&f->v, &f->p, out, 32), 1);
	assert_int_equal(out[0].addr, w.own[1] + 256);
	switch_sent(f, out, 1);
	assert_int_equal(*cons, 2);
	assert_frames(f, held - 2);

	/* Producer moved back behind the consumer. */
	*prod = 1;
	assert_int_equal(vmport_tx_collect(&f->v, &f->p, out, 32), 0);
	want[VM_BAD_RING_INDEX] = 4;
	assert_drops(&f->v, want);
	assert_int_equal(*cons, 2);

	/* Exactly the ring size ahead is allowed: 16 stale slots, each
	 * checked (slot 0 and 1 name frames the VM no longer owns, the
	 * rest are zero: too short). */
	*prod = 2 + RING;
	assert_int_equal(vmport_tx_collect(&f->v, &f->p, out, 32), 0);
	want[VM_BAD_OWNER] = 2;
	want[VM_BAD_LEN] = RING - 2;
	assert_drops(&f->v, want);
	assert_int_equal(*cons, 2 + RING);
	assert_frames(f, held - 2);
	fx_free(f);
}

/* ---- free ring ----------------------------------------------------------- */

struct free_case {
	const char *name;
	uint32_t n;
	struct tx_spec d[6]; /* len, options unused */
	uint32_t taken;
	uint64_t drops[VM_DROP_NR];
	uint32_t held_after; /* of the 4 */
};

static const struct free_case free_cases[] = {
	{ "good", 1, { { OWN0, 0, 0, 0 } }, 1, { 0 }, 3 },
	{ "good, an offset inside the frame", 1, { { OWN0, 1234, 0, 0 } }, 1, { 0 }, 3 },
	{ "all four", 4, { { OWN0, 0, 0, 0 }, { OWN1, 0, 0, 0 }, { OWN2, 256, 0, 0 },
			    { OWN3, FSIZE - 1, 0, 0 } }, 4, { 0 }, 0 },
	{ "double free in one batch", 2, { { OWN0, 0, 0, 0 }, { OWN0, 0, 0, 0 } }, 1,
	  { [VM_BAD_OWNER] = 1 }, 3 },
	{ "double free, other offset", 2, { { OWN0, 0, 0, 0 }, { OWN0, 700, 0, 0 } }, 1,
	  { [VM_BAD_OWNER] = 1 }, 3 },
	{ "addr = pool size", 1, { { RAW, POOL_BYTES, 0, 0 } }, 0,
	  { [VM_BAD_ADDR] = 1 }, 4 },
	{ "addr 2^64 - 1", 1, { { RAW, UINT64_MAX, 0, 0 } }, 0,
	  { [VM_BAD_ADDR] = 1 }, 4 },
	{ "another VM's frame", 1, { { OTHER_VM, 0, 0, 0 } }, 0,
	  { [VM_BAD_OWNER] = 1 }, 4 },
	{ "a frame in the fill ring", 1, { { KERNEL, 0, 0, 0 } }, 0,
	  { [VM_BAD_OWNER] = 1 }, 4 },
	{ "a free frame", 1, { { FREE_FRAME, 0, 0, 0 } }, 0,
	  { [VM_BAD_OWNER] = 1 }, 4 },
	{ "one of each", 6,
	  { { OWN0, 0, 0, 0 }, { RAW, POOL_BYTES + 5, 0, 0 }, { OWN0, 0, 0, 0 },
	    { OTHER_VM, 0, 0, 0 }, { FREE_FRAME, 0, 0, 0 }, { OWN3, 0, 0, 0 } },
	  2, { [VM_BAD_ADDR] = 1, [VM_BAD_OWNER] = 3 }, 2 },
};

static void test_free_bad_inputs(void **state)
{
	(void)state;
	for (size_t c = 0; c < sizeof(free_cases) / sizeof(free_cases[0]); c++) {
		const struct free_case *fc = &free_cases[c];
		struct fx *f = fx_attached();
		struct tx_world w;
		uint32_t i, n_free;

		print_message("  case: %s\n", fc->name);
		tx_world_init(f, &w);
		vmport_alloc_refill(&f->v, &f->p);
		uint32_t on_alloc = *f->g.alloc.producer - *f->g.alloc.consumer;

		n_free = f->p.n_free;
		for (i = 0; i < fc->n; i++)
			guest_free_raw(f, resolve(&w, &fc->d[i]));
		assert_int_equal(vmport_free_drain(&f->v, &f->p, 64), fc->taken);
		assert_drops(&f->v, fc->drops);
		assert_int_equal(*f->g.free.consumer, fc->n);
		assert_int_equal(f->v.st.freed, fc->taken);
		/* Taken frames went straight to the free list, once each. */
		assert_int_equal(f->p.n_free, n_free + fc->taken);
		assert_int_equal(f->p.fr[pool_frame(&f->p, w.other)].owner, POOL_OWN_VM(1));
		assert_int_equal(f->p.fr[pool_frame(&f->p, w.kernel)].owner, POOL_OWN_FILL);
		assert_frames(f, fc->held_after + on_alloc);

		/* The same again in a later batch: all refused now. */
		for (i = 0; i < fc->n; i++)
			guest_free_raw(f, resolve(&w, &fc->d[i]));
		assert_int_equal(vmport_free_drain(&f->v, &f->p, 64), 0);
		assert_int_equal(f->p.n_free, n_free + fc->taken);
		assert_frames(f, fc->held_after + on_alloc);

		give_back(f, POOL_OWN_VM(1));
		give_back(f, POOL_OWN_FILL);
		assert_frames(f, fc->held_after + on_alloc);
		fx_free(f);
	}
}

static void test_free_bad_ring_index(void **state)
{
	struct fx *f = fx_attached();
	uint64_t want[VM_DROP_NR] = { 0 };
	uint64_t lent[2];
	uint32_t *prod = f->g.free.producer, *cons = f->g.free.consumer;

	(void)state;
	guest_takes_lent(f, 2, lent);
	uint32_t held = vmport_held(&f->v, &f->p);

	guest_free_raw(f, lent[0]);
	*prod = RING + 1;
	assert_int_equal(vmport_free_drain(&f->v, &f->p, 64), 0);
	*prod = 0xfffffff0u;
	assert_int_equal(vmport_free_drain(&f->v, &f->p, 64), 0);
	want[VM_BAD_RING_INDEX] = 2;
	assert_drops(&f->v, want);
	assert_int_equal(*cons, 0);
	assert_frames(f, held);

	*prod = 1;
	assert_int_equal(vmport_free_drain(&f->v, &f->p, 64), 1);
	assert_int_equal(*cons, 1);
	assert_frames(f, held - 1);
	fx_free(f);
}

/* ---- scrub when a frame is used again ------------------------------------ */

static void test_reuse_scrubs_received_frame(void **state)
{
	static const enum cfg_scrub policy[] = { CFG_SCRUB_USED, CFG_SCRUB_FULL };

	(void)state;
	for (size_t c = 0; c < 2; c++) {
		struct fx *f = fx_new(policy[c]);
		struct fs_desc d;
		unsigned char *fr;
		uint64_t a, before;
		uint32_t frame;

		guest_request(f, true);
		a = switch_frame(f, 0xee);
		frame = pool_frame(&f->p, a);
		assert_int_equal(to_vm(f, &f->v, a, PKT_LEN), 0);
		vmport_rx_flush(&f->v, &f->p);
		assert_int_equal(fsg_rx(&f->g, &d, 1), 1);
		/* The guest writes the headroom and the packet, and some
		 * bytes further on that it never sends. */
		fr = fsg_data(&f->g, d.addr - FS_HEADROOM);
		memset(fr, 0x77, FS_HEADROOM + PKT_LEN + 100);
		assert_int_equal(fsg_free(&f->g, d.addr), 0);
		fsg_flush(&f->g);
		before = f->p.scrub.bytes;
		assert_int_equal(vmport_free_drain(&f->v, &f->p, 64), 1);
		/* Back on the free list, not zeroed yet. */
		assert_int_equal(f->p.scrub.bytes, before);
		assert_int_equal(fr[FS_HEADROOM + PKT_LEN - 1], 0x77);

		/* Used again for a 40-byte packet: "used" zeroes the rest of
		 * the packets it carried, [headroom + 40, headroom + len);
		 * "full" every byte but the new packet's. */
		scrub_reuse(&f->p.scrub, frame, FS_HEADROOM, FS_HEADROOM + 40);
		for (uint32_t i = 0; i < FSIZE; i++) {
			unsigned char want;

			if (i >= FS_HEADROOM && i < FS_HEADROOM + 40)
				want = 0x77; /* the new packet's bytes */
			else if (policy[c] == CFG_SCRUB_FULL ||
				 (i >= FS_HEADROOM && i < FS_HEADROOM + PKT_LEN))
				want = 0;
			else
				want = i < FS_HEADROOM + PKT_LEN + 100 ? 0x77 : 0;
			if (fr[i] != want)
				fail_msg("scrub %s: byte %u is %#x, not %#x",
					 cfg_scrub_name(policy[c]), i, fr[i], want);
		}
		assert_int_equal(f->p.scrub.bytes - before,
				 policy[c] == CFG_SCRUB_FULL ? FSIZE - 40 : PKT_LEN - 40);
		assert_int_equal(f->p.scrub.fr[frame].dirty,
				 SCRUB_RANGE(FS_HEADROOM, FS_HEADROOM + 40));
		/* Lent to a guest, who may send any of it: all clean. */
		scrub_frame(&f->p.scrub, frame);
		for (uint32_t i = FS_HEADROOM; i < FS_HEADROOM + 40; i++)
			assert_int_equal(fr[i], 0);
		assert_int_equal(f->p.scrub.fr[frame].dirty, 0);
		assert_frames(f, 0);
		fx_free(f);
	}
}

/* The guest's whole round trip through the library: lent frame, packet,
 * tx; back to the guest on rx; free. */
static void test_guest_round_trip(void **state)
{
	struct fx *f = fx_attached();
	uint64_t none[VM_DROP_NR] = { 0 };
	struct fs_desc out[4], in[4];
	uint64_t base;
	unsigned char *pk;

	(void)state;
	assert_int_equal(vmport_alloc_refill(&f->v, &f->p), QUOTA / 4);
	base = fsg_alloc(&f->g);
	assert_int_not_equal(base, UINT64_MAX);
	pk = fsg_data(&f->g, base + f->g.headroom);
	for (uint32_t i = 0; i < 100; i++)
		pk[i] = (unsigned char)i;
	assert_int_equal(fsg_tx(&f->g, base + f->g.headroom, 100), 0);
	assert_int_equal(vmport_tx_collect(&f->v, &f->p, out, 4), 0); /* not flushed */
	fsg_flush(&f->g);
	assert_int_equal(vmport_tx_collect(&f->v, &f->p, out, 4), 1);
	assert_int_equal(out[0].addr, base + FS_HEADROOM);
	assert_int_equal(out[0].len, 100);
	assert_int_equal(f->p.scrub.fr[pool_frame(&f->p, base)].dirty,
			 SCRUB_RANGE(FS_HEADROOM, FS_HEADROOM + 100));
	/* Mid-batch: the switch holds the frame, not on its free list. */
	assert_frames_mid(f, QUOTA / 4 - 1);

	/* The switch hands it straight back (as to another VM). */
	assert_int_equal(vmport_rx_enqueue(&f->v, &f->p, out[0].addr, out[0].len), 0);
	vmport_rx_flush(&f->v, &f->p);
	assert_int_equal(fsg_rx(&f->g, in, 4), 1);
	assert_int_equal(in[0].addr, base + FS_HEADROOM);
	assert_int_equal(in[0].len, 100);
	assert_int_equal(memcmp(fsg_data(&f->g, in[0].addr), pk, 100), 0);
	assert_int_equal(pk[99], 99);

	assert_int_equal(fsg_free(&f->g, in[0].addr), 0);
	fsg_flush(&f->g);
	assert_int_equal(vmport_free_drain(&f->v, &f->p, 4), 1);
	/* Zeroed when used again: here for a 40-byte packet from the NIC. */
	assert_int_equal(pk[99], 99);
	scrub_reuse(&f->p.scrub, pool_frame(&f->p, base), FS_HEADROOM,
		    FS_HEADROOM + 40);
	assert_int_equal(pk[39], 39);
	assert_int_equal(pk[40], 0);
	assert_int_equal(pk[99], 0);
	assert_drops(&f->v, none);
	assert_int_equal(f->v.st.tx_packets, 1);
	assert_int_equal(f->v.st.rx_packets, 1);
	assert_int_equal(f->v.st.freed, 1);
	assert_frames(f, QUOTA / 4 - 1);
	fx_free(f);
}


int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tx_bad_inputs),
		cmocka_unit_test(test_tx_chains),
		cmocka_unit_test(test_tx_chain_unasked),
		cmocka_unit_test(test_rx_chain),
		cmocka_unit_test(test_tx_bad_ring_index),
		cmocka_unit_test(test_free_bad_inputs),
		cmocka_unit_test(test_free_bad_ring_index),
		cmocka_unit_test(test_reuse_scrubs_received_frame),
		cmocka_unit_test(test_guest_round_trip),
	};

	return FX_RUN(tests);
}
