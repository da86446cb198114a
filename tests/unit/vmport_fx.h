/* SPDX-License-Identifier: MIT */
/*
 * What the VM port tests share (test_vmport_*.c): a pool and a region file
 * under /tmp, the switch side through vmport_*(), the guest side through
 * the guest library (guest/lib/fsguest.c) on the same files, or by
 * writing the shared ring words directly where a hostile guest would. The
 * attach handshake is driven by hand (guest_request: guest_req written,
 * vmport_poll_ctrl called). Header-only, for one test binary each.
 */
#ifndef FS_VMPORT_FX_H
#define FS_VMPORT_FX_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "fsguest.h"
#include "log.h"
#include "pool.h"
#include "vmport.h"
#include "testutil.h"

#define FRAMES 64u
#define FSIZE 2048u
#define QUOTA 16u
#define RING 16u
#define PKT_LEN 60u

static unsigned int path_seq;

struct fx {
	struct cfg_pool pc;
	struct cfg_vm vc;
	struct pool p;
	struct vmport v;
	struct fsg g;
	bool v_live, g_live;
};

/* ---- helpers ------------------------------------------------------------- */

static inline void vm_cfg(struct cfg_vm *c, const char *name, uint32_t quota,
		   uint32_t ring_size, uint8_t last)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->mac[0] = 0x52;
	c->mac[1] = 0x54;
	c->mac[5] = last;
	c->vlan = 0;
	snprintf(c->rings, sizeof(c->rings), "/tmp/fs-test-rings-%d-%u",
		 (int)getpid(), path_seq++);
	unlink(c->rings);
	c->quota = quota;
	c->ring_size = ring_size;
}

static inline struct fx *fx_new(enum cfg_scrub scrub)
{
	struct fx *f = calloc(1, sizeof(*f));
	char err[256];

	assert_non_null(f);
	snprintf(f->pc.path, sizeof(f->pc.path), "/tmp/fs-test-vmpool-%d-%u",
		 (int)getpid(), path_seq++);
	unlink(f->pc.path);
	f->pc.frames = FRAMES;
	f->pc.frame_size = FSIZE;
	f->pc.scrub = scrub;
	assert_int_equal(pool_create(&f->p, &f->pc, 2), 0);
	vm_cfg(&f->vc, "web1", QUOTA, RING, 1);
	assert_int_equal(vmport_create(&f->v, &f->vc, 0, &f->p), 0);
	f->v_live = true;
	if (fsg_open(&f->g, f->pc.path, f->vc.rings, err, sizeof(err)))
		fail_msg("fsg_open: %s", err);
	f->g_live = true;
	return f;
}

static inline void fx_free(struct fx *f)
{
	if (f->g_live)
		fsg_close(&f->g);
	if (f->v_live)
		vmport_destroy(&f->v, &f->p);
	pool_destroy(&f->p);
	unlink(f->vc.rings);
	unlink(f->pc.path);
	free(f);
}

/* The guest's side of the handshake, as fsg_attach does it, with the
 * switch's poll in between instead of a wait. */
static inline void guest_request(struct fx *f, bool attach)
{
	struct fsg *g = &f->g;
	uint32_t cur = __atomic_load_n(&g->hdr->guest_req, __ATOMIC_RELAXED);

	g->req = ((cur >> 1) + 1) << 1 | (attach ? FS_REQ_ATTACH : 0);
	__atomic_store_n(&g->hdr->guest_req, g->req, __ATOMIC_RELEASE);
	assert_int_equal(vmport_poll_ctrl(&f->v, &f->p), 1);
	assert_int_equal(__atomic_load_n(&g->hdr->guest_ack, __ATOMIC_ACQUIRE),
			 g->req);
	assert_int_equal(f->v.attached, attach);
	g->gen = g->hdr->switch_gen;
	fs_ring_init(&g->rx, g->region, &g->hdr->rx);
	fs_ring_init(&g->free, g->region, &g->hdr->free);
	fs_ring_init(&g->alloc, g->region, &g->hdr->alloc);
	fs_ring_init(&g->tx, g->region, &g->hdr->tx);
	g->free_unsubmitted = g->tx_unsubmitted = 0;
}

static inline struct fx *fx_attached(void)
{
	struct fx *f = fx_new(CFG_SCRUB_USED);

	guest_request(f, true);
	return f;
}

static inline uint32_t owned_by(const struct pool *p, uint16_t who)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < p->frames; i++)
		n += p->fr[i].owner == who;
	return n;
}

/* Owner table sane, nothing leaked, the VM holds `held` frames. Between
 * batches: every frame the switch owns is on its free list. */
static inline void assert_frames(const struct fx *f, uint32_t held)
{
	char msg[256];
	uint64_t sum = 0;
	int rc = pool_check(&f->p, true, msg, sizeof(msg));

	if (rc)
		fail_msg("pool_check: %s", msg);
	for (uint32_t i = 0; i < f->p.n_owners; i++)
		sum += f->p.count[i];
	assert_int_equal(sum, FRAMES);
	assert_int_equal(vmport_held(&f->v, &f->p), held);
	assert_int_equal(owned_by(&f->p, f->v.owner), held);
	assert_true(held <= f->v.cfg.quota);
}

static inline void assert_frames_mid(const struct fx *f, uint32_t held)
{
	char msg[256];

	if (pool_check(&f->p, false, msg, sizeof(msg)))
		fail_msg("pool_check: %s", msg);
	assert_int_equal(vmport_held(&f->v, &f->p), held);
	assert_int_equal(owned_by(&f->p, f->v.owner), held);
}

static inline void assert_drops(const struct vmport *v, const uint64_t want[VM_DROP_NR])
{
	for (int i = 0; i < VM_DROP_NR; i++)
		if (v->st.drops[i] != want[i])
			fail_msg("drop counter %s is %llu, not %llu", vm_drop_names[i],
				 (unsigned long long)v->st.drops[i],
				 (unsigned long long)want[i]);
}

/* A frame off the free list with a 60-byte packet at the headroom, reused
 * as the switch does for frames from the NIC. */
static inline uint64_t switch_frame(struct fx *f, uint8_t fill)
{
	uint64_t a = pool_alloc(&f->p);

	assert_int_not_equal(a, UINT64_MAX);
	memset(pool_data(&f->p, a + FS_HEADROOM), fill, PKT_LEN);
	scrub_reuse(&f->p.scrub, pool_frame(&f->p, a), FS_HEADROOM,
		    FS_HEADROOM + PKT_LEN);
	return a + FS_HEADROOM;
}

/* The switch's to_vm(): deliver, or take the frame back if dropped. */
static inline int to_vm(struct fx *f, struct vmport *v, uint64_t addr, uint32_t len)
{
	int rc = vmport_rx_enqueue(v, &f->p, addr, len);

	if (rc)
		pool_recycle(&f->p, pool_frame(&f->p, addr));
	return rc;
}

/* Lends `n` frames and has the guest take them; their base offsets. */
static inline void guest_takes_lent(struct fx *f, uint32_t n, uint64_t *addrs)
{
	uint32_t got = 0;

	while (got < n) {
		uint32_t lent = vmport_alloc_refill(&f->v, &f->p);
		uint64_t a;

		assert_true(lent > 0);
		while (got < n && (a = fsg_alloc(&f->g)) != UINT64_MAX)
			addrs[got++] = a;
	}
}

/* The guest writes one descriptor on the tx ring and publishes it. */
static inline void guest_tx_raw(struct fx *f, uint64_t addr, uint32_t len,
			 uint32_t options)
{
	uint32_t idx;
	struct fs_desc *d;

	assert_int_equal(fs_prod_reserve(&f->g.tx, 1, &idx, NULL), 1);
	d = fs_ring_desc(&f->g.tx, idx);
	d->addr = addr;
	d->len = len;
	d->options = options;
	fs_prod_submit(&f->g.tx);
}

static inline void guest_free_raw(struct fx *f, uint64_t addr)
{
	uint32_t idx;

	assert_int_equal(fs_prod_reserve(&f->g.free, 1, &idx, NULL), 1);
	*fs_ring_addr(&f->g.free, idx) = addr;
	fs_prod_submit(&f->g.free);
}

/* The switch "sends" what it collected: the frames go back to the free
 * list, as after a tx completion. */
static inline void switch_sent(struct fx *f, const struct fs_desc *d, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		pool_recycle(&f->p, pool_frame(&f->p, d[i].addr));
}

/* A frame given to another owner (not this VM) for the bad-owner cases. */
static inline uint64_t frame_for(struct fx *f, uint16_t who)
{
	uint64_t a = pool_alloc(&f->p);

	assert_int_not_equal(a, UINT64_MAX);
	assert_int_equal(pool_move(&f->p, pool_frame(&f->p, a), POOL_OWN_SWITCH, who), 0);
	return a;
}

static inline void give_back(struct fx *f, uint16_t who)
{
	pool_reclaim(&f->p, who);
}

static inline void assert_ring_indices_zero(const struct fx *f)
{
	const struct fs_ring_info *ri[] = { &f->g.hdr->rx, &f->g.hdr->free,
					    &f->g.hdr->alloc, &f->g.hdr->tx };

	for (int i = 0; i < 4; i++) {
		const struct fs_ring_shared *s =
			(const void *)(f->g.region + ri[i]->off);

		assert_int_equal(s->producer, 0);
		assert_int_equal(s->consumer, 0);
		assert_int_equal(s->flags, 0);
	}
	const struct fs_ring *sr[] = { &f->v.rx, &f->v.free, &f->v.alloc, &f->v.tx };

	for (int i = 0; i < 4; i++) {
		assert_int_equal(sr[i]->cached_prod, 0);
		assert_int_equal(sr[i]->cached_cons, 0);
	}
	assert_int_equal(f->v.rx_unflushed, 0);
}


/* Every byte of the pool that is not zero lies in its frame's dirty range:
 * a frame's next use zeroes whatever the new packet does not overwrite. */
static inline void assert_data_tracked(struct fx *f)
{
	for (uint32_t fr = 0; fr < f->p.frames; fr++) {
		const unsigned char *b = f->p.base + pool_frame_addr(&f->p, fr);
		uint32_t d = f->p.scrub.fr[fr].dirty, lo = d & 0xffff, hi = d >> 16;

		for (uint32_t i = 0; i < FSIZE; i++)
			if (b[i] && (!d || i < lo || i >= hi))
				fail_msg("frame %u byte %u is %#x outside its dirty range [%u, %u)",
					 fr, i, b[i], lo, hi);
	}
}

/* Runs the tests, then removes the files a failed test left (a failed
 * test skips its cleanup). */
static inline int fx_run(const char *name, const struct CMUnitTest *tests,
			 size_t n)
{
	int failed;

	log_level = LOG_LVL_ERR;
	failed = _cmocka_run_group_tests(name, tests, n, NULL, NULL);
	for (unsigned int i = 0; i < path_seq; i++) {
		char path[128];

		snprintf(path, sizeof(path), "/tmp/fs-test-rings-%d-%u", (int)getpid(), i);
		unlink(path);
		snprintf(path, sizeof(path), "/tmp/fs-test-vmpool-%d-%u", (int)getpid(), i);
		unlink(path);
	}
	return failed;
}

#define FX_RUN(tests) fx_run(__FILE__, tests, sizeof(tests) / sizeof(tests[0]))

#endif /* FS_VMPORT_FX_H */
