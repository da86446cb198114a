// SPDX-License-Identifier: MIT
/*
 * VM ports (user/vmport.c): attach and detach. The handshake with the
 * guest library's fsg_attach/fsg_detach in a thread, detach taking every
 * frame back, re-attach resetting the rings' indices, and a guest given
 * up on when its heartbeat stops.
 * After each case the owner table: pool_check() ok, no frame leaked, the
 * VM holding exactly the frames expected (vmport_fx.h).
 */
#include "vmport_fx.h"

/* ---- handshake ----------------------------------------------------------- */

struct attach_arg {
	struct fsg *g;
	int detach;
	int rc;
};

static void *guest_thread(void *arg)
{
	struct attach_arg *a = arg;

	a->rc = a->detach ? fsg_detach(a->g, 5000) : fsg_attach(a->g, 5000);
	return NULL;
}

/* The switch polls until the request it waits for arrives. */
static void switch_serves(struct fx *f, struct attach_arg *a)
{
	struct timespec ts = { 0, 100000 };
	pthread_t t;
	int acted = 0;

	a->rc = -1;
	assert_int_equal(pthread_create(&t, NULL, guest_thread, a), 0);
	for (int i = 0; i < 40000 && !acted; i++) {
		acted = vmport_poll_ctrl(&f->v, &f->p);
		if (!acted)
			nanosleep(&ts, NULL);
	}
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(acted, 1);
	assert_int_equal(a->rc, 0);
}

static void test_fsg_attach_detach_threaded(void **state)
{
	struct fx *f = fx_new(CFG_SCRUB_USED);
	struct attach_arg a = { .g = &f->g };
	uint64_t lent[2];

	(void)state;
	switch_serves(f, &a);
	assert_true(f->v.attached);
	assert_int_equal(f->g.req, (1u << 1) | FS_REQ_ATTACH);
	assert_int_equal(f->g.hdr->guest_ack, f->g.req);
	assert_false(fsg_switch_changed(&f->g));

	guest_takes_lent(f, 2, lent);
	assert_frames(f, 4);

	a.detach = 1;
	switch_serves(f, &a);
	assert_false(f->v.attached);
	assert_int_equal(f->g.req, 2u << 1);
	assert_int_equal(f->v.st.reclaimed, 4);
	assert_frames(f, 0);

	/* And attach again. */
	a.detach = 0;
	switch_serves(f, &a);
	assert_true(f->v.attached);
	assert_int_equal(f->g.req, (3u << 1) | FS_REQ_ATTACH);
	assert_ring_indices_zero(f);
	fx_free(f);
}


/* ---- detach and re-attach ------------------------------------------------ */

/* The VM holds frames everywhere: on its rx ring, on its alloc ring and in
 * the guest's hands; and its rings have moved. */
static uint32_t spread_frames(struct fx *f)
{
	struct fs_desc d[4], out[4];
	uint64_t lent[6];

	guest_takes_lent(f, 6, lent);             /* 6 in hand, 2 on alloc */
	guest_tx_raw(f, lent[0] + 256, 60, 0);    /* one sent */
	assert_int_equal(vmport_tx_collect(&f->v, &f->p, out, 4), 1);
	switch_sent(f, out, 1);
	guest_free_raw(f, lent[1]);               /* one freed */
	assert_int_equal(vmport_free_drain(&f->v, &f->p, 4), 1);
	for (int i = 0; i < 5; i++)
		assert_int_equal(to_vm(f, &f->v, switch_frame(f, 0x99), PKT_LEN), 0);
	vmport_rx_flush(&f->v, &f->p);
	assert_int_equal(fsg_rx(&f->g, d, 2), 2); /* 2 taken, 3 on the ring */
	memset(fsg_data(&f->g, d[0].addr), 0x42, PKT_LEN);
	/* 4 lent in hand + 2 on alloc + 2 received + 3 on rx */
	assert_frames(f, 11);
	return 11;
}

static void test_detach_reclaims_everything(void **state)
{
	struct fx *f = fx_attached();
	uint64_t want[VM_DROP_NR] = { 0 };
	struct fs_desc out[4];
	uint32_t held;

	(void)state;
	held = spread_frames(f);
	/* A request equal to the last one is no request. */
	assert_int_equal(vmport_poll_ctrl(&f->v, &f->p), 0);
	assert_frames(f, held);

	guest_request(f, false);
	assert_false(f->v.attached);
	assert_int_equal(f->v.st.reclaimed, held);
	assert_frames(f, 0);
	assert_int_equal(f->p.n_free, FRAMES);
	assert_ring_indices_zero(f);
	/* Every byte left is in its frame's dirty range, so the frame's
	 * next use zeroes it; scrubbing them all leaves the pool zero (the
	 * packets at the headroom and what the guest wrote in them). */
	assert_data_tracked(f);
	scrub_all(&f->p.scrub);
	for (uint64_t i = 0; i < f->p.size; i++)
		if (f->p.base[i])
			fail_msg("pool byte %llu is %#x after detach and scrub",
				 (unsigned long long)i, f->p.base[i]);

	/* Detached: nothing lent; the old frames are not the VM's. */
	assert_int_equal(vmport_alloc_refill(&f->v, &f->p), 0);
	guest_tx_raw(f, 2 * FSIZE + 256, 60, 0);
	assert_int_equal(vmport_tx_collect(&f->v, &f->p, out, 4), 0);
	want[VM_BAD_OWNER] = 1;
	assert_drops(&f->v, want);
	assert_frames(f, 0);
	fx_free(f);
}

static void test_reattach_resets(void **state)
{
	static const bool detach_first[] = { false, true };

	(void)state;
	for (size_t c = 0; c < 2; c++) {
		struct fx *f = fx_attached();
		struct fs_desc d;
		uint64_t a;
		uint32_t held;

		held = spread_frames(f);
		assert_int_not_equal(*f->g.rx.producer, 0);
		assert_int_not_equal(*f->g.tx.consumer, 0);
		assert_int_not_equal(*f->g.alloc.producer, 0);
		f->g.rx.flags[0] = FS_RING_NEED_WAKEUP;
		if (detach_first[c])
			guest_request(f, false);
		/* A guest that crashed attaches again without detaching. */
		guest_request(f, true);
		assert_true(f->v.attached);
		assert_int_equal(f->v.st.reclaimed, held);
		assert_frames(f, 0);
		assert_ring_indices_zero(f);

		/* Everything starts from index 0 again. */
		a = switch_frame(f, 0x31);
		assert_int_equal(to_vm(f, &f->v, a, PKT_LEN), 0);
		vmport_rx_flush(&f->v, &f->p);
		assert_int_equal(*f->g.rx.producer, 1);
		assert_int_equal(fs_ring_desc(&f->g.rx, 0)->addr, a);
		assert_int_equal(fsg_rx(&f->g, &d, 1), 1);
		assert_int_equal(d.addr, a);
		assert_int_equal(vmport_alloc_refill(&f->v, &f->p), QUOTA / 4);
		assert_int_equal(*f->g.alloc.producer, QUOTA / 4);
		assert_frames(f, 1 + QUOTA / 4);
		fx_free(f);
	}
}

/* A guest that stops polling is given up on after the timeout: its frames
 * come back, it is told (FS_ACK_GONE), and a guest that keeps polling is
 * not. */
static void test_guest_timeout(void **state)
{
	struct fx *f = fx_attached();
	struct fs_desc d[4];
	uint32_t lent;

	(void)state;
	lent = vmport_alloc_refill(&f->v, &f->p);
	assert_int_equal(to_vm(f, &f->v, switch_frame(f, 1), PKT_LEN), 0);
	vmport_rx_flush(&f->v, &f->p);
	assert_frames(f, lent + 1);

	/* Alive: the heartbeat moves between checks. */
	assert_int_equal(vmport_check_alive(&f->v, &f->p, 1000, 500), 0);
	for (uint64_t t = 1400; t < 5000; t += 400) {
		fsg_rx(&f->g, d, 0);
		assert_int_equal(vmport_check_alive(&f->v, &f->p, t, 500), 0);
	}
	assert_true(f->v.attached);
	assert_frames(f, lent + 1);

	/* Silent, but not for long enough yet. */
	assert_int_equal(vmport_check_alive(&f->v, &f->p, 5000, 500), 0);
	assert_true(f->v.attached);
	/* Silent for the timeout: everything comes back. */
	assert_int_equal(vmport_check_alive(&f->v, &f->p, 5200, 500), lent + 1);
	assert_false(f->v.attached);
	assert_int_equal(f->v.st.timeouts, 1);
	assert_int_equal(__atomic_load_n(&f->g.hdr->guest_ack, __ATOMIC_ACQUIRE),
			 FS_ACK_GONE);
	assert_true(fsg_switch_changed(&f->g));
	assert_frames(f, 0);
	assert_ring_indices_zero(f);
	/* Timeout 0: never. */
	guest_request(f, true);
	assert_int_equal(vmport_check_alive(&f->v, &f->p, 1, 0), 0);
	assert_int_equal(vmport_check_alive(&f->v, &f->p, 1000000, 0), 0);
	assert_true(f->v.attached);
	fx_free(f);
}


int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fsg_attach_detach_threaded),
		cmocka_unit_test(test_detach_reclaims_everything),
		cmocka_unit_test(test_reattach_resets),
		cmocka_unit_test(test_guest_timeout),
	};

	return FX_RUN(tests);
}
