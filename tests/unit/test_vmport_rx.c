// SPDX-License-Identifier: MIT
/*
 * VM ports (user/vmport.c): the switch to the guest. rx delivery
 * (descriptor, ownership, flush), drops by reason (detached, quota, rx ring
 * full, a bad consumer index), alloc refills (quota / 4, quota, free
 * frames), and the doorbell handshake (ring.h, I..L).
 * After each case the owner table: pool_check() ok, no frame leaked, the
 * VM holding exactly the frames expected (vmport_fx.h).
 */
#include "vmport_fx.h"

/* ---- rx ------------------------------------------------------------------ */

static void test_rx_detached(void **state)
{
	struct fx *f = fx_new(CFG_SCRUB_USED);
	uint64_t want[VM_DROP_NR] = { [VM_DROP_DETACHED] = 1 };
	uint64_t a;
	int rc;

	(void)state;
	a = switch_frame(f, 0x11);
	rc = vmport_rx_enqueue(&f->v, &f->p, a, PKT_LEN);
	assert_drops(&f->v, want);
	assert_int_equal(f->p.fr[pool_frame(&f->p, a)].owner, POOL_OWN_SWITCH);
	assert_int_equal(f->v.st.rx_packets, 0);
	assert_int_equal(f->v.rx_unflushed, 0);
	assert_int_equal(f->v.rx_prod, 0);
	/* vmport.h: -1 on a drop, so the switch takes the frame back. */
	assert_int_equal(rc, -1);
	pool_recycle(&f->p, pool_frame(&f->p, a));
	assert_frames(f, 0);
	fx_free(f);
}

/* What the switch's to_vm() does with a frame for a detached VM: nothing
 * may leak. */
static void test_rx_detached_no_leak(void **state)
{
	struct fx *f = fx_new(CFG_SCRUB_USED);
	uint64_t want[VM_DROP_NR] = { [VM_DROP_DETACHED] = 3 };

	(void)state;
	for (int i = 0; i < 3; i++)
		to_vm(f, &f->v, switch_frame(f, 0x11), PKT_LEN);
	assert_drops(&f->v, want);
	assert_frames(f, 0);
	assert_int_equal(f->p.n_free, FRAMES);
	fx_free(f);
}

static void test_rx_delivery(void **state)
{
	struct fx *f = fx_attached();
	uint64_t none[VM_DROP_NR] = { 0 };
	struct fs_desc d[4];
	uint64_t a, b;

	(void)state;
	a = switch_frame(f, 0x5a);
	assert_int_equal(a, 0 * FSIZE + FS_HEADROOM); /* frame 0 first */
	assert_int_equal(vmport_rx_enqueue(&f->v, &f->p, a, PKT_LEN), 0);
	assert_int_equal(f->p.fr[0].owner, f->v.owner);
	assert_int_equal(f->v.rx_unflushed, 1);
	/* Written to slot 0 of the shared ring, exactly. */
	const struct fs_desc *s = fs_ring_desc(&f->g.rx, 0);

	assert_int_equal(s->addr, a);
	assert_int_equal(s->len, PKT_LEN);
	assert_int_equal(s->options, 0);
	/* Not published yet. */
	assert_int_equal(*f->g.rx.producer, 0);
	assert_int_equal(fsg_rx(&f->g, d, 4), 0);

	b = switch_frame(f, 0x5b);
	assert_int_equal(vmport_rx_enqueue(&f->v, &f->p, b, 1514), 0);
	assert_int_equal(f->v.rx_unflushed, 2);
	vmport_rx_flush(&f->v, &f->p);
	assert_int_equal(f->v.rx_unflushed, 0);
	assert_int_equal(*f->g.rx.producer, 2);
	vmport_rx_flush(&f->v, &f->p); /* nothing new: no change */
	assert_int_equal(*f->g.rx.producer, 2);

	assert_int_equal(fsg_rx(&f->g, d, 4), 2);
	assert_int_equal(d[0].addr, a);
	assert_int_equal(d[0].len, PKT_LEN);
	assert_int_equal(d[1].addr, b);
	assert_int_equal(d[1].len, 1514);
	assert_int_equal(*f->g.rx.consumer, 2);
	/* The guest sees the packet bytes in the shared pool. */
	const unsigned char *pk = fsg_data(&f->g, d[0].addr);

	for (uint32_t i = 0; i < PKT_LEN; i++)
		assert_int_equal(pk[i], 0x5a);
	assert_int_equal(f->v.st.rx_packets, 2);
	assert_int_equal(f->v.st.rx_bytes, PKT_LEN + 1514);
	assert_drops(&f->v, none);
	assert_frames(f, 2);
	fx_free(f);
}

static void test_rx_quota(void **state)
{
	struct fx *f = fx_attached();
	uint64_t want[VM_DROP_NR] = { 0 };
	struct fs_desc d[RING];
	uint32_t i;

	(void)state;
	for (i = 0; i < QUOTA; i++)
		assert_int_equal(to_vm(f, &f->v, switch_frame(f, 1), PKT_LEN), 0);
	vmport_rx_flush(&f->v, &f->p);
	assert_frames(f, QUOTA);
	/* The ring is full too; quota is checked first. */
	assert_int_equal(to_vm(f, &f->v, switch_frame(f, 1), PKT_LEN), -1);
	want[VM_DROP_QUOTA] = 1;
	assert_drops(&f->v, want);
	assert_frames(f, QUOTA);

	/* The guest takes them all off the ring: still its quota. */
	assert_int_equal(fsg_rx(&f->g, d, RING), QUOTA);
	assert_int_equal(to_vm(f, &f->v, switch_frame(f, 1), PKT_LEN), -1);
	assert_int_equal(to_vm(f, &f->v, switch_frame(f, 1), PKT_LEN), -1);
	want[VM_DROP_QUOTA] = 3;
	assert_drops(&f->v, want);
	assert_frames(f, QUOTA);
	assert_int_equal(f->v.st.rx_packets, QUOTA);

	/* It frees one: one more fits. */
	assert_int_equal(fsg_free(&f->g, d[5].addr), 0);
	fsg_flush(&f->g);
	assert_int_equal(vmport_free_drain(&f->v, &f->p, 64), 1);
	assert_frames(f, QUOTA - 1);
	assert_int_equal(to_vm(f, &f->v, switch_frame(f, 1), PKT_LEN), 0);
	assert_int_equal(to_vm(f, &f->v, switch_frame(f, 1), PKT_LEN), -1);
	want[VM_DROP_QUOTA] = 4;
	assert_drops(&f->v, want);
	vmport_rx_flush(&f->v, &f->p);
	assert_frames(f, QUOTA);

	/* Lent frames count against the quota as well. */
	assert_int_equal(vmport_alloc_refill(&f->v, &f->p), 0);
	fx_free(f);
}

static void test_rx_quota_includes_alloc_ring(void **state)
{
	struct fx *f = fx_attached();
	uint64_t want[VM_DROP_NR] = { [VM_DROP_QUOTA] = 1 };

	(void)state;
	assert_int_equal(vmport_alloc_refill(&f->v, &f->p), QUOTA / 4);
	for (uint32_t i = 0; i < QUOTA - QUOTA / 4; i++)
		assert_int_equal(to_vm(f, &f->v, switch_frame(f, 1), PKT_LEN), 0);
	assert_int_equal(to_vm(f, &f->v, switch_frame(f, 1), PKT_LEN), -1);
	vmport_rx_flush(&f->v, &f->p);
	assert_drops(&f->v, want);
	assert_frames(f, QUOTA);
	fx_free(f);
}

/* A VM with a quota larger than its ring: the ring fills first. Also an
 * rx consumer index ahead of the producer. */
static void test_rx_ring_full_and_bad_consumer(void **state)
{
	struct fx *f = fx_new(CFG_SCRUB_USED);
	uint64_t want[VM_DROP_NR] = { 0 };
	struct cfg_vm c;
	struct vmport v;
	struct fsg g;
	char err[128];
	uint32_t i;

	(void)state;
	vm_cfg(&c, "big", 32, RING, 2);
	assert_int_equal(vmport_create(&v, &c, 1, &f->p), 0);
	assert_int_equal(fsg_open(&g, f->pc.path, c.rings, err, sizeof(err)), 0);
	__atomic_store_n(&g.hdr->guest_req, (1u << 1) | FS_REQ_ATTACH, __ATOMIC_RELEASE);
	assert_int_equal(vmport_poll_ctrl(&v, &f->p), 1);

	for (i = 0; i < RING; i++)
		assert_int_equal(to_vm(f, &v, switch_frame(f, 1), PKT_LEN), 0);
	vmport_rx_flush(&v, &f->p);
	assert_int_equal(to_vm(f, &v, switch_frame(f, 1), PKT_LEN), -1);
	want[VM_DROP_RX_FULL] = 1;
	assert_drops(&v, want);
	assert_int_equal(f->p.count[v.owner], RING);

	/* The guest claims to have consumed 17 of 16. */
	struct fs_ring_shared *rx = (void *)(v.region + v.layout.rx.off);

	rx->consumer = RING + 1;
	assert_int_equal(to_vm(f, &v, switch_frame(f, 1), PKT_LEN), -1);
	rx->consumer = 0x80000000u;
	assert_int_equal(to_vm(f, &v, switch_frame(f, 1), PKT_LEN), -1);
	want[VM_BAD_RING_INDEX] = 2;
	assert_drops(&v, want);
	assert_int_equal(f->p.count[v.owner], RING);
	assert_int_equal(rx->producer, RING);

	/* A true consumer index: 4 consumed, 4 more fit. */
	rx->consumer = 4;
	for (i = 0; i < 4; i++)
		assert_int_equal(to_vm(f, &v, switch_frame(f, 1), PKT_LEN), 0);
	assert_int_equal(to_vm(f, &v, switch_frame(f, 1), PKT_LEN), -1);
	vmport_rx_flush(&v, &f->p);
	want[VM_DROP_RX_FULL] = 2;
	assert_drops(&v, want);
	assert_int_equal(rx->producer, RING + 4);
	assert_int_equal(f->p.count[v.owner], RING + 4);
	/* Slots 0..3 were overwritten with the new frames. */
	assert_int_equal(((struct fs_desc *)rx->desc)[0].addr, RING * FSIZE + FS_HEADROOM);

	char msg[256];

	if (pool_check(&f->p, true, msg, sizeof(msg)))
		fail_msg("pool_check: %s", msg);
	fsg_close(&g);
	vmport_destroy(&v, &f->p);
	assert_int_equal(f->p.count[POOL_OWN_VM(1)], 0);
	assert_frames(f, 0);
	fx_free(f);
}

/* ---- alloc ring ---------------------------------------------------------- */

static void test_alloc_refill(void **state)
{
	struct fx *f = fx_attached();
	uint64_t a, seen[FRAMES] = { 0 };
	uint32_t lent_total = 0;

	(void)state;
	/* Guest takes everything each time: 4 per refill until the quota. */
	static const uint32_t expect[] = { 4, 4, 4, 4, 0, 0 };

	for (size_t r = 0; r < sizeof(expect) / sizeof(expect[0]); r++) {
		uint32_t n = vmport_alloc_refill(&f->v, &f->p);

		assert_int_equal(n, expect[r]);
		lent_total += n;
		assert_int_equal(*f->g.alloc.producer, lent_total);
		/* Nothing more while the guest has not taken them. */
		assert_int_equal(vmport_alloc_refill(&f->v, &f->p), 0);
		for (uint32_t i = 0; i < n; i++) {
			a = fsg_alloc(&f->g);
			assert_int_not_equal(a, UINT64_MAX);
			assert_int_equal(a % FSIZE, 0);
			assert_int_equal(f->p.fr[a / FSIZE].owner, f->v.owner);
			assert_int_equal(seen[a / FSIZE]++, 0);
		}
		assert_int_equal(fsg_alloc(&f->g), UINT64_MAX);
		assert_frames(f, lent_total);
	}
	assert_int_equal(lent_total, QUOTA);
	assert_int_equal(f->v.st.lent, QUOTA);

	/* It frees two: two more are lent, no more. */
	for (uint32_t i = 0, k = 0; i < FRAMES && k < 2; i++)
		if (seen[i]) {
			assert_int_equal(fsg_free(&f->g, (uint64_t)i * FSIZE), 0);
			seen[i] = 0;
			k++;
		}
	fsg_flush(&f->g);
	assert_int_equal(vmport_free_drain(&f->v, &f->p, 64), 2);
	assert_frames(f, QUOTA - 2);
	assert_int_equal(vmport_alloc_refill(&f->v, &f->p), 2);
	assert_int_equal(vmport_alloc_refill(&f->v, &f->p), 0);
	assert_frames(f, QUOTA);
	assert_int_equal(f->v.st.lent, QUOTA + 2);
	fx_free(f);
}

/* Frames already delivered on rx (not taken) leave less room to lend. */
static void test_alloc_refill_within_quota(void **state)
{
	static const struct { uint32_t rx_held, lent; } cases[] = {
		{ 0, 4 }, { 10, 4 }, { 12, 4 }, { 13, 3 }, { 15, 1 }, { 16, 0 },
	};

	(void)state;
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct fx *f = fx_attached();

		for (uint32_t i = 0; i < cases[c].rx_held; i++)
			assert_int_equal(to_vm(f, &f->v, switch_frame(f, 1), PKT_LEN), 0);
		vmport_rx_flush(&f->v, &f->p);
		assert_int_equal(vmport_alloc_refill(&f->v, &f->p), cases[c].lent);
		assert_int_equal(*f->g.alloc.producer, cases[c].lent);
		assert_frames(f, cases[c].rx_held + cases[c].lent);
		fx_free(f);
	}
}

static void test_alloc_refill_limits(void **state)
{
	struct fx *f = fx_attached();
	uint64_t want[VM_DROP_NR] = { 0 };
	struct fs_ring_shared *al;

	(void)state;
	/* Detached: nothing lent. */
	guest_request(f, false);
	assert_int_equal(vmport_alloc_refill(&f->v, &f->p), 0);
	assert_frames(f, 0);
	guest_request(f, true);

	/* Only 3 free frames in the pool: 3 lent. */
	for (uint32_t i = 0; i < FRAMES - 3; i++)
		frame_for(f, POOL_OWN_FILL);
	assert_int_equal(vmport_alloc_refill(&f->v, &f->p), 3);
	assert_int_equal(f->p.n_free, 0);
	assert_int_equal(vmport_alloc_refill(&f->v, &f->p), 0);
	assert_frames(f, 3);
	give_back(f, POOL_OWN_FILL);
	assert_int_equal(vmport_alloc_refill(&f->v, &f->p), 1);
	assert_frames(f, 4);

	/* The guest's alloc consumer index ahead of the producer. */
	al = (void *)(f->v.region + f->v.layout.alloc.off);
	assert_int_equal(al->producer, 4);
	static const uint32_t bad_cons[] = { 5, 20, 0x80000004u, 3 + 0xfffffff0u };

	for (size_t i = 0; i < sizeof(bad_cons) / sizeof(bad_cons[0]); i++) {
		al->consumer = bad_cons[i];
		assert_int_equal(vmport_alloc_refill(&f->v, &f->p), 0);
		want[VM_BAD_RING_INDEX]++;
		assert_drops(&f->v, want);
		assert_int_equal(al->producer, 4);
		assert_frames(f, 4);
	}
	/* Sane again: it took 2. */
	al->consumer = 2;
	assert_int_equal(vmport_alloc_refill(&f->v, &f->p), 2);
	assert_int_equal(al->producer, 6);
	assert_frames(f, 6);
	fx_free(f);
}


/* ---- doorbells (ring.h, I..L) -------------------------------------------- */

static uint64_t eventfd_count(int fd)
{
	uint64_t v = 0;

	if (read(fd, &v, sizeof(v)) != sizeof(v))
		return 0;
	return v;
}

/* Publishes the rx ring and rings the guest if it wants (K, L): what the
 * switch does with doorbell_usecs = 0 (sw_ring_guest). */
static void flush_ring(struct fx *f)
{
	if (vmport_rx_flush(&f->v, &f->p) && vmport_wants_ring(&f->v))
		vmport_ring(&f->v);
}

/* The switch rings the guest only on a live doorbell and only while the
 * guest asks; the guest rings the switch only while the switch asks. */
static void test_doorbell_need_wakeup(void **state)
{
	struct fx *f = fx_new(CFG_SCRUB_USED);
	int bell = eventfd(0, EFD_NONBLOCK), wait = eventfd(0, EFD_NONBLOCK);
	struct fs_desc d[4];
	uint64_t lent[2];

	(void)state;
	/* A guest that can ring says so when it attaches. */
	fsg_set_doorbell(&f->g, wait, bell, -1);
	guest_request(f, true);
	assert_false(f->v.rings_me); /* guest_request() leaves guest_flags */
	__atomic_store_n(&f->g.hdr->guest_flags, FS_GUEST_RINGS, __ATOMIC_RELAXED);
	guest_request(f, true);
	assert_true(f->v.rings_me);
	assert_false(vmport_can_sleep(&f->v)); /* no doorbell connection yet */
	f->v.db_live = 1;
	assert_true(vmport_can_sleep(&f->v));
	eventfd_count(bell); /* the attach rang (nothing here: raw request) */

	/* Switch -> guest: no ring while the guest does not ask... */
	assert_int_equal(to_vm(f, &f->v, switch_frame(f, 1), PKT_LEN), 0);
	flush_ring(f);
	assert_int_equal(eventfd_count(f->v.irq_fd), 0);
	/* ... one when it sleeps on rx ... */
	__atomic_store_n(f->g.rx.flags, FS_RING_NEED_WAKEUP, __ATOMIC_RELAXED);
	assert_int_equal(to_vm(f, &f->v, switch_frame(f, 2), PKT_LEN), 0);
	flush_ring(f);
	assert_int_equal(eventfd_count(f->v.irq_fd), 1);
	assert_int_equal(f->v.st.irqs, 1);
	/* ... and none without a live doorbell. */
	f->v.db_live = 0;
	assert_int_equal(to_vm(f, &f->v, switch_frame(f, 3), PKT_LEN), 0);
	flush_ring(f);
	assert_int_equal(eventfd_count(f->v.irq_fd), 0);
	f->v.db_live = 1;
	__atomic_store_n(f->g.rx.flags, 0, __ATOMIC_RELAXED);
	/* Lent frames wake a guest that sleeps on alloc. */
	__atomic_store_n(f->g.alloc.flags, FS_RING_NEED_WAKEUP, __ATOMIC_RELAXED);
	assert_int_equal(vmport_alloc_refill(&f->v, &f->p), QUOTA / 4);
	if (vmport_wants_ring(&f->v))
		vmport_ring(&f->v);
	assert_int_equal(eventfd_count(f->v.irq_fd), 1);
	assert_int_equal(f->v.st.irqs, 2);
	__atomic_store_n(f->g.alloc.flags, 0, __ATOMIC_RELAXED);

	/* Guest -> switch: no ring while the switch is awake... */
	assert_int_equal(fsg_rx(&f->g, d, 4), 3);
	assert_int_equal(fsg_free(&f->g, d[0].addr), 0);
	fsg_flush(&f->g);
	assert_int_equal(eventfd_count(bell), 0);
	/* ... none for frames given back when it asked for tx only... */
	vmport_want_wakeup(&f->v, true, false);
	assert_int_equal(fsg_free(&f->g, d[1].addr), 0);
	fsg_flush(&f->g);
	assert_int_equal(eventfd_count(bell), 0);
	/* ... one when it asked for tx and free. */
	vmport_want_wakeup(&f->v, true, true);
	assert_int_equal(fsg_free(&f->g, d[2].addr), 0);
	fsg_flush(&f->g);
	assert_int_equal(eventfd_count(bell), 1);
	lent[0] = fsg_alloc(&f->g); /* lent above */
	assert_int_not_equal(lent[0], UINT64_MAX);
	assert_int_equal(fsg_tx(&f->g, lent[0] + 256, 60), 0);
	fsg_flush(&f->g);
	assert_int_equal(eventfd_count(bell), 1);
	assert_int_equal(f->g.rings, 2);
	vmport_want_wakeup(&f->v, false, true);
	lent[1] = fsg_alloc(&f->g);
	assert_int_not_equal(lent[1], UINT64_MAX);
	assert_int_equal(fsg_tx(&f->g, lent[1] + 256, 60), 0);
	fsg_flush(&f->g);
	assert_int_equal(eventfd_count(bell), 0);

	/* fsg_wait returns at once when something waits on the ring. */
	assert_int_equal(to_vm(f, &f->v, switch_frame(f, 4), PKT_LEN), 0);
	vmport_rx_flush(&f->v, &f->p);
	__atomic_store_n(&f->g.hdr->switch_doorbell, 1, __ATOMIC_RELAXED);
	fsg_wait(&f->g, FSG_WAIT_RX, 10000);
	assert_int_equal(f->g.waits, 0);
	assert_int_equal(__atomic_load_n(f->g.rx.flags, __ATOMIC_RELAXED), 0);
	fx_free(f); /* closes bell and wait with the guest */
}


int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rx_detached),
		cmocka_unit_test(test_rx_detached_no_leak),
		cmocka_unit_test(test_rx_delivery),
		cmocka_unit_test(test_rx_quota),
		cmocka_unit_test(test_rx_quota_includes_alloc_ring),
		cmocka_unit_test(test_rx_ring_full_and_bad_consumer),
		cmocka_unit_test(test_alloc_refill),
		cmocka_unit_test(test_alloc_refill_within_quota),
		cmocka_unit_test(test_alloc_refill_limits),
		cmocka_unit_test(test_doorbell_need_wakeup),
	};

	return FX_RUN(tests);
}
