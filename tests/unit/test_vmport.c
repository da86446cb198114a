// SPDX-License-Identifier: MIT
/*
 * VM ports (user/vmport.c) driven from both sides: a pool and a region file
 * under /tmp, the switch side through vmport_*(), the guest side through
 * the guest library (tools/guest/fsguest.c) on the same files, or by writing
 * the shared ring words directly where a hostile guest would. The attach
 * handshake is driven by hand (guest_req written, vmport_poll_ctrl called)
 * except in one test that runs fsg_attach/fsg_detach in a thread.
 *
 * Covers: region creation (header, sizes, generation, flock, file removal),
 * the handshake, detach and re-attach (every frame taken back, indices
 * reset), rx delivery (descriptor, ownership, flush), drops by reason
 * (detached, quota, rx ring full), alloc refill (quota / 4, quota, free
 * frames), every bad-input class on the tx and free rings with exact
 * counters, and after each case the owner table: pool_check() ok, no frame
 * leaked, the VM holding exactly the frames expected.
 */
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

static void vm_cfg(struct cfg_vm *c, const char *name, uint32_t quota,
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

static struct fx *fx_new(enum cfg_scrub scrub)
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

static void fx_free(struct fx *f)
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
static void guest_request(struct fx *f, bool attach)
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

static struct fx *fx_attached(void)
{
	struct fx *f = fx_new(CFG_SCRUB_USED);

	guest_request(f, true);
	return f;
}

static uint32_t owned_by(const struct pool *p, uint16_t who)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < p->frames; i++)
		n += p->owner[i] == who;
	return n;
}

/* Owner table sane, nothing leaked, the VM holds `held` frames. Between
 * batches: every frame the switch owns is on its free list. */
static void assert_frames(const struct fx *f, uint32_t held)
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

static void assert_frames_mid(const struct fx *f, uint32_t held)
{
	char msg[256];

	if (pool_check(&f->p, false, msg, sizeof(msg)))
		fail_msg("pool_check: %s", msg);
	assert_int_equal(vmport_held(&f->v, &f->p), held);
	assert_int_equal(owned_by(&f->p, f->v.owner), held);
}

static void assert_drops(const struct vmport *v, const uint64_t want[VM_DROP_NR])
{
	for (int i = 0; i < VM_DROP_NR; i++)
		if (v->st.drops[i] != want[i])
			fail_msg("drop counter %s is %llu, not %llu", vm_drop_names[i],
				 (unsigned long long)v->st.drops[i],
				 (unsigned long long)want[i]);
}

/* A frame off the free list with a 60-byte packet at the headroom, reused
 * as the switch does for frames from the NIC. */
static uint64_t switch_frame(struct fx *f, uint8_t fill)
{
	uint64_t a = pool_alloc(&f->p);

	assert_int_not_equal(a, UINT64_MAX);
	memset(pool_data(&f->p, a + FS_HEADROOM), fill, PKT_LEN);
	scrub_reuse(&f->p.scrub, pool_frame(&f->p, a), FS_HEADROOM,
		    FS_HEADROOM + PKT_LEN);
	return a + FS_HEADROOM;
}

/* The switch's to_vm(): deliver, or take the frame back if dropped. */
static int to_vm(struct fx *f, struct vmport *v, uint64_t addr, uint32_t len)
{
	int rc = vmport_rx_enqueue(v, &f->p, addr, len);

	if (rc)
		pool_recycle(&f->p, pool_frame(&f->p, addr));
	return rc;
}

/* Lends `n` frames and has the guest take them; their base offsets. */
static void guest_takes_lent(struct fx *f, uint32_t n, uint64_t *addrs)
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
static void guest_tx_raw(struct fx *f, uint64_t addr, uint32_t len,
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

static void guest_free_raw(struct fx *f, uint64_t addr)
{
	uint32_t idx;

	assert_int_equal(fs_prod_reserve(&f->g.free, 1, &idx, NULL), 1);
	*fs_ring_addr(&f->g.free, idx) = addr;
	fs_prod_submit(&f->g.free);
}

/* The switch "sends" what it collected: the frames go back to the free
 * list, as after a tx completion. */
static void switch_sent(struct fx *f, const struct fs_desc *d, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		pool_recycle(&f->p, pool_frame(&f->p, d[i].addr));
}

/* A frame given to another owner (not this VM) for the bad-owner cases. */
static uint64_t frame_for(struct fx *f, uint16_t who)
{
	uint64_t a = pool_alloc(&f->p);

	assert_int_not_equal(a, UINT64_MAX);
	assert_int_equal(pool_move(&f->p, pool_frame(&f->p, a), POOL_OWN_SWITCH, who), 0);
	return a;
}

static void give_back(struct fx *f, uint16_t who)
{
	pool_reclaim(&f->p, who);
}

static void assert_ring_indices_zero(const struct fx *f)
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

/* ---- creation ------------------------------------------------------------ */

static void test_create_header(void **state)
{
	struct fx *f = fx_new(CFG_SCRUB_USED);
	const struct fs_region_hdr *h = f->g.hdr;
	struct stat st;
	char err[128];

	(void)state;
	assert_true(f->v.created);
	assert_int_equal(h->magic, FS_REGION_MAGIC);
	assert_int_equal(h->abi_major, FS_ABI_MAJOR);
	assert_int_equal(h->abi_minor, FS_ABI_MINOR);
	assert_int_equal(h->hdr_size, sizeof(struct fs_region_hdr));
	assert_int_equal(h->pool_size, FRAMES * FSIZE);
	assert_int_equal(h->pool_frames, FRAMES);
	assert_int_equal(h->frame_size, FSIZE);
	assert_int_equal(h->headroom, FS_HEADROOM);
	assert_int_equal(h->quota, QUOTA);
	assert_memory_equal(h->mac, f->vc.mac, 6);
	assert_int_equal(h->vlan, 0);
	assert_string_equal(h->name, "web1");
	/* Four rings of 16, each on its own page after the header page. */
	assert_int_equal(h->rx.off, 4096);
	assert_int_equal(h->free.off, 8192);
	assert_int_equal(h->alloc.off, 12288);
	assert_int_equal(h->tx.off, 16384);
	assert_int_equal(h->rx.size, RING);
	assert_int_equal(h->free.size, RING);
	assert_int_equal(h->alloc.size, RING);
	assert_int_equal(h->tx.size, RING);
	assert_int_equal(h->rx.desc_size, 16);
	assert_int_equal(h->free.desc_size, 8);
	assert_int_equal(h->alloc.desc_size, 8);
	assert_int_equal(h->tx.desc_size, 16);
	assert_int_equal(h->region_size, 32768); /* 5 pages, rounded to 2^n */
	assert_int_equal(stat(f->vc.rings, &st), 0);
	assert_int_equal(st.st_size, 32768);
	assert_int_equal(h->switch_state, FS_SW_UP);
	assert_int_equal(h->switch_gen, 1);
	assert_int_equal(h->guest_req, 0);
	assert_int_equal(h->guest_ack, 0);
	assert_int_equal(fsg_check_header(h, 32768, err, sizeof(err)), 0);
	assert_false(f->v.attached);
	assert_int_equal(f->v.alloc_target, QUOTA / 4);
	assert_int_equal(f->v.owner, POOL_OWN_VM(0));
	assert_ring_indices_zero(f);
	assert_frames(f, 0);
	/* Nothing happens without a request. */
	assert_int_equal(vmport_poll_ctrl(&f->v, &f->p), 0);
	assert_false(f->v.attached);
	fx_free(f);
}

static void test_alloc_target(void **state)
{
	static const struct { uint32_t quota, ring, target; } cases[] = {
		{ 16, 16, 4 }, { 1, 16, 1 }, { 3, 16, 1 }, { 4, 16, 1 },
		{ 7, 16, 1 }, { 8, 16, 2 }, { 64, 16, 16 }, { 100, 16, 16 },
		{ 1024, 256, 256 }, { 64, 64, 16 },
	};
	struct fx *f = fx_new(CFG_SCRUB_USED);

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cfg_vm c;
		struct vmport v;

		vm_cfg(&c, "t", cases[i].quota, cases[i].ring, 9);
		assert_int_equal(vmport_create(&v, &c, 1, &f->p), 0);
		assert_int_equal(v.alloc_target, cases[i].target);
		assert_int_equal(v.hdr->rx.size, cases[i].ring);
		vmport_destroy(&v, &f->p);
		assert_false(file_exists(c.rings));
	}
	fx_free(f);
}

static void test_destroy_removes_file_and_reclaims(void **state)
{
	struct fx *f = fx_attached();
	uint64_t lent[4];
	char rings[PATH_MAX];

	(void)state;
	guest_takes_lent(f, 4, lent);
	assert_int_equal(to_vm(f, &f->v, switch_frame(f, 1), PKT_LEN), 0);
	vmport_rx_flush(&f->v, &f->p);
	assert_frames(f, 4 + 1); /* 4 lent and taken, 1 on the rx ring */

	snprintf(rings, sizeof(rings), "%s", f->vc.rings);
	assert_true(file_exists(rings));
	vmport_destroy(&f->v, &f->p);
	f->v_live = false;
	/* The guest sees the switch gone; every frame is back. */
	assert_int_equal(f->g.hdr->switch_state, 0);
	assert_true(fsg_switch_changed(&f->g));
	assert_int_equal(f->p.count[POOL_OWN_VM(0)], 0);
	assert_int_equal(f->p.n_free, FRAMES);
	/* A guest was attached: the file stays for the next switch. */
	assert_true(file_exists(rings));
	vmport_destroy(&f->v, &f->p); /* twice is harmless */
	fx_free(f);
}

/* With no guest attached, destroy removes the file it created. */
static void test_destroy_detached_removes_file(void **state)
{
	struct fx *f = fx_attached();
	char rings[PATH_MAX];

	(void)state;
	guest_request(f, false);
	snprintf(rings, sizeof(rings), "%s", f->vc.rings);
	vmport_destroy(&f->v, &f->p);
	f->v_live = false;
	assert_false(file_exists(rings));
	fx_free(f);
}

/* A region file that was there before: kept at destroy, and its
 * generation counts on; the old guest's request word is not acted on. */
static void test_existing_region_file(void **state)
{
	struct fx *f = fx_new(CFG_SCRUB_USED);
	struct cfg_vm c;
	struct vmport v, v2;
	int fd;

	(void)state;
	vm_cfg(&c, "old", QUOTA, RING, 7);
	fd = open(c.rings, O_RDWR | O_CREAT, 0600);
	assert_true(fd >= 0);
	close(fd);

	assert_int_equal(vmport_create(&v, &c, 1, &f->p), 0);
	assert_false(v.created);
	assert_int_equal(v.hdr->switch_gen, 1);
	/* A guest attached to this switch ... */
	__atomic_store_n(&v.hdr->guest_req, (3u << 1) | FS_REQ_ATTACH, __ATOMIC_RELEASE);
	assert_int_equal(vmport_poll_ctrl(&v, &f->p), 1);
	assert_true(v.attached);

	/* ... while it is alive nobody else can take the file ... */
	quiet();
	int rc = vmport_create(&v2, &c, 1, &f->p);

	unquiet();
	assert_int_equal(rc, -EWOULDBLOCK);
	assert_true(file_exists(c.rings));
	assert_int_equal(v.hdr->switch_state, FS_SW_UP);

	/* ... and it goes away: the file stays. */
	vmport_destroy(&v, &f->p);
	assert_true(file_exists(c.rings));

	/* The next switch: generation 2, the old request already answered,
	 * not attached until the guest asks again. */
	assert_int_equal(vmport_create(&v, &c, 1, &f->p), 0);
	assert_false(v.created);
	assert_int_equal(v.hdr->switch_gen, 2);
	assert_int_equal(v.hdr->guest_req, (3u << 1) | FS_REQ_ATTACH);
	assert_int_equal(v.hdr->guest_ack, (3u << 1) | FS_REQ_ATTACH);
	assert_false(v.attached);
	assert_int_equal(vmport_poll_ctrl(&v, &f->p), 0);
	assert_false(v.attached);
	__atomic_store_n(&v.hdr->guest_req, (4u << 1) | FS_REQ_ATTACH, __ATOMIC_RELEASE);
	assert_int_equal(vmport_poll_ctrl(&v, &f->p), 1);
	assert_true(v.attached);
	vmport_destroy(&v, &f->p);
	assert_true(file_exists(c.rings));
	unlink(c.rings);
	fx_free(f);
}

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
	assert_int_equal(f->p.owner[pool_frame(&f->p, a)], POOL_OWN_SWITCH);
	assert_int_equal(f->v.st.rx_packets, 0);
	assert_int_equal(f->v.rx_unflushed, 0);
	assert_int_equal(f->v.rx.cached_prod, 0);
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
	assert_int_equal(f->p.owner[0], f->v.owner);
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
			assert_int_equal(f->p.owner[a / FSIZE], f->v.owner);
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
	assert_int_equal(f->p.owner[FRAMES - 1], POOL_OWN_SWITCH);
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
			assert_int_equal(f->p.owner[pool_frame(&f->p, a)],
					 POOL_OWN_SWITCH);
			assert_int_equal(f->p.scrub.dirty[pool_frame(&f->p, a)],
					 SCRUB_RANGE(pool_offset_in_frame(&f->p, a),
						    pool_offset_in_frame(&f->p, a) +
						    tc->d[i].len));
			bytes += tc->d[i].len;
			j++;
		}
		assert_int_equal(j, k);
		assert_int_equal(f->v.st.tx_bytes, bytes);
		/* Nobody else's frame changed hands. */
		assert_int_equal(f->p.owner[pool_frame(&f->p, w.other)], POOL_OWN_VM(1));
		assert_int_equal(f->p.owner[pool_frame(&f->p, w.kernel)], POOL_OWN_FILL);
		assert_int_equal(f->p.owner[FRAMES - 1], POOL_OWN_SWITCH);

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
		assert_int_equal(f->p.owner[pool_frame(&f->p, w.other)], POOL_OWN_VM(1));
		assert_int_equal(f->p.owner[pool_frame(&f->p, w.kernel)], POOL_OWN_FILL);
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

/* Every byte of the pool that is not zero lies in its frame's dirty range:
 * a frame's next use zeroes whatever the new packet does not overwrite. */
static void assert_data_tracked(struct fx *f)
{
	for (uint32_t fr = 0; fr < f->p.frames; fr++) {
		const unsigned char *b = f->p.base + pool_frame_addr(&f->p, fr);
		uint32_t d = f->p.scrub.dirty[fr], lo = d & 0xffff, hi = d >> 16;

		for (uint32_t i = 0; i < FSIZE; i++)
			if (b[i] && (!d || i < lo || i >= hi))
				fail_msg("frame %u byte %u is %#x outside its dirty range [%u, %u)",
					 fr, i, b[i], lo, hi);
	}
}

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
		assert_int_equal(f->p.scrub.dirty[frame],
				 SCRUB_RANGE(FS_HEADROOM, FS_HEADROOM + 40));
		/* Lent to a guest, who may send any of it: all clean. */
		scrub_frame(&f->p.scrub, frame);
		for (uint32_t i = FS_HEADROOM; i < FS_HEADROOM + 40; i++)
			assert_int_equal(fr[i], 0);
		assert_int_equal(f->p.scrub.dirty[frame], 0);
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
	assert_int_equal(f->p.scrub.dirty[pool_frame(&f->p, base)],
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
	uint64_t lent[1];

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
	/* ... one when it asked for tx and free. */
	vmport_want_wakeup(&f->v, true);
	assert_int_equal(fsg_free(&f->g, d[1].addr), 0);
	fsg_flush(&f->g);
	assert_int_equal(eventfd_count(bell), 1);
	lent[0] = fsg_alloc(&f->g); /* lent above */
	assert_int_not_equal(lent[0], UINT64_MAX);
	assert_int_equal(fsg_tx(&f->g, lent[0] + 256, 60), 0);
	fsg_flush(&f->g);
	assert_int_equal(eventfd_count(bell), 1);
	assert_int_equal(f->g.rings, 2);
	vmport_want_wakeup(&f->v, false);
	assert_int_equal(fsg_free(&f->g, d[2].addr), 0);
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
		cmocka_unit_test(test_create_header),
		cmocka_unit_test(test_alloc_target),
		cmocka_unit_test(test_destroy_removes_file_and_reclaims),
		cmocka_unit_test(test_existing_region_file),
		cmocka_unit_test(test_fsg_attach_detach_threaded),
		cmocka_unit_test(test_rx_detached),
		cmocka_unit_test(test_rx_detached_no_leak),
		cmocka_unit_test(test_rx_delivery),
		cmocka_unit_test(test_rx_quota),
		cmocka_unit_test(test_rx_quota_includes_alloc_ring),
		cmocka_unit_test(test_rx_ring_full_and_bad_consumer),
		cmocka_unit_test(test_alloc_refill),
		cmocka_unit_test(test_alloc_refill_within_quota),
		cmocka_unit_test(test_alloc_refill_limits),
		cmocka_unit_test(test_tx_bad_inputs),
		cmocka_unit_test(test_tx_bad_ring_index),
		cmocka_unit_test(test_free_bad_inputs),
		cmocka_unit_test(test_free_bad_ring_index),
		cmocka_unit_test(test_reuse_scrubs_received_frame),
		cmocka_unit_test(test_guest_round_trip),
		cmocka_unit_test(test_doorbell_need_wakeup),
		cmocka_unit_test(test_detach_reclaims_everything),
		cmocka_unit_test(test_reattach_resets),
		cmocka_unit_test(test_guest_timeout),
		cmocka_unit_test(test_destroy_detached_removes_file),
	};

	int failed;

	log_level = LOG_LVL_ERR;
	failed = cmocka_run_group_tests(tests, NULL, NULL);
	/* A failed test skips its cleanup: remove what it left. */
	for (unsigned int i = 0; i < path_seq; i++) {
		char path[128];

		snprintf(path, sizeof(path), "/tmp/fs-test-rings-%d-%u", (int)getpid(), i);
		unlink(path);
		snprintf(path, sizeof(path), "/tmp/fs-test-vmpool-%d-%u", (int)getpid(), i);
		unlink(path);
	}
	return failed;
}
