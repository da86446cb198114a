// SPDX-License-Identifier: MIT
/*
 * VM ports (user/vmport.c): the region file. Creation (header, sizes,
 * generation, flock), the alloc target, an existing file re-initialised in
 * place, and destroy (frames taken back, the file removed or kept);
 * ftruncate or mmap failing (mocked) undone cleanly. And the header a
 * guest scribbled on written back (vmport_hdr_repair).
 * After each case the owner table: pool_check() ok, no frame leaked, the
 * VM holding exactly the frames expected (vmport_fx.h).
 */
#include "sysmock.h"
#include "vmport_fx.h"

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


/* A system call of vmport_create failing: -errno back, both descriptors
 * closed (the lock released: a vmport_create right after succeeds), no
 * mapping (vmport_destroy is a no-op), the file removed if vmport_create
 * made it and kept if it was there before (as QEMU, started first, makes
 * it). */
static void test_create_fails_cleanly(void **state)
{
	struct cfg_pool pc = { .frames = FRAMES, .frame_size = FSIZE,
			       .scrub = CFG_SCRUB_USED };
	struct pool p;

	(void)state;
	snprintf(pc.path, sizeof(pc.path), "/tmp/fs-test-vmpool-%d-%u",
		 (int)getpid(), path_seq++);
	unlink(pc.path);
	assert_int_equal(pool_create(&p, &pc, 1), 0);
	for (size_t i = 0; i < MOCK_FILE_CASES; i++) {
		const struct mock_file_case *fc = &mock_file_cases[i];
		struct cfg_vm vc;
		struct vmport v;
		int rc;

		print_message("  case: %s\n", fc->name);
		vm_cfg(&vc, "web1", QUOTA, RING, 1);
		assert_int_equal(mock_file_arm(fc, vc.rings), 0);
		quiet();
		rc = vmport_create(&v, &vc, 0, &p);
		unquiet();
		assert_true(mock_file_done(fc));
		assert_int_equal(rc, -fc->err);
		assert_int_equal(v.fd, -1);
		assert_int_equal(v.irq_fd, -1);
		assert_null(v.region);
		assert_false(v.active);
		assert_int_equal(file_exists(vc.rings), fc->existing);
		vmport_destroy(&v, &p);
		assert_int_equal(file_exists(vc.rings), fc->existing);

		assert_int_equal(vmport_create(&v, &vc, 0, &p), 0);
		assert_int_equal(v.hdr->magic, FS_REGION_MAGIC);
		vmport_destroy(&v, &p);
		unlink(vc.rings);
	}
	assert_int_equal(p.count[POOL_OWN_SWITCH], FRAMES);
	pool_destroy(&p);
}

/* The region header is the switch's: what a guest wrote over it is
 * written back on the worker's look, at a detach or attach, and at
 * unmap, so that the file stays a region a later vm add takes. */
static void test_header_repaired(void **state)
{
	struct fx *f = fx_attached();
	struct fs_region_hdr *h = f->v.hdr, saved;
	uint32_t gen = h->switch_gen;

	(void)state;
	memcpy(&saved, h, offsetof(struct fs_region_hdr, switch_gen));
	assert_false(vmport_hdr_repair(&f->v)); /* clean: nothing done */
	h->magic = 0x5858585858585858ULL;
	h->rx.off = 12345;
	h->quota = 99999;
	h->name[0] = 'X';
	h->switch_gen = gen + 7;
	quiet();
	assert_true(vmport_hdr_repair(&f->v));
	unquiet();
	assert_memory_equal(h, &saved, offsetof(struct fs_region_hdr, switch_gen));
	assert_int_equal(h->switch_gen, gen);
	assert_int_equal(h->switch_state, FS_SW_UP);
	assert_int_equal(f->v.st.hdr_repaired, 1);
	assert_false(vmport_hdr_repair(&f->v));

	/* Scribbled, then detached: written back before the ack. */
	memset(h, 0xff, offsetof(struct fs_region_hdr, switch_gen));
	quiet();
	guest_request(f, false);
	unquiet();
	assert_memory_equal(h, &saved, offsetof(struct fs_region_hdr, switch_gen));
	assert_int_equal(f->v.st.hdr_repaired, 2);

	/* Scribbled, then the port goes: the file left is a region, which
	 * a port made again on it takes. */
	h->magic = 0;
	fsg_close(&f->g);
	f->g_live = false;
	f->v.created = false; /* kept, as a file a QEMU made */
	quiet();
	vmport_destroy(&f->v, &f->p);
	unquiet();
	f->v_live = false;
	assert_true(file_exists(f->vc.rings));
	quiet();
	assert_int_equal(vmport_create(&f->v, &f->vc, 0, &f->p), 0);
	unquiet();
	f->v_live = true;
	assert_int_equal(f->v.hdr->magic, FS_REGION_MAGIC);
	assert_int_equal(f->v.hdr->switch_gen, gen + 1);
	fx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_header),
		cmocka_unit_test(test_header_repaired),
		cmocka_unit_test(test_alloc_target),
		cmocka_unit_test(test_destroy_removes_file_and_reclaims),
		cmocka_unit_test(test_existing_region_file),
		cmocka_unit_test(test_destroy_detached_removes_file),
		cmocka_unit_test(test_create_fails_cleanly),
	};

	return FX_RUN(tests);
}
