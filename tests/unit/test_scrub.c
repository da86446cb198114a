// SPDX-License-Identifier: MIT
/*
 * Scrub (user/scrub.c) on a bare table over three frames of a buffer:
 * the modes off/used/full byte by byte (ranges noted, merged, a guest's
 * frame under "full", reuse zeroing only what the new packet leaves, a
 * frame lent zeroed whole), the frames either side untouched, nothing
 * zeroed until a frame is used again, the counters, scrub_all (under
 * "off" too) and scrub_clear_counters.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "scrub.h"

#define FSIZE 2048u
#define NFRAMES 3u

struct fx {
	unsigned char *buf;
	struct scrub s;
};

static void fx_init(struct fx *f, enum cfg_scrub mode)
{
	f->buf = aligned_alloc(64, NFRAMES * FSIZE);
	assert_non_null(f->buf);
	memset(f->buf, 0xc3, NFRAMES * FSIZE);
	assert_int_equal(scrub_init(&f->s, f->buf, NFRAMES, FSIZE, mode), 0);
	assert_int_equal(f->s.mode, mode);
	assert_int_equal(f->s.shift, 11);
	for (uint32_t i = 0; i < NFRAMES; i++)
		assert_int_equal(f->s.fr[i].dirty, 0);
}

static void fx_fini(struct fx *f)
{
	scrub_fini(&f->s);
	assert_null(f->s.fr);
	free(f->buf);
}

static const struct scrub_case {
	const char *name;
	enum cfg_scrub policy;
	uint32_t noted[3][2];  /* dirty ranges noted in turn ({0, 0}: none) */
	bool guest;            /* then back from a guest (scrub_from_guest) */
	uint32_t lo, hi;       /* used again for [lo, hi); lo == hi: clean */
	uint32_t zero[2][2];   /* the byte ranges zeroed */
	uint64_t bytes;
} scrub_cases[] = {
	{ "used, the same packet size again", CFG_SCRUB_USED, { { 256, 356 } },
	  false, 256, 356, { { 0 } }, 0 },
	{ "used, a shorter packet", CFG_SCRUB_USED, { { 256, 356 } }, false,
	  256, 300, { { 300, 356 } }, 56 },
	{ "used, noted ranges merge", CFG_SCRUB_USED,
	  { { 256, 356 }, { 200, 300 }, { 256, 400 } }, true, 256, 300,
	  { { 200, 256 }, { 300, 400 } }, 156 },
	{ "used, lent: all clean", CFG_SCRUB_USED, { { 256, 356 } }, true, 0, 0,
	  { { 256, 356 } }, 100 },
	{ "used, a whole frame", CFG_SCRUB_USED, { { 0, 2048 } }, false, 256,
	  300, { { 0, 256 }, { 300, 2048 } }, 2048 - 44 },
	{ "used, nothing noted", CFG_SCRUB_USED, { { 0 } }, false, 256, 300,
	  { { 0 } }, 0 },
	{ "full, back from a guest", CFG_SCRUB_FULL, { { 256, 356 } }, true, 256,
	  300, { { 0, 256 }, { 300, 2048 } }, 2048 - 44 },
	{ "full, never a guest's", CFG_SCRUB_FULL, { { 256, 356 } }, false, 256,
	  300, { { 300, 356 } }, 56 },
	{ "off", CFG_SCRUB_OFF, { { 256, 356 } }, true, 256, 300, { { 0 } }, 0 },
};

static bool in_zeroed(const struct scrub_case *sc, uint32_t b)
{
	for (int z = 0; z < 2; z++)
		if (b >= sc->zero[z][0] && b < sc->zero[z][1])
			return true;
	return false;
}

static void test_scrub_modes(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(scrub_cases) / sizeof(scrub_cases[0]); i++) {
		const struct scrub_case *sc = &scrub_cases[i];
		const uint32_t f = 1; /* between two that must not be touched */
		const unsigned char *d;
		struct fx x;

		print_message("  case: %s\n", sc->name);
		fx_init(&x, sc->policy);
		d = x.buf + f * FSIZE;
		for (int e = 0; e < 3; e++)
			if (sc->noted[e][1])
				scrub_note(&x.s, f, sc->noted[e][0], sc->noted[e][1]);
		if (sc->guest)
			scrub_from_guest(&x.s, f);
		/* Noted, not zeroed: that waits for the frame's next use. */
		assert_int_equal(x.s.frames, 0);
		for (uint32_t b = 0; b < FSIZE; b++)
			assert_int_equal(d[b], 0xc3);

		if (sc->lo == sc->hi)
			scrub_frame(&x.s, f);
		else
			scrub_reuse(&x.s, f, sc->lo, sc->hi);
		assert_int_equal(x.s.frames, sc->bytes ? 1 : 0);
		assert_int_equal(x.s.bytes, sc->bytes);
		/* Under "off" nothing is zeroed and the range only grows (the
		 * one "off" case notes a range that covers [lo, hi)). */
		if (sc->policy == CFG_SCRUB_OFF)
			assert_int_equal(x.s.fr[f].dirty,
					 SCRUB_RANGE(sc->noted[0][0], sc->noted[0][1]));
		else
			assert_int_equal(x.s.fr[f].dirty, sc->lo == sc->hi ? 0 :
							 SCRUB_RANGE(sc->lo, sc->hi));
		for (uint32_t b = 0; b < FSIZE; b++) {
			unsigned char want = in_zeroed(sc, b) ? 0 : 0xc3;

			if (d[b] != want)
				fail_msg("%s: byte %u is %#x, not %#x", sc->name, b,
					 d[b], want);
		}
		for (uint32_t b = 0; b < FSIZE; b++) {
			assert_int_equal(x.buf[b], 0xc3);
			assert_int_equal(x.buf[2 * FSIZE + b], 0xc3);
		}
		/* The same range again: nothing more to zero. */
		if (sc->lo != sc->hi) {
			scrub_reuse(&x.s, f, sc->lo, sc->hi);
			assert_int_equal(x.s.bytes, sc->bytes);
		}
		fx_fini(&x);
	}
}

/* The counters add up over frames; clean frames cost nothing more;
 * scrub_all zeroes what is left; scrub_clear_counters zeroes them. */
static void test_scrub_counters(void **state)
{
	struct fx x;

	(void)state;
	fx_init(&x, CFG_SCRUB_USED);
	scrub_note(&x.s, 0, 0, 100);
	scrub_note(&x.s, 1, 0, 200);
	scrub_frame(&x.s, 0);
	scrub_frame(&x.s, 1);
	assert_int_equal(x.s.frames, 2);
	assert_int_equal(x.s.bytes, 100 + 200);
	scrub_frame(&x.s, 0);
	scrub_frame(&x.s, 2);
	assert_int_equal(x.s.frames, 2);

	scrub_note(&x.s, 2, 1000, 1300);
	scrub_all(&x.s);
	assert_int_equal(x.s.frames, 3);
	assert_int_equal(x.s.bytes, 100 + 200 + 300);
	for (uint32_t b = 1000; b < 1300; b++)
		assert_int_equal(x.buf[2 * FSIZE + b], 0);
	assert_int_equal(x.buf[2 * FSIZE + 999], 0xc3);
	assert_int_equal(x.buf[2 * FSIZE + 1300], 0xc3);
	for (uint32_t i = 0; i < NFRAMES; i++)
		assert_int_equal(x.s.fr[i].dirty, 0);
	scrub_all(&x.s);
	assert_int_equal(x.s.frames, 3);

	scrub_clear_counters(&x.s);
	assert_int_equal(x.s.frames, 0);
	assert_int_equal(x.s.bytes, 0);
	fx_fini(&x);
}

/* Under "off" a frame used again keeps its earlier bytes, but scrub_all
 * (at exit: the pool file's next user is another trust domain) zeroes
 * them anyway. */
static void test_scrub_all_off(void **state)
{
	struct fx x;

	(void)state;
	fx_init(&x, CFG_SCRUB_OFF);
	scrub_note(&x.s, 1, 256, 1256);
	scrub_reuse(&x.s, 1, 256, 356);
	assert_int_equal(x.buf[FSIZE + 1000], 0xc3);
	assert_int_equal(x.s.bytes, 0);
	scrub_all(&x.s);
	for (uint32_t b = 256; b < 1256; b++)
		assert_int_equal(x.buf[FSIZE + b], 0);
	assert_int_equal(x.buf[FSIZE + 255], 0xc3);
	assert_int_equal(x.buf[FSIZE + 1256], 0xc3);
	assert_int_equal(x.s.frames, 1);
	assert_int_equal(x.s.bytes, 1000);
	fx_fini(&x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scrub_modes),
		cmocka_unit_test(test_scrub_counters),
		cmocka_unit_test(test_scrub_all_off),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
