/* SPDX-License-Identifier: MIT */
/*
 * A clock cheap enough to read once a pass, for the worker's time
 * accounting (busy, idle, asleep: what OVS's pmd-stats-show reports) and
 * its doorbell moderation.
 *
 * It is the CPU's time-stamp counter where that runs at one constant rate
 * on every CPU (x86 with an invariant TSC: a few ns a read, no system
 * call), and CLOCK_MONOTONIC in ns anywhere else. ticks_init() measures
 * the counter's rate over 2 ms (per_us, for turning settings in us into
 * ticks); ticks_ns() measures it again over everything since ticks_init(),
 * so counts of the daemon's lifetime convert closer the longer it runs.
 * Readers on other threads may call ticks_ns(); ticks_init() runs before
 * they start.
 */
#ifndef FS_TICKS_H
#define FS_TICKS_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <x86intrin.h>
#endif

struct ticks {
	bool tsc;      /* the counter is the TSC (else ns) */
	uint64_t t0;   /* counter at ticks_init() */
	uint64_t ns0;  /* CLOCK_MONOTONIC at ticks_init(), ns */
	double per_us; /* ticks a microsecond */
};

static inline uint64_t ticks_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline uint64_t ticks_now(const struct ticks *k)
{
#if defined(__x86_64__) || defined(__i386__)
	if (k->tsc)
		return __rdtsc();
#endif
	(void)k;
	return ticks_mono_ns();
}

/* The counter and CLOCK_MONOTONIC at one moment: the clock read between
 * two counter reads close together (20000 ticks, a few us at any TSC
 * rate: not preempted between them). */
static inline void ticks_pair(const struct ticks *k, uint64_t *t,
			      uint64_t *ns)
{
	uint64_t a, b;

	do {
		a = ticks_now(k);
		*ns = ticks_mono_ns();
		b = ticks_now(k);
	} while (k->tsc && b - a > 20000);
	*t = a + (b - a) / 2;
}

static inline void ticks_init(struct ticks *k)
{
	k->tsc = false;
#if defined(__x86_64__) || defined(__i386__)
	{
		unsigned int a, b, c, d;

		/* CPUID 0x80000007, EDX bit 8: the TSC is invariant (one
		 * rate in every P- and C-state, the same on every core). */
		if (__get_cpuid(0x80000007, &a, &b, &c, &d) && (d & (1u << 8)))
			k->tsc = true;
	}
#endif
	ticks_pair(k, &k->t0, &k->ns0);
	k->per_us = 1000;
	if (k->tsc) {
		uint64_t t, ns;

		do
			ticks_pair(k, &t, &ns);
		while (ns - k->ns0 < 2000000);
		k->per_us = (double)(t - k->t0) * 1000 / (double)(ns - k->ns0);
	}
}

/* us in ticks. */
static inline uint64_t ticks_of_us(const struct ticks *k, uint64_t us)
{
	return (uint64_t)((double)us * k->per_us);
}

/* n ticks in ns, at the rate measured since ticks_init(). */
static inline uint64_t ticks_ns(const struct ticks *k, uint64_t n)
{
	uint64_t dt, dns;

	if (!k->tsc)
		return n;
	dt = ticks_now(k) - k->t0;
	dns = ticks_mono_ns() - k->ns0;
	return dt ? (uint64_t)((double)n * (double)dns / (double)dt) : 0;
}

#endif /* FS_TICKS_H */
