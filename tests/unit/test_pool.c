// SPDX-License-Identifier: MIT
/*
 * The pool (user/pool.c) on files under /tmp: creation (all frames free and
 * zeroed, the file rounded up to a power of two, a second pool_create on a
 * live pool's path refused by flock, pool_destroy removing only a file it
 * created, ftruncate or mmap failing (mocked) undone cleanly), the owner
 * table (pool_move with the right and the wrong owner,
 * counts always summing to the frames), pool_check catching a corrupted
 * table and a free list out of step with the switch's count, pool_reclaim,
 * and the bursts (pool_alloc_burst, pool_lend_burst, pool_recycle_burst,
 * pool_recycle_begin/_end) on a small ring that wraps.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "flipswitch/ring.h"
#include "log.h"
#include "pool.h"
#include "sysmock.h"
#include "testutil.h"

#define FRAMES 64u
#define FSIZE 2048u
#define MAX_VMS 2u
#define VM0 POOL_OWN_VM(0)
#define VM1 POOL_OWN_VM(1)

static unsigned int path_seq;

static void tmp_path(char *buf, size_t len)
{
	snprintf(buf, len, "/tmp/fs-test-pool-%d-%u", (int)getpid(), path_seq++);
}

static void make_cfg(struct cfg_pool *c, uint32_t frames, uint32_t frame_size,
		     enum cfg_scrub scrub)
{
	memset(c, 0, sizeof(*c));
	tmp_path(c->path, sizeof(c->path));
	unlink(c->path);
	c->frames = frames;
	c->frame_size = frame_size;
	c->scrub = scrub;
}

static void assert_pool_ok(const struct pool *p, bool between_batches)
{
	char msg[256];
	uint64_t sum = 0;
	int rc = pool_check(p, between_batches, msg, sizeof(msg));

	if (rc)
		print_error("pool_check: %s\n", msg);
	assert_int_equal(rc, 0);
	assert_string_equal(msg, "ok");
	for (uint32_t i = 0; i < p->n_owners; i++)
		sum += p->count[i];
	assert_int_equal(sum, p->frames);
}

/* A fresh pool per test: scrub "used", 64 frames of 2048 bytes, 2 VMs. */
static int setup(void **state)
{
	struct pool *p = calloc(1, sizeof(*p));
	struct cfg_pool c;

	if (!p)
		return -1;
	make_cfg(&c, FRAMES, FSIZE, CFG_SCRUB_USED);
	if (pool_create(p, &c, MAX_VMS)) {
		free(p);
		return -1;
	}
	*state = p;
	return 0;
}

static int teardown(void **state)
{
	struct pool *p = *state;
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s", p->path);
	pool_destroy(p);
	unlink(path); /* in case a test left it */
	free(p);
	return 0;
}

/* ---- creation ------------------------------------------------------------ */

static void test_create_initial_state(void **state)
{
	struct pool *p = *state;
	struct stat st;

	assert_true(p->created);
	assert_true(p->fd >= 0);
	assert_non_null(p->base);
	assert_int_equal(p->frames, FRAMES);
	assert_int_equal(p->frame_size, FSIZE);
	assert_int_equal(p->shift, 11);
	assert_int_equal(p->size, FRAMES * FSIZE);
	assert_int_equal(p->file_size, FRAMES * FSIZE);
	assert_int_equal(p->n_owners, POOL_OWN_VM0 + MAX_VMS);
	assert_int_equal(p->n_free, FRAMES);
	assert_int_equal(p->count[POOL_OWN_SWITCH], FRAMES);
	for (uint32_t i = 1; i < p->n_owners; i++)
		assert_int_equal(p->count[i], 0);
	for (uint32_t i = 0; i < FRAMES; i++) {
		assert_int_equal(p->fr[i].owner, POOL_OWN_SWITCH);
		assert_int_equal(p->scrub.fr[i].dirty, 0);
	}
	assert_int_equal(p->scrub.frames, 0);
	assert_int_equal(p->scrub.bytes, 0);
	assert_pool_ok(p, true);
	assert_int_equal(stat(p->path, &st), 0);
	assert_int_equal(st.st_size, FRAMES * FSIZE);

	/* Frame 0 is handed out first, then 1, 2, ...; at frame bases. */
	for (uint32_t i = 0; i < 4; i++)
		assert_int_equal(pool_alloc(p), (uint64_t)i * FSIZE);
	assert_int_equal(p->n_free, FRAMES - 4);
	for (uint32_t i = 4; i-- > 0;)
		pool_free(p, (uint64_t)i * FSIZE + 300); /* any offset in it */
	assert_int_equal(p->n_free, FRAMES);
	for (uint32_t i = 0; i < 4; i++)
		assert_int_equal(pool_alloc(p), (uint64_t)i * FSIZE);
	for (uint32_t i = 4; i-- > 0;)
		pool_free(p, (uint64_t)i * FSIZE);
	assert_pool_ok(p, true);
}

static void test_frame_helpers(void **state)
{
	struct pool *p = *state;

	assert_int_equal(pool_frame(p, 0), 0);
	assert_int_equal(pool_frame(p, FSIZE - 1), 0);
	assert_int_equal(pool_frame(p, FSIZE), 1);
	assert_int_equal(pool_frame(p, 5 * FSIZE + 256), 5);
	assert_int_equal(pool_frame_addr(p, 7), 7 * FSIZE);
	assert_int_equal(pool_offset_in_frame(p, 7 * FSIZE + 256), 256);
	assert_int_equal(pool_offset_in_frame(p, 7 * FSIZE), 0);
	assert_ptr_equal(pool_data(p, 3 * FSIZE + 10), p->base + 3 * FSIZE + 10);
}

static void test_alloc_until_empty(void **state)
{
	struct pool *p = *state;
	uint64_t addrs[FRAMES];

	for (uint32_t i = 0; i < FRAMES; i++) {
		addrs[i] = pool_alloc(p);
		assert_int_equal(addrs[i], (uint64_t)i * FSIZE);
	}
	assert_int_equal(p->n_free, 0);
	assert_int_equal(pool_alloc(p), UINT64_MAX);
	assert_int_equal(pool_alloc(p), UINT64_MAX);
	/* The switch still owns them all, its free list is empty. */
	assert_pool_ok(p, false);
	for (uint32_t i = FRAMES; i-- > 0;)
		pool_free(p, addrs[i]);
	assert_pool_ok(p, true);
}

static const struct size_case {
	uint32_t frames, frame_size;
	uint64_t size, file_size;
} size_cases[] = {
	{ 64, 2048, 131072, 131072 },
	{ 100, 2048, 204800, 262144 },
	{ 65, 2048, 133120, 262144 },
	{ 96, 4096, 393216, 524288 },
	{ 127, 4096, 520192, 524288 },
	{ 128, 4096, 524288, 524288 },
	{ 1000, 2048, 2048000, 2097152 },
};

static void test_file_size_power_of_two(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(size_cases) / sizeof(size_cases[0]); i++) {
		const struct size_case *sc = &size_cases[i];
		struct cfg_pool c;
		struct pool p;
		struct stat st;

		make_cfg(&c, sc->frames, sc->frame_size, CFG_SCRUB_USED);
		assert_int_equal(pool_create(&p, &c, 1), 0);
		assert_int_equal(p.size, sc->size);
		assert_int_equal(p.file_size, sc->file_size);
		assert_int_equal(stat(c.path, &st), 0);
		assert_int_equal((uint64_t)st.st_size, sc->file_size);
		assert_int_equal(p.n_free, sc->frames);
		/* Every byte of the UMEM is usable (mapped and zero). */
		p.base[p.size - 1] = 0x5a;
		assert_int_equal(p.base[0], 0);
		assert_pool_ok(&p, true);
		pool_destroy(&p);
		assert_false(file_exists(c.path));
	}
}

static void test_second_create_refused_while_alive(void **state)
{
	struct pool *p = *state;
	struct cfg_pool c;
	struct pool q;

	make_cfg(&c, FRAMES, FSIZE, CFG_SCRUB_USED);
	snprintf(c.path, sizeof(c.path), "%s", p->path);
	p->base[100] = 0x77;

	quiet();
	int rc = pool_create(&q, &c, MAX_VMS);

	unquiet();
	assert_int_equal(rc, -EWOULDBLOCK);
	assert_int_equal(q.fd, -1);
	/* The failed attempt neither removed nor zeroed the live pool. */
	assert_true(file_exists(p->path));
	assert_int_equal(p->base[100], 0x77);
	pool_destroy(&q); /* harmless on a failed pool */
	assert_true(file_exists(p->path));
	p->base[100] = 0;

	/* Once the first is gone, the path can be taken again. */
	pool_destroy(p);
	assert_false(file_exists(c.path));
	assert_int_equal(pool_create(p, &c, MAX_VMS), 0);
	assert_true(p->created);
}

static void test_destroy_removes_only_its_own_file(void **state)
{
	struct cfg_pool c;
	struct pool p;
	FILE *f;

	(void)state;
	/* Created here: removed. */
	make_cfg(&c, FRAMES, FSIZE, CFG_SCRUB_USED);
	assert_int_equal(pool_create(&p, &c, 1), 0);
	assert_true(p.created);
	assert_true(file_exists(c.path));
	pool_destroy(&p);
	assert_false(file_exists(c.path));
	assert_int_equal(p.fd, -1);
	pool_destroy(&p); /* twice is harmless */

	/* There before (with old bytes): kept, but its bytes are zeroed. */
	make_cfg(&c, FRAMES, FSIZE, CFG_SCRUB_USED);
	f = fopen(c.path, "w");
	assert_non_null(f);
	for (int i = 0; i < 5000; i++)
		fputc(0xee, f);
	fclose(f);
	assert_int_equal(pool_create(&p, &c, 1), 0);
	assert_false(p.created);
	for (uint64_t i = 0; i < p.size; i++)
		if (p.base[i])
			fail_msg("byte %llu of a reused pool file is %#x, not 0",
				 (unsigned long long)i, p.base[i]);
	pool_destroy(&p);
	assert_true(file_exists(c.path));
	unlink(c.path);
}

static void test_create_fails_on_bad_path(void **state)
{
	struct cfg_pool c;
	struct pool p;

	(void)state;
	make_cfg(&c, FRAMES, FSIZE, CFG_SCRUB_USED);
	snprintf(c.path, sizeof(c.path), "/tmp/fs-test-nodir-%d/pool", (int)getpid());
	quiet();
	int rc = pool_create(&p, &c, 1);

	unquiet();
	assert_int_equal(rc, -ENOENT);
	assert_int_equal(p.fd, -1);
	pool_destroy(&p);
}

/* A system call of pool_create failing: -errno back, the descriptor
 * closed (so the lock is gone: a pool_create right after succeeds), the
 * file removed if pool_create made it and kept if it was there before. */
static void test_create_fails_cleanly(void **state)
{
	(void)state;
	for (size_t i = 0; i < MOCK_FILE_CASES; i++) {
		const struct mock_file_case *fc = &mock_file_cases[i];
		struct cfg_pool c;
		struct pool p;
		int rc;

		print_message("  case: %s\n", fc->name);
		make_cfg(&c, FRAMES, FSIZE, CFG_SCRUB_USED);
		assert_int_equal(mock_file_arm(fc, c.path), 0);
		quiet();
		rc = pool_create(&p, &c, 1);
		unquiet();
		assert_true(mock_file_done(fc));
		assert_int_equal(rc, -fc->err);
		assert_int_equal(p.fd, -1);
		assert_int_equal(file_exists(c.path), fc->existing);
		pool_destroy(&p); /* a no-op after a failed create */
		assert_int_equal(file_exists(c.path), fc->existing);

		assert_int_equal(pool_create(&p, &c, 1), 0);
		assert_pool_ok(&p, true);
		pool_destroy(&p);
		unlink(c.path);
	}
}

/* ---- owner table --------------------------------------------------------- */

struct move_step {
	uint32_t frame;
	uint16_t from, to;
	int rc;
};

/* Frames 0..7 are first taken off the free list (still the switch's). */
static const struct move_step move_steps[] = {
	{ 0, POOL_OWN_SWITCH, VM0, 0 },
	{ 1, POOL_OWN_SWITCH, VM0, 0 },
	{ 2, POOL_OWN_SWITCH, VM1, 0 },
	{ 3, POOL_OWN_SWITCH, POOL_OWN_FILL, 0 },
	{ 4, POOL_OWN_SWITCH, POOL_OWN_TX, 0 },
	{ 0, POOL_OWN_SWITCH, VM1, -EPERM },   /* VM0 owns it */
	{ 0, VM1, POOL_OWN_SWITCH, -EPERM },   /* another VM's frame */
	{ 2, VM0, POOL_OWN_SWITCH, -EPERM },
	{ 3, POOL_OWN_TX, POOL_OWN_SWITCH, -EPERM },
	{ 0, VM0, POOL_OWN_SWITCH, 0 },
	{ 0, VM0, POOL_OWN_SWITCH, -EPERM },   /* "double free" */
	{ 3, POOL_OWN_FILL, VM0, 0 },
	{ 3, POOL_OWN_FILL, VM0, -EPERM },
	{ 4, POOL_OWN_TX, POOL_OWN_SWITCH, 0 },
	{ 1, VM0, VM1, 0 },
	{ 5, POOL_OWN_SWITCH, POOL_OWN_SWITCH, 0 }, /* to itself: no change */
	{ 6, VM0, VM0, -EPERM },
};

static void test_move(void **state)
{
	struct pool *p = *state;
	uint16_t want_owner[FRAMES];
	uint32_t want_count[POOL_OWN_VM0 + MAX_VMS] = { FRAMES };

	for (uint32_t i = 0; i < FRAMES; i++)
		want_owner[i] = POOL_OWN_SWITCH;
	for (uint32_t i = 0; i < 8; i++)
		assert_int_equal(pool_alloc(p), (uint64_t)i * FSIZE);

	for (size_t s = 0; s < sizeof(move_steps) / sizeof(move_steps[0]); s++) {
		const struct move_step *m = &move_steps[s];

		assert_int_equal(pool_move(p, m->frame, m->from, m->to), m->rc);
		if (m->rc == 0) {
			want_owner[m->frame] = m->to;
			want_count[m->from]--;
			want_count[m->to]++;
		}
		for (uint32_t i = 0; i < FRAMES; i++)
			if (p->fr[i].owner != want_owner[i])
				fail_msg("step %zu: frame %u owned by %u, not %u", s,
					 i, p->fr[i].owner, want_owner[i]);
		for (uint32_t o = 0; o < p->n_owners; o++)
			if (p->count[o] != want_count[o])
				fail_msg("step %zu: owner %u counted %u, not %u", s,
					 o, p->count[o], want_count[o]);
		assert_pool_ok(p, false);
	}
	/* Final: VM0 {3}, VM1 {1, 2}, switch the rest. */
	assert_int_equal(p->count[VM0], 1);
	assert_int_equal(p->count[VM1], 2);
	assert_int_equal(p->count[POOL_OWN_FILL], 0);
	assert_int_equal(p->count[POOL_OWN_TX], 0);
	assert_int_equal(p->count[POOL_OWN_SWITCH], FRAMES - 3);
}

/* Pseudo-random move sequences: counts always sum to the frames and match
 * the table. */
static void test_move_random(void **state)
{
	struct pool *p = *state;
	uint32_t x = 12345;
	uint32_t ok = 0, refused = 0;

	for (int step = 0; step < 5000; step++) {
		uint32_t frame, from, to;
		int rc;

		x ^= x << 13, x ^= x >> 17, x ^= x << 5;
		frame = x % FRAMES;
		from = (x >> 8) % p->n_owners;
		to = (x >> 16) % p->n_owners;
		rc = pool_move(p, frame, (uint16_t)from, (uint16_t)to);
		if (rc == 0) {
			ok++;
			assert_int_equal(p->fr[frame].owner, to);
		} else {
			refused++;
			assert_int_equal(rc, -EPERM);
			assert_int_not_equal(p->fr[frame].owner, from);
		}
		assert_pool_ok(p, false);
	}
	assert_true(ok > 100);
	assert_true(refused > 100);
}

/* ---- pool_check ---------------------------------------------------------- */

enum corrupt {
	CORRUPT_OWNER_DESYNC,  /* owner[] changed, counts not */
	CORRUPT_OWNER_RANGE,   /* owner[] not one of the owners */
	CORRUPT_COUNT,         /* a count changed */
	CORRUPT_COUNT_PAIR,    /* two counts changed */
	CORRUPT_FREE_LIST,     /* a frame taken off the free list */
	CORRUPT_FREE_LIST_UP,  /* a frame on the free list twice */
};

static const struct check_case {
	const char *name;
	enum corrupt what;
	uint16_t bad_owner; /* for CORRUPT_OWNER_RANGE */
	bool between_batches;
	int rc;
	const char *msg;
} check_cases[] = {
	{ "owner desync", CORRUPT_OWNER_DESYNC, 0, false, -1,
	  "owner 0 holds 63 frames but is counted as 64" },
	{ "owner out of range", CORRUPT_OWNER_RANGE, 4, false, -1,
	  "frame 9 has owner 4, not one of the 4 owners" },
	{ "owner far out of range", CORRUPT_OWNER_RANGE, 0xffff, true, -1,
	  "frame 9 has owner 65535, not one of the 4 owners" },
	{ "count too high", CORRUPT_COUNT, 0, false, -1,
	  "owner 1 holds 0 frames but is counted as 1" },
	{ "counts moved together", CORRUPT_COUNT_PAIR, 0, false, -1,
	  "owner 0 holds 64 frames but is counted as 63" },
	{ "free list short, mid-batch", CORRUPT_FREE_LIST, 0, false, 0, "ok" },
	{ "free list short, between batches", CORRUPT_FREE_LIST, 0, true, -1,
	  "switch owns 64 frames but its free list holds 63" },
	{ "free list long, between batches", CORRUPT_FREE_LIST_UP, 0, true, -1,
	  "switch owns 63 frames but its free list holds 64" },
};

static void test_check_detects_corruption(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(check_cases) / sizeof(check_cases[0]); i++) {
		const struct check_case *cc = &check_cases[i];
		struct cfg_pool c;
		struct pool p;
		char msg[256] = "untouched";

		print_message("  case: %s\n", cc->name);
		make_cfg(&c, FRAMES, FSIZE, CFG_SCRUB_USED);
		assert_int_equal(pool_create(&p, &c, 1), 0); /* 4 owners */
		assert_pool_ok(&p, true);
		switch (cc->what) {
		case CORRUPT_OWNER_DESYNC:
			p.fr[9].owner = POOL_OWN_FILL;
			break;
		case CORRUPT_OWNER_RANGE:
			p.fr[9].owner = cc->bad_owner;
			break;
		case CORRUPT_COUNT:
			p.count[POOL_OWN_FILL]++;
			break;
		case CORRUPT_COUNT_PAIR:
			p.count[POOL_OWN_SWITCH]--;
			p.count[POOL_OWN_FILL]++;
			break;
		case CORRUPT_FREE_LIST:
			(void)pool_alloc(&p);
			break;
		case CORRUPT_FREE_LIST_UP:
			/* Frame 63 given to the kernel but left on the list. */
			assert_int_equal(pool_move(&p, 63, POOL_OWN_SWITCH,
						   POOL_OWN_FILL), 0);
			break;
		}
		assert_int_equal(pool_check(&p, cc->between_batches, msg, sizeof(msg)),
				 cc->rc);
		assert_string_equal(msg, cc->msg);
		pool_destroy(&p);
		assert_false(file_exists(c.path));
	}
}

static void test_check_move_without_alloc(void **state)
{
	struct pool *p = *state;
	char msg[256];

	/* Moving a frame still on the free list to a VM is a bug the
	 * between-batches check catches (it stays on the list). */
	assert_int_equal(pool_move(p, 5, POOL_OWN_SWITCH, VM0), 0);
	assert_int_equal(pool_check(p, false, msg, sizeof(msg)), 0);
	assert_int_equal(pool_check(p, true, msg, sizeof(msg)), -1);
	assert_string_equal(msg, "switch owns 63 frames but its free list holds 64");
	assert_int_equal(pool_move(p, 5, VM0, POOL_OWN_SWITCH), 0);
	assert_pool_ok(p, true);

	/* The right way: take it off the list, then move. */
	uint64_t a = pool_alloc(p);

	assert_int_equal(pool_move(p, pool_frame(p, a), POOL_OWN_SWITCH, VM0), 0);
	assert_pool_ok(p, true);
	assert_int_equal(pool_move(p, pool_frame(p, a), VM0, POOL_OWN_SWITCH), 0);
	assert_pool_ok(p, false);
	pool_recycle(p, pool_frame(p, a));
	assert_pool_ok(p, true);
}

/* ---- reclaim ------------------------------------------------------------- */

static uint32_t give(struct pool *p, uint16_t who, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		uint64_t a = pool_alloc(p);

		assert_int_not_equal(a, UINT64_MAX);
		assert_int_equal(pool_move(p, pool_frame(p, a), POOL_OWN_SWITCH, who), 0);
	}
	return n;
}

static void test_reclaim(void **state)
{
	struct pool *p = *state;
	uint32_t vm0_frames[5], k = 0;

	give(p, VM1, 3);     /* frames 0..2 */
	give(p, VM0, 5);     /* frames 3..7 */
	give(p, POOL_OWN_FILL, 2);
	assert_pool_ok(p, true);
	for (uint32_t i = 0; i < FRAMES; i++)
		if (p->fr[i].owner == VM0)
			vm0_frames[k++] = i;
	assert_int_equal(k, 5);
	/* The guest wrote packets into them: headroom + 100 bytes. */
	for (k = 0; k < 5; k++) {
		memset(pool_data(p, pool_frame_addr(p, vm0_frames[k])), 0xab, FSIZE);
		scrub_note(&p->scrub, vm0_frames[k], 0, FS_HEADROOM + 100);
	}

	assert_int_equal(pool_reclaim(p, VM0), 5);
	assert_int_equal(p->count[VM0], 0);
	assert_int_equal(p->count[VM1], 3);
	assert_int_equal(p->count[POOL_OWN_FILL], 2);
	assert_int_equal(p->count[POOL_OWN_SWITCH], FRAMES - 5);
	assert_int_equal(p->n_free, FRAMES - 5);
	assert_pool_ok(p, true);
	/* Scrubbed when used again, not now; their data stays tracked. */
	assert_int_equal(p->scrub.frames, 0);
	for (k = 0; k < 5; k++) {
		const unsigned char *d = pool_data(p, pool_frame_addr(p, vm0_frames[k]));

		assert_int_equal(p->fr[vm0_frames[k]].owner, POOL_OWN_SWITCH);
		assert_int_equal(p->scrub.fr[vm0_frames[k]].dirty,
				 SCRUB_RANGE(0, FS_HEADROOM + 100));
		scrub_frame(&p->scrub, vm0_frames[k]);
		assert_int_equal(p->scrub.fr[vm0_frames[k]].dirty, 0);
		for (uint32_t b = 0; b < FSIZE; b++)
			assert_int_equal(d[b], b < FS_HEADROOM + 100 ? 0 : 0xab);
	}
	assert_int_equal(p->scrub.frames, 5);
	assert_int_equal(p->scrub.bytes, 5 * (FS_HEADROOM + 100));
	/* Nothing left: 0, and no change. */
	assert_int_equal(pool_reclaim(p, VM0), 0);
	assert_int_equal(p->scrub.frames, 5);
	assert_pool_ok(p, true);

	/* The rest. */
	assert_int_equal(pool_reclaim(p, VM1), 3);
	assert_int_equal(pool_reclaim(p, POOL_OWN_FILL), 2);
	assert_int_equal(p->count[POOL_OWN_SWITCH], FRAMES);
	assert_int_equal(p->n_free, FRAMES);
	assert_pool_ok(p, true);
}

static void test_reclaim_everything(void **state)
{
	struct pool *p = *state;

	give(p, VM0, FRAMES);
	assert_int_equal(p->n_free, 0);
	assert_pool_ok(p, true);
	assert_int_equal(pool_reclaim(p, VM0), FRAMES);
	assert_int_equal(p->n_free, FRAMES);
	assert_int_equal(p->count[POOL_OWN_SWITCH], FRAMES);
	assert_pool_ok(p, true);
	/* Every frame is on the free list exactly once. */
	unsigned char seen[FRAMES] = { 0 };

	for (uint32_t i = 0; i < FRAMES; i++) {
		uint64_t a = pool_alloc(p);

		assert_int_equal(a % FSIZE, 0);
		assert_true(a < p->size);
		assert_int_equal(seen[a / FSIZE]++, 0);
	}
	for (uint32_t i = 0; i < FRAMES; i++)
		pool_free(p, (uint64_t)i * FSIZE);
}

/* ---- bursts ---------------------------------------------------------------- */

#define RING 8u
#define SENTINEL 0xdeadbeefdeadbeefull

static void ring_fill(uint64_t *ring)
{
	for (uint32_t i = 0; i < RING; i++)
		ring[i] = SENTINEL;
}

/* pool_alloc_burst writes at (idx + i) & mask, wrapping, in pool_alloc's
 * order, sets each owner and moves the counts once; a burst of 0 changes
 * nothing. */
static void test_alloc_burst(void **state)
{
	struct pool *p = *state;
	uint64_t ring[RING];

	ring_fill(ring);
	pool_alloc_burst(p, POOL_OWN_FILL, ring, RING - 1, 6, 0);
	for (uint32_t i = 0; i < RING; i++)
		assert_true(ring[i] == SENTINEL);
	assert_int_equal(p->n_free, FRAMES);

	pool_alloc_burst(p, POOL_OWN_FILL, ring, RING - 1, 6, 5);
	/* Slots 6, 7, 0, 1, 2 get frames 0..4; 3..5 are untouched. */
	assert_int_equal(ring[6], 0 * FSIZE);
	assert_int_equal(ring[7], 1 * FSIZE);
	assert_int_equal(ring[0], 2 * FSIZE);
	assert_int_equal(ring[1], 3 * FSIZE);
	assert_int_equal(ring[2], 4 * FSIZE);
	for (uint32_t i = 3; i < 6; i++)
		assert_true(ring[i] == SENTINEL);
	for (uint32_t f = 0; f < 5; f++)
		assert_int_equal(p->fr[f].owner, POOL_OWN_FILL);
	assert_int_equal(p->fr[5].owner, POOL_OWN_SWITCH);
	assert_int_equal(p->n_free, FRAMES - 5);
	assert_int_equal(p->count[POOL_OWN_SWITCH], FRAMES - 5);
	assert_int_equal(p->count[POOL_OWN_FILL], 5);
	assert_pool_ok(p, true);
	/* The next frame off the free list is the one after them. */
	assert_int_equal(pool_alloc(p), 5 * FSIZE);
	pool_free(p, 5 * FSIZE);

	/* The whole rest of the pool, then nothing is left. */
	pool_alloc_burst(p, VM1, ring, 0, 0, FRAMES - 5);
	assert_int_equal(ring[0], (FRAMES - 1) * FSIZE);
	assert_int_equal(p->n_free, 0);
	assert_int_equal(p->count[VM1], FRAMES - 5);
	assert_int_equal(pool_alloc(p), UINT64_MAX);
	assert_pool_ok(p, true);
}

/* pool_lend_burst scrubs each frame whole before a guest gets it: the
 * bytes of its earlier use are zeroed and counted, its dirty range
 * cleared; pool_alloc_burst leaves them for scrub_reuse. */
static void test_lend_burst_scrubs(void **state)
{
	struct pool *p = *state;
	uint64_t ring[RING];

	/* Frames 0 and 1 carried packets of 100 and 300 bytes at 256. */
	for (uint32_t f = 0; f < 2; f++) {
		memset(p->base + f * FSIZE, 0xa5, FSIZE);
		scrub_note(&p->scrub, f, 256, 256 + 100 + 200 * f);
	}
	ring_fill(ring);
	pool_alloc_burst(p, POOL_OWN_FILL, ring, RING - 1, 0, 2);
	assert_int_equal(p->scrub.frames, 0);
	assert_int_equal(p->scrub.fr[0].dirty, SCRUB_RANGE(256, 356));
	pool_recycle_burst(p, POOL_OWN_FILL, ring, RING - 1, 0, 2);

	pool_lend_burst(p, VM0, ring, RING - 1, 3, 2);
	assert_int_equal(ring[3], FSIZE); /* the last recycled, first */
	assert_int_equal(ring[4], 0);
	assert_int_equal(p->fr[0].owner, VM0);
	assert_int_equal(p->fr[1].owner, VM0);
	assert_int_equal(p->count[VM0], 2);
	assert_int_equal(p->scrub.frames, 2);
	assert_int_equal(p->scrub.bytes, 100 + 300);
	for (uint32_t f = 0; f < 2; f++) {
		uint32_t hi = 256 + 100 + 200 * f;

		assert_int_equal(p->scrub.fr[f].dirty, 0);
		for (uint32_t b = 0; b < FSIZE; b++) {
			unsigned char want = b >= 256 && b < hi ? 0 : 0xa5;

			if (p->base[f * FSIZE + b] != want)
				fail_msg("frame %u byte %u is %#x, not %#x", f, b,
					 p->base[f * FSIZE + b], want);
		}
	}
	assert_pool_ok(p, true);
}

/* pool_recycle_burst takes addresses anywhere in their frames, wrapping
 * round the ring, back to the free list at frame bases (the last one
 * first out), and moves the counts from the owner given. */
static void test_recycle_burst(void **state)
{
	struct pool *p = *state;
	uint64_t ring[RING];

	ring_fill(ring);
	pool_alloc_burst(p, POOL_OWN_TX, ring, RING - 1, 5, 6);
	assert_int_equal(p->count[POOL_OWN_TX], 6);
	/* Completions come back in another order, at offsets in the frame. */
	ring[3] = 4 * FSIZE + 256;
	ring[4] = 1 * FSIZE + 1;
	ring[5] = 0 * FSIZE + FSIZE - 1;
	ring[6] = 5 * FSIZE;
	ring[7] = 2 * FSIZE + 64;
	ring[0] = 3 * FSIZE + 2000;
	pool_recycle_burst(p, POOL_OWN_TX, ring, RING - 1, 3, 4);
	assert_int_equal(p->count[POOL_OWN_TX], 2);
	assert_int_equal(p->n_free, FRAMES - 2);
	assert_int_equal(p->fr[4].owner, POOL_OWN_SWITCH);
	assert_int_equal(p->fr[1].owner, POOL_OWN_SWITCH);
	assert_int_equal(p->fr[0].owner, POOL_OWN_SWITCH);
	assert_int_equal(p->fr[5].owner, POOL_OWN_SWITCH);
	assert_int_equal(p->fr[2].owner, POOL_OWN_TX);
	assert_int_equal(p->fr[3].owner, POOL_OWN_TX);
	assert_pool_ok(p, true);
	pool_recycle_burst(p, POOL_OWN_TX, ring, RING - 1, 7, 2);
	assert_int_equal(p->count[POOL_OWN_TX], 0);
	assert_pool_ok(p, true);
	/* Last in, first out, at frame bases. */
	assert_int_equal(pool_alloc(p), 3 * FSIZE);
	assert_int_equal(pool_alloc(p), 2 * FSIZE);
	assert_int_equal(pool_alloc(p), 5 * FSIZE);
	assert_int_equal(pool_alloc(p), 0);
	assert_int_equal(pool_alloc(p), 1 * FSIZE);
	assert_int_equal(pool_alloc(p), 4 * FSIZE);
	assert_int_equal(pool_alloc(p), 6 * FSIZE);
}

/* pool_recycle_begin/_end as a guest's free ring uses them: the caller
 * pushes only the frames it accepts; _end counts those. Under scrub "full"
 * a frame from a guest is dirty whole, under "used" as it was; frames
 * from the kernel never are marked. */
static void test_recycle_begin_end(void **state)
{
	static const enum cfg_scrub modes[] = { CFG_SCRUB_USED, CFG_SCRUB_FULL };

	(void)state;
	for (size_t m = 0; m < 2; m++) {
		struct cfg_pool c;
		struct pool p;
		uint64_t ring[RING], *top;
		uint32_t k;

		make_cfg(&c, FRAMES, FSIZE, modes[m]);
		assert_int_equal(pool_create(&p, &c, MAX_VMS), 0);
		pool_lend_burst(&p, VM0, ring, RING - 1, 0, 4);
		scrub_note(&p.scrub, 1, 100, 200);

		/* Frames 1 and 3 given back; 0 and 2 refused by the caller. */
		top = pool_recycle_begin(&p);
		for (uint32_t f = 1; f < 4; f += 2) {
			p.fr[f].owner = POOL_OWN_SWITCH;
			*top++ = pool_frame_addr(&p, f);
		}
		k = pool_recycle_end(&p, VM0, top);
		assert_int_equal(k, 2);
		assert_int_equal(p.count[VM0], 2);
		assert_int_equal(p.n_free, FRAMES - 2);
		assert_int_equal(p.fr[0].owner, VM0);
		assert_int_equal(p.fr[2].owner, VM0);
		assert_int_equal(p.scrub.fr[1].dirty, modes[m] == CFG_SCRUB_FULL ?
						     SCRUB_RANGE(0, FSIZE) :
						     SCRUB_RANGE(100, 200));
		assert_int_equal(p.scrub.fr[3].dirty, modes[m] == CFG_SCRUB_FULL ?
						     SCRUB_RANGE(0, FSIZE) : 0);
		assert_pool_ok(&p, true);
		/* An empty burst counts nothing. */
		top = pool_recycle_begin(&p);
		assert_int_equal(pool_recycle_end(&p, VM0, top), 0);
		assert_int_equal(p.count[VM0], 2);
		/* From the kernel: never marked. */
		pool_alloc_burst(&p, POOL_OWN_FILL, ring, RING - 1, 0, 1);
		assert_int_equal(ring[0], 3 * FSIZE);
		scrub_frame(&p.scrub, 3);
		top = pool_recycle_begin(&p);
		p.fr[3].owner = POOL_OWN_SWITCH;
		*top++ = 3 * FSIZE;
		assert_int_equal(pool_recycle_end(&p, POOL_OWN_FILL, top), 1);
		assert_int_equal(p.scrub.fr[3].dirty, 0);
		assert_pool_ok(&p, true);
		pool_destroy(&p);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_initial_state, setup, teardown),
		cmocka_unit_test_setup_teardown(test_frame_helpers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_alloc_until_empty, setup, teardown),
		cmocka_unit_test(test_file_size_power_of_two),
		cmocka_unit_test_setup_teardown(test_second_create_refused_while_alive,
						setup, teardown),
		cmocka_unit_test(test_destroy_removes_only_its_own_file),
		cmocka_unit_test(test_create_fails_on_bad_path),
		cmocka_unit_test(test_create_fails_cleanly),
		cmocka_unit_test_setup_teardown(test_move, setup, teardown),
		cmocka_unit_test_setup_teardown(test_move_random, setup, teardown),
		cmocka_unit_test(test_check_detects_corruption),
		cmocka_unit_test_setup_teardown(test_check_move_without_alloc, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_reclaim, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reclaim_everything, setup, teardown),
		cmocka_unit_test_setup_teardown(test_alloc_burst, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lend_burst_scrubs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recycle_burst, setup, teardown),
		cmocka_unit_test(test_recycle_begin_end),
	};

	int failed;

	log_level = LOG_LVL_ERR;
	failed = cmocka_run_group_tests(tests, NULL, NULL);
	/* A failed test skips its cleanup: remove what it left. */
	for (unsigned int i = 0; i < path_seq; i++) {
		char path[128];

		snprintf(path, sizeof(path), "/tmp/fs-test-pool-%d-%u", (int)getpid(), i);
		unlink(path);
	}
	return failed;
}
