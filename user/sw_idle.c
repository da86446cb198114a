// SPDX-License-Identifier: MIT
/*
 * Idling: the worker's loop (sw_run) and what it does when a pass finds
 * little or nothing to do: poll on (each empty pass a yield, or a nap with
 * max_sleep_usecs), or block in epoll on the sockets, the guests'
 * doorbell and the mailbox; when it blocks (idle: "adaptive", the window
 * sw_poll_adapt keeps, or "poll", 256 empty passes); and doorbell
 * moderation, which decides when a sleeping guest is rung; and the
 * guests' bells, which a guest ringing as fast as it can must not turn
 * into as many wake-ups of the worker.
 *
 * Owns: the time accounting (busy, idle, asleep), the nap length, the
 * polling window, the list of held doorbells (held, n_held), the bells'
 * epoll set and the list of muted bells (muted, n_muted). Invariants:
 * the worker asks the guests for a wake-up (I) before the pass that looks
 * at every ring, so a frame posted after that pass rings the doorbell
 * (ring.h, I..L); no
 * doorbell held back by moderation waits through a nap (sw_ring_held(sw,
 * true) first) or past its time in a sleep (the sleep ends by then).
 */
#include <errno.h>
#include <sched.h>
#include <string.h>
#include <time.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "log.h"
#include "sw_internal.h"

/* Empty passes before the worker sleeps under idle = "poll", and how long
 * it sleeps: briefly while some guest must be polled (under "adaptive"
 * twice as long after each sleep that ended with nothing to do, up to
 * SW_POLL_SLEEP_MAX_MS: such a guest's first frame after a quiet spell
 * waits up to that, and an idle worker wakes 60 times a second, not
 * 1000), longer when every guest rings. */
#define SW_SPIN_PASSES 256
#define SW_POLL_SLEEP_MS 1
#define SW_POLL_SLEEP_MAX_MS 16
#define SW_DOORBELL_SLEEP_MS 100

/*
 * The guests' bells. Each VM's guest rings an eventfd of its own
 * (v->bell_fd: the switch's vector in its ivshmem protocol); those of the
 * guests on their doorbell are in one epoll set (sw->bell_ep), which the
 * worker's sleep waits on. A guest is to ring only while the switch asks
 * (ring.h, L), about once a sleep of the worker; nothing keeps one from
 * ringing as fast as it can, and each ring that finds the worker asleep
 * would wake it for a pass over every VM. So once a guest's bell woke the
 * worker, that bell is left out of the worker's sleeps for a quiet time,
 * as the switch moderates its own rings to a guest (sw_ring_sleeper):
 * doorbell_usecs after a ring that brought work (the guest's tx or free
 * ring or its attach request moved since its bell last woke the worker);
 * after one that brought none and came within its last quiet time and
 * SW_BELL_MUTE_MAX_US of that wake-up, twice its last quiet time, from
 * SW_BELL_MUTE_MIN_US up to SW_BELL_MUTE_MAX_US (counted, bell_storm).
 * Rings meanwhile are counted by the eventfd, not lost: a sleep ends when
 * the first quiet time does, and the bell, back in the set, wakes the
 * worker at once if it rang. So a guest's first ring after a quiet spell
 * is served at once, its rings wake the worker at most once per
 * doorbell_usecs while they bring work and about once per
 * SW_BELL_MUTE_MAX_US when they do not: its frames then wait up to that,
 * as a guest without a doorbell waits for the worker's poll (1 ms).
 */
#define SW_BELL_MUTE_MIN_US 16
#define SW_BELL_MUTE_MAX_US 1000
#define SW_BELLS_READ 64

/*
 * The interval between rings adapts to the load, as a NIC's adaptive
 * interrupt moderation (and the kernel's DIM) moves rx-usecs: from the
 * VM's doorbell_usecs up to doorbell_max_usecs. A wake-up of the guest
 * costs both sides several microseconds of CPU whatever it brings, so
 * under a heavy stream a longer interval buys a larger batch a wake-up, at
 * the price of its wait; under a light one every frame is rung at once.
 * The measure is the rate a held ring saw: at least two frames per
 * doorbell_usecs doubles the interval, less than one halves it, and a ring
 * after a quiet spell of four intervals halves it too (the stream
 * stopped). So below one frame per doorbell_usecs (50 k frames/s at
 * 20 us) nothing waits longer than it did, and the interval grows only
 * while each ring carries twice the frames a ring at the shortest
 * interval would.
 */
static void bell_gap_to(struct vmport *v, uint64_t gap)
{
	/* Relaxed: sw_snapshot's load is its one other reader. */
	__atomic_store_n(&v->sw.bell_gap, gap, __ATOMIC_RELAXED);
}

/* Halves v's interval, down to doorbell_usecs at the least. */
static void bell_halve(struct vmport *v)
{
	uint64_t base = v->sw.bell_base, gap = v->sw.bell_gap;

	if (gap > base)
		bell_gap_to(v, gap / 2 < base ? base : gap / 2);
}

/* v's held ring went out `since` ticks after the one before, with
 * bell_frames frames. */
static void bell_adapt(struct vmport *v, uint64_t since)
{
	uint64_t gap = v->sw.bell_gap;
	uint64_t per = (uint64_t)v->sw.bell_frames * v->sw.bell_base;

	/* per: frames x doorbell_usecs. */
	if (per / 2 >= since && gap < v->sw.bell_max)
		bell_gap_to(v, 2 * gap > v->sw.bell_max ? v->sw.bell_max :
							     2 * gap);
	else if (per < since)
		bell_halve(v);
}

/*
 * Rings a guest that sleeps on its rings, after the switch published n rx
 * entries (or alloc entries, n = 0): at once if it last rang it bell_gap
 * ago or more (the VM's doorbell_usecs, longer under a heavy stream:
 * bell_adapt), or if the frames given to it asleep reach bell_batch (half
 * of what it can be given: its ring must not run full while it sleeps);
 * else once bell_gap has passed (sw_ring_held). Interrupt moderation, as
 * a NIC's rx-usecs and rx-frames: while frames keep coming a woken guest
 * finds a batch, not one frame per wake-up; the first frame after a quiet
 * spell is rung at once. With the guest on the switch's CPU each ring is a
 * switch to the guest and back.
 */
void sw_ring_sleeper(struct sw *sw, struct vmport *v, uint32_t n)
{
	uint64_t since;

	if (!vmport_wants_ring(v)) {
		v->sw.bell_frames = 0; /* awake: it finds them itself */
		return;
	}
	v->sw.bell_frames += n;
	since = sw->now - v->sw.bell_at;
	if (since >= v->sw.bell_gap || v->sw.bell_frames >= v->bell_batch ||
	    sw->n_held == SW_HELD_MAX) {
		/* The stream stopped for four intervals: back towards
		 * doorbell_usecs (no overflow for any gap). */
		if (since / 4 >= v->sw.bell_gap)
			bell_halve(v);
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
			/* On its time, not cut short by a nap. */
			if (!all)
				bell_adapt(v, sw->now - v->sw.bell_at);
			vmport_ring(v);
			v->sw.bell_at = sw->now;
		}
		v->sw.bell_frames = 0;
	}
	sw->n_held = n;
}

static void bell_ctl(struct sw *sw, struct vmport *v, int op, uint32_t ev)
{
	struct epoll_event e = { .events = ev, .data.u32 = (uint32_t)v->index };

	if (epoll_ctl(sw->bell_ep, op, v->bell_fd, &e))
		log_warn("vm %s: cannot %s its doorbell's bell: %s", v->cfg.name,
			 op == EPOLL_CTL_DEL ? "stop watching" : "watch",
			 strerror(errno));
}

void sw_bell_watch(struct sw *sw, struct vmport *v, enum sw_bell_op op)
{
	if (op == SW_BELL_DEL) {
		bell_ctl(sw, v, EPOLL_CTL_DEL, 0);
		return;
	}
	/* Still listed from its guest before: sw_bells_unmute lets it go at
	 * the next sleep (the set watches it from now). */
	v->sw.mute_until = 0;
	bell_ctl(sw, v, EPOLL_CTL_ADD, EPOLLIN);
}

/* VM v's bell woke the worker at now, rung n times since it was last
 * read: its quiet time (see SW_BELL_MUTE_MIN_US). */
static void bell_rang(struct sw *sw, struct vmport *v, uint64_t n,
		      uint64_t now)
{
	/* What its rings could have asked the switch to take: entries on
	 * its tx and free rings (bad ones too) and attach requests. */
	uint32_t work = v->tx.cached_cons + v->free.cached_cons + v->last_req;
	uint64_t gap = v->sw.bell_base, mute = gap, max = sw->bell_mute_max;

	v->st.rings += n;
	v->st.rings_coalesced += n - 1;
	if (max < gap)
		max = gap;
	if (work == v->sw.rang_work && now - v->sw.rang_at < v->sw.mute + max) {
		mute = 2 * v->sw.mute;
		if (mute < sw->bell_mute_min)
			mute = sw->bell_mute_min;
		if (mute > max)
			mute = max;
		if (mute < gap)
			mute = gap;
		v->st.bell_storm++;
	}
	v->sw.rang_at = now;
	v->sw.rang_work = work;
	v->sw.mute = mute;
	if (!mute)
		return;
	v->sw.mute_until = now + mute;
	/* A slot reused while its old VM was listed may be listed twice;
	 * both entries go when the quiet time ends (sw_bells_unmute). */
	if (!v->sw.muted && sw->n_muted < SW_MUTED_MAX) {
		bell_ctl(sw, v, EPOLL_CTL_MOD, 0);
		v->sw.muted = true;
		sw->muted[sw->n_muted++] = (uint16_t)v->index;
	}
}

void sw_bells_read(struct sw *sw, uint64_t now)
{
	struct epoll_event ev[SW_BELLS_READ];
	int n = epoll_wait(sw->bell_ep, ev, SW_BELLS_READ, 0);

	/* More than SW_BELLS_READ at once: the rest stay readable, and the
	 * next sleep ends at once. */
	for (int i = 0; i < n; i++) {
		uint32_t idx = ev[i].data.u32;
		struct vmport *v;
		uint64_t rings;

		if (idx >= (uint32_t)sw->n_vms)
			continue;
		v = &sw->vms[idx];
		if (!v->active || !__atomic_load_n(&v->db_live, __ATOMIC_RELAXED))
			continue;
		if (read(v->bell_fd, &rings, sizeof(rings)) == sizeof(rings))
			bell_rang(sw, v, rings, now);
	}
}

uint64_t sw_bells_unmute(struct sw *sw)
{
	uint64_t due = UINT64_MAX;
	uint32_t i, n = 0;

	for (i = 0; i < sw->n_muted; i++) {
		struct vmport *v = &sw->vms[sw->muted[i]];

		if (!v->sw.muted)
			continue; /* a second entry, or gone */
		if (!v->active || !__atomic_load_n(&v->db_live, __ATOMIC_RELAXED)) {
			v->sw.muted = false; /* out of the set already */
			continue;
		}
		if ((int64_t)(v->sw.mute_until - sw->now) <= 0) {
			bell_ctl(sw, v, EPOLL_CTL_MOD, EPOLLIN);
			v->sw.muted = false;
			continue;
		}
		if (v->sw.mute_until - sw->now < due)
			due = v->sw.mute_until - sw->now;
		sw->muted[n++] = sw->muted[i];
	}
	sw->n_muted = n;
	return due;
}

/* How long the worker may sleep: long only if nothing needs polling
 * (*armed: then every guest is asked to ring). */
static int sleep_ms(struct sw *sw, bool *armed)
{
	*armed = false;
	/* Transmitted frames still to complete (zero-copy drivers complete
	 * later, and their completions raise no poll event). */
	for (int k = 0; k < sw->n_pools; k++)
		if (sw->pools[k].count[POOL_OWN_TX])
			return SW_POLL_SLEEP_MS;
	for (int i = 0; i < sw->n_vms; i++)
		if (sw->vms[i].active && !vmport_can_sleep(&sw->vms[i]))
			return (int)sw->poll_sleep_ms;
	*armed = true;
	return SW_DOORBELL_SLEEP_MS;
}

/* A guest is asked to ring when it sends, and when it gives frames back
 * only while the switch needs them soon (as sw_pass.c's reclaim_soon): its
 * pool is below the fill rings' reserve (a quarter free), or the VM holds
 * half its quota (its next deliveries would hit it).
 * Otherwise frames given back wait for the pass after the next wake-up,
 * which looks at every VM: a guest woken for each frame it receives would
 * else wake the switch again for each frame it gives back. */
static void want_wakeups(struct sw *sw, bool on)
{
	for (int i = 0; i < sw->n_vms; i++) {
		struct vmport *v = &sw->vms[i];
		/* Low: below the reserve the fill rings leave (a quarter). */
		bool low = v->pool->n_free < v->pool->fill_reserve;

		if (v->attached)
			vmport_want_wakeup(v, on,
					   low || 2 * vmport_held(v, v->pool) >=
							  v->quota);
	}
}

static void drain_eventfd(int fd)
{
	uint64_t v;

	if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_warn("worker: eventfd: %s", strerror(errno));
}

/*
 * Ticks until the sleep must end for the held doorbells (0: now): when
 * the first one's time comes. With its interval lengthened by a stream
 * (bell_adapt), one interval later: a wake-up of the worker by the clock
 * costs as much as the ring it saves, and the stream's next frames wake
 * it before then anyway, the pass after them ringing what is due; only a
 * stream's last frames wait for the clock, two intervals at most.
 */
static uint64_t held_due(struct sw *sw)
{
	uint64_t due = UINT64_MAX;

	for (uint32_t i = 0; i < sw->n_held; i++) {
		const struct vmport *v = &sw->vms[sw->held[i]];
		uint64_t since = sw->now - v->sw.bell_at, wait = v->sw.bell_gap;

		if (!v->sw.bell_held || !v->active || !v->attached)
			continue;
		if (wait > v->sw.bell_base)
			wait += v->sw.bell_gap;
		if (since >= wait)
			return 0;
		if (wait - since < due)
			due = wait - since;
	}
	return due;
}

/* The worker's timer slack: 1 us, not the default 50, for naps and for
 * sleeps that end when a held doorbell's time comes (a few microseconds
 * away). */
static void slack_set(struct sw *sw)
{
	if (sw->slack_set)
		return;
	if (prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0))
		log_warn("worker: cannot set its timer slack: %s",
			 strerror(errno));
	sw->slack_set = true;
}

/* A sleep of ns, shortened to end in due ticks (UINT64_MAX: not). */
static uint64_t sleep_until(struct sw *sw, uint64_t ns, uint64_t due)
{
	if (due == UINT64_MAX)
		return ns;
	slack_set(sw);
	due = ticks_ns(&sw->ticks, due);
	return due < ns ? due : ns;
}

/* What an event of the worker's epoll set is: its kind in the high half
 * of data.u64, the port in the low. */
enum { SW_EV_QUEUE, SW_EV_GROUP, SW_EV_BELLS, SW_EV_MAIL };

static void idle_ep_add(struct sw *sw, int fd, uint32_t kind, uint32_t port)
{
	struct epoll_event e = { .events = EPOLLIN,
				 .data.u64 = (uint64_t)kind << 32 | port };

	if (fd < 0 || !epoll_ctl(sw->idle_ep, EPOLL_CTL_ADD, fd, &e))
		return;
	sw->idle_ep_short = true;
	log_warn("worker: cannot watch fd %d while it sleeps: %s; it polls every %d ms instead",
		 fd, strerror(errno), SW_POLL_SLEEP_MS);
}

/*
 * The worker sleeps in one epoll set that holds every fd that can wake it,
 * made at its first sleep (the ports and the group sockets are all open
 * by then, and stay so). Level-triggered, as poll() was: a socket with
 * frames left wakes it at once. Unlike poll(), a sleep does not register a
 * wait on each fd and remove it again, and does not call each socket's
 * poll: an AF_XDP socket's poll in copy mode tries a transmit each time
 * (see datapath.md), and the sleep itself is much of what a light load
 * costs.
 */
static void idle_ep_fill(struct sw *sw)
{
	sw->idle_ep_full = true;
	for (int i = 0; i < sw->n_ports; i++) {
		struct port *pt = &sw->ports[i];

		for (uint32_t q = 0; q < pt->n_queues; q++)
			idle_ep_add(sw, pt->q[q].fd, SW_EV_QUEUE, (uint32_t)i);
		idle_ep_add(sw, pt->mc_fd, SW_EV_GROUP, (uint32_t)i);
	}
	idle_ep_add(sw, sw->bell_ep, SW_EV_BELLS, 0);
	idle_ep_add(sw, sw->mail_fd, SW_EV_MAIL, 0);
}

static void idle_wait(struct sw *sw)
{
	struct epoll_event ev[CFG_MAX_IFACES * (FS_XDP_MAX_QUEUES + 1) + 2];
	bool armed, bells = false;
	int ms, r;
	uint64_t ns;
	struct timespec ts;

	if (!sw->idle_ep_full)
		idle_ep_fill(sw);
	ms = sleep_ms(sw, &armed);
	if (sw->idle_ep_short && ms > SW_POLL_SLEEP_MS)
		ms = SW_POLL_SLEEP_MS;
	ns = (uint64_t)ms * 1000000;
	if (armed) {
		want_wakeups(sw, true);                  /* I */
		__atomic_thread_fence(__ATOMIC_SEQ_CST); /* J, pairs with K */
		sw->full_pass = SW_PASS_FULL; /* every ring looked at after I */
		/* The sleep below reports a readable group socket. */
		sw->mc_known = true;
		if (sw_poll_once(sw)) {
			want_wakeups(sw, false);
			return;
		}
	}
	/* A muted bell rings unheard until its quiet time ends: the sleep
	 * ends then. */
	if (sw->n_muted)
		ns = sleep_until(sw, ns, sw_bells_unmute(sw));
	/* Held doorbells wait through the sleep until their time, as a
	 * NIC's moderated interrupt waits for rx-usecs whether or not its
	 * driver sleeps: a worker that blocks after every pass that moved
	 * frames would otherwise ring at every pass, and a guest woken per
	 * frame. The sleep ends by then; the pass after it rings them. */
	if (sw->n_held) {
		sw_ring_held(sw, false);
		ns = sleep_until(sw, ns, held_due(sw));
	}
	ts.tv_sec = (time_t)(ns / 1000000000);
	ts.tv_nsec = (long)(ns % 1000000000);
	r = epoll_pwait2(sw->idle_ep, ev, (int)(sizeof(ev) / sizeof(ev[0])),
			 &ts, NULL);
	sw->sleeps++;
	/* Woken by the clock alone, to poll a guest: the next sleep is
	 * longer (back to SW_POLL_SLEEP_MS at the next frame, sw_run). */
	if (!r && ns == (uint64_t)ms * 1000000 && ms == (int)sw->poll_sleep_ms &&
	    sw->idle_mode == CFG_IDLE_ADAPTIVE &&
	    sw->poll_sleep_ms < SW_POLL_SLEEP_MAX_MS)
		sw->poll_sleep_ms *= 2;
	for (int i = 0; i < r; i++) {
		uint32_t kind = (uint32_t)(ev[i].data.u64 >> 32),
			 port = (uint32_t)ev[i].data.u64;

		if (kind == SW_EV_GROUP && port < (uint32_t)sw->n_ports)
			sw->ports[port].mc_busy = true;
		else if (kind == SW_EV_BELLS)
			bells = true;
		else if (kind == SW_EV_MAIL)
			drain_eventfd(sw->mail_fd);
	}
	if (bells) {
		sw_bells_read(sw, ticks_now(&sw->ticks));
		sw->bells++;
	}
	if (armed)
		want_wakeups(sw, false);
	sw->check_alive = true;
	sw->full_pass = SW_PASS_FULL;
	/* An interrupted or failed wait says nothing of the group sockets:
	 * the pass reads them all. */
	sw->mc_known = r >= 0;
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
	slack_set(sw); /* naps of a few microseconds */
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

/*
 * Under "adaptive", once the polling window has run out: whether a guest
 * that cannot ring (it polls its rings) sent or gave frames back within
 * the last SW_POLL_SLEEP_MS. Such a guest is running; its next frames
 * could wake no sleep of the worker, and would wait for its end, the
 * length it would last (1 ms and up): a stream between polling guests,
 * whose sender waits for frames its receiver gives back, would move a
 * ring's worth a sleep. So the worker polls on, as long as such a guest
 * moves frames, and sleeps once none did for that long. Read only when
 * the window has run out, from counters the passes keep anyway.
 */
bool sw_polled_busy(struct sw *sw, uint64_t now)
{
	uint64_t work = 0;
	bool any = false;

	for (int i = 0; i < sw->n_vms; i++) {
		const struct vmport *v = &sw->vms[i];

		if (!v->active || vmport_can_sleep(v))
			continue;
		any = true;
		work += v->st.tx_packets + v->st.freed;
	}
	if (!any)
		return false;
	if (work != sw->polled_work) {
		sw->polled_work = work;
		sw->polled_at = now;
	}
	return now - sw->polled_at < sw->poll_sleep_max;
}

/*
 * idle = "adaptive": after its last frame the worker polls for poll_win,
 * then blocks. Polling pays while the next frame comes sooner than a block
 * and its wake-up would cost; poll_usecs is that cost. After each idle
 * spell (from the end of the last pass that moved frames to the start of
 * the next), as the kernel's haltpoll governor adapts its polling time: a
 * spell that polling up to poll_usecs would have covered, but the window
 * did not (the worker blocked and was woken), doubles the window (from a
 * quarter of poll_usecs); a longer one, in which polling would have burned
 * the CPU for nothing, halves it, to 0 below a quarter. So frames closer
 * together than poll_usecs keep the worker polling, and sparser ones have
 * it block after each pass that moved some: a wake-up a burst, no CPU
 * between them.
 */
void sw_poll_adapt(struct sw *sw, uint64_t spell)
{
	uint64_t w = sw->poll_win, max = sw->poll_max, start = max / 4;

	if (spell <= max) {
		if (spell > w) {
			w = w * 2 < start ? start : w * 2;
			sw->poll_win = w > max ? max : w;
		}
	} else {
		w /= 2;
		sw->poll_win = w < start ? 0 : w;
	}
}

/* idle and poll_usecs, at start or from the mailbox (flipswitchctl set). */
void sw_idle_set(struct sw *sw, enum cfg_idle mode, uint32_t usecs)
{
	/* Relaxed: sw_snapshot's loads are their one other reader. */
	__atomic_store_n(&sw->idle_mode, (uint32_t)mode, __ATOMIC_RELAXED);
	__atomic_store_n(&sw->poll_usecs, usecs, __ATOMIC_RELAXED);
	sw->poll_max = ticks_of_us(&sw->ticks, usecs);
	if (sw->poll_win > sw->poll_max)
		sw->poll_win = sw->poll_max;
	sw->poll_sleep_ms = SW_POLL_SLEEP_MS;
	sw->poll_sleep_max = ticks_of_us(&sw->ticks, 1000 * SW_POLL_SLEEP_MS);
	sw->bell_mute_min = ticks_of_us(&sw->ticks, SW_BELL_MUTE_MIN_US);
	sw->bell_mute_max = ticks_of_us(&sw->ticks, SW_BELL_MUTE_MAX_US);
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
	bool spin;

	sw->now = ticks_now(&sw->ticks);
	sw->last_busy = sw->now;
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
			if (idle && sw->idle_mode == CFG_IDLE_ADAPTIVE)
				sw_poll_adapt(sw, t - sw->last_busy);
			sw->last_busy = sw->now;
			sw->poll_sleep_ms = SW_POLL_SLEEP_MS;
			idle = 0;
			if (naps)
				sw_nap(sw, n, naps);
			continue;
		}
		/* Poll on, or block: see sw_poll_adapt. */
		idle++;
		spin = sw->idle_mode == CFG_IDLE_POLL ? idle < SW_SPIN_PASSES :
			t - sw->last_busy < sw->poll_win ||
				sw_polled_busy(sw, t);
		/* An empty pass while polling lets whatever else wants this
		 * CPU run first: a guest sharing it, which a spinning worker
		 * would keep waiting for the rest of its time slice. Alone on
		 * its CPU, the worker pays a system call an empty pass. */
		if (spin && !naps)
			sched_yield();
		sw->now = ticks_now(&sw->ticks);
		sw->idle_ticks += sw->now - t;
		if (spin) {
			if (naps)
				sw_nap(sw, 0, naps);
			continue;
		}
		idle_wait(sw);
		t = sw->now;
		sw->now = ticks_now(&sw->ticks);
		sw->sleep_ticks += sw->now - t;
	}
}
