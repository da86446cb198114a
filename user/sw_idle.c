// SPDX-License-Identifier: MIT
/*
 * Idling: the worker's loop (sw_run) and what it does when a pass finds
 * little or nothing to do: yield, nap (max_sleep_usecs), sleep in poll()
 * on the sockets, the guests' doorbell and the mailbox; and doorbell
 * moderation, which decides when a sleeping guest is rung.
 *
 * Owns: the time accounting (busy, idle, asleep), the nap length, the
 * list of held doorbells (held, n_held). Invariants: the worker asks the
 * guests for a wake-up (I) before the pass that looks at every ring, so a
 * frame posted after that pass rings the doorbell (ring.h, I..L); no
 * doorbell held back by moderation waits through a nap or a sleep
 * (sw_ring_held(sw, true) first).
 */
#include <errno.h>
#include <sched.h>
#include <poll.h>
#include <string.h>
#include <time.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "log.h"
#include "sw_internal.h"

/* Empty passes before the worker sleeps, and how long it sleeps: briefly
 * while some guest must be polled, longer when every guest rings. */
#define SW_SPIN_PASSES 256
#define SW_POLL_SLEEP_MS 1
#define SW_DOORBELL_SLEEP_MS 100

/*
 * Rings a guest that sleeps on its rings, after the switch published n rx
 * entries (or alloc entries, n = 0): at once if it last rang it the VM's
 * doorbell_usecs ago or more, or if the frames given to it asleep reach
 * bell_batch (half of what it can be given: its ring must not run full
 * while it sleeps); else once doorbell_usecs have passed (sw_ring_held).
 * Interrupt moderation, as a NIC's rx-usecs and rx-frames: while frames
 * keep coming a woken guest finds a batch, not one frame per wake-up; the
 * first frame after a quiet spell is rung at once. With the guest on the
 * switch's CPU each ring is a switch to the guest and back.
 */
void sw_ring_sleeper(struct sw *sw, struct vmport *v, uint32_t n)
{
	if (!vmport_wants_ring(v)) {
		v->sw.bell_frames = 0; /* awake: it finds them itself */
		return;
	}
	v->sw.bell_frames += n;
	if (sw->now - v->sw.bell_at >= v->sw.bell_gap ||
	    v->sw.bell_frames >= v->bell_batch || sw->n_held == SW_HELD_MAX) {
		vmport_ring(v);
		v->sw.bell_at = sw->now;
		v->sw.bell_frames = 0;
		v->sw.bell_held = false; /* sw_ring_held drops its entry */
	} else if (!v->sw.bell_held) {
		/* Held again before sw_ring_held dropped its entry (rung at
		 * once from an alloc refill, then given frames in the same
		 * pass): that entry serves. A VM has one entry at most, so a
		 * guest that sleeps while it sends and receives cannot fill
		 * the list and end moderation for all. */
		v->sw.bell_held = true;
		if (!v->sw.bell_listed) {
			v->sw.bell_listed = true;
			sw->held[sw->n_held++] = (uint16_t)v->index;
		}
	}
}

/* Rings the guests whose ring was held, once their time has come (all of
 * them if all: the worker is about to sleep). */
void sw_ring_held(struct sw *sw, bool all)
{
	uint32_t i, n = 0;

	for (i = 0; i < sw->n_held; i++) {
		struct vmport *v = &sw->vms[sw->held[i]];

		/* Rung since, or gone: the VM left (its slot perhaps
		 * reused), or its guest. */
		if (!v->sw.bell_held || !v->active || !v->attached) {
			v->sw.bell_held = v->sw.bell_listed = false;
			continue;
		}
		if (!all && sw->now - v->sw.bell_at < v->sw.bell_gap) {
			sw->held[n++] = sw->held[i];
			continue;
		}
		v->sw.bell_held = v->sw.bell_listed = false;
		/* The guest may have woken on its own (its timeout) and be
		 * polling: L again. */
		if (vmport_wants_ring(v)) {
			vmport_ring(v);
			v->sw.bell_at = sw->now;
		}
		v->sw.bell_frames = 0;
	}
	sw->n_held = n;
}

/* How long the worker may sleep: long only if nothing needs polling. */
static int sleep_ms(struct sw *sw)
{
	/* Transmitted frames still to complete (zero-copy drivers complete
	 * later, and their completions raise no poll event). */
	for (int k = 0; k < sw->n_pools; k++)
		if (sw->pools[k].count[POOL_OWN_TX])
			return SW_POLL_SLEEP_MS;
	for (int i = 0; i < sw->n_vms; i++)
		if (sw->vms[i].active && !vmport_can_sleep(&sw->vms[i]))
			return SW_POLL_SLEEP_MS;
	return SW_DOORBELL_SLEEP_MS;
}

static void want_wakeups(struct sw *sw, bool on)
{
	for (int i = 0; i < sw->n_vms; i++)
		if (sw->vms[i].attached)
			vmport_want_wakeup(&sw->vms[i], on);
}

static void drain_eventfd(int fd)
{
	uint64_t v;

	if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_warn("worker: eventfd: %s", strerror(errno));
}

static void idle_wait(struct sw *sw)
{
	struct pollfd pfd[CFG_MAX_IFACES * (FS_XDP_MAX_QUEUES + 1) + 2];
	int ms = sleep_ms(sw), n = 0;
	bool armed = ms > SW_POLL_SLEEP_MS;

	if (armed) {
		want_wakeups(sw, true);                  /* I */
		__atomic_thread_fence(__ATOMIC_SEQ_CST); /* J, pairs with K */
		sw->full_pass = SW_PASS_FULL; /* every ring looked at after I */
		if (sw_poll_once(sw)) {
			want_wakeups(sw, false);
			return;
		}
	}
	for (int i = 0; i < sw->n_ports; i++) {
		struct port *pt = &sw->ports[i];

		for (uint32_t q = 0; q < pt->n_queues; q++)
			pfd[n++] = (struct pollfd){ .fd = pt->q[q].fd,
						    .events = POLLIN };
		pfd[n++] = (struct pollfd){ .fd = pt->mc_fd, .events = POLLIN };
	}
	pfd[n++] = (struct pollfd){ .fd = sw->bell_fd, .events = POLLIN };
	pfd[n++] = (struct pollfd){ .fd = sw->mail_fd, .events = POLLIN };
	/* No held doorbell waits through the sleep. */
	if (sw->n_held)
		sw_ring_held(sw, true);
	poll(pfd, (nfds_t)n, ms);
	sw->sleeps++;
	if (pfd[n - 2].revents) {
		drain_eventfd(sw->bell_fd);
		sw->bells++;
	}
	if (pfd[n - 1].revents)
		drain_eventfd(sw->mail_fd);
	if (armed)
		want_wakeups(sw, false);
	sw->check_alive = true;
	sw->full_pass = SW_PASS_FULL;
}

/*
 * Under light load, with max_sleep_usecs set (OVS's pmd-sleep-max): after
 * a pass that moved less than half a batch, the worker sleeps, 1 us
 * longer after each such pass, up to max_sleep_usecs; a pass with half a
 * batch or more ends the naps. The next pass finds frames waiting, not
 * one, and the CPU is left to others meanwhile, for up to max_sleep_usecs
 * more latency. No doorbell held back by moderation waits through it.
 * The nap counts as asleep.
 */
void sw_nap(struct sw *sw, uint32_t moved, uint32_t max)
{
	struct timespec ts;
	uint64_t t;

	if (moved >= sw->batch / 2) {
		sw->nap_us = 0;
		return;
	}
	/* Naps of a few microseconds, not the default 50 us of slack. */
	if (!sw->slack_set) {
		if (prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0))
			log_warn("worker: cannot set its timer slack: %s",
				 strerror(errno));
		sw->slack_set = true;
	}
	if (sw->nap_us < max)
		sw->nap_us++;
	else
		sw->nap_us = max; /* lowered at run time */
	if (sw->n_held)
		sw_ring_held(sw, true);
	/* The pass after a nap looks at every VM (vm_quiet; a visit for
	 * those with something to do) and the group sockets, and at the
	 * heartbeats' clock: the sweep's turns (n_vms / SW_SWEEP_VMS
	 * passes), the group sockets' (16) and the heartbeats' (256) could
	 * otherwise be as many naps, a guest that starts sending unseen for
	 * that long. */
	if (!sw->full_pass)
		sw->full_pass = SW_PASS_SWEEP;
	sw->check_alive = true;
	ts.tv_sec = 0;
	ts.tv_nsec = (long)sw->nap_us * 1000;
	t = sw->now; /* the caller's read, at the end of the pass */
	nanosleep(&ts, NULL);
	sw->naps++;
	sw->now = ticks_now(&sw->ticks);
	sw->sleep_ticks += sw->now - t;
}

/* One clock read a pass, into sw->now (and one after a nap): the pass's
 * time, from the end of the one before, goes to busy or idle by whether it
 * moved frames (an empty pass's yield, and whatever ran meanwhile, to
 * idle), a nap's to asleep, and the next pass moderates doorbells by it. */
void sw_run(struct sw *sw, volatile sig_atomic_t *stop,
	    volatile sig_atomic_t *report)
{
	unsigned int idle = 0;
	uint32_t n, naps;
	uint64_t t;

	sw->now = ticks_now(&sw->ticks);
	while (!*stop && !sw->pool_lost) {
		if (*report) {
			*report = 0;
			sw_report(sw);
		}
		n = sw_poll_once(sw);
		naps = __atomic_load_n(&sw->max_nap_us, __ATOMIC_RELAXED);
		t = sw->now;
		if (n) {
			sw->now = ticks_now(&sw->ticks);
			sw->busy_ticks += sw->now - t;
			sw->busy_passes++;
			idle = 0;
			if (naps)
				sw_nap(sw, n, naps);
			continue;
		}
		/* An empty pass lets whatever else wants this CPU run first:
		 * a guest sharing it, which a spinning worker would keep
		 * waiting for the rest of its time slice. Alone on its CPU,
		 * the worker pays a system call an empty pass. */
		if (!naps)
			sched_yield();
		sw->now = ticks_now(&sw->ticks);
		sw->idle_ticks += sw->now - t;
		if (naps)
			sw_nap(sw, 0, naps);
		if (++idle < SW_SPIN_PASSES)
			continue;
		idle_wait(sw);
		t = sw->now;
		sw->now = ticks_now(&sw->ticks);
		sw->sleep_ticks += sw->now - t;
	}
}
